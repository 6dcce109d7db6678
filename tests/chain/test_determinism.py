"""The registry on real nodes: the demo district's transactions give identical roots on two fresh
ledgers at every height, and `anju verify` passes on the result."""

from __future__ import annotations

from pathlib import Path

from anju.chain.node import Node, init_ledger
from anju.chain.verify import verify_data
from anju.crypto.tx import parse_and_verify
from anju.demo.generate import generate


def _build(data: Path, units: int) -> list[tuple[int, bytes, bytes, int]]:
    demo = generate("determinism", units=units, years=1, chain="anju-det-1")
    init_ledger(
        data, chain_id="anju-det-1", app="anju-registry", params=demo.genesis, genesis_time="2023-01-01T00:00:00.000Z"
    )
    node = Node(data, verify_workers=0)
    roots = []
    try:
        for time_, envs in demo.blocks():
            rec, results = node.commit_block(time_, [parse_and_verify(e) for e in envs])
            refused = [r for r in results if r is not None]
            assert not refused, f"demo transaction refused at {time_}: {refused[0]}"
            roots.append((rec.height, rec.log_root, rec.state_root, rec.log_size))
    finally:
        node.store.close()
    return roots


def test_two_fresh_nodes_agree_at_every_height(tmp_path: Path) -> None:
    a = _build(tmp_path / "a", units=40)
    b = _build(tmp_path / "b", units=40)
    assert len(a) > 50 and a[-1][3] > 500
    assert a == b
    summary = verify_data(tmp_path / "a", workers=2)
    assert summary.ok, summary.error
    assert summary.transactions == a[-1][3]
