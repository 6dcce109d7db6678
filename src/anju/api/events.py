"""Live events: committed event rows fanned out to Server-Sent-Events subscribers.

The node's writer thread calls :meth:`Broadcaster.on_commit` after each durable block; that only
wakes the event loop (it never blocks the writer). The loop reads the new rows from the store
once, serialises each event's SSE frame once (:class:`Ev`), matches them once per distinct
filter (subscribers are grouped by filter; match keys are precomputed sets), and appends one
pre-joined chunk per block to each matching subscriber's bounded queue; the subscriber's
stream then writes everything queued in a single send. A subscriber whose queue overflows is
marked *lagging*: its queue is dropped and it catches up from the store by event id, then rejoins
the live feed. Ids are the store's ``events.id`` (strictly increasing), so a client resuming with
``Last-Event-ID`` (or ``?after=``) gets every later event exactly once, in order.

A subscriber that takes nothing is dropped: a stream whose write has waited ``stall_s`` seconds
for the client to read (the connection's buffers full, the client taking less than one write of at
most :data:`PIECE` bytes in that time) has its connection closed and its slot freed; the client
reconnects with ``Last-Event-ID`` and misses nothing. A full queue is no such sign (a burst of one
large block fills every subscriber's): it sends the subscriber back to the store, as above.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from anju.api.snapshot import Reader
from anju.errors import AnjuError
from anju.ledger.store import BlockRecord

MAX_FILTER_VALUES = 100
"""Values one filter parameter (party, unit, listing, kind) may name: the registry has fewer than 50
event kinds, and a client following more parties or units opens more streams."""
MAX_FILTER_VALUE = 100
"""Characters in one filter value (a party key is 64, an id 16, a kind a few dozen)."""
QUEUE_LIMIT = 2000
PAGE = 1000
KEEPALIVE_S = 15.0
STALL_S = 30.0
"""Seconds a stream's write may wait for its client to read before the stream is dropped."""
PIECE = 256 * 1024
"""Bytes written at most at once: a stalled write means the client took less than this in ``stall_s``."""
INLINE_TXS = 64  # blocks up to this many transactions have their events read on the event loop


@dataclass(frozen=True, slots=True)
class EventFilter:
    """An event matches when, for every filter given, it names at least one of the values."""

    parties: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    listings: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    kind_prefixes: tuple[str, ...] = field(init=False, default=())  # the kinds ending in "." (a prefix)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind_prefixes", tuple(sorted(k for k in self.kinds if k.endswith("."))))

    @staticmethod
    def parse(values: Iterable[str] | None, what: str = "filter") -> frozenset[str]:
        """The values of one filter parameter (repeated and/or comma-separated); BAD_REQUEST past
        :data:`MAX_FILTER_VALUES` values or :data:`MAX_FILTER_VALUE` characters in one: every
        event a stream or a page reads is matched against them, on the server's event loop."""
        out: set[str] = set()
        for v in values or ():
            out.update(x for x in v.split(",") if x)
            if len(out) > MAX_FILTER_VALUES:
                raise AnjuError(
                    "BAD_REQUEST", f"at most {MAX_FILTER_VALUES} values of {what}", parameter=what,
                    limit=MAX_FILTER_VALUES,
                )  # fmt: skip
        long = next((x for x in out if len(x) > MAX_FILTER_VALUE), None)
        if long is not None:
            raise AnjuError(
                "BAD_REQUEST", f"a value of {what} is longer than {MAX_FILTER_VALUE} characters", parameter=what,
                value=long[:40],
            )  # fmt: skip
        return frozenset(out)

    def match(self, row: dict[str, Any]) -> bool:
        if self.kinds and row["kind"] not in self.kinds and not row["kind"].startswith(self.kind_prefixes):
            return False
        if self.parties and self.parties.isdisjoint(row["parties"]):
            return False
        if self.units and self.units.isdisjoint(row["units"]):
            return False
        return not (self.listings and self.listings.isdisjoint(row["listings"]))

    def refs(self) -> list[str] | None:
        """The ``event_refs`` values that find every event this filter can match (those of its
        parties, else of its units, else of its listings), or None: kinds alone are not indexed."""
        for values, prefix in ((self.parties, "p:"), (self.units, "u:"), (self.listings, "l:")):
            if values:
                return [prefix + v for v in sorted(values)]
        return None


