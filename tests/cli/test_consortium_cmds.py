"""``anju consortium`` without a running network (no CometBFT needed but for init, which runs
`cometbft init`): members that are down, that answer something else than their status, or too
slowly, are shown without a height; a layout that is not one is refused in one line (exit 1), an
unknown --node is a usage error (exit 2); never a traceback. Answers go to stdout."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from tests.cli.anju_run import run_anju
from tests.consortium.http_stub import http_stub


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


def _node(i: int, *, rpc: int, cosign: int, **fields: Any) -> dict[str, Any]:
    return {
        "index": i,
        "member": f"member{i}",
        "host": "127.0.0.1",
        "p2p": 20000 + 10 * i,
        "rpc": rpc,
        "abci": 20002 + 10 * i,
        "cosign": cosign,
        "node_id": "",
        **fields,
    }


def _layout(directory: Path, nodes: list[dict[str, Any]]) -> Path:
    directory.mkdir(exist_ok=True)
    layout = {"chain_id": "c", "app": "kv", "threshold": 1, "first_height": 1, "members": [], "nodes": nodes}
    (directory / "consortium.json").write_text(json.dumps(layout))
    return directory


def _status(directory: Path, *args: str) -> Any:
    out = run_anju("consortium", "status", "--dir", str(directory), *args)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def test_status_of_members_that_are_not_running(tmp_path: Path) -> None:
    d = _layout(tmp_path / "net", [_node(i, rpc=_closed_port(), cosign=_closed_port()) for i in range(2)])
    (d / "node0").mkdir()
    (d / "node0" / "app.pid").write_text("0")  # 0 (this process group) and -1 (every process): not a member's
    (d / "node0" / "cometbft.pid").write_text("-1")
    out = _status(d, "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["member"] for r in rows] == ["member0", "member1"]
    for r in rows:
        assert r["cometbft_height"] is None and r["anju_height"] is None, r
        assert r["app_running"] is False and r["cometbft_running"] is False, r
    human = _status(d)
    assert human.returncode == 0, human.stderr
    lines = human.stdout.strip().splitlines()  # the answer, on stdout (it was on stderr)
    # no height is "-", as no divergent member is (it was "height None  app_hash   cosigned None")
    assert lines == [f"member{i}    DOWN  height -  app_hash -  cosigned -  divergent -" for i in range(2)], human
    assert not human.stderr, human.stderr


def test_status_of_members_that_answer_something_else_or_too_late(tmp_path: Path) -> None:
    """A page that is not JSON, JSON of another shape, an answer after the 2 s the status waits."""
    with (
        http_stub(lambda _m, _p: b"<html>bad gateway</html>") as html,
        http_stub(lambda _m, _p: b'["not", "a", "status"]') as other,
        http_stub(lambda _m, _p: b"{}", delay=3.0) as slow,
    ):
        ports = [int(url.rsplit(":", 1)[1]) for url in (html, other, slow)]
        d = _layout(tmp_path / "net", [_node(i, rpc=p, cosign=p) for i, p in enumerate(ports)])
        out = _status(d, "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["cometbft_height"], r["anju_height"]) for r in rows] == [(None, None)] * 3, rows


def test_status_names_divergent_members_as_names(tmp_path: Path) -> None:
    """A member's divergent list was printed as a Python list: `divergent ['c/member1']`."""
    said = {"height": 5, "app_hash": "ab" * 32, "cosigned_height": 4, "divergent": ["c/member1", "c/member2"]}
    with http_stub(lambda _m, _p: json.dumps(said).encode()) as cosigner:
        port = int(cosigner.rsplit(":", 1)[1])
        d = _layout(tmp_path / "net", [_node(0, rpc=_closed_port(), cosign=port)])
        out = _status(d)
    assert out.returncode == 0, out.stderr
    assert (
        out.stdout
        == "member0    DOWN  height 5  app_hash abababababababab  cosigned 4  divergent c/member1, c/member2\n"
    )


