"""The member API's submission path against stand-in CometBFT RPC servers (no CometBFT)."""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.consortium.http_stub import http_stub
from tests.consortium.member_dir import CHAIN, kv_member

from anju.cli.member_api import MemberNode
from anju.crypto import jcs
from anju.crypto.keys import SigningKey
from anju.crypto.tx import Tx, parse, sign
from anju.errors import AnjuError


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return kv_member(tmp_path)[0]


def _tx() -> Tx:
    k = SigningKey.generate()
    body = {"chain": CHAIN, "kind": "kv.put", "signer": k.public_hex, "seq": 1, "key": "a", "value": "v"}
    return parse(jcs.canonicalize(sign(body, [k])))


def _rpc(delay: float, reply: bytes) -> contextlib.AbstractContextManager[str]:
    """CometBFT's RPC answering every request with ``reply`` after ``delay`` seconds."""
    return http_stub(lambda _method, _path: reply, delay)


OK_REPLY = orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": {"code": 0, "data": "", "log": "", "hash": "00"}})


def test_a_lost_answer_leaves_the_tx_pending_a_refused_connection_fails_it(data: Path) -> None:
    """A read timeout after the request was sent: CometBFT may have admitted the tx, so it waits
    for its block (or TIMEOUT), its TTL clock started; it used to fail at once with SHUTTING_DOWN and
    be forgotten (a retry then got DUPLICATE_TX while it committed). A connection refused: the
    request was never sent, the tx fails at once."""
    with _rpc(1.0, OK_REPLY) as url:
        node = MemberNode(data, url)
        node._client = httpx.Client(timeout=0.3)
        try:
            tx = _tx()
            (fut,) = node.submit_parsed([tx])
            deadline = time.monotonic() + 5
            while tx.txid not in node._since and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not fut.done() and tx.txid in node._pending and tx.txid in node._since
        finally:
            node.stop()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    node = MemberNode(data, f"http://127.0.0.1:{port}")
    try:
        tx = _tx()
        (fut,) = node.submit_parsed([tx])
        exc = fut.exception(timeout=5)
        assert isinstance(exc, AnjuError) and exc.code == "SHUTTING_DOWN"
        assert tx.txid not in node._pending and tx.txid not in node._since
    finally:
        node.stop()


def test_a_reply_that_is_not_json_rpc_settles_the_future(data: Path) -> None:
    with _rpc(0.0, b"<html>bad gateway</html>") as url:
        node = MemberNode(data, url)
        try:
            tx = _tx()
            (fut,) = node.submit_parsed([tx])
            exc = fut.exception(timeout=5)  # it stayed unresolved: the client waited forever
            assert isinstance(exc, AnjuError) and "JSON-RPC" in exc.message
            assert tx.txid not in node._pending
        finally:
            node.stop()


