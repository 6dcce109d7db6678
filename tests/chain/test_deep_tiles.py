"""State-map tiles too deep for a SQLite integer id live in ``smt_deep``: the whole path works.

Real tiles that deep need two keys whose paths share 65 bits, so the test lowers the limit
(``store.TILE_ID_LIMIT``) until ordinary tiles cross it, then runs a real node (its block-writer
processes are forked after the change), restarts it, proves state through the API's snapshot
reads and replays the ledger with ``anju verify``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.conftest import kv_put

from anju.api.snapshot import Reader
from anju.chain.node import DB_NAME, Node
from anju.chain.verify import verify_data
from anju.crypto.keys import SigningKey
from anju.ledger import store as store_mod
from anju.ledger.statemap import verify_state_proof


def _counts(data: Path) -> tuple[int, int]:
    with sqlite3.connect(data / DB_NAME) as c:
        tiles = c.execute("SELECT COUNT(*) FROM smt_tiles").fetchone()[0]
        deep = c.execute("SELECT COUNT(*) FROM smt_deep").fetchone()[0]
    return int(tiles), int(deep)


@pytest.mark.parametrize("limit", [1 << 6, 1])
def test_tiles_past_the_integer_limit_are_stored_proved_and_verified(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    monkeypatch.setattr(store_mod, "TILE_ID_LIMIT", limit)  # tiles at depth >= 10 (or all) are "deep"
    a = SigningKey(b"d" * 32)
    with Node(kv_data, verify_workers=0, block_interval=0.01, max_block_txs=40) as node:
        for f in node.submit_many([kv_put(a, i, k=f"k{i}", v=str(i)) for i in range(1, 201)]):
            f.result(timeout=30)
        # rewrite half the keys: tiles move between versions in both tables
        for f in node.submit_many([kv_put(a, i, k=f"k{i - 200}", v="again") for i in range(201, 301)]):
            f.result(timeout=30)
    tiles, deep = _counts(kv_data)
    assert deep > 0
    assert tiles == 1 if limit == 1 else tiles > 1  # with limit 1, only the root reference (id 0) is an integer row
    with Node(kv_data, verify_workers=0) as node:  # reopens the map from both tables, checks the root
        assert node.executor.smt.root == node.executor.last.state_root
        # warmed with every tile of both tables, the map knows an uncached tile is absent: a deep
        # tile left out of the warming would now be rewritten as if it were new (caught below)
        assert node.executor.smt._nodes.complete
        for f in node.submit_many([kv_put(a, i, k=f"k{i - 300}", v="third") for i in range(301, 321)]):
            f.result(timeout=30)
    reader = Reader(kv_data / DB_NAME)
    with reader.snapshot() as snap:
        root = snap.head.state_root
        for i in (1, 20, 21, 100, 150, 200, 250):  # k250 was never written: a proof of absence
            value = b'"third"' if i <= 20 else b'"again"' if i <= 100 else b'"%d"' % i if i <= 200 else None
            verify_state_proof(root, f"kv/k{i}", value, snap.state_proof(f"kv/k{i}"))
    summary = verify_data(kv_data, workers=0)
    assert summary.ok, summary.error
    # an edit of a deep tile is caught like any other
    with sqlite3.connect(kv_data / DB_NAME) as c:
        c.execute("UPDATE smt_deep SET v = zeroblob(length(v)) WHERE id = (SELECT id FROM smt_deep LIMIT 1)")
    assert not verify_data(kv_data, workers=0).ok
