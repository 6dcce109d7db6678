"""Versioned state-map storage: replaced nodes wait in ``smt_stale`` and are pruned every PRUNE_EVERY blocks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import kv_put

from anju.chain.node import DB_NAME, Node, init_ledger
from anju.chain.verify import verify_data
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse_and_verify
from anju.ledger.statemap import StateMap, verify_state_proof
from anju.ledger.store import PRUNE_EVERY, Store


def _reachable(conn: sqlite3.Connection) -> set[bytes]:
    nodes = {bytes(k): bytes(v) for k, v in conn.execute("SELECT k, v FROM smt_nodes")}
    root = nodes[b""]
    seen = {b""}
    stack = [(root[1:], 0, 0)] if root[0] == 2 else []
    while stack:
        ref, depth, prefix = stack.pop()
        pos = (prefix << (-depth & 7)).to_bytes((depth + 7) >> 3, "big") + bytes((depth,))
        key = ref[32:] + pos
        seen.add(key)
        rec, i = nodes[key], 0
        for bit in (0, 1):
            if rec[i] == 2:
                stack.append((rec[i + 1 : i + 41], depth + 1, (prefix << 1) | bit))
                i += 41
            else:
                i += 65 if rec[i] == 1 else 1
    return seen


def test_replaced_nodes_are_kept_until_the_prune_then_deleted(tmp_path: Path) -> None:
    data = init_ledger(tmp_path / "n", chain_id="anju-test-1", app="kv", genesis_time="2026-01-01T00:00:00.000Z")
    key = SigningKey(b"p" * 32)
    node = Node(data, verify_workers=0)
    conn = sqlite3.connect(data / DB_NAME)
    seq = 0
    saw_waiting = False
    for height in range(1, 2 * PRUNE_EVERY + 3):
        txs = []
        for _ in range(12):
            seq += 1
            txs.append(parse_and_verify(kv_put(key, seq, k=f"k{seq % 40}", v=str(seq))))
        node.commit_block(f"2026-01-01T00:00:{height:02d}.000Z", txs)
        stored = {bytes(r[0]) for r in conn.execute("SELECT k FROM smt_nodes")}
        stale = {bytes(r[0]) for r in conn.execute("SELECT k FROM smt_stale")}
        live = _reachable(conn)
        assert live <= stored and not (live & stale), "a live node must never be marked stale"
        assert stored == live | (stale & stored)
        if height % PRUNE_EVERY == 0:
            assert not stale and stored == live, f"block {height} prunes every replaced node"
        else:
            saw_waiting |= bool(stale)
        # Every key proves against this block's state root, straight from the stored nodes.
        store = Store(data / DB_NAME, readonly=True)
        last = store.block(store.height())
        assert last is not None and last.height == height
        smt = StateMap(store.smt_view(), last.state_root)
        for i in range(0, 40, 7):
            verify_state_proof(last.state_root, f"kv/k{i}", store.state_get(f"kv/k{i}"), smt.prove(f"kv/k{i}"))
        store.close()
    assert saw_waiting
    node.store.close()
    conn.close()
    assert verify_data(data, workers=1).ok


def test_versions_only_go_up(tmp_path: Path) -> None:
    import pytest

    from anju.ledger.statemap import MemoryNodeStore

    smap = StateMap(MemoryNodeStore())
    smap.apply({"a": b"1"}, version=5)
    with pytest.raises(ValueError, match="not above"):
        smap.apply({"a": b"2"}, version=5)
    smap.apply({"a": b"2"})  # the default is the next version
    assert smap.version == 6
