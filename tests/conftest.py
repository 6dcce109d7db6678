"""Shared fixtures: signed kv transactions and fresh ledgers in temporary directories."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from anju.chain.node import DB_NAME, Node, init_ledger
from anju.crypto import tx as txmod
from anju.crypto.keys import SigningKey
from anju.ledger.store import Store

CHAIN = "anju-test-1"
GENESIS_TIME = "2026-01-01T00:00:00.000Z"


def kv_put(key: SigningKey, seq: int, k: str = "a", v: str = "b", chain: str = CHAIN, **extra: Any) -> bytes:
    body = {"chain": chain, "kind": "kv.put", "signer": key.public_hex, "seq": seq, "key": k, "value": v, **extra}
    return orjson.dumps(txmod.sign(body, [key]))


def stop_in_time(node: Node, seconds: float = 60) -> None:
    """``node.stop()`` in a thread, which must end within ``seconds`` (a hung stop fails the test)."""
    stopper = threading.Thread(target=node.stop)
    stopper.start()
    stopper.join(seconds)
    assert not stopper.is_alive(), "stop() hung"


def only_committed(data: Path, txid: str) -> None:
    """The ledger in ``data`` holds ``txid`` and no other transaction."""
    store = Store(data / DB_NAME)
    try:
        assert store.tx_by_id(bytes.fromhex(txid)) is not None
        assert store.execute("SELECT count(*) FROM txs") == [(1,)]
    finally:
        store.close()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a child orphaned to init may stay one for a while)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` forked and that live (a node's verifiers and block writers)."""
    found: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found


def all_gone(pids: list[int], seconds: float = 30) -> bool:
    """Wait (up to ``seconds``) until none of ``pids`` lives; whether none does."""
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(p) for p in pids)


def raw_http_server(answer: Callable[[bytes], bytes]) -> tuple[str, socket.socket]:
    """A TCP server for clients' tests of what no real node answers: each connection's request is
    read whole (its head, then a body of its Content-Length), ``answer(head)`` is written back as
    it is (maybe nothing, maybe no HTTP at all), and the connection closed; for ever, until the
    socket returned is closed. Returns its base URL and that socket."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:  # the whole request, so that closing resets nothing
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (int(h.split(b":")[1]) for h in head.lower().split(b"\r\n") if h.startswith(b"content-length:")), 0
                )
                while len(body) < length and (chunk := conn.recv(65536)):
                    body += chunk
                conn.sendall(answer(head))

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{srv.getsockname()[1]}", srv


@pytest.fixture
def kv_data(tmp_path: Path) -> Path:
    return init_ledger(tmp_path / "node", chain_id=CHAIN, app="kv", genesis_time=GENESIS_TIME)


@pytest.fixture
def kv_node(kv_data: Path) -> Iterator[Node]:
    node = Node(kv_data, verify_workers=1, block_interval=0.02)
    node.start()
    yield node
    node.stop()


@contextlib.contextmanager
def node_in_another_process(data: Path, *, start: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """A node on ``data`` in a child process (started, with its worker processes, if ``start``),
    killed with SIGKILL on leaving: the directory is in use by another process meanwhile."""
    run = "Node(sys.argv[1], verify_workers=2).start()" if start else "Node(sys.argv[1], verify_workers=0)"
    code = f"import sys, time\nfrom anju.chain.node import Node\n{run}\nprint('open', flush=True)\ntime.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(data)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"open"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def small_kv_ledger(data: Path) -> Path:
    """A kv ledger of 40 transactions by two signers in blocks of at most 7 (the verify tests' own)."""
    init_ledger(data, chain_id="anju-test-1", app="kv", genesis_time="2026-01-01T00:00:00.000Z")
    a, b = SigningKey(b"a" * 32), SigningKey(b"b" * 32)
    with Node(data, verify_workers=0, block_interval=0.01, max_block_txs=7) as node:
        futs = node.submit_many([kv_put(a, i, k=f"k{i % 5}", v=str(i)) for i in range(1, 31)])
        futs += node.submit_many([kv_put(b, i, k=f"b{i}") for i in range(1, 11)])
        for f in futs:
            f.result(timeout=30)
    return data
