"""Serve one ledger's API and portal together: ``python -m anju.web.devserver --data DIR --port N``.

What ``anju serve`` runs, with a quicker node (no verifier processes, 20 ms blocks) for the portal's
tests: the HTTP API app of :func:`anju.api.create_app` with :func:`mount_web` on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastapi import FastAPI

from anju.api.http import cannot_listen, listen, serve
from anju.chain.node import Node
from anju.web.portal import mount_web
from anju.web.sessions import MAX_SESSIONS


def build_app(data: Path, public_url: str | None = None, max_sessions: int = MAX_SESSIONS) -> FastAPI:
    node = Node(data, verify_workers=0, block_interval=0.02)
    from anju.api.app import create_app

    app = create_app(node)
    mount_web(app, node, data_dir=data, public_url=public_url, max_sessions=max_sessions)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--public-url", default=None)
    ap.add_argument("--max-sessions", type=int, default=MAX_SESSIONS)
    args = ap.parse_args()
    try:  # bound first, as `anju serve` does: a busy port is one line, before any work
        sockets = listen(args.host, args.port)
    except OSError as exc:
        sys.exit(cannot_listen(args.host, args.port, exc))
    app = build_app(args.data, args.public_url, args.max_sessions)
    serve(app, sockets, log_level="warning", proxy_headers=False)


if __name__ == "__main__":
    main()
