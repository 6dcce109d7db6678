"""`anju verify` on a real registry ledger: the demo district, every kind, archived credit chunks."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from anju.chain.node import DB_NAME
from anju.chain.verify import verify_data
from anju.cli.serve_cmds import build_demo


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("district") / "demo"
    build_demo(data, 8, quiet=True)
    return data


def test_the_demo_district_verifies(district: Path) -> None:
    s = verify_data(district, workers=2)
    assert s.ok, s.error
    assert s.transactions > 500
    conn = sqlite3.connect(f"file:{district / DB_NAME}?mode=ro", uri=True)
    chunks = conn.execute("SELECT count(*) FROM state WHERE key LIKE 'credit/%/%/%'").fetchone()[0]
    conn.close()
    assert chunks > 0  # the replay recreated the archived credit chunks too


@pytest.mark.parametrize(
    "tamper",
    [
        "DELETE FROM state WHERE key = (SELECT min(key) FROM state WHERE key LIKE 'credit/%/%/%')",
        "UPDATE state SET value = replace(value, '\"points\":', '\"points\":1') "
        "WHERE key = (SELECT min(key) FROM state WHERE key LIKE 'credit/%/%/%')",
        "UPDATE state SET value = replace(value, '\"score\":', '\"score\":9') "
        "WHERE key = (SELECT min(key) FROM state WHERE key LIKE 'credit/%' AND key NOT LIKE 'credit/%/%')",
    ],
    ids=["chunk removed", "chunk points", "record score"],
)
def test_an_edited_credit_record_or_chunk_is_caught(district: Path, tmp_path: Path, tamper: str) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(district, copy)
    conn = sqlite3.connect(copy / DB_NAME)
    conn.execute(tamper)
    conn.commit()
    assert conn.total_changes == 1
    conn.close()
    s = verify_data(copy, workers=1)
    assert not s.ok and s.error
