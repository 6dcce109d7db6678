"""`anju verify` replays the ledger and catches an edit to any committed record."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import small_kv_ledger
from typer.testing import CliRunner

from anju.chain.node import DB_NAME, GENESIS_NAME
from anju.chain.verify import verify_data
from anju.cli.main import app
from anju.crypto.keys import SigningKey


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_kv_ledger(tmp_path_factory.mktemp("v") / "node")


def test_clean_ledger_verifies(ledger: Path) -> None:
    s = verify_data(ledger, workers=2)
    assert s.ok, s.error
    assert s.transactions == 40 and s.height >= 6


def test_cli_verify_json(ledger: Path) -> None:
    """It says which key the checkpoints were checked against, and whether it was given (--key) or
    taken from the ledger itself (which a forger would have replaced too)."""
    import json

    from anju.ledger.store import Store

    res = CliRunner().invoke(app, ["verify", "--data", str(ledger), "--json", "--workers", "1"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    store = Store(ledger / "ledger.db")
    published = (store.get_meta("verifier_key") or b"").decode()
    store.close()
    assert out["ok"] and out["verifier_key"] == published and out["key_source"] == "ledger"
    res = CliRunner().invoke(app, ["verify", "--data", str(ledger), "--json", "--workers", "1", "--key", published])
    assert res.exit_code == 0 and json.loads(res.output)["key_source"] == "given", res.output
    res = CliRunner().invoke(app, ["verify", "--data", str(ledger), "--workers", "1"])
    said = " ".join(res.output.split())  # as wrapped to the console's width
    assert f"checkpoints signed by {published} (the key the ledger itself names" in said, res.output


def _sql(sql: str, *args: object) -> Callable[[sqlite3.Connection], None]:
    return lambda c: c.execute(sql, args) and None


TAMPERS: dict[str, Callable[[sqlite3.Connection], None]] = {
    "tx leaf": _sql(
        'UPDATE txs SET leaf = replace(leaf, CAST(\'"v":"3"\' AS BLOB), CAST(\'"v":"4"\' AS BLOB)) WHERE idx = 2'
    ),
    "tx deleted": _sql("DELETE FROM txs WHERE idx = 5"),
    "tx id": _sql("UPDATE txs SET txid = zeroblob(32) WHERE idx = 3"),
    "block state root": _sql("UPDATE blocks SET state_root = zeroblob(32) WHERE height = 2"),
    "block time": _sql("UPDATE blocks SET time = '2027-01-01T00:00:00.000Z' WHERE height = 3"),
    "checkpoint note": _sql(
        "UPDATE blocks SET checkpoint = replace(checkpoint, 'anju-height', 'anju-heigth') WHERE height = 1"
    ),
    "state value": _sql("UPDATE state SET value = '\"forged\"' WHERE key = 'kv/k1'"),
    "state row added": _sql("INSERT INTO state(key, value) VALUES ('kv/extra', '\"x\"')"),
    "state row removed": _sql("DELETE FROM state WHERE key = 'kv/b3'"),
    "smt tile": _sql(
        "UPDATE smt_tiles SET v = zeroblob(length(v)) WHERE id = (SELECT id FROM smt_tiles LIMIT 1 OFFSET 3)"
    ),
    "smt tile added": _sql("INSERT INTO smt_tiles VALUES (12345678, x'01020000')"),
    "smt deep tile added": _sql("INSERT INTO smt_deep VALUES (zeroblob(33), x'01020000')"),
    "log node": _sql("UPDATE tlog_nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 0"),
    "event row": _sql('UPDATE events SET data = \'{"key":"zz"}\' WHERE id = 4'),
    "event index row removed": _sql("DELETE FROM event_refs WHERE id = 4"),
    "event index row added": _sql("INSERT INTO event_refs VALUES (12345, 4)"),
    "event index row moved": _sql("UPDATE event_refs SET id = id + 1000 WHERE id = 4"),
    "event index table dropped": lambda c: c.executescript("DELETE FROM event_refs; DROP TABLE event_refs;") and None,
    "event index under an old format stamp": lambda c: (
        c.executescript(
            "DELETE FROM event_refs WHERE id = 4; UPDATE meta SET value = x'35' WHERE key = 'store_format';"
        )
        and None
    ),
    "genesis meta": _sql("UPDATE meta SET value = CAST('{}' AS BLOB) WHERE key = 'genesis'"),
    "block removed": _sql("DELETE FROM blocks WHERE height = 2"),
}


@pytest.mark.parametrize("what", sorted(TAMPERS))
def test_any_edit_is_caught(ledger: Path, tmp_path: Path, what: str) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ledger, copy)
    conn = sqlite3.connect(copy / DB_NAME)
    TAMPERS[what](conn)
    conn.commit()
    assert conn.total_changes > 0, "the tamper must change something"
    conn.close()
    s = verify_data(copy, workers=1)
    assert not s.ok, f"{what} was not detected"
    assert s.error
    if what.startswith("event index"):
        assert "'event_refs'" in s.error, s.error
    if what.startswith(("state ", "smt ")):  # the state after the last block: reported there
        assert s.error_height == verify_data(ledger, workers=1).height, s
    res = CliRunner().invoke(app, ["verify", "--data", str(copy), "--workers", "1"])
    assert res.exit_code == 1


def test_edited_genesis_file_is_caught(ledger: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ledger, copy)
    (copy / GENESIS_NAME).write_text((copy / GENESIS_NAME).read_text().replace("anju-test-1", "anju-test-2"))
    assert not verify_data(copy, workers=1).ok


def test_untrusted_key_is_refused(ledger: Path) -> None:
    from anju.ledger.note import vkey_of

    other = vkey_of("anju-test-1", SigningKey(b"z" * 32).public)
    s = verify_data(ledger, trusted_vkey=other, workers=1)
    assert not s.ok and "trusted" in (s.error or "")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--key", "garbage"], "not a verifier key"),
        (["--workers", "-1"], "--workers"),
        (["--workers", "65"], "--workers"),
    ],
)
def test_a_malformed_key_or_worker_count_is_a_usage_error(ledger: Path, args: list[str], says: str) -> None:
    """Not "the published key is not the trusted key" (a forgery's message) for a typo."""
    res = CliRunner().invoke(app, ["verify", "--data", str(ledger), *args])
    assert res.exit_code == 2 and says in res.output, res.output
