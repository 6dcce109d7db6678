"""A node opens only ledgers whose genesis its build can run: a rules edition newer than the build
implements is refused (STORE_FORMAT) rather than run under older rules; ``anju demo`` rebuilds a
district made before rule editions."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from anju.chain.node import Node, init_ledger
from anju.cli.serve_cmds import _stale_demo
from anju.crypto.keys import SigningKey
from anju.errors import StorageCorrupt
from anju.registry import edition
from anju.registry.machine import genesis_params

AUTHORITY = SigningKey(b"\x07" * 32).public_hex


def _ledger(data: Path, **params: object) -> Path:
    init_ledger(data, chain_id="anju-edition-test", app="anju-registry", params={**genesis_params(AUTHORITY), **params})
    return data


def test_a_ledger_of_a_newer_edition_is_refused_when_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:  # a later build, implementing edition 3, made this ledger
        m.setattr(edition, "RULES", edition.RULES + 1)
        data = _ledger(tmp_path / "newer", rules=edition.RULES)
    with pytest.raises(StorageCorrupt) as err:
        Node(data, verify_workers=0)
    assert err.value.code == "STORE_FORMAT" and "rules must be an edition" in str(err.value)
    node = Node(_ledger(tmp_path / "current"), verify_workers=0)  # the build's own edition opens
    node.stop()


def test_anju_demo_rebuilds_a_district_made_before_rule_editions(tmp_path: Path) -> None:
    current = _ledger(tmp_path / "current")
    assert _stale_demo(current) is None
    params = genesis_params(AUTHORITY)
    del params["rules"]
    init_ledger(tmp_path / "before", chain_id="anju-edition-test", app="anju-registry", params=params)
    assert _stale_demo(tmp_path / "before") == "made before rule editions"
    node = Node(tmp_path / "before", verify_workers=0)  # still a valid ledger: it opens, as edition 1
    node.stop()


def test_an_adopted_edition_holds_after_a_restart_and_one_the_build_lacks_is_refused(tmp_path: Path) -> None:
    """A chain made at edition 2 adopts edition 3 through a committed transaction: reopened, it runs
    edition 3. A ledger whose state names an edition this build does not implement (adopted by a
    later build) is refused when opened (STORE_FORMAT), not run under older rules."""
    import sqlite3

    from anju.crypto.tx import sign

    data = _ledger(tmp_path / "adopting", rules=2)
    authority = SigningKey(b"\x07" * 32)
    body = {
        "chain": "anju-edition-test",
        "kind": "authority.adopt_rules",
        "signer": authority.public_hex,
        "seq": 1,
        "rules": 3,
        "reason_hash": "ab" * 32,
    }
    with Node(data, verify_workers=0) as node:
        receipt = node.submit(orjson.dumps(sign(body, [authority]))).result(timeout=30)
        assert [e.kind for e in receipt.events] == ["rules.adopted"]
    with Node(data, verify_workers=0) as node:
        meta = node.store.state_get("meta/registry")
        assert meta is not None and orjson.loads(meta)["rules"] == 3
    db = sqlite3.connect(data / "ledger.db")
    newer = orjson.dumps({**orjson.loads(meta), "rules": edition.RULES + 1}, option=orjson.OPT_SORT_KEYS)
    db.execute("UPDATE state SET value=? WHERE key='meta/registry'", (newer.decode(),))
    db.commit()
    db.close()
    with pytest.raises(StorageCorrupt) as err:
        Node(data, verify_workers=0)
    assert (
        err.value.code == "STORE_FORMAT" and "state" in str(err.value) and "rules must be an edition" in str(err.value)
    )