BAD_LAYOUTS = {
    "not-json": (b"{nodes", "is not JSON"),
    "not-an-object": (b"[]", "not a consortium layout"),
    "no-nodes": (b"{}", "does not list its nodes"),
    "node-of-another-shape": (json.dumps({"nodes": [{"index": 0}]}).encode(), "does not list its nodes"),
    "port-too-high": (json.dumps({"nodes": [_node(0, rpc=70000, cosign=1)]}).encode(), "rpc port 70000"),
    "port-zero": (json.dumps({"nodes": [_node(0, rpc=1, cosign=0)]}).encode(), "cosign port 0"),
    "port-not-a-number": (json.dumps({"nodes": [_node(0, rpc="80", cosign=1)]}).encode(), "rpc port '80'"),
}


@pytest.mark.parametrize(("content", "says"), list(BAD_LAYOUTS.values()), ids=list(BAD_LAYOUTS))
@pytest.mark.parametrize("command", ["status", "down"])
def test_a_layout_that_is_not_one_is_refused_in_one_line(
    tmp_path: Path, command: str, content: bytes, says: str
) -> None:
    d = tmp_path / "net"
    d.mkdir()
    (d / "consortium.json").write_bytes(content)
    out = run_anju("consortium", command, "--dir", str(d))
    assert out.returncode == 1 and not out.stdout, out
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert says in out.stderr, out.stderr


def test_no_layout_is_refused_and_an_unknown_node_is_a_usage_error(tmp_path: Path) -> None:
    out = run_anju("consortium", "down", "--dir", str(tmp_path / "none"))
    assert out.returncode == 1 and "consortium.json not found" in out.stderr and "Traceback" not in out.stderr, out
    d = _layout(tmp_path / "net", [_node(i, rpc=_closed_port(), cosign=_closed_port()) for i in range(2)])
    out = run_anju("consortium", "down", "--dir", str(d), "--node", "7")
    assert out.returncode == 2, out  # it said "stopped: nothing (none was running)"
    assert out.stderr.strip() == f"--node 7: the nodes of {d} are 0, 1", out.stderr
    out = run_anju("consortium", "down", "--dir", str(d), "--node", "1")
    assert out.returncode == 0 and out.stdout == "stopped: nothing (none was running)\n" and not out.stderr, out


def test_consortium_init_answers_on_stdout(tmp_path: Path) -> None:
    """What init made (each member's addresses, the threshold) is its answer: stdout, not stderr.
    It runs `cometbft init` (no network, nothing started)."""
    from anju.chain.consortium import find_cometbft

    if find_cometbft() is None:
        pytest.skip("cometbft is not built (scripts/install-cometbft.sh)")
    d = tmp_path / "net"
    out = run_anju("consortium", "init", "--dir", str(d), "--validators", "2", "--app", "kv", "--base-port", "51500")
    assert out.returncode == 0 and not out.stderr, out
    lines = out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["member0", "member1", "threshold 2 of 2 member signatures"], out
    assert "rpc http://127.0.0.2:51511" in lines[1], out.stdout


def test_consortium_up_answers_on_stdout(tmp_path: Path) -> None:
    """Nothing to start when every process of the node runs (its pid files name a live process,
    its ABCI port answers): the answer is still on stdout."""
    import subprocess
    import sys

    with socket.socket() as abci, subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            abci.bind(("127.0.0.1", 0))
            abci.listen()
            node = _node(0, rpc=_closed_port(), cosign=_closed_port(), abci=abci.getsockname()[1])
            d = _layout(tmp_path / "net", [node])
            layout = json.loads((d / "consortium.json").read_text())  # the program init found (not run here)
            (d / "consortium.json").write_text(json.dumps({**layout, "cometbft": "/nonexistent/cometbft"}))
            (d / "node0").mkdir()
            for which in ("app", "cometbft", "api"):
                (d / "node0" / f"{which}.pid").write_text(str(alive.pid))
            out = run_anju("consortium", "up", "--dir", str(d))
        finally:
            alive.kill()
    assert out.returncode == 0 and out.stdout == "started: nothing (already running)\n" and not out.stderr, out


