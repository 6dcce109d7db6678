"""``anju bench ledger``: signed transactions through the embedded node to durable, signed commit.

Figures (one JSON object):

- ``tps``: committed signed transactions per second, end to end (submission of envelope bytes
  → verified on both cores → sequenced → executed → stored with a signed checkpoint, fsynced);
- ``limit_tps``: in the same run, on the same transactions, only the irreducible work: Ed25519
  verification of each on both cores, plus one SQLite append (fsynced) of their bytes per block;
- ``ratio`` = tps / limit_tps;
- ``commit_p50_ms`` / ``commit_p99_ms``: submission to being inside a signed, stored checkpoint,
  measured after the throughput run on 20,000 more transactions with ``latency_inflight`` (500)
  outstanding — a load the node sustains (at saturation latency is just queue length / tps);
- ``inclusion_verify_us`` / ``state_proof_verify_us``: offline verification of one proof;
- ``tree_size``, ``rss_mb``.

The throughput run keeps :data:`INFLIGHT` transactions outstanding: enough that every stage of the
node's pipeline (verifiers, sequencer, sealer, store) always has a block to work on. With 4,000
(before the twentieth session) the node waited between stages: 24,000 gave 10–16 % more on the
same build (scratch, alternating: 12,273 and 11,879 tx/s against 11,144 and 10,242). The closed
loop (:func:`drive`) hands the node slots of its own (``Node.submit_many_to``), as the HTTP API
does, not a Future with a done-callback per transaction (before the twenty-first session): the
harness runs in the node's process, and its per-transaction locking was counted as the node's.
"""

from __future__ import annotations

import hashlib
import os
import resource
import sqlite3
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from anju.chain.node import UncancelledSlot
from anju.crypto import jcs
from anju.crypto import tx as txmod
from anju.crypto.keys import SigningKey, verify
from anju.crypto.tx import parse

CHAIN = "anju-bench"
SIGNERS = 2000


def _sign_range(args: tuple[int, int, int]) -> list[bytes]:
    """Envelopes ``start..end`` of the benchmark stream (deterministic; run in worker processes)."""
    start, end, signers = args
    keys: dict[int, SigningKey] = {}
    out = []
    for n in range(start, end):
        s = n % signers
        k = keys.get(s)
        if k is None:
            k = keys[s] = SigningKey(hashlib.sha256(b"anju-bench-signer-%d" % s).digest())
        body = {
            "chain": CHAIN,
            "kind": "kv.put",
            "signer": k.public_hex,
            "seq": n // signers + 1,
            "key": f"k{n % 100_000:07d}",
            "value": f"v{n}",
        }
        out.append(jcs.trimmed(orjson.dumps(txmod.sign(body, [k]))))
    return out


def make_txs(n: int, workers: int = 2, offset: int = 0) -> list[bytes]:
    step = 5000
    ranges = [(i, min(i + step, offset + n), SIGNERS) for i in range(offset, offset + n, step)]
    with ProcessPoolExecutor(workers) as pool:
        return [raw for chunk in pool.map(_sign_range, ranges) for raw in chunk]


def _verify_only(items: Sequence[tuple[bytes, bytes, bytes]]) -> int:
    return sum(1 for pub, msg, sig in items if verify(pub, msg, sig))


def limit_tps(raws: list[bytes], block: int, workers: int = 2) -> float:
    """Irreducible work: Ed25519 verify each (both cores) + one fsynced SQLite append per block."""
    items = []
    for raw in raws:
        t = parse(raw)
        key, sig = t.sigs[0]
        items.append((bytes.fromhex(key), t.signed_bytes, bytes.fromhex(sig)))
    chunk = 1000
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(workers) as pool:
        db = sqlite3.connect(Path(tmp) / "limit.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE leaves (idx INTEGER PRIMARY KEY, leaf BLOB)")
        list(pool.map(_verify_only, [items[:10]] * workers))  # warm the workers
        t0 = time.perf_counter()
        futs = [pool.submit(_verify_only, items[i : i + chunk]) for i in range(0, len(items), chunk)]
        for i in range(0, len(raws), block):
            db.execute("BEGIN")
            db.executemany("INSERT INTO leaves VALUES (?, ?)", [(i + j, r) for j, r in enumerate(raws[i : i + block])])
            db.execute("COMMIT")
        ok = sum(f.result() for f in futs)
        dt = time.perf_counter() - t0
        db.close()
    assert ok == len(raws), "benchmark transactions must verify"
    return len(raws) / dt


