"""``anju tx`` and ``anju check`` against real server processes: what they print, where, and their
exit status when the node refuses, cannot be reached, or is not one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.api.conftest import Server, free_port
from tests.api.test_core import env, post
from tests.cli.anju_run import run_anju
from typer.testing import CliRunner

from anju.cli.main import app
from anju.crypto.keys import SigningKey
from anju.ledger.note import vkey_of

_run = run_anju


def _invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _one_line_error(result: Any, code: str) -> None:
    """No traceback: one line on stderr naming the error's code, nothing on stdout."""
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr and len(err.splitlines()) == 1 and code in err, result.stderr
    assert result.stdout == "", result.stdout


def test_network_failures_are_one_line_errors_or_a_json_error(tmp_path: Path) -> None:
    keyfile = tmp_path / "k.key"
    keyfile.write_text(SigningKey(b"k" * 32).seed.hex())
    closed = f"http://127.0.0.1:{free_port()}"
    send = ["tx", "send", "--kind", "kv.put", "--key", str(keyfile), "--field", "key=a", "--field", "value=b"]
    vkey = ["--vkey", vkey_of("anju-api-test", SigningKey(b"n" * 32).public)]
    for extra in ([], vkey):
        out = _run(*send, "--server", closed, *extra, "--json")
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert json.loads(out.stdout)["error"]["code"] == "NODE_UNREACHABLE", out.stdout
        assert json.loads(out.stdout)["error"]["message"] == f"cannot reach {closed}: connection refused"
        human = _invoke(*send, "--server", closed, *extra)
        assert human.exit_code == 1
        _one_line_error(human, "NODE_UNREACHABLE")
        assert "is a node serving there? `anju serve` starts one; --server names another" in human.stderr
    code = "1CGNH-QWZB5"
    out = _run("check", code, "--server", closed, "--key", vkey[1], "--json")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert json.loads(out.stdout)["ok"] is False and json.loads(out.stdout)["error"]["code"] == "NODE_UNREACHABLE"
    no_scheme = _invoke("tx", "get", "ab" * 32, "--server", closed.removeprefix("http://"))
    assert no_scheme.exit_code == 2, no_scheme.output  # a usage error
    _one_line_error(no_scheme, "--server")


def test_check_of_something_that_is_not_an_anju_node(kv_server: Server, plain_http: str) -> None:
    """`--server $S/api/v1` with no --key gave KeyError 'verifier_key'; a plain web server a
    JSONDecodeError."""
    for server, hint in ((kv_server.url + "/api/v1", "without /api/v1"), (plain_http, "base URL")):
        out = _invoke("check", "1CGNH-QWZB5", "--server", server, "--json")
        assert out.exit_code == 1, out.output
        error = json.loads(out.stdout)["error"]
        assert error["code"] == "BAD_RESPONSE" and hint in error["message"], error
        human = _invoke("check", "1CGNH-QWZB5", "--server", server)
        assert human.exit_code == 1 and "NOT VERIFIED BAD_RESPONSE" in human.stderr and not human.stdout
        assert "Traceback" not in human.stderr
    out = _invoke("check", "1CGNH-QWZB5", "--server", plain_http, "--key", kv_server.vkey, "--json")
    assert out.exit_code == 1 and json.loads(out.stdout)["error"]["code"] == "BAD_RESPONSE", out.output


def test_tx_get_reports_a_rejection_and_a_pending_transaction(
    kv_ledger: Path, start_server: Callable[..., Server]
) -> None:
    """A reused seq sent without waiting was shown as NOT_FOUND "transaction … is rejected", the
    node's SEQ_REUSED dropped; a pending one as NOT_FOUND too."""
    s = start_server(kv_ledger, "--block-interval", "4")
    key = SigningKey.generate()
    txids = [post(s, env(key, 1, "k", v), wait=False).json()["txid"] for v in ("first", "again")]
    pending = _invoke("tx", "get", txids[0], "--server", s.url, "--vkey", s.vkey, "--json")  # the block is open 4 s
    assert pending.exit_code == 3, pending.output
    assert json.loads(pending.stdout) == {"txid": txids[0], "status": "pending"}
    human = _invoke("tx", "get", txids[0], "--server", s.url, "--vkey", s.vkey)
    assert human.exit_code == 3 and human.stdout.startswith(f"pending {txids[0]}"), human.output
    rejected = _invoke("tx", "get", txids[1], "--server", s.url, "--json")
    assert rejected.exit_code == 1, rejected.output
    answer = json.loads(rejected.stdout)
    assert (answer["txid"], answer["status"], answer["error"]["code"]) == (txids[1], "rejected", "SEQ_REUSED"), answer
    assert answer["error"]["details"]["seq"] == 1
    human = _invoke("tx", "get", txids[1], "--server", s.url)
    assert human.exit_code == 1 and human.stderr.startswith("rejected: SEQ_REUSED"), human.output
    committed = _run("tx", "get", txids[0], "--server", s.url, "--json")  # (waits for nothing: it may still be open)
    if committed.returncode == 3:
        post(s, env(key, 2, "k", "next"), wait=True)  # the first one's block is stored before this one's
        committed = _run("tx", "get", txids[0], "--server", s.url, "--json")
    assert committed.returncode == 0 and json.loads(committed.stdout)["status"] == "committed", committed.stdout
    unknown = _invoke("tx", "get", "ab" * 32, "--server", s.url, "--json")
    assert unknown.exit_code == 1 and json.loads(unknown.stdout)["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "fields",
    [["key=a", "key=b"], ["seq=7"], ["chain=other"], ["kind=kv.delete"], ["signer=" + "ab" * 32], ["=x"], ["key"]],
)
def test_tx_send_refuses_a_field_given_twice_or_one_it_fills_in(tmp_path: Path, fields: list[str]) -> None:
    """The last of two --field key=… was kept, and --field seq=… was silently replaced."""
    keyfile = tmp_path / "k.key"
    keyfile.write_text(SigningKey(b"k" * 32).seed.hex())
    args = [a for f in fields for a in ("--field", f)]
    out = _invoke("tx", "send", "--kind", "kv.put", "--key", str(keyfile), *args, "--server", "http://127.0.0.1:1")
    assert out.exit_code == 2 and "--field" in out.stderr and "Traceback" not in out.stderr, out.output


