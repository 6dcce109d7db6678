"""A node opens only ledgers whose genesis its build can run: a rules edition newer than the build
implements is refused (STORE_FORMAT) rather than run under older rules; ``anju demo`` rebuilds a
district made before rule editions."""

from __future__ import annotations

from pathlib import Path

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
