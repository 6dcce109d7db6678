"""Consistent reads for the HTTP API: one SQLite read transaction (a WAL snapshot) per answer.

A proof must be generated against exactly the checkpoint it is returned with. Each request
therefore opens a read transaction on a read-only connection of its own thread, reads the
latest block first (which fixes the snapshot), and builds every log and state proof from the
``tlog_nodes`` and ``smt_tiles`` rows seen through that same transaction. Blocks committed
meanwhile are invisible to it, so an answer never mixes two checkpoints.

SQL the API needs lives here (the store's own SQL stays in :mod:`anju.ledger.store`).
"""

from __future__ import annotations

import base64
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from anju.errors import StorageCorrupt
from anju.ledger import merkle
from anju.ledger.statemap import NodeReader, StateMap, StateProof, Tile, decode_tile, key_path, tile_ids
from anju.ledger.store import REGISTRY_INDEXES as REGISTRY_INDEXES
from anju.ledger.store import STORE_FORMAT, BlockRecord, event_ids, events_after, events_by_id, read_tiles


class EventsPage(NamedTuple):
    """Events read through the event index: the rows, the index rows read, whether none follow."""

    rows: list[dict[str, Any]]
    read: int
    done: bool


def ensure_indexes(path: Path, statements: Sequence[str] = REGISTRY_INDEXES) -> None:
    """Create the API's expression indexes (call before the node starts writing); the statements
    are defined beside the store's schema (:data:`anju.ledger.store.REGISTRY_INDEXES`)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        for sql in statements:
            conn.execute(sql)
    finally:
        conn.close()


def open_state_map(get: Callable[[int], bytes | None], tiles: dict[int, Tile | None] | None = None) -> StateMap:
    """The state map stored behind ``get``, caching decoded tiles in ``tiles`` (shared by the
    snapshots of one head), or for this answer only."""
    return StateMap(NodeReader(get), cache_size=TILE_CACHE_LIMIT, tiles=tiles)


def _block(row: Sequence[Any]) -> BlockRecord:
    return BlockRecord(
        int(row[0]), str(row[1]), int(row[2]), int(row[3]), int(row[4]), bytes(row[5]), bytes(row[6]), str(row[7])
    )


CACHE_LIMIT = 200_000  # entries per cache before it is emptied
TILE_CACHE_LIMIT = 50_000  # decoded state-map tiles per head (up to ~3 KB each)
PATH_PREFETCH = 35
"""State-map levels (seven tiles) a proof reads in one statement (a tree of 2^32 keys is ~34 levels deep)."""


class Caches:
    """Read caches shared by every snapshot of one :class:`Reader`.

    - log nodes: a complete subtree's hash (and a leaf) never changes in an append-only log, so
      they are cached for good;
    - state-map tiles are stored by position, so they are cached per state root: the cache is
      replaced when a snapshot sees a newer head, and a snapshot of another head does not use it.
    """

    def __init__(self) -> None:
        self.tlog: dict[tuple[int, int], bytes] = {}
        self.smt_root = b""
        self.smt_height = -1
        self.smt: dict[int, Tile | None] = {}  # decoded tiles of smt_root

    def smt_for(self, head: BlockRecord) -> dict[int, Tile | None] | None:
        if head.state_root == self.smt_root and head.height == self.smt_height:
            return self.smt
        if head.height > self.smt_height:
            fresh: dict[int, Tile | None] = {}
            self.smt, self.smt_root, self.smt_height = fresh, head.state_root, head.height
            return fresh
        return None


class Snapshot:
    """Reads inside one open read transaction; valid only inside :meth:`Reader.snapshot`."""

    __slots__ = ("_c", "_head", "_smt", "_smt_cache", "_tlog_cache")

    def __init__(self, conn: sqlite3.Connection, caches: Caches | None = None) -> None:
        self._c = conn
        row = conn.execute("SELECT * FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
        if row is None:
            raise StorageCorrupt("STORE_CORRUPT", "the ledger has no genesis block")
        self._head = _block(row)
        self._smt: StateMap | None = None
        self._tlog_cache = caches.tlog if caches is not None else None
        shared = caches.smt_for(self._head) if caches is not None else None
        # Not the head the shared cache holds: this answer's nodes are cached for this answer only.
        self._smt_cache: dict[int, Tile | None] = {} if shared is None else shared

    @property
    def head(self) -> BlockRecord:
        """The latest committed block as of this snapshot; every proof is against its checkpoint."""
        return self._head

    # -- blocks and the log ---------------------------------------------------------------------
    def block(self, height: int) -> BlockRecord | None:
        row = self._c.execute("SELECT * FROM blocks WHERE height=?", (height,)).fetchone()
        return None if row is None else _block(row)

    def block_txids(self, height: int) -> list[str]:
        cur = self._c.execute("SELECT txid FROM txs WHERE height=? ORDER BY idx", (height,))
        return [bytes(r[0]).hex() for r in cur]

    def tx(self, txid: str) -> tuple[int, int, bytes] | None:
        """(log index, height, leaf) of a committed transaction."""
        row = self._c.execute("SELECT idx, height, leaf FROM txs WHERE txid=?", (bytes.fromhex(txid),)).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), bytes(row[2]))

    def tx_body(self, txid: str) -> dict[str, Any] | None:
        """The body of committed transaction ``txid`` (None if there is none)."""
        found = self.tx(txid)
        if found is None:
            return None
        body: dict[str, Any] = orjson.loads(found[2])["body"]
        return body

    def tlog_node(self, level: int, idx: int) -> bytes:
        """Hash of the complete log subtree (level, idx); level 0 is hashed from the stored leaf."""
        cache = self._tlog_cache
        if cache is None:
            return self._tlog_node(level, idx)
        h = cache.get((level, idx))
        if h is None:
            h = self._tlog_node(level, idx)
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[(level, idx)] = h
        return h

    def _tlog_node(self, level: int, idx: int) -> bytes:
        if level == 0:
            leaf = self._c.execute("SELECT leaf FROM txs WHERE idx=?", (idx,)).fetchone()
            if leaf is None:
                raise StorageCorrupt("STORE_CORRUPT", f"missing log leaf {idx}", index=idx)
            return merkle.leaf_hash(bytes(leaf[0]))
        row = self._c.execute("SELECT hash FROM tlog_nodes WHERE level=? AND idx=?", (level, idx)).fetchone()
        if row is None:
            raise StorageCorrupt("STORE_CORRUPT", f"missing log node level={level} index={idx}", level=level, index=idx)
        return bytes(row[0])

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._prefetch_log(index, size)
        return list(merkle.inclusion_proof(index, size, self.tlog_node))

    def _prefetch_log(self, index: int, size: int) -> None:
        """Read the log nodes an inclusion proof needs in one statement per table, not one per level
        (which nodes it reads depends only on ``index`` and ``size``)."""
        cache = self._tlog_cache
        if cache is None:
            return
        wanted = [node for node in merkle.inclusion_nodes(index, size) if node not in cache]
        if not wanted:
            return
        if len(cache) + len(wanted) >= CACHE_LIMIT:
            cache.clear()
        leaves = [idx for level, idx in wanted if level == 0]
        nodes = [x for level, idx in wanted if level > 0 for x in (level, idx)]
        if leaves:
            marks = ",".join("?" * len(leaves))
            for idx, leaf in self._c.execute(f"SELECT idx, leaf FROM txs WHERE idx IN ({marks})", leaves):
                cache[(0, int(idx))] = merkle.leaf_hash(bytes(leaf))
        if nodes:
            pairs = ",".join(["(?,?)"] * (len(nodes) // 2))
            for level, idx, h in self._c.execute(  # a join, so that each pair is a primary-key lookup
                f"WITH w(l, i) AS (VALUES {pairs}) "
                "SELECT t.level, t.idx, t.hash FROM w JOIN tlog_nodes t ON t.level = w.l AND t.idx = w.i",
                nodes,
            ):
                cache[(int(level), int(idx))] = bytes(h)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        return list(merkle.consistency_proof(first, second, self.tlog_node))

    def height_proof(self, height: int) -> dict[str, Any]:
        """What proves that a transaction of block ``height`` (>= 1) is of that block, against this
        snapshot's head (docs/PROTOCOL.md, "Height proofs"): the signed notes of blocks ``height``
        and ``height`` - 1, whose log sizes bracket the transaction's index, and the consistency
        proofs from the earlier one to the later one and from that to the head."""
        block, previous = self.block(height), self.block(height - 1)
        if block is None or previous is None:
            raise StorageCorrupt(
                "STORE_CORRUPT", "a transaction's block or the one before it is missing", height=height
            )
        size = self._head.log_size

        def proof(first: int, second: int) -> list[str]:
            return (
                []
                if first in (0, second)
                else [base64.b64encode(h).decode() for h in self.consistency_proof(first, second)]
            )

        return {
            "block": block.checkpoint,
            "previous": previous.checkpoint,
            "previous_to_block": proof(previous.log_size, block.log_size),
            "block_to_head": proof(block.log_size, size),
        }

    # -- state ----------------------------------------------------------------------------------
    def state_get(self, key: str) -> bytes | None:
        row = self._c.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0]).encode()

    def state_json(self, key: str) -> Any:
        raw = self.state_get(key)
        return None if raw is None else orjson.loads(raw)

    def _smt_get(self, tile_id: int) -> bytes | None:
        return read_tiles(self._c, [tile_id]).get(tile_id)  # the map caches it, decoded

    def _prefetch_path(self, key: str) -> None:
        """Read the state-map tiles on ``key``'s path in one statement instead of one per tile.

        Tiles are stored by position, so every tile id on the path follows from the key alone; those
        below the path's end are simply not found (and not cached)."""
        cache = self._smt_cache
        p = int.from_bytes(key_path(key), "big")
        wanted = [i for i in tile_ids(p, PATH_PREFETCH) if i not in cache]
        if not wanted:
            return
        if len(cache) + len(wanted) >= TILE_CACHE_LIMIT:
            cache.clear()
        for i, rec in read_tiles(self._c, wanted).items():
            cache[i] = decode_tile(rec, i)

    def state_proof(self, key: str) -> StateProof:
        """A proof for ``key`` under :attr:`head`'s state root (the same snapshot)."""
        if self._smt is None:
            smt = open_state_map(self._smt_get, self._smt_cache)
            if smt.root != self._head.state_root:
                raise StorageCorrupt(
                    "STORE_CORRUPT", "state map root differs from the latest block's", height=self._head.height
                )
            self._smt = smt
        self._prefetch_path(key)
        return self._smt.prove(key)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._c.execute(sql, args))

    # -- events ---------------------------------------------------------------------------------
    def events_after(self, after_id: int, limit: int) -> list[dict[str, Any]]:
        return events_after(self._c, after_id, limit)


