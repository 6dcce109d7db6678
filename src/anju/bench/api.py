"""``anju bench api``: the HTTP interface under load, against real server processes (``anju serve``).

The load never runs in the server's process, nor in the benchmark's own: clients are separate
processes on uvloop with raw keep-alive HTTP/1.1 sockets (a few microseconds per request, so
they leave the cores to the server), sending pre-signed transactions.

Figures (one JSON object, also written to ``bench/results/api.json`` by the command):

- ``api_tps_single``: signed kv transactions POSTed one per request (``POST /txs``, no wait) by
  ``clients`` concurrent keep-alive connections, counted when committed (the clock stops when
  the node's tree holds all of them; one ``GET /node`` poll every 20 ms);
- ``api_tps_batch``: the next transactions of the same stream in ``POST /txs/batch?wait=commit``
  requests of ``batch`` envelopes, ``batch_clients`` in flight (48 × 500: as many outstanding as
  the node-alone run's :data:`anju.bench.ledger.INFLIGHT`; with 8, before the twentieth session,
  the server waited between its stages: 8,800–10,400 tx/s against 11,700–12,700 with 48 in the
  same hour); each counted when its answer says committed. Each client sends its own signers'
  transactions, in stream order (:func:`_by_signer`: before the twenty-first session a batch
  could overtake the one holding its signers' previous seq and the phase collapse into
  SEQ_SKIPPED refusals, which timing noise alone could set off);
- ``api_tps`` = the better of the two, ``api_tps_mode`` says which;
- ``limit_tps``: in the same run, on the same transactions, the ledger's irreducible work
  (Ed25519 on both cores + one fsynced append per block; :func:`anju.bench.ledger.limit_tps`);
- ``api_ratio`` = api_tps / limit_tps;
- ``node_tps``: the same single-POST transactions pushed as bytes straight into an embedded
  node (no HTTP; the ledger benchmark's closed loop, :func:`anju.bench.ledger.measure`), so
  ``api_vs_node`` = api_tps / node_tps shows what the HTTP layer costs and what the node allows;
- ``event_p50_ms`` / ``event_p99_ms``: ``subscribers`` concurrent SSE subscribers (another
  process), ``rounds`` transactions submitted with ``wait=commit``: from the commit receipt
  reaching the submitter to the event reaching each subscriber (negative gaps count as 0;
  CLOCK_MONOTONIC is shared by all processes); ``event_from_submit_p99_ms`` from submission;
- ``verify_code_p50_ms`` / ``verify_code_p99_ms``: ``AnjuClient.verify_listing(code)`` end to end
  (HTTP fetch of the bundle + offline verification of the checkpoint, every state proof and every
  inclusion proof) on a registry of ``listings`` live listings, built by :func:`build_registry`
  through real signed transactions (signed on both cores) committed with ``Node.commit_block``.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import multiprocessing as mp
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console

from anju.bench.ledger import CHAIN, INFLIGHT, limit_tps, make_txs, measure
from anju.chain.node import init_ledger
from anju.crypto import jcs
from anju.registry.machine import genesis_params

JSON_BODY = {"Content-Type": "application/json"}  # what the API asks of every POST body


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
    """``anju serve`` in its own process (uvicorn picks uvloop and httptools when installed)."""

    def __init__(self, data: Path, start_timeout: float = 600) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (data.parent / f"server-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from anju.cli.main import app; app()",
                "serve",
                "--data",
                str(data),
                "--port",
                str(self.port),
                "--rate",
                "0",
                "--mempool",
                "200000",
                "--streams-per-client",
                "5000",  # the subscribers all connect from this machine's one address
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(self.url + "/api/v1/node", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# -- a minimal HTTP/1.1 client on raw sockets (for the load processes) -----------------------------
class _Conn:
    """One keep-alive connection; a GET on a connection the server closed while idle is retried once."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = b"127.0.0.1:%d" % port
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    @classmethod
    async def open(cls, port: int) -> _Conn:
        c = cls(port)
        await c._connect()
        return c

    async def _connect(self) -> None:
        self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 22)
        sock = self.w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def request(self, method: bytes, target: bytes, body: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
        try:
            return await self._request(method, target, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            if method != b"GET":
                raise
            self.close()
            await self._connect()
            return await self._request(method, target, body)

    async def _request(self, method: bytes, target: bytes, body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        assert self.r is not None and self.w is not None
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, target, self.host)
        if body or method == b"POST":
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        self.w.write(head + b"\r\n" + body)
        raw = await self.r.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(b":")
                headers[k.strip().lower()] = v.strip()
        n = int(headers.get(b"content-length", b"0"))
        data = await self.r.readexactly(n) if n else b""
        return status, headers, data

    def close(self) -> None:
        if self.w is not None:
            self.w.close()


def _use_uvloop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass


async def _tree_size(conn: _Conn) -> int:
    _s, _h, body = await conn.request(b"GET", b"/api/v1/node")
    return int(orjson.loads(body)["tree_size"])


async def _load_single(port: int, raws: list[bytes], clients: int) -> dict[str, Any]:
    poll = await _Conn.open(port)
    base = await _tree_size(poll)
    conns = [await _Conn.open(port) for _ in range(clients)]
    it = iter(raws)
    rejected = 0
    retries = 0

    async def worker(c: _Conn) -> None:
        nonlocal rejected, retries
        for raw in it:
            while True:
                status, headers, _ = await c.request(b"POST", b"/api/v1/txs", raw)
                if status in (429, 503):
                    retries += 1
                    await asyncio.sleep(float(headers.get(b"retry-after", b"1")) / 10)
                    continue
                rejected += status >= 400
                break

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    posted = time.perf_counter() - t0
    target = base + len(raws) - rejected
    while await _tree_size(poll) < target:
        await asyncio.sleep(0.02)
    dt = time.perf_counter() - t0
    for c in [*conns, poll]:
        c.close()
    return {
        "seconds": dt,
        "post_seconds": posted,
        "committed": len(raws) - rejected,
        "rejected": rejected,
        "retries": retries,
    }


def _by_signer(raws: list[bytes], clients: int, batch: int) -> list[list[bytes]]:
    """Each client's batch bodies: every signer's transactions go through one client, in stream
    order. Batches of one stream spread over the clients would race: the stream cycles through its
    signers every few batches, so a batch with a signer's seq k + 1 could reach the node before the
    batch with its seq k (another connection) and be refused SEQ_SKIPPED, with all that follows.
    One connection answers one batch at a time, so each client's order is the node's."""
    streams: list[list[bytes]] = [[] for _ in range(clients)]
    owner: dict[str, int] = {}
    for raw in raws:
        signer = orjson.loads(raw)["body"]["signer"]
        streams[owner.setdefault(signer, len(owner) % clients)].append(raw)
    return [[b"[" + b",".join(s[i : i + batch]) + b"]" for i in range(0, len(s), batch)] for s in streams]


async def _load_batch(port: int, raws: list[bytes], clients: int, batch: int) -> dict[str, Any]:
    conns = [await _Conn.open(port) for _ in range(clients)]
    bodies = _by_signer(raws, clients, batch)
    committed = rejected = retries = 0

    async def worker(c: _Conn, chunks: list[bytes]) -> None:
        nonlocal committed, rejected, retries
        for body in chunks:
            while True:
                status, headers, data = await c.request(b"POST", b"/api/v1/txs/batch?wait=commit&timeout=120", body)
                if status in (429, 503):
                    retries += 1
                    await asyncio.sleep(float(headers.get(b"retry-after", b"1")) / 10)
                    continue
                if status != 200:
                    raise RuntimeError(f"batch answered {status}: {data[:300]!r}")
                for item in orjson.loads(data)["results"]:
                    if item["status"] == "committed":
                        committed += 1
                    else:
                        rejected += 1
                break

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c, chunks) for c, chunks in zip(conns, bodies, strict=True)))
    dt = time.perf_counter() - t0
    for c in conns:
        c.close()
    return {"seconds": dt, "committed": committed, "rejected": rejected, "retries": retries}


