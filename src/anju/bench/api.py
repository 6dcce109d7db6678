"""``anju bench api``: the HTTP interface under load, against real server processes.

Figures (one JSON object, also written to ``bench/results/api.json`` by the command):

- ``api_tps``: signed kv transactions POSTed over HTTP by ``clients`` concurrent connections,
  counted when committed (the run ends when the node's tree holds all of them);
- ``limit_tps``: in the same run, on the same transactions, the ledger's irreducible work
  (Ed25519 on both cores + one fsynced append per block; :func:`anju.bench.ledger.limit_tps`);
- ``api_ratio`` = api_tps / limit_tps;
- ``verify_code_p99_ms`` (and p50): ``AnjuClient.verify_listing(code)`` end to end — HTTP fetch of
  the bundle plus offline verification of the checkpoint signature, every state proof and
  every inclusion proof — on a registry of ``listings`` listings (the demo generator; the issue's
  10^6 needs a long set-up, so the size is a parameter);
- ``event_p99_ms`` (and p50): from the commit receipt reaching the submitter to the event
  reaching each of ``subscribers`` concurrent SSE subscribers (negative gaps count as 0).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console

from anju.bench.ledger import CHAIN, limit_tps, make_txs
from anju.chain.node import init_ledger


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    def __init__(self, data: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (data.parent / f"server-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from anju.cli.main import app; app()", "serve", "--data", str(data),
             "--port", str(self.port), "--rate", "0", "--mempool", "200000"],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ})
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/api/v1/node", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def _post_all(url: str, raws: list[bytes], clients: int) -> tuple[float, int]:
    """POST every envelope from ``clients`` concurrent connections; seconds until all are committed."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        base = (await http.get("/api/v1/node")).json()["tree_size"]
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for raw in raws:
            queue.put_nowait(raw)
        rejected = 0

        async def worker() -> None:
            nonlocal rejected
            while not queue.empty():
                raw = queue.get_nowait()
                while True:
                    r = await http.post("/api/v1/txs", content=raw)
                    if r.status_code in (429, 503):
                        await asyncio.sleep(float(r.headers.get("Retry-After", "1")) / 10)
                        continue
                    rejected += r.status_code >= 400
                    break

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        target = base + len(raws) - rejected
        while (await http.get("/api/v1/node")).json()["tree_size"] < target:
            await asyncio.sleep(0.02)
        return time.perf_counter() - t0, rejected


async def _events(url: str, subscribers: int, rounds: int) -> tuple[list[float], list[float]]:
    """Latency of each event at each subscriber: (from commit receipt, from submission), in ms."""
    from anju.crypto.keys import SigningKey
    from anju.crypto.tx import sign

    key = SigningKey.generate()
    received: dict[int, list[float]] = {}
    ready = 0
    limits = httpx.Limits(max_connections=subscribers + 10)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(120.0)) as http:

        async def subscribe() -> None:
            nonlocal ready
            async with http.stream("GET", "/api/v1/events", params={"party": key.public_hex}) as resp:
                ready += 1
                async for line in resp.aiter_lines():
                    if line.startswith("data:"):
                        ev = orjson.loads(line[5:])
                        n = int(ev["data"]["key"][2:])
                        received.setdefault(n, []).append(time.perf_counter())
                        if n == rounds - 1:
                            return

        tasks = [asyncio.create_task(subscribe()) for _ in range(subscribers)]
        while ready < subscribers:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        since_commit: list[float] = []
        since_submit: list[float] = []
        for i in range(rounds):
            body = {"chain": CHAIN, "kind": "kv.put", "signer": key.public_hex, "seq": i + 1, "key": f"ev{i}",
                    "value": str(i)}
            t_submit = time.perf_counter()
            r = await http.post("/api/v1/txs", params={"wait": "commit"}, content=orjson.dumps(sign(body, [key])))
            t_commit = time.perf_counter()
            assert r.status_code == 200, r.text
            while len(received.get(i, [])) < subscribers:
                await asyncio.sleep(0.005)
            since_commit += [max(0.0, t - t_commit) * 1000 for t in received[i]]
            since_submit += [(t - t_submit) * 1000 for t in received[i]]
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return since_commit, since_submit


def run(console: Console, *, txs: int = 20_000, clients: int = 64, subscribers: int = 1000, rounds: int = 20,
        units: int = 300, codes: int = 200) -> dict[str, Any]:
    """Run every API figure; ``units`` sizes the demo registry for ``verify_code_p99_ms``."""
    out: dict[str, Any] = {"txs": txs, "clients": clients, "subscribers": subscribers, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="anju-bench-api-") as tmp:
        root = Path(tmp)
        console.print(f"signing {txs} transactions…")
        raws = make_txs(txs)
        console.print("measuring the ledger limit…")
        lim = limit_tps(raws, block=2000)
        data = init_ledger(root / "kv", chain_id=CHAIN, app="kv")
        server = _Server(data)
        try:
            console.print(f"api: {txs} transactions from {clients} concurrent clients…")
            seconds, rejected = asyncio.run(_post_all(server.url, raws, clients))
            out.update(api_tps=round((txs - rejected) / seconds, 1), api_rejected=rejected,
                       limit_tps=round(lim, 1), api_ratio=round((txs - rejected) / seconds / lim, 3))
            console.print(f"events: {subscribers} subscribers × {rounds} events…")
            since_commit, since_submit = asyncio.run(_events(server.url, subscribers, rounds))
            out.update(event_p50_ms=round(_pct(since_commit, 50), 2), event_p99_ms=round(_pct(since_commit, 99), 2),
                       event_from_submit_p99_ms=round(_pct(since_submit, 99), 2))
        finally:
            server.stop()
        console.print(f"registry: building the demo district with {units} units…")
        from anju.cli.serve_cmds import build_demo
        from anju.client import AnjuClient

        t0 = time.perf_counter()
        build_demo(root / "demo", units, quiet=True)
        out["registry_setup_s"] = round(time.perf_counter() - t0, 1)
        server = _Server(root / "demo")
        try:
            http = httpx.Client(base_url=server.url, timeout=30)
            listed = http.get("/api/v1/node").json()
            found: list[str] = []
            cursor = None
            while len(found) < codes:
                params: dict[str, Any] = {"include_inactive": True, "limit": 100}
                if cursor:
                    params["cursor"] = cursor
                page = http.get("/api/v1/listings", params=params).json()
                found += [item["listing"]["code"] for item in page["listings"]]
                cursor = page["next"]
                if not cursor:
                    break
            import sqlite3

            db = sqlite3.connect(f"file:{root / 'demo' / 'ledger.db'}?mode=ro", uri=True)
            out["listings"] = db.execute("SELECT COUNT(*) FROM state WHERE key LIKE 'listing/%'").fetchone()[0]
            out["state_keys"] = db.execute("SELECT COUNT(*) FROM state").fetchone()[0]
            db.close()
            client = AnjuClient(server.url, listed["verifier_key"])
            times: list[float] = []
            for code in found[:codes] * 2:
                t = time.perf_counter()
                client.verify_listing(code)
                times.append((time.perf_counter() - t) * 1000)
            client.close()
            http.close()
            out.update(verify_code_p50_ms=round(_pct(times, 50), 2), verify_code_p99_ms=round(_pct(times, 99), 2),
                       verify_code_calls=len(times))
        finally:
            server.stop()
    return out
