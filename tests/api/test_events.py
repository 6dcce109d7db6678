"""The live event stream: every committed event, in order, across a forced disconnect and reconnect."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import orjson
from tests.api.conftest import Server
from tests.api.test_batch import batch
from tests.api.test_core import env, post

from anju.client import iter_sse
from anju.crypto.keys import SigningKey


def read_events(s: Server, n: int, headers: dict[str, str], params: dict[str, str] | None = None) -> list[Any]:
    out: list[Any] = []
    with httpx.stream(
        "GET", s.url + "/api/v1/events", headers=headers, params=params, timeout=httpx.Timeout(30.0)
    ) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        for frame in iter_sse(resp.iter_lines()):
            if "data" in frame:
                ev = orjson.loads(frame["data"])
                assert frame["id"] == str(ev["id"]) and frame["event"] == ev["kind"]
                out.append(ev)
                if len(out) == n:
                    break  # leaving the block drops the connection: a forced disconnect
    return out


def test_stream_in_order_across_reconnect(kv_server: Server) -> None:
    s = kv_server
    keys = [SigningKey.generate() for _ in range(4)]
    seqs = dict.fromkeys(range(4), 0)
    committed: list[str] = []

    def submit(n: int) -> None:
        for i in range(n):
            j = i % 4
            seqs[j] += 1
            r = post(s, env(keys[j], seqs[j], f"k{i}", str(i)), wait=(i % 10 == 9))
            committed.append(r.json()["txid"])

    first: list[Any] = []
    reader = threading.Thread(target=lambda: first.extend(read_events(s, 30, {}, {"after": "0"})))
    reader.start()
    submit(40)
    reader.join(30)
    assert len(first) == 30
    submit(40)  # committed while nobody listens
    rest = read_events(s, 50, {"Last-Event-ID": str(first[-1]["id"])})
    got = first + rest
    ids = [e["id"] for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 80
    assert [e["txid"] for e in got] == committed
    # the JSON page form gives the same history
    page = s.http.get("/api/v1/events", params={"format": "json", "after": 0, "limit": 1000}).json()
    assert [e["id"] for e in page["events"]] == ids and page["last_id"] == ids[-1]


def test_filters_and_live_delivery(kv_server: Server) -> None:
    s = kv_server
    me, other = SigningKey.generate(), SigningKey.generate()
    mine: list[Any] = []
    t = threading.Thread(target=lambda: mine.extend(read_events(s, 3, {}, {"party": me.public_hex, "kind": "kv."})))
    t.start()
    import time

    time.sleep(0.5)  # subscribe "from now"
    for i in range(1, 4):
        post(s, env(other, i, "x"), wait=True)
        post(s, env(me, i, "y"), wait=True)
    t.join(30)
    assert len(mine) == 3 and all(me.public_hex in e["parties"] for e in mine)
    none = s.http.get("/api/v1/events", params={"format": "json", "after": 0, "unit": "nope"}).json()
    assert none["events"] == []


def test_one_json_page_reads_a_bounded_number_of_events(kv_ledger: Any, start_server: Any) -> None:
    """A filter that matches nothing must not make one request walk the whole table: each page reads
    at most events_scan events and says `more` until the newest event was read."""
    s = start_server(kv_ledger, "--events-scan", "25")
    key = SigningKey.generate()
    for seq in range(1, 61):
        post(s, env(key, seq, f"k{seq}", "v"), wait=(seq == 60))
    newest = s.http.get("/api/v1/events", params={"format": "json", "after": 0, "limit": 1000}).json()
    assert newest["more"] is True and len(newest["events"]) == 25  # the scan bound, not the page size
    pages, after = 0, 0
    while True:
        page = s.http.get("/api/v1/events", params={"format": "json", "after": after, "kind": "nothing."}).json()
        assert page["events"] == [] and page["last_id"] >= after
        pages += 1
        after = page["last_id"]
        if not page["more"]:
            break
    assert pages >= 3 and after >= 60  # 60 kv events (and genesis's), read 25 at a time
    mine = s.http.get("/api/v1/events", params={"format": "json", "after": 0, "limit": 5, "kind": "kv."}).json()
    assert len(mine["events"]) == 5 and mine["more"] is True and mine["last_id"] == mine["events"][-1]["id"]


def test_one_client_holds_a_bounded_number_of_event_streams(kv_ledger: Any, start_server: Any) -> None:
    """Each stream holds a socket and a filter matched against every block: past the limit a client
    is answered 429, and a closed stream frees its place."""
    s = start_server(kv_ledger, "--streams-per-client", "3")
    url = s.url + "/api/v1/events"
    clients = [httpx.Client(timeout=10) for _ in range(3)]
    streams = [c.stream("GET", url, params={"party": "ab" * 32}) for c in clients]
    opened = [cm.__enter__() for cm in streams]
    try:
        assert all(r.status_code == 200 for r in opened)
        refused = httpx.get(url)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "RATE_LIMITED"
        assert refused.headers["retry-after"]
        assert httpx.get(url, params={"format": "json"}).status_code == 200  # pages are not streams
    finally:
        streams[0].__exit__(None, None, None)
        clients[0].close()
    import time

    deadline = time.monotonic() + 10
    while True:  # the server notices the closed stream
        with httpx.stream("GET", url) as again:
            if again.status_code == 200:
                break
        assert time.monotonic() < deadline, "a closed stream never freed its place"
        time.sleep(0.1)
    for cm, c in zip(streams[1:], clients[1:], strict=True):
        cm.__exit__(None, None, None)
        c.close()


def test_the_server_holds_a_bounded_number_of_event_streams_in_all(kv_ledger: Any, start_server: Any) -> None:
    """Every committed block is offered to every stream: past --streams-total a new stream is
    answered 503 STREAMS_FULL (Retry-After), whoever asks; a closed stream frees its place."""
    s = start_server(kv_ledger, "--streams-per-client", "10", "--streams-total", "2")
    url = s.url + "/api/v1/events"
    clients = [httpx.Client(timeout=10) for _ in range(2)]
    streams = [c.stream("GET", url, params={"kind": "kv."}) for c in clients]
    opened = [cm.__enter__() for cm in streams]
    try:
        assert all(r.status_code == 200 for r in opened)
        refused = httpx.get(url)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "STREAMS_FULL"
        assert refused.headers["retry-after"] == "30" and refused.json()["error"]["details"]["limit"] == 2
        assert httpx.get(url, params={"format": "json"}).status_code == 200  # pages are not streams
    finally:
        streams[0].__exit__(None, None, None)
        clients[0].close()
    import time

    deadline = time.monotonic() + 10
    while True:
        with httpx.stream("GET", url) as again:
            if again.status_code == 200:
                break
        assert time.monotonic() < deadline, "a closed stream never freed its place"
        time.sleep(0.1)
    streams[1].__exit__(None, None, None)
    clients[1].close()


def _interleaved(s: Server, me: SigningKey, other: SigningKey, n: int, mine_at: tuple[int, ...]) -> list[int]:
    """``n`` kv events by ``other``, with one by ``me`` before each position of ``mine_at``; my event ids."""
    seq_me = 0
    for i in range(n):
        if i in mine_at:
            seq_me += 1
            post(s, env(me, seq_me, f"m{i}", "v"), wait=True)
        post(s, env(other, i + 1, f"o{i}", "v"), wait=(i == n - 1))
    ids, after = [], 0
    while True:  # every event, page by page (a server may read only a few per request)
        page = s.http.get("/api/v1/events", params={"format": "json", "after": after, "limit": 1000}).json()
        ids += [e["id"] for e in page["events"] if me.public_hex in e["parties"]]
        after = page["last_id"]
        if not page["more"]:
            break
    assert len(ids) == len(mine_at)
    return ids


def test_a_filtered_page_reads_only_the_events_that_name_it(kv_ledger: Any, start_server: Any) -> None:
    """A party filter reads the event index (store format 6): one page finds a party's events
    however many others lie between them, where a scan would stop after events_scan rows."""
    s = start_server(kv_ledger, "--events-scan", "25")
    me, other = SigningKey.generate(), SigningKey.generate()
    ids = _interleaved(s, me, other, 80, (5, 40, 79))
    page = s.http.get("/api/v1/events", params={"format": "json", "after": 0, "party": me.public_hex}).json()
    assert [e["id"] for e in page["events"]] == ids and page["more"] is False and page["last_id"] == ids[-1]
    later = s.http.get("/api/v1/events", params={"format": "json", "after": ids[0], "party": me.public_hex}).json()
    assert [e["id"] for e in later["events"]] == ids[1:]
    both = s.http.get(
        "/api/v1/events", params={"format": "json", "after": 0, "party": f"{me.public_hex},{other.public_hex}"}
    ).json()  # OR within a filter: the first events of the two, in id order, from 25 index rows read in all
    got = [e["id"] for e in both["events"]]  # (every event of this ledger names one of the two)
    assert got == list(range(1, len(got) + 1)) and 12 <= len(got) <= 25, got
    assert both["more"] is True and both["last_id"] == got[-1]
    kinds = s.http.get(
        "/api/v1/events", params={"format": "json", "after": 0, "party": me.public_hex, "kind": "other."}
    ).json()  # AND across filters: the party's events, none of that kind
    assert kinds["events"] == [] and kinds["more"] is False
    limited = s.http.get(
        "/api/v1/events", params={"format": "json", "after": 0, "party": me.public_hex, "limit": 2}
    ).json()
    assert [e["id"] for e in limited["events"]] == ids[:2] and limited["more"] is True


def test_a_filtered_stream_resumes_with_exactly_its_events(kv_server: Server) -> None:
    s = kv_server
    me, other = SigningKey.generate(), SigningKey.generate()
    ids = _interleaved(s, me, other, 60, (0, 30, 59))
    got = read_events(s, 3, {"Last-Event-ID": "0"}, {"party": me.public_hex})
    assert [e["id"] for e in got] == ids
    got = read_events(s, 2, {"Last-Event-ID": str(ids[0])}, {"party": me.public_hex, "kind": "kv."})
    assert [e["id"] for e in got] == ids[1:]
    live: list[Any] = []
    t = threading.Thread(
        target=lambda: live.extend(read_events(s, 4, {"Last-Event-ID": "0"}, {"party": me.public_hex}))
    )
    t.start()
    import time

    time.sleep(0.5)  # caught up: the next one arrives live, once
    r = post(s, env(me, 4, "late", "v"), wait=True)
    t.join(30)
    assert [e["id"] for e in live][:3] == ids and live[3]["txid"] == r.json()["txid"]


def test_streams_opened_all_at_once_stay_within_the_limit(kv_ledger: Any, start_server: Any) -> None:
    """The limit is taken when the request is checked, not once the stream has started: 40 requests
    sent together get at most the limit's worth of streams, the rest 429."""
    import asyncio

    s = start_server(kv_ledger, "--streams-per-client", "3")

    async def main() -> list[bytes]:
        async def one() -> bytes:
            r, w = await asyncio.open_connection("127.0.0.1", s.port)
            w.write(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            await w.drain()
            line = await asyncio.wait_for(r.readline(), 10)
            writers.append(w)
            return line

        writers: list[asyncio.StreamWriter] = []
        try:
            return await asyncio.gather(*(one() for _ in range(40)))
        finally:
            for w in writers:
                w.close()

    lines = asyncio.run(main())
    assert sum(b" 200 " in line for line in lines) == 3 and sum(b" 429 " in line for line in lines) == 37


def test_a_server_shutting_down_ends_its_open_streams_cleanly(kv_ledger: Any, start_server: Any) -> None:
    """uvicorn waits for every response to end before it stops, and an event stream never ends: a
    shutdown with a stream open waited out the graceful timeout, then cancelled the stream mid-body
    (the client read an incomplete chunked body, the log an error and a traceback)."""
    s = start_server(kv_ledger)
    with httpx.stream("GET", s.url + "/api/v1/events", params={"after": "0"}, timeout=30) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        assert next(lines) == "retry: 1000"  # the stream is open
        s.stop()
        rest = list(lines)  # the body ends with its last chunk: no RemoteProtocolError
    assert all(line == "" or line.startswith(("id:", "event:", "data:", ":")) for line in rest)
    log = s.log.read_text(errors="replace")
    assert "Exception in ASGI application" not in log and "graceful shutdown exceeded" not in log, log


def test_a_stream_from_now_names_its_position_first(kv_server: Server) -> None:
    """A stream "from now" sends its position as its first id (a frame without data), so that a
    client (a browser's EventSource, the SDK) losing it before any event resumes from there: it
    reconnected "from now" again, past the events committed while it was away."""
    s = kv_server
    key = SigningKey.generate()
    post(s, env(key, 1, "a", "1"), wait=True)
    newest = s.http.get("/api/v1/events", params={"format": "json", "after": 0, "limit": 1000}).json()["last_id"]
    with httpx.stream("GET", s.url + "/api/v1/events", params={"kind": "kv."}, timeout=30) as resp:
        first = next(iter_sse(resp.iter_lines()))
    assert first == {"retry": "1000", "id": str(newest)}
    missed = post(s, env(key, 2, "b", "2"), wait=True).json()["txid"]  # committed while away
    (again,) = read_events(s, 1, {"Last-Event-ID": first["id"]}, {"kind": "kv."})
    assert again["txid"] == missed
    with httpx.stream("GET", s.url + "/api/v1/events", params={"after": "1"}, timeout=30) as resp:
        assert next(iter_sse(resp.iter_lines())) == {"retry": "1000", "id": "1"}  # resumed: where it resumes


def all_event_ids(s: Server) -> list[int]:
    """Every event id of the ledger, page by page."""
    ids: list[int] = []
    while True:
        page = s.http.get("/api/v1/events", params={"format": "json", "after": ids[-1] if ids else 0, "limit": 1000})
        ids += [e["id"] for e in page.json()["events"]]
        if not page.json()["more"]:
            return ids


def _stream_refused(s: Server) -> bool:
    """Whether a new stream is refused for want of a free slot (--streams-total)."""
    with httpx.stream("GET", s.url + "/api/v1/events", timeout=30) as resp:
        return resp.status_code == 503


def _frames_read(sock: socket.socket) -> list[int]:
    """The ids of the complete event frames a raw stream socket holds, read to its end (EOF)."""
    sock.settimeout(30)
    raw = b""
    while chunk := sock.recv(1 << 16):
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    text = b""
    while True:  # the chunked body, up to where the connection was cut
        size_line, sep, rest = body.partition(b"\r\n")
        if not sep or int(size_line, 16) == 0:
            break
        size = int(size_line, 16)
        text += rest[:size]
        if len(rest) < size + 2:
            break
        body = rest[size + 2 :]
    frames = text.split(b"\n\n")[:-1]  # (what follows the last blank line is an incomplete frame)
    return [int(f.split(b"\n")[0][4:]) for f in frames if b"\ndata: " in f]


def test_a_stream_whose_client_takes_nothing_is_dropped_and_resumes_without_loss(
    kv_ledger: Any, start_server: Any
) -> None:
    """A client that never reads held its stream's slot until TCP gave up (hours): a stream whose
    write waits --stream-stall seconds is dropped, its slot freed, and the client resumes with
    Last-Event-ID, missing nothing. A client reading beside it, through bursts of 3,000 events, gets
    every event on one connection: it is never dropped."""
    s = start_server(kv_ledger, "--stream-stall", "3", "--streams-total", "2")
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # (before connecting: the window stays small)
    stuck.connect(("127.0.0.1", s.port))
    stuck.sendall(b"GET /api/v1/events?after=0 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    read: list[int] = []
    failed: list[BaseException] = []

    def reader() -> None:
        try:
            with httpx.stream(
                "GET", s.url + "/api/v1/events", params={"after": "0"}, timeout=httpx.Timeout(60.0)
            ) as resp:
                for frame in iter_sse(resp.iter_lines()):
                    if "data" in frame:
                        read.append(int(frame["id"]))
                        if orjson.loads(frame["data"])["data"]["key"] == "the-end":
                            return
        except BaseException as exc:  # a dropped reader: httpx.RemoteProtocolError
            failed.append(exc)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not _stream_refused(s):  # both streams are open
        assert time.monotonic() < deadline, "the streams did not open"
        time.sleep(0.05)
    # Bursts of 3,000 events (the stuck stream's queue of 2,000 overflows: it goes back to the
    # store, which drops nothing) until the stuck stream is dropped: the server's socket buffers up
    # to 4 MiB before a write has to wait (~10,000 events).
    key, seq = SigningKey.generate(), 0
    for _ in range(15):
        items = [env(key, seq + i, f"{seq + i:06d}-" + "k" * 100, "v") for i in range(1, 3001)]
        seq += 3000
        assert batch(s, items[:1000], wait=False)[0] == 200 and batch(s, items[1000:2000], wait=False)[0] == 200
        assert all(r["status"] == "committed" for r in batch(s, items[2000:])[1])
        if not _stream_refused(s):
            break  # the stuck stream's slot is free again
    else:
        raise AssertionError("a stream whose client takes nothing kept its slot")
    post(s, env(key, seq + 1, "the-end", "v"), wait=True)
    everything = all_event_ids(s)
    assert len(everything) > 4000
    t.join(60)
    assert not failed and read == everything  # the reader: every event, once, in order, one connection
    got = _frames_read(stuck)  # the stuck client, reading at last: what reached it, then the end
    stuck.close()
    assert got == everything[: len(got)] and len(got) < len(everything)
    rest = read_events(s, len(everything) - len(got), {"Last-Event-ID": str(got[-1] if got else 0)})
    assert got + [e["id"] for e in rest] == everything


def test_a_position_past_the_newest_event_is_refused(kv_server: Server) -> None:
    """Last-Event-ID (or ?after=) past the newest event id (a position from another ledger) gave a
    silent stream until this ledger's ids passed it, and then events from a position the client
    never had: it is EVENT_ID_AHEAD (400), before any stream starts."""
    s = kv_server
    key = SigningKey.generate()
    post(s, env(key, 1, "a", "1"), wait=True)
    newest = s.http.get("/api/v1/events", params={"format": "json", "after": 0, "limit": 1000}).json()["last_id"]
    url = s.url + "/api/v1/events"
    for headers, params in (
        ({"Last-Event-ID": str(newest + 1)}, {}),
        ({}, {"after": str(newest + 1)}),
        ({"Last-Event-ID": str(newest + 1000)}, {"after": "0"}),  # (the header wins)
        ({}, {"after": str(2**53 - 1), "format": "json"}),
    ):
        with httpx.stream("GET", url, headers=headers, params=params, timeout=30) as r:
            assert r.status_code == 400, (headers, params, r.status_code)  # (not a stream: it never ended)
            error = orjson.loads(r.read())["error"]
        assert error["code"] == "EVENT_ID_AHEAD" and error["details"]["newest"] == newest, error
    with httpx.stream("GET", url, headers={"Last-Event-ID": str(newest)}, timeout=30) as resp:  # the newest: fine
        assert resp.status_code == 200
        assert next(iter_sse(resp.iter_lines())) == {"retry": "1000", "id": str(newest)}
    later = post(s, env(key, 2, "b", "2"), wait=True).json()["txid"]  # once the ledger reaches it, it is a position
    (ev,) = read_events(s, 1, {"Last-Event-ID": str(newest)})
    assert ev["txid"] == later
    r = httpx.get(url, headers={"Last-Event-ID": str(ev["id"])}, params={"format": "json"}, timeout=30)
    assert r.status_code == 200 and r.json() == {"events": [], "last_id": ev["id"], "more": False}


def test_a_page_size_given_to_a_stream_is_refused(kv_server: Server) -> None:
    """``limit`` sizes a ``format=json`` page; a stream has no pages, and a client that asked one for
    ``limit=10`` got an endless stream instead (the parameter was accepted and ignored): BAD_REQUEST
    naming it, before any stream starts. A page without it has 100 events at most."""
    s = kv_server
    url = s.url + "/api/v1/events"
    for params in ({"limit": "10"}, {"limit": "10", "format": "sse"}, {"limit": "10", "after": "0"}):
        with httpx.stream("GET", url, params=params, timeout=30) as r:
            assert r.status_code == 400, (params, r.status_code)  # (not a stream: it never ended)
            error = orjson.loads(r.read())["error"]
        assert error["code"] == "BAD_REQUEST" and error["details"] == {"parameter": "limit"}, error
    key = SigningKey.generate()
    for seq in range(1, 4):
        post(s, env(key, seq, "k", str(seq)), wait=True)
    page = s.http.get("/api/v1/events", params={"format": "json", "after": 0, "limit": 2}).json()
    assert len(page["events"]) == 2 and page["more"] is True, page
    page = s.http.get("/api/v1/events", params={"format": "json", "after": 0}).json()
    assert len(page["events"]) >= 3 and page["more"] is False, page
