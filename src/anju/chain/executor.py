"""The executor: runs an application :class:`Machine` over the ledger, one block at a time.

Both chain drivers use it: the embedded sequencer (``chain/node.py``) and the CometBFT ABCI
adapter. A block goes through ``begin`` → ``deliver``* → ``seal`` → ``commit``:

- ``deliver`` checks chain id and ``seq`` against everything before it (committed state plus the
  block so far), runs the machine on a per-transaction overlay and keeps the writes only if it
  succeeds; a rejected transaction leaves no trace.
- ``seal`` applies the block's writes to the authenticated state map, appends the leaves to the
  RFC 9162 log and returns the unsigned checkpoint and everything to store.
- ``commit`` writes it all in one SQLite transaction, with the signed checkpoint note.

The executor never reads the clock: the block time is given to ``begin``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson

from anju.crypto import jcs
from anju.crypto.tx import Tx
from anju.errors import StorageCorrupt, TxRejected
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.statemap import NodeChanges, StateMap
from anju.ledger.store import BlockRecord, BlockWrite, Store
from anju.registry.port import BlockContext, Event, Machine

log = logging.getLogger("anju.executor")

# What a defect in an application's rules raises (a pure machine raises them deterministically);
# storage errors (sqlite3, StorageCorrupt) are not among them: those stop the node instead.
_DEFECTS = (ValueError, TypeError, KeyError, IndexError, ArithmeticError, AttributeError, AssertionError)

SEQ_PREFIX = "seq/"
CACHE_LIMIT = 2_000_000
SMT_CACHE_TILES = 1 << 19
_MISSING: Any = object()


@dataclass(slots=True)
class TxOutcome:
    tx: Tx
    events: list[Event]


@dataclass(slots=True)
class Sealed:
    """A block executed and hashed but not yet stored."""

    checkpoint: Checkpoint
    write: BlockWrite
    outcomes: list[TxOutcome]
    state_writes: dict[str, bytes | None]
    number: int  # blocks this executor sealed before it: stored ones must come in this order


class _TxState:
    """The ``State`` a machine sees for one transaction: its own writes over the block's."""

    __slots__ = ("_base", "_block", "writes")

    def __init__(self, block: dict[str, bytes | None], base: Callable[[str], bytes | None]) -> None:
        self._block = block
        self._base = base
        self.writes: dict[str, bytes | None] = {}

    def get(self, key: str) -> bytes | None:
        w = self.writes
        if key in w:
            return w[key]
        b = self._block
        if key in b:
            return b[key]
        return self._base(key)

    def put(self, key: str, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError("state values are bytes")
        self.writes[key] = value

    def delete(self, key: str) -> None:
        self.writes[key] = None


class PendingNodes:
    """State-map tiles: those of sealed blocks not yet stored, over the store's."""

    __slots__ = ("_base", "layers")

    def __init__(self, base: Callable[[int], bytes | None]) -> None:
        self._base = base
        self.layers: list[NodeChanges] = []

    def get(self, tile_id: int) -> bytes | None:
        for layer in reversed(tuple(self.layers)):
            if tile_id in layer:
                return layer[tile_id]
        return self._base(tile_id)


def warm_writer_map(smt: StateMap, store: Store, limit: int) -> None:
    """Warm the cache of the state map's one writer with up to ``limit`` stored tiles; fewer than
    ``limit`` are all of them, so the cache is then complete (an uncached tile is absent)."""
    tiles = dict(store.smt_rows(limit))
    smt.warm(tiles, complete=len(tiles) < limit)


def seq_key(signer: str) -> str:
    return SEQ_PREFIX + signer


def events_rows(idx: int, txid: str, events: Sequence[Event]) -> list[tuple[int, str, str, bytes, str, str, str]]:
    dumps = orjson.dumps
    return [
        (
            idx,
            txid,
            e.kind,
            jcs.canonicalize(dict(e.data)),  # (kept until its block is stored: of its own size)
            dumps(list(e.parties)).decode(),
            dumps(list(e.units)).decode(),
            dumps(list(e.listings)).decode(),
        )
        for e in events
    ]


class Executor:
    """Executes blocks of verified transactions for one ledger (one data directory)."""

    def __init__(self, store: Store, machine: Machine, chain_id: str) -> None:
        self.store = store
        self.machine = machine
        self.chain_id = chain_id
        self._cache: dict[str, bytes | None] = {}
        self._complete = False  # the cache holds every stored key: a miss means absent (see warm)
        self._epoch = 0  # stored() calls begun: see get()
        last = store.block(store.height())
        if last is None:
            raise StorageCorrupt("STORE_CORRUPT", "the store has no genesis block; run `anju init`")
        self.last: BlockRecord = last
        self._nodes = PendingNodes(store.smt_get)
        # The state map's hot tiles stay in memory: 2^19 tiles (a few hundred MB at most) hold the
        # whole tree of a registry with ~10^6 keys (~300,000 tiles), so a block's updates rarely
        # touch SQLite.
        self.smt = StateMap(self._nodes, last.state_root, cache_size=SMT_CACHE_TILES)
        self.frontier = merkle.Frontier.load(last.log_size, store.tlog_node)
        if self.frontier.root() != last.log_root or self.smt.root != last.state_root:
            raise StorageCorrupt("STORE_CORRUPT", f"roots on disk do not match block {last.height}", height=last.height)
        self.sealed_tip: BlockRecord = last  # the newest block sealed (maybe not yet stored)
        self.state_elsewhere = False  # see hand_off_state
        # Writes of sealed, not yet stored blocks, merged, newest wins: key -> (number of the sealed
        # block that wrote it, value). One look-up however many blocks wait for the writer.
        self._overlay: dict[str, tuple[int, bytes | None]] = {}
        self._sealed_n = 0  # blocks sealed so far (numbers the overlay's entries)
        self._stored_n = 0  # blocks stored so far
        self._overlay_lock = threading.Lock()  # seal (sequencer) and stored (writer) both change it
        self._open: BlockContext | None = None
        self._writes: dict[str, bytes | None] = {}
        self._outcomes: list[TxOutcome] = []
        # With ``undoable``, seal() keeps what unseal() needs to take the newest block back.
        self.undoable = False
        self._unseal: tuple[int, BlockRecord, merkle.Frontier, dict[str, tuple[int, bytes | None] | None]] | None = None

    def warm(self, *, state_map: bool = True) -> None:
        """Read the state and the state map's nodes into memory, up to the caches' sizes.

        A node that starts cold would otherwise pay one SQLite point read per state key and per
        tree node it touches; reading them in two scans costs seconds even for 10^6 keys."""
        rows = dict(self.store.state_rows(CACHE_LIMIT // 2))
        self._cache.update(rows)
        # All of the state fitted: from now on a key the cache lacks is absent, and checks that a
        # new id is free (most of a registry's reads of absent keys) cost no SQLite read. The
        # cache then follows every stored block; emptying it (when full) ends this.
        self._complete = len(rows) < CACHE_LIMIT // 2
        if state_map:
            warm_writer_map(self.smt, self.store, SMT_CACHE_TILES // 2)

    def hand_off_state(self) -> StateMap:
        """Give the authenticated state map to another process (the node's block writer).

        From then on :meth:`seal` does not hash the state: the sealed block's checkpoint and record
        lack the state root, which the new owner computes (and signs) when it stores the block;
        :meth:`attach_note` takes the root it found. Call before any block is sealed."""
        if self._sealed_n != self._stored_n or self._open is not None:
            raise RuntimeError("hand the state map off before sealing blocks")
        self.state_elsewhere = True
        return self.smt

    # -- committed state ------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return self.last.height

    def get(self, key: str) -> bytes | None:
        """Value of ``key`` after the last sealed block (read-through cache over the store)."""
        # The writer thread may commit concurrently: it stores, then updates the cache, then
        # drops the block's entries from the overlay; reading in the opposite order is always safe.
        pending = self._overlay.get(key)
        if pending is not None:
            return pending[1]
        cache = self._cache
        hit = cache.get(key, _MISSING)
        if hit is not _MISSING:
            return cast("bytes | None", hit)
        if self._complete:
            return None
        # A miss: read SQLite. Another thread may store a block meanwhile (stored() runs after the
        # block is durable, so a store read after it began sees the block): keep the value only if
        # no stored() began since (``_epoch``), and never over a value stored() put in the cache.
        epoch = self._epoch
        v = self.store.state_get(key)
        if self._epoch == epoch and len(cache) < CACHE_LIMIT:
            cache.setdefault(key, v)
        return v

    def committed_seq(self, signer: str) -> int:
        v = self.get(seq_key(signer))
        return 0 if v is None else int(v)

    # -- a block ------------------------------------------------------------------------------
    @property
    def open_block(self) -> BlockContext | None:
        return self._open

    def begin(self, time: str) -> BlockContext:
        if self._open is not None:
            raise RuntimeError("a block is already open")
        tip = self.sealed_tip
        if time < tip.time:
            time = tip.time  # block time never goes backwards
        self._open = BlockContext(self.chain_id, tip.height + 1, time)
        self._writes = {}
        self._outcomes = []
        return self._open

    def _pending_get(self, key: str) -> bytes | None:
        w = self._writes
        if key in w:
            return w[key]
        return self.get(key)

    def check_seq(self, tx: Tx, expected_last: int) -> None:
        if tx.chain != self.chain_id:
            raise TxRejected(
                "WRONG_CHAIN", f"body.chain is {tx.chain!r}; this ledger is {self.chain_id!r}", expected=self.chain_id
            )
        seq = tx.seq
        if seq <= expected_last:
            raise TxRejected(
                "SEQ_REUSED", f"seq {seq} was already used (last is {expected_last})", last_seq=expected_last, seq=seq
            )
        if seq > expected_last + 1:
            raise TxRejected(
                "SEQ_SKIPPED",
                f"seq {seq} skips ahead; the next is {expected_last + 1}",
                last_seq=expected_last,
                seq=seq,
            )

    def deliver(self, tx: Tx) -> list[Event]:
        """Execute ``tx`` in the open block, or raise ``TxRejected`` leaving nothing behind."""
        ctx = self._open
        if ctx is None:
            raise RuntimeError("no open block")
        skey = SEQ_PREFIX + tx.body["signer"]
        last_raw = self._pending_get(skey)
        self.check_seq(tx, 0 if last_raw is None else int(last_raw))
        st = _TxState(self._writes, self.get)
        try:
            events = self.machine.apply(tx, ctx, st)
        except _DEFECTS as exc:
            # A defect in the application's rules, not in this node: the machine is pure, so every
            # node (and every replay) fails this transaction the same way. Refusing it keeps the
            # ledger going; raising would stop the sequencer (or halt a consortium) on one bad tx.
            log.error("the application failed on tx %s (%s); refused", tx.txid, tx.kind, exc_info=exc)
            raise TxRejected(
                "APPLICATION_ERROR", f"the application failed on this transaction: {type(exc).__name__}", kind=tx.kind
            ) from None
        st.writes[skey] = str(tx.seq).encode()
        self._writes.update(st.writes)
        self._outcomes.append(TxOutcome(tx, events))
        return events

    def simulate(self, time: str, txs: Sequence[Tx]) -> list[TxRejected | None]:
        """Run ``txs`` as a block without keeping anything (for proposals); one result per tx."""
        saved = (self._open, self._writes, self._outcomes)
        self._open = None
        try:
            self.begin(time)
            results: list[TxRejected | None] = []
            for tx in txs:
                try:
                    self.deliver(tx)
                    results.append(None)
                except TxRejected as exc:
                    results.append(exc)
            return results
        finally:
            self._open, self._writes, self._outcomes = saved

    def abort(self) -> None:
        self._open = None
        self._writes = {}
        self._outcomes = []

    def tx_count(self) -> int:
        return len(self._outcomes)

    def seal(self) -> Sealed:
        """Hash the open block: new state root, new log root, the checkpoint to sign."""
        ctx = self._open
        if ctx is None:
            raise RuntimeError("no open block")
        writes = self._writes
        smt_changes: NodeChanges
        undoable = self.undoable and not self.state_elsewhere
        tip, frontier = self.sealed_tip, self.frontier
        if undoable:
            self.frontier = merkle.Frontier(frontier.size, frontier.hashes)
        if self.state_elsewhere:
            # The block writer hashes the state (hand_off_state): this checkpoint's state root is a
            # placeholder (zero bytes) and must not be signed; the record's stays empty till stored.
            state_root, smt_changes = bytes(32), {}
        else:
            state_root, smt_changes = self.smt.apply(writes, undoable=undoable)
        first = self.frontier.size
        tx_rows: list[tuple[int, bytes, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        event_rows: list[tuple[int, str, str, bytes, str, str, str]] = []
        leaf_hash = merkle.leaf_hash
        for i, out in enumerate(self._outcomes):
            idx = first + i
            tx = out.tx
            tx_rows.append((idx, bytes.fromhex(tx.txid), tx.leaf))
            # Level 0 (leaf hashes) is not stored: the store derives it from the leaf itself.
            nodes.extend(n for n in self.frontier.append(leaf_hash(tx.leaf)) if n[0])
            if out.events:
                event_rows.extend(events_rows(idx, tx.txid, out.events))
        cp = Checkpoint(
            origin=self.chain_id,
            size=self.frontier.size,
            root=self.frontier.root(),
            height=ctx.height,
            state_root=state_root,
            time=ctx.time,
        )
        record = BlockRecord(
            ctx.height, ctx.time, first, len(tx_rows), cp.size, cp.root, b"" if self.state_elsewhere else state_root, ""
        )
        write = BlockWrite(
            block=record,
            txs=tx_rows,
            tlog_nodes=nodes,
            state=writes,
            smt=smt_changes,
            events=event_rows,
        )
        with self._overlay_lock:
            n = self._sealed_n
            sealed = Sealed(cp, write, self._outcomes, writes, n)
            overlay = self._overlay
            if undoable:
                self._unseal = (n, tip, frontier, {k: overlay.get(k) for k in writes})
            for k, v in writes.items():
                overlay[k] = (n, v)
            self._sealed_n = n + 1
        if not self.state_elsewhere:
            self._nodes.layers.append(smt_changes)
        self.sealed_tip = record
        self._open = None
        self._writes = {}
        self._outcomes = []
        return sealed

    def unseal(self, sealed: Sealed) -> None:
        """Take back ``sealed``, the newest block sealed (with ``undoable`` set) and not stored: the
        state, the state map, the log and the tip are as before :meth:`seal`.

        A consortium member executes a proposal before it is decided; when another block is decided
        instead (a new round), this drops the first in memory instead of reading the ledger again."""
        u = self._unseal
        if u is None or u[0] != sealed.number or self._sealed_n != sealed.number + 1 or self._open is not None:
            raise RuntimeError("only the newest sealed block can be unsealed, before it is stored")
        n, tip, frontier, before = u
        with self._overlay_lock:
            if self._stored_n > n:
                raise RuntimeError("the block is stored: it cannot be unsealed")
            overlay = self._overlay
            for k, prev in before.items():
                if prev is None:
                    overlay.pop(k, None)
                else:
                    overlay[k] = prev
            self._sealed_n = n
        self._nodes.layers.pop()
        self.smt.undo()
        self.frontier = frontier
        self.sealed_tip = tip
        self._unseal = None

    def commit(self, sealed: Sealed, checkpoint_note: str) -> BlockRecord:
        """Store the sealed block with its signed checkpoint; then it is the committed state."""
        self.attach_note(sealed, checkpoint_note)
        self.store.write_block(sealed.write)
        return self.stored(sealed)

    def attach_note(self, sealed: Sealed, checkpoint_note: str, state_root: bytes | None = None) -> None:
        """Put the signed checkpoint note (and a state root computed elsewhere) into the block record."""
        b = sealed.write.block
        root = b.state_root if state_root is None else state_root
        sealed.write.block = BlockRecord(
            b.height, b.time, b.first_index, b.tx_count, b.log_size, b.log_root, root, checkpoint_note
        )

    def stored(self, sealed: Sealed) -> BlockRecord:
        """Record that ``sealed`` is durably stored (by :meth:`commit` or by a writer process)."""
        n = self._stored_n
        if sealed.number != n:
            raise RuntimeError("blocks must be committed in the order they were sealed")
        record = sealed.write.block
        cache = self._cache
        self._epoch += 1  # first: a read of SQLite that began before this does not fill the cache
        if len(cache) + len(sealed.state_writes) > CACHE_LIMIT:
            # In this order: a get() that misses the emptied cache must not take the miss for
            # "absent" (it reads SQLite instead).
            self._complete = False
            cache.clear()
        cache.update(sealed.state_writes)
        with self._overlay_lock:
            overlay = self._overlay
            for k in sealed.state_writes:
                pending = overlay.get(k)
                if pending is not None and pending[0] == n:  # no later unstored block wrote it
                    del overlay[k]
            self._stored_n = n + 1
            if self._unseal is not None and self._unseal[0] == n:
                self._unseal = None
        if not self.state_elsewhere:
            self._nodes.layers.pop(0)
        self.last = record
        return record


def genesis_writes(
    machine: Machine, chain_id: str, time: str, params: Mapping[str, Any]
) -> tuple[dict[str, bytes | None], list[Event]]:
    """The state a new ledger starts with (height 0)."""
    writes: dict[str, bytes | None] = {}
    st = _TxState(writes, lambda _k: None)
    events = machine.genesis(params, st)
    writes.update(st.writes)
    return writes, events


def canonical_genesis(doc: Mapping[str, Any]) -> bytes:
    jcs.check_domain(dict(doc))
    return jcs.canonicalize(dict(doc))
