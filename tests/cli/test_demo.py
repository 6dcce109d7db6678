"""``anju demo`` builds only in a new or empty directory, serves a demo district, and builds again
only a district it made itself that is out of date, moving the old one aside: it never deletes a
ledger, nor any file it did not make, and refuses (one line, exit 1 or 2) what it may not touch."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from anju.chain.node import DB_NAME, init_ledger, read_genesis
from anju.cli.main import app
from anju.cli.serve_cmds import DEMO_MANIFEST, _stale_demo
from anju.crypto.keys import SigningKey
from anju.registry.machine import genesis_params

AUTHORITY = SigningKey(b"\x07" * 32).public_hex
ENV = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something already listens on: a demo that got as far as serving fails at once
    (instead of serving until the test's timeout) and the test sees what it did before that."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ledger(data: Path, chain_id: str, *, rules: bool = True, manifest: bool = False) -> Path:
    """A registry ledger (of edition 1 when not ``rules``), with a demo party manifest if asked."""
    params = genesis_params(AUTHORITY)
    if not rules:
        del params["rules"]
    init_ledger(data, chain_id=chain_id, app="anju-registry", params=params)
    if manifest:
        (data / DEMO_MANIFEST).write_text('{"chain_id": "anju-demo", "seed": "x", "units": 1, "parties": []}\n')
    return data


def _stamp(data: Path, store_format: bytes | None) -> None:
    """Stamp the ledger with another storage format (None: from before formats were stamped, 1)."""
    conn = sqlite3.connect(data / DB_NAME)
    if store_format is None:
        conn.execute("DELETE FROM meta WHERE key='store_format'")
    else:
        conn.execute("UPDATE meta SET value=? WHERE key='store_format'", (store_format,))
    conn.commit()
    conn.close()


def _contents(directory: Path) -> dict[str, bytes]:
    """The directory's files and their bytes (SQLite's own -wal/-shm, which a reader may leave, aside)."""
    return {p.name: p.read_bytes() for p in directory.iterdir() if not p.name.endswith(("-wal", "-shm"))}


def _demo(data: Path, port: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``anju demo`` in a child process, as a user runs it."""
    cmd = [sys.executable, "-m", "anju.cli.main", "demo", "--data", str(data), "--port", str(port), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)


