"""The portal's development server binds its port first, as ``anju serve`` does."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def test_a_busy_port_is_one_line_before_any_work(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "anju.web.devserver", "--data", str(tmp_path / "none"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"cannot listen on 127.0.0.1:{port}: Address already in use (something else listens there: give another --port)"
    ]
    assert not (tmp_path / "none").exists()  # nothing was opened or created
