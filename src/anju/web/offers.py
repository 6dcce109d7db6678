"""Lease offers waiting for the tenant's countersignature: portal data, NOT ledger data.

A landlord (or an agency whose mandate lets it sign) signs a ``lease.sign``, ``lease.renew`` or
mutual ``lease.terminate`` envelope and the portal keeps it here until the named tenant reviews
and countersigns it, or declines. A sublease (a ``lease.sign`` naming its ``parent``) is offered by
the parent lease's tenant and needs a third signature first: the unit owner's consent. It waits
in status ``consent`` for the owner (the offer's ``consenter``) to add it or refuse, then in
``pending`` for the subtenant. The tenant is the envelope's signer, with their next ``seq``: if
they sign anything else first the offer goes stale, and the offering side signs it again. Nothing
here is proven or replicated; the ledger learns of a lease only when both signatures arrive.
Stored in a small SQLite side table (``web-offers.db`` beside the ledger) so offers survive a
restart; in memory when the node has no data directory. The same file keeps the words of the
reviews published through the portal (the ledger holds only their SHA-256), so party pages can
show them; a text is shown only while it still hashes to the ledger's value.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS offers (
  id TEXT PRIMARY KEY, created TEXT NOT NULL, tenant TEXT NOT NULL, offered_by TEXT NOT NULL,
  unit TEXT NOT NULL, envelope TEXT NOT NULL, status TEXT NOT NULL, txid TEXT, consenter TEXT, answered TEXT);
CREATE TABLE IF NOT EXISTS review_texts (hash TEXT PRIMARY KEY, text TEXT NOT NULL);
"""
OPEN_DAYS = 30
"""An offer not signed within this many days lapses: its terms (a rent, a start date) were for then."""

OPEN_PER_TENANT = 20
"""Offers waiting for one tenant (or for the owner's consent on the tenant's behalf), at most: past
that a new one is refused, so that nobody fills another party's list."""

OPEN_PER_OFFERER = 3
"""Offers one party made to one tenant within :data:`OPEN_DAYS` still waiting or declined, at most:
past that its next one is refused, so that one landlord cannot keep a tenant's list full by offering
again after each decline (a declined offer counts until it would have lapsed)."""

COLUMNS = ("id", "created", "tenant", "offered_by", "unit", "envelope", "status", "txid", "consenter", "answered")


@dataclass(frozen=True, slots=True)
class Offer:
    id: str
    created: str
    tenant: str
    offered_by: str
    unit: str
    envelope: dict[str, Any]
    status: str  # consent (a sublease waiting for the owner) / pending / signed / declined / refused
    # (the owner withheld consent) / stale (the tenant's seq moved on) / replaced / withdrawn (by its
    # offering side)
    txid: str | None
    consenter: str | None = None  # the owner whose consent a sublease needs
    answered: str | None = None  # the date it was declined or refused

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.envelope["body"]
        return body

    @property
    def consent_given(self) -> bool:
        """Whether the envelope carries the consenter's signature (a sublease the owner consented to)."""
        return self.consenter is not None and any(s.get("key") == self.consenter for s in self.envelope["sigs"])

    @property
    def what(self) -> str:
        """What is offered, as a key of the portal's OFFER_KINDS: the transaction kind, ``sublease``
        for a ``lease.sign`` naming its parent lease, ``sublease.renew`` for a renewal the owner
        must consent to (a sublease's)."""
        if self.body.get("parent"):
            return "sublease"
        if self.consenter is not None and self.body["kind"] == "lease.renew":
            return "sublease.renew"
        return str(self.body["kind"])


