"""Shared fixtures: signed kv transactions and fresh ledgers in temporary directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from anju.chain.node import Node, init_ledger
from anju.crypto import tx as txmod
from anju.crypto.keys import SigningKey

CHAIN = "anju-test-1"
GENESIS_TIME = "2026-01-01T00:00:00.000Z"


def kv_put(key: SigningKey, seq: int, k: str = "a", v: str = "b", chain: str = CHAIN, **extra: Any) -> bytes:
    body = {"chain": chain, "kind": "kv.put", "signer": key.public_hex, "seq": seq, "key": k, "value": v, **extra}
    return orjson.dumps(txmod.sign(body, [key]))


@pytest.fixture
def kv_data(tmp_path: Path) -> Path:
    return init_ledger(tmp_path / "node", chain_id=CHAIN, app="kv", genesis_time=GENESIS_TIME)


@pytest.fixture
def kv_node(kv_data: Path) -> Iterator[Node]:
    node = Node(kv_data, verify_workers=1, block_interval=0.02)
    node.start()
    yield node
    node.stop()
