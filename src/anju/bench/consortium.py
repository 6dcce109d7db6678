"""Consortium benchmark: 4 CometBFT validators on this machine, Anju vs CometBFT's kvstore.

One load generator drives both networks (it must measure the chains, not itself):

- transactions are built and signed *before* the clock starts;
- they are sent as JSON-RPC batches of ``broadcast_tx_async`` calls (``BATCH`` per HTTP request)
  over persistent HTTP/1.1 keep-alive connections, two senders per member; each signer's
  transactions go, in order, through one sender to one member (``seq`` order is preserved);
- completion is read from committed blocks, never per transaction: a watcher polls
  ``/blockchain`` (block metas with ``num_txs``, 20 heights per request) on member 0.

Two runs per network:

1. **throughput** (saturating): the senders keep ``BACKLOG`` transactions submitted but not yet
   committed (enough for several full blocks), for ``DURATION`` seconds; ``tps`` is the commit
   rate over the steady part (after ``WARMUP`` s). ``consortium_tps`` and ``kvstore_tps`` come
   from this run, ``consortium_ratio`` = their quotient.
2. **finality** (Anju only): an open-loop offered rate of ``FINALITY_LOAD`` × the measured Anju
   tps (the run reports the commit rate it achieved; if the chain did not keep up, which a
   busy shared machine can cause, it is repeated at ``FINALITY_BACKOFF`` × the rate, at most
   ``FINALITY_ATTEMPTS`` runs in all, and every attempt is reported);
   ``finality_p50_ms`` / ``finality_p99_ms`` = from the moment a transaction was due to the
   moment member 0 held a checkpoint note for its height cosigned by more than 2/3 of the
   members. Senders keep one request in flight and send everything due when it returns: a fixed
   tick of small requests (the earlier generator) queued requests in the client and measured the
   generator, not the chain.

The load average of the machine before and after is recorded: it is shared.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from anju.chain import consortium as c
from anju.crypto import jcs
from anju.crypto.keys import SigningKey
from anju.crypto.tx import sign, txid_of

CHAIN = "anju-bench-consortium"
SIGNERS = 400
BATCH = 250
SENDERS_PER_NODE = 2
BACKLOG = 6000
DURATION = 20.0
WARMUP = 4.0
FINALITY_LOAD = 0.5
FINALITY_SECONDS = 15.0
FINALITY_ATTEMPTS = 3  # a run the chain did not keep up with is repeated at FINALITY_BACKOFF x the rate
FINALITY_BACKOFF = 0.7
TICK = 0.05


@dataclass(slots=True)
class Stream:
    """One sender's transactions, in order: (id, raw)."""

    node: int
    txs: list[tuple[str, bytes]] = field(default_factory=list)
    pos: int = 0


def _sign_signer(args: tuple[int, int, int]) -> list[tuple[str, bytes]]:
    s, first, count = args
    k = SigningKey(s.to_bytes(4, "big") * 8)
    out = []
    for q in range(first, first + count):
        body = {
            "chain": CHAIN,
            "kind": "kv.put",
            "signer": k.public_hex,
            "seq": q,
            "key": f"s{s}/k{q}",
            "value": "x" * 64,
        }
        out.append((txid_of(body), jcs.canonicalize(sign(body, [k]))))
    return out