@pytest.mark.parametrize("validators", ["0", "51"])
def test_consortium_init_validators_out_of_range_is_a_usage_error(tmp_path: Path, validators: str) -> None:
    out = run_anju("consortium", "init", "--dir", str(tmp_path / "net"), "--validators", validators)
    assert out.returncode == 2 and "--validators" in out.stderr and "Traceback" not in out.stderr, out
    assert not (tmp_path / "net").exists()


@pytest.mark.parametrize(
    ("layout", "says"),
    [
        (b"{members", "is not JSON"),
        (json.dumps({"threshold": 1}).encode(), "does not name the members' keys and threshold"),
        (json.dumps({"members": [{"vkey": "bad"}], "threshold": 1}).encode(), "names a member key that is not one"),
        (json.dumps({"members": [], "threshold": "1"}).encode(), "does not name the members' keys and threshold"),
    ],
    ids=["not-json", "no-members", "bad-key", "threshold-not-a-number"],
)
def test_check_with_a_consortium_file_that_is_not_a_root_of_trust(tmp_path: Path, layout: bytes, says: str) -> None:
    """``check --consortium``: a bad option value (exit 2) in one line; a bad key was a
    VerificationError traceback, a file that is not JSON a JSONDecodeError one."""
    (tmp_path / "consortium.json").write_bytes(layout)
    out = run_anju("check", "XYZ", "--consortium", str(tmp_path), "--server", "http://127.0.0.1:9")
    assert out.returncode == 2 and not out.stdout, out
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert says in out.stderr, out.stderr


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "{not json", "\udcff"])
def test_init_with_params_that_are_not_json_is_one_line(tmp_path: Path, text: str) -> None:
    """``consortium init --params FILE`` with a file that is not JSON (or nested deeper than a parser
    recurses) is refused in one line, and no layout is written."""
    params = tmp_path / "params.json"
    params.write_text(text, errors="surrogateescape")
    out = run_anju("consortium", "init", "--dir", str(tmp_path / "net"), "--validators", "1", "--params", str(params))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert str(params) in out.stderr + out.stdout
    assert not (tmp_path / "net" / "consortium.json").exists()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ('{"authority": "zz"}', "genesis needs authority"),
        ('{"x": 1.5}', "1.5"),
        ("[1, 2]", "JSON object"),
        ('"text"', "JSON object"),
    ],
)
def test_init_with_params_the_application_refuses_is_one_line_and_leaves_nothing(
    tmp_path: Path, params: str, says: str
) -> None:
    """Params that are JSON but not the application's genesis params (not an object, a number outside
    the ledger's domain, a registry genesis without its authority) are refused in one line, exit 1,
    before anything is made: the directory can be used again at once (it was left with an
    authority.key and a node0/, so a second `init` said it was not empty; a float or a list was a
    traceback)."""
    from anju.chain.consortium import find_cometbft

    if find_cometbft() is None:
        pytest.skip("cometbft is not built (scripts/install-cometbft.sh)")
    file = tmp_path / "params.json"
    file.write_text(params)
    net = tmp_path / "net"
    out = run_anju("consortium", "init", "--dir", str(net), "--validators", "1", "--params", str(file))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and says in out.stderr, out.stderr
    assert not net.exists() or not any(net.iterdir()), sorted(net.iterdir())


