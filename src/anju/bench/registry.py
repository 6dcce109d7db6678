"""``anju bench registry``: a realistic day of the rental registry, through the embedded node.

1. **Setup** (not timed as throughput): a fresh ``anju-registry`` ledger holding ``units``
   attested units with their owners, licensed agencies and their agents, tenants and a bank,
   leases that ended, leases running (paid monthly or quarterly), live listings — all real
   signed transactions (:mod:`anju.demo.workload`, signed on both cores) committed with
   :meth:`Node.commit_block` in large blocks dated in the past.
2. **The mix**, at today's date: onboarding, mandates, listings, leases signed and registered,
   deposits lodged, rent paid and confirmed, deposits returned, reviews — pre-signed on both
   cores, then pushed as envelope bytes through a started :class:`Node` with the ledger
   benchmark's closed loop (:func:`anju.bench.ledger.drive`): verified on both cores, sequenced,
   executed by the registry, committed with a signed checkpoint. Every transaction must commit.
3. ``limit_tps`` on the same transactions with :func:`anju.bench.ledger.limit_tps`.

Figures (one JSON object): ``registry_tps`` (with ``inflight``, 16,000, outstanding: the block
writer stores the blocks waiting as one group, and a group needs thousands of transactions to
pay its state-map pages well), ``limit_tps``, ``registry_ratio``, ``commit_p50_ms`` and
``commit_p99_ms`` (the mix's tail with ``latency_inflight``, 500, outstanding),
``saturated_p50_ms`` (latency during the throughput run: queue length / tps), ``units``,
``transactions``, ``mix`` (count per kind), ``setup_seconds``, ``rss_mb`` and a few more.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import resource
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from anju.bench.ledger import _pct, drive, limit_tps
from anju.chain.node import Node, init_ledger, now_rfc3339
from anju.crypto.tx import parse
from anju.demo import workload
from anju.demo.workload import Job, JobResult, Phase, Refs, Workload
from anju.registry.machine import genesis_params

CHAIN = "anju-bench-registry"
APP = "anju-registry"
SETUP_BLOCK = 20_000  # transactions per setup block
_NEEDS_REFS = frozenset({"ended", "quarterly", "monthly", "let_mandate", "let_listing", "mix"})


def _genesis(w: Workload) -> dict[str, Any]:
    from anju.demo.generate import _Names

    names = _Names(w.seed)  # the generator's keys: authority and bank-0
    return genesis_params(names.key("authority").public_hex, [names.key("bank-0").public_hex])


class Prepared:
    """The workload's jobs, counted, with every job's starting seqs."""

    def __init__(self, w: Workload, pool: ProcessPoolExecutor) -> None:
        self.w = w
        self.phases = workload.phases(w)
        jobs = [workload.Job(w, p.name, p.day, lo, hi) for p in self.phases for lo, hi in p.jobs]
        counted = list(pool.map(workload.run_job, jobs, chunksize=4))
        counts = [r.counts for r in counted]
        self.counts = counts
        self.offsets = workload.seq_offsets(counts)
        # The mix's seqs: step by step across the whole mix (workload.mix_seqs), after the setup's.
        mix = [i for i, job in enumerate(jobs) if job.phase == "mix"]
        base: Counter[str] = Counter()
        for i, job in enumerate(jobs):
            if job.phase != "mix":
                base.update(counts[i])
        self.fixed = dict(zip(mix, workload.mix_seqs(dict(base), [counted[i].calls for i in mix]), strict=True))
        self.pool = pool
        self.refs: dict[int, Refs] = {}
        self.setup_done = 0.0  # perf_counter() when the last setup block was committed

    def total(self, phase: str | None = None) -> int:
        """Transactions of the setup (``phase`` None) or of one phase."""
        n, i = 0, 0
        for p in self.phases:
            for _ in p.jobs:
                if (p.name == phase) or (phase is None and p.name != "mix"):
                    n += sum(self.counts[i].values())
                i += 1
        return n

    def signed(self, phase: Phase, first_job: int) -> list[Future[JobResult]]:
        """Submit one phase's jobs for signing (the refs of every earlier phase must be in)."""
        futs = []
        for k, (lo, hi) in enumerate(phase.jobs):
            refs = {u: self.refs[u] for u in range(lo, hi) if u in self.refs} if phase.name in _NEEDS_REFS else {}
            n = first_job + k
            job = Job(self.w, phase.name, phase.day, lo, hi, self.offsets[n], refs, self.fixed.get(n))
            futs.append(self.pool.submit(workload.run_job, job))
        return futs

    def results(self) -> Iterator[tuple[Phase, JobResult]]:
        """Every job's signed result, in order; the next phase is submitted as soon as it can be."""
        first = 0
        futs = self.signed(self.phases[0], 0)
        for n, phase in enumerate(self.phases):
            done: list[JobResult] = []
            for k, f in enumerate(futs):
                res = f.result()
                if res.counts != self.counts[first + k]:
                    raise AssertionError(f"job {phase.name}[{k}] signed other transactions than it counted")
                for u, r in res.refs.items():
                    self.refs[u] = r
                done.append(res)
            first += len(phase.jobs)
            if n + 1 < len(self.phases):
                futs = self.signed(self.phases[n + 1], first)
            yield from ((phase, r) for r in done)


