"""Read-only answers for the API: pure functions over a :class:`~anju.registry.port.StateReader`.

Each answer names the state keys it rests on (``keys``), so the API can attach a state proof for
every one of them and a verifier can check the answer offline.
"""

from __future__ import annotations

from typing import Any

from anju.registry import layout, vcode
from anju.registry.call import Record, read
from anju.registry.credit import FACTORS, chunk_keys, chunk_of, empty
from anju.registry.port import StateReader
from anju.registry.status import lease_phase, mandate_status, shown_listing_status

# What the public may see of a unit: approximate location only (building and room stay committed).
PUBLIC_UNIT_FIELDS = (
    "id",
    "owner",
    "district",
    "street",
    "neighbourhood",
    "floor_area_m2",
    "rooms",
    "title",
    "attested_on",
    "registered_on",
)


def public_unit(unit: Record) -> Record:
    return {k: unit[k] for k in PUBLIC_UNIT_FIELDS}


def listing_by_code(state: StateReader, code: str, date: str) -> Record | None:
    """A listing found by its verification code, judged at ``date``, with the keys to prove it."""
    canonical = vcode.normalize(code)
    if canonical is None:
        return None
    entry = read(state, layout.code(canonical))
    if entry is None:
        return None
    return listing_view(state, str(entry["listing"]), date)


def listing_view(state: StateReader, listing_id: str, date: str) -> Record | None:
    listing = read(state, layout.listing(listing_id))
    if listing is None:
        return None
    mandate = read(state, layout.mandate(listing["mandate"])) if listing["mandate"] else None
    unit = read(state, layout.unit(listing["unit"]))
    publisher = read(state, layout.party(listing["publisher"]))
    owner = read(state, layout.party(listing["owner"]))
    status, reason = shown_listing_status(listing, mandate, (publisher, owner), date)
    keys: dict[str, str | None] = {
        "listing": layout.listing(listing_id),
        "code": layout.code(listing["code"]),
        "unit": layout.unit(listing["unit"]),
        "title": layout.title(listing["title"]) if listing["title"] else None,
        "mandate": layout.mandate(listing["mandate"]) if listing["mandate"] else None,
        "publisher": layout.party(listing["publisher"]),
        "owner": layout.party(listing["owner"]),
    }
    return {
        "date": date,
        "status": status,
        "reason": reason,
        "code": listing["code"],
        "code_display": vcode.display(listing["code"]),
        "listing": listing,
        "unit": public_unit(unit) if unit else None,
        "mandate": None if mandate is None else {**mandate, "status_at_date": mandate_status(mandate, date)},
        "publisher": publisher,
        "keys": keys,
    }


def unit_view(state: StateReader, unit_id: str, date: str) -> Record | None:
    """A unit's public record with its mandates, live listings and full lease history."""
    unit = read(state, layout.unit(unit_id))
    if unit is None:
        return None
    leases: list[Record] = []
    for lid in unit["leases"]:
        lease = read(state, layout.lease(lid))
        if lease is not None:
            leases.append({**lease, "phase": lease_phase(lease, date)})
    listings: list[Record] = []
    for lid in unit["listings"]:
        view = listing_view(state, lid, date)
        if view is not None:
            listings.append({"id": lid, "code": view["code"], "status": view["status"], "reason": view["reason"]})
    mandates: list[Record] = []
    for mid in unit["mandates"]:
        mandate = read(state, layout.mandate(mid))
        if mandate is not None:
            mandates.append({**mandate, "status_at_date": mandate_status(mandate, date)})
    return {
        "date": date,
        "unit": public_unit(unit),
        "mandates": mandates,
        "listings": listings,
        "leases": leases,
        "keys": {
            "unit": layout.unit(unit_id),
            "title": layout.title(unit["title"]) if unit["title"] else None,
            "leases": [layout.lease(x) for x in unit["leases"]],
        },
    }


def lease_view(state: StateReader, lease_id: str, date: str) -> Record | None:
    lease = read(state, layout.lease(lease_id))
    if lease is None:
        return None
    return {"date": date, "lease": lease, "phase": lease_phase(lease, date), "keys": {"lease": layout.lease(lease_id)}}


def lease_by_registration(state: StateReader, number: str, date: str) -> Record | None:
    """A lease found by its registration (备案) number: the tenant's proof of residence."""
    entry = read(state, layout.registration(number))
    return None if entry is None else lease_view(state, str(entry["lease"]), date)


def party_view(state: StateReader, party_id: str) -> Record | None:
    """A party's public record (pseudonymous) and its credit record."""
    party = read(state, layout.party(party_id))
    if party is None:
        return None
    return {
        "party": party,
        "credit": credit_view(state, party_id),
        "keys": {"party": layout.party(party_id), "credit": layout.credit(party_id)},
    }


def credit_view(state: StateReader, party_id: str) -> dict[str, Any]:
    """The stored credit record, or the base record for a party with no history yet; with each
    factor's explanation and the keys of its archived chunks (``archived``, oldest first: the
    entries the record no longer holds, see :mod:`anju.registry.credit`)."""
    record = read(state, layout.credit(party_id)) or empty(party_id)
    chunk = chunk_of(read(state, layout.META))
    archived = {name: chunk_keys(party_id, name, f, chunk) for name, f in record["factors"].items()}
    return {
        **record,
        "explained": {name: doc for name, (_, doc) in FACTORS.items() if name in record["factors"]},
        "archived": {name: keys for name, keys in archived.items() if keys},
    }
