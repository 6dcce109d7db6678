"""A real server process for the API tests: ``python tests/api/server_main.py DATA PORT [options]``.

Like ``anju serve``, plus test controls: a clock read from a file (so demo transactions dated in
the past can be replayed through HTTP), a lying mode that alters answers after the node
signed them (the SDK must refuse them), and a lower limit of the single history bundle (so that
small histories are "large").
"""

from __future__ import annotations

import argparse
import base64
import threading
from pathlib import Path

import orjson
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anju.api import bundles
from anju.api.app import Settings, create_app
from anju.api.http import UVICORN_HTTP
from anju.chain.node import Node, now_rfc3339


class Liar:
    """Alters JSON answers: a state value, a proof hash, or a transaction leaf; or (``stale``)
    answers every GET of a path with its first proven answer, genuinely signed but old; or
    (``other_key``) answers ``/units/<id>`` with the genuine proof that ``unit/NOPE`` is absent."""

    def __init__(self, app: ASGIApp, mode: str) -> None:
        self.app = app
        self.mode = mode
        self.first: dict[str, bytes] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or "/api/v1/" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        if self.mode == "other_key" and scope["path"].startswith("/api/v1/units/"):
            scope = {**scope, "path": "/api/v1/state/unit/NOPE", "raw_path": b"/api/v1/state/unit/NOPE"}
        chunks: list[bytes] = []
        start: Message = {}

        async def capture(msg: Message) -> None:
            nonlocal start
            if msg["type"] == "http.response.start":
                start = msg
            else:
                chunks.append(msg.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if dict(start.get("headers", [])).get(b"content-type", b"").startswith(b"application/json"):
            body = self.lie(scope["path"], body)
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def lie(self, path: str, body: bytes) -> bytes:
        doc = orjson.loads(body)
        if not isinstance(doc, dict) or "error" in doc:
            return body
        if self.mode == "stale" and "checkpoint" in doc:
            return self.first.setdefault(path, body)
        if self.mode == "value" and "value" in doc and isinstance(doc["value"], str):
            doc["value"] = doc["value"] + "!"
        elif self.mode == "value" and path.startswith("/api/v1/codes/"):
            for entry in doc["state"]:
                if entry["key"].startswith("listing/"):
                    entry["value"]["rent"] = entry["value"]["rent"] // 2  # "half price!"
        elif self.mode == "proof" and "inclusion" in doc and doc["inclusion"]["hashes"]:
            h = bytearray(base64.b64decode(doc["inclusion"]["hashes"][0]))
            h[0] ^= 1
            doc["inclusion"]["hashes"][0] = base64.b64encode(bytes(h)).decode()
        elif self.mode == "leaf" and "leaf" in doc and doc.get("envelope"):
            env = doc["envelope"]
            env["body"]["value"] = "forged"
            doc["leaf"] = base64.b64encode(orjson.dumps(env, option=orjson.OPT_SORT_KEYS)).decode()
        return orjson.dumps(doc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("port", type=int)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--burst", type=float, default=100)
    ap.add_argument("--max-body", type=int, default=256 * 1024)
    ap.add_argument("--mempool", type=int, default=100_000)
    ap.add_argument("--block-interval", type=float, default=0.05)
    ap.add_argument("--clock-file", type=Path)
    ap.add_argument("--lie", default="")
    ap.add_argument("--events-scan", type=int, default=10_000)
    ap.add_argument("--streams-per-client", type=int, default=256)
    ap.add_argument("--streams-total", type=int, default=10_000)
    ap.add_argument("--stream-stall", type=float, default=30.0)
    ap.add_argument("--history-max-txs", type=int, default=0, help="lower the single history bundle's limit")
    ap.add_argument("--history-part-entries", type=int, default=0, help="smaller parts of a history in parts")
    ap.add_argument("--history-parts-at-once", type=int, default=-1, help="histories in parts built at once")
    ap.add_argument("--web", action="store_true", help="mount the portal too")
    a = ap.parse_args()
    if a.history_parts_at_once >= 0:  # (0: every build answered BUSY, as when others are under way)
        bundles._parts_builds = threading.BoundedSemaphore(a.history_parts_at_once)
    if a.history_max_txs:
        bundles.HISTORY_MAX_TXS = a.history_max_txs  # (histories past it are served in parts only)
    if a.history_part_entries:
        bundles.PART_ENTRIES = a.history_part_entries
    clock = now_rfc3339
    if a.clock_file is not None:
        path = a.clock_file

        def clock() -> str:
            return path.read_text().strip() if path.exists() else now_rfc3339()

    node = Node(a.data, mempool_limit=a.mempool, block_interval=a.block_interval, clock=clock)
    api = create_app(
        node,
        Settings(
            max_body_bytes=a.max_body,
            rate=a.rate,
            burst=a.burst,
            events_scan=a.events_scan,
            streams_per_client=a.streams_per_client,
            streams_total=a.streams_total,
            stream_stall_s=a.stream_stall,
        ),
    )
    if a.web:
        from anju.web.portal import mount_web

        mount_web(api, node, data_dir=a.data)
    app: ASGIApp = api
    if a.lie:
        app = Liar(app, a.lie)
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning", timeout_graceful_shutdown=3, **UVICORN_HTTP)


if __name__ == "__main__":
    main()
