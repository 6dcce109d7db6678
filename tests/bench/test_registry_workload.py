"""The registry benchmark's workload at tiny scale: the setup and every transaction of the mix commit."""

from __future__ import annotations

import io
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rich.console import Console

from anju.bench import registry
from anju.bench.ledger import drive
from anju.chain.node import Node, now_rfc3339
from anju.demo import workload

MIX_KINDS = {
    "party.register", "authority.attest_identity", "mandate.grant", "listing.publish", "lease.sign",
    "lease.register", "deposit.lodge", "rent.pay", "payment.confirm", "deposit.return", "deposit.accept",
    "review.write",
}  # fmt: skip


def test_tiny_workload_commits_every_transaction(tmp_path: Path) -> None:
    today = now_rfc3339()[:10]
    w = workload.plan("test-bench", units=300, txs=500, today=today, chain=registry.CHAIN)
    data = tmp_path / "node"
    with ProcessPoolExecutor(2) as pool:
        prep, raws, kinds = registry.build(data, w, pool, console=Console(file=io.StringIO()))
    assert 450 <= len(raws) <= 550
    assert sum(kinds.values()) == len(raws)
    assert set(kinds) >= MIX_KINDS, MIX_KINDS - set(kinds)
    setup = prep.total()
    assert setup > 300 * 2  # every unit registered and titled, and its owner onboarded
    node = Node(data, verify_workers=2)
    node.start()
    try:
        _, lat = drive(node, raws, inflight=1000)  # raises unless every transaction commits
    finally:
        node.stop()
    assert len(lat) == len(raws)
    check = Node(data, verify_workers=0)
    last = check.store.block(check.store.height())
    check.store.close()
    assert last is not None and last.log_size == setup + len(raws)
    assert last.time[:10] == today  # the mix ran at the real date, after the setup's history


def test_jobs_count_what_they_sign() -> None:
    w = workload.plan("test-bench", units=60, txs=80, today="2026-11-25")
    jobs = [workload.Job(w, p.name, p.day, lo, hi) for p in workload.phases(w, step=20) for lo, hi in p.jobs]
    counts = [workload.run_job(j).counts for j in jobs]
    offsets = workload.seq_offsets(counts)
    assert offsets[0] == {name: 0 for name in counts[0]}
    assert sum(sum(c.values()) for c in counts) > 60 * 2 + 80
    last: dict[str, int] = {}
    for c, o in zip(counts, offsets, strict=True):
        for name, n in c.items():
            assert o[name] == last.get(name, 0)
            last[name] = o[name] + n