def test_tx_send_answers_on_stdout_and_a_quoted_number_is_text(kv_server: Server, tmp_path: Path) -> None:
    keyfile = tmp_path / "k.key"
    keyfile.write_text(SigningKey.generate().seed.hex())
    send = ["tx", "send", "--kind", "kv.put", "--key", str(keyfile), "--server", kv_server.url]
    as_number = _invoke(*send, "--field", "key=n", "--field", "value=1", "--json")
    assert as_number.exit_code == 1 and json.loads(as_number.stdout)["error"]["code"] == "INVALID_FIELD"
    as_text = _invoke(*send, "--field", "key=n", "--field", 'value="1"')  # as docs/PROTOCOL.md says
    assert as_text.exit_code == 0 and as_text.stdout.startswith("committed "), as_text.output
    assert "inclusion verified" in as_text.stdout and not as_text.stderr.strip()
    assert kv_server.http.get("/api/v1/state/kv/n").json()["value"] == "1"


def test_tx_send_takes_a_field_nested_too_deep_for_json_as_text(tmp_path: Path) -> None:
    """A --field value nested deeper than Python's JSON parser recurses: it was a RecursionError
    traceback; like any value that does not parse as JSON, it is text."""
    from anju.cli.serve_cmds import _fields

    deep = "[" * 100_000
    assert _fields([f"value={deep}"]) == {"value": deep}
    keyfile = tmp_path / "k.key"
    keyfile.write_text(SigningKey(b"k" * 32).seed.hex())
    closed = f"http://127.0.0.1:{free_port()}"
    out = _invoke(
        "tx", "send", "--kind", "kv.put", "--key", str(keyfile), "--field", f"value={deep}", "--server", closed
    )
    assert out.exit_code == 1, out.output
    _one_line_error(out, "NODE_UNREACHABLE")


@pytest.mark.parametrize("txid", ["ab\udcffcd", "../state/kv/a", "ab cd", "[bold]", "00", "ab" * 31, "ab" * 33])
def test_tx_get_refuses_a_txid_that_is_not_hex(txid: str) -> None:
    """A transaction id is 64 hex digits: one that is not UTF-8 was a UnicodeEncodeError traceback
    from the HTTP client, and one with "/" asked the node for another path; one of another length
    was sent, and the node's BAD_REQUEST "path.txid: String should match pattern…" came back (exit 1)."""
    closed = f"http://127.0.0.1:{free_port()}"
    vkey = vkey_of("anju-api-test", SigningKey(b"n" * 32).public)
    out = _run("tx", "get", txid, "--server", closed, "--vkey", vkey, "--json")
    assert out.returncode == 2 and not out.stdout and "Traceback" not in out.stderr, out
    assert out.stderr.startswith("TXID ") and len(out.stderr.splitlines()) == 1, out.stderr
    assert "64 hex digits" in out.stderr, out.stderr


def test_tx_get_takes_a_txid_copied_in_capitals(kv_server: Server) -> None:
    """The command took capital hex digits and sent them as they were: the node, whose ids are
    lowercase, refused them (BAD_REQUEST, exit 1) for a transaction it holds."""
    txid = post(kv_server, env(SigningKey.generate(), 1, "caps", "v")).json()["txid"]
    out = _run("tx", "get", txid.upper(), "--server", kv_server.url, "--vkey", kv_server.vkey, "--json")
    assert out.returncode == 0, out
    answer = json.loads(out.stdout)
    assert (answer["txid"], answer["status"]) == (txid, "committed"), answer