@contextlib.contextmanager
def _serving_demo(data: Path, *args: str, cwd: Path | None = None, columns: int = 200) -> Iterator[str]:
    """``anju demo`` on a free port until it serves; yields what it printed, then stops it (SIGINT)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "anju.cli.main", "demo", "--data", str(data), "--port", str(port), *args]
    env = {**ENV, "COLUMNS": str(columns)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break  # it exited
            lines.append(line)
            if line.startswith("verifier key:"):
                break
        assert lines and lines[-1].startswith("verifier key:"), "".join(lines)
        yield "".join(lines)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_a_demo_on_a_port_in_use_says_so_before_building(tmp_path: Path, busy_port: int) -> None:
    """The address is bound before the district is built (minutes for a large one): a port in use
    is said before any building (nothing was built, not even the building place beside DATA)."""
    data = tmp_path / "new"
    result = _demo(data, busy_port, "--units", "300")
    assert result.returncode == 1 and result.stderr.startswith(f"cannot listen on 127.0.0.1:{busy_port}: ")
    assert len(result.stderr.splitlines()) == 1 and not result.stdout, result
    assert not data.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_address_is_announced_on_whole_lines(tmp_path: Path) -> None:
    """Not a terminal (a log): the announcement is not cut at 80 columns mid-parenthesis."""
    with _serving_demo(tmp_path / "district", "--units", "3", columns=80) as said:
        line = next(x for x in said.splitlines() if x.startswith("Anju "))
    assert "(API http://127.0.0.1:" in line and line.endswith("/api/v1, OpenAPI /openapi.json)"), said


@pytest.mark.parametrize(
    ("chain_id", "manifest"),
    [("anju-xuhui-1", False), ("anju-demo", False), ("anju-xuhui-1", True)],
    ids=["registry", "demo-chain-without-manifest", "manifest-of-another-chain"],
)
def test_a_ledger_from_before_rule_editions_that_demo_did_not_build_is_left_alone(
    tmp_path: Path, busy_port: int, chain_id: str, manifest: bool
) -> None:
    """An edition-1 chain is a valid registry ledger (REGISTRY.md): only a district `anju demo`
    built itself (chain anju-demo and its party manifest) is built again."""
    data = _ledger(tmp_path / "oldreal", chain_id, rules=False, manifest=manifest)
    (data / "notes.txt").write_text("the operator's own file")
    before = _contents(data)
    result = _demo(data, busy_port, "--units", "3")
    assert result.returncode == 1, result.stderr
    assert "made before rule editions" in result.stderr and "did not build" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _contents(data) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oldreal"]


@pytest.mark.parametrize("demo_made", [True, False], ids=["demo-district", "other-ledger"])
def test_a_store_format_newer_than_the_build_is_refused_never_rebuilt(
    tmp_path: Path, busy_port: int, demo_made: bool
) -> None:
    data = _ledger(tmp_path / "newer", "anju-demo" if demo_made else "anju-xuhui-1", manifest=demo_made)
    _stamp(data, b"7")
    before = _contents(data)
    result = _demo(data, busy_port, "--units", "3")
    assert result.returncode == 1, result.stderr
    assert "store format 7, written by a newer build" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _contents(data) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer"]


def test_an_old_format_ledger_that_demo_did_not_build_is_left_alone(tmp_path: Path, busy_port: int) -> None:
    data = _ledger(tmp_path / "oldformat", "anju-xuhui-1")
    _stamp(data, b"3")
    before = _contents(data)
    result = _demo(data, busy_port, "--units", "3")
    assert result.returncode == 1, result.stderr
    assert "in an older storage format" in result.stderr and "did not build" in result.stderr
    assert _contents(data) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oldformat"]


@pytest.mark.parametrize(
    ("store_format", "reason"),
    [(b"6", "made before rule editions"), (None, "in an older storage format")],
    ids=["before-editions", "format-1"],
)
def test_an_out_of_date_demo_district_is_moved_aside_and_built_again(
    tmp_path: Path, store_format: bytes | None, reason: str
) -> None:
    data = _ledger(tmp_path / "district", "anju-demo", rules=False, manifest=True)
    if store_format != b"6":
        _stamp(data, store_format)
    (data / "web-offers.db").write_bytes(b"the portal's lease offers")  # made while it was served
    (tmp_path / "district.old-1").mkdir()  # an earlier one moved aside: kept too
    interrupted = tmp_path / "district.building"  # a build of the demo's that was interrupted
    interrupted.mkdir()
    (interrupted / "genesis.json").write_text("{}")
    before = _contents(data)
    with _serving_demo(data, "--units", "3") as said:
        assert f"holds a demo district {reason}: moved it to {tmp_path / 'district.old-2'}" in said, said
    assert _contents(tmp_path / "district.old-2") == before  # every file kept, byte for byte
    assert not any((tmp_path / "district.old-1").iterdir())
    assert not interrupted.exists()
    assert _stale_demo(data) is None and read_genesis(data)["chain_id"] == "anju-demo"
    assert orjson.loads((data / DEMO_MANIFEST).read_bytes())["units"] == 3


def test_data_given_as_the_working_directory_or_a_link_is_the_directory_it_names(tmp_path: Path) -> None:
    """``--data .``: moving an old district aside moves the working directory with it; the new one
    is still built at the path (it used to serve the old one from its new place). A link to an
    empty directory: the district is built into what it points to (it used to fail at the end)."""
    data = _ledger(tmp_path / "district", "anju-demo", rules=False, manifest=True)
    before = _contents(data)
    with _serving_demo(Path("."), "--units", "3", cwd=data) as said:
        assert f"moved it to {tmp_path / 'district.old-1'}" in said and "built demo district" in said, said
    assert _contents(tmp_path / "district.old-1") == before
    assert _stale_demo(data) is None and read_genesis(data)["chain_id"] == "anju-demo"
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with _serving_demo(tmp_path / "link", "--units", "3") as said:
        assert "built demo district" in said, said
    assert (tmp_path / "link").is_symlink() and read_genesis(real)["chain_id"] == "anju-demo"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".building")]


def test_a_current_demo_district_is_served_as_it_is(tmp_path: Path) -> None:
    data = tmp_path / "district"
    with _serving_demo(data, "--units", "3") as said:
        assert "built demo district" in said
    manifest = (data / DEMO_MANIFEST).read_bytes()
    assert (data / DEMO_MANIFEST).stat().st_mode & 0o777 == 0o600  # the demo parties' private keys
    with _serving_demo(data, "--units", "3") as said:
        assert "built demo district" not in said and "moved" not in said
    assert (data / DEMO_MANIFEST).read_bytes() == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["district"]


def test_a_directory_with_files_but_no_ledger_is_refused_before_building(tmp_path: Path, busy_port: int) -> None:
    data = tmp_path / "nonempty"
    data.mkdir()
    (data / "photo.jpg").write_bytes(b"\xff\xd8")
    result = _demo(data, busy_port, "--units", "3")
    assert result.returncode == 2, result.stderr
    assert "holds files but no ledger" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nonempty"]  # no .building left
    assert [p.name for p in data.iterdir()] == ["photo.jpg"]

    afile = tmp_path / "afile"
    afile.write_text("x")
    result = _demo(afile, busy_port, "--units", "3")
    assert result.returncode == 2 and "is not a directory" in result.stderr, result.stderr
    assert afile.read_text() == "x" and not (tmp_path / "afile.building").exists()


def test_a_building_directory_demo_did_not_make_is_not_removed(tmp_path: Path, busy_port: int) -> None:
    other = tmp_path / "district.building"
    other.mkdir()
    (other / "plan.txt").write_text("someone's")
    result = _demo(tmp_path / "district", busy_port, "--units", "3")
    assert result.returncode == 2 and "not an interrupted demo build" in result.stderr, result.stderr
    assert (other / "plan.txt").read_text() == "someone's"
    assert not (tmp_path / "district").exists()


@pytest.mark.parametrize("units", ["0", "-3"])
def test_units_must_be_positive(tmp_path: Path, units: str) -> None:
    result = CliRunner().invoke(app, ["demo", "--data", str(tmp_path / "d"), "--units", units], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "--units" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
