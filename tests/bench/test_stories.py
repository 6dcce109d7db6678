"""The mix's step-by-step seq plan and the story load generator's bookkeeping (no network)."""

from __future__ import annotations

import io
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rich.console import Console

from anju.bench import registry
from anju.bench.stories import (
    COMMITTED,
    FAILED,
    MAX_ATTEMPTS,
    QUEUED,
    SENDING,
    SENT,
    WAIT,
    Driver,
    Workload,
    kv_mirror,
    registry_workload,
)
from anju.crypto.tx import parse
from anju.demo import workload


def test_mix_seqs_number_each_signer_step_by_step() -> None:
    calls = [
        [("a", 0, 0), ("b", 1, 0), ("a", 2, 0), ("b", 0, 1), ("a", 1, 1)],  # job 0: two stories
        [("a", 0, 0), ("b", 1, 0)],  # job 1
    ]
    fixed = workload.mix_seqs({"a": 10, "b": 3}, calls)
    # a: (0,j0,s0)=11, (0,j1,s0)=12, (1,j0,s1)=13, (2,j0,s0)=14; b: (0,j0,s1)=4, (1,j0,s0)=5, (1,j1,s0)=6
    assert fixed == [(11, 5, 14, 4, 13), (12, 6)]


def test_the_signed_mix_is_in_seq_order_and_story_order(tmp_path: Path) -> None:
    w = workload.plan("test-stories", units=120, txs=300, today="2026-11-25", chain=registry.CHAIN)
    story: list[int] = []
    with ProcessPoolExecutor(2) as pool:
        _, raws, _ = registry.build(tmp_path / "node", w, pool, console=Console(file=io.StringIO()), stories=story)
    assert len(story) == len(raws) > 200
    last: dict[str, int] = {}
    for raw in raws:  # every signer's seqs rise by one, in submission order
        tx = parse(raw)
        assert tx.seq == last.get(tx.signer, tx.seq - 1) + 1
        last[tx.signer] = tx.seq
    wl = registry_workload(raws, story, 4)
    for i in range(len(raws)):
        for prev in (wl.signer_prev[i], wl.story_prev[i]):
            assert prev < i
        if wl.story_prev[i] >= 0:
            assert story[wl.story_prev[i]] == story[i]
            assert wl.story_next[wl.story_prev[i]] == i
        if wl.signer_prev[i] >= 0:
            assert wl.route[wl.signer_prev[i]] == wl.route[i]  # a signer always goes through one member
    assert len(set(story)) > 50
    kv = kv_mirror(wl)
    assert [len(r) for r in kv.raws] == [len(r) for r in raws]
    assert kv.story_prev == wl.story_prev and kv.route == wl.route


def test_driver_sends_a_step_only_after_the_previous_one_commits() -> None:
    # story 0: tx0 (signer A) -> tx1 (signer B); story 1: tx2 (signer A) -> tx3 (signer A)
    raws = [b"k0=x", b"k1=x", b"k2=x", b"k3=x"]
    wl = Workload(
        raws,
        ["k0", "k1", "k2", "k3"],
        route=[0, 1, 0, 0],
        signer_prev=[-1, -1, 0, 2],
        signer_next=[2, -1, 3, -1],
        story_prev=[-1, 0, -1, 2],
        story_next=[1, -1, 3, -1],
    )
    d = Driver(wl, ["http://a", "http://b"])
    assert list(d.state) == [QUEUED, WAIT, WAIT, WAIT]  # tx2 waits for A's tx0 to be sent
    batch = d._take(0, 10)
    assert batch == [0, 2]  # A's next tx is ready (first of its story): same batch, in seq order
    assert d.outstanding == 2 and d.unsent == 2
    d.state[0] = d.state[2] = SENT
    d.open = {0: (0.0, 5), 2: (0.0, 5)}
    d._maybe_push(3)
    assert d.state[3] == WAIT  # its story's previous step is sent, not committed
    d.committed_ids(["k2"])
    assert d.state[2] == COMMITTED and d.state[3] == QUEUED and d.outstanding == 1
    d.committed_ids(["k0", "k0", "unknown"])
    assert d.state[1] == QUEUED and d.committed == 2 and d.outstanding == 0
    assert d._take(1, 10) == [1] and d.state[1] == SENDING


def test_a_dropped_tx_is_sent_again_with_its_signers_later_ones() -> None:
    # one signer, two stories: tx0 -> (story 0) tx2; tx1 alone. CheckTx dropped tx0 (so tx1 too).
    wl = Workload(
        [b"a", b"b", b"c"],
        ["a", "b", "c"],
        route=[0, 0, 0],
        signer_prev=[-1, 0, 1],
        signer_next=[1, 2, -1],
        story_prev=[-1, -1, 0],
        story_next=[2, -1, -1],
    )
    d = Driver(wl, ["http://a"])
    assert d._take(0, 10) == [0, 1]
    for i in (0, 1):
        d.state[i] = SENT
        d.open[i] = (10.0, 2)  # sent at t=10; by 2 commits it should have been in
    d.outstanding = 2
    d._resend_stalled(11.0)
    assert d.resent == 0  # too soon
    d._resend_stalled(20.0)
    assert d.resent == 0  # nothing was committed since: it may still be in a mempool
    d.committed = 2
    d._resend_stalled(20.0)
    assert d.resent == 1 and list(d.state[:2]) == [QUEUED, WAIT] and d.outstanding == 0 and d.unsent == 3
    assert d._take(0, 10) == [0, 1]  # again, in seq order
    sends = 2
    while d.state[0] != FAILED and sends < 50:  # a tx that never gets in is given up
        d.state[0], d.open[0] = SENT, (0.0, 0)
        d._resend_stalled(100.0)
        sends += 1
    assert d.state[0] == FAILED and d.failed == 1 and sends == MAX_ATTEMPTS + 1


def test_the_commit_rate_runs_over_whole_block_intervals() -> None:
    d = Driver(Workload([], [], [], [], [], [], []), ["http://a"])
    # blocks of 1000 land at t=1, 3, 5, 7 (polled every 0.5 s)
    d.samples = [(t / 2, 1000 * sum(1 for b in (1, 3, 5, 7) if b <= t / 2)) for t in range(0, 17)]
    assert d._rate(2.0, 7.5) == 2000 / 4  # from the block at 3 s to the one at 7 s
    assert d.blocks_in_window == 3
    assert d._rate(2.0, 4.0) == 1000 / 2  # one block inside: the plain count from 2 to 4 s instead
    assert d.blocks_in_window == 1
