"""A consortium member drops the block it executed for an undecided proposal in memory
(``Executor.unseal``): afterwards everything is as if that block had never been sealed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import CHAIN, GENESIS_TIME, kv_put

from anju.chain import executor as ex_mod
from anju.chain.node import Node, init_ledger
from anju.crypto import tx as txmod
from anju.crypto.keys import SigningKey
from anju.crypto.tx import Tx, parse_and_verify
from anju.ledger.statemap import verify_state_proof

KEYS = [f"k{i}" for i in range(12)]
# A block: kv operations, each a put of (key, value) or a delete of key.
values = st.one_of(st.none(), st.text("xyz", min_size=1, max_size=3))
ops = st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=8)


def _delete(key: SigningKey, seq: int, k: str) -> bytes:
    body = {"chain": CHAIN, "kind": "kv.delete", "signer": key.public_hex, "seq": seq, "key": k}
    return orjson.dumps(txmod.sign(body, [key]))


def _txs(key: SigningKey, first_seq: int, block: list[tuple[str, str | None]]) -> list[Tx]:
    return [
        parse_and_verify(kv_put(key, first_seq + i, k=k, v=v) if v is not None else _delete(key, first_seq + i, k))
        for i, (k, v) in enumerate(block)
    ]


def _seal(node: Node, t: str, txs: list[Tx]) -> ex_mod.Sealed:
    ex = node.executor
    ex.begin(t)
    for tx in txs:
        ex.deliver(tx)
    return ex.seal()


def _state(node: Node) -> tuple[bytes, bytes, int, dict[str, bytes | None]]:
    ex = node.executor
    return ex.smt.root, ex.frontier.root(), ex.sealed_tip.height, {k: ex.get(f"kv/{k}") for k in KEYS}


@pytest.mark.parametrize("cache_tiles", [ex_mod.SMT_CACHE_TILES, 1])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=ops, waiting=ops, dropped=ops, decided=ops)
def test_unsealing_leaves_no_trace(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    cache_tiles: int,
    base: list[tuple[str, str | None]],
    waiting: list[tuple[str, str | None]],
    dropped: list[tuple[str, str | None]],
    decided: list[tuple[str, str | None]],
) -> None:
    """base is stored; ``waiting`` is sealed and not yet stored; ``dropped`` is sealed and unsealed;
    then ``decided`` (reusing dropped's seqs) is sealed and everything stored. The ledger equals one
    that never saw ``dropped``: roots, checkpoints, reads, proofs, and the store reopened."""
    monkeypatch.setattr(ex_mod, "SMT_CACHE_TILES", cache_tiles)  # 1: evictions between apply and undo
    key = SigningKey(b"u" * 32)
    results = []
    for with_drop in (True, False):
        data = init_ledger(tmp_path_factory.mktemp("n") / "node", chain_id=CHAIN, app="kv", genesis_time=GENESIS_TIME)
        node = Node(data, verify_workers=0)
        ex = node.executor
        ex.undoable = True
        node.commit_block("2026-01-01T00:00:01.000Z", _txs(key, 1, base))
        seq = len(base) + 1
        first = _seal(node, "2026-01-01T00:00:02.000Z", _txs(key, seq, waiting))
        seq += len(waiting)
        before = _state(node)
        if with_drop:
            sealed = _seal(node, "2026-01-01T00:00:03.000Z", _txs(key, seq, dropped))
            ex.unseal(sealed)
            assert _state(node) == before
            with pytest.raises(RuntimeError):
                ex.unseal(sealed)  # once only
        last = _seal(node, "2026-01-01T00:00:03.500Z", _txs(key, seq, decided))
        for s in (first, last):
            ex.commit(s, s.checkpoint.sign(node.key, node.key_name))
        # The signed text of every checkpoint (each ledger has its own node key: signatures differ).
        cps = [
            (b.height, b.time, b.first_index, b.tx_count, b.log_root, b.state_root, b.checkpoint.split("\n\n")[0])
            for b in node.store.blocks()
        ]
        proofs = {}
        for k in KEYS:
            p = ex.smt.prove(f"kv/{k}")
            value = ex.get(f"kv/{k}")
            verify_state_proof(ex.smt.root, f"kv/{k}", value, p)
            proofs[k] = p.to_json()
        results.append((_state(node), cps, proofs))
        node.store.close()
        reopened = Node(data, verify_workers=0)
        assert _state(reopened) == _state(node)
        reopened.store.close()
    with_drop_result, without = results
    assert with_drop_result[0][:3] == without[0][:3] and with_drop_result[0][3] == without[0][3]
    assert with_drop_result[2] == without[2]
    assert with_drop_result[1] == without[1]


def test_a_stored_block_cannot_be_unsealed(kv_data: Path) -> None:
    key = SigningKey(b"v" * 32)
    node = Node(kv_data, verify_workers=0)
    ex = node.executor
    ex.undoable = True
    sealed = _seal(node, "2026-01-01T00:00:01.000Z", _txs(key, 1, [("a", "1")]))
    ex.commit(sealed, sealed.checkpoint.sign(node.key, node.key_name))
    with pytest.raises(RuntimeError):
        ex.unseal(sealed)
    older = _seal(node, "2026-01-01T00:00:02.000Z", _txs(key, 2, [("a", "2")]))
    _seal(node, "2026-01-01T00:00:03.000Z", _txs(key, 3, [("a", "3")]))
    with pytest.raises(RuntimeError):
        ex.unseal(older)  # only the newest
    node.store.close()


@pytest.mark.parametrize("capacity", [1, 4, 1 << 12])
@settings(max_examples=30, deadline=None)
@given(first=st.dictionaries(st.sampled_from(KEYS), st.binary(max_size=3)), second=ops)
def test_an_undone_apply_leaves_the_node_cache_equal_to_the_store(
    capacity: int, first: dict[str, bytes], second: list[tuple[str, str | None]]
) -> None:
    """Every node the cache holds after undo() is what the store holds (or its absence): nothing of
    the undone batch survives, whatever was evicted in between."""
    from anju.ledger.statemap import MemoryNodeStore, StateMap, decode_tile

    store = MemoryNodeStore()
    smt = StateMap(store, cache_size=capacity)
    _, changes = smt.apply({f"kv/{k}": v for k, v in first.items()})
    store.write(changes)
    root = smt.root
    for k in KEYS[:3]:
        smt.prove(f"kv/{k}")  # some nodes cached before the batch
    smt.apply({f"kv/{k}": None if v is None else v.encode() for k, v in second}, undoable=True)
    smt.undo()
    assert smt.root == root
    for tile_id, tile in smt._nodes._d.items():
        rec = store.get(tile_id)
        assert tile == (None if rec is None else decode_tile(rec))
    for k in KEYS:
        verify_state_proof(root, f"kv/{k}", first.get(k), smt.prove(f"kv/{k}"))