def test_the_follower_reads_a_height_again_if_reading_it_failed(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = MemberNode(data, "http://127.0.0.1:9")
    try:
        node._seen = -1  # block 0 (the genesis) is still to be read
        calls: list[int] = []

        def committed(h: int) -> None:
            calls.append(h)
            if len(calls) == 1:
                raise OSError("database is locked")

        monkeypatch.setattr(node, "_committed", committed)
        node.start()
        deadline = time.monotonic() + 5
        while node._seen < 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls == [0, 0] and node._seen == 0  # the failed height 0 was read again
    finally:
        node.stop()


def test_a_height_that_never_reads_is_given_up_and_timeouts_still_answer(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block that fails every read is tried FOLLOW_RETRIES times, then skipped (it stalled every
    later receipt for ever); the TIMEOUT sweep runs on every poll whatever the reads did."""
    from concurrent.futures import Future

    from anju.cli import member_api

    monkeypatch.setattr(member_api, "FOLLOW_RETRIES", 3)
    node = MemberNode(data, "http://127.0.0.1:9")
    try:
        node._seen = -1
        calls: list[int] = []

        def committed(h: int) -> None:
            calls.append(h)
            raise OSError("unreadable")

        monkeypatch.setattr(node, "_committed", committed)
        lost: Future[member_api.Receipt] = Future()
        with node._lock:
            node._pending["ab" * 32] = lost
            node._since["ab" * 32] = time.monotonic() - member_api.PENDING_TTL_S - 1
        node.start()
        deadline = time.monotonic() + 5
        while (node._seen < 0 or not lost.done()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls == [0, 0, 0] and node._seen == 0
        exc = lost.exception(timeout=1)
        assert isinstance(exc, member_api.AnjuError) and exc.code == "TIMEOUT"
    finally:
        node.stop()


def test_refusals_are_read_on_the_followers_own_connection(data: Path) -> None:
    """The /refused poll does not share the broadcasts' connection pool: with every broadcast
    connection stuck, a refused transaction's waiter still hears its refusal."""
    from concurrent.futures import Future

    import httpx

    from anju.cli import member_api

    node = MemberNode(data, "http://127.0.0.1:9")
    txid = "cd" * 32

    def stuck(_request: httpx.Request) -> httpx.Response:
        raise AssertionError("the refusals were read on the broadcasts' pool")

    def cosigner(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["from"])
        rows = [{"height": 1, "refused": {txid: {"code": "SEQ_SKIPPED", "message": "gap"}}}] if start <= 1 else []
        return httpx.Response(200, json=rows)

    try:
        node._client.close()
        node._client = httpx.Client(transport=httpx.MockTransport(stuck))
        node._follow_client.close()
        node._follow_client = httpx.Client(transport=httpx.MockTransport(cosigner))
        node._cosign = "http://cosigner.test"
        waiting: Future[member_api.Receipt] = Future()
        with node._lock:
            node._pending[txid] = waiting
        node._unexplained = [1]
        node._read_refusals(1)
        exc = waiting.exception(timeout=1)
        assert isinstance(exc, member_api.AnjuError) and exc.code == "SEQ_SKIPPED"
    finally:
        node.stop()


def test_an_rpc_that_is_not_http_fails_the_tx_at_once(data: Path) -> None:
    """An --rpc httpx cannot speak (no scheme): never sent, so the tx fails at once (it was taken
    for an answer lost in transit and waited PENDING_TTL_S for a block that could not come)."""
    node = MemberNode(data, "127.0.0.1:26657")
    try:
        tx = _tx()
        (fut,) = node.submit_parsed([tx])
        exc = fut.exception(timeout=5)
        assert isinstance(exc, AnjuError) and exc.code == "SHUTTING_DOWN" and "unreachable" in exc.message
        assert tx.txid not in node._pending
    finally:
        node.stop()


@pytest.mark.parametrize(
    "reply",
    [{"jsonrpc": "2.0", "id": 1, "result": None}, {"jsonrpc": "2.0", "id": 1, "result": {"code": "zero"}}],
    ids=["result-null", "code-not-a-number"],
)
def test_a_json_rpc_reply_of_another_shape_is_answered_plainly(data: Path, reply: dict[str, object]) -> None:
    """It failed as "broadcasting failed: AttributeError" (or ValueError), with a traceback in the log."""
    with _rpc(0.0, orjson.dumps(reply)) as url:
        node = MemberNode(data, url)
        try:
            (fut,) = node.submit_parsed([_tx()])
            exc = fut.exception(timeout=5)
            assert isinstance(exc, AnjuError) and exc.code == "SHUTTING_DOWN", exc
            assert "JSON-RPC reply it does not make" in exc.message, exc.message
        finally:
            node.stop()


@pytest.mark.parametrize(
    "page",
    [[{"no": "height"}], ["a row"], [{"height": 1, "refused": ["ab"]}], [{"height": 1, "refused": {"ab": "x"}}]],
    ids=["no-height", "not-an-object", "refused-not-an-object", "error-not-an-object"],
)
def test_refusal_pages_of_another_shape_are_left_for_the_next_poll(data: Path, page: list[Any]) -> None:
    from concurrent.futures import Future

    import httpx

    from anju.cli.member_api import Receipt

    node = MemberNode(data, "http://127.0.0.1:9")
    try:
        node._follow_client.close()
        node._follow_client = httpx.Client(
            transport=httpx.MockTransport(
                lambda r: httpx.Response(200, json=page if r.url.params["from"] == "1" else [])
            )
        )
        node._cosign = "http://cosigner.test"
        waiting: Future[Receipt] = Future()
        with node._lock:
            node._pending["ab"] = waiting
        node._unexplained = [1]
        node._read_refusals(1)  # raised KeyError, TypeError or AttributeError (logged every 50 ms)
        if isinstance(page[0], dict) and isinstance(page[0].get("refused"), dict):  # refused, for a reason unsaid
            exc = waiting.exception(timeout=1)
            assert isinstance(exc, AnjuError) and exc.code == "MALFORMED_ENVELOPE", exc
        else:
            assert not waiting.done() and "ab" in node._pending
    finally:
        node.stop()


def test_refusal_pages_that_do_not_move_on_end_the_reading() -> None:
    """A cosigner answering the same page whatever ``from`` asks for: read once, not for ever."""
    from anju.chain.abci.cosign import recent_rows

    asked: list[int] = []

    def same(h: int) -> list[dict[str, object]]:
        asked.append(h)
        if len(asked) > 3:
            raise AssertionError("read for ever")
        return [{"height": 1}]

    assert recent_rows(same, 5, 10) == [{"height": 1}] and asked == [5]


def _member_api(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anju.cli.member_api", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "0"], "--port: 0 is not a port (1-65535)"),
        (["--port", "65536"], "--port: 65536 is not a port (1-65535)"),
        (["--port", "-1"], "--port: -1 is not a port (1-65535)"),
        (["--port", "eighty"], "--port: 'eighty' is not a port (1-65535)"),
        (["--rpc", "127.0.0.1:26657"], "is not http(s)://host:port"),
        (["--rpc", "http://127.0.0.1:99999"], "is not http(s)://host:port"),
        (["--rpc", "http://127.0.0.1"], "is not http(s)://host:port"),
    ],
    ids=["port-0", "port-65536", "port-negative", "port-not-a-number", "rpc-no-scheme", "rpc-bad-port", "rpc-no-port"],
)
def test_the_member_api_refuses_a_bad_port_or_rpc_in_one_line(data: Path, args: list[str], says: str) -> None:
    """Checked as `anju serve` checks its port (65536 was an OverflowError traceback from bind, 0 a
    random port nobody was told of)."""
    base = {"--data": str(data), "--rpc": "http://127.0.0.1:26657", "--port": "8080"}
    base.update(zip(args[::2], args[1::2], strict=True))
    out = _member_api(*(x for kv in base.items() for x in kv))
    assert out.returncode == 2 and not out.stdout, out
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert says in out.stderr, out.stderr


def test_the_member_api_without_a_ledger_says_so(tmp_path: Path) -> None:
    """It was a FileNotFoundError traceback (or, with a genesis but no ledger.db, an empty ledger
    created and served)."""
    out = _member_api("--data", str(tmp_path / "none"), "--rpc", "http://127.0.0.1:26657", "--port", "8080")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out
    assert out.stderr.strip() == (
        f"python -m anju.cli.member_api: no member ledger in {tmp_path / 'none'} (ledger.db, genesis.json): "
        "see `anju consortium init`"
    )
    assert not (tmp_path / "none").exists()


def test_the_member_api_on_a_port_in_use_says_so_in_one_line(data: Path) -> None:
    """It was uvicorn's log ("ERROR: [Errno 98] error while attempting to bind on address …") and
    exit 3, after its INFO lines."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _member_api("--data", str(data), "--rpc", "http://127.0.0.1:26657", "--port", str(port))
    assert out.returncode == 1 and not out.stdout, out
    assert out.stderr == (
        f"python -m anju.cli.member_api: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(something else listens there: give another --port)\n"
    )


def test_the_member_api_publishes_its_ledgers_key_history(data: Path) -> None:
    """A member started from a ledger publishes who signed which heights (``GET /node``'s
    ``verifier_keys``), from its ledger's ``meta.verifier_keys``: a client trusting its key on
    first use proves the copied blocks' heights with it."""
    from anju.chain.consortium import _hand_over_keys
    from anju.chain.node import DB_NAME
    from anju.ledger.note import vkey_of
    from anju.ledger.store import Store

    store = Store(data / DB_NAME)
    ledger_vkey = (store.get_meta("verifier_key") or b"").decode()
    store.close()
    node = MemberNode(data, "http://127.0.0.1:1")
    try:
        assert node.verifier_keys == [[0, ledger_vkey]]  # one signer throughout
    finally:
        node.stop()
    member = vkey_of(f"{CHAIN}/member0", SigningKey(b"m" * 32).public)
    _hand_over_keys(data / DB_NAME, member, 4)
    node = MemberNode(data, "http://127.0.0.1:1")
    try:
        assert (node.verifier_key, node.verifier_keys) == (member, [[0, ledger_vkey], [4, member]])
        block = node.store.block(3)  # the ledger's key's last block: its hand-over, if the ledger has it
        assert node.handovers == (
            []
            if block is None
            else [{"height": 3, "log_size": block.log_size, "log_root": base64.b64encode(block.log_root).decode()}]
        )
    finally:
        node.stop()