def _load_main(port: int, raws: list[bytes], mode: str, clients: int, batch: int) -> dict[str, Any]:
    """Entry point of a load-generator process (errors come back as RuntimeError: always picklable)."""
    _use_uvloop()
    cpu = time.process_time()
    try:
        if mode == "single":
            out = asyncio.run(_load_single(port, raws, clients))
        else:
            out = asyncio.run(_load_batch(port, raws, clients, batch))
    except Exception as exc:
        raise RuntimeError(f"load generator failed: {exc!r}") from None
    out["client_cpu_s"] = time.process_time() - cpu  # the load generator's own share of the machine
    return out


def _in_process(fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)`` in a fresh process (spawned: no state shared with the benchmark's)."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result(timeout=1800)


# -- events ------------------------------------------------------------------------------------------
_EV_KEY = re.compile(rb'"key":"ev(\d+)"')


async def _subscribe_all(
    port: int, party: str, subscribers: int, rounds: int, ready: Any, timeout: float
) -> list[list[float]]:
    """``subscribers`` SSE connections; for each event number, the delivery times (perf_counter)."""
    got: list[list[float]] = [[] for _ in range(rounds)]
    count = 0

    async def one() -> None:
        nonlocal count
        r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        w.write(
            b"GET /api/v1/events?party=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
            % party.encode()
        )
        await r.readuntil(b"\r\n\r\n")
        await r.readuntil(b"retry: 1000\n")
        await r.readuntil(b"\n\n")  # (the stream's position, its first id)
        count += 1
        if count == subscribers:
            ready.set()
        seen = 0
        buf = b""
        while seen < rounds:
            data = await r.read(65536)
            if not data:
                raise RuntimeError("stream closed")
            now = time.perf_counter()
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line.startswith(b"data: "):
                    m = _EV_KEY.search(line)
                    if m:
                        got[int(m.group(1))].append(now)
                        seen += 1
        w.close()

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(subscribers))), timeout)
    return got


