"""The API's snapshot reads: state proofs from SQLite, with the path read in one statement."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.conftest import kv_put

from anju.api import snapshot
from anju.api.snapshot import Reader
from anju.chain.node import DB_NAME, Node
from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
from anju.ledger.statemap import verify_state_proof


@pytest.fixture
def kv_ledger(kv_data: Path) -> Path:
    """Two blocks of kv puts: 300 keys, then 20 of them rewritten."""
    k = SigningKey(b"s" * 32)
    with Node(kv_data, verify_workers=0) as node:
        for f in node.submit_many([kv_put(k, i, k=f"s{i}", v=str(i)) for i in range(1, 301)]):
            f.result(timeout=60)
        for f in node.submit_many([kv_put(k, 300 + i, k=f"s{i}", v="again") for i in range(1, 21)]):
            f.result(timeout=60)
    return kv_data


@pytest.mark.parametrize("prefetch", [snapshot.PATH_PREFETCH, 3, 0])
def test_state_proofs_verify_against_the_snapshot_head(
    kv_ledger: Path, monkeypatch: pytest.MonkeyPatch, prefetch: int
) -> None:
    """Present and absent keys, whether the path is read in one statement (all of it, only its top
    levels) or node by node; through the shared cache, and again with a cold one."""
    monkeypatch.setattr(snapshot, "PATH_PREFETCH", prefetch)
    reader = Reader(kv_ledger / DB_NAME)
    keys = [f"kv/s{i}" for i in (1, 7, 20, 21, 150, 300)] + ["kv/absent", "kv/s0", "kv/s301"]
    for _ in range(2):  # the second pass reads from the shared cache
        with reader.snapshot() as s:
            root = s.head.state_root
            for key in keys:
                verify_state_proof(root, key, s.state_get(key), s.state_proof(key))
    with reader.snapshot() as s:
        assert s.state_get("kv/s1") == b'"again"' and s.state_get("kv/s300") == b'"300"'
        wrong = s.state_proof("kv/s1")
        with pytest.raises(VerificationError, match="different value"):
            verify_state_proof(root, "kv/s1", b'"1"', wrong)  # the old value does not verify


def test_an_older_head_uses_a_cache_of_its_own(kv_ledger: Path) -> None:
    """A snapshot of an older head than the shared cache's never reads (or fills) that cache."""
    reader = Reader(kv_ledger / DB_NAME)
    with reader.snapshot() as s:
        s.state_proof("kv/s1")
        head = s.head
    shared = reader.caches.smt
    assert shared and reader.caches.smt_height == head.height
    reader.caches.smt_height = head.height + 1  # as if a newer head had been seen meanwhile
    reader.caches.smt_root = b"\x00" * 32
    before = dict(shared)
    with reader.snapshot() as s:
        proof = s.state_proof("kv/s2")
        verify_state_proof(s.head.state_root, "kv/s2", s.state_get("kv/s2"), proof)
    assert reader.caches.smt == before


@pytest.mark.parametrize("prefetch", [True, False])
def test_inclusion_proofs_verify_against_the_snapshot_head(
    kv_ledger: Path, monkeypatch: pytest.MonkeyPatch, prefetch: bool
) -> None:
    """Log proofs for leaves across the tree (first, last, both blocks), whether the nodes a proof
    needs are read in one statement per table first or one by one; twice, the second time cached."""
    from anju.ledger import merkle
    from anju.ledger.store import Store

    if not prefetch:
        monkeypatch.setattr(snapshot.Snapshot, "_prefetch_log", lambda self, index, size: None)
    leaves = {i: leaf for i, _txid, _h, leaf in Store(kv_ledger / DB_NAME).leaves()}
    reader = Reader(kv_ledger / DB_NAME)
    for _ in range(2):
        with reader.snapshot() as s:
            size, root = s.head.log_size, s.head.log_root
            assert size == len(leaves) == 320
            for index in (0, 1, 63, 64, 255, 299, 300, 318, 319):
                proof = s.inclusion_proof(index, size)
                merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, proof, root)
                with pytest.raises(VerificationError):
                    merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index ^ 1, size, proof, root)
            assert s.inclusion_proof(5, 200) == merkle.inclusion_proof(5, 200, Store(kv_ledger / DB_NAME).tlog_node)


def test_threads_sharing_a_tiny_tile_cache_all_get_valid_proofs(
    kv_ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's threads share one cache of decoded tiles per head; with room for four tiles,
    they evict each other's entries all the time, and every proof still verifies."""
    monkeypatch.setattr(snapshot, "TILE_CACHE_LIMIT", 4)
    reader = Reader(kv_ledger / DB_NAME)
    keys = [f"kv/s{i}" for i in range(1, 301)] + ["kv/absent"]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(120):
                key = keys[(offset * 37 + n * 11) % len(keys)]
                with reader.snapshot() as s:
                    verify_state_proof(s.head.state_root, key, s.state_get(key), s.state_proof(key))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 0 < len(reader.caches.smt) <= 4 * (4 + 8)  # bounded: emptied when full (+ a path per thread)
