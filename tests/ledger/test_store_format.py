"""The store stamps its on-disk format, moves a format-4 ledger to the current format when it
opens it for writing, and refuses a ledger written in any other format."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.conftest import kv_put

from anju.chain.node import DB_NAME, Node, init_ledger
from anju.chain.verify import verify_data
from anju.cli.serve_cmds import _old_format
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse_and_verify
from anju.errors import StorageCorrupt
from anju.ledger.store import STORE_FORMAT, Store, ref_key


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
        assert ("newer build" in str(err.value)) == (stamp == b"99")  # else: rebuild from its transactions
    if stamp == b"99":  # a newer build's: `anju demo` must not take it for an old district to rebuild
        with pytest.raises(StorageCorrupt):
            _old_format(db)
    else:
        assert _old_format(db)


def _to_format_4(db: Path) -> None:
    """Put a ledger's state back into format 4's layout: a WITHOUT ROWID table keyed by the key."""
    conn = sqlite3.connect(db)
    conn.executescript(
        "BEGIN;"
        "CREATE TABLE state4 (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        "INSERT INTO state4 SELECT key, value FROM state;"
        "DROP TABLE state;"
        "ALTER TABLE state4 RENAME TO state;"
        "DROP TABLE event_refs;"  # format 6's
        "UPDATE meta SET value=x'34' WHERE key='store_format';"  # b"4", as format 4 stamped it
        "COMMIT;"
    )
    conn.close()


def _state_rows(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT key, value FROM state ORDER BY key").fetchall()
    finally:
        conn.close()


def test_a_format_4_ledger_is_read_as_it_is_and_moved_to_the_current_format_when_opened_for_writing(
    kv_data: Path,
) -> None:
    key = SigningKey(b"m" * 32)
    node = Node(kv_data, verify_workers=0)
    node.commit_block("2026-01-01T00:00:01.000Z", [parse_and_verify(kv_put(key, s, k=f"k{s}")) for s in (1, 2, 3)])
    node.store.close()
    db = kv_data / DB_NAME
    _to_format_4(db)
    rows = _state_rows(db)
    assert ("kv/k2", '"b"') in rows

    reader = Store(db, readonly=True)  # a reader takes format 4 (and does not change it)
    assert reader.state_get("kv/k2") == b'"b"'
    assert reader.get_meta("store_format") == b"4"
    reader.close()
    assert not _old_format(db)  # so `anju demo` keeps the district and its writer moves it

    node = Node(kv_data, verify_workers=0)  # opened for writing: moved (4 -> 5 -> 6), rows unchanged
    assert node.store.get_meta("store_format") == STORE_FORMAT == b"6"
    assert _refs(db) == [(ref_key("p:" + key.public_hex), i) for i in (1, 2, 3)]
    assert _state_rows(db) == rows
    rid = node.store._conn().execute("SELECT rid FROM state WHERE key='kv/k2'").fetchone()[0]
    node.commit_block("2026-01-01T00:00:02.000Z", [parse_and_verify(kv_put(key, 4, k="k2", v="c"))])
    node.store.close()
    conn = sqlite3.connect(db)
    try:  # the rewritten row kept its place (an upsert, not a delete and insert); format 5's layout
        assert conn.execute("SELECT rid, value FROM state WHERE key='kv/k2'").fetchone() == (rid, '"c"')
        assert "WITHOUT ROWID" not in conn.execute("SELECT sql FROM sqlite_master WHERE name='state'").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name='state_format4'").fetchone() == (0,)
    finally:
        conn.close()
    assert verify_data(kv_data, workers=1).ok


def test_a_failed_move_leaves_the_format_4_ledger_as_it_was(kv_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = kv_data / DB_NAME
    Store(db).close()
    _to_format_4(db)
    rows = _state_rows(db)
    real_connect = sqlite3.connect

    class Failing(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
            if sql.startswith("DROP TABLE state_format4"):
                raise sqlite3.OperationalError("disk I/O error (injected)")
            return super().execute(sql, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, **k, factory=Failing))
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        Store(db)
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    reader = Store(db, readonly=True)
    assert reader.get_meta("store_format") == b"4"
    reader.close()
    assert _state_rows(db) == rows


def _refs(db: Path) -> list[tuple[int, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT ref, id FROM event_refs ORDER BY ref, id").fetchall()
    finally:
        conn.close()


def _to_format_5(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.executescript("BEGIN; DROP TABLE event_refs; UPDATE meta SET value=x'35' WHERE key='store_format'; COMMIT;")
    conn.close()


def _two_signers_ledger(kv_data: Path) -> tuple[SigningKey, SigningKey]:
    a, b = SigningKey(b"a" * 32), SigningKey(b"b" * 32)
    node = Node(kv_data, verify_workers=0)
    txs = [kv_put(a, 1), kv_put(b, 1), kv_put(a, 2, k="x"), kv_put(b, 2, k="y"), kv_put(a, 3, k="z")]
    node.commit_block("2026-01-01T00:00:01.000Z", [parse_and_verify(t) for t in txs])
    node.store.close()
    return a, b


def test_a_format_5_ledger_gets_its_event_index_when_opened_for_writing(kv_data: Path) -> None:
    a, b = _two_signers_ledger(kv_data)
    db = kv_data / DB_NAME
    built = _refs(db)  # as the writer indexed them, block by block
    assert [i for r, i in built if r == ref_key("p:" + a.public_hex)] == [1, 3, 5]
    assert [i for r, i in built if r == ref_key("p:" + b.public_hex)] == [2, 4]
    _to_format_5(db)

    reader = Store(db, readonly=True)  # read as it is: no event index
    assert reader.get_meta("store_format") == b"5" and not reader.event_index
    reader.close()
    assert verify_data(kv_data, workers=1).ok  # nothing to compare the (absent) index with

    store = Store(db)
    assert store.get_meta("store_format") == STORE_FORMAT and store.event_index
    store.close()
    assert _refs(db) == built
    assert verify_data(kv_data, workers=1).ok


def test_a_failed_index_build_leaves_the_format_5_ledger_as_it_was(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_signers_ledger(kv_data)
    db = kv_data / DB_NAME
    _to_format_5(db)
    real_connect = sqlite3.connect

    class Failing(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
            if "INSERT OR IGNORE INTO event_refs" in sql:
                raise sqlite3.OperationalError("disk I/O error (injected)")
            return super().execute(sql, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, **k, factory=Failing))
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        Store(db)
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key='store_format'").fetchone() == (b"5",)
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name='event_refs'").fetchone() == (0,)
    finally:
        conn.close()


def test_the_writer_indexes_events_as_the_format_6_migration_does(tmp_path: Path) -> None:
    """The writer computes ``event_refs`` rows in Python (store.event_refs); the migration's SQL
    (``_EVENT_REFS_FILL``) must find exactly the same rows in the stored events: parties, units and
    listings, a reference named twice in one event, empty lists, non-ASCII ids, several blocks."""
    from anju.ledger.store import _EVENT_REFS_FILL, BlockRecord, BlockWrite

    db = _ledger(tmp_path)
    store = Store(db)
    events = [
        [
            (0, "aa", "k", b"{}", '["p1","p2"]', '["u1"]', '["l1","l2"]'),
            (0, "aa", "k", b"{}", '["p1","p1"]', "[]", "[]"),
        ],
        [(0, "bb", "k", b"{}", "[]", "[]", "[]")],
        [(1, "cc", "k", b"{}", '["p2"]', '["u1","单元-7"]', '["l2"]')],
    ]
    for height, evs in enumerate(events, 1):
        rec = BlockRecord(height, "2026-01-01T00:00:00.000Z", 0, 0, 0, bytes(32), bytes(32), "note")
        store.write_blocks([BlockWrite(rec, [], [], {}, {}, evs)])
    store.close()
    written = _refs(db)
    conn = sqlite3.connect(db)
    conn.create_function("anju_ref", 1, ref_key, deterministic=True)
    conn.execute("DELETE FROM event_refs")
    conn.execute(_EVENT_REFS_FILL, (0,))
    conn.commit()
    conn.close()
    assert _refs(db) == written
    assert (ref_key("u:单元-7"), 4) in written and (ref_key("p:p1"), 2) in written
    assert len(written) == 5 + 1 + 4  # the repeated p1 of event 2 is one row
