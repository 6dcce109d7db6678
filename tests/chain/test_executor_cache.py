"""After warm() loaded the whole state, a key the cache lacks is absent: no SQLite read for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from tests.conftest import CHAIN, kv_put

from anju.chain import executor as ex_mod
from anju.chain.node import Node
from anju.crypto import tx as txmod
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse_and_verify


def _commit(node: Node, key: SigningKey, seqs: range, t: str) -> None:
    node.commit_block(t, [parse_and_verify(kv_put(key, s, k=f"k{s}", v=str(s))) for s in seqs])


@pytest.mark.parametrize("fits", [True, False])
def test_absent_keys_skip_sqlite_only_when_the_whole_state_is_cached(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch, fits: bool
) -> None:
    key = SigningKey(b"c" * 32)
    node = Node(kv_data, verify_workers=0)
    _commit(node, key, range(1, 11), "2026-01-01T00:00:01.000Z")
    node.store.close()
    if not fits:
        monkeypatch.setattr(ex_mod, "CACHE_LIMIT", 8)  # 11 stored keys do not fit in 8 // 2
    node = Node(kv_data, verify_workers=0)
    ex = node.executor
    ex.warm()
    reads: list[str] = []
    real = node.store.state_get
    monkeypatch.setattr(node.store, "state_get", lambda k: reads.append(k) or real(k))
    assert ex.get("kv/nope") is None
    assert ex.get("kv/k3") == b'"3"'
    if fits:
        assert reads == []  # the absent key cost no read
    else:
        assert "kv/nope" in reads  # a partial cache must ask SQLite
    # New keys committed later are seen, deleted ones are gone, whatever the mode.
    _commit(node, key, range(11, 13), "2026-01-01T00:00:02.000Z")
    assert ex.get("kv/k12") == b'"12"' and ex.get("kv/k99") is None
    node.store.close()


def test_reads_see_the_newest_of_many_sealed_unstored_blocks_until_each_is_stored(kv_data: Path) -> None:
    """Under load dozens of sealed blocks wait for the writer; a read answers from the newest that
    wrote the key (a delete included), and after each block is stored, from what is left."""
    node = Node(kv_data, verify_workers=0)
    ex = node.executor
    k = SigningKey(b"o" * 32)
    raws = {
        1: [kv_put(k, 1, k="a", v="1"), kv_put(k, 2, k="b", v="1")],
        2: [kv_put(k, 3, k="a", v="2")],
        3: [kv_delete(k, 4, "b"), kv_put(k, 5, k="c", v="3")],
    }
    sealed = []
    for n in (1, 2, 3):
        ex.begin(f"2026-01-01T00:00:0{n}.000Z")
        for raw in raws[n]:
            ex.deliver(parse_and_verify(raw))
        sealed.append(ex.seal())
    # Reads are "after the last sealed block": storing block 1 (a=1, b=1) must not bring its
    # values back while blocks 2 and 3 (a=2, b deleted) still wait.
    expect = [(b'"2"', None, b'"3"')] * 4  # before any block is stored, then after each one
    seen = [tuple(ex.get(f"kv/{x}") for x in "abc")]
    for s in sealed:
        ex.commit(s, s.checkpoint.sign(node.key, node.key_name))
        seen.append(tuple(ex.get(f"kv/{x}") for x in "abc"))
    assert seen == expect
    assert ex._overlay == {}  # nothing left over once every block is stored
    assert ex.committed_seq(k.public_hex) == 5
    node.store.close()


def kv_delete(key: SigningKey, seq: int, k: str) -> bytes:
    body = {"chain": CHAIN, "kind": "kv.delete", "signer": key.public_hex, "seq": seq, "key": k}
    return orjson.dumps(txmod.sign(body, [key]))


class _SpyCache(dict[str, "bytes | None"]):
    """The executor's cache, running ``during`` (another thread's read) inside its clear()."""

    def __init__(self, rows: dict[str, bytes | None], during: Callable[[], None]) -> None:
        super().__init__(rows)
        self.during = during

    def clear(self) -> None:
        super().clear()
        self.during()


def test_a_read_while_a_full_cache_is_emptied_reads_sqlite(kv_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stored() empties a full cache: a read between the clear and the end of "complete" must not
    answer "absent" for a stored key."""
    key = SigningKey(b"c" * 32)
    node = Node(kv_data, verify_workers=0)
    _commit(node, key, range(1, 4), "2026-01-01T00:00:01.000Z")
    monkeypatch.setattr(ex_mod, "CACHE_LIMIT", 12)  # 4 keys warm complete; a block of 8 overflows
    ex = node.executor
    ex.warm()
    assert ex._complete
    seen: list[bytes | None] = []
    ex._cache = _SpyCache(ex._cache, lambda: seen.append(ex.get("kv/k1")))
    _commit(node, key, range(4, 12), "2026-01-01T00:00:02.000Z")
    assert seen == [b'"1"']
    node.store.close()


def test_a_stale_sqlite_read_does_not_fill_the_cache(kv_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read that misses the cache and reads SQLite while another thread stores a block writing the
    same key must not leave its (older) value in the cache."""
    key = SigningKey(b"c" * 32)
    node = Node(kv_data, verify_workers=0)
    _commit(node, key, range(1, 2), "2026-01-01T00:00:01.000Z")
    node.store.close()
    node = Node(kv_data, verify_workers=0)
    ex = node.executor  # not warmed: a miss reads SQLite
    real = node.store.state_get

    def slow_read(k: str) -> bytes | None:
        v = real(k)  # the value before the block below
        monkeypatch.setattr(node.store, "state_get", real)
        node.commit_block("2026-01-01T00:00:02.000Z", [parse_and_verify(kv_put(key, 2, k="k1", v="new"))])
        return v

    monkeypatch.setattr(node.store, "state_get", slow_read)
    assert ex.get("kv/k1") == b'"1"'  # the read that began before the block was stored
    assert ex.get("kv/k1") == b'"new"'  # the next one sees the stored block, not a stale cache entry
    node.store.close()