class Reader:
    """Read-only connections to a ledger file, one per thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self.caches = Caches()
        self._event_index = False

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA cache_size=-32768")
            conn.execute("PRAGMA mmap_size=4294967296")  # pages read in place from the OS page cache
            self._local.conn = conn
        return conn

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A consistent view of the ledger: everything read inside sees the same committed block."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield Snapshot(conn, self.caches)
        finally:
            conn.execute("ROLLBACK")

    def events_after(self, after_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        return events_after(self._conn(), after_id, limit)

    def events_page(self, refs: Sequence[str] | None, after_id: int, limit: int = 1000) -> EventsPage:
        """The next events after ``after_id``: with ``refs``, those naming any of them
        (:meth:`events_naming`); without, every one (``limit`` rows; the caller filters)."""
        if refs is not None:
            return self.events_naming(refs, after_id, limit)
        rows = self.events_after(after_id, limit)
        return EventsPage(rows, len(rows), len(rows) < limit)

    def events_naming(self, refs: Sequence[str], after_id: int, limit: int = 1000) -> EventsPage:
        """The next events after ``after_id`` that name any of ``refs`` (``event_refs`` values:
        ``"p:" + party``, ``"u:" + unit``, ``"l:" + listing``), in id order, reading about
        ``limit`` index rows (see :func:`anju.ledger.store.event_ids`); ``done`` when no more follow."""
        conn = self._conn()
        conn.execute("BEGIN")  # one snapshot for every ref's range and the rows: a block committed
        try:  # between two of them would otherwise show one ref its events and hide another's
            page = event_ids(conn, refs, after_id, limit)
            return EventsPage(events_by_id(conn, page.ids), page.read, page.done)
        finally:
            conn.execute("ROLLBACK")

    @property
    def event_index(self) -> bool:
        """The ledger has ``event_refs`` (store format 6; an older one is moved when a node opens it)."""
        if not self._event_index:
            row = self._conn().execute("SELECT value FROM meta WHERE key='store_format'").fetchone()
            self._event_index = row is not None and bytes(row[0]) == STORE_FORMAT
        return self._event_index

    def last_event_id(self) -> int:
        row = self._conn().execute("SELECT MAX(id) FROM events").fetchone()
        return 0 if row[0] is None else int(row[0])
