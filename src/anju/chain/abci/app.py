"""The Anju ABCI 2.0 application: CometBFT orders blocks, the executor runs them.

CheckTx admits a tx to the mempool (signatures, chain id, ``seq``, the rules for a signer's next
tx via ``Executor.simulate``). A block is valid (ProcessProposal) when every tx is a validly signed
envelope of this chain whose ``seq`` is its signer's next after the committed state and the
block's earlier txs; PrepareProposal proposes only such txs, and recheck evicts from the mempool
those that can never be. A valid block's tx that fails the rules is recorded as failed.
FinalizeBlock
executes and seals the block (its ``app_hash`` is the SHA-256 of the checkpoint's log and state
lines, :meth:`Checkpoint.app_hash`: a block without transactions leaves it unchanged); Commit
signs the checkpoint with this member's key and answers; the block is stored (one SQLite transaction)
right *after* the answer has been sent, on the same event loop (:meth:`AbciApp.store_later`),
so CometBFT does not wait for it: it starts ``timeout_commit`` (and, unless txs are left in its
mempool to recheck, releases its mempool lock) while the block is written. Any later request
(and Commit of the next height at the latest) finds it stored. Nothing is stored before Commit;
a crash before a block is stored leaves an earlier height, and CometBFT replays the missing
blocks on restart (Info reports the last *stored* height and app hash).

Not thread-safe: the server calls it from one event loop. (A storing *thread* was tried: it
competed with the event loop for the interpreter lock, and CheckTx and ProcessProposal got
slower under load.)
"""

from __future__ import annotations

import collections
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from anju import __version__
from anju.chain.abci import messages as m
from anju.chain.abci.codes import OK, OTHER_CODE, abci_code
from anju.chain.abci.wire import uvarint
from anju.chain.executor import Executor, Sealed, canonical_genesis
from anju.chain.node import DB_NAME, DataLock, open_executor, read_node_key
from anju.crypto.tx import MAX_TX_BYTES, Tx, parse, parse_and_verify, verify_sigs
from anju.errors import AnjuError, Overloaded, StorageCorrupt, TxRejected
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.statemap import StateMap
from anju.ledger.store import BlockRecord, BlockWrite, Store

log = logging.getLogger("anju.abci")

APP_VERSION = 1
VERIFIED_CACHE = 200_000
VERIFIED_CACHE_BYTES = 64 * 1024 * 1024
"""The verified-envelope cache holds at most VERIFIED_CACHE envelopes and VERIFIED_CACHE_BYTES of
envelope bytes (parsed, an envelope takes a few times its size): the oldest go first, and one that
comes back (in a proposal) is verified again. Only admitted envelopes are cached."""
MEMBER_FILE = "consortium.json"
MEMPOOL_SEQ_TTL_S = 120.0
"""How long CheckTx holds a signer's admitted seq (its next tx must follow on) without a block
carrying it: CometBFT's mempool can drop an admitted tx (full on insert, a restart), and the signer
must then be able to submit that seq again. (Mempool admission only: no block's outcome reads it.)"""
MAX_SEQ_AHEAD = 64
"""How far a signer's admitted seq may run ahead of its committed one: CheckTx refuses seq
committed + MAX_SEQ_AHEAD + 1 and later (MEMPOOL_FULL: this signer's share of the mempool is full)
until blocks carry the earlier ones. Only the signer's next tx is run through the rules; the others
are checked when their block executes, so without a cap one key could fill the mempool with txs
that fail there. (Mempool admission only: no block's outcome reads it.)"""
StoreOp = tuple[str, BlockWrite | tuple[int, str]]
"""A write :meth:`AbciApp.store_later` queues: ("block", BlockWrite) | ("note", (height, cosigned note))."""


@dataclass(frozen=True, slots=True)
class Member:
    name: str  # the signed-note key name, "<chain id>/<member>"
    vkey: str
    cosign_url: str


