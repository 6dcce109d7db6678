"""The block store: one SQLite file in WAL mode; one storage transaction per block.

A block is written with its transactions (the log leaves), the new complete Merkle nodes, the
state writes, the state-map node changes, its events and its signed checkpoint in a single
``BEGIN IMMEDIATE … COMMIT`` with ``synchronous=FULL``: after ``COMMIT`` returns, the block is
durable; before, it is absent. A node that falls behind stores the consecutive blocks waiting for
it in one such transaction (:meth:`Store.write_blocks`): all of them, or none. SQL lives only in
this module.

Tables (all but ``meta`` are derived from the transactions and re-checked by ``anju verify``):

    meta(key, value)                       chain id, genesis document, node verifier key
    blocks(height, time, first_index, tx_count, log_size, log_root, state_root, checkpoint)
    txs(idx, txid, height, leaf)           the RFC 9162 log: leaf idx = JCS(envelope)
    tlog_nodes(level, idx, hash)           complete subtree hashes of the log (levels >= 1)
    state(rid, key, value)                 the current state, flat (value is JCS JSON text); rid is
                                           the row's place, in order of first write (format 5)
    smt_tiles(id, v)                       the authenticated state map's nodes, one row per tile
    smt_deep(id, v)                        tiles whose id does not fit a SQLite integer (>= 2^63)
    events(id, height, idx, txid, kind, data, parties, units, listings)
    event_refs(ref, id)                    which events name a party ("p:<hex>"), unit ("u:<id>") or
                                           listing ("l:<id>"), as ref_key(...): a filtered event
                                           stream resumes by reading its own events (format 6)
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from anju.errors import StorageCorrupt
from anju.ledger import merkle
from anju.ledger.statemap import NodeReader

log = logging.getLogger("anju.store")

_STATE_TABLE = "CREATE TABLE IF NOT EXISTS state (rid INTEGER PRIMARY KEY, key TEXT NOT NULL, value TEXT NOT NULL)"
_STATE_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS state_key ON state(key)"
_EVENT_REFS_TABLE = (
    "CREATE TABLE IF NOT EXISTS event_refs "
    "(ref INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (ref, id)) WITHOUT ROWID"
)
_EVENT_REFS_FILL = """
INSERT OR IGNORE INTO event_refs(ref, id)
SELECT anju_ref('p:' || j.value), e.id FROM events e, json_each(e.parties) j WHERE e.id > ?1
UNION ALL SELECT anju_ref('u:' || j.value), e.id FROM events e, json_each(e.units) j WHERE e.id > ?1
UNION ALL SELECT anju_ref('l:' || j.value), e.id FROM events e, json_each(e.listings) j WHERE e.id > ?1
"""
"""Index the events after id ?1 by what they name, in SQLite from the stored rows: the move from
format 5 (the writer computes the same rows with :func:`event_refs`)."""


def event_refs(last: int, events: Sequence[tuple[Any, ...]]) -> list[tuple[int, int]]:
    """The ``event_refs`` rows of ``events`` (rows ``(idx, txid, kind, data, parties, units,
    listings)`` as :class:`BlockWrite` holds them), stored with ids ``last + 1`` on: what
    ``_EVENT_REFS_FILL`` makes of them once stored, computed here without reading them back (three
    scans and a call back into Python per reference). Sorted by ``ref``, so the inserts walk the
    index in order."""
    loads = orjson.loads
    rows = [
        (ref_key(prefix + str(v)), last + n)
        for n, e in enumerate(events, 1)
        for prefix, text in (("p:", e[4]), ("u:", e[5]), ("l:", e[6]))
        for v in loads(text)
    ]
    rows.sort()
    return rows


def ref_key(ref: str) -> int:
    """The ``event_refs.ref`` of a reference (``"p:" + party``, ``"u:" + unit``, ``"l:" + listing``):
    its first 8 bytes of BLAKE2b as a signed integer. A short key packs many entries per page; two
    references sharing one only make a reader fetch a few events that its filter then drops."""
    return int.from_bytes(hashlib.blake2b(ref.encode(), digest_size=8).digest(), "big", signed=True)


SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
  height INTEGER PRIMARY KEY, time TEXT NOT NULL, first_index INTEGER NOT NULL,
  tx_count INTEGER NOT NULL, log_size INTEGER NOT NULL, log_root BLOB NOT NULL,
  state_root BLOB NOT NULL, checkpoint TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS txs (
  idx INTEGER PRIMARY KEY, txid BLOB NOT NULL UNIQUE, height INTEGER NOT NULL, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tlog_nodes (
  level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
{_STATE_TABLE};
{_STATE_INDEX};
CREATE TABLE IF NOT EXISTS smt_tiles (id INTEGER PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS smt_deep (id BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY, height INTEGER NOT NULL, idx INTEGER NOT NULL, txid TEXT NOT NULL,
  kind TEXT NOT NULL, data TEXT NOT NULL, parties TEXT NOT NULL, units TEXT NOT NULL, listings TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_height ON events(height);
{_EVENT_REFS_TABLE};
"""


