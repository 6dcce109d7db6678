"""The submission path: ``POST /txs`` and ``POST /txs/batch``, lean enough for the event loop.

Per transaction the loop does only what the contract says must be answered at once: one JSON
parse with the structural checks (:func:`anju.crypto.tx.parse`, which also yields the txid),
the chain id, and duplicates (an in-memory set of pending txids, then one indexed SQLite lookup
for committed ones — one query per batch). Signatures are checked by the node's verifier
processes, which get the parsed transactions' signed bytes and signatures through
:meth:`Node.submit_parsed_to` (one call per batch): nothing is parsed twice.

Settlement is batched too: an embedded node settles each transaction's :class:`_Slot` on its own
threads (no Future, so no lock or condition per transaction: :meth:`Node.submit_parsed_to`; a
consortium member's node returns futures, whose callbacks do the same); a slot only appends its
outcome to a deque and, at most once per burst, schedules :meth:`Submissions._drain` on the loop,
which updates the pending/rejected tables and wakes the waiters of a whole block at once (one
loop wake-up per block instead of two thread-safe calls per transaction).

:class:`FastPath` serves both POSTs as plain ASGI ahead of FastAPI's routing and validation (the
FastAPI routes stay, for the OpenAPI document and as the fallback that reports a bad query).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from anju.api.errors import error_body
from anju.api.limits import TokenBucket, rate_limited
from anju.api.strict import json_media_type
from anju.chain.node import Node, Receipt, Slot, UncancelledSlot
from anju.crypto.tx import MAX_TX_BYTES, Tx, parse
from anju.errors import CODES, AnjuError, Overloaded, TxRejected

log = logging.getLogger("anju.api")

TXS_PATH = "/api/v1/txs"
BATCH_PATH = "/api/v1/txs/batch"
REJECTED_KEEP = 100_000
MAX_BATCH_ITEMS = 1000
_SQL_CHUNK = 500  # txids per "IN (...)" lookup

Outcome = Receipt | BaseException


def receipt_json(r: Receipt) -> dict[str, Any]:
    """The commit receipt; its events stay dataclasses (orjson writes them natively, see :func:`dumps`)."""
    return {"txid": r.txid, "status": "committed", "height": r.height, "index": r.index, "events": r.events}


def _default(obj: Any) -> Any:
    if isinstance(obj, Mapping):  # an event's data when it is not a plain dict
        return dict(obj)
    raise TypeError(f"not JSON: {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default)


def error_json(exc: AnjuError) -> dict[str, Any]:
    details = {k: v for k, v in exc.details.items() if k != "retry_after"}
    return {"code": exc.code, "message": exc.message, "details": details}


class _Waiter:
    """One request waiting for ``n`` transactions to settle (a single POST has n = 1)."""

    __slots__ = ("fut", "left", "outcomes")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.fut: asyncio.Future[None] = loop.create_future()
        self.left = n
        self.outcomes: dict[int, Outcome] = {}

    def settle(self, slot: int, outcome: Outcome) -> None:
        if slot in self.outcomes:
            return
        self.outcomes[slot] = outcome
        self.left -= 1
        if self.left <= 0 and not self.fut.done():
            self.fut.set_result(None)


class _Slot(UncancelledSlot):
    """Where the embedded node puts one accepted transaction's outcome (a :class:`anju.chain.node.Slot`):
    straight into :class:`Submissions`' deque. The API never cancels a transaction it handed over
    (a waiter that gives up forgets it on its own side), so a slot is never cancelled."""

    __slots__ = ("subs", "txid")

    def __init__(self, subs: Submissions, txid: str) -> None:
        self.subs = subs
        self.txid = txid

    def set_result(self, result: Receipt, /) -> None:
        self.subs.settled(self.txid, self, result)

    def set_exception(self, exception: BaseException | None, /) -> None:
        self.subs.settled(self.txid, self, exception or RuntimeError("no outcome"))


class Submissions:
    """Transactions accepted and not yet settled, recent rejections, and who waits for what."""

    def __init__(self) -> None:
        self.pending: dict[str, object] = {}  # txid -> its _Slot or Future (whose settlement counts)
        # The signatures of each pending envelope: the txid covers only the body, so another
        # envelope may carry it (a copy with forged signatures must not shut the genuine one out).
        self.sigs: dict[str, tuple[tuple[str, str], ...]] = {}
        self.rejected: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._waiters: dict[str, list[tuple[_Waiter, int]]] = {}
        self._settled: collections.deque[tuple[str, object, Outcome]] = collections.deque()
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def settled(self, txid: str, token: object, outcome: Outcome) -> None:
        """On a node thread: ``txid`` (handed over as ``token``) settled; the loop hears of it in a burst."""
        self._settled.append((txid, token, outcome))
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed (shutdown)
                    loop.call_soon_threadsafe(self._drain)

    def slots(self, txs: Sequence[Tx]) -> list[_Slot]:
        return [_Slot(self, tx.txid) for tx in txs]

    def track_slots(self, txs: Sequence[Tx], slots: Sequence[_Slot]) -> None:
        """Remember transactions handed over with ``slots`` (on the loop, before it can drain them)."""
        pending, sigs = self.pending, self.sigs
        for tx, slot in zip(txs, slots, strict=True):
            pending[slot.txid] = slot
            sigs[slot.txid] = tx.sigs

    def track(self, txs: Sequence[Tx], futs: Sequence[Future[Receipt]]) -> None:
        """Remember transactions handed over as futures (a consortium member's node)."""
        for tx, fut in zip(txs, futs, strict=True):
            txid = tx.txid
            self.pending[txid] = fut
            self.sigs[txid] = tx.sigs

            def done(f: Future[Receipt], txid: str = txid) -> None:  # on a node thread
                outcome: Outcome
                if f.cancelled():
                    outcome = AnjuError("TIMEOUT", "the node dropped this transaction", txid=txid)
                else:
                    exc = f.exception()
                    outcome = f.result() if exc is None else exc
                self.settled(txid, f, outcome)

            fut.add_done_callback(done)

    def wait_for(self, waiter: _Waiter, slot: int, txid: str) -> None:
        self._waiters.setdefault(txid, []).append((waiter, slot))

    def forget(self, waiter: _Waiter, txids: Sequence[str]) -> None:
        for txid in txids:
            lst = self._waiters.get(txid)
            if lst is None:
                continue
            lst[:] = [(w, s) for w, s in lst if w is not waiter]
            if not lst:
                del self._waiters[txid]

    def _drain(self) -> None:
        self._scheduled = False
        settled = self._settled
        rejected = self.rejected
        while settled:
            txid, token, outcome = settled.popleft()
            if self.pending.get(txid) is token:
                del self.pending[txid]
                self.sigs.pop(txid, None)
            if isinstance(outcome, TxRejected):
                rejected[txid] = outcome.to_json()["error"]
                if len(rejected) > REJECTED_KEEP:
                    rejected.popitem(last=False)
            for waiter, slot in self._waiters.pop(txid, ()):
                waiter.settle(slot, outcome)


class Committed:
    """Is a txid committed? Indexed lookups on a read-only connection owned by the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA busy_timeout=2000")
            # every batch probes the txid index at random: read its pages in place (as the API's
            # readers do) rather than through a 2 MB private cache and a pread per miss
            self._conn.execute("PRAGMA cache_size=-32768")
            self._conn.execute("PRAGMA mmap_size=4294967296")
        return self._conn

    def one(self, txid: str) -> bool:
        return self._c().execute("SELECT 1 FROM txs WHERE txid=?", (bytes.fromhex(txid),)).fetchone() is not None

    def which(self, txids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        c = self._c()
        for i in range(0, len(txids), _SQL_CHUNK):
            part = [bytes.fromhex(t) for t in txids[i : i + _SQL_CHUNK]]
            marks = ",".join("?" * len(part))
            out.update(bytes(r[0]).hex() for r in c.execute(f"SELECT txid FROM txs WHERE txid IN ({marks})", part))
        return out

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Answer:
    """An HTTP answer: status, JSON body bytes, extra headers."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []


def _error_answer(exc: AnjuError) -> Answer:
    details = {k: v for k, v in exc.details.items() if k != "retry_after"}
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(exc, Overloaded):
        retry = max(1, math.ceil(exc.retry_after))
        details["retry_after"] = retry
        headers.append((b"retry-after", str(retry).encode()))
    return Answer(CODES[exc.code][0], error_body(exc.code, exc.message, details), headers)


def _outcome_json(txid: str, outcome: Outcome | None) -> dict[str, Any]:
    if outcome is None:
        return {"txid": txid, "status": "pending"}
    if isinstance(outcome, Receipt):
        return receipt_json(outcome)
    if isinstance(outcome, AnjuError):
        return {"txid": txid, "status": "rejected", "error": error_json(outcome)}
    return {
        "txid": txid,
        "status": "rejected",
        "error": {"code": "SHUTTING_DOWN", "message": f"node failure: {outcome}", "details": {}},
    }


class SubmitCore:
    """The one implementation of both submission endpoints (used by :class:`FastPath` and the routes)."""

    def __init__(self, node: Node, subs: Submissions, committed: Committed, default_timeout: float) -> None:
        self.node = node
        self.subs = subs
        self.committed = committed
        # The node's highest seq taken per signer (sealed or stored), when it can tell (an embedded
        # node; a consortium member's cannot): see _may_be_committed.
        self._seq_taken: Callable[[str], int] | None = getattr(node, "seq_taken", None)
        # An embedded node settles slots of ours (no Future per transaction); a consortium
        # member's returns futures (Node.submit_parsed).
        self._submit_to: Callable[[Sequence[Tx], Sequence[Slot]], None] | None = getattr(node, "submit_parsed_to", None)
        self.chain_id = node.chain_id
        self.default_timeout = default_timeout
        self._group: list[tuple[Tx, asyncio.Future[None]]] = []
        self._staged: dict[str, tuple[tuple[str, str], ...]] = {}  # txid -> signatures, until handed to the node

    async def _stage(self, tx: Tx) -> None:
        """Queue one parsed envelope; every single POST parsed in the same loop iteration reaches the
        node in one :meth:`Node.submit_parsed_to` call (one hand-off to the verifier processes)."""
        fut = asyncio.get_running_loop().create_future()
        if not self._group:
            asyncio.get_running_loop().call_soon(self._flush)
        self._group.append((tx, fut))
        self._staged[tx.txid] = tx.sigs
        await fut

    def _hand_over(self, txs: list[Tx]) -> None:
        """Queue ``txs`` in the node and track them; the node's refusal (MEMPOOL_FULL,
        SHUTTING_DOWN) is raised with nothing queued. No await: nothing drains in between."""
        submit_to = self._submit_to
        if submit_to is None:
            self.subs.track(txs, self.node.submit_parsed(txs))
            return
        slots = self.subs.slots(txs)
        submit_to(txs, slots)
        self.subs.track_slots(txs, slots)

    def _flush(self) -> None:
        group, self._group = self._group, []
        for tx, _ in group:
            self._staged.pop(tx.txid, None)
        try:
            self._hand_over([tx for tx, _ in group])  # tracked even if a waiter went away: it was accepted
        except Exception as exc:  # admission is all or nothing: they arrived together
            # (MEMPOOL_FULL / SHUTTING_DOWN; anything else is a bug, answered 500, never a hang)
            for _, f in group:
                if not f.done():
                    f.set_exception(exc)
            return
        for _, f in group:
            if not f.done():
                f.set_result(None)

    async def _after_other(self, tx: Tx, timeout: float) -> None:
        """An envelope with ``tx``'s txid is pending. The same envelope: DUPLICATE_TX. Another one
        (other signatures: the txid covers only the body): wait until it settles, and go on only if
        it was refused (a copy with forged signatures must not shut the genuine envelope out)."""
        txid = tx.txid
        for _ in range(3):
            other = self._staged.get(txid) or self.subs.sigs.get(txid)
            if other is None:
                return
            if other == tx.sigs:
                raise TxRejected("DUPLICATE_TX", "this transaction is already pending", txid=txid)
            waiter = _Waiter(asyncio.get_running_loop(), 1)
            self.subs.wait_for(waiter, 0, txid)
            try:
                await asyncio.wait_for(asyncio.shield(waiter.fut), timeout)
            except TimeoutError:
                self.subs.forget(waiter, [txid])
                break
            if isinstance(waiter.outcomes[0], Receipt):
                raise TxRejected("DUPLICATE_TX", "this transaction is already committed", txid=txid)
        raise TxRejected(
            "DUPLICATE_TX", "another envelope of this transaction is still pending; ask again later", txid=txid
        )

    def _may_be_committed(self, tx: Tx) -> bool:
        """Whether ``tx`` can already be in the ledger, so that the txid index must be asked: only
        if the node has taken its signer's seq up to ``tx.seq`` already (a committed transaction's
        seq is taken). New transactions, nearly all of them, so cost a dict read instead of an
        index probe (11 µs a transaction in a batch, a tenth of the event loop's time). Racing a
        commit changes nothing: the answer is as old as an index probe's, and the sequencer refuses
        a seq used meanwhile (SEQ_REUSED)."""
        taken = self._seq_taken
        return taken is None or tx.seq <= taken(str(tx.body["signer"]))

    def _check(self, tx: Tx) -> None:
        if tx.chain != self.chain_id:
            raise TxRejected(
                "WRONG_CHAIN", f"body.chain is {tx.chain!r}; this ledger is {self.chain_id!r}", expected=self.chain_id
            )

    async def one(self, raw: bytes, wait: bool, timeout: float) -> Answer:
        waiter: _Waiter | None = None
        txid = ""
        try:
            tx = parse(raw)
            self._check(tx)
            txid = tx.txid
            if txid in self.subs.pending or txid in self._staged:
                await self._after_other(tx, timeout)
            if self._may_be_committed(tx) and self.committed.one(txid):
                raise TxRejected("DUPLICATE_TX", "this transaction is already committed", txid=txid)
            if wait:  # registered before the node can settle it
                waiter = _Waiter(asyncio.get_running_loop(), 1)
                self.subs.wait_for(waiter, 0, txid)
            await self._stage(tx)  # Overloaded (MEMPOOL_FULL / SHUTTING_DOWN) at once
        except AnjuError as exc:
            if waiter is not None:
                self.subs.forget(waiter, [txid])
            return _error_answer(exc)
        if waiter is None:
            return Answer(202, b'{"txid":"%s","status":"pending"}' % txid.encode())
        try:
            await asyncio.wait_for(asyncio.shield(waiter.fut), timeout)
        except TimeoutError:
            self.subs.forget(waiter, [txid])
            return _error_answer(
                AnjuError("TIMEOUT", f"not committed within {timeout} s; it may still commit", txid=txid)
            )
        outcome = waiter.outcomes[0]
        if isinstance(outcome, Receipt):
            return Answer(200, dumps(receipt_json(outcome)))
        if isinstance(outcome, AnjuError):
            return _error_answer(outcome)
        return _error_answer(Overloaded("SHUTTING_DOWN", f"node failure: {outcome}", retry_after=30))

    async def batch(self, raw: bytes, wait: bool, timeout: float) -> Answer:
        try:
            items = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _error_answer(TxRejected("MALFORMED_JSON", f"not valid JSON: {exc}"))
        if type(items) is not list:
            return _error_answer(AnjuError("BAD_REQUEST", "the batch body must be a JSON array of envelopes"))
        if len(items) > MAX_BATCH_ITEMS:
            return _error_answer(
                AnjuError(
                    "BAD_REQUEST",
                    f"at most {MAX_BATCH_ITEMS} envelopes per batch",
                    items=len(items),
                    limit=MAX_BATCH_ITEMS,
                )
            )
        n = len(items)
        results: list[dict[str, Any] | None] = [None] * n
        txids: list[str | None] = [None] * n
        accepted: list[tuple[int, Tx]] = []
        contested: list[tuple[int, Tx]] = []  # an envelope of the same txid is pending
        seen: set[str] = set()
        pending = self.subs.pending
        for i, item in enumerate(items):
            try:
                if type(item) is not dict:
                    raise TxRejected("MALFORMED_ENVELOPE", "each batch item must be an envelope object")
                tx = parse(item)
                self._check(tx)
                if len(tx.leaf) > MAX_TX_BYTES:
                    raise TxRejected("TX_TOO_LARGE", f"envelope is {len(tx.leaf)} bytes; the limit is {MAX_TX_BYTES}")
                txids[i] = tx.txid
                if tx.txid in seen:
                    raise TxRejected("DUPLICATE_TX", "this transaction is already in the batch", txid=tx.txid)
                seen.add(tx.txid)
                if tx.txid in pending or tx.txid in self._staged:
                    contested.append((i, tx))  # decided by _after_other (the same envelope: at once)
                    continue
                accepted.append((i, tx))
            except AnjuError as exc:
                results[i] = {"txid": txids[i], "status": "rejected", "error": error_json(exc)}
        rounds = 0
        while contested:  # as for a single POST: wait for the other envelope; go on if it was refused
            rounds += 1
            if rounds > 3:  # other requests keep handing these over: answer rather than wait for ever
                for i, tx in contested:
                    err = TxRejected(
                        "DUPLICATE_TX", "another envelope of this transaction is still pending; ask again later",
                        txid=tx.txid,
                    )  # fmt: skip
                    results[i] = {"txid": tx.txid, "status": "rejected", "error": error_json(err)}
                break
            outcomes = await asyncio.gather(
                *(self._after_other(tx, timeout) for _, tx in contested), return_exceptions=True
            )
            for (i, tx), outcome in zip(contested, outcomes, strict=True):
                if isinstance(outcome, AnjuError):
                    results[i] = {"txid": tx.txid, "status": "rejected", "error": error_json(outcome)}
                elif isinstance(outcome, BaseException):
                    raise outcome
                else:
                    accepted.append((i, tx))
            accepted.sort(key=lambda item: item[0])  # sequenced in array order
            # While this batch waited, another request may have staged or handed over an envelope of
            # one of its transactions: those wait in turn (handing both over would let the copy that
            # fails settle the other's waiters). No await follows the last check until the hand-off.
            contested = [(i, tx) for i, tx in accepted if tx.txid in pending or tx.txid in self._staged]
            if contested:
                again = {i for i, _ in contested}
                accepted = [(i, tx) for i, tx in accepted if i not in again]
        if accepted:
            done = self.committed.which([tx.txid for _, tx in accepted if self._may_be_committed(tx)])
            if done:
                keep = []
                for i, tx in accepted:
                    if tx.txid in done:
                        err = TxRejected("DUPLICATE_TX", "this transaction is already committed", txid=tx.txid)
                        results[i] = {"txid": tx.txid, "status": "rejected", "error": error_json(err)}
                    else:
                        keep.append((i, tx))
                accepted = keep
        if accepted:
            try:
                self._hand_over([tx for _, tx in accepted])
            except AnjuError as exc:  # MEMPOOL_FULL / SHUTTING_DOWN: the whole batch, nothing queued
                return _error_answer(exc)
            acc_ids = [tx.txid for _, tx in accepted]
            if wait:
                waiter = _Waiter(asyncio.get_running_loop(), len(accepted))
                for slot, txid in enumerate(acc_ids):
                    self.subs.wait_for(waiter, slot, txid)
                try:
                    await asyncio.wait_for(asyncio.shield(waiter.fut), timeout)
                except TimeoutError:
                    self.subs.forget(waiter, acc_ids)
                for slot, (i, tx) in enumerate(accepted):
                    results[i] = _outcome_json(tx.txid, waiter.outcomes.get(slot))
            else:
                for i, tx in accepted:
                    results[i] = {"txid": tx.txid, "status": "pending"}
        return Answer(200, dumps({"results": results}))


def parse_submit_query(qs: bytes, default_timeout: float) -> tuple[bool, float] | None:
    """(wait for commit, timeout) from a query string, or None when FastAPI must answer (invalid)."""
    if not qs:
        return False, default_timeout
    if qs == b"wait=commit":
        return True, default_timeout
    wait, timeout = False, default_timeout
    try:
        pairs = parse_qsl(qs.decode("latin-1"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    if len({k for k, _ in pairs}) != len(pairs):  # a repeated parameter: FastAPI answers BAD_REQUEST
        return None
    for k, v in pairs:
        if k == "wait" and v in ("none", "commit"):
            wait = v == "commit"
        elif k == "timeout":
            try:
                timeout = float(v)
            except ValueError:
                return None
            if not 0 < timeout <= 120 or math.isnan(timeout):
                return None
        else:
            return None
    return wait, timeout


class FastPath:
    """Plain-ASGI handling of the two submission POSTs, called by the app before any Starlette
    middleware or routing. It applies the same body cap and rate limit as the middlewares; any
    request it does not take (another path, a bad query, a chunked or oversized body) goes the
    normal way, where FastAPI and the middlewares answer it; so does one whose Content-Type is not
    JSON (:mod:`anju.api.strict` answers it UNSUPPORTED_MEDIA_TYPE)."""

    def __init__(self, core: SubmitCore, limits: dict[str, int], bucket: TokenBucket | None) -> None:
        self.core = core
        self.limits = limits  # path -> body cap
        self.bucket = bucket

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        limit = self.limits.get(scope["path"])
        if limit is None:
            return False
        q = parse_submit_query(scope["query_string"], self.core.default_timeout)
        if q is None:
            return False
        declared: int | None = None
        types: list[str] = []
        for name, value in scope["headers"]:
            if name == b"content-length" and declared is None:
                declared = int(value) if value.isdigit() else -1
            elif name == b"content-type":
                types.append(value.decode("latin-1"))
        if declared is None or not 0 <= declared <= limit or json_media_type(types) is not None:
            return False  # (no length, too long, or not JSON: the middlewares and routes answer it)
        if self.bucket is not None:
            client = scope.get("client")
            who = client[0] if client else "unknown"
            wait = self.bucket.take(who)
            if wait > 0:
                await send_answer(send, _error_answer(rate_limited(who, wait)))
                return True
        body = await _read_body(receive)
        try:
            if scope["path"] == TXS_PATH:
                ans = await self.core.one(body, q[0], q[1])
            else:
                ans = await self.core.batch(body, q[0], q[1])
        except Exception as exc:  # a defect: the contract's JSON error (as the app's handler gives), not a bare 500
            log.exception("submission failed")
            ans = Answer(500, error_body("INTERNAL_ERROR", f"the server failed on this request: {type(exc).__name__}"))
        await send_answer(send, ans)
        return True


async def _read_body(receive: Receive) -> bytes:
    msg = await receive()
    body: bytes = msg.get("body", b"")
    if not msg.get("more_body", False):
        return body
    parts = [body]
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            break
        parts.append(msg.get("body", b""))
        if not msg.get("more_body", False):
            break
    return b"".join(parts)


_JSON = (b"content-type", b"application/json")


async def send_answer(send: Send, ans: Answer) -> None:
    headers = [_JSON, (b"content-length", b"%d" % len(ans.body)), *ans.headers]
    await send({"type": "http.response.start", "status": ans.status, "headers": headers})
    await send({"type": "http.response.body", "body": ans.body})
