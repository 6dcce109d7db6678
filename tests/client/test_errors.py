"""What the SDK says when a node refuses, cannot be reached, or is not an Anju node at all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from tests.api.conftest import Server, free_port
from tests.api.test_core import env, post
from tests.conftest import raw_http_server

from anju.client import AnjuClient
from anju.client.sdk import _error_from, node_verifier_key
from anju.crypto.keys import SigningKey
from anju.errors import CODES, AnjuError, Overloaded, TxRejected
from anju.ledger.note import vkey_of

URL = "http://127.0.0.1:8080"


def _answer(status: int, body: object, **headers: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.Response(status, content=raw, headers=headers, request=httpx.Request("POST", URL + "/api/v1/txs"))


def _error(code: str, message: str = "m", **details: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "details": details}}


def test_a_code_this_process_never_registered_is_kept_as_the_node_sent_it() -> None:
    """A registry code in a client that never imports the registry came out as BAD_REQUEST, its
    code folded into the message: every SDK user saw BAD_REQUEST for WRONG_ROLE."""
    assert "SOME_FUTURE_CODE" not in CODES
    err = _error_from(_answer(403, _error("SOME_FUTURE_CODE", "only the authority", kind="x.y")))
    assert isinstance(err, TxRejected)
    assert (err.code, err.message, err.details, err.http_status) == (
        "SOME_FUTURE_CODE",
        "only the authority",
        {"kind": "x.y"},
        403,
    )
    assert err.to_json() == _error("SOME_FUTURE_CODE", "only the authority", kind="x.y")
    assert "SOME_FUTURE_CODE" not in CODES  # kept, not registered
    # which class: NOT_FOUND and BAD_REQUEST are not refusals of a transaction; 429/503 are overload
    assert type(_error_from(_answer(404, _error("NOT_FOUND")))) is AnjuError
    server_fault = _error_from(_answer(500, _error("INTERNAL_ERROR_OF_SOME_APP")))
    assert type(server_fault) is AnjuError and server_fault.http_status == 500
    busy = _error_from(_answer(503, _error("SOME_FUTURE_BUSY", retry_after=2), **{"Retry-After": "3"}))
    assert isinstance(busy, Overloaded) and busy.code == "SOME_FUTURE_BUSY" and busy.retry_after == 3.0
    assert busy.details == {"retry_after": 3.0} and busy.http_status == 503
    known = _error_from(_answer(409, _error("SEQ_REUSED", "seq 1 was already used", seq=1)))
    assert isinstance(known, TxRejected) and known.details == {"seq": 1} and known.http_status == 409
    # a request refused for its form (a query parameter, its Content-Type) refuses no transaction
    for status, code in ((400, "UNKNOWN_PARAM"), (415, "UNSUPPORTED_MEDIA_TYPE"), (400, "BAD_REQUEST")):
        refused = _error_from(_answer(status, _error(code)))
        assert type(refused) is AnjuError and refused.code == code and refused.http_status == status


@pytest.mark.parametrize(
    "body",
    [
        _error("not a code"),
        _error("lower_case"),
        _error("A" * 65),
        _error("X"),
        {"error": {"code": 5, "message": "m"}},
        {"error": {"code": "SEQ_REUSED"}},
        {"error": "SEQ_REUSED"},
        [1, 2],
        b"<html><body>502 Bad Gateway</body></html>",
        b"",
    ],
)
def test_an_answer_that_is_not_the_apis_error_is_bad_response(body: object) -> None:
    err = _error_from(_answer(502, body))
    assert type(err) is AnjuError and err.code == "BAD_RESPONSE", err
    assert "HTTP 502" in err.message and URL in err.message


def test_a_password_in_the_node_url_is_never_repeated_in_an_error() -> None:
    resp = httpx.Response(
        502, content=b"<html/>", request=httpx.Request("GET", "http://ann:s3cret@node:8080/api/v1/node")
    )
    err = _error_from(resp)
    assert err.code == "BAD_RESPONSE" and "s3cret" not in err.message and "node:8080/api/v1/node" in err.message


def test_a_node_that_cannot_be_reached_is_node_unreachable(kv_server: Server) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    client = AnjuClient(closed, kv_server.vkey)
    for call in (client.checkpoint, lambda: client.tx("ab" * 32), lambda: client.state("kv/a")):
        with pytest.raises(AnjuError) as info:
            call()
        assert (
            info.value.code == "NODE_UNREACHABLE" and info.value.message == f"cannot reach {closed}: connection refused"
        )
        assert info.value.details == {"cause": "refused"}  # what the CLI's hint keys on, not the message's words
    with pytest.raises(AnjuError) as info:
        node_verifier_key(closed)
    assert info.value.code == "NODE_UNREACHABLE"
    for bad in ("127.0.0.1:8080", "ftp://127.0.0.1", "http://", "http://h:99999", "http://h/?q=1"):
        with pytest.raises(ValueError):
            AnjuClient(bad, kv_server.vkey)
        with pytest.raises(ValueError):
            node_verifier_key(bad)
    assert node_verifier_key(kv_server.url) == kv_server.vkey
    with pytest.raises(AnjuError) as info:
        node_verifier_key(kv_server.url + "/api/v1")
    assert info.value.code == "BAD_RESPONSE" and "without /api/v1" in info.value.message


def test_a_server_that_is_not_an_anju_node_is_bad_response(plain_http: str, kv_server: Server) -> None:
    """A plain web server: JSONDecodeError (200 HTML) and KeyError came out of the SDK."""
    client = AnjuClient(plain_http, kv_server.vkey)
    for call in (
        client.node,
        lambda: client.tx("ab" * 32),
        client.checkpoint,
        lambda: client.verify_listing("1CGNH-QWZB5"),
    ):
        with pytest.raises(AnjuError) as info:
            call()
        assert info.value.code in ("BAD_RESPONSE", "CHECKPOINT_INVALID"), info.value
    with pytest.raises(AnjuError) as info:
        client.node()
    assert info.value.code == "BAD_RESPONSE" and "not a JSON object" in info.value.message
    with pytest.raises(AnjuError) as info:
        node_verifier_key(plain_http)
    assert info.value.code == "BAD_RESPONSE"


def test_tx_reports_a_rejection_and_a_pending_transaction_as_such(
    kv_ledger: Path, start_server: Callable[..., Server]
) -> None:
    """AnjuClient.tx said NOT_FOUND "transaction … is rejected" (and "… is pending"), dropping the
    node's own error: SEQ_REUSED here."""
    s = start_server(kv_ledger, "--block-interval", "4")
    key = SigningKey.generate()
    first, again = env(key, 1, "k", "first"), env(key, 1, "k", "again")  # one seq, two envelopes
    txids = [post(s, e, wait=False).json()["txid"] for e in (first, again)]
    client = AnjuClient(s.url, s.vkey)
    with pytest.raises(AnjuError) as pending:
        client.tx(txids[0])  # the block is open for 4 s
    assert type(pending.value) is AnjuError and pending.value.code == "TX_PENDING"
    assert pending.value.details == {"txid": txids[0]}
    with pytest.raises(TxRejected) as rejected:
        client.tx(txids[1])
    assert rejected.value.code == "SEQ_REUSED" and rejected.value.details["seq"] == 1, rejected.value
    assert client.wait(txids[0], timeout=30).envelope["body"]["value"] == "first"
    with pytest.raises(TxRejected) as waited:
        client.wait(txids[1])
    assert waited.value.code == "SEQ_REUSED"


