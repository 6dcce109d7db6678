"""`anju verify` catches edits below the rows: index contents, the schema, the format stamp, extra
checkpoint signature lines; it reads a live ledger as of one moment, reports a broken or absent
ledger without a traceback (exit 2 when there is no ledger), and names the replayed block of a row."""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from tests.conftest import kv_put, small_kv_ledger
from typer.testing import CliRunner

from anju.chain.node import DB_NAME, GENESIS_NAME, Node
from anju.chain.verify import verify_data
from anju.cli.main import app
from anju.crypto.keys import SigningKey
from anju.ledger.note import add_signature, vkey_of
from anju.ledger.store import REGISTRY_INDEXES, Store


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_kv_ledger(tmp_path_factory.mktemp("vt") / "node")


def _copy(ledger: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(ledger, copy)
    return copy


def _edit(copy: Path, *stmts: str, writable_schema: bool = False) -> None:
    conn = sqlite3.connect(copy / DB_NAME, isolation_level=None)
    if writable_schema:
        conn.execute("PRAGMA writable_schema=ON")
    conn.execute("BEGIN")
    for sql in stmts:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.close()


def _swap_index(copy: Path) -> None:
    """Give the txid index of txs the b-tree of an identical table whose rows 3 and 4 swapped ids
    (what the review did): every row is intact, but a look-up by id finds the wrong transaction."""
    _edit(
        copy,
        "CREATE TABLE fake (idx INTEGER PRIMARY KEY, txid BLOB NOT NULL UNIQUE, height INTEGER NOT NULL, "
        "leaf BLOB NOT NULL)",
        "INSERT INTO fake SELECT idx, txid, height, leaf FROM txs WHERE idx NOT IN (3, 4)",
        "INSERT INTO fake SELECT 4, txid, height, leaf FROM txs WHERE idx = 3",
        "INSERT INTO fake SELECT 3, txid, height, leaf FROM txs WHERE idx = 4",
    )
    conn = sqlite3.connect(copy / DB_NAME, isolation_level=None)
    fake = conn.execute("SELECT name, rootpage FROM sqlite_master WHERE tbl_name='fake' AND type='index'").fetchone()
    real = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='sqlite_autoindex_txs_1'").fetchone()[0]
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute("BEGIN")
    conn.execute("UPDATE sqlite_master SET rootpage=? WHERE name='sqlite_autoindex_txs_1'", (fake[1],))
    conn.execute("UPDATE sqlite_master SET rootpage=? WHERE name=?", (real, fake[0]))
    conn.execute("COMMIT")
    conn.close()
    conn = sqlite3.connect(copy / DB_NAME, isolation_level=None)
    conn.execute("DROP TABLE fake")
    conn.close()


def test_an_index_that_disagrees_with_its_table_is_caught(ledger: Path, tmp_path: Path) -> None:
    copy = _copy(ledger, tmp_path)
    _swap_index(copy)
    store = Store(copy / DB_NAME, readonly=True)
    txid3 = bytes(store.execute("SELECT txid FROM txs NOT INDEXED WHERE idx=3")[0][0])
    found = store.tx_by_id(txid3)
    store.close()
    assert found is not None and found[0] == 4  # the edit works: the index answers the wrong tx
    s = verify_data(copy, workers=1)
    assert not s.ok and "integrity check" in (s.error or ""), s.error


SCHEMA_EDITS: dict[str, tuple[tuple[str, ...], bool, str]] = {
    # name: (statements, writable_schema, what the error names)
    "column retyped, then a REAL stored": (
        ("UPDATE sqlite_master SET sql=replace(sql, 'log_size INTEGER', 'log_size BLOB') WHERE name='blocks'",),
        True,
        "'blocks'",
    ),
    "unique index dropped, duplicate state row": (
        ("DROP INDEX state_key", "INSERT INTO state(key, value) SELECT key, value FROM state WHERE key='kv/k1'"),
        False,
        "'state_key'",
    ),
    "trigger planted": (
        ("CREATE TRIGGER t AFTER INSERT ON blocks BEGIN DELETE FROM events; END",),
        False,
        "trigger 't'",
    ),
    "extra table": (("CREATE TABLE notes (x)",), False, "table 'notes'"),
    "view added": (("CREATE VIEW v AS SELECT * FROM blocks",), False, "view 'v'"),
    "index dropped": (("DROP INDEX events_height",), False, "'events_height'"),
    "unknown index on state": (("CREATE INDEX api_listing_unit ON state(key)",), False, "'api_listing_unit'"),
    "format stamp 5 over a format-6 file": (
        ("UPDATE meta SET value=x'35' WHERE key='store_format'",),
        False,
        "'event_refs'",
    ),
    "format stamp 4 over a format-6 file": (
        ("UPDATE meta SET value=x'34' WHERE key='store_format'",),
        False,
        "'state'",
    ),
    "format stamp 6 without the event index": (("DROP TABLE event_refs",), False, "'event_refs'"),
}


@pytest.mark.parametrize("what", sorted(SCHEMA_EDITS))
def test_a_schema_edit_is_caught(ledger: Path, tmp_path: Path, what: str) -> None:
    stmts, writable, named = SCHEMA_EDITS[what]
    copy = _copy(ledger, tmp_path)
    _edit(copy, *stmts, writable_schema=writable)
    if what.startswith("column retyped"):
        _edit(copy, "UPDATE blocks SET log_size = 40.0 WHERE height = (SELECT MAX(height) FROM blocks)")
    s = verify_data(copy, workers=1)
    assert not s.ok, f"{what} was not detected"
    assert "schema" in (s.error or "") and named in (s.error or ""), s.error


def test_a_wrong_value_type_is_caught_even_where_sql_compares_it_equal(ledger: Path, tmp_path: Path) -> None:
    copy = _copy(ledger, tmp_path)
    _edit(copy, "UPDATE blocks SET time = CAST(time AS BLOB) WHERE height = 2")
    s = verify_data(copy, workers=1)
    assert not s.ok


def test_the_api_indexes_are_accepted(ledger: Path, tmp_path: Path) -> None:
    from anju.api.snapshot import ensure_indexes

    copy = _copy(ledger, tmp_path)
    ensure_indexes(copy / DB_NAME, REGISTRY_INDEXES)
    s = verify_data(copy, workers=1)
    assert s.ok, s.error


def _note_edit(copy: Path, height: int, fn: Callable[[str], str]) -> None:
    conn = sqlite3.connect(copy / DB_NAME)
    note = conn.execute("SELECT checkpoint FROM blocks WHERE height=?", (height,)).fetchone()[0]
    conn.execute("UPDATE blocks SET checkpoint=? WHERE height=?", (fn(note), height))
    conn.commit()
    conn.close()


_FAKE = "\u2014 witness " + base64.b64encode(os.urandom(68)).decode() + "\n"
NOTE_EDITS: dict[str, Callable[[str], str]] = {
    "unknown signer line": lambda n: n + _FAKE,
    "duplicated signature line": lambda n: n + n.split("\n\n")[1],
    "unknown line first": lambda n: n.split("\n\n")[0] + "\n\n" + _FAKE + n.split("\n\n")[1],
    "a second, valid signature by another key": lambda n: add_signature(n, "anju-test-1", SigningKey(b"w" * 32)),
}


@pytest.mark.parametrize("what", sorted(NOTE_EDITS))
def test_an_extra_checkpoint_signature_line_is_caught(ledger: Path, tmp_path: Path, what: str) -> None:
    copy = _copy(ledger, tmp_path)
    _note_edit(copy, 3, NOTE_EDITS[what])
    s = verify_data(copy, workers=1)
    assert not s.ok and s.error_height == 3, (what, s.error)


def _consortium_file(copy: Path, members: list[SigningKey], threshold: int) -> None:
    names = ["anju-test-1"] + [f"anju-test-1/m{i}" for i in range(1, len(members))]
    doc = {
        "chain_id": "anju-test-1",
        "member": "m0",
        "threshold": threshold,
        "first_height": 1,
        "members": [
            {"name": n, "vkey": vkey_of(n, k.public), "cosign_url": "http://127.0.0.1:1"}
            for n, k in zip(names, members, strict=True)
        ],
    }
    (copy / "consortium.json").write_bytes(orjson.dumps(doc))


def test_a_member_ledger_accepts_cosignatures_of_known_members_only(ledger: Path, tmp_path: Path) -> None:
    """consortium.json in DIR: a note may carry the members' cosignatures (all of them valid), or
    the member's own line alone (cosignatures not collected); a line by anyone else is an edit."""
    from anju.chain.node import read_node_key

    copy = _copy(ledger, tmp_path)
    own = read_node_key(copy)
    others = [SigningKey(bytes([i]) * 32) for i in (7, 8)]
    _consortium_file(copy, [own, *others], threshold=3)
    _note_edit(
        copy, 3, lambda n: add_signature(add_signature(n, "anju-test-1/m1", others[0]), "anju-test-1/m2", others[1])
    )
    s = verify_data(copy, workers=1)
    assert s.ok, s.error
    assert s.details["cosigned_below_threshold"] == s.height - 1  # every block but height 3

    _note_edit(copy, 4, lambda n: add_signature(n, "anju-test-1/m1", others[0]))  # 2 of a threshold of 3
    s = verify_data(copy, workers=1)
    assert not s.ok and s.error_height == 4, s.error
    _note_edit(copy, 4, lambda n: n.split("\n\n")[0] + "\n\n" + n.split("\n\n")[1].split("\n")[0] + "\n")
    _note_edit(copy, 5, lambda n: n + _FAKE)
    s = verify_data(copy, workers=1)
    assert not s.ok and s.error_height == 5, s.error


def test_a_member_ledger_copied_without_its_consortium_file_says_what_is_missing(ledger: Path, tmp_path: Path) -> None:
    copy = _copy(ledger, tmp_path)
    _note_edit(copy, 3, lambda n: add_signature(n, "anju-test-1/m1", SigningKey(bytes([7]) * 32)))
    s = verify_data(copy, workers=1)
    assert not s.ok and s.error_height == 3 and "consortium.json" in str(s.error), s.error


def test_a_live_ledger_is_verified_as_of_one_moment(ledger: Path, tmp_path: Path) -> None:
    copy = _copy(ledger, tmp_path)
    stop = threading.Event()
    c = SigningKey(b"c" * 32)

    def load() -> None:
        with Node(copy, verify_workers=0, block_interval=0.002, max_block_txs=5) as node:
            seq = 1
            while not stop.is_set():
                futs = node.submit_many([kv_put(c, seq + j, k=f"x{(seq + j) % 30}") for j in range(5)])
                seq += 5
                futs[-1].result(timeout=30)

    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(0.5)
        for _ in range(3):
            s = verify_data(copy, workers=1)
            assert s.ok, s.error
    finally:
        stop.set()
        t.join()


def _cli(data: Path) -> tuple[int, dict[str, object]]:
    res = CliRunner().invoke(app, ["verify", "--data", str(data), "--json", "--workers", "1"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res.exit_code, orjson.loads(res.stdout)


def test_no_ledger_exits_2_with_json(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, out = _cli(tmp_path / "empty")
    assert code == 2 and "does not exist (give --data the directory that holds one)" in str(out["error"]), out
    (tmp_path / "empty" / DB_NAME).write_bytes(b"")
    code, out = _cli(tmp_path / "empty")
    assert code == 2 and out["ok"] is False and "no ledger" in str(out["error"])


BROKEN: dict[str, Callable[[Path], None]] = {
    "garbage ledger.db": lambda d: (d / DB_NAME).write_bytes(os.urandom(4096)),
    "store format 7": lambda d: _edit(d, "UPDATE meta SET value=x'37' WHERE key='store_format'"),
    "no store format": lambda d: _edit(d, "DELETE FROM meta WHERE key='store_format'"),
    "genesis.json missing": lambda d: (d / GENESIS_NAME).unlink(),
    "key schedule not from 0": lambda d: _edit(
        d,
        "INSERT INTO meta VALUES ('verifier_keys', CAST('[[5,\"' || (SELECT CAST(value AS TEXT) FROM meta "
        "WHERE key='verifier_key') || '\"]]' AS BLOB))",
    ),
    "key schedule not JSON": lambda d: _edit(d, "INSERT INTO meta VALUES ('verifier_keys', x'7b')"),
}


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_a_broken_ledger_fails_cleanly(ledger: Path, tmp_path: Path, what: str) -> None:
    copy = _copy(ledger, tmp_path)
    (copy / (DB_NAME + "-wal")).unlink(missing_ok=True)
    BROKEN[what](copy)
    s = verify_data(copy, workers=1)
    assert not s.ok and s.error and s.exit_code == 1, s
    code, out = _cli(copy)
    assert code == 1 and out["ok"] is False and out["error"]


def test_a_moved_row_is_reported_at_its_replayed_block(ledger: Path, tmp_path: Path) -> None:
    copy = _copy(ledger, tmp_path)
    _edit(copy, "UPDATE events SET height = 999999 WHERE id = 6")
    s = verify_data(copy, workers=1)
    conn = sqlite3.connect(ledger / DB_NAME)
    real = conn.execute("SELECT height FROM events WHERE id = 6").fetchone()[0]
    conn.close()
    assert not s.ok and s.error_height == real, (s.error_height, s.error)

    copy2 = tmp_path / "copy2"
    shutil.copytree(ledger, copy2)
    _edit(copy2, "UPDATE txs SET height = height + 2 WHERE idx = 1")
    s = verify_data(copy2, workers=1)
    conn = sqlite3.connect(ledger / DB_NAME)
    real = conn.execute("SELECT height FROM txs WHERE idx = 1").fetchone()[0]
    conn.close()
    assert not s.ok and s.error_height in (real, real + 2)  # a moved tx: its block's count is off


def _vkey(ledger: Path) -> str:
    conn = sqlite3.connect(ledger / DB_NAME)
    try:
        return bytes(conn.execute("SELECT value FROM meta WHERE key='verifier_key'").fetchone()[0]).decode()
    finally:
        conn.close()


META_EDITS: dict[str, tuple[str, str]] = {
    # name: (statement, what the error names)
    "an extra row": ("INSERT INTO meta VALUES ('note', x'00')", "'note'"),
    "chain_id edited": ("UPDATE meta SET value=CAST('anju-test-2' AS BLOB) WHERE key='chain_id'", "meta.chain_id"),
    "chain_id deleted": ("DELETE FROM meta WHERE key='chain_id'", "meta.chain_id"),
    "verifier_key deleted": ("DELETE FROM meta WHERE key='verifier_key'", "meta.verifier_key"),
    "verifier_key stored as text": (
        "UPDATE meta SET value=CAST(value AS TEXT) WHERE key='verifier_key'",
        "meta.verifier_key",
    ),
    "genesis stored as text": ("UPDATE meta SET value=CAST(value AS TEXT) WHERE key='genesis'", "meta.genesis"),
}


@pytest.mark.parametrize("what", sorted(META_EDITS))
def test_a_meta_row_edit_is_caught(ledger: Path, tmp_path: Path, what: str) -> None:
    """meta is compared with what the store writes there: exactly chain_id (genesis.json's),
    genesis, verifier_key and store_format (and verifier_keys once the signer changed), each a
    blob. An extra row, an edited chain id, a verifier key deleted under --key: all verified OK."""
    stmt, named = META_EDITS[what]
    copy = _copy(ledger, tmp_path)
    _edit(copy, stmt)
    for trusted in (None, _vkey(ledger)):
        s = verify_data(copy, workers=1, trusted_vkey=trusted)
        assert not s.ok and s.error_height == 0, (what, trusted, s.error)
        assert named in str(s.error) and "malformed record" not in str(s.error), s.error


def _block_of(ledger: Path, height: int) -> tuple[int, int]:
    """(first_index, tx_count) of a block holding transactions."""
    conn = sqlite3.connect(ledger / DB_NAME)
    try:
        first, count = conn.execute("SELECT first_index, tx_count FROM blocks WHERE height=?", (height,)).fetchone()
    finally:
        conn.close()
    assert count > 0
    return first, count


TYPE_EDITS: dict[str, tuple[str, str]] = {
    # name: (statement on block {h} or its last leaf {idx}, what the error names)
    "a leaf stored as text": ("UPDATE txs SET leaf=CAST(leaf AS TEXT) WHERE idx={idx}", "leaf"),
    "a txid stored as text that is not UTF-8": ("UPDATE txs SET txid=CAST(txid AS TEXT) WHERE idx={idx}", "txid"),
    "a txid stored as its hex": ("UPDATE txs SET txid=hex(txid) WHERE idx={idx}", "txid"),
    "a log root stored as its hex": ("UPDATE blocks SET log_root=hex(log_root) WHERE height={h}", "log_root"),
    "a state root stored as text": (
        "UPDATE blocks SET state_root=CAST(state_root AS TEXT) WHERE height={h}",
        "state_root",
    ),
    "a block time that is no time (a number, kept as text)": ("UPDATE blocks SET time=5 WHERE height={h}", "time"),
    "a checkpoint that is not UTF-8": (
        "UPDATE blocks SET checkpoint=CAST(x'ff' || CAST(checkpoint AS BLOB) AS TEXT) WHERE height={h}",
        "checkpoint",
    ),
}


@pytest.mark.parametrize(
    ("height", "what"),
    [(h, w) for w in sorted(TYPE_EDITS) for h in (0, 3) if h or "{idx}" not in TYPE_EDITS[w][0]],  # (0 holds no tx)
)
def test_a_value_of_the_wrong_type_is_named_at_its_block(ledger: Path, tmp_path: Path, height: int, what: str) -> None:
    """A block's or a leaf's value stored as another SQLite type (or as text that is not UTF-8) is
    reported at that block, naming the column. It was "malformed record after height -1:
    TypeError: string argument without an encoding" at height 0: the blocks are read ahead of the
    replay, so the edit's block was not the one reached."""
    stmt, column = TYPE_EDITS[what]
    first, count = _block_of(ledger, 3) if height else (0, 0)
    copy = _copy(ledger, tmp_path)
    _edit(copy, stmt.format(h=height, idx=first + count - 1))
    s = verify_data(copy, workers=1)
    assert not s.ok and s.error_height == height, (s.error_height, s.error)
    assert column in str(s.error) and "malformed record" not in str(s.error), s.error
    code, out = _cli(copy)
    assert code == 1 and out["error_height"] == height and out["error"] == s.error