def anju_streams(total: int, nodes: int, first_seq: int = 1, salt: int = 0) -> list[Stream]:
    """``total`` pre-signed kv transactions from ``SIGNERS`` signers, spread over the senders."""
    per = -(-total // SIGNERS)
    with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        signed = list(pool.map(_sign_signer, [(salt * SIGNERS + s, first_seq, per) for s in range(SIGNERS)]))
    return _interleave(signed, nodes)


def kv_streams(total: int, nodes: int, tag: str) -> list[Stream]:
    per = -(-total // SIGNERS)
    signed = [[(f"{tag}{s}-{q}", f"{tag}{s}k{q}={'x' * 300}".encode()) for q in range(per)] for s in range(SIGNERS)]
    return _interleave(signed, nodes)


def _interleave(per_signer: list[list[tuple[str, bytes]]], nodes: int) -> list[Stream]:
    """Signer ``s`` goes to stream ``s % streams``; a stream takes its signers' txs round-robin."""
    n = nodes * SENDERS_PER_NODE
    streams = [Stream(i % nodes) for i in range(n)]
    groups: list[list[list[tuple[str, bytes]]]] = [[] for _ in range(n)]
    for s, txs in enumerate(per_signer):
        groups[s % n].append(txs)
    for st, group in zip(streams, groups, strict=True):
        for q in range(max((len(t) for t in group), default=0)):
            st.txs.extend(t[q] for t in group if q < len(t))
    return streams


def _batch_body(raws: Sequence[bytes]) -> bytes:
    return orjson.dumps(
        [
            {"jsonrpc": "2.0", "id": i, "method": "broadcast_tx_async", "params": {"tx": base64.b64encode(r).decode()}}
            for i, r in enumerate(raws)
        ]
    )


class Watcher:
    """Follows member 0's committed blocks: (time, cumulative tx count) samples."""

    def __init__(self, client: httpx.AsyncClient, rpc: str) -> None:
        self.client = client
        self.rpc = rpc
        self.height = 0
        self.committed = 0
        self.samples: list[tuple[float, int]] = []

    async def tip(self) -> int:
        r = await self.client.get(f"{self.rpc}/status")
        return int(r.json()["result"]["sync_info"]["latest_block_height"])

    async def start_at_tip(self) -> None:
        self.height = await self.tip()
        self.samples = [(time.monotonic(), 0)]

    async def poll(self) -> None:
        tip = await self.tip()
        while self.height < tip:
            lo, hi = self.height + 1, min(tip, self.height + 20)
            r = await self.client.get(f"{self.rpc}/blockchain", params={"minHeight": lo, "maxHeight": hi})
            metas = r.json()["result"]["block_metas"]
            self.committed += sum(int(bm["num_txs"]) for bm in metas)
            self.height = hi
        self.samples.append((time.monotonic(), self.committed))

    def rate(self, t_from: float, t_to: float) -> float:
        """Commit rate between two monotonic times (nearest samples)."""
        a = min(self.samples, key=lambda s: abs(s[0] - t_from))
        b = min(self.samples, key=lambda s: abs(s[0] - t_to))
        return (b[1] - a[1]) / (b[0] - a[0]) if b[0] > a[0] else 0.0


async def _send(client: httpx.AsyncClient, url: str, raws: Sequence[bytes]) -> int:
    """One batch; returns how many were refused by CheckTx/mempool (async: refusals are rare)."""
    r = await client.post(url, content=_batch_body(raws), headers={"Content-Type": "application/json"})
    refused = 0
    doc = r.json()
    for item in doc if isinstance(doc, list) else [doc]:
        res = item.get("result")
        if res is None or int(res.get("code", 0)) != 0:
            refused += 1
    return refused


def _client(n: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=60, limits=httpx.Limits(max_connections=n, max_keepalive_connections=n), http1=True
    )


async def saturate(nodes: list[c.NodeInfo], streams: list[Stream], duration: float) -> dict[str, Any]:
    """Keep ``BACKLOG`` txs in flight for ``duration`` s; the commit rate after ``WARMUP`` s."""
    async with _client(len(streams) + 4) as client:
        w = Watcher(client, nodes[0].rpc_url)
        await w.start_at_tip()
        t0 = time.monotonic()
        stop = t0 + duration
        sent = 0
        refused = 0
        lock = asyncio.Lock()

        async def sender(st: Stream) -> None:
            nonlocal sent, refused
            url = nodes[st.node].rpc_url
            while time.monotonic() < stop and st.pos < len(st.txs):
                if sent - w.committed >= BACKLOG:
                    await asyncio.sleep(0.02)
                    continue
                chunk = [raw for _, raw in st.txs[st.pos : st.pos + BATCH]]
                st.pos += len(chunk)
                async with lock:
                    sent += len(chunk)
                refused += await _send(client, url, chunk)

        async def watch() -> None:
            while time.monotonic() < stop + 0.5:
                await w.poll()
                await asyncio.sleep(0.1)

        await asyncio.gather(watch(), *(sender(s) for s in streams))
        t_end = min(time.monotonic(), stop)
        exhausted = all(s.pos >= len(s.txs) for s in streams)
        tps = w.rate(t0 + WARMUP, t_end)
        return {
            "seconds": round(t_end - t0, 2),
            "sent": sent,
            "refused": refused,
            "committed": w.committed,
            "tps": round(tps, 1),
            "ran_out_of_txs": exhausted,
            "end_height": w.height,
        }


async def offered(
    nodes: list[c.NodeInfo], streams: list[Stream], rate: float, duration: float
) -> tuple[dict[str, float], dict[str, Any]]:
    """Open loop: ``rate`` tx/s for ``duration`` s; the time each tx was *due*, by id.

    Transaction ``n`` (round-robin over the streams) is due at ``t0 + n / rate``. Each stream keeps
    one request in flight and sends everything due when the previous one returns, so batches grow
    with the latency instead of requests piling up; a tx's finality counts from when it was due,
    so any wait in the generator or in CometBFT's RPC is part of it (no coordinated omission).
    While it runs, member 0's blocks give the commit rate the network achieved."""
    sent_at: dict[str, float] = {}
    n = len(streams)
    per_stream = rate / n
    async with _client(n + 4) as client:
        w = Watcher(client, nodes[0].rpc_url)
        await w.start_at_tip()
        t0m, t0 = time.monotonic(), time.time()
        stop = t0m + duration
        refused = 0
        requests = 0
        sizes: list[int] = []

        async def sender(i: int, st: Stream) -> None:
            nonlocal refused, requests
            url = nodes[st.node].rpc_url
            k = 0  # this stream's txs sent so far; its k-th is due at (k * n + i) / rate
            total = min(len(st.txs), int(duration * per_stream + 1))
            while k < total:
                now = time.monotonic() - t0m
                due = min(total, int(now * rate - i) // n + 1) if now * rate >= i else 0
                if due <= k:
                    await asyncio.sleep(max(0.002, (k * n + i) / rate - now))
                    continue
                chunk = st.txs[k : min(due, k + 4 * BATCH)]
                for j, (tid, _) in enumerate(chunk):
                    sent_at[tid] = t0 + ((k + j) * n + i) / rate
                k += len(chunk)
                requests += 1
                sizes.append(len(chunk))
                refused += await _send(client, url, [r for _, r in chunk])
            st.pos = k

        async def watch() -> None:
            while time.monotonic() < stop + 0.3:
                await w.poll()
                await asyncio.sleep(0.1)

        await asyncio.gather(watch(), *(sender(i, st) for i, st in enumerate(streams)))
        sent_s = time.monotonic() - t0m
        achieved = w.rate(t0m + min(WARMUP, duration / 3), stop)
        backlog = len(sent_at) - w.committed
    sizes.sort()
    return sent_at, {
        "offered_tps": round(rate, 1),
        "seconds": duration,
        "sent": len(sent_at),
        "send_seconds": round(sent_s, 2),
        "refused": refused,
        "requests": requests,
        "batch_p50": sizes[len(sizes) // 2] if sizes else 0,
        "committed_tps": round(achieved, 1),
        "uncommitted_at_end": backlog,
        # Sustained: the chain kept up (commit rate within 10 % of the offered rate, and no more
        # than two seconds' worth of txs left when sending stopped).
        "sustained": achieved >= 0.9 * rate and backlog <= 2 * rate,
    }


def breakdown(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-height figures of member 0 during the finality run: medians and p99s (ms)."""
    rows = sorted(rows, key=lambda r: r["height"])
    out: dict[str, Any] = {"heights": len(rows)}
    series: dict[str, list[float]] = {
        "interval_ms": [(b["committed_at"] - a["committed_at"]) * 1000 for a, b in itertools.pairwise(rows)],
        "txs_per_block": [float(len(r["txids"])) for r in rows],
        "cosign_lag_ms": [(r["cosigned_at"] - r["committed_at"]) * 1000 for r in rows if r["cosigned_at"]],
    }
    for k in ("process_ms", "finalize_ms", "commit_ms", "store_ms"):
        series[k] = [float(r[k]) for r in rows if k in r]
    for k, xs in series.items():
        xs.sort()
        if xs:
            out[k] = {"p50": _pct(xs, 0.5), "p99": _pct(xs, 0.99)}
    return out


async def finality(node: c.NodeInfo, sent_at: dict[str, float], start: int, timeout: float = 30) -> list[float]:
    """Submission to cosigned checkpoint (member 0's clock; same machine), per committed tx."""
    out: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < deadline:
            try:
                rows = (await client.get(f"{node.cosign_url}/blocks", params={"from": start})).json()
            except httpx.HTTPError:  # member 0 busy with a large block on a loaded machine: ask again
                await asyncio.sleep(0.5)
                continue
            pending = False
            for r in rows:
                if r["cosigned_at"] is None:
                    pending = True
                    continue
                for tid in r["txids"]:
                    t = sent_at.get(tid)
                    if t is not None:
                        out[tid] = (r["cosigned_at"] - t) * 1000
            if len(out) >= len(sent_at) or (not pending and rows and time.monotonic() > deadline - timeout + 5):
                break
            await asyncio.sleep(0.5)
    return sorted(out.values())


def _pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    return round(xs[min(len(xs) - 1, int(p * len(xs)))], 1)


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def _cosigned_height(node: c.NodeInfo) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        return int((await client.get(f"{node.cosign_url}/status")).json()["height"])


def run(console: Any = None, validators: int = 4, duration: float = DURATION) -> dict[str, Any]:
    """Run both networks one after the other on loopback; return the figures."""

    def say(msg: str) -> None:
        if console is not None:
            console.print(msg)

    if c.find_cometbft() is None:
        raise c.ConsortiumError("cometbft not found: run scripts/install-cometbft.sh first")
    base = 40000 + (os.getpid() % 100) * 50
    result: dict[str, Any] = {
        "validators": validators,
        "app": "kv",
        "workload": "kv.put from pre-signed envelopes (the registry mix needs a setup dated in the past; see docs)",
        "generator": {
            "method": "JSON-RPC batches of broadcast_tx_async over HTTP/1.1 keep-alive",
            "batch": BATCH,
            "senders": SENDERS_PER_NODE * validators,
            "signers": SIGNERS,
            "backlog": BACKLOG,
            "duration_s": duration,
            "warmup_s": WARMUP,
            "finality_load": FINALITY_LOAD,
            "finality_attempts": FINALITY_ATTEMPTS,
            "finality_backoff": FINALITY_BACKOFF,
            "finality_seconds": FINALITY_SECONDS,
        },
        "settings": c.settings_summary(),
        "loadavg_start": _loadavg(),
        "cpus": os.cpu_count(),
    }
    budget = int(duration * 2500) + 2000
    with tempfile.TemporaryDirectory(prefix="anju-bench-consortium-") as tmp:
        k = Path(tmp) / "kvstore"
        c.init(k, validators=validators, chain_id=CHAIN, app="kv", base_port=base + 25)
        knodes = c.nodes_of(c.load(k))
        try:
            c.up(k, proxy_app="kvstore")
            _wait_height(knodes[0], 2)
            say("baseline (CometBFT kvstore): saturating")
            kst = kv_streams(budget * 3, validators, "kv")
            km = asyncio.run(saturate(knodes, kst, duration))
            result.update(kvstore_tps=km["tps"], kvstore=km)
            say(f"kvstore: {km}")
        finally:
            c.down(k)

        d = Path(tmp) / "anju"
        c.init(d, validators=validators, chain_id=CHAIN, app="kv", base_port=base)
        nodes = c.nodes_of(c.load(d))
        say("signing the Anju transactions")
        per = -(-budget // SIGNERS)
        streams = anju_streams(per * SIGNERS, validators)
        try:
            c.up(d)
            _wait_height(nodes[0], 2)
            say("consortium (Anju over ABCI): saturating")
            m = asyncio.run(saturate(nodes, streams, duration))
            result.update(consortium_tps=m["tps"], consortium=m)
            say(f"consortium: {m}")
            _settle(nodes[0], m["sent"] - m["refused"])
            rate = max(10.0, FINALITY_LOAD * float(m["tps"]))
            attempts: list[dict[str, Any]] = []
            for attempt in range(FINALITY_ATTEMPTS):
                say(f"consortium: finality at {rate:.0f} tx/s offered")
                total = int(rate * FINALITY_SECONDS) + SIGNERS * 2
                fstreams = anju_streams(total, validators, first_seq=1, salt=1 + attempt)
                start = asyncio.run(_cosigned_height(nodes[0])) + 1
                sent_at, fm = asyncio.run(offered(nodes, fstreams, rate, FINALITY_SECONDS))
                fin = asyncio.run(finality(nodes[0], sent_at, start))
                rows = httpx.get(f"{nodes[0].cosign_url}/blocks", params={"from": start}, timeout=60).json()
                fm["per_height"] = breakdown(rows)
                fm.update(p50_ms=_pct(fin, 0.5), p99_ms=_pct(fin, 0.99), max_ms=_pct(fin, 1.0), samples=len(fin))
                fm["loadavg"] = _loadavg()
                attempts.append(fm)
                say(f"consortium: finality {fm}")
                if fm["sustained"]:
                    break
                _settle(nodes[0], 0)
                rate *= FINALITY_BACKOFF  # the chain did not keep up: a lower rate
            result.update(
                finality_p50_ms=attempts[-1]["p50_ms"],
                finality_p99_ms=attempts[-1]["p99_ms"],
                finality_max_ms=attempts[-1]["max_ms"],
                finality_samples=attempts[-1]["samples"],
                finality_offered_tps=attempts[-1]["offered_tps"],
                finality_sustained=attempts[-1]["sustained"],
                finality=attempts[-1],
                finality_attempts=[{k: v for k, v in a.items() if k != "per_height"} for a in attempts],
            )
        finally:
            c.down(d)
    result["consortium_ratio"] = (
        round(result["consortium_tps"] / result["kvstore_tps"], 3) if result.get("kvstore_tps") else None
    )
    result["loadavg_end"] = _loadavg()
    return result


def _settle(node: c.NodeInfo, expected: int, timeout: float = 60) -> None:
    """Wait until the backlog of a run is committed (so the next run starts clean)."""
    deadline = time.monotonic() + timeout

    async def count() -> int:
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(f"{node.rpc_url}/num_unconfirmed_txs")
            return int(r.json()["result"]["total"])

    while time.monotonic() < deadline and asyncio.run(count()) > 0:
        time.sleep(0.5)


def _wait_height(node: c.NodeInfo, h: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{node.rpc_url}/status", timeout=2).json()
            if int(r["result"]["sync_info"]["latest_block_height"]) >= h:
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise c.ConsortiumError(f"{node.member} did not reach height {h}")


Progress = Callable[[str], None]

if __name__ == "__main__":
    import json
    import sys

    dur = float(sys.argv[1]) if len(sys.argv) > 1 else DURATION

    class _Err:
        def print(self, msg: str) -> None:
            sys.stderr.write(f"{msg}\n")

    print(json.dumps(run(_Err(), duration=dur), indent=1))
