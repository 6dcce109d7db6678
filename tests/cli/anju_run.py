"""``anju`` in a child process, as a user runs it from a shell (stdin given, ANJU_PASSWORD unset unless passed)."""

from __future__ import annotations

import os
import subprocess
import sys

ANJU = [sys.executable, "-c", "from anju.cli.main import app; app()"]


def run_anju(*args: str, stdin: str = "", **env_: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "ANJU_PASSWORD"} | env_
    return subprocess.run([*ANJU, *args], input=stdin, capture_output=True, text=True, timeout=120, env=environ)
