"""The SDK's events(): where it resumes after a lost connection."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
from tests.api.conftest import Server
from tests.api.test_batch import batch
from tests.api.test_core import env, post
from tests.api.test_events import all_event_ids
from tests.conftest import raw_http_server

from anju.client import AnjuClient
from anju.crypto.keys import SigningKey
from anju.errors import AnjuError, TxRejected
from anju.ledger.note import vkey_of

OK_STREAM = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"


def _stream_server(bodies: list[bytes], raw: int = 0) -> tuple[str, list[bytes], socket.socket]:
    """An event stream server: the n-th connection gets ``bodies[n]`` (the last one for ever after)
    and is closed, the first ``raw`` of them as they are (a whole answer), the others after a 200
    event-stream head; the request heads it read, in order."""
    heads: list[bytes] = []

    def answer(head: bytes) -> bytes:
        heads.append(head.lower())
        n = min(len(heads), len(bodies)) - 1
        return (b"" if n < raw else OK_STREAM) + bodies[n]

    url, srv = raw_http_server(answer)
    return url, heads, srv


def test_a_stream_from_now_lost_before_any_event_resumes_from_its_start() -> None:
    """The stream's first frame names its position (id without data). A stream "from now" lost
    before its first event reconnected without Last-Event-ID, "from now" again: every event
    committed while it was away was missed."""
    ev = {"id": 8, "height": 3, "index": 0, "txid": "00", "kind": "kv.put", "data": {}, "parties": []}
    ev |= {"units": [], "listings": [], "time": "2026-01-01T00:00:00Z"}
    url, heads, srv = _stream_server(
        [b"retry: 1000\nid: 7\n\n", b"retry: 1000\nid: 7\n\nid: 8\nevent: kv.put\ndata: " + orjson.dumps(ev) + b"\n\n"]
    )
    try:
        client = AnjuClient(url, vkey_of("anju-x", SigningKey(b"x" * 32).public))
        events = client.events(give_up_after=5.0)
        assert next(events)["id"] == 8
        events.close()
        assert b"last-event-id" not in heads[0]
        assert b"\r\nlast-event-id: 7" in heads[1], heads[1]
    finally:
        srv.close()


def test_a_node_at_its_limit_of_streams_is_asked_again_after_retry_after() -> None:
    """A reconnection answered 429 (the node still counts the stream just lost, not yet noticed
    closed) or 503 STREAMS_FULL is retried after Retry-After, as every other call is: it raised
    Overloaded out of the iterator, ending a subscriber meant to reconnect for ever."""
    busy = b'{"error": {"code": "RATE_LIMITED", "message": "m", "details": {"retry_after": 0}}}'
    refused = b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 0\r\n"
    refused += b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(busy), busy)
    ev = {"id": 3, "height": 1, "index": 0, "txid": "00", "kind": "kv.put", "data": {}, "parties": []}
    ev |= {"units": [], "listings": [], "time": "2026-01-01T00:00:00Z"}
    url, heads, srv = _stream_server([refused, b"id: 3\nevent: kv.put\ndata: " + orjson.dumps(ev) + b"\n\n"], raw=1)
    try:
        client = AnjuClient(url, vkey_of("anju-x", SigningKey(b"x" * 32).public))
        events = client.events(after=2, give_up_after=5.0)
        assert next(events)["id"] == 3
        events.close()
        assert len(heads) == 2 and all(b"\r\nlast-event-id: 2" in h for h in heads)
    finally:
        srv.close()


def test_a_member_behind_the_last_event_is_asked_again(kv_server: Server) -> None:
    """Behind a load balancer over consortium members, a reconnection may reach a member a block
    behind the one that served the last event: EVENT_ID_AHEAD, which a moment cures. events() asks
    again every second, ``retries`` times in a row (it raised at once, ending a subscriber meant to
    follow for ever); past that it raises, as for a position from another ledger."""
    ahead = b'{"error": {"code": "EVENT_ID_AHEAD", "message": "m", "details": {"position": 3, "newest": 2}}}'
    refused = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
    refused += b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(ahead), ahead)
    ev = {"id": 4, "height": 2, "index": 0, "txid": "00", "kind": "kv.put", "data": {}, "parties": []}
    ev |= {"units": [], "listings": [], "time": "2026-01-01T00:00:00Z"}
    url, heads, srv = _stream_server(
        [refused, refused, b"id: 4\nevent: kv.put\ndata: " + orjson.dumps(ev) + b"\n\n"], raw=2
    )
    try:
        client = AnjuClient(url, vkey_of("anju-x", SigningKey(b"x" * 32).public), retries=2)
        events = client.events(after=3, give_up_after=5.0)
        assert next(events)["id"] == 4
        events.close()
        assert len(heads) == 3 and all(b"\r\nlast-event-id: 3" in h for h in heads), heads
    finally:
        srv.close()
    url, heads, srv = _stream_server([refused], raw=1)
    try:
        client = AnjuClient(url, vkey_of("anju-x", SigningKey(b"x" * 32).public), retries=2)
        try:
            next(client.events(after=3, give_up_after=5.0))
            raise AssertionError("events() past the newest event for good did not raise")
        except AnjuError as err:
            assert err.code == "EVENT_ID_AHEAD" and not isinstance(err, TxRejected), err
        assert len(heads) == 3, heads  # the first answer and two more
    finally:
        srv.close()


def test_a_position_past_the_node_s_newest_event_is_raised(kv_server: Server) -> None:
    """A stream resumed past the newest event id (a position from another ledger) was silent for
    ever: the node answers EVENT_ID_AHEAD and events() raises it (an AnjuError, not a transaction's
    rejection) once asking again did not cure it, instead of waiting or reconnecting for ever."""
    client = AnjuClient(kv_server.url, kv_server.vkey, retries=1)
    outcome: list[BaseException] = []

    def follow() -> None:
        try:
            next(client.events(after=10**9))
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    t.join(30)
    assert outcome, "events() past the newest event neither raised nor yielded"
    (err,) = outcome
    assert isinstance(err, AnjuError) and not isinstance(err, TxRejected), err
    assert err.code == "EVENT_ID_AHEAD" and err.http_status == 400 and err.details["position"] == 10**9, err


def test_a_consumer_the_node_dropped_for_taking_nothing_resumes_without_loss(
    kv_ledger: Path, start_server: Callable[..., Server]
) -> None:
    """A consumer that stops taking events (its socket's buffers full) is dropped by the node after
    --stream-stall seconds, its slot freed; iterating again, it gets what had reached it, then
    events() reconnects with Last-Event-ID: every event once, in order."""
    s = start_server(kv_ledger, "--stream-stall", "2", "--streams-total", "1")
    small = httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)])
    client = AnjuClient(s.url, s.vkey, transport=small)
    key = SigningKey.generate()
    post(s, env(key, 1, "first", "v"), wait=True)
    events = client.events(after=0)
    got = [next(events)["id"]]  # the stream is open (its one slot taken); the consumer pauses
    seq = 1
    for _ in range(40):  # bursts of 1,000 events until the node drops the paused stream
        items = [env(key, seq + i, f"{seq + i:06d}-" + "k" * 100, "v") for i in range(1, 1001)]
        seq += 1000
        assert all(r["status"] == "committed" for r in batch(s, items)[1])
        with httpx.stream("GET", s.url + "/api/v1/events", timeout=30) as probe:
            if probe.status_code == 200:
                break  # the slot is free again
    else:
        raise AssertionError("a consumer that took nothing kept its stream")
    post(s, env(key, seq + 1, "the-end", "v"), wait=True)
    for ev in events:
        got.append(ev["id"])
        if ev["data"]["key"] == "the-end":
            break
    events.close()
    assert got == all_event_ids(s)


def test_a_stream_cut_in_the_middle_of_a_frame_resumes_from_the_last_whole_event() -> None:
    """A stream cut mid-frame (as the node cuts one it drops) ends with part of a frame: events()
    yielded it, and half a data line raised BAD_RESPONSE instead of reconnecting."""
    ev1 = {"id": 1, "height": 1, "index": 0, "txid": "00", "kind": "kv.put", "data": {}, "parties": []}
    ev1 |= {"units": [], "listings": [], "time": "2026-01-01T00:00:00Z"}
    ev2 = ev1 | {"id": 2, "index": 1}
    frame1 = b"id: 1\nevent: kv.put\ndata: " + orjson.dumps(ev1) + b"\n\n"
    frame2 = b"id: 2\nevent: kv.put\ndata: " + orjson.dumps(ev2) + b"\n\n"
    url, heads, srv = _stream_server([frame1 + frame2[:40], frame2])  # (the first ends in a data line)
    try:
        client = AnjuClient(url, vkey_of("anju-x", SigningKey(b"x" * 32).public))
        events = client.events(after=0, give_up_after=5.0)
        assert [next(events)["id"], next(events)["id"]] == [1, 2]
        events.close()
        assert b"\r\nlast-event-id: 1" in heads[1], heads[1]
    finally:
        srv.close()
