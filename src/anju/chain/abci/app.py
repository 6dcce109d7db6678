"""The Anju ABCI 2.0 application: CometBFT orders blocks, the executor runs them.

One validity predicate (signatures, chain id, ``seq``, the application's rules via
``Executor.simulate``) serves CheckTx, PrepareProposal and ProcessProposal. FinalizeBlock
executes and seals the block (its ``app_hash`` is the SHA-256 of the checkpoint text, which
commits to the log root, the state root, the height and the block time); Commit stores it in
one SQLite transaction, signed with this member's key. Nothing is stored before Commit, so a
crash between the two leaves the previous height, and CometBFT replays the block on restart
(Info reports the last *stored* height and app hash).

Not thread-safe: the server calls it from one event loop.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from anju import __version__
from anju.chain.abci import messages as m
from anju.chain.abci.codes import OK, abci_code
from anju.chain.abci.wire import uvarint
from anju.chain.executor import Executor, Sealed, canonical_genesis
from anju.chain.node import DB_NAME, open_executor, read_node_key
from anju.crypto.tx import MAX_TX_BYTES, Tx, parse, parse_and_verify
from anju.errors import AnjuError, StorageCorrupt, TxRejected
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.store import BlockRecord, Store
from anju.registry.port import Event

log = logging.getLogger("anju.abci")

APP_VERSION = 1
VERIFIED_CACHE = 200_000
MEMBER_FILE = "consortium.json"


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

    @property
    def key_name(self) -> str:
        return f"{self.chain_id}/{self.member}"

    @classmethod
    def load(cls, data: Path) -> MemberConfig:
        doc = orjson.loads((Path(data) / MEMBER_FILE).read_bytes())
        members = tuple(Member(x["name"], x["vkey"], x["cosign_url"]) for x in doc["members"])
        return cls(doc["chain_id"], doc["member"], int(doc["threshold"]), members)


def checkpoint_of(chain_id: str, b: BlockRecord) -> Checkpoint:
    return Checkpoint(
        origin=chain_id, size=b.log_size, root=b.log_root, height=b.height, state_root=b.state_root, time=b.time
    )


def _result(exc: AnjuError) -> m.TxResult:
    return m.TxResult(code=abci_code(exc.code), log=exc.message, codespace=exc.code)


def _events(tx: Tx, events: Sequence[Event]) -> list[m.Event]:
    out = [m.Event("anju.tx", (("txid", tx.txid), ("kind", tx.kind), ("signer", tx.signer)))]
    for e in events:
        attrs = [("txid", tx.txid)]
        attrs += [(k, orjson.dumps(v).decode()) for k, v in sorted(e.data.items())]
        out.append(m.Event(e.kind, tuple(attrs)))
    return out


class AbciApp:
    """Anju behind CometBFT, for one member's data directory."""

    def __init__(self, data: Path, on_commit: Callable[[BlockRecord, Checkpoint, Sealed], None] | None = None) -> None:
        self.data = Path(data)
        self.store = Store(self.data / DB_NAME)
        self.executor: Executor = open_executor(self.data, self.store)
        self.chain_id = self.executor.chain_id
        self.key = read_node_key(self.data)
        cfg_path = self.data / MEMBER_FILE
        self.config = MemberConfig.load(self.data) if cfg_path.exists() else None
        self.key_name = self.config.key_name if self.config else self.chain_id
        self.on_commit = on_commit
        self._pending: Sealed | None = None
        self._mempool_seq: dict[str, int] = {}
        self._verified: collections.OrderedDict[bytes, Tx] = collections.OrderedDict()

    # -- helpers ----------------------------------------------------------------------------------
    def _reload(self) -> None:
        """Forget a sealed block that was never committed (CometBFT will send it again)."""
        if self._pending is not None or self.executor.open_block is not None:
            log.warning("dropping uncommitted block %s", self._pending and self._pending.write.block.height)
            self.executor = open_executor(self.data, self.store)
            self._pending = None

    def _tx(self, raw: bytes, *, trusted: bool = False) -> Tx:
        """Parse and verify ``raw`` (cached by hash: each envelope is verified once)."""
        h = hashlib.sha256(raw).digest()
        tx = self._verified.get(h)
        if tx is not None:
            return tx
        tx = parse(raw) if trusted else parse_and_verify(raw)
        self._verified[h] = tx
        if len(self._verified) > VERIFIED_CACHE:
            self._verified.popitem(last=False)
        return tx

    @property
    def last(self) -> BlockRecord:
        return self.executor.last

    def app_hash_of(self, b: BlockRecord) -> bytes:
        return checkpoint_of(self.chain_id, b).app_hash()

    # -- info and genesis -----------------------------------------------------------------------------
    def info(self) -> bytes:
        self._reload()
        last = self.last
        app_hash = self.app_hash_of(last) if last.height > 0 else b""
        return m.info(f"anju {self.chain_id}", __version__, APP_VERSION, last.height, app_hash)

    def init_chain(self, req: m.InitChain) -> bytes:
        if req.chain_id != self.chain_id:
            raise StorageCorrupt(
                "STORE_CORRUPT", f"CometBFT chain {req.chain_id!r} is not this ledger's {self.chain_id!r}"
            )
        if req.initial_height not in (0, 1):
            raise StorageCorrupt("STORE_CORRUPT", "initial_height must be 1: Anju block h is CometBFT height h")
        if self.last.height != 0:
            raise StorageCorrupt("STORE_CORRUPT", "InitChain on a ledger that already has blocks")
        doc = orjson.loads(req.app_state) if req.app_state else None
        if not isinstance(doc, dict) or canonical_genesis(doc) != self.store.get_meta("genesis"):
            raise StorageCorrupt("STORE_CORRUPT", "genesis app_state differs from this member's Anju genesis")
        genesis = self.store.block(0)
        assert genesis is not None
        return m.init_chain(self.app_hash_of(genesis))

    # -- mempool ----------------------------------------------------------------------------------------
    def check_tx(self, req: m.CheckTx) -> bytes:
        try:
            if len(req.tx) > MAX_TX_BYTES:
                raise TxRejected("TX_TOO_LARGE", f"envelope is {len(req.tx)} bytes; the limit is {MAX_TX_BYTES}")
            tx = self._tx(req.tx, trusted=req.type == m.CHECK_TX_RECHECK)
            ex = self.executor
            committed = ex.committed_seq(tx.signer)
            ex.check_seq(tx, max(committed, self._mempool_seq.get(tx.signer, 0)))
            if tx.seq == committed + 1:  # nothing of this signer ahead of it: check the rules too
                err = ex.simulate(ex.last.time, [tx])[0]
                if err is not None:
                    raise err
            self._mempool_seq[tx.signer] = tx.seq
            return m.check_tx(m.TxResult(OK, data=tx.txid.encode()))
        except AnjuError as exc:
            return m.check_tx(_result(exc))

    # -- proposals ----------------------------------------------------------------------------------------
    def _valid(self, time: str, raws: Sequence[bytes]) -> list[Tx | None]:
        """The txs that would commit in a block at ``time`` (None where one would fail)."""
        parsed: list[Tx | None] = []
        for raw in raws:
            try:
                parsed.append(self._tx(raw))
            except AnjuError:
                parsed.append(None)
        ok = [t for t in parsed if t is not None]
        results = iter(self.executor.simulate(time, ok))
        return [t if t is not None and next(results) is None else None for t in parsed]

    def prepare_proposal(self, req: m.PrepareProposal) -> bytes:
        self._reload()
        limit = req.max_tx_bytes if req.max_tx_bytes > 0 else 1 << 62
        size = 0
        # The block is executed in order, so a tx is kept only if it passes after the kept ones.
        candidates: list[bytes] = []
        for raw in req.txs:
            cost = len(raw) + 1 + len(uvarint(len(raw)))  # as CometBFT counts: proto field size
            if size + cost > limit:
                break
            candidates.append(raw)
            size += cost
        kept = self._filter(req.time, candidates)
        out = [raw for raw, keep in zip(candidates, kept, strict=True) if keep]
        return m.prepare_proposal(out)

    def _filter(self, time: str, raws: Sequence[bytes]) -> list[bool]:
        """Drop failing txs one pass at a time until every kept tx passes (a drop can break later ones)."""
        keep = [True] * len(raws)
        for _ in range(3):
            idx = [i for i, k in enumerate(keep) if k]
            valid = self._valid(time, [raws[i] for i in idx])
            bad = [i for i, t in zip(idx, valid, strict=True) if t is None]
            if not bad:
                return keep
            for i in bad:
                keep[i] = False
        return [False] * len(raws)

    def process_proposal(self, req: m.Proposal) -> bytes:
        self._reload()
        valid = self._valid(req.time, req.txs)
        ok = all(t is not None for t in valid)
        if not ok:
            log.warning("rejecting proposal at height %d: it holds a failing transaction", req.height)
        return m.process_proposal(m.PROPOSAL_ACCEPT if ok else m.PROPOSAL_REJECT)

    # -- blocks ---------------------------------------------------------------------------------------------
    def finalize_block(self, req: m.Proposal) -> bytes:
        self._reload()
        ex = self.executor
        if req.height != ex.last.height + 1:
            raise StorageCorrupt(
                "STORE_CORRUPT",
                f"FinalizeBlock for height {req.height}; the ledger is at {ex.last.height}",
                height=req.height,
            )
        ex.begin(req.time)
        results: list[m.TxResult] = []
        for raw in req.txs:
            try:
                tx = self._tx(raw)
                events = ex.deliver(tx)
            except AnjuError as exc:
                results.append(_result(exc))
                continue
            results.append(m.TxResult(OK, data=tx.txid.encode(), events=_events(tx, events)))
        sealed = ex.seal()
        self._pending = sealed
        return m.finalize_block([], results, sealed.checkpoint.app_hash())

    def commit(self) -> bytes:
        sealed = self._pending
        if sealed is None:
            raise RuntimeError("Commit without FinalizeBlock")
        note = sealed.checkpoint.sign(self.key, self.key_name)
        record = self.executor.commit(sealed, note)
        self._pending = None
        self._mempool_seq.clear()  # rebuilt by the recheck of what is left in the mempool
        if self.on_commit is not None:
            try:
                self.on_commit(record, sealed.checkpoint, sealed)
            except Exception:  # cosigning never stops the ledger
                log.exception("after-commit hook failed at height %d", record.height)
        return m.commit(0)

    # -- queries ------------------------------------------------------------------------------------------
    def query(self, req: m.Query) -> bytes:
        last = self.last
        try:
            if req.path in ("/state", "state"):
                key = req.data.decode()
                value = self.executor.get(key)
                body: dict[str, Any] = {
                    "key": key,
                    "value": None if value is None else value.decode(),
                    "height": last.height,
                    "checkpoint": last.checkpoint,
                }
                if req.prove:
                    body["proof"] = self.executor.smt.prove(key).to_json()
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
