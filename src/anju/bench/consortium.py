"""Consortium benchmark: 4 CometBFT validators on this machine, Anju vs CometBFT's kvstore.

The same load generator drives both networks: pre-signed transactions sent with
``broadcast_tx_sync`` over the CometBFT RPC of the four members (each signer's transactions in
order to one member, many signers in parallel); a watcher reads committed blocks from member 0.

- ``consortium_tps``: Anju transactions committed per second (first submission to last commit);
- ``finality_p50_ms`` / ``finality_p99_ms``: submission to a checkpoint cosigned by more than 2/3
  of the members (member 0's cosign side channel records when each height reached the threshold);
- ``kvstore_tps``: the same for ``cometbft node --proxy_app=kvstore``; ``consortium_ratio``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from anju.chain import consortium as c
from anju.crypto import jcs
from anju.crypto.keys import SigningKey
from anju.crypto.tx import sign, txid_of

CHAIN = "anju-bench-consortium"
SIGNERS = 100
PER_SIGNER = 30
CONCURRENCY = 64


def _anju_load(app: str) -> list[list[tuple[str, bytes]]]:
    """Per signer, its transactions in seq order: (txid, raw)."""
    out = []
    for s in range(SIGNERS):
        k = SigningKey.generate()
        txs = []
        for q in range(1, PER_SIGNER + 1):
            body = {
                "chain": CHAIN,
                "kind": "kv.put",
                "signer": k.public_hex,
                "seq": q,
                "key": f"s{s}/k{q}",
                "value": "x" * 64,
            }
            txs.append((txid_of(body), jcs.canonicalize(sign(body, [k]))))
        out.append(txs)
    return out


def _kv_load() -> list[list[tuple[str, bytes]]]:
    return [[(f"{s}-{q}", f"s{s}k{q}={'x' * 200}".encode()) for q in range(PER_SIGNER)] for s in range(SIGNERS)]


async def _drive(nodes: list[c.NodeInfo], load: list[list[tuple[str, bytes]]]) -> tuple[dict[str, float], int]:
    """Submit everything; return submission times by id and the count accepted."""
    sent: dict[str, float] = {}
    accepted = 0
    sem = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY)) as client:

        async def signer(i: int, txs: list[tuple[str, bytes]]) -> None:
            nonlocal accepted
            url = nodes[i % len(nodes)].rpc_url
            for tid, raw in txs:
                async with sem:
                    sent[tid] = time.time()
                    r = await client.post(
                        url,
                        json={
                            "jsonrpc": "2.0",
                            "id": 1,
                            "method": "broadcast_tx_sync",
                            "params": {"tx": base64.b64encode(raw).decode()},
                        },
                    )
                    if r.json().get("result", {}).get("code") == 0:
                        accepted += 1

        await asyncio.gather(*(signer(i, txs) for i, txs in enumerate(load)))
    return sent, accepted


def _committed_count(client: httpx.Client, rpc: str, start: int, until: int) -> tuple[int, int]:
    """Transactions in blocks start..until (node 0's RPC); returns (count, last height read)."""
    n = 0
    h = start
    while h <= until:
        r = client.get(f"{rpc}/block", params={"height": h}).json()
        n += len(r["result"]["block"]["data"]["txs"] or [])
        h += 1
    return n, until


def _measure(nodes: list[c.NodeInfo], load: list[list[tuple[str, bytes]]], timeout: float) -> dict[str, Any]:
    client = httpx.Client(timeout=10)
    rpc = nodes[0].rpc_url
    start_h = int(client.get(f"{rpc}/status").json()["result"]["sync_info"]["latest_block_height"]) + 1
    total = sum(len(t) for t in load)
    t0 = time.time()
    sent, accepted = asyncio.run(_drive(nodes, load))
    t_sent = time.time()
    seen = 0
    h = start_h
    t_done = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tip = int(client.get(f"{rpc}/status").json()["result"]["sync_info"]["latest_block_height"])
        if tip >= h:
            got, _ = _committed_count(client, rpc, h, tip)
            seen += got
            h = tip + 1
            if seen >= accepted:
                t_done = time.time()
                break
        time.sleep(0.05)
    client.close()
    elapsed = (t_done or time.time()) - t0
    return {
        "submitted": total,
        "accepted": accepted,
        "committed": seen,
        "seconds": round(elapsed, 3),
        "submit_seconds": round(t_sent - t0, 3),
        "tps": round(seen / elapsed, 1),
        "sent": sent,
        "start_height": start_h,
    }


def _finality(node: c.NodeInfo, sent: dict[str, float], start: int, timeout: float = 30) -> list[float]:
    client = httpx.Client(timeout=10)
    deadline = time.monotonic() + timeout
    out: dict[str, float] = {}
    while time.monotonic() < deadline:
        rows = client.get(f"{node.cosign_url}/blocks", params={"from": start}).json()
        for r in rows:
            if r["cosigned_at"] is None:
                continue
            for tid in r["txids"]:
                if tid in sent:
                    out[tid] = (r["cosigned_at"] - sent[tid]) * 1000
        if len(out) >= len(sent):
            break
        time.sleep(0.2)
    client.close()
    return sorted(out.values())


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    return round(xs[min(len(xs) - 1, int(p * len(xs)))], 1)


def run(console: Any = None, validators: int = 4) -> dict[str, Any]:
    """Run both networks one after the other on loopback; return the figures."""

    def say(msg: str) -> None:
        if console is not None:
            console.print(msg)

    if c.find_cometbft() is None:
        raise c.ConsortiumError("cometbft not found: run scripts/install-cometbft.sh first")
    base = 40000 + (os.getpid() % 100) * 50
    result: dict[str, Any] = {
        "validators": validators,
        "transactions": SIGNERS * PER_SIGNER,
        "signers": SIGNERS,
        "app": "kv",
        "settings": {
            "consensus": c.CONSENSUS,
            "mempool": c.MEMPOOL,
            "p2p": c.P2P,
            "indexer": "null",
            "block_max_bytes": c.BLOCK_MAX_BYTES,
        },
    }
    with tempfile.TemporaryDirectory(prefix="anju-bench-consortium-") as tmp:
        d = Path(tmp) / "anju"
        c.init(d, validators=validators, chain_id=CHAIN, app="kv", base_port=base)
        nodes = c.nodes_of(c.load(d))
        try:
            c.up(d)
            _wait_height(nodes[0], 2)
            say("consortium (Anju over ABCI): submitting")
            load = _anju_load("kv")
            m = _measure(nodes, load, timeout=180)
            fin = _finality(nodes[0], m.pop("sent"), m["start_height"])
            result.update(
                consortium_tps=m["tps"],
                consortium=m,
                finality_p50_ms=_pct(fin, 0.5),
                finality_p99_ms=_pct(fin, 0.99),
                finality_samples=len(fin),
            )
        finally:
            c.down(d)
        k = Path(tmp) / "kvstore"
        c.init(k, validators=validators, chain_id=CHAIN, app="kv", base_port=base + 25)
        knodes = c.nodes_of(c.load(k))
        try:
            c.up(k, proxy_app="kvstore")
            _wait_height(knodes[0], 2)
            say("baseline (CometBFT kvstore): submitting")
            km = _measure(knodes, _kv_load(), timeout=180)
            km.pop("sent")
            result.update(kvstore_tps=km["tps"], kvstore=km)
        finally:
            c.down(k)
    result["consortium_ratio"] = (
        round(result["consortium_tps"] / result["kvstore_tps"], 3) if result.get("kvstore_tps") else None
    )
    return result


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


if __name__ == "__main__":
    import json

    print(json.dumps(run()))