class Ev:
    """A committed event prepared once for every subscriber: its match keys and (lazily) its SSE frame."""

    __slots__ = ("_frame", "id", "kind", "listings", "parties", "row", "units")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.id: int = row["id"]
        self.kind: str = row["kind"]
        self.parties = frozenset(row["parties"])
        self.units = frozenset(row["units"])
        self.listings = frozenset(row["listings"])
        self._frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        f = self._frame
        if f is None:
            f = self._frame = sse_frame(self.row)
        return f

    def matches(self, f: EventFilter) -> bool:
        if f.kinds and self.kind not in f.kinds and not self.kind.startswith(f.kind_prefixes):
            return False
        if f.parties and f.parties.isdisjoint(self.parties):
            return False
        if f.units and f.units.isdisjoint(self.units):
            return False
        return not (f.listings and f.listings.isdisjoint(self.listings))


@dataclass(eq=False)
class Subscriber:
    filter: EventFilter
    last_id: int
    frames: list[tuple[int, bytes, list[Ev]]] = field(default_factory=list)  # (first id, frames, events) per block
    queued: int = 0  # events in ``frames``
    lagging: bool = True  # starts by catching up from the store
    waiter: asyncio.Future[None] | None = None
    gone: bool = False  # the client disconnected
    ended: bool = False  # the server is shutting down: the stream ends (cleanly) at once
    tick: bool = False  # a keep-alive comment is due
    since: float = 0.0  # when the write under way began (the loop's clock), 0.0 when none is
    dropped: bool = False  # the client took nothing for stall_s: its connection was closed
    abort: Callable[[], None] | None = None  # closes the connection at once (the HTTP protocol's)
    task: asyncio.Task[Any] | None = None  # the task serving the stream (cancelled when there is no abort)

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def end(self) -> None:
        """End the stream cleanly (its last chunk sent): the server is shutting down."""
        self.ended = True
        self.wake()

    def drop(self) -> None:
        """Drop a stream whose client takes nothing: its connection is closed at once (the write
        waiting on it then returns), or, without the HTTP protocol's abort, its task is cancelled."""
        if self.dropped:
            return
        self.dropped = self.gone = True
        if self.abort is not None:
            self.abort()
        elif self.task is not None:
            self.task.cancel()
        self.wake()

    def push(self, chunk: bytes, evs: list[Ev]) -> None:
        if self.lagging:
            self.wake()
            return
        if self.queued + len(evs) > QUEUE_LIMIT:
            self.frames.clear()
            self.queued = 0
            self.lagging = True
        else:
            self.frames.append((evs[0].id, chunk, evs))
            self.queued += len(evs)
        self.wake()

    def take(self) -> bytes:
        """Everything queued after ``last_id``, as one write (parts already read from the store are cut)."""
        parts = []
        last = self.last_id
        for first, chunk, evs in self.frames:
            if first > last:
                parts.append(chunk)
            else:
                parts.extend(e.frame for e in evs if e.id > last)
            last = max(last, evs[-1].id)
        self.frames.clear()
        self.queued = 0
        self.last_id = last
        return parts[0] if len(parts) == 1 else b"".join(parts)


