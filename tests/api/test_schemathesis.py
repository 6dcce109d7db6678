"""Schemathesis against /openapi.json of a real server: no 5xx, every answer matches its schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.api.conftest import Server

ST = Path(sys.executable).with_name("schemathesis")
needs_st = pytest.mark.skipif(
    not ST.exists() and shutil.which("schemathesis") is None, reason="schemathesis not installed"
)


def run_schemathesis(s: Server, cwd: Path, seconds: int) -> None:
    cmd = [
        str(ST),
        "run",
        s.url + "/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--exclude-path",
        "/api/v1/events",
        "-n",
        "20",
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "1",
        "--max-time",
        str(seconds),
        "--workers",  # one: two worker threads made CPython 3.11's ast.parse (Hypothesis describing a
        "1",  # lambda) fail with "SystemError: AST constructor recursion depth mismatch" in one run
        "--request-timeout",
        "10",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]


@pytest.mark.slow
@needs_st
def test_schemathesis_kv(kv_ledger: Path, start_server: Callable[..., Server], tmp_path: Path) -> None:
    run_schemathesis(start_server(kv_ledger), tmp_path, 20)


@pytest.mark.slow
@needs_st
def test_schemathesis_registry(start_server: Callable[..., Server], tmp_path: Path) -> None:
    from anju.cli.serve_cmds import build_demo

    build_demo(tmp_path / "demo", 8, quiet=True)
    run_schemathesis(start_server(tmp_path / "demo"), tmp_path, 30)