_STATE_TABLE_4 = "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
"""Format 4's state table (rows keyed by the key text), as format 4 created it."""

REGISTRY_INDEXES = (
    "CREATE INDEX IF NOT EXISTS api_listing_unit ON state(json_extract(value,'$.unit')) WHERE key LIKE 'listing/%'",
    "CREATE INDEX IF NOT EXISTS api_listing_rent ON state(json_extract(value,'$.rent')) WHERE key LIKE 'listing/%'",
    "CREATE INDEX IF NOT EXISTS api_lease_unit ON state(json_extract(value,'$.unit')) WHERE key LIKE 'lease/%'",
    "CREATE INDEX IF NOT EXISTS api_lease_tenant ON state(json_extract(value,'$.tenant')) WHERE key LIKE 'lease/%'",
    "CREATE INDEX IF NOT EXISTS api_unit_street ON state(json_extract(value,'$.street')) WHERE key LIKE 'unit/%'",
    # The web portal's lists by party, unit and lease (anju.web.reads). A party's leases and listings
    # are found through its units and the two unit indexes above, so leases and listings (written
    # most often) get no new index.
    "CREATE INDEX IF NOT EXISTS web_unit_owner ON state(json_extract(value,'$.owner')) WHERE key LIKE 'unit/%'",
    "CREATE INDEX IF NOT EXISTS web_mandate_unit ON state(json_extract(value,'$.unit')) WHERE key LIKE 'mandate/%'",
    "CREATE INDEX IF NOT EXISTS web_mandate_agency ON state(json_extract(value,'$.agency')) WHERE key LIKE 'mandate/%'",
    "CREATE INDEX IF NOT EXISTS web_payment_lease ON state(json_extract(value,'$.lease')) WHERE key LIKE 'payment/%'",
    "CREATE INDEX IF NOT EXISTS web_payment_to_confirm ON state(json_extract(value,'$.receiver')) "
    "WHERE key LIKE 'payment/%' AND json_extract(value,'$.confirmed')=0",
    "CREATE INDEX IF NOT EXISTS web_dispute_unit ON state(json_extract(value,'$.unit')) WHERE key LIKE 'dispute/%'",
    # The housing authority's queues: only the records waiting for it are in these (small) indexes.
    "CREATE INDEX IF NOT EXISTS web_unit_untitled ON state(key) "
    "WHERE key LIKE 'unit/%' AND json_extract(value,'$.title') IS NULL",
    "CREATE INDEX IF NOT EXISTS web_lease_unregistered ON state(key) "
    "WHERE key LIKE 'lease/%' AND json_extract(value,'$.registration') IS NULL "
    "AND json_extract(value,'$.status')='active'",
    "CREATE INDEX IF NOT EXISTS web_review_subject ON state(json_extract(value,'$.subject')) WHERE key LIKE 'review/%'",
    "CREATE INDEX IF NOT EXISTS web_party_agency ON state(json_extract(value,'$.agency')) WHERE key LIKE 'party/%'",
    # The banks' queue: live leases whose rent and deposit an agency collects (escrow may be needed).
    "CREATE INDEX IF NOT EXISTS web_lease_agency_collected ON state(key) "
    "WHERE key LIKE 'lease/%' AND json_extract(value,'$.collector')='agency' "
    "AND json_extract(value,'$.status')='active'",
)
"""Expression indexes on ``state`` for the registry queries of the API and the web portal mounted
on it, created by the API at server start (:func:`anju.api.snapshot.ensure_indexes`). Defined
here, beside the schema, because they live in the ledger file: ``anju verify`` accepts exactly
these besides :func:`schema_of`'s objects."""