def _subscriber_main(port: int, party: str, subscribers: int, rounds: int, ready: Any, timeout: float) -> Any:
    _use_uvloop()
    try:
        return asyncio.run(_subscribe_all(port, party, subscribers, rounds, ready, timeout))
    except Exception as exc:
        raise RuntimeError(f"subscribers failed: {exc!r}") from None


def _events(url: str, port: int, subscribers: int, rounds: int) -> tuple[list[float], list[float]]:
    """Latency of each event at each subscriber: (from commit receipt, from submission), in ms."""
    from anju.crypto.keys import SigningKey
    from anju.crypto.tx import sign

    key = SigningKey.generate()
    ctx = mp.get_context("spawn")
    mgr = ctx.Manager()
    ready = mgr.Event()
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        fut = pool.submit(_subscriber_main, port, key.public_hex, subscribers, rounds, ready, 300.0)
        if not ready.wait(240):
            raise RuntimeError(f"subscribers did not connect: {fut.exception() if fut.done() else 'timeout'}")
        time.sleep(0.5)
        t_commit: list[float] = []
        t_submit: list[float] = []
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(rounds):
                body = {
                    "chain": CHAIN,
                    "kind": "kv.put",
                    "signer": key.public_hex,
                    "seq": i + 1,
                    "key": f"ev{i}",
                    "value": str(i),
                }
                raw = jcs.trimmed(orjson.dumps(sign(body, [key])))
                t0 = time.perf_counter()
                r = http.post("/api/v1/txs", params={"wait": "commit"}, content=raw, headers=JSON_BODY)
                t1 = time.perf_counter()
                if r.status_code != 200:
                    raise RuntimeError(r.text)
                t_submit.append(t0)
                t_commit.append(t1)
                time.sleep(0.15)  # let the round's deliveries finish: one event in flight at a time
        got = fut.result()
    mgr.shutdown()
    since_commit = [max(0.0, t - t_commit[i]) * 1000 for i in range(rounds) for t in got[i]]
    since_submit = [(t - t_submit[i]) * 1000 for i in range(rounds) for t in got[i]]
    return since_commit, since_submit


