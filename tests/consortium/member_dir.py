"""A member's data directory for unit tests: a kv ledger at its genesis, with a fresh node key."""

from __future__ import annotations

from pathlib import Path

import orjson

from anju.chain.executor import canonical_genesis
from anju.chain.node import DB_NAME, GENESIS_NAME, KEY_NAME, write_genesis
from anju.crypto.keys import SigningKey
from anju.ledger.store import Store

CHAIN = "unit-chain"


def kv_member(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """``tmp_path/anju`` holding the genesis of a kv chain ``CHAIN``; returns it and the genesis document."""
    data = tmp_path / "anju"
    data.mkdir()
    doc: dict[str, object] = {"chain_id": CHAIN, "app": "kv", "time": "2026-01-01T00:00:00.000Z", "params": {}}
    (data / GENESIS_NAME).write_bytes(canonical_genesis(doc) + b"\n")
    key = SigningKey.generate()
    (data / KEY_NAME).write_bytes(orjson.dumps({"ed25519_seed": key.seed.hex(), "public_key": key.public_hex}))
    store = Store(data / DB_NAME)
    write_genesis(store, doc, key)
    store.close()
    return data, doc
