"""Consortium benchmark: the registry's mix on 4 CometBFT validators, against CometBFT's kvstore.

1. **Setup** (not timed): a registry of ``units`` units, built from real signed transactions by
   the embedded node in blocks dated in the past (the registry benchmark's setup,
   :func:`anju.bench.registry.build`); the mix, at today's date, is signed with it. The four
   members start from copies of that ledger (:func:`anju.chain.consortium.init` with ``ledger``:
   CometBFT's InitChain at the ledger's next height).
2. **The load generator** (:mod:`anju.bench.stories`) sends the mix story by story, as clients
   would: a step of a story waits until the previous step is committed; a signer's transactions go
   in ``seq`` order through one member, as JSON-RPC batches of ``broadcast_tx_async``.
3. **Baseline, same generator, same run**: CometBFT's kvstore on a mirror of the mix (one
   ``key=value`` tx of the same size per Anju tx, with the same stories, signers and routes).
4. **Throughput** (both): at most ``BACKLOG`` txs outstanding for ``DURATION`` s; ``tps`` is the
   commit rate on member 0 after ``WARMUP`` s. ``consortium_ratio`` = ``consortium_tps / kvstore_tps``.
5. **Finality** (Anju): the mix carries on at ``FINALITY_LOAD`` x the measured tps (a token
   bucket); ``finality_p50_ms`` / ``finality_p99_ms`` run from the moment a tx's batch was sent to
   the moment member 0 held a checkpoint for its height cosigned by more than 2/3 of the members.
   A run the chain did not keep up with is repeated at ``FINALITY_BACKOFF`` x the rate (at most
   ``FINALITY_ATTEMPTS`` runs; every attempt is reported).
6. **Latency against load**: one more finality run at each of ``FINALITY_CURVE`` x the measured
   tps (``finality_curve``), so the report shows the load up to which a finality bound holds, not
   only the figure at half the saturating rate (four members share two cores: at half that rate,
   blocks of a few hundred transactions already keep them busy).

The load average of the machine before and after is recorded: it is shared.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from anju.bench import registry
from anju.bench.stories import AnjuFeed, Driver, KvFeed, kv_mirror, quantile, registry_workload
from anju.chain import consortium as c
from anju.chain.abci.cosign import recent_rows
from anju.chain.node import now_rfc3339
from anju.demo import workload

CHAIN = "anju-bench-consortium"
UNITS = 30_000
MIX = 90_000  # transactions of the mix (kvstore must not run out in 30 s)
BACKLOG = 6000
DURATION = 30.0
WARMUP = 4.0
FINALITY_LOAD = 0.5
FINALITY_SECONDS = 15.0
FINALITY_ATTEMPTS = 3  # a run the chain did not keep up with is repeated at FINALITY_BACKOFF x the rate
FINALITY_BACKOFF = 0.7
FINALITY_CURVE = (0.25,)  # further finality runs, at these fractions of the measured tps
CURVE_FIELDS = ("offered_tps", "committed_tps", "p50_ms", "p99_ms", "max_ms", "samples", "sustained", "loadavg")


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
            out[k] = {"p50": quantile(xs, 0.5), "p99": quantile(xs, 0.99)}
    return out


async def finality(node: c.NodeInfo, sent_at: dict[str, float], start: int, timeout: float = 30) -> list[float]:
    """Submission to cosigned checkpoint (member 0's clock; same machine), per committed tx."""
    out: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < deadline:
            try:
                rows = await _all_blocks(client, node.cosign_url, start)
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


async def _all_blocks(client: httpx.AsyncClient, cosign_url: str, start: int) -> list[dict[str, Any]]:
    """The cosigner's ``/blocks`` rows from ``start`` on, page after page (until an empty one)."""
    out: list[dict[str, Any]] = []
    while True:
        rows: list[dict[str, Any]] = (await client.get(f"{cosign_url}/blocks", params={"from": start})).json()
        if not rows:
            return out
        out.extend(rows)
        start = max(int(r["height"]) for r in rows) + 1


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _setup(tmp: Path, units: int, txs: int, console: Console) -> tuple[Path, list[bytes], list[int], dict[str, int]]:
    """The registry ledger the members start from, and the signed mix with the story of each transaction."""
    today = now_rfc3339()[:10]
    w = workload.plan("anju-bench-consortium", units=units, txs=txs, today=today, chain=CHAIN)
    data = tmp / "ledger"
    story: list[int] = []
    with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        _, raws, kinds = registry.build(data, w, pool, console=console, stories=story)
    return data, raws, story, dict(sorted(kinds.items()))


def run(
    console: Console | None = None,
    validators: int = 4,
    duration: float = DURATION,
    units: int = UNITS,
    txs: int = MIX,
) -> dict[str, Any]:
    """Both networks one after the other on loopback; returns the figures."""
    con = console or Console(stderr=True, quiet=True)
    if c.find_cometbft() is None:
        raise c.ConsortiumError("cometbft not found: run scripts/install-cometbft.sh first")
    base = 40000 + (os.getpid() % 100) * 50
    result: dict[str, Any] = {
        "validators": validators,
        "app": "anju-registry",
        "units": units,
        "generator": {
            "method": "stories (a step waits for the previous one to commit), JSON-RPC batches of "
            "broadcast_tx_async over HTTP/1.1 keep-alive; a signer's txs in seq order through one member",
            "baseline": "CometBFT kvstore on a mirror of the mix (same stories, signers, routes, tx sizes)",
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
    with tempfile.TemporaryDirectory(prefix="anju-bench-consortium-") as tmp_s:
        tmp = Path(tmp_s)
        t0 = time.perf_counter()
        con.log(f"setup: a registry of {units:,} units and a mix of ~{txs:,} transactions")
        ledger, raws, story, kinds = _setup(tmp, units, txs, con)
        wl = registry_workload(raws, story, validators)
        result.update(setup_seconds=round(time.perf_counter() - t0, 1), mix=kinds, transactions=len(raws))
        result["stories"] = len(set(story))

        k = tmp / "kvstore"
        c.init(k, validators=validators, chain_id=CHAIN, app="kv", base_port=base + 25)
        knodes = c.nodes_of(c.load(k))
        try:
            c.up(k, proxy_app="kvstore")
            _wait_height(knodes[0], 2)
            con.log("baseline (CometBFT kvstore, the same stories): saturating")
            kd = Driver(kv_mirror(wl), [n.rpc_url for n in knodes])
            km = asyncio.run(kd.run(KvFeed(knodes[0].rpc_url), duration, backlog=BACKLOG, warmup=WARMUP))
            result.update(kvstore_tps=km["tps"], kvstore=km)
            con.log(f"kvstore: {km}")
        finally:
            c.down(k)

        d = tmp / "anju"
        c.init(d, validators=validators, chain_id=CHAIN, ledger=ledger, base_port=base)
        nodes = c.nodes_of(c.load(d))
        first = int(c.load(d).get("first_height", 1))
        try:
            c.up(d, api=False)
            _wait_height(nodes[0], first + 1, timeout=180)
            con.log("consortium (Anju registry over ABCI): saturating")
            ad = Driver(wl, [n.rpc_url for n in nodes])
            feed = AnjuFeed(nodes[0].cosign_url)
            m = asyncio.run(ad.run(feed, duration, backlog=BACKLOG, warmup=WARMUP))
            result.update(consortium_tps=m["tps"], consortium=m)
            con.log(f"consortium: {m}")
            rate = max(10.0, FINALITY_LOAD * float(m["tps"]))
            attempts: list[dict[str, Any]] = []
            for _ in range(FINALITY_ATTEMPTS):
                fm = _finality_run(ad, feed, nodes[0], rate, con)
                attempts.append(fm)
                if fm["sustained"]:
                    break
                rate *= FINALITY_BACKOFF  # the chain did not keep up: a lower rate
            curve = []
            for load in FINALITY_CURVE:
                fm = _finality_run(ad, feed, nodes[0], max(10.0, load * float(m["tps"])), con)
                curve.append({"load": load, **{k: v for k, v in fm.items() if k in CURVE_FIELDS}})
            result["finality_curve"] = curve
            last = attempts[-1]
            result.update(
                finality_p50_ms=last["p50_ms"],
                finality_p99_ms=last["p99_ms"],
                finality_max_ms=last["max_ms"],
                finality_samples=last["samples"],
                finality_offered_tps=last["offered_tps"],
                finality_sustained=last["sustained"],
                finality=last,
                finality_attempts=[{k: v for k, v in a.items() if k != "per_height"} for a in attempts],
            )
            result["given_up"] = ad.failed
        finally:
            c.down(d)
    result["consortium_ratio"] = (
        round(result["consortium_tps"] / result["kvstore_tps"], 3) if result.get("kvstore_tps") else None
    )
    result["loadavg_end"] = _loadavg()
    return result


def _finality_run(ad: Driver, feed: AnjuFeed, node: c.NodeInfo, rate: float, con: Console) -> dict[str, Any]:
    """The mix at ``rate`` tx/s for ``FINALITY_SECONDS``: submission-to-cosigned figures, per-height breakdown."""
    left = asyncio.run(ad.settle(feed))
    con.log(f"consortium: finality at {rate:.0f} tx/s offered ({left} outstanding before)")
    start = feed.height + 1
    fm = asyncio.run(ad.run(feed, FINALITY_SECONDS, backlog=BACKLOG, rate=rate, warmup=WARMUP))
    fin = asyncio.run(finality(node, dict(ad.sent_at), start))
    rows = recent_rows(lambda h: httpx.get(f"{node.cosign_url}/blocks", params={"from": h}, timeout=60).json(), start)
    fm["per_height"] = breakdown(rows)
    fm.update(offered_tps=round(rate, 1), committed_tps=fm["tps"])
    fm.update(p50_ms=quantile(fin, 0.5), p99_ms=quantile(fin, 0.99), max_ms=quantile(fin, 1.0), samples=len(fin))
    # Sustained: the chain kept up (commit rate within 10 % of the offered rate).
    fm["sustained"] = fm["tps"] >= 0.9 * rate
    fm["loadavg"] = _loadavg()
    con.log(f"consortium: finality {fm}")
    return fm


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


if __name__ == "__main__":  # python -m anju.bench.consortium [seconds [units [txs]]]
    import json
    import sys

    args = [float(a) for a in sys.argv[1:4]]
    defaults = [DURATION, float(UNITS), float(MIX)]
    dur, n_units, n_txs = args + defaults[len(args) :]
    res = run(Console(stderr=True), duration=dur, units=int(n_units), txs=int(n_txs))
    print(json.dumps(res, indent=1))