@dataclass(frozen=True, slots=True)
class MemberConfig:
    """``consortium.json`` in a member's data directory."""

    chain_id: str
    member: str
    threshold: int
    members: tuple[Member, ...]
    first_height: int = 1  # the consortium's first block (later than 1 if it started from a ledger)

    @property
    def key_name(self) -> str:
        return f"{self.chain_id}/{self.member}"

    @classmethod
    def load(cls, data: Path) -> MemberConfig:
        doc = orjson.loads((Path(data) / MEMBER_FILE).read_bytes())
        members = tuple(Member(x["name"], x["vkey"], x["cosign_url"]) for x in doc["members"])
        return cls(doc["chain_id"], doc["member"], int(doc["threshold"]), members, int(doc.get("first_height", 1)))


@dataclass(frozen=True, slots=True)
class _Executed:
    """A block ProcessProposal executed, kept for FinalizeBlock of the same block (optimistic execution)."""

    hash: bytes
    height: int
    time: str
    sealed: Sealed
    results: list[m.TxResult]
    txs: list[Tx | None]  # None: the envelope did not parse or verify

    def is_block(self, req: m.Proposal) -> bool:
        return bool(req.hash) and (self.hash, self.height, self.time) == (req.hash, req.height, req.time)


def checkpoint_of(chain_id: str, b: BlockRecord) -> Checkpoint:
    return Checkpoint(
        origin=chain_id, size=b.log_size, root=b.log_root, height=b.height, state_root=b.state_root, time=b.time
    )


def _result(exc: AnjuError) -> m.TxResult:
    return m.TxResult(code=abci_code(exc.code), log=exc.message, codespace=exc.code)


