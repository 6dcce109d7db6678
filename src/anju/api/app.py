"""The HTTP API (docs/PROTOCOL.md, section "HTTP API"): ``create_app(node)`` serves ``/api/v1``.

Reads run on worker threads, each inside one SQLite snapshot (:mod:`anju.api.snapshot`), so a
proof always matches the checkpoint returned with it. Submissions (``POST /txs`` and
``POST /txs/batch``) take a plain-ASGI fast path (:mod:`anju.api.submit`): one parse on the loop,
the parsed transactions handed to :meth:`Node.submit_parsed_to`, settlement delivered to the loop
once per block.
A client that goes away does not cancel its accepted transaction.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from anju import __version__
from anju.api import errors, schemas
from anju.api.events import STALL_S, Broadcaster, EventFilter, SSEResponse
from anju.api.limits import BodySizeLimit, RateLimit, TokenBucket, client_group
from anju.api.openapi import batch_request_body, install_openapi, submit_request_body
from anju.api.snapshot import REGISTRY_INDEXES, Reader, ensure_indexes
from anju.api.strict import api_request
from anju.api.submit import BATCH_PATH, TXS_PATH, Answer, Committed, FastPath, Submissions, SubmitCore
from anju.chain.node import Node
from anju.errors import AnjuError, Overloaded

API = "/api/v1"
HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Limits of one server; defaults suit a single-machine node."""

    max_body_bytes: int = 256 * 1024
    max_batch_bytes: int = 8 * 1024 * 1024  # POST /txs/batch (up to 1000 envelopes)
    rate: float = 2000.0  # requests per second per client
    burst: float = 4000.0
    wait_timeout_s: float = 30.0
    manage_node: bool = True  # start the node on startup, stop it (committing everything) on shutdown
    events_scan: int = 10_000  # events one GET /events?format=json reads at most, matching or not
    streams_per_client: int = 256  # open event streams per client address (each holds a socket and a filter)
    streams_total: int = 10_000  # open event streams in all (every committed block is offered to each)
    stream_stall_s: float = STALL_S  # a stream whose client takes nothing for this long is dropped


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _decimal(text: str, what: str) -> int:
    """An integer 0..2^53-1 written in ASCII digits only; BAD_REQUEST otherwise."""
    if not (text.isascii() and text.isdigit()) or len(text) > 16 or int(text) > 2**53 - 1:
        raise AnjuError("BAD_REQUEST", f"{what} must be an integer 0..2^53-1 in decimal digits", value=text[:40])
    return int(text)


