"""The portal's offers file: an older file opens and keeps its rows; a stale offer keeps why."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from anju.web.offers import Offers

ENVELOPE = {"body": {"kind": "lease.sign", "seq": 3, "signer": "aa" * 32}, "sigs": [{"key": "aa" * 32, "sig": "00"}]}


def test_a_file_from_before_consents_and_reasons_opens_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "web-offers.db"
    old = sqlite3.connect(path)  # the first portal's table: no consenter, answered, consenters or reason
    old.execute(
        "CREATE TABLE offers (id TEXT PRIMARY KEY, created TEXT NOT NULL, tenant TEXT NOT NULL, "
        "offered_by TEXT NOT NULL, unit TEXT NOT NULL, envelope TEXT NOT NULL, status TEXT NOT NULL, txid TEXT)"
    )
    old.execute(
        "INSERT INTO offers VALUES (?,?,?,?,?,?,?,NULL)",
        ("0f" * 8, "2026-11-01", "tt", "ll", "u1", orjson.dumps(ENVELOPE).decode(), "pending"),
    )
    old.commit()
    old.close()
    offers = Offers(path)
    try:
        (offer,) = offers.for_party("tt")
        assert (offer.id, offer.status, offer.consenters, offer.reason) == ("0f" * 8, "pending", (), None)
        assert offer.body == ENVELOPE["body"]
        assert offers.transition(offer.id, ("pending",), "stale", reason="seq")
        assert offers.get(offer.id).reason == "seq"  # type: ignore[union-attr]
        new = offers.add("2026-11-02", "tt", "ll", "u1", ENVELOPE, consenters=("oo", "pp"))
        fresh = offers.get(new)
        assert fresh is not None and (fresh.status, fresh.consenter, fresh.consenters, fresh.reason) == (
            "consent",
            "oo",
            ("oo", "pp"),
            None,
        )
    finally:
        offers.close()