def schema_of(store_format: bytes) -> str:
    """The DDL that creates a ledger's tables and indexes in ``store_format`` (one this build reads:
    :data:`STORE_FORMAT` or one of :data:`MIGRATABLE_FORMATS`); ValueError for another format."""
    if store_format == STORE_FORMAT:
        return SCHEMA
    without_refs = SCHEMA.replace(f"{_EVENT_REFS_TABLE};\n", "")
    if store_format == b"5":
        return without_refs
    if store_format == b"4":
        return without_refs.replace(f"{_STATE_TABLE};\n{_STATE_INDEX};\n", f"{_STATE_TABLE_4};\n")
    raise ValueError(f"store format {store_format!r} is not one this build reads")


WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024
"""The checkpointer thread copies the WAL back into the database once it is this large."""
WAL_HARD_BYTES = 1024 * 1024 * 1024
"""Past this the writer checkpoints itself after its COMMIT (the checkpointer could not keep up)."""
WAL_KEEP_BYTES = 2 * WAL_CHECKPOINT_BYTES
"""The WAL file keeps this much of its length when it restarts (``journal_size_limit``): frames
then overwrite blocks the file already has, instead of the file system allocating new ones for
every frame appended (docs/ARCHITECTURE.md, "Storage")."""
_SHM_HEAD = 100
"""Bytes of the wal-index that :meth:`_Checkpointer.wal_bytes` reads (header and checkpoint information)."""

STORE_FORMAT = b"6"
"""Version of the on-disk layout (2: state-map node keys were prefix first; 3: one row per node,
keyed tile by tile; 4: one row per tile, see :func:`anju.ledger.statemap.node_place`; 5: state
rows in order of first write, found through an index of keys; 6: ``event_refs``). Kept in ``meta``."""

MIGRATABLE_FORMATS = (b"4", b"5")
"""A ledger in one of these formats is read as it is (without ``event_refs``, a filtered event
stream reads every event) and moved to :data:`STORE_FORMAT` when opened for writing, one step
at a time, each in one transaction (4 → 5: its state rows are copied into the new table; 5 → 6:
``event_refs`` is built from the events)."""

TILE_ID_LIMIT = 1 << 63
"""State-map tiles with a smaller id (every tile starting at depth 60 or less) are rows of
``smt_tiles`` (an INTEGER PRIMARY KEY: a record of a few KB stays in its B-tree page); deeper
ones, which exist only when two keys' paths share 65 bits, are rows of ``smt_deep``, keyed by
the id's 33 big-endian bytes."""


def _rollback(c: sqlite3.Connection) -> None:
    """Roll back the write transaction that failed, if SQLite has not already: on some errors
    (SQLITE_FULL, a full disk; SQLITE_IOERR; SQLITE_NOMEM) it rolls the whole transaction back itself,
    and a second ROLLBACK would raise "no transaction is active" in place of the error that matters."""
    if c.in_transaction:
        c.execute("ROLLBACK")


def _deep_key(tile_id: int) -> bytes:
    return tile_id.to_bytes(33, "big")


def read_tiles(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, bytes]:
    """The stored records of those of the state-map tiles ``ids`` that exist, in one statement per
    table (the store's and the API's read connections share this)."""
    out: dict[int, bytes] = {}
    low = [i for i in ids if i < TILE_ID_LIMIT]
    if low:
        marks = ",".join("?" * len(low))
        for i, v in conn.execute(f"SELECT id, v FROM smt_tiles WHERE id IN ({marks})", low):
            out[int(i)] = bytes(v)
    deep = [_deep_key(i) for i in ids if i >= TILE_ID_LIMIT]
    if deep:
        marks = ",".join("?" * len(deep))
        for k, v in conn.execute(f"SELECT id, v FROM smt_deep WHERE id IN ({marks})", deep):
            out[int.from_bytes(k, "big")] = bytes(v)
    return out


@dataclass(frozen=True, slots=True)
class BlockRecord:
    height: int
    time: str
    first_index: int
    tx_count: int
    log_size: int
    log_root: bytes
    state_root: bytes
    checkpoint: str


@dataclass(slots=True)
class BlockWrite:
    """Everything one block changes; written atomically by :meth:`Store.write_block` (or with
    the blocks after it by :meth:`Store.write_blocks`)."""

    block: BlockRecord
    txs: Sequence[tuple[int, bytes, bytes]]  # (log index, txid bytes, leaf)
    tlog_nodes: Sequence[tuple[int, int, bytes]]
    state: dict[str, bytes | None]
    smt: dict[int, bytes | None]  # state-map tile id -> its record, or None to delete
    events: Sequence[tuple[int, str, str, bytes, str, str, str]]  # (idx, txid, kind, data, parties, units, listings)


