"""Serve one ledger's API and portal together: ``python -m anju.web.devserver --data DIR --port N``.

Until ``anju serve`` mounts the portal itself this is how the browser tests (and a developer)
start a real server: the HTTP API app of :func:`anju.api.create_app` with :func:`mount_web` on it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from anju.chain.node import Node
from anju.web.portal import mount_web


def build_app(data: Path) -> FastAPI:
    node = Node(data, verify_workers=0, block_interval=0.02)
    from anju.api.app import create_app

    app = create_app(node)
    if getattr(app.state, "anju_web", None) is None:  # the API may already mount the portal
        mount_web(app, node, data_dir=data)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args()
    uvicorn.run(build_app(args.data), host=args.host, port=args.port, log_level="warning", proxy_headers=False)


if __name__ == "__main__":
    main()
