"""The store stamps its on-disk format and refuses a ledger written in another one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from anju.chain.node import DB_NAME, init_ledger
from anju.cli.serve_cmds import _old_format
from anju.errors import StorageCorrupt
from anju.ledger.store import STORE_FORMAT, Store


def _ledger(tmp_path: Path) -> Path:
    init_ledger(tmp_path / "n", chain_id="fmt-test", app="kv", genesis_time="2026-01-01T00:00:00.000Z")
    return tmp_path / "n" / DB_NAME


def test_a_new_ledger_is_stamped_with_the_current_format(tmp_path: Path) -> None:
    db = _ledger(tmp_path)
    store = Store(db)
    assert store.get_meta("store_format") == STORE_FORMAT
    store.close()
    assert not _old_format(db)


@pytest.mark.parametrize("stamp", [None, b"1", b"99"])
def test_a_ledger_in_another_format_is_refused_with_a_clear_code(tmp_path: Path, stamp: bytes | None) -> None:
    db = _ledger(tmp_path)
    conn = sqlite3.connect(db)
    if stamp is None:  # written before the format was stamped (format 1)
        conn.execute("DELETE FROM meta WHERE key='store_format'")
    else:
        conn.execute("UPDATE meta SET value=? WHERE key='store_format'", (stamp,))
    conn.commit()
    conn.close()
    for readonly in (False, True):
        with pytest.raises(StorageCorrupt) as err:
            Store(db, readonly=readonly)
        assert err.value.code == "STORE_FORMAT"
        assert (stamp or b"1").decode() in str(err.value)
    assert _old_format(db)
