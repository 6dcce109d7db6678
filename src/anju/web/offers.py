"""Lease offers waiting for the tenant's countersignature: portal data, NOT ledger data.

A landlord (or an agency whose mandate lets it sign) signs a ``lease.sign``, ``lease.renew`` or
mutual ``lease.terminate`` envelope and the portal keeps it here until the named tenant reviews
and countersigns it, or declines. A sublease (a ``lease.sign`` naming its ``parent``) is offered by
the parent lease's tenant and needs consents first: the unit owner's, and for a sublease of a
sublease (rules edition 6) the parent lease's landlord's before it. A mutual end that would cut
subleases in the lease (at any depth) sooner than their notice needs their subtenants' agreement
first (rules edition 7), gathered the same way. Its ``consenters`` are asked in
order, one at a time: it waits in status ``consent`` for the one asked (its ``consenter``) to add
a signature or refuse, the next is asked once the one before signed, then it waits in ``pending``
for the subtenant. The tenant is the envelope's signer, with their next ``seq``: if
they sign anything else first the offer goes stale, and the offering side signs it again. Nothing
here is proven or replicated; the ledger learns of a lease only when both signatures arrive.
Stored in a small SQLite side table (``web-offers.db`` beside the ledger) so offers survive a
restart; in memory when the node has no data directory. The same file keeps the words of the
reviews published through the portal (the ledger holds only their SHA-256), so party pages can
show them, and, in a table of their own, of the evidence of fake-listing reports and disputes filed
through it, which only the housing authority reads, in its queue (``anju.web.portal.KEPT_WORDS``);
a text is shown only while it still hashes to the ledger's value. It keeps the salt of each
contract offered through it too: a lease's ``document_hash`` made here is a salted commitment to
the contract's text (a plain SHA-256 would let anyone holding a copy of the contract find its
parties' keys on the public ledger), and its parties read the salt on the offer's page, to check
their copy against the ledger (``anju keys commit --file CONTRACT --salt S --commitment C``).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS offers (
  id TEXT PRIMARY KEY, created TEXT NOT NULL, tenant TEXT NOT NULL, offered_by TEXT NOT NULL,
  unit TEXT NOT NULL, envelope TEXT NOT NULL, status TEXT NOT NULL, txid TEXT, consenter TEXT, answered TEXT,
  consenters TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS review_texts (hash TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evidence_texts (hash TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contract_salts (commitment TEXT PRIMARY KEY, salt TEXT NOT NULL);
"""
OPEN_DAYS = 30
"""An offer not signed within this many days lapses: its terms (a rent, a start date) were for then."""

OPEN_PER_TENANT = 20
"""Offers waiting for one tenant (or for consent on the tenant's behalf), at most: past
that a new one is refused, so that nobody fills another party's list."""

OPEN_PER_OFFERER = 3
"""Offers one party made to one tenant within :data:`OPEN_DAYS` still waiting or declined, at most:
past that its next one is refused, so that one landlord cannot keep a tenant's list full by offering
again after each decline (a declined offer counts until it would have lapsed)."""

COLUMNS = (
    "id", "created", "tenant", "offered_by", "unit", "envelope", "status", "txid", "consenter", "answered",
    "consenters", "reason",
)  # fmt: skip
ADDED_COLUMNS = ("consenter", "answered", "consenters", "reason")
"""Columns a file from an older portal lacks (from before subleases, before two consents, before
stale offers kept why): added on opening."""


