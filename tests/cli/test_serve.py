"""``anju serve`` on a data directory it cannot run says why, without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from anju.chain import node as node_mod
from anju.cli.main import app


def test_serve_on_a_directory_another_node_runs_says_so(kv_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_mod, "LOCK_WAIT_S", 0.2)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from anju.chain.node import Node; "
         "Node(sys.argv[1], verify_workers=0); print('open', flush=True); time.sleep(120)", str(kv_data)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"open"
        result = CliRunner().invoke(app, ["serve", "--data", str(kv_data), "--port", "1"], env={"COLUMNS": "200"})
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1, result.output
    assert "DATA_DIR_IN_USE" in result.output and "Traceback" not in result.output
