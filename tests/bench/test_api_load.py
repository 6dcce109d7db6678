"""``anju bench api``'s batch load generator: each signer's transactions through one client, in
order, so that concurrent batches never overtake one another's seqs; and a small real run."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import orjson

from anju.bench.api import _by_signer, _load_batch, _Server
from anju.bench.ledger import CHAIN, SIGNERS, make_txs
from anju.chain.node import init_ledger


def _signed(raw: bytes) -> tuple[str, int]:
    body = orjson.loads(raw)["body"]
    return body["signer"], body["seq"]


def test_each_signer_goes_through_one_client_in_stream_order() -> None:
    raws = make_txs(3 * SIGNERS + 7)
    clients, batch = 5, 40
    bodies = _by_signer(raws, clients, batch)
    assert len(bodies) == clients
    owner: dict[str, int] = {}
    seen: list[bytes] = []
    for c, chunks in enumerate(bodies):
        last: dict[str, int] = {}
        for body in chunks:
            items = orjson.loads(body)
            assert 0 < len(items) <= batch
            for item in items:
                raw = orjson.dumps(item)
                signer, seq = _signed(raw)
                assert owner.setdefault(signer, c) == c  # one client per signer
                assert seq == last.get(signer, 0) + 1  # that signer's seqs in order, none left out
                last[signer] = seq
                seen.append(raw)
    assert sorted(seen) == sorted(orjson.dumps(orjson.loads(r)) for r in raws)  # every envelope, once
    per_client = collections.Counter(owner.values())
    assert max(per_client.values()) - min(per_client.values()) <= 1  # signers spread evenly


def test_a_small_batch_load_commits_everything(tmp_path: Path) -> None:
    """Many clients, batches far smaller than the stream's cycle through its signers: with the
    stream dealt out batch by batch this could be refused SEQ_SKIPPED; dealt by signer, never."""
    data = init_ledger(tmp_path / "kv", chain_id=CHAIN, app="kv")
    server = _Server(data)
    try:
        raws = make_txs(4 * SIGNERS)
        out = asyncio.run(_load_batch(server.port, raws, 16, 50))
    finally:
        server.stop()
    assert (out["committed"], out["rejected"]) == (len(raws), 0)
