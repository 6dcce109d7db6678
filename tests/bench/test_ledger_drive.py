"""The ledger benchmark's closed loop (``drive``) on a real node: it hands the node slots of its own
(``Node.submit_many_to``), counts every outcome once, and reports refusals instead of hiding them."""

from __future__ import annotations

from pathlib import Path

import pytest

from anju.bench.ledger import CHAIN, SIGNERS, drive, make_txs
from anju.chain.node import Node, init_ledger


def test_drive_commits_everything_and_times_each_transaction(tmp_path: Path) -> None:
    data = init_ledger(tmp_path / "kv", chain_id=CHAIN, app="kv")
    raws = make_txs(3 * SIGNERS + 10)
    with Node(data, verify_workers=1, block_interval=0.01) as node:
        with pytest.raises(ValueError):
            node.submit_many_to(raws[:2], [])
        seconds, lat = drive(node, raws, inflight=1000, chunk=100)
        assert node.executor.last.log_size == len(raws)
    assert seconds > 0 and len(lat) == len(raws) and min(lat) >= 0


def test_drive_reports_refused_transactions(tmp_path: Path) -> None:
    data = init_ledger(tmp_path / "kv", chain_id=CHAIN, app="kv")
    raws = make_txs(SIGNERS + 5)
    with Node(data, verify_workers=0, block_interval=0.01) as node:
        drive(node, raws[:SIGNERS], inflight=400)
        with pytest.raises(RuntimeError, match=r"5 benchmark transactions failed, first: .*(SEQ_REUSED|DUPLICATE_TX)"):
            drive(node, raws[:5], inflight=400)  # the same again: every seq used
        drive(node, raws[SIGNERS:], inflight=400)  # nothing was taken by the refused ones
        assert node.executor.last.log_size == len(raws)
