"""The HTTP API (docs/PROTOCOL.md, section "HTTP API"): ``create_app(node)`` serves ``/api/v1``.

Reads run on worker threads, each inside one SQLite snapshot (:mod:`anju.api.snapshot`), so a
proof always matches the checkpoint returned with it. Submissions never block the event loop:
the node's future is awaited through ``asyncio.wrap_future`` under ``asyncio.shield`` (a client
that goes away does not cancel its accepted transaction).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import re
from collections.abc import AsyncIterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, FastAPI, Header, Path, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.responses import Response

from anju import __version__
from anju.api import errors, schemas
from anju.api.events import Broadcaster, EventFilter, sse_frame
from anju.api.limits import BodySizeLimit, RateLimit, TokenBucket
from anju.api.openapi import install_openapi, submit_request_body
from anju.api.snapshot import REGISTRY_INDEXES, Reader, ensure_indexes
from anju.chain.node import Node, Receipt
from anju.crypto.tx import parse
from anju.errors import AnjuError, TxRejected

API = "/api/v1"
HEX64 = re.compile(r"[0-9a-f]{64}")
REJECTED_KEEP = 100_000


@dataclass(frozen=True, slots=True)
class Settings:
    """Limits of one server; defaults suit a single-machine node."""

    max_body_bytes: int = 256 * 1024
    rate: float = 2000.0  # requests per second per client
    burst: float = 4000.0
    wait_timeout_s: float = 30.0
    manage_node: bool = True  # start the node on startup, stop it (committing everything) on shutdown


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def ok(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


def _receipt_json(r: Receipt) -> dict[str, Any]:
    return {
        "txid": r.txid, "status": "committed", "height": r.height, "index": r.index,
        "events": [{"kind": e.kind, "data": dict(e.data), "parties": list(e.parties), "units": list(e.units),
                    "listings": list(e.listings)} for e in r.events],
    }


class Submissions:
    """Transactions accepted and not yet settled, and recent rejections (for ``GET /txs/{id}``)."""

    def __init__(self) -> None:
        self.pending: dict[str, Future[Receipt]] = {}
        self.rejected: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()

    def track(self, loop: asyncio.AbstractEventLoop, txid: str, fut: Future[Receipt]) -> None:
        self.pending[txid] = fut

        def settled(f: Future[Receipt]) -> None:
            loop.call_soon_threadsafe(self._settle, txid, f)

        fut.add_done_callback(settled)

    def _settle(self, txid: str, fut: Future[Receipt]) -> None:
        if self.pending.get(txid) is fut:
            del self.pending[txid]
        exc = None if fut.cancelled() else fut.exception()
        if isinstance(exc, TxRejected):
            self.rejected[txid] = exc.to_json()["error"]
            while len(self.rejected) > REJECTED_KEEP:
                self.rejected.popitem(last=False)


def create_app(node: Node, settings: Settings | None = None) -> FastAPI:
    """The ASGI application serving ``node``; see :class:`Settings` for the limits."""
    cfg = settings or Settings()
    reader = Reader(node.store.path)
    hub = Broadcaster(reader)
    subs = Submissions()
    app_name = str(getattr(node.executor.machine, "name", "kv"))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if app_name != "kv":
            await asyncio.to_thread(ensure_indexes, node.store.path, REGISTRY_INDEXES)
        await hub.start()
        node.on_commit(hub.on_commit)
        if cfg.manage_node:
            node.start()
        try:
            yield
        finally:
            await hub.stop()
            if cfg.manage_node:
                await asyncio.to_thread(node.stop)  # commits everything already accepted

    app = FastAPI(
        title="Anju API", version=__version__, lifespan=lifespan,
        description="Housing-rental registry on a verifiable ledger. Errors: {error: {code, message, details}}.",
    )
    app.state.node = node
    app.state.reader = reader
    app.state.broadcaster = hub
    app.state.settings = cfg
    errors.install(app)
    r = APIRouter(prefix=API, responses=schemas.ERRORS)

    # -- node and checkpoints -------------------------------------------------------------------
    @r.get("/node", response_model=schemas.NodeInfo, operation_id="get_node")
    def get_node() -> Response:
        """Chain id, checkpoint origin, verifier key, height, tree size and version."""
        with reader.snapshot() as s:
            h = s.head
        return ok({
            "chain_id": node.chain_id, "origin": node.chain_id, "verifier_key": node.verifier_key,
            "app": app_name, "version": __version__, "height": h.height, "tree_size": h.log_size,
            "log_root": b64(h.log_root), "state_root": b64(h.state_root), "time": h.time, "checkpoint": h.checkpoint,
        })

    @r.get("/checkpoint", response_class=PlainTextResponse, operation_id="get_checkpoint",
           responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                            "description": "the latest signed checkpoint note (C2SP signed-note)"}})
    def get_checkpoint() -> Response:
        """The latest signed checkpoint note."""
        with reader.snapshot() as s:
            note = s.head.checkpoint
        return PlainTextResponse(note)

    @r.get("/blocks/{height}", response_model=schemas.Block, operation_id="get_block")
    def get_block(height: Annotated[int, Path(ge=0, le=2**53 - 1)]) -> Response:
        """A block: height, time, transaction ids in order, roots and its signed checkpoint."""
        with reader.snapshot() as s:
            b = s.block(height)
            if b is None:
                raise AnjuError("NOT_FOUND", f"no block at height {height}", height=height, tip=s.head.height)
            txids = s.block_txids(height)
        return ok({"height": b.height, "time": b.time, "first_index": b.first_index, "tx_count": b.tx_count,
                   "txids": txids, "log_size": b.log_size, "log_root": b64(b.log_root),
                   "state_root": b64(b.state_root), "checkpoint": b.checkpoint})

    @r.get("/proofs/consistency", response_model=schemas.ConsistencyProof, operation_id="get_consistency_proof")
    def get_consistency(
        first: Annotated[int, Query(ge=1, le=2**53 - 1, description="the smaller tree size")],
        second: Annotated[int | None, Query(ge=1, le=2**53 - 1, description="the larger; default latest")] = None,
    ) -> Response:
        """RFC 9162 consistency proof between two tree sizes."""
        with reader.snapshot() as s:
            size = s.head.log_size
            hi = size if second is None else second
            if not first <= hi <= size:
                raise AnjuError("BAD_REQUEST", f"need 1 <= first <= second <= {size}", first=first,
                                second=hi, tree_size=size)
            proof = s.consistency_proof(first, hi)
            note = s.head.checkpoint
        return ok({"first": first, "second": hi, "hashes": [b64(h) for h in proof], "checkpoint": note})

    # -- transactions -----------------------------------------------------------------------------
    @r.post("/txs", status_code=202, operation_id="submit_tx",
            responses={200: {"model": schemas.SubmitResult, "description": "committed (with ?wait=commit)"},
                       202: {"model": schemas.SubmitResult, "description": "accepted, pending"},
                       409: {"model": schemas.ErrorBody}, 403: {"model": schemas.ErrorBody},
                       504: {"model": schemas.ErrorBody}},
            openapi_extra={"requestBody": submit_request_body(app_name)})
    async def submit_tx(
        request: Request,
        wait: Annotated[Literal["none", "commit"], Query(description="commit: answer once committed")] = "none",
        timeout: Annotated[float, Query(gt=0, le=120, description="seconds to wait for commit")] = cfg.wait_timeout_s,
    ) -> Response:
        """Submit a signed envelope; a rejected one gets its error code and changes nothing."""
        raw = await request.body()
        tx = parse(raw)
        if tx.chain != node.chain_id:
            raise TxRejected("WRONG_CHAIN", f"body.chain is {tx.chain!r}; this ledger is {node.chain_id!r}",
                             expected=node.chain_id)
        if tx.txid in subs.pending:
            raise TxRejected("DUPLICATE_TX", "this transaction is already pending", txid=tx.txid)
        with reader.snapshot() as s:
            if s.tx(tx.txid) is not None:
                raise TxRejected("DUPLICATE_TX", "this transaction is already committed", txid=tx.txid)
        fut = node.submit(raw)  # Overloaded (MEMPOOL_FULL / SHUTTING_DOWN) or TX_TOO_LARGE at once
        subs.track(asyncio.get_running_loop(), tx.txid, fut)
        if wait != "commit":
            return ok({"txid": tx.txid, "status": "pending"}, 202)
        try:
            receipt = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), timeout)
        except TimeoutError:
            raise AnjuError("TIMEOUT", f"not committed within {timeout} s; it may still commit",
                            txid=tx.txid) from None
        return ok(_receipt_json(receipt), 200)

    @r.get("/txs/{txid}", response_model=schemas.TxStatus, operation_id="get_tx")
    def get_tx(txid: Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="hex transaction id")]) -> Response:
        """Status; once committed, the log index, leaf, inclusion proof and the checkpoint it is proven against."""
        with reader.snapshot() as s:
            found = s.tx(txid)
            if found is not None:
                idx, height, leaf = found
                head = s.head
                proof = s.inclusion_proof(idx, head.log_size)
                return ok({
                    "txid": txid, "status": "committed", "height": height, "index": idx,
                    "envelope": orjson.loads(leaf), "leaf": b64(leaf),
                    "inclusion": {"index": idx, "tree_size": head.log_size, "hashes": [b64(h) for h in proof]},
                    "checkpoint": head.checkpoint,
                })
        if txid in subs.pending:
            return ok({"txid": txid, "status": "pending"})
        err = subs.rejected.get(txid)
        if err is not None:
            return ok({"txid": txid, "status": "rejected", "error": err})
        raise AnjuError("NOT_FOUND", "no such transaction (never seen, or rejected long ago)", txid=txid)

    # -- state ------------------------------------------------------------------------------------
    @r.get("/state/{key:path}", response_model=schemas.StateAnswer, operation_id="get_state")
    def get_state(key: Annotated[str, Path(min_length=1, max_length=256)]) -> Response:
        """A key's value (null when absent) with a state proof against the returned checkpoint."""
        if not key.isascii() or not key.isprintable():
            raise AnjuError("BAD_REQUEST", "state keys are printable ASCII", key=key)
        with reader.snapshot() as s:
            raw = s.state_get(key)
            proof = s.state_proof(key)
            head = s.head
        return ok({"key": key, "value": None if raw is None else orjson.loads(raw), "proof": proof.to_json(),
                   "height": head.height, "checkpoint": head.checkpoint})

    # -- events -----------------------------------------------------------------------------------
    @r.get("/events", operation_id="get_events",
           responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}},
                                        "application/json": {"schema": schemas.EventsPage.model_json_schema(
                                            ref_template="#/components/schemas/{model}")}},
                            "description": "SSE stream (id = event id), or one JSON page with ?format=json"}})
    async def get_events(
        request: Request,
        party: Annotated[list[str] | None, Query(description="party keys (any of; comma-separated allowed)")] = None,
        unit: Annotated[list[str] | None, Query(description="unit ids")] = None,
        listing: Annotated[list[str] | None, Query(description="listing ids")] = None,
        kind: Annotated[list[str] | None, Query(description="event kinds; 'lease.' matches a prefix")] = None,
        after: Annotated[int | None, Query(ge=0, le=2**53 - 1, description="resume after this event id")] = None,
        format: Annotated[Literal["sse", "json"], Query(description="json: one page, no stream")] = "sse",
        limit: Annotated[int, Query(ge=1, le=1000, description="page size with format=json")] = 100,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> Response:
        """Committed events, filtered; resumable with Last-Event-ID or ?after=."""
        flt = EventFilter(EventFilter.parse(party), EventFilter.parse(unit), EventFilter.parse(listing),
                          EventFilter.parse(kind))
        start = after
        if last_event_id is not None:
            try:
                start = int(last_event_id)
            except ValueError:
                raise AnjuError("BAD_REQUEST", "Last-Event-ID must be an event id") from None
        if format == "json":
            pos = start or 0
            out: list[dict[str, Any]] = []
            while len(out) < limit:
                rows = await asyncio.to_thread(reader.events_after, pos, 1000)
                if not rows:
                    break
                pos = rows[-1]["id"]
                out.extend(row for row in rows if flt.match(row))
            out = out[:limit]
            return ok({"events": out, "last_id": out[-1]["id"] if len(out) == limit else pos})

        async def frames() -> AsyncIterator[bytes]:
            yield b"retry: 1000\n\n"
            async for row in hub.stream(flt, start):
                yield sse_frame(row)

        return StreamingResponse(frames(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.include_router(r)
    from anju.api.registry_routes import registry_router

    if app_name != "kv":
        app.include_router(registry_router(node, reader))
    install_openapi(app, app_name)
    app.add_middleware(BodySizeLimit, max_bytes=cfg.max_body_bytes)
    if cfg.rate > 0:
        app.add_middleware(RateLimit, bucket=TokenBucket(cfg.rate, cfg.burst))
    return app