# Held while a checkpoint runs, and by a thread that forks (the node forks its writer processes):
# a child never starts with SQLite's locks held by a checkpoint it does not have.
_FORK_LOCK = threading.Lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_FORK_LOCK.acquire, after_in_parent=_FORK_LOCK.release, after_in_child=_FORK_LOCK.release
    )


class _Checkpointer:
    """Copies the WAL back into the database from its own thread and connection, off the writer's path.

    A block dirties many scattered pages (the state map, the state, the txid index: ~21,000 for
    a registry block of 2,500 txs, scratch count at 30,000 units). Copying them back only once
    the WAL holds 64 MB (SQLite's default is 4 MB) copies a page that several blocks rewrote
    once. Done inside a COMMIT, the copy stalled that block (2.4 s for 200 MB on a consortium
    member); here the checkpoint (``PASSIVE``: readers and the writer go on) runs outside the
    interpreter lock. (At 200 MB, one ledger benchmark run had a commit p99 of 609 ms; at 64 MB
    two runs had 424 and 457 ms.)
    """

    def __init__(self, db: Path) -> None:
        self.db = db
        real = Path(os.path.realpath(db))  # SQLite keeps its -wal and -shm beside the real file
        self.wal = real.with_name(real.name + "-wal")
        self.shm = real.with_name(real.name + "-shm")
        self._wake = threading.Event()
        self._stop = False
        self.runs = 0
        # The wal-index is read through one descriptor kept open until stop(): closing a descriptor
        # of the -shm file drops every POSIX lock this process holds on it (fcntl(2)), SQLite's
        # among them, its WAL write lock too: another process could then write beside the store's
        # open transaction (https://sqlite.org/howtocorrupt.html, 2.2).
        self._shm_fd: int | None = None
        self._shm_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="anju-wal-checkpoint", daemon=True)
        self._thread.start()

    def wal_bytes(self) -> int:
        """Bytes of WAL frames not yet copied back: ``mxFrame - nBackfill`` of the wal-index header
        (https://sqlite.org/walformat.html: the shared-memory file's first header copy, then the
        checkpoint information), times the frame size. The WAL file's size says nothing here: it
        keeps its blocks (``journal_size_limit``) and is overwritten from the start."""
        head = self._read_shm()
        if len(head) < _SHM_HEAD:  # no wal-index (yet): the WAL file's size, an upper bound
            try:
                return self.wal.stat().st_size
            except OSError:
                return 0
        page, frames = struct.unpack_from("=HI", head, 14)
        (backfilled,) = struct.unpack_from("=I", head, 96)
        size = 65536 if page == 1 else int(page)  # (the wal-index writes a 65536-byte page size as 1)
        return max(0, int(frames) - int(backfilled)) * (size + 24)

    def _read_shm(self) -> bytes:
        """The wal-index's first bytes, b"" when there is none; see ``_shm_fd``. A descriptor is
        closed only when the -shm file it reads is no longer the one at its name (another inode:
        no lock of SQLite's is on it), or by :meth:`stop`."""
        with self._shm_lock:
            try:
                st = os.stat(self.shm)
            except OSError:
                return b""
            fd = self._shm_fd
            if fd is not None:
                held = os.fstat(fd)
                if (held.st_dev, held.st_ino) != (st.st_dev, st.st_ino):
                    os.close(fd)
                    fd = self._shm_fd = None
            if fd is None:
                try:
                    fd = self._shm_fd = os.open(self.shm, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    return b""
            try:
                return os.pread(fd, _SHM_HEAD, 0)
            except OSError:
                return b""

    def poke(self) -> None:
        """A transaction was committed: look at the WAL's size."""
        self._wake.set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None  # opened when first needed
        try:
            while not self._stop:
                self._wake.wait(1.0)
                self._wake.clear()
                if self._stop or self.wal_bytes() <= WAL_CHECKPOINT_BYTES:
                    continue
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.db, isolation_level=None, check_same_thread=False)
                        conn.execute("PRAGMA busy_timeout=10000")
                    with _FORK_LOCK:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.runs += 1
                except sqlite3.Error as exc:  # never fatal: the writer's hard limit is the fallback
                    log.warning("WAL checkpoint of %s failed: %s", self.db, exc)
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        """Stop the thread, then let go of the wal-index (call once this process's connections to
        the database are closed: closing it drops their locks)."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=60)
        with self._shm_lock:
            if self._shm_fd is not None:
                os.close(self._shm_fd)
                self._shm_fd = None


class Store:
    """The SQLite block store of one node. Thread-safe: one writer, many readers."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._readonly = readonly
        self._write_lock = threading.Lock()
        self._checkpointer: _Checkpointer | None = None  # started by the first block written
        self.event_index = True  # event_refs exists (format 6); set by _check_format
        conn = self._conn()
        if not readonly:
            self._migrate(conn)
            conn.executescript(SCHEMA)
        self._check_format(conn, readonly)

    @staticmethod
    def _format(conn: sqlite3.Connection) -> bytes | None:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='store_format'").fetchone()
        except sqlite3.OperationalError:  # a new file: no tables yet
            return None
        return None if row is None else bytes(row[0])

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Move a ledger in a :data:`MIGRATABLE_FORMATS` format to :data:`STORE_FORMAT`, a step
        per transaction (a crash between two steps leaves a ledger in the middle format: the next
        open goes on from there)."""
        while (found := self._format(conn)) in MIGRATABLE_FORMATS:
            with self._write_lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if self._format(conn) == found:  # not moved meanwhile by another writer
                        (self._to_format_5 if found == b"4" else self._to_format_6)(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise

    def _to_format_5(self, conn: sqlite3.Connection) -> None:
        """Format 4 kept state rows in a ``WITHOUT ROWID`` table keyed by the key text. Its rows (up
        to a few KB: leases, credit records) filled its pages with few rows or spilled into
        overflow pages, and every write landed on a random page of it; format 5 keeps the row in
        a rowid table (a first write goes to its end) and only the key in the index."""
        log.warning("moving %s from store format 4 to 5 (state table layout)", self.path)
        conn.execute("ALTER TABLE state RENAME TO state_format4")
        conn.execute(_STATE_TABLE)
        conn.execute("INSERT INTO state(key, value) SELECT key, value FROM state_format4 ORDER BY key")
        conn.execute(_STATE_INDEX)
        conn.execute("DROP TABLE state_format4")  # and the API's indexes on it (rebuilt on open)
        conn.execute("UPDATE meta SET value=? WHERE key='store_format'", (b"5",))

    def _to_format_6(self, conn: sqlite3.Connection) -> None:
        """Format 6 adds ``event_refs``, built here from every stored event."""
        log.warning("moving %s from store format 5 to 6 (indexing events by party, unit and listing)", self.path)
        conn.execute("DROP TABLE IF EXISTS event_refs")  # whatever an interrupted or foreign tool left
        conn.execute(_EVENT_REFS_TABLE)
        conn.execute(_EVENT_REFS_FILL, (0,))
        conn.execute("UPDATE meta SET value=? WHERE key='store_format'", (b"6",))

    def _check_format(self, conn: sqlite3.Connection, readonly: bool) -> None:
        """Stamp a new ledger with :data:`STORE_FORMAT`; refuse a ledger written in another format
        (a reader also takes :data:`MIGRATABLE_FORMATS`, whose rows it reads the same way)."""
        found = self._format(conn)
        self.event_index = found == STORE_FORMAT or found is None
        if found == STORE_FORMAT or (readonly and found in MIGRATABLE_FORMATS):
            return
        if found is None and conn.execute("SELECT 1 FROM blocks LIMIT 1").fetchone() is None:
            if not readonly:
                conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('store_format', ?)", (STORE_FORMAT,))
            return
        text = (found or b"1").decode(errors="replace")
        newer = re.fullmatch("[0-9]{1,9}", text) is not None and int(text) > int(STORE_FORMAT)
        advice = (
            "it was written by a newer build of Anju: run that build or a later one"
            if newer
            else "rebuild the ledger from its transactions (a demo district: `anju demo` moves it aside "
            "and builds it again)"
        )
        raise StorageCorrupt(
            "STORE_FORMAT",
            f"{self.path} is in store format {text}; this version reads format {STORE_FORMAT.decode()}: {advice}",
            found=text,
            expected=STORE_FORMAT.decode(),
        )

    def _connect(self) -> sqlite3.Connection:
        if self._readonly:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.create_function("anju_ref", 1, ref_key, deterministic=True)
            conn.execute("PRAGMA journal_mode=WAL")
            # Checkpoints are the checkpointer thread's (see _Checkpointer), not the writer's. A
            # restarted WAL keeps WAL_KEEP_BYTES of its file and is written over from the start.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MiB of page cache per connection, at most
        conn.execute("PRAGMA mmap_size=4294967296")  # reads of a large ledger go through the OS page cache
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._checkpointer is not None:  # after the connection: see _Checkpointer._shm_fd
            self._checkpointer.stop()
            self._checkpointer = None

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> bytes | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def create_indexes(self, statements: Sequence[str] = REGISTRY_INDEXES) -> None:
        """Create (if absent) the given indexes on this store, from its writer: a consortium member's
        ABCI application does it at start, before CometBFT connects, so that the member API's own
        ``ensure_indexes`` finds them made instead of building them beside a writing process."""
        with self._write_lock:
            c = self._conn()
            for sql in statements:
                c.execute(sql)

    def set_meta(self, items: dict[str, bytes]) -> None:
        with self._write_lock:
            c = self._conn()
            c.execute("BEGIN IMMEDIATE")
            try:
                c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(items.items()))
                c.execute("COMMIT")
            except BaseException:
                _rollback(c)
                raise

    # -- writing a block ------------------------------------------------------------------------
    def write_block(self, w: BlockWrite) -> None:
        """Persist one block and everything derived from it, atomically and durably."""
        self.write_blocks([w])

    def write_blocks(
        self, ws: Sequence[BlockWrite], notes: Sequence[tuple[int, str]] = (), meta: dict[str, bytes] | None = None
    ) -> None:
        """Persist consecutive blocks in one storage transaction: all of them durably, or none.

        Group commit: a node that falls behind stores the blocks waiting for it together. Each
        keeps its own record and checkpoint; state and state-map writes are merged (a later block's
        value of a key wins), so a node or key rewritten by several blocks costs one row write,
        and the group pays one ``COMMIT`` (one fsync, one pass over the pages it dirtied).
        ``notes`` (height, note) then replace checkpoints, as :meth:`set_checkpoint` does, in the
        same transaction (a consortium member's cosigned notes). ``meta`` items are written in it
        too (block 0 and the ledger's identity: a new ledger is complete or absent)."""
        if not ws and not notes and not meta:
            return
        state: dict[str, bytes | None] = ws[0].state if ws else {}
        smt: dict[int, bytes | None] = ws[0].smt if ws else {}  # one block: nothing to merge
        if len(ws) > 1:
            state, smt = {}, {}
            for w in ws:
                state.update(w.state)
                smt.update(w.smt)
        puts = [(k, v.decode()) for k, v in state.items() if v is not None]
        dels = [(k,) for k, v in state.items() if v is None]
        with self._write_lock:
            c = self._conn()
            c.execute("BEGIN IMMEDIATE")
            try:
                last = -1  # the last event id, read once per group (each block's events follow on)
                for w in ws:
                    b = w.block
                    c.execute(
                        "INSERT INTO blocks VALUES (?,?,?,?,?,?,?,?)",
                        (b.height, b.time, b.first_index, b.tx_count, b.log_size, b.log_root, b.state_root,
                         b.checkpoint),
                    )  # fmt: skip
                    c.executemany(
                        "INSERT INTO txs(idx, txid, height, leaf) VALUES (?,?,?,?)",
                        [(i, t, b.height, leaf) for i, t, leaf in w.txs],
                    )
                    c.executemany("INSERT OR REPLACE INTO tlog_nodes VALUES (?,?,?)", w.tlog_nodes)
                    if w.events:
                        if last < 0:
                            last = c.execute("SELECT IFNULL(MAX(id), 0) FROM events").fetchone()[0]
                        c.executemany(
                            "INSERT INTO events(id, height, idx, txid, kind, data, parties, units, listings) "
                            "VALUES (?,?,?,?,?,?,?,?,?)",
                            [(last + n, b.height, *e) for n, e in enumerate(w.events, 1)],
                        )
                        refs = event_refs(last, w.events)
                        c.executemany("INSERT OR IGNORE INTO event_refs(ref, id) VALUES (?,?)", refs)
                        last += len(w.events)
                if puts:
                    c.executemany(  # a row keeps its place (rid) when rewritten
                        "INSERT INTO state(key, value) VALUES (?,?) "
                        "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                        puts,
                    )
                if dels:
                    c.executemany("DELETE FROM state WHERE key=?", dels)
                self._write_tiles(c, smt)
                for height, note in notes:
                    self._set_checkpoint(c, height, note)
                if meta:
                    c.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(meta.items()))
                c.execute("COMMIT")
            except BaseException:
                _rollback(c)
                raise
            self._after_commit(c)

    @staticmethod
    def _write_tiles(c: sqlite3.Connection, smt: dict[int, bytes | None]) -> None:
        limit = TILE_ID_LIMIT
        c.executemany("DELETE FROM smt_tiles WHERE id=?", [(i,) for i, v in smt.items() if v is None and i < limit])
        c.executemany(
            "INSERT OR REPLACE INTO smt_tiles(id, v) VALUES (?,?)",
            [(i, v) for i, v in smt.items() if v is not None and i < limit],
        )
        deep = [(_deep_key(i), v) for i, v in smt.items() if i >= limit]
        if deep:
            c.executemany("DELETE FROM smt_deep WHERE id=?", [(k,) for k, v in deep if v is None])
            c.executemany("INSERT OR REPLACE INTO smt_deep(id, v) VALUES (?,?)", [d for d in deep if d[1] is not None])

    def _after_commit(self, c: sqlite3.Connection) -> None:
        ck = self._checkpointer
        if ck is None:
            ck = self._checkpointer = _Checkpointer(self.path)
        ck.poke()
        if ck.wal_bytes() > WAL_HARD_BYTES:  # the checkpointer is behind: the writer waits for it
            c.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def set_checkpoint(self, height: int, note: str) -> None:
        """Replace a block's checkpoint note (a consortium adds members' cosignatures to it)."""
        with self._write_lock:
            c = self._conn()
            c.execute("BEGIN IMMEDIATE")
            try:
                self._set_checkpoint(c, height, note)
                c.execute("COMMIT")
            except BaseException:
                _rollback(c)
                raise

    @staticmethod
    def _set_checkpoint(c: sqlite3.Connection, height: int, note: str) -> None:
        c.execute("UPDATE blocks SET checkpoint=? WHERE height=?", (note, height))

    # -- reading ------------------------------------------------------------------------------
    def height(self) -> int:
        row = self._conn().execute("SELECT MAX(height) FROM blocks").fetchone()
        return -1 if row[0] is None else int(row[0])

    def block(self, height: int) -> BlockRecord | None:
        row = self._conn().execute("SELECT * FROM blocks WHERE height=?", (height,)).fetchone()
        return (
            None
            if row is None
            else BlockRecord(row[0], row[1], row[2], row[3], row[4], bytes(row[5]), bytes(row[6]), row[7])
        )

    def blocks(self, start: int = 0) -> Iterator[BlockRecord]:
        cur = self._conn().execute("SELECT * FROM blocks WHERE height>=? ORDER BY height", (start,))
        for row in cur:
            yield BlockRecord(row[0], row[1], row[2], row[3], row[4], bytes(row[5]), bytes(row[6]), row[7])

    def block_txs(self, height: int) -> list[tuple[int, bytes, bytes]]:
        cur = self._conn().execute("SELECT idx, txid, leaf FROM txs WHERE height=? ORDER BY idx", (height,))
        return [(int(i), bytes(t), bytes(leaf)) for i, t, leaf in cur]

    def tx_by_id(self, txid: bytes) -> tuple[int, int, bytes] | None:
        row = self._conn().execute("SELECT idx, height, leaf FROM txs WHERE txid=?", (txid,)).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), bytes(row[2]))

    def leaves(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes, int, bytes]]:
        q = (
            "SELECT idx, txid, height, leaf FROM txs WHERE idx>=?"
            + ("" if end is None else " AND idx<?")
            + " ORDER BY idx"
        )
        args: tuple[int, ...] = (start,) if end is None else (start, end)
        for i, t, h, leaf in self._conn().execute(q, args):
            yield int(i), bytes(t), int(h), bytes(leaf)

    def tlog_node(self, level: int, idx: int) -> bytes:
        """Hash of the complete log subtree (level, idx); level 0 is the leaf hash of leaf idx."""
        if level == 0:
            leaf = self._conn().execute("SELECT leaf FROM txs WHERE idx=?", (idx,)).fetchone()
            if leaf is None:
                raise StorageCorrupt("STORE_CORRUPT", f"missing log leaf {idx}", index=idx)
            return merkle.leaf_hash(bytes(leaf[0]))
        row = self._conn().execute("SELECT hash FROM tlog_nodes WHERE level=? AND idx=?", (level, idx)).fetchone()
        if row is None:
            raise StorageCorrupt("STORE_CORRUPT", f"missing log node level={level} index={idx}", level=level, index=idx)
        return bytes(row[0])

    def state_get(self, key: str) -> bytes | None:
        row = self._conn().execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0]).encode()

    def smt_get(self, tile_id: int) -> bytes | None:
        """The stored record of state-map tile ``tile_id``, or None."""
        return read_tiles(self._conn(), (tile_id,)).get(tile_id)

    def state_rows(self, limit: int) -> Iterator[tuple[str, bytes]]:
        """Up to ``limit`` state entries (for warming a node's cache at start)."""
        for k, v in self._conn().execute("SELECT key, value FROM state LIMIT ?", (limit,)):
            yield str(k), str(v).encode()

    def smt_rows(self, limit: int) -> Iterator[tuple[int, bytes]]:
        """Up to ``limit`` state-map tiles, shallowest first (for warming a node's cache at start);
        fewer than ``limit`` means all of them."""
        n = 0
        for i, v in self._conn().execute("SELECT id, v FROM smt_tiles ORDER BY id LIMIT ?", (limit,)):
            n += 1
            yield int(i), bytes(v)
        if n < limit:
            for k, v in self._conn().execute("SELECT id, v FROM smt_deep ORDER BY id LIMIT ?", (limit - n,)):
                yield int.from_bytes(k, "big"), bytes(v)

    def smt_view(self) -> NodeReader:
        """This store's state-map tiles as a ``NodeStore`` (for opening a ``StateMap``)."""
        return NodeReader(self.smt_get)

    def last_event_id(self) -> int:
        row = self._conn().execute("SELECT MAX(id) FROM events").fetchone()
        return 0 if row[0] is None else int(row[0])

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read-only query helper for derived views (listing search and the like)."""
        return list(self._conn().execute(sql, args))


# -- events (module-level: the API's snapshot reader runs them on its own connections) ------------
_EVENT_COLUMNS = (
    "SELECT e.id, e.height, e.idx, e.txid, e.kind, e.data, e.parties, e.units, e.listings, b.time "
    "FROM events e JOIN blocks b ON b.height = e.height "
)


def events_after(conn: sqlite3.Connection, after_id: int, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` events after id ``after_id``, as the API serves them."""
    cur = conn.execute(_EVENT_COLUMNS + "WHERE e.id>? ORDER BY e.id LIMIT ?", (after_id, limit))
    return [_event_row(r) for r in cur]