@pytest.mark.parametrize("field", ["key=a\udcffb", 'value="\\udcff"'])
def test_tx_send_refuses_a_field_that_is_not_utf8(tmp_path: Path, field: str) -> None:
    """A --field that is not UTF-8 text (bytes that are not, or a JSON string holding a lone
    surrogate): the envelope cannot be canonical JSON. It was a TypeError traceback once the node
    had been asked for the signer's seq; now a usage error before any node is asked."""
    keyfile = tmp_path / "k.key"
    keyfile.write_text(SigningKey(b"k" * 32).seed.hex())
    closed = f"http://127.0.0.1:{free_port()}"
    out = _run("tx", "send", "--kind", "kv.put", "--key", str(keyfile), "--field", field, "--server", closed)
    assert out.returncode == 2 and not out.stdout and "Traceback" not in out.stderr, out
    assert out.stderr == "--kind or a --field is not UTF-8 text\n", out.stderr


def test_tx_commands_prove_heights_a_consortiums_earlier_key_signed(
    tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    """A ledger handed over to a new signer at block k + 1 (a consortium started from a node's
    ledger): `tx send` and `tx get` refused the transactions of the earlier key's blocks, and of
    block k + 1, whose previous block that key signed (CHECKPOINT_INVALID no_known_signature).
    With --consortium they take the key history its consortium.json records; without a key, the
    one the node reports with its key; given --vkey alone, none, saying how to give it."""
    from tests.client.test_height_proof import _handover

    h = _handover(tmp_path, start_server)
    net = tmp_path / "net"
    net.mkdir()
    member = {"name": h.b_vkey.split("+")[0], "vkey": h.b_vkey, "cosign_url": "http://127.0.0.1:1"}
    layout = {"members": [member], "threshold": 1, "first_height": h.k + 1, "key_history": [[0, h.a_vkey]]}
    (net / "consortium.json").write_text(json.dumps(layout))
    keyfile = tmp_path / "k.key"
    keyfile.write_text(SigningKey(b"t" * 32).seed.hex())
    send = ["tx", "send", "--kind", "kv.put", "--key", str(keyfile), "--server", h.server.url, "--json"]
    # the node answers from block k, the earlier key's: no answer rests on it
    early = _invoke(*send, "--field", "key=x", "--field", "value=y", "--consortium", str(net))
    assert early.exit_code == 1, early.output
    error = json.loads(early.stdout)["error"]
    assert error["code"] == "CHECKPOINT_INVALID" and "ask again" in error["message"], error
    first = post(h.server, env(h.signer, 3, "k3")).json()  # block k + 1: its previous block A signed
    assert first["height"] == h.k + 1
    for trusting in (["--consortium", str(net)], []):
        for tx in (h.old[0], first):
            got = _invoke("tx", "get", tx["txid"], "--server", h.server.url, *trusting, "--json")
            assert got.exit_code == 0, got.output
            assert json.loads(got.stdout)["height"] == tx["height"]
        sent = _invoke(*send, "--field", "key=x", "--field", f"value=v{len(trusting)}", *trusting)
        assert sent.exit_code == 0, sent.output
        assert json.loads(sent.stdout)["verified"]["height"] > h.k + 1
    alone = _invoke("tx", "get", first["txid"], "--server", h.server.url, "--vkey", h.b_vkey, "--json")
    assert alone.exit_code == 1, alone.output
    error = json.loads(alone.stdout)["error"]
    assert (error["code"], error["details"]["reason"]) == ("CHECKPOINT_INVALID", "no_known_signature")
    assert "--consortium" in error["message"] and error["details"]["height"] == h.k  # (the previous block)
    both = _invoke("tx", "get", first["txid"], "--server", h.server.url, "--vkey", h.b_vkey, "--consortium", str(net))
    assert both.exit_code == 2 and "--consortium" in both.stderr, both.output
    (net / "consortium.json").write_text(json.dumps({**layout, "key_history": [[1, h.a_vkey]]}))
    bad = _invoke(*send, "--field", "key=z", "--field", "value=y", "--consortium", str(net))
    assert bad.exit_code == 2 and "key_history" in bad.stderr and not bad.stdout, bad.output


def test_check_without_a_key_trusts_the_nodes_key_and_history_on_first_use(kv_server: Server) -> None:
    """`anju check` with no --key takes the key and key history the node reports and asks it (a kv
    node has no listing: NOT_FOUND, the node's answer, not a traceback)."""
    out = _invoke("check", "1CGNH-QWZB5", "--server", kv_server.url, "--json")
    assert out.exit_code == 1, out.output
    assert json.loads(out.stdout)["error"]["code"] == "NOT_FOUND", out.stdout