def build(
    data: Path, w: Workload, pool: ProcessPoolExecutor, *, console: Console, stories: list[int] | None = None
) -> tuple[Prepared, list[bytes], Counter[str]]:
    """Set up the ledger in ``data``; return the signed mix (envelope bytes, in order) and its kinds.

    The mix is ordered step by step (every story's first step, then every second step...: the
    order of its signers' seqs, :func:`anju.demo.workload.mix_seqs`). ``stories``, if given,
    receives each mix transaction's story (a number): a story's transactions depend on one another."""
    prep = Prepared(w, pool)
    init_ledger(data, chain_id=w.chain, app=APP, params=_genesis(w), genesis_time=prep.phases[0].day + "T00:00:00.000Z")
    node = Node(data, verify_workers=0)
    keyed: list[tuple[tuple[int, int, int, int], bytes]] = []  # (step, job, story, call), raw
    mix_job = 0
    kinds: Counter[str] = Counter()
    blocks: dict[str, int] = {}
    pending: list[bytes] = []

    def commit(day: str) -> None:
        n = blocks.get(day, 0)
        blocks[day] = n + 1
        _, results = node.commit_block(workload.block_time(day, n), [parse(raw) for raw in pending])
        refused = [r for r in results if r is not None]
        if refused:
            raise RuntimeError(f"setup: {len(refused)} transactions refused, first: {refused[0]!r}")
        bar.advance(task, len(pending))
        pending.clear()

    columns = (TextColumn("setup {task.fields[phase]:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("setup", total=prep.total(), phase="")
        day = ""
        for phase, res in prep.results():
            if phase.name == "mix":
                if pending:
                    commit(day)
                    prep.setup_done = time.perf_counter()
                calls = zip(res.calls, res.raws, strict=True)
                keyed.extend(((step, mix_job, story, k), raw) for k, ((_, step, story), raw) in enumerate(calls))
                mix_job += 1
                kinds.update(res.kinds)
                continue
            if phase.day != day and pending:
                commit(day)
            day = phase.day
            bar.update(task, phase=phase.name)
            pending.extend(res.raws)
            while len(pending) >= SETUP_BLOCK:
                rest = pending[SETUP_BLOCK:]
                del pending[SETUP_BLOCK:]
                commit(day)
                pending.extend(rest)
        if pending:
            commit(day)
    node.close()
    keyed.sort(key=lambda x: x[0])
    mix = [raw for _, raw in keyed]
    if stories is not None:
        ids: dict[tuple[int, int], int] = {}
        stories.extend(ids.setdefault((k[1], k[2]), len(ids)) for k, _ in keyed)
    return prep, mix, kinds


def profile_sequencer(data: Path, raws: list[bytes], *, block: int = 4000, top: int = 30) -> dict[str, Any]:
    """CPU cost of the sequencer path alone (executor deliver + seal + commit), under cProfile.

    Runs the mix block by block with :meth:`Node.commit_block` on a copy of the set-up ledger (the
    copy is consumed), on this thread; verification is left out (parse only). CPU time is the
    thread's own (``time.thread_time``), so other load on the machine barely changes it."""
    txs = [parse(raw) for raw in raws]
    node = Node(data, verify_workers=0)
    prof = cProfile.Profile()
    cpu0, t0 = time.thread_time(), time.perf_counter()
    prof.enable()
    for i in range(0, len(txs), block):
        _, results = node.commit_block(now_rfc3339(), txs[i : i + block])
        if any(r is not None for r in results):
            raise RuntimeError(f"profile: refused {next(r for r in results if r is not None)!r}")
    prof.disable()
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - t0
    node.close()
    s = io.StringIO()
    stats = pstats.Stats(prof, stream=s)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return {
        "cpu_us_per_tx_profiled": round(cpu / len(txs) * 1e6, 1),
        "wall_seconds": round(wall, 2),
        "stats": s.getvalue(),
    }


def sequencer_cpu(data: Path, raws: list[bytes], *, block: int = 4000) -> dict[str, float]:
    """CPU microseconds per transaction of deliver, seal and commit (no profiler), on a ledger copy."""
    txs = [parse(raw) for raw in raws]
    node = Node(data, verify_workers=0)
    ex = node.executor
    spent = {"deliver": 0.0, "seal": 0.0, "commit": 0.0}
    for i in range(0, len(txs), block):
        c0 = time.thread_time()
        ex.begin(now_rfc3339())
        for tx in txs[i : i + block]:
            ex.deliver(tx)
        c1 = time.thread_time()
        sealed = ex.seal()
        c2 = time.thread_time()
        ex.commit(sealed, sealed.checkpoint.sign(node.key, node.key_name))
        c3 = time.thread_time()
        spent["deliver"] += c1 - c0
        spent["seal"] += c2 - c1
        spent["commit"] += c3 - c2
    node.close()
    out = {k: round(v / len(txs) * 1e6, 1) for k, v in spent.items()}
    out["total"] = round(sum(spent.values()) / len(txs) * 1e6, 1)
    return out


def measure(data: Path, raws: list[bytes], *, inflight: int, latency_inflight: int = 500) -> dict[str, Any]:
    """Push the mix through a started node (closed loop); every transaction must commit.

    Throughput: all but the last fifth of the mix (at most 20,000) with ``inflight`` outstanding,
    enough to keep the block writer's groups full. Latency: that tail with ``latency_inflight``
    outstanding, a load the node sustains (at saturation latency is queue length / tps). The
    tail holds the mix's last steps, whose earlier steps committed in the throughput run."""
    tail = min(20_000, len(raws) // 5)
    node = Node(data, verify_workers=2)
    node.start()
    try:
        warm = max(1, len(raws) // 50)
        drive(node, raws[:warm], inflight)
        dt, lat = drive(node, raws[warm : len(raws) - tail], inflight)
        _, late = drive(node, raws[len(raws) - tail :], latency_inflight)
    finally:
        node.stop()
    n = len(raws) - warm - tail
    out: dict[str, Any] = {
        "registry_tps": round(n / dt, 1),
        "seconds": round(dt, 2),
        "measured": n,
        "saturated_p50_ms": round(_pct(lat, 50), 1),
        "commit_p50_ms": round(_pct(late, 50), 1),
        "commit_p99_ms": round(_pct(late, 99), 1),
        "latency_measured": tail,
        "latency_inflight": latency_inflight,
    }
    return out


def run(
    *,
    units: int = 100_000,
    txs: int = 100_000,
    console: Console,
    inflight: int = 16_000,
    seed: str = "anju-bench",
    profile: bool = False,
) -> dict[str, Any]:
    """The registry benchmark; returns the figures (the CLI prints them and writes the JSON)."""
    today = now_rfc3339()[:10]  # the clock is read once: every date of the workload follows from it
    w = workload.plan(seed, units=units, txs=txs, today=today, chain=CHAIN)
    console.log(f"registry of {units:,} units, a mix of ~{txs:,} transactions on {today}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="anju-bench-registry-") as tmp:
        data = Path(tmp) / "node"
        t0 = time.perf_counter()
        with ProcessPoolExecutor(2) as pool:
            prep, raws, mix = build(data, w, pool, console=console)
        setup_seconds = prep.setup_done - t0
        sign_seconds = time.perf_counter() - prep.setup_done
        console.log(f"setup: {prep.total():,} transactions in {setup_seconds:.0f} s; mix: {len(raws):,} transactions")
        console.log("measuring the limit (Ed25519 verify on both cores + one SQLite append per block)")
        lim = limit_tps(raws, block=2000)
        console.log(f"limit {lim:,.0f} tx/s; now the node")
        extra: dict[str, Any] = {}
        if profile:  # on copies of the set-up ledger, before the measured run uses it
            for name, fn in (("sequencer_cpu_us", sequencer_cpu), ("profile", profile_sequencer)):
                shutil.copytree(data, Path(tmp) / name)
                extra[name] = fn(Path(tmp) / name, raws)
                shutil.rmtree(Path(tmp) / name)
        res = measure(data, raws, inflight=inflight)
    out: dict[str, Any] = {
        "benchmark": "registry",
        "registry_tps": res["registry_tps"],
        "limit_tps": round(lim, 1),
        "registry_ratio": round(res["registry_tps"] / lim, 3),
        "commit_p50_ms": res["commit_p50_ms"],
        "commit_p99_ms": res["commit_p99_ms"],
        "latency_inflight": res["latency_inflight"],
        "latency_measured": res["latency_measured"],
        "saturated_p50_ms": res["saturated_p50_ms"],
        "units": units,
        "transactions": len(raws),
        "measured": res["measured"],
        "seconds": res["seconds"],
        "mix": dict(sorted(mix.items())),
        "setup_transactions": prep.total(),
        "setup_seconds": round(setup_seconds, 1),
        "mix_sign_seconds": round(sign_seconds, 1),
        "inflight": inflight,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    out.update(extra)
    return out
