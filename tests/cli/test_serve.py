"""``anju serve`` on a data directory it cannot run says why, without a traceback; a port out of range
is a usage error for serve, demo and consortium init; an address it cannot listen on is one line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.cli.anju_run import run_anju
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


def test_serve_on_a_port_in_use_is_one_line(kv_data: Path) -> None:
    """Checked before the node starts, and before it says where it serves: it was uvicorn's log
    ("ERROR: [Errno 98] error while attempting to bind on address …") after the announcement,
    exit 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_anju("serve", "--data", str(kv_data), "--port", str(port))
    assert out.returncode == 1 and not out.stdout, out
    assert out.stderr == (
        f"cannot listen on 127.0.0.1:{port}: Address already in use "
        "(something else listens there: give another --port)\n"
    )


@pytest.mark.parametrize(("host", "says"), [("192.0.2.1", "192.0.2.1:"), ("::1", "[::1]:")])
def test_serve_on_an_address_it_cannot_listen_on_is_one_line(kv_data: Path, host: str, says: str) -> None:
    """An address that is not this machine's (TEST-NET-1); an IPv6 address (if this machine has
    none, it says so; if it has, the port is taken)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as taken:
        try:
            taken.bind((host, 0))
            taken.listen()
            port = taken.getsockname()[1]
        except OSError:  # (not an address of this machine: any port fails)
            port = 8080
        out = run_anju("serve", "--data", str(kv_data), "--port", str(port), "--host", host)
    assert out.returncode == 1 and not out.stdout, out
    assert len(out.stderr.splitlines()) == 1 and out.stderr.startswith(f"cannot listen on {says}{port}: "), out
