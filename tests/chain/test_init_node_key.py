"""``init_ledger`` keeps a node.key it finds in the data directory (its public key may already be
published, or an interrupted init left it), never writes over one, and refuses one it cannot use."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.conftest import CHAIN, GENESIS_TIME

from anju.chain.node import DB_NAME, Node, init_ledger, read_node_key, write_node_key
from anju.chain.verify import verify_data
from anju.crypto.keys import SigningKey
from anju.errors import StorageCorrupt
from anju.ledger.note import vkey_of
from anju.ledger.store import Store


def _init(data: Path, node_key: SigningKey | None = None) -> Path:
    return init_ledger(data, chain_id=CHAIN, app="kv", genesis_time=GENESIS_TIME, node_key=node_key)


def _published(data: Path) -> str:
    store = Store(data / DB_NAME, readonly=True)
    try:
        vkey = store.get_meta("verifier_key")
    finally:
        store.close()
    assert vkey is not None
    return vkey.decode()


def test_an_interrupted_init_run_again_keeps_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """node.key and genesis.json left, no ledger.db: the second init signs block 0 with the same key
    (it used to draw a new one, and a public key already handed out named no key of the ledger)."""
    data = tmp_path / "n"
    real = Store.write_blocks

    def dying(self: Store, *args: object, **kw: object) -> None:
        raise KeyboardInterrupt  # stands for a kill inside the write

    monkeypatch.setattr(Store, "write_blocks", dying)
    with pytest.raises(KeyboardInterrupt):
        _init(data)
    assert {p.name for p in data.iterdir()} >= {"node.key", "genesis.json"} and not (data / DB_NAME).exists()
    first = read_node_key(data)
    monkeypatch.setattr(Store, "write_blocks", real)
    _init(data)
    assert read_node_key(data) == first
    assert _published(data) == vkey_of(CHAIN, first.public)
    Node(data, verify_workers=0).close()
    assert verify_data(data, workers=1).ok


def test_a_key_made_beforehand_signs_the_ledger_and_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "n"
    data.mkdir()
    key = SigningKey(b"p" * 32)
    write_node_key(data / "node.key", key)
    before = (data / "node.key").read_bytes()
    (data / "node.key").chmod(0o644)
    _init(data)
    assert (data / "node.key").read_bytes() == before  # kept as it is, not rewritten
    assert (data / "node.key").stat().st_mode & 0o777 == 0o600
    assert _published(data) == vkey_of(CHAIN, key.public)


def test_the_key_given_is_used_and_must_match_a_key_already_there(tmp_path: Path) -> None:
    given = SigningKey(b"g" * 32)
    _init(tmp_path / "fresh", given)
    assert read_node_key(tmp_path / "fresh") == given

    same = tmp_path / "same"
    same.mkdir()
    write_node_key(same / "node.key", given)
    _init(same, SigningKey(b"g" * 32))
    assert _published(same) == vkey_of(CHAIN, given.public)

    other = tmp_path / "other"
    other.mkdir()
    write_node_key(other / "node.key", SigningKey(b"o" * 32))
    before = (other / "node.key").read_bytes()
    with pytest.raises(StorageCorrupt) as err:
        _init(other, given)
    assert err.value.code == "NODE_KEY_INVALID" and "another key" in err.value.message
    assert [p.name for p in other.iterdir()] == ["node.key"] and (other / "node.key").read_bytes() == before


def _key_file(**fields: object) -> bytes:
    key = SigningKey(b"k" * 32)
    return orjson.dumps({"ed25519_seed": key.seed.hex(), "public_key": key.public_hex, **fields})


MALFORMED = {
    "empty": (b"", "empty"),
    "not-json": (b"ed25519 seed: 00", "not JSON"),
    "not-an-object": (b'["00"]', "not a JSON object"),
    "no-seed": (orjson.dumps({"public_key": "ab" * 32}), "ed25519_seed"),
    "short-seed": (_key_file(ed25519_seed="ab" * 31), "ed25519_seed"),
    "seed-not-hex": (_key_file(ed25519_seed="zz" * 32), "ed25519_seed"),
    "no-public-key": (orjson.dumps({"ed25519_seed": "ab" * 32}), "public_key"),
    "public-key-of-another-seed": (_key_file(public_key=SigningKey(b"x" * 32).public_hex), "public_key"),
}


@pytest.mark.parametrize(("content", "why"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_key_is_refused_and_nothing_is_written(tmp_path: Path, content: bytes, why: str) -> None:
    data = tmp_path / "n"
    data.mkdir()
    (data / "node.key").write_bytes(content)
    with pytest.raises(StorageCorrupt) as err:
        _init(data)
    assert err.value.code == "NODE_KEY_INVALID" and why in err.value.message, err.value.message
    assert err.value.details == {"path": str(data / "node.key")}
    assert [p.name for p in data.iterdir()] == ["node.key"] and (data / "node.key").read_bytes() == content


@pytest.mark.parametrize("kind", ["directory", "dangling-link"])
def test_something_else_named_node_key_is_refused(tmp_path: Path, kind: str) -> None:
    data = tmp_path / "n"
    data.mkdir()
    if kind == "directory":
        (data / "node.key").mkdir()
    else:
        (data / "node.key").symlink_to(tmp_path / "nowhere")
    with pytest.raises(StorageCorrupt) as err:
        _init(data)
    assert err.value.code == "NODE_KEY_INVALID"
    assert sorted(p.name for p in data.iterdir()) == ["node.key"] and not (tmp_path / "nowhere").exists()


def test_an_interrupted_key_write_leaves_no_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is written under a temporary name and renamed into place: a write stopped midway
    leaves no node.key (a damaged one would be refused), nor its temporary file; one a process
    killed midway left (it holds a key) goes with the next write; the next init makes a key."""
    import os

    data = tmp_path / "n"
    real = os.fsync

    def killed(fd: int) -> None:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name.startswith(".node.key.") and name.endswith(".tmp"):
            raise KeyboardInterrupt
        real(fd)

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        _init(data)
    assert not (data / "node.key").exists() and not [p for p in data.iterdir() if "node.key" in p.name]
    monkeypatch.setattr(os, "fsync", real)
    (data / ".node.key.k9x1.tmp").write_text('{"ed25519_seed": "half a')  # a kill -9's leftover
    _init(data)
    assert sorted(p.name for p in data.iterdir() if "node.key" in p.name) == ["node.key"]
    assert _published(data) == vkey_of(CHAIN, read_node_key(data).public)