def test_a_commit_wait_longer_than_the_clients_timeout_ends_in_the_nodes_timeout(
    kv_ledger: Path, start_server: Callable[..., Server]
) -> None:
    """The node answers TIMEOUT (504) when `timeout` passes: a client whose own read timeout is no
    longer gave up at the same moment with a transport error, not knowing what became of the tx."""
    s = start_server(kv_ledger, "--block-interval", "5")
    client = AnjuClient(s.url, s.vkey, timeout=1.0)
    key = SigningKey.generate()
    with pytest.raises(AnjuError) as info:
        client.submit(env(key, 1), wait=True, timeout=1.0)  # the block closes after 5 s
    assert info.value.code == "TIMEOUT" and info.value.http_status == 504, info.value
    assert client.wait(info.value.details["txid"]).index == 0  # (it did commit)


def _one_line_server(reply: bytes) -> tuple[str, Callable[[], None]]:
    """A TCP server that reads a request, writes ``reply`` (maybe nothing) and closes, for ever."""
    url, srv = raw_http_server(lambda head: reply)
    return url, srv.close


def test_a_connection_closed_without_an_answer_is_unreachable_and_a_stranger_is_bad_response() -> None:
    """A node restarting closes the connection unanswered: NODE_UNREACHABLE, and for a POST a word that
    the transaction may have been accepted (it read "does not answer in HTTP"); what answers in
    another protocol is BAD_RESPONSE."""
    url, stop = _one_line_server(b"")
    try:
        client = AnjuClient(url, vkey_of("anju-x", SigningKey(b"x" * 32).public))
        with pytest.raises(AnjuError) as info:
            client.submit(env(SigningKey(b"y" * 32), 1), wait=False)
        assert info.value.code == "NODE_UNREACHABLE", info.value
        assert "closed before an answer" in info.value.message and "may still have been accepted" in info.value.message
        assert info.value.details == {"cause": "closed"}
    finally:
        stop()
    url, stop = _one_line_server(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    try:
        with pytest.raises(AnjuError) as info:
            node_verifier_key(url)
        assert info.value.code == "BAD_RESPONSE" and "does not answer in HTTP" in info.value.message, info.value
    finally:
        stop()


def test_the_event_stream_gives_up_on_an_unreachable_node_only_when_asked(kv_server: Server) -> None:
    """By default it reconnects for ever (a node restarting loses its subscribers nothing); with
    give_up_after it raises NODE_UNREACHABLE once the node has been out of reach that long."""
    import time

    closed = f"http://127.0.0.1:{free_port()}"
    client = AnjuClient(closed, kv_server.vkey)
    started = time.monotonic()
    with pytest.raises(AnjuError) as info:
        next(client.events(give_up_after=1.0))
    assert info.value.code == "NODE_UNREACHABLE" and time.monotonic() - started >= 1.0, info.value
    assert info.value.message == f"cannot reach {closed}: connection refused"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (b"text/html", b"<html><body>a proxy's page</body></html>"),  # reconnected for ever, at full speed
        (b"text/event-stream", b"id: 1\ndata: not json\n\n"),  # JSONDecodeError out of the iterator
        (b"text/event-stream", b'data: {"kind": "kv.put"}\n\n'),  # KeyError
        (b"text/event-stream", b"data: [1, 2]\n\n"),  # TypeError
    ],
)
def test_an_event_stream_that_is_not_the_apis_is_bad_response(content_type: bytes, body: bytes) -> None:
    reply = b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
    url, stop = _one_line_server(reply % (content_type, len(body), body))
    try:
        client = AnjuClient(url, vkey_of("anju-x", SigningKey(b"x" * 32).public))
        with pytest.raises(AnjuError) as info:
            next(client.events(after=0))
        assert info.value.code == "BAD_RESPONSE" and "/api/v1/events" in info.value.message, info.value
    finally:
        stop()
