"""Live events: committed event rows fanned out to Server-Sent-Events subscribers.

The node's writer thread calls :meth:`Broadcaster.on_commit` after each durable block; that only
wakes the event loop (it never blocks the writer). The loop reads the new rows from the store
once and offers them to every subscriber's bounded queue. A subscriber whose queue overflows is
marked *lagging*: its queue is dropped and it catches up from the store by event id, then rejoins
the live feed. Ids are the store's ``events.id`` (strictly increasing), so a client resuming with
``Last-Event-ID`` (or ``?after=``) gets every later event exactly once, in order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from anju.api.snapshot import Reader
from anju.ledger.store import BlockRecord

QUEUE_LIMIT = 2000
PAGE = 1000
KEEPALIVE_S = 15.0


@dataclass(frozen=True, slots=True)
class EventFilter:
    """An event matches when, for every filter given, it names at least one of the values."""

    parties: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    listings: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    @staticmethod
    def parse(values: Iterable[str] | None) -> frozenset[str]:
        out: set[str] = set()
        for v in values or ():
            out.update(x for x in v.split(",") if x)
        return frozenset(out)

    def match(self, row: dict[str, Any]) -> bool:
        if self.kinds and not any(row["kind"] == k or (k.endswith(".") and row["kind"].startswith(k))
                                  for k in self.kinds):
            return False
        if self.parties and self.parties.isdisjoint(row["parties"]):
            return False
        if self.units and self.units.isdisjoint(row["units"]):
            return False
        return not (self.listings and self.listings.isdisjoint(row["listings"]))


@dataclass(eq=False)
class Subscriber:
    filter: EventFilter
    last_id: int
    queue: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)
    lagging: bool = True  # starts by catching up from the store
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, rows: list[dict[str, Any]]) -> None:
        if self.lagging:
            self.wake.set()
            return
        q = self.queue
        for row in rows:
            if row["id"] > self.last_id and self.filter.match(row):
                if len(q) >= QUEUE_LIMIT:
                    q.clear()
                    self.lagging = True
                    break
                q.append(row)
        self.wake.set()


class Broadcaster:
    """One per app: reads each committed block's events once and feeds every subscriber."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.subscribers: set[Subscriber] = set()
        self.last_id = 0
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.last_id = await asyncio.to_thread(self.reader.last_event_id)
        self._task = asyncio.create_task(self._run(), name="anju-events")

    async def stop(self) -> None:
        self.closed = True
        for sub in self.subscribers:
            sub.wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def on_commit(self, _record: BlockRecord) -> None:
        """Called from the node's writer thread; only schedules a wake-up."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not self.closed:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                rows = await asyncio.to_thread(self.reader.events_after, self.last_id, PAGE)
                if not rows:
                    break
                self.last_id = rows[-1]["id"]
                for sub in tuple(self.subscribers):
                    sub.offer(rows)
                if len(rows) < PAGE:
                    break

    async def stream(self, flt: EventFilter, after: int | None) -> AsyncIterator[dict[str, Any] | None]:
        """Matching events after ``after`` (None: from now), then live; yields None as a keep-alive tick."""
        sub = Subscriber(flt, self.last_id if after is None else after)
        self.subscribers.add(sub)
        try:
            while not self.closed:
                if sub.lagging:
                    # Catch up from the store; live rows keep queueing behind us meanwhile.
                    sub.lagging = False
                    sub.queue.clear()
                    while not self.closed:
                        rows = await asyncio.to_thread(self.reader.events_after, sub.last_id, PAGE)
                        for row in rows:
                            sub.last_id = row["id"]
                            if flt.match(row):
                                yield row
                        if len(rows) < PAGE:
                            break
                    continue
                while sub.queue and not sub.lagging:
                    row = sub.queue.popleft()
                    if row["id"] > sub.last_id:
                        sub.last_id = row["id"]
                        yield row
                if sub.lagging or sub.queue:
                    continue
                sub.wake.clear()
                try:
                    await asyncio.wait_for(sub.wake.wait(), KEEPALIVE_S)
                except TimeoutError:
                    yield None
        finally:
            self.subscribers.discard(sub)


def sse_frame(row: dict[str, Any] | None) -> bytes:
    """One Server-Sent Events frame (a comment line for a keep-alive)."""
    if row is None:
        return b": keep-alive\n\n"
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (row["id"], row["kind"].encode(), orjson.dumps(row))