class AbciApp:
    """Anju behind CometBFT, for one member's data directory."""

    def __init__(self, data: Path, on_commit: Callable[[BlockRecord, Checkpoint, Sealed], None] | None = None) -> None:
        self.data = Path(data)
        self._lock = DataLock(self.data)  # one writer per data directory (a second member on it is refused)
        try:
            self.store = Store(self.data / DB_NAME)
            self.executor: Executor = open_executor(self.data, self.store)
            if getattr(self.executor.machine, "name", "") == "anju-registry":
                # the member API's query indexes, made here by the one writer before CometBFT
                # connects (built by the API process beside a writing one, a large ledger's first
                # index could hold the write lock past this process's busy timeout)
                self.store.create_indexes()
        except BaseException:
            self._lock.release()
            raise
        self.executor.undoable = True
        self.chain_id = self.executor.chain_id
        self.key = read_node_key(self.data)
        cfg_path = self.data / MEMBER_FILE
        self.config = MemberConfig.load(self.data) if cfg_path.exists() else None
        self._warm = False
        self.key_name = self.config.key_name if self.config else self.chain_id
        self.on_commit = on_commit
        self._pending: Sealed | None = None
        # ProcessProposal executes the block it accepts; FinalizeBlock of the same block reuses it.
        self._optimistic: _Executed | None = None
        self._block_txs: tuple[list[Tx | None], list[m.TxResult]] = ([], [])  # the block awaiting Commit
        # signer -> (the highest seq CheckTx admitted, when): its next tx must follow on. An entry
        # older than MEMPOOL_SEQ_TTL_S is forgotten (CometBFT's mempool can drop an admitted tx).
        self._mempool_seq: dict[str, tuple[int, float, bytes]] = {}  # signer -> (seq, when, envelope hash)
        # signer -> the highest seq the current recheck pass kept (reset at every Commit: CometBFT
        # rechecks its mempool, in order, right after it).
        self._recheck_seq: dict[str, int] = {}
        # txid -> {code, message}: the txs recheck evicted since the last Commit, reported with the
        # next block's refused txs (the member API fails its clients' waits with them).
        self._evicted: dict[str, dict[str, str]] = {}
        # sha256(envelope) -> (its parsed, verified Tx, envelope size): the envelopes CheckTx
        # admitted, bounded by count and bytes (VERIFIED_CACHE, VERIFIED_CACHE_BYTES).
        self._verified: collections.OrderedDict[bytes, tuple[Tx, int]] = collections.OrderedDict()
        self._verified_bytes = 0
        # What the server's verifier processes found for the CheckTx requests of the batch being
        # answered: each is taken by its CheckTx; the server clears the rest after the batch.
        self.prefetched: dict[bytes, Tx | AnjuError] = {}
        # Where a height's time went (ms), for the cosigner's /blocks rows and benchmarks.
        self.timing: dict[str, float] = {}
        self.stored_timing: dict[str, float] = {}  # the timing of the block on_commit is called for
        self.stored_refused: dict[str, dict[str, str]] = {}  # and its txs refused at execution
        # Called at Commit with (height, signed note), before the block is stored (the cosigner
        # sends this member's signature at once).
        self.on_signed: Callable[[int, str], None] | None = None
        # SQLite writes (blocks, cosigned notes) waiting to run, in order, each with a follow-up.
        # ``defer`` (the server's loop.call_soon) runs them once the current request is answered;
        # without it (tests, tools) they run at the next settle().
        self._writes: collections.deque[tuple[StoreOp, Callable[[], None]]] = collections.deque()
        self._failed: BaseException | None = None
        self.group_started = 0.0  # when the writes being stored started (their store_ms)
        self.defer: Callable[[Callable[[], None]], object] | None = None

    # -- storing -----------------------------------------------------------------------------------
    def store_later(self, op: StoreOp, then: Callable[[], None]) -> None:
        """Store ``op`` after the current request is answered, in order with the writes before it;
        then run ``then``. ``("block", BlockWrite)`` or ``("note", (height, cosigned note))``."""
        self._writes.append((op, then))
        if self.defer is not None:
            self.defer(self._settle_soon)

    def _settle_soon(self) -> None:
        try:
            self.settle()
        except Exception:  # remembered: the next Commit raises it
            log.exception("storing failed")

    def settle(self) -> None:
        """Run the writes still waiting, in order, each followed by its follow-up.

        A failed write stays failed: every later settle() raises it (a ledger that cannot store a
        block must not go on: Commit answers an exception and CometBFT halts)."""
        if self._failed is not None:
            raise self._failed
        while self._writes:
            # Every write waiting goes into one SQLite transaction: the blocks, then the notes
            # (a note's block is in the same group or was stored before it was queued).
            group = list(self._writes)
            blocks: list[BlockWrite] = []
            notes: list[tuple[int, str]] = []
            for (_, item), _then in group:
                if isinstance(item, BlockWrite):
                    blocks.append(item)
                else:
                    notes.append(item)
            self.group_started = time.perf_counter()
            try:
                self.store.write_blocks(blocks, notes)
            except BaseException as exc:
                self._failed = exc
                raise
            for _ in group:
                self._writes.popleft()
            try:
                for _, then in group:
                    then()
            except BaseException as exc:  # a bug: the ledger's memory and disk may disagree
                self._failed = exc
                raise

    def close(self) -> None:
        """Store what is waiting, then close the store."""
        try:
            self.settle()
        finally:
            self.store.close()
            self._lock.release()

    # -- helpers ----------------------------------------------------------------------------------
    def warm(self) -> None:
        """Read the state and the state map into memory (and again whenever the executor is reopened)."""
        self.executor.warm()
        self._warm = True

    def _reload(self) -> None:
        """Forget a sealed block that was never committed (CometBFT will send it again).

        The block ProcessProposal executed for a proposal that was not decided (a new round) is
        taken back in memory (:meth:`Executor.unseal`); anything else reopens the ledger."""
        opt = self._optimistic
        if opt is not None and self._pending is None and self.executor.open_block is None:
            self._optimistic = None
            log.info("height %d: dropping the block executed for an undecided proposal", opt.height)
            self.executor.unseal(opt.sealed)
            return
        if self._pending is not None or self._optimistic is not None or self.executor.open_block is not None:
            if self._pending is not None:
                log.warning("dropping uncommitted block %s", self._pending.write.block.height)
            self.settle()  # a committed block waiting to be stored stays: it is stored first
            self.executor = open_executor(self.data, self.store)
            self.executor.undoable = True
            if self._warm:
                self.executor.warm()
            self._pending = None
            self._optimistic = None

    def is_verified(self, raw: bytes) -> bool:
        return hashlib.sha256(raw).digest() in self._verified

    def remember(self, raws: Sequence[bytes], results: Sequence[Tx | AnjuError]) -> None:
        """Hand the results of envelopes verified elsewhere (the server's verifier processes) to the
        CheckTx requests of the current batch (:attr:`prefetched`); CheckTx caches those it admits."""
        for raw, res in zip(raws, results, strict=True):
            self.prefetched[hashlib.sha256(raw).digest()] = res

    def _cache(self, h: bytes, tx: Tx, size: int) -> None:
        """Keep an admitted envelope's parsed Tx (bounded by count and bytes; oldest out first)."""
        if h in self._verified:
            return
        self._verified[h] = (tx, size)
        self._verified_bytes += size
        while len(self._verified) > VERIFIED_CACHE or self._verified_bytes > VERIFIED_CACHE_BYTES:
            _, (_, old) = self._verified.popitem(last=False)
            self._verified_bytes -= old

    def _tx(self, raw: bytes) -> Tx:
        """Parse and verify ``raw`` (a block's envelope): from the cache of admitted ones, or verified
        now (not cached: a block's execution is kept whole, and only CheckTx adds to the cache)."""
        hit = self._verified.get(hashlib.sha256(raw).digest())
        return hit[0] if hit is not None else parse_and_verify(raw)

    def _out_of_seq(self, tx: Tx, last: dict[str, int]) -> str | None:
        """Why ``tx`` cannot follow the block's earlier txs, or None (and ``tx`` is recorded).

        ``last``: signer -> the seq of its last tx earlier in the block. A tx's ``seq`` must be its
        signer's next after the committed state and those txs, whatever their outcome: a
        block's validity must not depend on executing it. (A committed tx's seq is at or below
        its signer's committed seq, so a tx id already committed is a replay here too.)"""
        signer = tx.signer
        prev = last.get(signer)
        if prev is None:
            prev = self.executor.committed_seq(signer)
        if tx.seq == prev + 1:
            last[signer] = tx.seq
            return None
        committed = self.executor.committed_seq(signer)
        if tx.seq <= committed:
            why = f"seq {tx.seq} was used by a committed block (the signer's committed seq is {committed})"
        elif tx.seq <= prev:
            why = f"seq {tx.seq} is taken by an earlier tx of this block"
        else:
            why = f"seq {tx.seq} skips ahead; the signer's next is {prev + 1}"
        return f"tx {tx.txid} of signer {signer}: {why}"

    @property
    def last(self) -> BlockRecord:
        return self.executor.last

    def app_hash_of(self, b: BlockRecord) -> bytes:
        return checkpoint_of(self.chain_id, b).app_hash()

    # -- info and genesis -----------------------------------------------------------------------------
    def info(self) -> bytes:
        """The last *stored* height and app hash. Only settles and reports: CometBFT's public RPC
        (``/abci_info``) sends Info on the query connection at any time, also between FinalizeBlock
        and Commit, so it must never drop a finalized block. After a restart of CometBFT alone, the
        block it replays reaches FinalizeBlock / ProcessProposal / PrepareProposal, which drop an
        uncommitted block (:meth:`_reload`) and check its height."""
        self.settle()
        last = self.last
        if last.height < self.first_height:  # no consortium block yet: CometBFT must send InitChain
            return m.info(f"anju {self.chain_id}", __version__, APP_VERSION, 0, b"")
        return m.info(f"anju {self.chain_id}", __version__, APP_VERSION, last.height, self.app_hash_of(last))

    @property
    def first_height(self) -> int:
        """The consortium's first block: 1, or the next one of the ledger it started from."""
        return self.config.first_height if self.config is not None else 1

    def init_chain(self, req: m.InitChain) -> bytes:
        if req.chain_id != self.chain_id:
            raise StorageCorrupt(
                "STORE_CORRUPT", f"CometBFT chain {req.chain_id!r} is not this ledger's {self.chain_id!r}"
            )
        first = self.first_height
        if max(req.initial_height, 1) != first:
            raise StorageCorrupt("STORE_CORRUPT", f"initial_height must be {first}: Anju block h is CometBFT height h")
        if self.last.height != first - 1:
            raise StorageCorrupt("STORE_CORRUPT", f"InitChain on a ledger that is not at height {first - 1}")
        doc = orjson.loads(req.app_state) if req.app_state else None
        if not isinstance(doc, dict) or canonical_genesis(doc) != self.store.get_meta("genesis"):
            raise StorageCorrupt("STORE_CORRUPT", "genesis app_state differs from this member's Anju genesis")
        start = self.store.block(first - 1)  # block 0, or the last block of the ledger it started from
        if start is None:
            raise StorageCorrupt("STORE_CORRUPT", f"the ledger has no block {first - 1}")
        return m.init_chain(self.app_hash_of(start))

    # -- mempool ----------------------------------------------------------------------------------------
    def check_tx(self, req: m.CheckTx) -> bytes:
        """The mempool's gate: every tx in a block came through here on some member.

        New, cheapest first: size; the envelope's structure (parsed, cached if admitted before);
        chain and ``seq`` = the signer's next after the committed state and the txs this member
        already admitted; then the signatures; a signer's next tx also runs the rules (simulate).
        Only an admitted envelope is cached (a refused one costs no memory after its answer).
        Recheck (after every block, in mempool order; :meth:`_recheck`): evicts only what no valid
        proposal can carry, without running the rules."""
        try:
            raw = req.tx
            if len(raw) > MAX_TX_BYTES:
                raise TxRejected("TX_TOO_LARGE", f"envelope is {len(raw)} bytes; the limit is {MAX_TX_BYTES}")
            h = hashlib.sha256(raw).digest()
            hit = self._verified.get(h)
            fetched = self.prefetched.pop(h, None)
            if isinstance(fetched, AnjuError):
                raise fetched
            verified = hit is not None or fetched is not None
            tx = hit[0] if hit is not None else fetched if fetched is not None else parse(raw)
            ex = self.executor
            signer = tx.signer
            committed = ex.committed_seq(signer)
            if req.type == m.CHECK_TX_RECHECK:  # admitted (so verified) before
                try:
                    self._recheck(tx, committed)
                except TxRejected as exc:  # evicted: its waiting client hears why with the next block
                    self._evicted[tx.txid] = {"code": exc.code, "message": exc.message}
                    raise
                return m.check_tx(m.TxResult(OK, data=tx.txid.encode()))
            admitted = self._mempool_seq.get(signer)
            if admitted is not None and time.monotonic() - admitted[1] > MEMPOOL_SEQ_TTL_S:
                admitted = None  # its tx never reached a block: dropped by the mempool
            if admitted is None:
                floor = committed
            elif admitted[2] == h and admitted[0] == tx.seq:
                # The very envelope admitted last, checked again: CometBFT's /check_tx RPC runs
                # CheckTx without adding the tx to its mempool (a dry run), and a tx the mempool
                # dropped comes back. Same bytes, same answer (its mempool dedups a tx it holds).
                floor = max(committed, tx.seq - 1)
            else:
                floor = max(committed, admitted[0])
            ex.check_seq(tx, floor)  # chain, then seq
            if tx.seq - committed > MAX_SEQ_AHEAD:
                raise Overloaded(
                    "MEMPOOL_FULL",
                    f"this signer has {MAX_SEQ_AHEAD} transactions waiting for a block (its committed seq is "
                    f"{committed}); submit seq {tx.seq} once earlier ones are committed",
                    retry_after=1,
                    committed_seq=committed,
                    seq=tx.seq,
                )
            if not verified:
                verify_sigs(tx)
            if tx.seq == committed + 1:  # nothing of this signer ahead of it: check the rules too
                err = ex.simulate(ex.last.time, [tx])[0]
                if err is not None:
                    raise err
            self._mempool_seq[signer] = (tx.seq, time.monotonic(), h)
            self._evicted.pop(tx.txid, None)  # evicted, then admitted again: in the mempool, not refused
            self._cache(h, tx, len(raw))
            return m.check_tx(m.TxResult(OK, data=tx.txid.encode()))
        except AnjuError as exc:
            return m.check_tx(_result(exc))

    def _recheck(self, tx: Tx, committed: int) -> None:
        """Keep ``tx`` in the mempool after a block only if a proposal may still carry it.

        CometBFT rechecks the txs left in its mempool after each block, in mempool order, and drops
        those that fail; a tx PrepareProposal leaves out stays there otherwise (recheck is the only
        way out of a v0.38 mempool). Evicted: a tx whose ``seq`` a committed block used (another
        envelope of that seq, or one a Byzantine proposer's block carried), and a gap: a ``seq``
        whose predecessor is neither committed nor ahead of it in the mempool (it failed in its
        block and left the mempool there), as are the signer's txs after it. Two envelopes of one
        pending seq both stay: the later one is proposed if the first fails, else evicted then."""
        signer = tx.signer
        if tx.seq <= committed:
            raise TxRejected("SEQ_REUSED", f"seq {tx.seq} was used by a committed block", seq=tx.seq)
        prev = self._recheck_seq.get(signer, committed)
        if tx.seq > prev + 1:
            admitted = self._mempool_seq.get(signer)
            if admitted is not None and admitted[0] >= tx.seq:
                del self._mempool_seq[signer]  # its chain of admitted txs is broken: start again after prev
            raise TxRejected(
                "SEQ_SKIPPED", f"seq {tx.seq} skips ahead; the next is {prev + 1}", last_seq=prev, seq=tx.seq
            )
        self._recheck_seq[signer] = max(prev, tx.seq)

    def _forget_admitted(self, txs: Sequence[Tx | None], results: Sequence[m.TxResult]) -> None:
        """After a block: a signer whose tx failed may submit that seq again; drop settled entries."""
        ex = self.executor
        for tx, r in zip(txs, results, strict=True):
            if tx is None:
                continue
            signer = tx.signer
            admitted = self._mempool_seq.get(signer)
            if admitted is not None and (r.code != OK or admitted[0] <= ex.committed_seq(signer)):
                del self._mempool_seq[signer]

    # -- proposals ----------------------------------------------------------------------------------------
    def prepare_proposal(self, req: m.PrepareProposal) -> bytes:
        """The mempool's txs in order, without those out of ``seq``, cut at ``max_tx_bytes``.

        Left out, cheaply (a hash, the verified cache, a seq look-up; no rules run): a tx whose
        ``seq`` is used (at or below its signer's committed seq, or taken by an earlier tx of this
        proposal) or that skips ahead: ProcessProposal rejects a block holding one. It stays in
        the mempool (PrepareProposal cannot remove a tx from it) until recheck evicts it after the
        next block, or its predecessor comes. Every tx kept passed CheckTx (signatures, the rules
        for a signer's next tx); one that fails the rules now is recorded as failed by
        FinalizeBlock and leaves the mempool with its block."""
        self._reload()
        limit = req.max_tx_bytes if req.max_tx_bytes > 0 else 1 << 62
        size = 0
        out: list[bytes] = []
        last: dict[str, int] = {}
        dropped: list[str] = []
        for raw in req.txs:
            hit = self._verified.get(hashlib.sha256(raw).digest())
            try:  # not cached (the cache is bounded): parsed only, its signatures were verified by CheckTx
                tx = hit[0] if hit is not None else parse(raw)
            except AnjuError as exc:
                dropped.append(exc.message)
                continue
            why = f"a tx of chain {tx.chain!r}" if tx.chain != self.chain_id else self._out_of_seq(tx, last)
            if why is not None:
                dropped.append(why)
                continue
            cost = len(raw) + 1 + len(uvarint(len(raw)))  # as CometBFT counts: proto field size
            if size + cost > limit:
                break
            out.append(raw)
            size += cost
        if dropped:
            log.info(
                "height %d: %d mempool txs left out of the proposal, e.g. %s", req.height, len(dropped), dropped[0]
            )
        return m.prepare_proposal(out)

    def process_proposal(self, req: m.Proposal) -> bytes:
        """Reject a block holding anything but validly signed envelopes of this chain, each with its
        signer's next ``seq``; execute it.

        The ``seq`` check reads only the committed state and the block itself (deterministic: no
        clock, no mempool): a replay of a committed tx, a second tx of one seq, or a gap rejects the
        block (a Byzantine proposer would otherwise fill blocks with txs that are bound to fail). A
        tx in sequence that fails the rules does not: FinalizeBlock records it as failed and it
        changes nothing, deterministically on every member. The block executed here is kept for
        FinalizeBlock of the same block hash (optimistic execution); the same block proposed again
        in a later round is accepted without running it again."""
        if self._optimistic is not None and self._optimistic.is_block(req):
            return m.process_proposal(m.PROPOSAL_ACCEPT)
        self._reload()
        t0 = time.perf_counter()
        txs: list[Tx | AnjuError] = []
        last: dict[str, int] = {}
        for raw in req.txs:
            hit = self._verified.get(hashlib.sha256(raw).digest())
            try:  # cheapest first: structure, chain, seq, then the signatures of an uncached one
                tx = hit[0] if hit is not None else parse(raw)
                why = f"a tx of chain {tx.chain!r}" if tx.chain != self.chain_id else self._out_of_seq(tx, last)
                if why is None and hit is None:
                    verify_sigs(tx)
            except AnjuError as exc:
                why = exc.message
            if why is not None:
                log.warning("rejecting proposal at height %d: %s", req.height, why)
                return m.process_proposal(m.PROPOSAL_REJECT)
            txs.append(tx)
        sealed, results = self._execute(req, txs)
        kept = [tx if isinstance(tx, Tx) else None for tx in txs]
        self._optimistic = _Executed(req.hash, req.height, req.time, sealed, results, kept)
        self.timing = {"process_ms": (time.perf_counter() - t0) * 1000}
        return m.process_proposal(m.PROPOSAL_ACCEPT)

    def _parsed(self, raws: Sequence[bytes]) -> list[Tx | AnjuError]:
        out: list[Tx | AnjuError] = []
        for raw in raws:
            try:
                out.append(self._tx(raw))
            except AnjuError as exc:
                out.append(exc)
        return out

    def _execute(self, req: m.Proposal, txs: Sequence[Tx | AnjuError]) -> tuple[Sealed, list[m.TxResult]]:
        """Execute and seal ``req``'s block (its txs parsed: ``txs``) on top of the last committed one."""
        ex = self.executor
        tip = ex.sealed_tip.height  # the last committed block (maybe still being stored)
        if req.height != tip + 1:
            raise StorageCorrupt(
                "STORE_CORRUPT",
                f"block for height {req.height}; the ledger is at {tip}",
                height=req.height,
            )
        ex.begin(req.time)
        results: list[m.TxResult] = []
        for tx in txs:
            try:
                if not isinstance(tx, Tx):
                    raise tx
                ex.deliver(tx)
            except AnjuError as exc:
                results.append(_result(exc))
                continue
            results.append(m.TxResult(OK, data=tx.txid.encode()))
        return ex.seal(), results

    # -- blocks ---------------------------------------------------------------------------------------------
    def finalize_block(self, req: m.Proposal, body: bytes | None = None) -> bytes:
        """``req`` may lack its txs (parsed with ``txs=False``): then ``body`` is the encoded request,
        parsed in full only if the block is not the one ProcessProposal already executed."""
        t0 = time.perf_counter()
        opt = self._optimistic
        if opt is not None and opt.is_block(req):
            self._optimistic = None
            sealed, results, kept = opt.sealed, opt.results, opt.txs
        else:
            self._reload()
            self.timing = {}
            if body is not None:
                req = m.Proposal.parse(body)
            txs = self._parsed(req.txs)
            sealed, results = self._execute(req, txs)
            kept = [tx if isinstance(tx, Tx) else None for tx in txs]
        self.timing["finalize_ms"] = (time.perf_counter() - t0) * 1000
        self._pending = sealed
        self._block_txs = (kept, results)
        return m.finalize_block([], results, sealed.checkpoint.app_hash())

    def commit(self) -> bytes:
        sealed = self._pending
        if sealed is None:
            raise RuntimeError("Commit without FinalizeBlock")
        t0 = time.perf_counter()
        self.settle()  # the previous block is stored (normally it already is)
        ex = self.executor
        note = sealed.checkpoint.sign(self.key, self.key_name)
        ex.attach_note(sealed, note)
        timing = self.timing
        timing["commit_ms"] = (time.perf_counter() - t0) * 1000
        self._pending = None
        self._forget_admitted(*self._block_txs)  # reads the sealed block's writes: no need to wait
        self._recheck_seq = {}  # CometBFT rechecks its mempool next
        kept, results = self._block_txs
        # Txs of the block refused at execution (they passed some member's CheckTx): for the
        # member API, whose clients wait for them (the ledger keeps only committed txs).
        refused = {
            tx.txid: {"code": r.codespace, "message": r.log}
            for tx, r in zip(kept, results, strict=True)
            if tx is not None and r.code != OK
        }
        # and those this member's recheck evicted after the previous block, unless this block
        # carries them (another member still had them: its outcome is theirs)
        in_block = {tx.txid for tx in kept if tx is not None}
        refused.update((txid, err) for txid, err in self._evicted.items() if txid not in in_block)
        self._evicted = {}
        self._block_txs = ([], [])

        def stored() -> None:
            timing["store_ms"] = (time.perf_counter() - self.group_started) * 1000
            record = ex.stored(sealed)
            self.stored_timing = timing
            self.stored_refused = refused
            if self.on_commit is not None:
                try:
                    self.on_commit(record, sealed.checkpoint, sealed)
                except Exception:  # cosigning never stops the ledger
                    log.exception("after-commit hook failed at height %d", record.height)

        if self.on_signed is not None:  # first: its connections open before the write blocks the loop
            try:
                self.on_signed(sealed.checkpoint.height, note)
            except Exception:
                log.exception("on-signed hook failed at height %d", sealed.checkpoint.height)
        self.store_later(("block", sealed.write), stored)
        return m.commit(0)

    # -- queries ------------------------------------------------------------------------------------------
    def query(self, req: m.Query) -> bytes:
        self.settle()
        last = self.last
        try:
            if req.path in ("/state", "state"):
                # The committed state only, as stored (settle() above stored every committed block):
                # the executor's own state may hold a proposal executed but not decided.
                try:
                    key = req.data.decode()
                except UnicodeDecodeError:
                    raise AnjuError("BAD_REQUEST", "a state key is UTF-8 text") from None
                value = self.store.state_get(key)
                body: dict[str, Any] = {
                    "key": key,
                    "value": None if value is None else value.decode(),
                    "height": last.height,
                    "checkpoint": last.checkpoint,
                }
                if req.prove:
                    body["proof"] = StateMap(self.store.smt_view(), last.state_root).prove(key).to_json()
                return m.query(OK, "", req.data, orjson.dumps(body), last.height)
            if req.path in ("/checkpoint", "checkpoint"):
                h = req.height or last.height
                b = self.store.block(h)
                if b is None:
                    raise TxRejected("NOT_FOUND", f"no block {h}")
                return m.query(OK, "", b"", b.checkpoint.encode(), h)
            if req.path in ("/node", "node", ""):
                body = {
                    "chain_id": self.chain_id,
                    "key_name": self.key_name,
                    "height": last.height,
                    "app_hash": self.app_hash_of(last).hex() if last.height else "",
                }
                return m.query(OK, "", b"", orjson.dumps(body), last.height)
            raise TxRejected("NOT_FOUND", f"unknown query path {req.path!r}")
        except AnjuError as exc:
            return m.query(abci_code(exc.code), exc.message, req.data, b"", last.height, codespace=exc.code)
        except Exception as exc:  # a query reads only: answer it, never an exception (CometBFT stops on one)
            log.exception("query %r failed", req.path)
            return m.query(
                OTHER_CODE,
                f"query failed: {type(exc).__name__}",
                req.data,
                b"",
                last.height,
                codespace="INTERNAL_ERROR",
            )