class _Chunk:
    """One chunk of :func:`drive`'s closed loop: its transactions' outcomes, and the slot it frees."""

    __slots__ = ("left", "loop", "submitted")

    def __init__(self, loop: _Loop, n: int) -> None:
        self.loop = loop
        self.left = n
        self.submitted = time.perf_counter()


class _Loop:
    """:func:`drive`'s state. The node settles each transaction's :class:`_TxSlot` on its own
    threads (Node.submit_many_to: no Future, condition or callback per transaction, so that the
    figure is the node's, not the harness's; the HTTP API hands the node slots the same way)."""

    def __init__(self, n: int, inflight: int, chunk: int) -> None:
        self.sem = threading.Semaphore(max(1, inflight // chunk))
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.remaining = n
        self.lat: list[float] = []
        self.errors: list[BaseException] = []
        if n == 0:
            self.done.set()

    def settled(self, chunk: _Chunk, error: BaseException | None) -> None:
        now = time.perf_counter()
        with self.lock:
            if error is not None:
                self.errors.append(error)
            self.lat.append((now - chunk.submitted) * 1000)
            chunk.left -= 1
            self.remaining -= 1
            freed, finished = chunk.left == 0, self.remaining == 0
        if freed:
            self.sem.release()
        if finished:
            self.done.set()


class _TxSlot(UncancelledSlot):
    """A :class:`anju.chain.node.Slot` for one transaction of a chunk."""

    __slots__ = ("chunk",)

    def __init__(self, chunk: _Chunk) -> None:
        self.chunk = chunk

    def set_result(self, result: object, /) -> None:
        self.chunk.loop.settled(self.chunk, None)

    def set_exception(self, exception: BaseException | None, /) -> None:
        self.chunk.loop.settled(self.chunk, exception or RuntimeError("no outcome"))


def drive(node: Any, raws: list[bytes], inflight: int, chunk: int = 200) -> tuple[float, list[float]]:
    """Closed loop: keep ``inflight`` transactions outstanding; return (seconds, latencies in ms)."""
    loop = _Loop(len(raws), inflight, chunk)
    t0 = time.perf_counter()
    for i in range(0, len(raws), chunk):
        loop.sem.acquire()
        part = raws[i : i + chunk]
        c = _Chunk(loop, len(part))
        node.submit_many_to(part, [_TxSlot(c) for _ in part])
    loop.done.wait()
    dt = time.perf_counter() - t0
    if loop.errors:
        raise RuntimeError(f"{len(loop.errors)} benchmark transactions failed, first: {loop.errors[0]!r}")
    return dt, loop.lat


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def _proof_timings(data: Path) -> dict[str, float]:
    from anju.chain.node import DB_NAME
    from anju.ledger import merkle
    from anju.ledger.statemap import StateMap, verify_state_proof
    from anju.ledger.store import Store

    store = Store(data / DB_NAME)
    last = store.block(store.height())
    assert last is not None
    n = last.log_size
    idxs = [(i * 7919) % n for i in range(200)]
    incl_proofs = [
        (i, merkle.inclusion_proof(i, n, store.tlog_node), merkle.leaf_hash(next(store.leaves(i, i + 1))[3]))
        for i in idxs
    ]
    t0 = time.perf_counter()
    for i, p, lh in incl_proofs:
        merkle.verify_inclusion(lh, i, n, p, last.log_root)
    incl = (time.perf_counter() - t0) / len(incl_proofs) * 1e6
    smt = StateMap(store.smt_view(), last.state_root)
    keys = [f"kv/k{i * 31 % 100_000:07d}" for i in range(200)]
    sproofs = [(k, store.state_get(k), smt.prove(k)) for k in keys]
    t0 = time.perf_counter()
    for k, v, sp_ in sproofs:
        verify_state_proof(last.state_root, k, v, sp_)
    sp = (time.perf_counter() - t0) / len(sproofs) * 1e6
    store.close()
    return {"inclusion_verify_us": round(incl, 1), "state_proof_verify_us": round(sp, 1)}


def _prefill_log(data: Path, n: int, console: Console) -> None:
    """Put ``n`` placeholder leaves in the log directly (for the --large scaling run only)."""
    from anju.chain.node import DB_NAME
    from anju.ledger import merkle
    from anju.ledger.store import Store

    store = Store(data / DB_NAME)
    conn = store._conn()
    last = store.block(0)
    assert last is not None
    fr = merkle.Frontier.load(0, store.tlog_node)
    batch = 200_000
    for start in range(0, n, batch):
        rows: list[tuple[int, bytes, int, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        for i in range(start, min(n, start + batch)):
            leaf = b"prefill-%d" % i
            rows.append((i, hashlib.sha256(leaf).digest(), 0, leaf))
            nodes.extend(n for n in fr.append(merkle.leaf_hash(leaf)) if n[0])
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO txs(idx, txid, height, leaf) VALUES (?,?,?,?)", rows)
        conn.executemany("INSERT INTO tlog_nodes VALUES (?,?,?)", nodes)
        conn.execute("COMMIT")
        console.log(f"prefilled {min(n, start + batch):,} leaves")
    conn.execute("UPDATE blocks SET log_size=?, log_root=? WHERE height=0", (fr.size, fr.root()))
    store.close()


def measure(
    raws: list[bytes],
    *,
    inflight: int,
    prefill: int = 0,
    console: Console,
    latency_raws: Sequence[bytes] = (),
    latency_inflight: int = 500,
) -> dict[str, Any]:
    from anju.chain.node import Node, init_ledger

    with tempfile.TemporaryDirectory(prefix="anju-bench-") as tmp:
        data = Path(tmp) / "node"
        init_ledger(data, chain_id=CHAIN, app="kv", genesis_time="2026-01-01T00:00:00.000Z")
        if prefill:
            _prefill_log(data, prefill, console)
        node = Node(data, verify_workers=2)
        node.start()
        warm = max(1, len(raws) // 50)
        drive(node, raws[:warm], inflight)
        dt, lat = drive(node, raws[warm:], inflight)
        if latency_raws:
            # Latency at a load the node sustains: few transactions in flight, same node, same run.
            _, lat = drive(node, list(latency_raws), latency_inflight)
        node.stop()
        n = len(raws) - warm
        result = {
            "tps": round(n / dt, 1),
            "seconds": round(dt, 2),
            "transactions": n,
            "commit_p50_ms": round(_pct(lat, 50), 1),
            "commit_p99_ms": round(_pct(lat, 99), 1),
            "tree_size": prefill + len(raws) + len(latency_raws),
        }
        if not prefill:
            result.update(_proof_timings(data))
        return result


INFLIGHT = 24_000
"""Transactions outstanding in the throughput runs (see the module doc); latency is measured at 500."""


def run(*, txs: int = 150_000, large: bool = False, inflight: int = INFLIGHT, console: Console) -> dict[str, Any]:
    console.log(f"signing {txs:,} transactions on {os.cpu_count()} cores")
    raws = make_txs(txs)
    latency_raws = make_txs(20_000, offset=txs)  # the same stream, continued (seq follows on)
    console.log("measuring the limit (Ed25519 verify on both cores + one SQLite append per block)")
    lim = limit_tps(raws, block=2000)
    console.log(f"limit {lim:,.0f} tx/s; now the node")
    res = measure(raws, inflight=inflight, console=console, latency_raws=latency_raws)
    out: dict[str, Any] = {
        "benchmark": "ledger",
        "tps": res["tps"],
        "limit_tps": round(lim, 1),
        "ratio": round(res["tps"] / lim, 3),
        "commit_p50_ms": res["commit_p50_ms"],
        "commit_p99_ms": res["commit_p99_ms"],
        "inclusion_verify_us": res["inclusion_verify_us"],
        "state_proof_verify_us": res["state_proof_verify_us"],
        "tree_size": res["tree_size"],
        "transactions": res["transactions"],
        "seconds": res["seconds"],
        "inflight": inflight,
        "latency_inflight": 500,
        "cores": os.cpu_count(),
    }
    if large:
        small = measure(raws, inflight=inflight, prefill=100_000, console=console)
        big = measure(raws, inflight=inflight, prefill=10_000_000, console=console)
        out["large"] = {
            "tps_at_1e5": small["tps"],
            "tps_at_1e7": big["tps"],
            "ratio_1e7_vs_1e5": round(big["tps"] / small["tps"], 3),
        }
    out["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out
