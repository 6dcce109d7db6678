"""``anju serve`` on a data directory it cannot run says why, without a traceback; a port out of range
is a usage error for serve, demo and consortium init."""

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


@pytest.mark.parametrize("port", ["0", "-1", "65536", "99999"])
@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path, command: str, port: str) -> None:
    """Checked before anything else: 99999 used to be announced and another port listened on, -1 to
    exit 3 with a resolver error; and ``demo`` built its district first."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    data = tmp_path / "empty" if command == "serve" else afile
    result = CliRunner().invoke(app, [command, "--data", str(data), "--port", port], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "--port" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize(
    ("args", "top"), [(["--base-port", "0"], None), (["--base-port", "70000"], None), (["--base-port", "65530"], 65564)]
)
def test_a_consortium_base_port_must_leave_every_port_in_range(
    tmp_path: Path, args: list[str], top: int | None
) -> None:
    directory = tmp_path / "net"
    result = CliRunner().invoke(
        app, ["consortium", "init", "--dir", str(directory), "--validators", "4", *args], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2, result.output
    assert "--base-port" in result.output and "Traceback" not in result.output
    assert top is None or f"up to {top}" in result.output
    assert not directory.exists()