def test_up_refuses_an_abci_port_another_program_listens_on(tmp_path: Path) -> None:
    """A member whose app is not running, while something else listens on its ABCI port: `up`
    started the app (which could not listen and exited), found the port answering, called the app
    started and started CometBFT against the other program. Now it says so, and starts nothing."""
    from anju.chain import consortium as c

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        node = _node(0, rpc=_closed_port(), cosign=_closed_port(), abci=other.getsockname()[1])
        d = _layout(tmp_path / "net", [node])
        layout = json.loads((d / "consortium.json").read_text())
        (d / "consortium.json").write_text(json.dumps({**layout, "cometbft": "/bin/true"}))
        (d / "node0").mkdir()
        with pytest.raises(c.ConsortiumError, match="in use"):
            c.up(d, api=False)
    assert not (d / "node0" / "app.pid").exists() and not (d / "node0" / "cometbft.pid").exists()


def test_up_says_at_once_that_an_app_exited(tmp_path: Path) -> None:
    """An app that exits at start (here: no ledger in its data directory) was waited for 30 s, its
    port polled, before `up` said it did not start; it is told as soon as the process is gone."""
    import time

    from anju.chain import consortium as c

    node = _node(0, rpc=_closed_port(), cosign=_closed_port(), abci=_closed_port())
    d = _layout(tmp_path / "net", [node])
    layout = json.loads((d / "consortium.json").read_text())
    (d / "consortium.json").write_text(json.dumps({**layout, "cometbft": "/bin/true"}))
    (d / "node0").mkdir()
    t0 = time.monotonic()
    with pytest.raises(c.ConsortiumError, match="did not start"):
        c.up(d, api=False)
    assert time.monotonic() - t0 < 20
    assert not (d / "node0" / "cometbft.pid").exists()


def test_a_pid_file_of_a_process_that_ended_names_no_process_once_its_pid_is_reused(tmp_path: Path) -> None:
    """A member's process that ended without `down` (a crash, a reboot) leaves its pid file; once
    the system gives that pid to another process, `status` called the member running, `up` left it
    unstarted and `down` signalled the other process. A pid file records the process's start time
    too: a live process started at another time is not the member's."""
    import subprocess
    import sys

    from anju.chain import consortium as c

    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc: a process's start time cannot be read")
    pf = tmp_path / "app.pid"
    c._spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "app.log", pf)
    pid = c._alive(pf)
    assert pid is not None
    time.sleep(0.1)  # the other process starts later (start times count 1/100 s)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            # the member's process ends; the system gives its pid to `other` (here: the file is made to)
            os.kill(pid, signal.SIGKILL)
            while c._alive(pf) is not None:
                time.sleep(0.01)
            pf.write_text(pf.read_text().replace(str(pid), str(other.pid), 1))
            assert c._alive(pf) is None
            (tmp_path / "old.pid").write_text(str(other.pid))  # a pid file of before: the pid alone
            assert c._alive(tmp_path / "old.pid") == other.pid
        finally:
            other.kill()


def test_down_goes_on_when_a_process_ends_as_it_is_signalled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that ends between `down` finding it alive and signalling it (a member crashing as
    it is stopped) made os.kill raise ProcessLookupError: `down` failed there, leaving every process
    after it running. It is stopped already: `down` goes on."""
    import subprocess
    import sys

    from anju.chain import consortium as c

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # ended and reaped: its pid names no process
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as app:
        try:
            d = _layout(tmp_path / "net", [_node(0, rpc=_closed_port(), cosign=_closed_port())])
            (d / "node0").mkdir()
            (d / "node0" / "cometbft.pid").write_text(str(gone.pid))
            (d / "node0" / "app.pid").write_text(str(app.pid))
            real = c._alive
            seen: list[Path] = []

            def alive(pf: Path) -> int | None:  # CometBFT's process is seen alive once, then ends
                if pf.name == "cometbft.pid" and pf not in seen:
                    seen.append(pf)
                    return gone.pid
                return real(pf)

            monkeypatch.setattr(c, "_alive", alive)
            stopped = c.down(d, timeout=5)
            assert "member0/app" in stopped and app.wait(5) is not None
        finally:
            app.kill()