@dataclass(frozen=True, slots=True)
class NamedIds:
    """A page of :func:`event_ids`: the ids, the index rows read for them, and whether every ref's
    range was read to its end (no event naming one of the refs follows the last id)."""

    ids: list[int]
    read: int
    done: bool


def event_ids(conn: sqlite3.Connection, refs: Sequence[str], after_id: int, limit: int) -> NamedIds:
    """The first ids after ``after_id`` of events naming any of ``refs`` (``event_refs`` values,
    e.g. ``"p:" + party``), ascending: one index range per ref, merged (format 6). About ``limit``
    index rows are read in all, whatever the number of refs: each range gets its share (at least
    one row), and what the ranges that ended early left is shared again among those that go on.
    The ids returned are those up to the first id where a range's share ran out, so the page is
    exact; it may be shorter than ``limit`` with ``done`` false."""
    found: set[int] = set()
    going = {ref_key(ref): after_id for ref in dict.fromkeys(refs)}  # range -> its last id read
    read, budget = 0, limit
    while going and budget > 0:
        share = max(1, budget // len(going))
        for key, last in list(going.items()):
            cur = conn.execute("SELECT id FROM event_refs WHERE ref=? AND id>? ORDER BY id LIMIT ?", (key, last, share))
            got = [r[0] for r in cur]
            read += len(got)
            found.update(got)
            if len(got) < share:
                del going[key]  # read to its end
            else:
                going[key] = got[-1]
        budget = limit - read
    bound = min(going.values()) if going else None  # ids past it may miss a range's next events
    ids = sorted(found) if bound is None else sorted(i for i in found if i <= bound)
    if len(ids) > limit:
        return NamedIds(ids[:limit], read, False)
    return NamedIds(ids, read, bound is None)


def events_by_id(conn: sqlite3.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The events with these ids (at most a few thousand), in id order."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    cur = conn.execute(_EVENT_COLUMNS + f"WHERE e.id IN ({marks}) ORDER BY e.id", list(ids))
    return [_event_row(r) for r in cur]


def _event_row(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": r[0],
        "height": r[1],
        "index": r[2],
        "txid": r[3],
        "kind": r[4],
        "data": orjson.loads(r[5]),
        "parties": orjson.loads(r[6]),
        "units": orjson.loads(r[7]),
        "listings": orjson.loads(r[8]),
        "time": r[9],
    }
