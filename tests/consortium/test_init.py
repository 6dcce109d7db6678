"""`consortium init` without starting anything: the registry by default, CometBFT's genesis app hash."""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson
import pytest

from anju.chain import consortium as c
from anju.chain.abci.app import checkpoint_of
from anju.ledger.store import Store
from anju.registry.credit import CHUNK
from anju.registry.edition import RULES

pytestmark = pytest.mark.consortium


def test_init_defaults_to_the_registry_with_a_housing_authority(tmp_path: Path) -> None:
    if c.find_cometbft() is None:
        pytest.skip("cometbft is not built (scripts/install-cometbft.sh)")
    layout = c.init(tmp_path / "d", validators=4, base_port=51000)
    assert layout["app"] == "anju-registry" and layout["threshold"] == 3
    authority = orjson.loads((tmp_path / "d" / "authority.key").read_bytes())["public_key"]
    genesis = orjson.loads((tmp_path / "d" / "node2" / "cometbft" / "config" / "genesis.json").read_bytes())
    params = {"authority": authority, "banks": [], "credit_chunk": CHUNK, "rules": RULES}
    assert genesis["app_state"]["params"] == params
    store = Store(tmp_path / "d" / "node2" / "anju" / "ledger.db")
    block0 = store.block(0)
    store.close()
    assert block0 is not None
    assert genesis["app_hash"] == checkpoint_of(layout["chain_id"], block0).app_hash().hex().upper()
    vkeys, threshold = c.trust_of(tmp_path / "d")
    assert threshold == 3 and len(vkeys) == 4
    hosts = {n["host"] for n in layout["nodes"]}
    assert len(hosts) == 4
    keys = [tmp_path / "d" / "authority.key", *(tmp_path / "d").glob("node*/anju/node.key")]
    assert len(keys) == 5 and all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
    # recheck evicts what PrepareProposal leaves out for good (a used seq, a gap): it cannot be off
    cfg = tomllib.loads((tmp_path / "d" / "node2" / "cometbft" / "config" / "config.toml").read_text())
    assert cfg["mempool"]["recheck"] is True and cfg["mempool"]["size"] == 50000


def test_a_key_is_written_private_over_a_file_already_there(tmp_path: Path) -> None:
    """O_TRUNC keeps an existing file's mode: a key written over a 0644 file must still be 0600."""
    from anju.chain.node import write_node_key
    from anju.crypto.keys import SigningKey

    path = tmp_path / "authority.key"
    path.write_text("old")
    path.chmod(0o644)
    write_node_key(path, SigningKey(b"k" * 32))
    assert path.stat().st_mode & 0o777 == 0o600
    assert orjson.loads(path.read_bytes())["public_key"] == SigningKey(b"k" * 32).public_hex


@pytest.mark.parametrize(("given", "rules"), [({}, RULES), ({"rules": 1}, 1)], ids=["unnamed", "named"])
def test_a_params_file_gets_the_newest_edition_unless_it_names_one(
    tmp_path: Path, given: dict[str, int], rules: int
) -> None:
    if c.find_cometbft() is None:
        pytest.skip("cometbft is not built (scripts/install-cometbft.sh)")
    authority = "ab" * 32
    c.init(tmp_path / "d", validators=4, base_port=51100, params={"authority": authority, **given})
    genesis = orjson.loads((tmp_path / "d" / "node1" / "cometbft" / "config" / "genesis.json").read_bytes())
    assert genesis["app_state"]["params"] == {"authority": authority, "rules": rules}