@dataclass(frozen=True, slots=True)
class Offer:
    id: str
    created: str
    tenant: str
    offered_by: str
    unit: str
    envelope: dict[str, Any]
    status: str  # consent (a sublease waiting for a consent) / pending / signed / declined / refused
    # (a consenter withheld consent) / stale (the tenant's seq moved on) / replaced / withdrawn (by its
    # offering side)
    txid: str | None
    consenter: str | None = None  # the consenter asked now (the last one, once every consent is in)
    answered: str | None = None  # the date it was declined or refused
    consenters: tuple[str, ...] = ()  # every party whose consent (a sublease's) or agreement (a subtenant's,
    # to a mutual end cutting their sublease sooner than its notice) the offer needs, in the order asked
    reason: str | None = None  # why it went stale: "seq" (its tenant signed something else first) or
    # "subleases" (a mutual end that has come to cut a sublease sooner than its notice); None: not stale,
    # or gone stale in a portal from before the reason was kept

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.envelope["body"]
        return body

    def signed_by(self, party: str) -> bool:
        """Whether the envelope carries ``party``'s signature (a consent given)."""
        return any(s.get("key") == party for s in self.envelope["sigs"])

    @property
    def asked(self) -> tuple[str, ...]:
        """The consenters asked so far: those who consented and the one asked now (a later one is
        asked only once the one before has signed, and meanwhile does not see the offer)."""
        if self.consenter not in self.consenters:
            return self.consenters
        return self.consenters[: self.consenters.index(self.consenter) + 1]

    def role_of(self, consenter: str | None, owner: str | None) -> str:
        """Whose consent ``consenter``'s is (``owner``: the unit's owner): a ``subtenant``'s agreement
        to leave sooner than their notice (a mutual end), the ``owner``'s, or the sublet lease's
        ``landlord``'s."""
        if self.body["kind"] == "lease.terminate":
            return "subtenant"
        return "owner" if consenter == owner else "landlord"

    def shown_to(self, party: str) -> bool:
        """Whether ``party`` may see the offer: its tenant, its offering side, a consenter asked."""
        return party in (self.tenant, self.offered_by, *self.asked)

    @property
    def what(self) -> str:
        """What is offered, as a key of the portal's OFFER_KINDS: the transaction kind, ``sublease``
        for a ``lease.sign`` naming its parent lease, ``sublease.renew`` for a renewal the owner
        must consent to (a sublease's); ``subsublease`` and ``subsublease.renew`` when two must
        consent (a sublease of a sublease: its landlord's landlord and the owner);
        ``lease.terminate.subleases`` for a mutual end that asks subtenants to agree first (rules
        edition 7: it cuts their subleases sooner than their notice)."""
        two = "sub" if len(self.consenters) > 1 else ""
        if self.body["kind"] == "lease.terminate" and self.consenters:
            return "lease.terminate.subleases"
        if self.body.get("parent"):
            return two + "sublease"
        if self.consenters and self.body["kind"] == "lease.renew":
            return two + "sublease.renew"
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
        for column in ADDED_COLUMNS:  # a file from before subleases, or before two consents, opens
            if column not in have:
                self._db.execute(f"ALTER TABLE offers ADD COLUMN {column} TEXT")

    def add(
        self,
        created: str,
        tenant: str,
        offered_by: str,
        unit: str,
        envelope: dict[str, Any],
        consenters: Sequence[str] = (),
    ) -> str:
        """Keep a signed offer: ``pending`` for the tenant, or ``consent`` first when ``consenters``
        (for a sublease: its parent lease's landlord when that is a sublease too, then the owner)
        must sign before the tenant, the first of them asked first."""
        oid = secrets.token_hex(8)
        status, first = ("consent", consenters[0]) if consenters else ("pending", None)
        listed = orjson.dumps(list(consenters)).decode() if consenters else None
        with self._lock:
            self._db.execute(
                f"INSERT INTO offers ({','.join(COLUMNS)}) VALUES (?,?,?,?,?,?,?,NULL,?,NULL,?,NULL)",
                (oid, created, tenant, offered_by, unit, orjson.dumps(envelope).decode(), status, first, listed),
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
        or for consent (shown to the tenant, the offering side and the consenters asked so far; the
        tenant's to sign only once every consent is in) or gone stale that the party offered (to
        sign again), and those it offered that were declined or refused on or after
        ``answered_since`` (a date). A consenter not asked yet does not see the offer
        (:meth:`Offer.shown_to`)."""
        sql = (
            f"SELECT {','.join(COLUMNS)} FROM offers WHERE (tenant=? OR offered_by=? OR consenter=?"
            " OR EXISTS (SELECT 1 FROM json_each(offers.consenters) WHERE value=?))"
        )
        args: tuple[str, ...] = (party, party, party, party)
        if pending_only:
            sql += (
                " AND ((status IN ('pending', 'consent') AND created>=?)"
                " OR (status='stale' AND offered_by=? AND created>=?)"
                " OR (status IN ('declined', 'refused') AND offered_by=? AND COALESCE(answered, created)>=?))"
            )
            args = (*args, open_since, party, open_since, party, answered_since)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created DESC", args).fetchall()
        return [o for o in map(_offer, rows) if o.shown_to(party)]

    def transition(
        self,
        oid: str,
        before: tuple[str, ...],
        after: str,
        *,
        txid: str | None = None,
        envelope: dict[str, Any] | None = None,
        on: str | None = None,
        asking: str | None = None,
        ask: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Move the offer from one of the ``before`` statuses to ``after`` (with the transaction id,
        or the envelope with a signature added, e.g. a consent; ``on``: the date of an answer, a
        decline or a refusal; ``ask``: the consenter asked next; ``reason``: why it went stale),
        only while ``asking`` (when given) is the consenter asked; False, and nothing changed, when
        it is in none of them any more or another consenter is asked now (two answers to one offer:
        the first wins)."""
        marks = ",".join("?" * len(before))
        sets, args = "status=?, txid=?", [after, txid]
        if envelope is not None:
            sets += ", envelope=?"
            args.append(orjson.dumps(envelope).decode())
        if on is not None:
            sets += ", answered=?"
            args.append(on)
        if ask is not None:
            sets += ", consenter=?"
            args.append(ask)
        if reason is not None:
            sets += ", reason=?"
            args.append(reason)
        where, cond = f"id=? AND status IN ({marks})", [oid, *before]
        if asking is not None:
            where += " AND consenter=?"
            cond.append(asking)
        with self._lock:
            cur = self._db.execute(f"UPDATE offers SET {sets} WHERE {where}", (*args, *cond))
        return cur.rowcount == 1

    # -- review texts: the ledger holds a review's SHA-256; the portal keeps the words it was written with
    def keep_review_text(self, text: str, *, evidence: bool = False) -> str:
        """Keep a published review's text (``evidence``: a report's or a dispute's evidence, apart,
        for the housing authority's eyes only); return its SHA-256 (what the ledger holds)."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        table = "evidence_texts" if evidence else "review_texts"
        with self._lock:
            self._db.execute(f"INSERT OR IGNORE INTO {table} VALUES (?, ?)", (digest, text))
        return digest

    def review_text(self, digest: str, *, evidence: bool = False) -> str | None:
        """The text whose SHA-256 is ``digest``, if this portal kept it as a review's (``evidence``: as
        evidence; checked again on reading). Apart, because the ledger's hashes are public: anyone
        could publish a review whose hash is an evidence's and have its words shown on a party page."""
        table = "evidence_texts" if evidence else "review_texts"
        with self._lock:
            row = self._db.execute(f"SELECT text FROM {table} WHERE hash=?", (digest,)).fetchone()
        if row is None or hashlib.sha256(row[0].encode()).hexdigest() != digest:
            return None
        return str(row[0])

    # -- contract salts: a lease's document_hash made here commits to the contract with a salt
    def keep_contract_salt(self, commitment: str, salt: str) -> None:
        """Keep the salt of a contract commitment this portal made (for the offer's parties)."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO contract_salts VALUES (?, ?)", (commitment, salt))

    def contract_salt(self, commitment: str) -> str | None:
        """The salt of ``commitment`` if this portal made it (None for a plain SHA-256, or another portal's)."""
        with self._lock:
            row = self._db.execute("SELECT salt FROM contract_salts WHERE commitment=?", (commitment,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _offer(row: tuple[Any, ...]) -> Offer:
    """An offer from its row. A row from before two consents has no ``consenters``: its one
    consenter (the owner, for a sublease) is the whole list."""
    consenters = tuple(orjson.loads(row[10])) if row[10] else (row[8],) if row[8] else ()
    oid, created, tenant, offered_by, unit, envelope, status, txid, consenter, answered, _listed, reason = row
    return Offer(
        oid, created, tenant, offered_by, unit, orjson.loads(envelope), status, txid, consenter, answered,
        consenters, reason,
    )  # fmt: skip
