"""A full disk: the node stops taking work, answers every waiter, and loses nothing it acknowledged.

SQLite's ``max_page_count`` stands in for the disk: past it, a write fails with SQLITE_FULL
("database or disk is full") exactly where a full file system would fail it.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from tests.conftest import kv_put

from anju.chain.node import Node
from anju.chain.verify import verify_data
from anju.chain.writer import BlockWriter
from anju.crypto.keys import SigningKey
from anju.errors import Overloaded
from anju.ledger.store import BlockWrite, Store

ROOM_PAGES = 300
"""Pages the ledger may still grow by: the first wave of transactions below, far from all of them."""


@pytest.mark.parametrize(
    ("workers", "slow_answers"),
    [(0, False), (1, False), (1, True)],
    ids=["writer-thread", "writer-processes", "answers-read-late"],
)
def test_a_full_disk_stops_the_node_and_loses_nothing_acknowledged(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, workers: int, slow_answers: bool
) -> None:
    """``answers-read-late``: the node reads the store child's answers late, so it sends more groups
    to a child that has already reported the full disk and exited. The cause reported must still be
    the full disk, not the broken pipe those sends meet."""
    if slow_answers:
        receive = BlockWriter.receive

        def late(self: BlockWriter, blocks: list[BlockWrite]) -> list[tuple[bytes, str]]:
            time.sleep(0.2)
            return receive(self, blocks)

        monkeypatch.setattr(BlockWriter, "receive", late)
    connect = Store._connect

    def cramped(self: Store) -> sqlite3.Connection:
        conn = connect(self)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={pages + ROOM_PAGES}")
        return conn

    monkeypatch.setattr(Store, "_connect", cramped)  # (the writer processes are forked: they inherit it)
    key = SigningKey(b"f" * 32)
    raws = [kv_put(key, i, k=f"full{i}", v="v" * 300) for i in range(1, 1201)]
    node = Node(kv_data, verify_workers=workers, block_interval=0.005, max_block_txs=25).start()
    outcomes: list[object] = [f.result(timeout=60) for f in node.submit_many(raws[:40])]  # room for these
    for fut in node.submit_many(raws[40:]):
        try:
            outcomes.append(fut.result(timeout=60))  # every waiter is answered: none hangs
        except Overloaded as exc:
            outcomes.append(exc)
    refused = [o for o in outcomes if isinstance(o, Overloaded)]
    acknowledged = [o for o in outcomes if not isinstance(o, Overloaded)]
    assert acknowledged and refused, "the disk should fill part of the way through"
    assert all(o.code == "SHUTTING_DOWN" for o in refused)
    assert node.failure is not None and "full" in str(node.failure)
    with pytest.raises(Overloaded) as info:  # and it takes nothing new
        node.submit(kv_put(key, 5000)).result(timeout=30)
    assert info.value.code == "SHUTTING_DOWN"
    node.stop()
    assert any("full" in r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL"))

    monkeypatch.undo()  # room again: the restarted node has every acknowledged transaction
    assert verify_data(kv_data, workers=1).ok
    with Node(kv_data, verify_workers=0) as again:
        for r in acknowledged:
            found = again.store.tx_by_id(bytes.fromhex(r.txid))  # type: ignore[attr-defined]
            assert found is not None and found[:2] == (r.index, r.height)  # type: ignore[attr-defined]
        nxt = len(acknowledged) + 1  # the signer's next seq: everything after the failure was refused
        receipt = again.submit(kv_put(key, nxt, k="after", v="room")).result(timeout=30)
        assert receipt.height > max(r.height for r in acknowledged)  # type: ignore[attr-defined]
