"""What the pages show, read from the node's current state (JCS JSON values under registry keys).

Status that lapses with time (listing codes, mandates) is judged at "today" with the registry's
own pure functions (:mod:`anju.registry.status`), so a page never disagrees with the ledger's rules.
Lists of records come from a prefix scan of the flat state table; that is fine for a district
demo (thousands of records) and is the place to switch to indexed registry views at scale.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from anju.registry import layout, vcode, views
from anju.registry.dates import add_days
from anju.registry.status import lease_phase, listing_status, mandate_status

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
        rows = self.store.execute("SELECT value FROM state WHERE key >= ? AND key < ?", (prefix, _upper(prefix)))
        for (value,) in rows:
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
        return [u for u in self.scan("unit/") if u["owner"] == owner]

    def mandate(self, mid: str | None) -> Record | None:
        return None if not mid else self.get(layout.mandate(mid))

    def mandate_state(self, m: Record) -> str:
        return mandate_status(m, self.today)

    def mandates(self, *, owner: str | None = None, agency: str | None = None, unit: str | None = None) -> list[Record]:
        out = []
        for m in self.scan("mandate/"):
            if (owner and m["owner"] != owner) or (agency and m["agency"] != agency) or (unit and m["unit"] != unit):
                continue
            out.append({**m, "state": self.mandate_state(m), "place": self.place(m["unit"])})
        return sorted(out, key=lambda m: (m["state"] != "active", m["to"]), reverse=False)

    def listing(self, lid: str) -> Record | None:
        return self.get(layout.listing(lid))

    def listing_state(self, listing: Record) -> tuple[str, str | None]:
        return listing_status(listing, self.mandate(listing.get("mandate")), self.today)

    def listings(self, *, publisher: str | None = None, owner: str | None = None) -> list[Record]:
        out = []
        for ls in self.scan("listing/"):
            if (publisher and ls["publisher"] != publisher) or (owner and ls["owner"] != owner):
                continue
            state, reason = self.listing_state(ls)
            out.append({**ls, "state": state, "reason": reason})
        return sorted(out, key=lambda r: (r["state"] != "live", r["published_on"]), reverse=False)

    def search(self, q: Search) -> list[Record]:
        hits = []
        street = q.street.strip()
        for ls in self.scan("listing/"):
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
        free_from = listing["available_from"]
        for lid in unit.get("leases", []):
            lease = self.lease(lid)
            live = lease is not None and lease["parent"] is None and lease["status"] == "active"
            if live and lease is not None and lease["start"] <= free_from <= lease["ends_on"]:
                free_from = add_days(lease["ends_on"], 1)
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
        for ls in self.scan("lease/"):
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
        return sorted((p for p in self.scan("payment/") if p["lease"] == lease_id), key=lambda p: p["recorded_on"])

    def payments_to_confirm(self, receiver: str) -> list[Record]:
        return [p for p in self.scan("payment/") if p["receiver"] == receiver and not p["confirmed"]]

    def disputes(self, *, party: str | None = None, open_only: bool = False) -> list[Record]:
        out = []
        for d in self.scan("dispute/"):
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
        return [r for r in self.scan("review/") if r.get("subject") == pid]

    # -- the housing authority ---------------------------------------------------------------------------
    def titles_to_attest(self) -> list[Record]:
        return [u for u in self.scan("unit/") if u["title"] is None]

    def leases_to_register(self) -> list[Record]:
        out = [ls for ls in self.scan("lease/") if ls["registration"] is None and ls["status"] == "active"]
        return sorted(out, key=lambda r: r["signed_on"])

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
