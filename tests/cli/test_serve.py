"""``anju serve`` on a data directory it cannot run says why, without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import node_in_another_process
from typer.testing import CliRunner

from anju.chain import node as node_mod
from anju.cli.main import app


def test_serve_on_a_directory_another_node_runs_says_so(kv_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_mod, "LOCK_WAIT_S", 0.2)
    with node_in_another_process(kv_data):
        result = CliRunner().invoke(app, ["serve", "--data", str(kv_data), "--port", "1"], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "DATA_DIR_IN_USE" in result.output and "Traceback" not in result.output