# -- a big registry, fast ------------------------------------------------------------------------------
REG_CHAIN = "anju-bench-api"
_SEED = b"anju-bench-api"
_KEYS: dict[str, Any] = {}


def _key(name: str) -> Any:
    from anju.crypto.keys import SigningKey

    k = _KEYS.get(name)
    if k is None:
        k = _KEYS[name] = SigningKey(hashlib.sha256(_SEED + b"/" + name.encode()).digest())
    return k


def _h(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


_STREETS = ("衡山路", "淮海中路", "建国西路", "复兴西路", "天钥桥路", "漕溪北路", "宛平南路", "肇嘉浜路")


def _sign_parties(args: tuple[int, int]) -> list[Any]:
    """party.register + authority.attest_identity of landlords ``lo..hi`` (parsed, ready to deliver)."""
    from anju.crypto.tx import parse, sign

    lo, hi = args
    auth = _key("authority")
    out = []
    for o in range(lo, hi):
        k = _key(f"landlord-{o}")
        c = _h("commitment", o)
        out.append(
            sign(
                {
                    "chain": REG_CHAIN,
                    "kind": "party.register",
                    "signer": k.public_hex,
                    "seq": 1,
                    "role": "landlord",
                    "commitment": c,
                },
                [k],
            )
        )
        out.append(
            sign(
                {
                    "chain": REG_CHAIN,
                    "kind": "authority.attest_identity",
                    "signer": auth.public_hex,
                    "seq": o + 1,
                    "party": k.public_hex,
                    "commitment": c,
                },
                [auth],
            )
        )
    return [parse(e) for e in out]


def _sign_units(args: tuple[int, int, int, str]) -> list[Any]:
    """Units ``lo..hi``: unit.register (owner), title.attest (authority), listing.publish (owner)."""
    from anju.crypto.tx import parse, sign, txid_of

    lo, hi, owners, day = args
    auth = _key("authority")
    out = []
    for u in range(lo, hi):
        o, k = u % owners, u // owners
        owner = _key(f"landlord-{o}")
        h = hashlib.sha256(b"unit/%d" % u).digest()
        area = 20 + h[0] % 140
        reg = {
            "chain": REG_CHAIN,
            "kind": "unit.register",
            "signer": owner.public_hex,
            "seq": 2 + 2 * k,
            "district": "徐汇区",
            "street": _STREETS[h[1] % len(_STREETS)],
            "neighbourhood": "小区",
            "address_commitment": _h("address", u),
            "floor_area_m2": area,
            "rooms": max(1, area // 35),
        }
        uid = txid_of(reg)[:16]
        rent = (area * (90 + h[2] % 100)) * 100
        out.append(sign(reg, [owner]))
        out.append(
            sign(
                {
                    "chain": REG_CHAIN,
                    "kind": "title.attest",
                    "signer": auth.public_hex,
                    "seq": owners + u + 1,
                    "unit": uid,
                    "certificate_commitment": _h("cert", u),
                },
                [auth],
            )
        )
        out.append(
            sign(
                {
                    "chain": REG_CHAIN,
                    "kind": "listing.publish",
                    "signer": owner.public_hex,
                    "seq": 3 + 2 * k,
                    "unit": uid,
                    "rent": rent,
                    "deposit": rent,
                    "available_from": day,
                    "min_term_months": 12,
                    "description": f"{area}平方米，拎包入住",
                    "photos": [],
                },
                [owner],
            )
        )
    return [parse(e) for e in out]


def build_registry(
    data: Path, listings: int, console: Console, *, owners: int | None = None, block: int = 15_000, step: int = 1000
) -> dict[str, Any]:
    """A registry ledger in ``data`` with ``listings`` attested units, each with a live listing.

    Every record comes from a real signed transaction, executed by the registry and committed in
    large blocks with :meth:`Node.commit_block` (dated yesterday); signing runs on both cores."""
    from anju.chain.node import Node

    owners = owners or max(10, min(2000, listings // 50))
    listings -= listings % owners  # every owner holds the same number of units
    today = datetime.now(UTC).date()
    day = (today - timedelta(days=1)).isoformat()
    auth = _key("authority")
    init_ledger(
        data,
        chain_id=REG_CHAIN,
        app="anju-registry",
        params=genesis_params(auth.public_hex),
        genesis_time=f"{day}T00:00:00.000Z",
    )
    node = Node(data, verify_workers=0)
    n_blocks = 0
    t0 = time.perf_counter()

    def blocks() -> Iterator[list[Any]]:
        # Signing runs at most ``ahead`` jobs in front of the commits: Executor.map would sign
        # everything first and hold every parsed transaction in memory (~15 GB for 10^6 listings).
        ahead = 8
        with ProcessPoolExecutor(2) as pool:
            yield from pool.map(_sign_parties, [(i, min(owners, i + step)) for i in range(0, owners, step)])
            jobs = [(i, min(listings, i + step), owners, today.isoformat()) for i in range(0, listings, step)]
            window: collections.deque[Future[list[Any]]] = collections.deque()
            for job in jobs:
                window.append(pool.submit(_sign_units, job))
                if len(window) > ahead:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()

    pending: list[Any] = []

    def commit() -> None:
        nonlocal n_blocks
        when = f"{day}T08:{n_blocks // 60 % 60:02d}:{n_blocks % 60:02d}.000Z"
        _rec, results = node.commit_block(when, pending)
        bad = [r for r in results if r is not None]
        if bad:
            raise RuntimeError(f"registry setup: {len(bad)} refused, first: {bad[0]!r}")
        n_blocks += 1
        pending.clear()

    try:
        done = 0
        for txs in blocks():
            pending.extend(txs)
            if len(pending) >= block:
                done += len(pending)
                commit()
                console.print(f"  registry: {done:,} transactions committed ({time.perf_counter() - t0:.0f} s)")
        if pending:
            commit()
    finally:
        node.close()
    return {
        "listings": listings,
        "owners": owners,
        "registry_blocks": n_blocks,
        "registry_setup_s": round(time.perf_counter() - t0, 1),
    }


def verify_codes(data: Path, listings: int, codes: int, console: Console) -> dict[str, Any]:
    """``verify_code_p50_ms`` / ``_p99_ms`` over ``codes`` random listing codes, each verified end
    to end by the SDK (proofs checked) through a real server, on a registry of ``listings``.

    The registry is built in ``data`` unless a ledger is already there (a large one is reused
    between runs: ``anju bench verify-codes --data DIR``)."""
    from anju.client import AnjuClient

    if (data / "ledger.db").exists():
        out: dict[str, Any] = {"registry_reused": str(data)}
    else:
        out = build_registry(data, listings, console)
    db = sqlite3.connect(f"file:{data / 'ledger.db'}?mode=ro", uri=True)
    out["state_keys"] = db.execute("SELECT COUNT(*) FROM state").fetchone()[0]
    out["listings_stored"] = db.execute("SELECT COUNT(*) FROM state WHERE key LIKE 'listing/%'").fetchone()[0]
    all_codes = [r[0] for r in db.execute("SELECT substr(key, 6) FROM state WHERE key LIKE 'code/%'")]
    db.close()
    sample = random.Random(7).sample(all_codes, min(codes, len(all_codes)))
    console.print(
        f"  registry ready: {out['listings_stored']:,} listings, {out['state_keys']:,} state keys; "
        "starting the server (indexes)…"
    )
    t0 = time.perf_counter()
    server = _Server(data)
    out["server_start_s"] = round(time.perf_counter() - t0, 1)
    try:
        vkey = httpx.get(server.url + "/api/v1/node", timeout=30).json()["verifier_key"]
        with AnjuClient(server.url, vkey) as client:
            for code in sample[:20]:  # warm-up
                client.verify_listing(code)
            times: list[float] = []
            for code in sample:
                t = time.perf_counter()
                v = client.verify_listing(code)
                times.append((time.perf_counter() - t) * 1000)
                assert v.live, v.status
    finally:
        server.stop()
    out.update(
        verify_code_p50_ms=round(_pct(times, 50), 2),
        verify_code_p99_ms=round(_pct(times, 99), 2),
        verify_code_calls=len(times),
    )
    return out


def run(
    console: Console,
    *,
    txs: int = 120_000,
    clients: int = 64,
    batch: int = 500,
    batch_clients: int = 48,
    subscribers: int = 1000,
    rounds: int = 30,
    listings: int = 100_000,
    codes: int = 500,
) -> dict[str, Any]:
    """Run every API figure; ``listings`` sizes the registry for ``verify_code_p99_ms``."""
    out: dict[str, Any] = {
        "txs": txs,
        "clients": clients,
        "batch": batch,
        "batch_clients": batch_clients,
        "subscribers": subscribers,
        "cores": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="anju-bench-api-") as tmp:
        root = Path(tmp)
        console.print(f"signing {2 * txs} transactions…")
        raws = make_txs(2 * txs)
        single, batched = raws[:txs], raws[txs:]
        console.print("measuring the ledger limit…")
        lim = limit_tps(single, block=2000)
        console.print("measuring the embedded node alone (no HTTP)…")
        node = measure(single, inflight=INFLIGHT, console=console)
        data = init_ledger(root / "kv", chain_id=CHAIN, app="kv")
        server = _Server(data)
        try:
            console.print(f"api: {txs} single POSTs from {clients} connections (another process)…")
            s = _in_process(_load_main, server.port, single, "single", clients, batch)
            console.print(f"api: {txs} in batches of {batch}, {batch_clients} in flight…")
            b = _in_process(_load_main, server.port, batched, "batch", batch_clients, batch)
            tps_s = s["committed"] / s["seconds"]
            tps_b = b["committed"] / b["seconds"]
            best = "batch" if tps_b >= tps_s else "single"
            api = max(tps_s, tps_b)
            out.update(
                api_tps=round(api, 1),
                api_tps_mode=best,
                api_tps_single=round(tps_s, 1),
                api_tps_batch=round(tps_b, 1),
                limit_tps=round(lim, 1),
                api_ratio=round(api / lim, 3),
                api_ratio_single=round(tps_s / lim, 3),
                api_ratio_batch=round(tps_b / lim, 3),
                node_tps=node["tps"],
                node_ratio=round(node["tps"] / lim, 3),
                api_vs_node=round(api / node["tps"], 3),
                # the load generators' own CPU per transaction: what HTTP clients on this machine take from it
                client_cpu_us_single=round(s["client_cpu_s"] * 1e6 / txs, 1),
                client_cpu_us_batch=round(b["client_cpu_s"] * 1e6 / txs, 1),
                api_rejected=s["rejected"] + b["rejected"],
                api_retries=s["retries"] + b["retries"],
            )
            console.print(f"events: {subscribers} subscribers (another process) × {rounds} events…")
            since_commit, since_submit = _events(server.url, server.port, subscribers, rounds)
            out.update(
                event_p50_ms=round(_pct(since_commit, 50), 2),
                event_p99_ms=round(_pct(since_commit, 99), 2),
                event_from_submit_p50_ms=round(_pct(since_submit, 50), 2),
                event_from_submit_p99_ms=round(_pct(since_submit, 99), 2),
                event_deliveries=len(since_commit),
            )
        finally:
            server.stop()
        console.print(f"registry: {listings:,} listings through signed transactions…")
        out.update(verify_codes(root / "registry", listings, codes, console))
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out