def ok(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json")


def _response(ans: Answer) -> Response:
    headers = {k.decode(): v.decode() for k, v in ans.headers}
    return Response(ans.body, status_code=ans.status, media_type="application/json", headers=headers)


class AnjuAPI(FastAPI):
    """FastAPI, with the submission fast path taken before any middleware or routing."""

    fast: FastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast
        if fast is not None and await fast.handle(scope, receive, send):
            return
        await super().__call__(scope, receive, send)


def create_app(node: Node, settings: Settings | None = None) -> FastAPI:
    """The ASGI application serving ``node``; see :class:`Settings` for the limits."""
    cfg = settings or Settings()
    reader = Reader(node.store.path)
    hub = Broadcaster(reader, cfg.stream_stall_s)
    subs = Submissions()
    committed = Committed(node.store.path)
    core = SubmitCore(node, subs, committed, cfg.wait_timeout_s)
    app_name = str(getattr(node.executor.machine, "name", "kv"))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if app_name != "kv":
            await asyncio.to_thread(ensure_indexes, node.store.path, REGISTRY_INDEXES)
        subs.bind(asyncio.get_running_loop())
        await hub.start()
        node.on_commit(hub.on_commit)
        if cfg.manage_node:
            node.start()
        # Node.start() forks its verifier and writer processes before uvicorn accepts connections, so
        # they never inherit client connections (which would then stay half-open); a listening socket
        # bound beforehand (anju.api.http.listen) is closed in them.
        try:
            yield
        finally:
            await hub.stop()
            if cfg.manage_node:
                await asyncio.to_thread(node.stop)  # commits everything already accepted
            committed.close()

    app = AnjuAPI(
        title="Anju API",
        version=__version__,
        lifespan=lifespan,
        description="Housing-rental registry on a verifiable ledger. Errors: {error: {code, message, details}}.",
        # No /docs or /redoc: FastAPI's pages load unpinned scripts from a CDN, which would run on
        # the portal's origin (signed-in sessions). The document itself is /openapi.json.
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # /node/ is NOT_FOUND, not a redirect to /node
    )
    app.state.node = node
    app.state.reader = reader
    app.state.broadcaster = hub
    app.state.settings = cfg
    errors.install(app)
    r = APIRouter(prefix=API, responses=schemas.ERRORS, dependencies=[Depends(api_request)])

    def accepting() -> bool:
        try:
            node.check_accepting()
        except Overloaded:
            return False
        return True

    # -- node and checkpoints -------------------------------------------------------------------
    @r.get("/node", response_model=schemas.NodeInfo, operation_id="get_node")
    def get_node() -> Response:
        """Chain id, checkpoint origin, verifier key (and the key history), height, tree size and version."""
        with reader.snapshot() as s:
            h = s.head
        return ok(
            {
                "chain_id": node.chain_id,
                "origin": node.chain_id,
                "verifier_key": node.verifier_key,
                "verifier_keys": node.verifier_keys,
                "handovers": node.handovers,
                "app": app_name,
                "version": __version__,
                "height": h.height,
                "tree_size": h.log_size,
                "log_root": b64(h.log_root),
                "state_root": b64(h.state_root),
                "time": h.time,
                "checkpoint": h.checkpoint,
                "accepting": accepting(),
            }
        )

    @r.get("/health", response_model=schemas.Health, operation_id="get_health")
    def get_health() -> Response:
        """For load balancers and supervisors: 200 while the node takes transactions and its ledger
        reads; 503 SHUTTING_DOWN (with Retry-After) once it stopped after a failure (restart it)."""
        node.check_accepting()
        with reader.snapshot() as s:
            h = s.head
        return ok({"status": "ok", "height": h.height, "tree_size": h.log_size, "time": h.time})

    @r.head("/health", include_in_schema=False)
    def head_health() -> Response:
        """``GET /health``'s status and headers (load balancers that probe with HEAD)."""
        return get_health()

    @r.get(
        "/checkpoint",
        response_class=PlainTextResponse,
        operation_id="get_checkpoint",
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "the latest signed checkpoint note (C2SP signed-note)",
            }
        },
    )
    def get_checkpoint() -> Response:
        """The latest signed checkpoint note."""
        with reader.snapshot() as s:
            note = s.head.checkpoint
        return PlainTextResponse(note)

    @r.get("/blocks/{height}", response_model=schemas.Block, operation_id="get_block")
    def get_block(
        height: Annotated[str, Path(pattern=r"^[0-9]{1,16}$", description="a height, 0..2^53-1")],
    ) -> Response:
        """A block: height, time, transaction ids in order, roots and its signed checkpoint."""
        h = _decimal(height, "height")  # digits only: not "1_0", "+1", " 1" or "1\n"
        with reader.snapshot() as s:
            b = s.block(h)
            if b is None:
                raise AnjuError("NOT_FOUND", f"no block at height {h}", height=h, tip=s.head.height)
            txids = s.block_txids(h)
        return ok(
            {
                "height": b.height,
                "time": b.time,
                "first_index": b.first_index,
                "tx_count": b.tx_count,
                "txids": txids,
                "log_size": b.log_size,
                "log_root": b64(b.log_root),
                "state_root": b64(b.state_root),
                "checkpoint": b.checkpoint,
            }
        )

    @r.get("/proofs/consistency", response_model=schemas.ConsistencyProof, operation_id="get_consistency_proof")
    def get_consistency(
        first: Annotated[schemas.Digits, Query(ge=1, le=2**53 - 1, description="the smaller tree size")],
        second: Annotated[
            schemas.Digits | None, Query(ge=1, le=2**53 - 1, description="the larger; default latest")
        ] = None,
    ) -> Response:
        """RFC 9162 consistency proof between two tree sizes."""
        with reader.snapshot() as s:
            size = s.head.log_size
            hi = size if second is None else second
            if not first <= hi <= size:
                raise AnjuError(
                    "BAD_REQUEST", f"need 1 <= first <= second <= {size}", first=first, second=hi, tree_size=size
                )
            proof = s.consistency_proof(first, hi)
            note = s.head.checkpoint
        return ok({"first": first, "second": hi, "hashes": [b64(h) for h in proof], "checkpoint": note})

    # -- transactions -----------------------------------------------------------------------------
    @r.post(
        "/txs",
        status_code=202,
        operation_id="submit_tx",
        responses={
            200: {"model": schemas.SubmitResult, "description": "committed (with ?wait=commit)"},
            202: {"model": schemas.SubmitResult, "description": "accepted, pending"},
            409: {"model": schemas.ErrorBody},
            403: {"model": schemas.ErrorBody},
            504: {"model": schemas.ErrorBody},
            415: {"model": schemas.ErrorBody, "description": "Content-Type is not application/json"},
        },
        openapi_extra={"requestBody": submit_request_body(app_name)},
    )
    async def submit_tx(
        request: Request,
        wait: Annotated[Literal["none", "commit"], Query(description="commit: answer once committed")] = "none",
        timeout: Annotated[float, Query(gt=0, le=120, description="seconds to wait for commit")] = cfg.wait_timeout_s,
    ) -> Response:
        """Submit a signed envelope; a rejected one gets its error code and changes nothing."""
        return _response(await core.one(await request.body(), wait == "commit", timeout))

    @r.post(
        "/txs/batch",
        status_code=200,
        operation_id="submit_txs",
        response_model=schemas.BatchResult,
        responses={
            415: {"model": schemas.ErrorBody, "description": "Content-Type is not application/json"},
            503: {"model": schemas.ErrorBody},
        },
        openapi_extra={"requestBody": batch_request_body(app_name)},
    )
    async def submit_txs(
        request: Request,
        wait: Annotated[Literal["none", "commit"], Query(description="commit: answer once all are settled")] = "none",
        timeout: Annotated[float, Query(gt=0, le=120, description="seconds to wait for commit")] = cfg.wait_timeout_s,
    ) -> Response:
        """Submit up to 1000 signed envelopes (a JSON array); one result per envelope, in order.

        Each item is checked and queued as if POSTed alone (its own rejection does not affect the
        others); MEMPOOL_FULL / SHUTTING_DOWN refuse the whole batch (503, nothing queued)."""
        return _response(await core.batch(await request.body(), wait == "commit", timeout))

    @r.get("/txs/{txid}", response_model=schemas.TxStatus, operation_id="get_tx")
    def get_tx(txid: Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="hex transaction id")]) -> Response:
        """Status; once committed, the log index, leaf, inclusion proof and the checkpoint it is proven against."""
        was_pending = txid in subs.pending  # before the snapshot: it may commit (and leave pending) meanwhile
        with reader.snapshot() as s:
            found = s.tx(txid)
            if found is not None:
                idx, height, leaf = found
                head = s.head
                proof = s.inclusion_proof(idx, head.log_size)
                return ok(
                    {
                        "txid": txid,
                        "status": "committed",
                        "height": height,
                        "index": idx,
                        "envelope": orjson.loads(leaf),
                        "leaf": b64(leaf),
                        "inclusion": {"index": idx, "tree_size": head.log_size, "hashes": [b64(h) for h in proof]},
                        "checkpoint": head.checkpoint,
                        "height_proof": s.height_proof(height),
                    }
                )
        if txid in subs.pending:
            return ok({"txid": txid, "status": "pending"})
        err = subs.rejected.get(txid)
        if err is not None:
            return ok({"txid": txid, "status": "rejected", "error": err})
        if was_pending:  # committed after the snapshot was taken: still "pending" for this answer, never 404
            return ok({"txid": txid, "status": "pending"})
        raise AnjuError("NOT_FOUND", "no such transaction (never seen, or rejected long ago)", txid=txid)

    # -- state ------------------------------------------------------------------------------------
    @r.get("/state/{key:path}", response_model=schemas.StateAnswer, operation_id="get_state")
    def get_state(request: Request, key: Annotated[str, Path(min_length=1, max_length=256)]) -> Response:
        """A key's value (null when absent) with a state proof against the returned checkpoint."""
        # (The route's pattern ends with `$`, which lets a trailing newline go unmatched: compare.)
        if not key.isascii() or not key.isprintable() or not request.scope["path"].endswith("/state/" + key):
            raise AnjuError("BAD_REQUEST", "state keys are printable ASCII", key=key)
        with reader.snapshot() as s:
            raw = s.state_get(key)
            proof = s.state_proof(key)
            head = s.head
        return ok(
            {
                "key": key,
                "value": None if raw is None else orjson.loads(raw),
                "proof": proof.to_json(),
                "height": head.height,
                "checkpoint": head.checkpoint,
            }
        )

    # -- events -----------------------------------------------------------------------------------
    @r.get(
        "/events",
        operation_id="get_events",
        responses={
            200: {
                "content": {
                    "text/event-stream": {"schema": {"type": "string"}},
                    "application/json": {
                        "schema": schemas.EventsPage.model_json_schema(ref_template="#/components/schemas/{model}")
                    },
                },
                "description": "SSE stream (id = event id), or one JSON page with ?format=json",
            }
        },
    )
    async def get_events(
        request: Request,
        party: Annotated[list[str] | None, Query(description="party keys (any of; comma-separated allowed)")] = None,
        unit: Annotated[list[str] | None, Query(description="unit ids")] = None,
        listing: Annotated[list[str] | None, Query(description="listing ids")] = None,
        kind: Annotated[list[str] | None, Query(description="event kinds; 'lease.' matches a prefix")] = None,
        after: Annotated[
            schemas.Digits | None, Query(ge=0, le=2**53 - 1, description="resume after this event id")
        ] = None,
        format: Annotated[Literal["sse", "json"], Query(description="json: one page, no stream")] = "sse",
        limit: Annotated[
            schemas.Digits | None, Query(ge=1, le=1000, description="page size with format=json (default 100)")
        ] = None,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> Response:
        """Committed events, filtered; resumable with Last-Event-ID or ?after=."""
        if limit is not None and format != "json":  # a stream has no pages: the limit would be ignored
            raise AnjuError(
                "BAD_REQUEST", "limit is the page size of format=json; a stream has none", parameter="limit"
            )
        flt = EventFilter(
            EventFilter.parse(party, "party"),
            EventFilter.parse(unit, "unit"),
            EventFilter.parse(listing, "listing"),
            EventFilter.parse(kind, "kind"),
        )
        start = after
        if last_event_id is not None:
            start = _decimal(last_event_id, "Last-Event-ID")
        if start is not None and start > hub.last_id:  # (the live position may lag the store: ask it)
            newest = await asyncio.to_thread(reader.last_event_id)
            if start > newest:
                # a position no event of this ledger has reached: a stream would be silent until
                # the ledger's ids passed it, then deliver events the client never asked from there
                raise AnjuError(
                    "EVENT_ID_AHEAD",
                    f"event id {start} is past this node's newest event ({newest}): a position from another ledger?",
                    position=start,
                    newest=newest,
                )
        if format == "json":
            # One request reads at most EVENTS_SCAN rows, matching or not: a filter that matches
            # nothing must not make one cheap request walk the whole table. `more` says the scan
            # stopped before the end (ask again from last_id). A filter naming parties, units or
            # listings reads only the events that name them (event_refs).
            pos = start or 0
            out: list[dict[str, Any]] = []
            scanned, more = 0, False
            refs = flt.refs() if reader.event_index else None
            limit = 100 if limit is None else limit
            while len(out) < limit:
                if scanned >= cfg.events_scan:
                    more = True
                    break
                page = min(1000, cfg.events_scan - scanned)  # (with refs: index rows, however many they are)
                rows, read, done = await asyncio.to_thread(reader.events_page, refs, pos, page)
                scanned += read
                if rows:
                    pos = rows[-1]["id"]
                    out.extend(row for row in rows if flt.match(row))
                if done:
                    break
            if len(out) >= limit:
                out = out[:limit]
                pos, more = out[-1]["id"], True
            return ok({"events": out, "last_id": pos, "more": more})

        client = client_group(request.client.host) if request.client is not None else ""  # an IPv6 host by its /64
        if hub.open_streams >= cfg.streams_total:
            raise Overloaded(
                "STREAMS_FULL",
                f"the server holds its maximum of {cfg.streams_total} event streams; try again later",
                retry_after=30,
                limit=cfg.streams_total,
            )
        if hub.streams[client] >= cfg.streams_per_client:
            raise Overloaded(
                "RATE_LIMITED",
                f"{client} already holds {hub.streams[client]} event streams (at most {cfg.streams_per_client})",
                retry_after=5,
            )
        hub.reserve(client)  # (no await since the checks: concurrent requests cannot all pass them)
        return SSEResponse(hub, flt, start, client)

    app.include_router(r)
    from anju.api.registry_routes import registry_router

    if app_name != "kv":
        app.include_router(registry_router(node, reader))
    install_openapi(app, app_name)
    larger = {BATCH_PATH: max(cfg.max_body_bytes, cfg.max_batch_bytes)}
    app.add_middleware(BodySizeLimit, max_bytes=cfg.max_body_bytes, larger=larger)
    bucket = TokenBucket(cfg.rate, cfg.burst) if cfg.rate > 0 else None
    if bucket is not None:
        app.add_middleware(RateLimit, bucket=bucket)
    app.fast = FastPath(core, {TXS_PATH: cfg.max_body_bytes, **larger}, bucket)
    return app