class Offers:
    """The side table of pending lease offers."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None
        )
        self._db.executescript(SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(offers)")}
        for column in ("consenter", "answered"):  # a file from before subleases could be offered here
            if column not in have:
                self._db.execute(f"ALTER TABLE offers ADD COLUMN {column} TEXT")

    def add(
        self,
        created: str,
        tenant: str,
        offered_by: str,
        unit: str,
        envelope: dict[str, Any],
        consenter: str | None = None,
    ) -> str:
        """Keep a signed offer: ``pending`` for the tenant, or ``consent`` first when a ``consenter``
        (the owner, for a sublease) must sign before the tenant."""
        oid = secrets.token_hex(8)
        status = "pending" if consenter is None else "consent"
        with self._lock:
            self._db.execute(
                f"INSERT INTO offers ({','.join(COLUMNS)}) VALUES (?,?,?,?,?,?,?,NULL,?,NULL)",
                (oid, created, tenant, offered_by, unit, orjson.dumps(envelope).decode(), status, consenter),
            )
        return oid

    def open_count(self, tenant: str, since: str) -> int:
        """Offers to ``tenant`` made on or after ``since`` still waiting (pending or for consent)."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM offers WHERE tenant=? AND status IN ('pending', 'consent') AND created>=?",
                (tenant, since),
            ).fetchone()
        return int(row[0])

    def count_from(self, tenant: str, offered_by: str, since: str) -> int:
        """Offers ``offered_by`` made to ``tenant`` on or after ``since`` still waiting or declined."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM offers WHERE tenant=? AND offered_by=? "
                "AND status IN ('pending', 'consent', 'declined') AND created>=?",
                (tenant, offered_by, since),
            ).fetchone()
        return int(row[0])

    def get(self, oid: str) -> Offer | None:
        with self._lock:
            row = self._db.execute(f"SELECT {','.join(COLUMNS)} FROM offers WHERE id=?", (oid,)).fetchone()
        return None if row is None else _offer(row)

    def for_party(
        self, party: str, *, pending_only: bool = True, answered_since: str = "9999", open_since: str = ""
    ) -> list[Offer]:
        """The party's offers, newest first: with ``pending_only``, those made on or after
        ``open_since`` (a date: older ones have lapsed, see :data:`OPEN_DAYS`) waiting for the tenant
        or for the owner's consent (shown to the three of them; the tenant's to sign only once
        consented) or gone stale that the party offered (to sign again), and those it offered
        that were declined or refused on or after ``answered_since`` (a date)."""
        sql = f"SELECT {','.join(COLUMNS)} FROM offers WHERE (tenant=? OR offered_by=? OR consenter=?)"
        args: tuple[str, ...] = (party, party, party)
        if pending_only:
            sql += (
                " AND ((status IN ('pending', 'consent') AND created>=?)"
                " OR (status='stale' AND offered_by=? AND created>=?)"
                " OR (status IN ('declined', 'refused') AND offered_by=? AND COALESCE(answered, created)>=?))"
            )
            args = (*args, open_since, party, open_since, party, answered_since)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created DESC", args).fetchall()
        return [_offer(r) for r in rows]

    def transition(
        self,
        oid: str,
        before: tuple[str, ...],
        after: str,
        *,
        txid: str | None = None,
        envelope: dict[str, Any] | None = None,
        on: str | None = None,
    ) -> bool:
        """Move the offer from one of the ``before`` statuses to ``after`` (with the transaction id,
        or the envelope with a signature added, e.g. the owner's consent; ``on``: the date of an
        answer, a decline or a refusal); False, and nothing changed, when it is in none of them any
        more (two answers to one offer: the first wins)."""
        marks = ",".join("?" * len(before))
        sets, args = "status=?, txid=?", [after, txid]
        if envelope is not None:
            sets += ", envelope=?"
            args.append(orjson.dumps(envelope).decode())
        if on is not None:
            sets += ", answered=?"
            args.append(on)
        with self._lock:
            cur = self._db.execute(
                f"UPDATE offers SET {sets} WHERE id=? AND status IN ({marks})", (*args, oid, *before)
            )
        return cur.rowcount == 1

    # -- review texts: the ledger holds a review's SHA-256; the portal keeps the words it was written with
    def keep_review_text(self, text: str) -> str:
        """Keep a published review's text; return its SHA-256 (what the ledger holds)."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO review_texts VALUES (?, ?)", (digest, text))
        return digest

    def review_text(self, digest: str) -> str | None:
        """The text whose SHA-256 is ``digest``, if this portal kept it (checked again on reading)."""
        with self._lock:
            row = self._db.execute("SELECT text FROM review_texts WHERE hash=?", (digest,)).fetchone()
        if row is None or hashlib.sha256(row[0].encode()).hexdigest() != digest:
            return None
        return str(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _offer(row: tuple[Any, ...]) -> Offer:
    return Offer(row[0], row[1], row[2], row[3], row[4], orjson.loads(row[5]), row[6], row[7], row[8], row[9])
