"""After warm() loaded the whole state, a key the cache lacks is absent: no SQLite read for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import kv_put

from anju.chain import executor as ex_mod
from anju.chain.node import Node
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
