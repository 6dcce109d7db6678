"""A filtered stream catching up reads the event index, not every event since its position."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import kv_put

from anju.api.events import Broadcaster, EventFilter, Subscriber
from anju.api.snapshot import EventsPage, Reader
from anju.chain.node import DB_NAME, Node
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse_and_verify


class Spy(Reader):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.scanned = 0  # rows read by events_after
        self.named = 0  # rows read by events_naming
        self.index_read = 0  # event_refs rows it read for them

    def events_after(self, after_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        rows = super().events_after(after_id, limit)
        self.scanned += len(rows)
        return rows

    def events_naming(self, refs: Any, after_id: int, limit: int = 1000) -> EventsPage:
        page = super().events_naming(refs, after_id, limit)
        self.named += len(page.rows)
        self.index_read += page.read
        return page


def _ledger(kv_data: Path, me: SigningKey, other: SigningKey) -> list[int]:
    """2,500 events by ``other`` (more than two pages) and 3 by ``me`` among them; my event ids."""
    node = Node(kv_data, verify_workers=0)
    txs = [kv_put(other, i, k=f"o{i}") for i in range(1, 2501)]
    for at, seq in ((10, 1), (1200, 2), (2400, 3)):
        txs.insert(at, kv_put(me, seq, k=f"m{seq}"))
    for start in range(0, len(txs), 500):
        block = [parse_and_verify(t) for t in txs[start : start + 500]]
        node.commit_block(f"2026-01-01T00:00:{start // 500 + 1:02d}.000Z", block)
    node.store.close()
    conn = sqlite3.connect(kv_data / DB_NAME)
    try:
        rows = conn.execute("SELECT id, parties FROM events ORDER BY id").fetchall()
    finally:
        conn.close()
    return [i for i, parties in rows if me.public_hex in parties]


def _catch_up(reader: Reader, flt: EventFilter, after: int) -> list[int]:
    async def run() -> list[int]:
        hub = Broadcaster(reader)
        sub = Subscriber(flt, after)
        out = b"".join([chunk async for chunk in hub._catch_up(sub)])
        return [int(line[4:]) for line in out.split(b"\n") if line.startswith(b"id: ")]

    return asyncio.run(run())


def test_a_party_filter_reads_only_that_partys_events(kv_data: Path) -> None:
    me, other = SigningKey(b"m" * 32), SigningKey(b"o" * 32)
    mine = _ledger(kv_data, me, other)
    reader = Spy(kv_data / DB_NAME)
    assert reader.event_index
    assert _catch_up(reader, EventFilter(parties=frozenset({me.public_hex})), 0) == mine
    assert reader.scanned == 0 and reader.named == 3
    assert _catch_up(reader, EventFilter(parties=frozenset({me.public_hex})), mine[0]) == mine[1:]
    both = _catch_up(reader, EventFilter(parties=frozenset({me.public_hex, other.public_hex})), 0)
    assert len(both) == 2503 and both == sorted(both)
    assert reader.scanned == 0


def test_kinds_alone_and_an_unindexed_ledger_are_scanned(kv_data: Path) -> None:
    me, other = SigningKey(b"m" * 32), SigningKey(b"o" * 32)
    mine = _ledger(kv_data, me, other)
    reader = Spy(kv_data / DB_NAME)
    assert len(_catch_up(reader, EventFilter(kinds=frozenset({"kv."})), 0)) == 2503
    assert reader.scanned == 2503 and reader.named == 0
    conn = sqlite3.connect(kv_data / DB_NAME)  # as a format-5 ledger a reader meets before a node moves it
    conn.executescript("DROP TABLE event_refs; UPDATE meta SET value = x'35' WHERE key = 'store_format';")
    conn.close()
    old = Spy(kv_data / DB_NAME)
    assert not old.event_index
    assert _catch_up(old, EventFilter(parties=frozenset({me.public_hex})), 0) == mine
    assert old.scanned == 2503 and old.named == 0


class _Interleaving:
    """A connection that lets a block commit right after the first ``event_refs`` range is read."""

    def __init__(self, conn: Any, commit: Any) -> None:
        self._conn, self._commit, self.fired = conn, commit, False

    def execute(self, sql: str, *args: Any) -> Any:
        cur = self._conn.execute(sql, *args)
        if "FROM event_refs" in sql and not self.fired:
            rows = cur.fetchall()  # read this range first, as SQLite would step it
            self.fired = True
            self._commit()
            return iter(rows)
        return cur


def test_a_block_committed_between_two_refs_ranges_is_seen_by_both_or_neither(kv_data: Path) -> None:
    """With several refs (OR), each range must come from one snapshot: otherwise a block committed
    between them shows its event for the second ref and hides the first ref's, and the stream's
    position would skip the hidden one for good."""
    a, b = SigningKey(b"a" * 32), SigningKey(b"b" * 32)
    node = Node(kv_data, verify_workers=0)
    node.commit_block("2026-01-01T00:00:01.000Z", [parse_and_verify(kv_put(a, 1)), parse_and_verify(kv_put(b, 1))])

    def commit() -> None:
        more = [parse_and_verify(kv_put(a, 2, k="x")), parse_and_verify(kv_put(b, 2, k="y"))]
        node.commit_block("2026-01-01T00:00:02.000Z", more)

    reader = Reader(kv_data / DB_NAME)
    real = reader._conn()
    conn = _Interleaving(real, commit)
    reader._conn = lambda: conn  # type: ignore[method-assign]
    refs = sorted(["p:" + a.public_hex, "p:" + b.public_hex])
    got = [e["id"] for e in reader.events_naming(refs, 0).rows]
    assert conn.fired and got == [1, 2]  # the snapshot before the second block: neither 3 nor 4
    reader._conn = lambda: real  # type: ignore[method-assign]
    assert [e["id"] for e in reader.events_naming(refs, 0).rows] == [1, 2, 3, 4]
    node.store.close()


def test_many_refs_read_about_one_pages_worth_of_the_index_and_miss_nothing(kv_data: Path) -> None:
    """A filter naming 100 parties reads about ``limit`` index rows per page in all (not ``limit``
    per party: the security review's 100,000 rows for one page), and paging on from each page's
    last id still yields every event naming any of them, once, in order."""
    me, other = SigningKey(b"m" * 32), SigningKey(b"o" * 32)
    mine = _ledger(kv_data, me, other)
    reader = Spy(kv_data / DB_NAME)
    quiet = [SigningKey(bytes([i]) * 32).public_hex for i in range(98)]  # parties with no event at all
    refs = sorted({"p:" + k for k in [me.public_hex, other.public_hex, *quiet]})
    seen: list[int] = []
    pos, pages = 0, 0
    while True:
        before = reader.index_read
        rows, read, done = reader.events_naming(refs, pos, 1000)
        assert read == reader.index_read - before <= 1000
        pages += 1
        seen += [row["id"] for row in rows]
        if done:
            break
        assert rows  # a page that is not the last always moves on
        pos = rows[-1]["id"]
    assert seen == sorted(set(seen)) and len(seen) == 2503 and set(mine) <= set(seen)
    assert pages > 2  # shares of 10 rows per party: many short pages, each exact
    alone = reader.events_naming(["p:" + me.public_hex], 0, 1000)
    assert [row["id"] for row in alone.rows] == mine and alone.done and alone.read == 3