class Broadcaster:
    """One per app: reads each committed block's events once, serialises each frame once, and
    hands every group of subscribers with the same filter one pre-joined chunk per block."""

    def __init__(self, reader: Reader, stall_s: float = STALL_S) -> None:
        self.reader = reader
        self.stall_s = stall_s
        self.groups: dict[EventFilter, set[Subscriber]] = {}
        self.last_id = 0
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._inline = True  # the last block was small: read its events on the loop
        self._stale = False  # blocks were committed while nobody subscribed: last_id is behind
        self.streams: collections.Counter[str] = collections.Counter()  # open streams per client address
        self.open_streams = 0

    @property
    def subscribers(self) -> list[Subscriber]:
        return [s for group in self.groups.values() for s in group]

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.last_id = await asyncio.to_thread(self.reader.last_event_id)
        self._task = asyncio.create_task(self._run(), name="anju-events")
        self._ticker = asyncio.create_task(self._keepalive(), name="anju-events-keepalive")
        self._watchdog = asyncio.create_task(self._drop_stalled(), name="anju-events-stalled")

    async def stop(self) -> None:
        self.closed = True
        for sub in self.subscribers:
            sub.wake()
        for task in (self._task, self._ticker, self._watchdog):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def on_commit(self, record: BlockRecord) -> None:
        """Called from the node's writer thread; only schedules a wake-up."""
        self._inline = record.tx_count <= INLINE_TXS
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not self.closed:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.groups:  # nobody listens: read nothing; the position is fetched when someone comes
                self._stale = True
                continue
            if self._stale:
                self._refresh()
            while True:
                if self._inline:  # a few rows: a thread hand-off would cost more than the query
                    rows = self.reader.events_after(self.last_id, PAGE)
                else:
                    rows = await asyncio.to_thread(self.reader.events_after, self.last_id, PAGE)
                if not rows:
                    break
                self.last_id = rows[-1]["id"]
                self.fan_out([Ev(row) for row in rows])
                if len(rows) < PAGE:
                    break

    def _refresh(self) -> None:
        """Catch the live position up with the store after a time without subscribers."""
        self._stale = False
        self.last_id = max(self.last_id, self.reader.last_event_id())

    def fan_out(self, evs: list[Ev]) -> None:
        """Offer new events to every subscriber: matching is done once per distinct filter."""
        for flt, group in self.groups.items():
            matched = [e for e in evs if e.matches(flt)]
            if not matched:
                continue
            chunk = matched[0].frame if len(matched) == 1 else b"".join(e.frame for e in matched)
            for sub in group:
                sub.push(chunk, matched)

    def _add(self, sub: Subscriber) -> None:
        self.groups.setdefault(sub.filter, set()).add(sub)

    def _remove(self, sub: Subscriber) -> None:
        group = self.groups.get(sub.filter)
        if group is not None:
            group.discard(sub)
            if not group:
                del self.groups[sub.filter]

    def reserve(self, client: str) -> None:
        """Count a stream for ``client`` now, when the route has checked the limits (no await in
        between): counting it only once the stream had started let concurrent requests all pass
        the same check. :meth:`serve` gives the slot back when the stream ends."""
        self.streams[client] += 1
        self.open_streams += 1

    def _release(self, client: str) -> None:
        self.streams[client] -= 1
        self.open_streams -= 1
        if self.streams[client] <= 0:
            del self.streams[client]

    async def serve(
        self,
        flt: EventFilter,
        after: int | None,
        receive: Receive,
        send: Send,
        client: str = "",
        scope: Scope | None = None,
    ) -> None:
        """Write the SSE stream straight to the ASGI ``send``: matching events after ``after`` (None:
        from now), then live, one send per block; keep-alive comments every ``KEEPALIVE_S``. The
        stream's slot was taken with :meth:`reserve`. ``scope[END_STREAM]`` is set to a callable
        that ends the stream cleanly: the HTTP protocol calls it when the server shuts down
        (:class:`anju.api.http.AnjuHttpProtocol`), which otherwise waited for the stream to end
        until its graceful-shutdown timeout, then cancelled it mid-stream.

        A write that waits ``stall_s`` for the client to read drops the stream (:meth:`_drop_stalled`):
        the connection is closed with ``scope[ABORT_CONNECTION]``, which the HTTP protocol sets."""
        if self._stale and not self.groups:
            self._refresh()
        sub = Subscriber(flt, self.last_id if after is None else after)
        sub.task = asyncio.current_task()
        if scope is not None:
            scope[END_STREAM] = sub.end
            abort = scope.get(ABORT_CONNECTION)
            sub.abort = abort if callable(abort) else None
        self._add(sub)
        loop = asyncio.get_running_loop()

        async def write(body: bytes) -> None:
            """``body`` in writes of at most PIECE bytes, each timed (``sub.since``) for the watchdog."""
            pieces = (body,) if len(body) <= PIECE else [body[i : i + PIECE] for i in range(0, len(body), PIECE)]
            for piece in pieces:
                sub.since = loop.time()
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            sub.since = 0.0

        try:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            # The stream's position as its first id (a frame without data: no event): a client that
            # loses the connection before any event reconnects with it, as Last-Event-ID, and misses
            # nothing; without it, a stream "from now" resumed "from now" again, past every event
            # committed while it was away (a browser's EventSource, the SDK's events()).
            await write(b"retry: 1000\nid: %d\n\n" % sub.last_id)
        except BaseException:
            self._remove(sub)
            self._release(client)
            raise

        async def watch() -> None:  # the client going away ends the stream
            while (await receive())["type"] != "http.disconnect":
                pass
            sub.gone = True
            sub.wake()

        watcher = asyncio.create_task(watch())
        try:
            while not (self.closed or sub.gone or sub.ended):
                if sub.lagging:
                    async for chunk in self._catch_up(sub):
                        await write(chunk)
                    continue
                if sub.frames:
                    chunk = sub.take()
                    if chunk:
                        await write(chunk)
                    continue
                sub.waiter = loop.create_future()
                await sub.waiter
                sub.waiter = None
                if sub.tick:
                    sub.tick = False
                    await write(b": keep-alive\n\n")
        except OSError:  # the connection broke
            pass
        except asyncio.CancelledError:
            if not sub.dropped or sub.task is None:
                raise
            sub.task.uncancel()  # dropped without an abort: the server closes the unfinished response
        finally:
            watcher.cancel()
            self._remove(sub)
            self._release(client)
        if sub.dropped:
            return  # the connection is closed: nothing more can be sent
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _drop_stalled(self) -> None:
        """Drop every stream whose write has waited ``stall_s`` for its client to read: a client
        that takes nothing held its slot (and its buffered frames) until TCP gave up, hours later.
        A client that reads, however far behind, is not dropped as long as it takes a write's
        worth (:data:`PIECE`, with what the connection buffered before it) within ``stall_s`` (it
        catches up from the store when its queue overflows); a slower one (under ~8 KiB/s with
        the defaults) can be, in a burst, and resumes from the last whole event it read."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, max(self.stall_s / 4, 0.05)))
            now = loop.time()
            for sub in self.subscribers:
                if sub.since and now - sub.since >= self.stall_s:
                    sub.drop()

    async def _catch_up(self, sub: Subscriber) -> AsyncIterator[bytes]:
        """Read from the store up to the live position; live chunks keep queueing behind meanwhile."""
        sub.lagging = False
        sub.frames.clear()
        sub.queued = 0
        refs = sub.filter.refs() if self.reader.event_index else None
        while not (self.closed or sub.gone or sub.ended):
            # with refs, only the events that name what the filter asks for (event_refs); else every
            # event since the position, filtered here
            rows, _, done = await asyncio.to_thread(self.reader.events_page, refs, sub.last_id, PAGE)
            out = []
            for row in rows:
                sub.last_id = row["id"]
                if sub.filter.match(row):
                    out.append(sse_frame(row))
            if out:
                yield b"".join(out)
            if done:
                break

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            for sub in self.subscribers:
                if not sub.frames:
                    sub.tick = True
                    sub.wake()


class SSEResponse(Response):
    """The event stream as a response: :meth:`Broadcaster.serve` writes it (no generator layers)."""

    def __init__(self, hub: Broadcaster, flt: EventFilter, after: int | None, client: str = "") -> None:
        super().__init__(media_type="text/event-stream")
        self.hub, self.flt, self.after, self.client = hub, flt, after, client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.hub.serve(self.flt, self.after, receive, send, self.client, scope)


END_STREAM = "anju.end_stream"
"""The scope key of an open event stream's ending callable (see :meth:`Broadcaster.serve`)."""
ABORT_CONNECTION = "anju.abort_connection"
"""The scope key of a callable closing the request's connection at once, unsent data dropped (set by
:class:`anju.api.http.AnjuHttpProtocol`): a stalled stream is dropped with it."""

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def sse_frame(row: dict[str, Any] | None) -> bytes:
    """One Server-Sent Events frame (a comment line for a keep-alive)."""
    if row is None:
        return b": keep-alive\n\n"
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (row["id"], row["kind"].encode(), orjson.dumps(row))
