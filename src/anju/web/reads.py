"""What the pages show, read from the node's current state (JCS JSON values under registry keys).

Status that lapses with time (listing codes, mandates) is judged at "today" with the registry's
own pure functions (:mod:`anju.registry.status`), so a page never disagrees with the ledger's rules.

Lists by a party, a unit or a lease come from the JSON1 expression indexes of
:data:`anju.api.snapshot.REGISTRY_INDEXES` (created when the API app starts; the portal is mounted
on it). A query's WHERE repeats its index's partial condition (``key LIKE 'lease/%'``) and
``json_extract`` expression, or SQLite would scan the whole state table. The index gives
candidates in key order (the order of the old prefix scan) and the same Python test as before
picks the records, so a list holds exactly what the scan found.

A party's leases, listings and disputes (and an owner's mandates) are found through **its units**:
the units it owns, rents (as the tenant of any lease, subleases included) or holds a mandate for.
The registry's rules make that complete: a unit's owner never changes and leases, listings and
mandates copy it; a lease's landlord is the unit's owner or, for a sublease, the tenant of the
parent lease on the same unit; a lease's agency and an agency's listing rest on that agency's
mandate for the unit; a dispute's parties are parties of its lease. Records are never deleted.
So leases and listings, the records written most often, need no index of their own here.

The housing authority's queues (units waiting for a title, active leases waiting for
registration) come from partial indexes that hold only those records. Lists of everything of a
kind (the district's figures, listing search without a rent bound, reports, parties to onboard)
are prefix scans of the flat state table.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from anju.registry import layout, vcode, views
from anju.registry.dates import add_days, overlaps, term_end
from anju.registry.edition import edition_of
from anju.registry.status import lease_phase, mandate_status, shown_listing_status

Record = dict[str, Any]


class StoreLike(Protocol):
    def state_get(self, key: str) -> bytes | None: ...

    def execute(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]: ...


class NodeLike(Protocol):
    """What the portal needs from a running node (``anju.chain.node.Node`` has all of it)."""

    store: Any
    chain_id: str

    def clock(self) -> str: ...


def _upper(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _records(kind: str, condition: str) -> str:
    """SQL for the ``kind`` records meeting ``condition``, in key order (the order of a prefix scan).

    ``key LIKE 'kind/%'`` is the partial condition of every index on ``kind`` records: without it
    SQLite could not use them."""
    return f"SELECT value FROM state WHERE key LIKE '{kind}/%' AND {condition} ORDER BY key"


def _field(name: str) -> str:
    return f"json_extract(value,'$.{name}')"


# Indexed look-ups; the indexes are named in anju.api.snapshot. ?1 is the party, unit or lease.
_OWNED_UNITS = f"SELECT {_field('id')} FROM state WHERE key LIKE 'unit/%' AND {_field('owner')}=?1"
_PARTY_UNITS = (  # the units a party owns, rents or holds a mandate for
    f"{_OWNED_UNITS} "
    f"UNION SELECT {_field('unit')} FROM state WHERE key LIKE 'lease/%' AND {_field('tenant')}=?1 "
    f"UNION SELECT {_field('unit')} FROM state WHERE key LIKE 'mandate/%' AND {_field('agency')}=?1"
)
SQL_UNITS_OF = _records("unit", f"{_field('owner')}=?1")
SQL_MANDATES_OF_UNIT = _records("mandate", f"{_field('unit')}=?1")
SQL_MANDATES_OF_AGENCY = _records("mandate", f"{_field('agency')}=?1")
SQL_MANDATES_OF_OWNER = _records("mandate", f"{_field('unit')} IN ({_OWNED_UNITS})")
SQL_LISTINGS_OF_OWNER = _records("listing", f"{_field('unit')} IN ({_OWNED_UNITS})")
SQL_LISTINGS_OF_PARTY = _records("listing", f"{_field('unit')} IN ({_PARTY_UNITS})")
SQL_LEASES_OF_PARTY = _records("lease", f"{_field('unit')} IN ({_PARTY_UNITS})")
SQL_PAYMENTS_OF_LEASE = _records("payment", f"{_field('lease')}=?1")
SQL_PAYMENTS_TO_CONFIRM = _records("payment", f"{_field('confirmed')}=0 AND {_field('receiver')}=?1")
SQL_DISPUTES_OF_PARTY = _records("dispute", f"{_field('unit')} IN ({_PARTY_UNITS})")
SQL_DISPUTES_OF_LEASE = _records(
    "dispute", f"{_field('unit')}=(SELECT {_field('unit')} FROM state WHERE key='lease/'||?1) AND {_field('lease')}=?1"
)
SQL_REVIEWS_ABOUT = _records("review", f"{_field('subject')}=?1")
# The authority's queues: the WHERE is its partial index's (web_unit_untitled, web_lease_unregistered).
SQL_UNTITLED_UNITS = _records("unit", f"{_field('title')} IS NULL")
SQL_LEASES_TO_REGISTER = _records("lease", f"{_field('registration')} IS NULL AND {_field('status')}='active'")
SQL_AGENTS_OF = _records("party", f"{_field('agency')}=?1")
# The banks' queue (web_lease_agency_collected).
SQL_AGENCY_COLLECTED = _records(
    "lease", f"{_field('collector')}='agency' AND {_field('status')}='active' AND {_field('ends_on')}>=?"
)  # the partial index keeps every active agency-collected lease; those past their last day are left out here


def _listings_by_rent(rent_min: int | None, rent_max: int | None) -> tuple[str, tuple[int, ...]]:
    """Listings within a rent range, from the API's rent index (at least one bound given).

    No ORDER BY: search sorts its hits by (published_on, id) anyway, and with one bound SQLite would
    rather scan the table in key order than sort what the index finds."""
    given = [(op, v) for op, v in ((">=", rent_min), ("<=", rent_max)) if v is not None]
    where = " AND ".join(f"{_field('rent')}{op}?" for op, _ in given)
    return f"SELECT value FROM state WHERE key LIKE 'listing/%' AND {where}", tuple(v for _, v in given)


@dataclass(frozen=True, slots=True)
class Search:
    """A listing search; money in fen, areas in m², all optional."""

    street: str = ""
    rent_min: int | None = None
    rent_max: int | None = None
    rooms: int | None = None
    area_min: int | None = None
    area_max: int | None = None
    available_by: str | None = None  # the unit must be available on or before this date
    limit: int = 60


class _StateBytes:
    """The node's state as the registry's ``StateReader`` (JCS JSON bytes by key)."""

    def __init__(self, store: StoreLike) -> None:
        self._store = store

    def get(self, key: str) -> bytes | None:
        return self._store.state_get(key)


class Reader:
    """Read-only views over one node's state at one moment (one instance per request)."""

    def __init__(self, node: NodeLike) -> None:
        self.node = node
        self.store = node.store
        self.state = _StateBytes(node.store)
        self.today = node.clock()[:10]
        self._cache: dict[str, Record | None] = {}

    # -- raw access ------------------------------------------------------------------------------
    def get(self, key: str) -> Record | None:
        if key in self._cache:
            return self._cache[key]
        raw = self.store.state_get(key)
        value: Record | None = None if raw is None else orjson.loads(raw)
        self._cache[key] = value
        return value

    def scan(self, prefix: str) -> Iterator[Record]:
        return self.select("SELECT value FROM state WHERE key >= ? AND key < ?", (prefix, _upper(prefix)))

    def select(self, sql: str, args: tuple[Any, ...]) -> Iterator[Record]:
        """The records (JSON objects) of ``sql``'s one ``value`` column."""
        for (value,) in self.store.execute(sql, args):
            rec = orjson.loads(value)
            if isinstance(rec, dict):
                yield rec

    def last_seq(self, party: str) -> int:
        raw = self.store.state_get(f"seq/{party}")
        return 0 if raw is None else int(raw)

    # -- parties ---------------------------------------------------------------------------------
    @property
    def authority(self) -> str | None:
        meta = self.get(layout.META)
        return None if meta is None else str(meta.get("authority"))

    @property
    def edition(self) -> int:
        """The chain's rules edition now (which kinds it takes: ``payment.refuse`` from 6)."""
        return edition_of(self.get(layout.META))

    def party(self, pid: str) -> Record | None:
        return self.get(layout.party(pid))

    def role_of(self, pid: str) -> str | None:
        if pid == self.authority:
            return "authority"
        rec = self.party(pid)
        return None if rec is None else str(rec["role"])

    def party_name(self, pid: str | None) -> str:
        """A public name for agencies and banks; a short pseudonymous id for people."""
        if not pid:
            return ""
        rec = self.party(pid)
        if rec is not None and rec.get("name"):
            return str(rec["name"])
        return pid[:8] + "…"

    def credit(self, pid: str) -> Record:
        return views.credit_view(self.state, pid)

    # -- units, mandates, listings ---------------------------------------------------------------------
    def unit(self, uid: str) -> Record | None:
        return self.get(layout.unit(uid))

    def place(self, uid: str) -> str:
        """Street and neighbourhood of a unit: the public, approximate location."""
        unit = self.unit(uid)
        return "" if unit is None else f"{unit['street']} · {unit['neighbourhood']}"

    def units_of(self, owner: str) -> list[Record]:
        return [u for u in self.select(SQL_UNITS_OF, (owner,)) if u["owner"] == owner]

    def mandate(self, mid: str | None) -> Record | None:
        return None if not mid else self.get(layout.mandate(mid))

    def mandate_state(self, m: Record) -> str:
        return mandate_status(m, self.today)

    def mandates(self, *, owner: str | None = None, agency: str | None = None, unit: str | None = None) -> list[Record]:
        if unit:
            rows = self.select(SQL_MANDATES_OF_UNIT, (unit,))
        elif agency:
            rows = self.select(SQL_MANDATES_OF_AGENCY, (agency,))
        elif owner:
            rows = self.select(SQL_MANDATES_OF_OWNER, (owner,))
        else:
            rows = self.scan("mandate/")
        out = []
        for m in rows:
            if (owner and m["owner"] != owner) or (agency and m["agency"] != agency) or (unit and m["unit"] != unit):
                continue
            out.append({**m, "state": self.mandate_state(m), "place": self.place(m["unit"])})
        return sorted(out, key=lambda m: (m["state"] != "active", m["to"]), reverse=False)

    def listing(self, lid: str) -> Record | None:
        return self.get(layout.listing(lid))

    def listing_state(self, listing: Record) -> tuple[str, str | None]:
        parties = (self.party(listing["publisher"]), self.party(listing["owner"]))
        return shown_listing_status(listing, self.mandate(listing.get("mandate")), parties, self.today)

    def listings(self, *, publisher: str | None = None, owner: str | None = None) -> list[Record]:
        if owner:
            rows = self.select(SQL_LISTINGS_OF_OWNER, (owner,))
        elif publisher:
            rows = self.select(SQL_LISTINGS_OF_PARTY, (publisher,))
        else:
            rows = self.scan("listing/")
        out = []
        for ls in rows:
            if (publisher and ls["publisher"] != publisher) or (owner and ls["owner"] != owner):
                continue
            state, reason = self.listing_state(ls)
            out.append({**ls, "state": state, "reason": reason})
        return sorted(out, key=lambda r: (r["state"] != "live", r["published_on"]), reverse=False)

    def search(self, q: Search) -> list[Record]:
        hits = []
        street = q.street.strip()
        if q.rent_min is not None or q.rent_max is not None:
            rows = self.select(*_listings_by_rent(q.rent_min, q.rent_max))
        else:
            rows = self.scan("listing/")
        for ls in rows:
            if ls["status"] != "live":
                continue
            state, _ = self.listing_state(ls)
            if state != "live":
                continue
            if street and street not in ls["street"] and street not in ls["neighbourhood"]:
                continue
            if q.rent_min is not None and ls["rent"] < q.rent_min:
                continue
            if q.rent_max is not None and ls["rent"] > q.rent_max:
                continue
            if q.rooms is not None and ls["rooms"] != q.rooms:
                continue
            if q.area_min is not None and ls["floor_area_m2"] < q.area_min:
                continue
            if q.area_max is not None and ls["floor_area_m2"] > q.area_max:
                continue
            if q.available_by and ls["available_from"] > q.available_by:
                continue
            hits.append(ls)
        hits.sort(key=lambda r: (r["published_on"], r["id"]), reverse=True)
        return hits[: q.limit]

    def by_code(self, text: str) -> tuple[str | None, Record | None]:
        """(normalised code, listing) for what someone typed or scanned; either may be None.

        A pasted check link (``…/check?code=XXXXX-XXXXX``, what the QR code holds) works too."""
        if "code=" in text:
            text = text.split("code=", 1)[1].split("&", 1)[0]
        code = vcode.normalize(text)
        if code is None:
            return None, None
        entry = self.get(layout.code(code))
        if entry is None:
            return code, None
        return code, self.listing(str(entry["listing"]))

    def verification(self, listing: Record) -> Record:
        """Everything the verification panel states about a listing, judged today by the registry's view."""
        view = views.listing_view(self.state, listing["id"], self.today) or {}
        unit = self.unit(listing["unit"]) or {}
        mandate = view.get("mandate")
        # the first day from which the unit is free for the listing's shortest term
        free_from = listing["available_from"]
        leases = [self.lease(lid) for lid in unit.get("leases", [])]
        for lease in sorted((x for x in leases if x is not None and x["parent"] is None), key=lambda x: x["start"]):
            if overlaps(free_from, term_end(free_from, listing["min_term_months"]), lease["start"], lease["ends_on"]):
                free_from = max(free_from, add_days(lease["ends_on"], 1))
        return {
            "listing": listing,
            "unit": view.get("unit") or {},
            "state": view.get("status", "revoked"),
            "reason": view.get("reason"),
            "title_attested_on": unit.get("attested_on"),
            "title_tx": unit.get("title_tx"),
            "mandate": mandate,
            "mandate_state": None if mandate is None else mandate["status_at_date"],
            "publisher_credit": self.credit(listing["publisher"]),
            "free_from": free_from,
            "code_display": view.get("code_display", vcode.display(listing["code"])),
        }

    # -- leases and money -----------------------------------------------------------------------------
    def lease(self, lid: str) -> Record | None:
        return self.get(layout.lease(lid))

    def lease_phase(self, lease: Record) -> str:
        return lease_phase(lease, self.today)

    def leases(self, party: str) -> list[Record]:
        out = []
        for ls in self.select(SQL_LEASES_OF_PARTY, (party,)):
            if party in (ls["tenant"], ls["landlord"], ls["owner"], ls.get("agency")):
                out.append({**ls, "phase": self.lease_phase(ls), "place": self.place(ls["unit"])})
        return sorted(out, key=lambda r: r["start"], reverse=True)

    def registration(self, number: str) -> tuple[Record | None, Record | None]:
        number = number.strip().upper()
        view = views.lease_by_registration(self.state, number, self.today)
        if view is None:
            return None, None
        return self.get(layout.registration(number)), view["lease"]

    def payments(self, lease_id: str) -> list[Record]:
        rows = self.select(SQL_PAYMENTS_OF_LEASE, (lease_id,))
        return sorted((p for p in rows if p["lease"] == lease_id), key=lambda p: p["recorded_on"])

    def payments_to_confirm(self, receiver: str) -> list[Record]:
        rows = self.select(SQL_PAYMENTS_TO_CONFIRM, (receiver,))
        return [p for p in rows if p["receiver"] == receiver and not p["confirmed"] and p.get("refused_tx") is None]

    def disputes(self, *, party: str | None = None, lease: str | None = None, open_only: bool = False) -> list[Record]:
        if lease:
            rows = self.select(SQL_DISPUTES_OF_LEASE, (lease,))
        elif party:
            rows = self.select(SQL_DISPUTES_OF_PARTY, (party,))
        else:
            rows = self.scan("dispute/")
        out = []
        for d in rows:
            if lease and d["lease"] != lease:
                continue
            if open_only and d["status"] != "open":
                continue
            if party and party != d["opener"] and party not in d.get("respondents", []):
                continue
            out.append(d)
        return sorted(out, key=lambda d: d["opened_on"], reverse=True)

    def reports(self, *, open_only: bool = False) -> list[Record]:
        out = [r for r in self.scan("report/") if not open_only or r["status"] == "open"]
        return sorted(out, key=lambda r: r["filed_on"], reverse=True)

    def reviews_about(self, pid: str) -> list[Record]:
        return [r for r in self.select(SQL_REVIEWS_ABOUT, (pid,)) if r.get("subject") == pid]

    # -- the housing authority ---------------------------------------------------------------------------
    def titles_to_attest(self) -> list[Record]:
        return [u for u in self.select(SQL_UNTITLED_UNITS, ()) if u["title"] is None]

    def leases_to_register(self) -> list[Record]:
        rows = self.select(SQL_LEASES_TO_REGISTER, ())
        out = [ls for ls in rows if ls["registration"] is None and ls["status"] == "active"]
        return sorted(out, key=lambda r: r["signed_on"])

    def agents_of(self, agency: str) -> list[Record]:
        """The agents an agency has appointed (and not dismissed)."""
        return [a for a in self.select(SQL_AGENTS_OF, (agency,)) if a.get("agency") == agency and a["role"] == "agent"]

    # -- banks ------------------------------------------------------------------------------------------
    def escrow_queue(self) -> list[Record]:
        """Live leases whose agency collector needs a bank's escrow attestation for their deposit
        (above one month's rent and not yet lodged) or may for rent paid ahead; those with an
        unattested deposit first, then by signing date (the longest waiting first); at most 200."""
        out = []
        for ls in self.select(SQL_AGENCY_COLLECTED, (self.today,)):
            if ls["collector"] != "agency" or ls["status"] != "active" or lease_phase(ls, self.today) == "ended":
                continue
            deposit_short = (
                ls["deposit"] > ls["rent"]
                and ls["deposit_status"] == "none"
                and ls["escrow"]["deposit"] < ls["deposit"]
            )
            out.append({**ls, "deposit_short": deposit_short})
        out = sorted(out, key=lambda r: (not r["deposit_short"], r["signed_on"]))[:200]
        return [{**ls, "place": self.place(ls["unit"])} for ls in out]

    def parties_to_onboard(self) -> list[Record]:
        out = []
        for p in self.scan("party/"):
            if p["role"] == "authority":
                continue
            if not p["identity_attested"] or (p["role"] in ("agency", "bank") and not p["licensed"]):
                out.append(p)
        return out

    def district(self) -> Record:
        """Figures for the district dashboard: live listings by street, registrations by month, rent/m², reports."""
        live_by_street: Counter[str] = Counter()
        for ls in self.scan("listing/"):
            if ls["status"] == "live" and self.listing_state(ls)[0] == "live":
                live_by_street[ls["street"]] += 1
        per_month: Counter[str] = Counter()
        per_m2: dict[str, list[float]] = defaultdict(list)
        for lease in self.scan("lease/"):
            reg = lease.get("registration")
            if reg:
                per_month[str(reg["on"])[:7]] += 1
            unit = self.unit(lease["unit"])
            if unit and unit["floor_area_m2"] > 0 and lease["parent"] is None:
                per_m2[unit["street"]].append(lease["rent"] / 100 / unit["floor_area_m2"])
        reports: Counter[str] = Counter(r["status"] for r in self.scan("report/"))
        months = sorted(per_month)[-12:]
        return {
            "live_by_street": live_by_street.most_common(),
            "registered_by_month": [(m, per_month[m]) for m in months],
            "median_rent_m2": sorted(
                ((s, round(statistics.median(v))) for s, v in per_m2.items() if v), key=lambda x: -x[1]
            ),
            "reports": [(k, reports[k]) for k in ("open", "confirmed", "dismissed")],
            "live_total": sum(live_by_street.values()),
        }
