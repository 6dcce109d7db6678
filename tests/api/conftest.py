"""A real server process on a free port, over real SQLite files."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anju.chain.node import init_ledger

ROOT = Path(__file__).resolve().parents[2]
CHAIN = "anju-api-test"
JSON_BODY = {"Content-Type": "application/json"}
"""The header every request with a body sends (anything else is UNSUPPORTED_MEDIA_TYPE)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data: Path, *args: str, cli: bool = False, session: bool = False) -> None:
        """``session``: the server in a process group of its own (with its node's children), as
        systemd or a shell job runs it: ``os.killpg(server.proc.pid, sig)`` signals them all."""
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if cli:
            cmd = [
                sys.executable,
                "-c",
                "from anju.cli.main import app; app()",
                "serve",
                "--data",
                str(data),
                "--port",
                str(self.port),
                *args,
            ]
        else:
            cmd = [sys.executable, str(ROOT / "tests/api/server_main.py"), str(data), str(self.port), *args]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        self.log = data.parent / f"server-{self.port}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=session)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/api/v1/node", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                out = self.log.read_text(errors="replace")
                raise RuntimeError(f"server did not start: {out}")
            time.sleep(0.1)
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.vkey: str = self.http.get("/api/v1/node").json()["verifier_key"]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


@pytest.fixture
def kv_ledger(tmp_path: Path) -> Path:
    return init_ledger(tmp_path / "kv", chain_id=CHAIN, app="kv")


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(data: Path, *args: str, **kw: Any) -> Server:
        s = Server(data, *args, **kw)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def kv_server(kv_ledger: Path, start_server: Callable[..., Server]) -> Server:
    return start_server(kv_ledger)


@pytest.fixture
def plain_http(tmp_path: Path) -> Iterator[str]:
    """``python -m http.server`` over a directory where /api/v1/node is an HTML page."""
    root = tmp_path / "www"
    (root / "api" / "v1").mkdir(parents=True)
    (root / "api" / "v1" / "node").write_text("<html>not a node</html>")
    (root / "api" / "v1" / "checkpoint").write_text("not a checkpoint")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "http.server did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
