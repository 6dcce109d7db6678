"""Making lazily-judged expiry explicit: when a transaction touches a unit, write what has lapsed."""

from __future__ import annotations

from anju.registry import layout
from anju.registry.call import Call, Record, View
from anju.registry.status import listing_status, mandate_status


def sweep_unit(call: Call, unit: Record) -> None:
    """Mark the unit's lapsed mandates and listings in state; the caller stores ``unit``."""
    keep: list[str] = []
    for mid in unit["mandates"]:
        mandate = call.peek_need(layout.mandate(mid), "mandate")
        status = mandate_status(mandate, call.date)
        if status in ("active", "upcoming"):
            keep.append(mid)
        elif mandate["status"] == "active":
            # A mandate record holds no lists or objects: a shallow copy is a record of its own.
            expired = {**mandate, "status": "expired", "status_tx": call.txid, "status_on": call.date}
            call.put_view(layout.mandate(mid), expired)
    unit["mandates"] = keep
    live: list[str] = []
    for lid in unit["listings"]:
        listing = call.peek_need(layout.listing(lid), "listing")
        status, reason = listing_status(listing, _basis(call, listing), call.date)
        if status == "live":
            live.append(lid)
        else:
            _set_status(call, listing, status, reason)
    unit["listings"] = live


def _basis(call: Call, listing: View) -> View | None:
    return call.peek(layout.mandate(listing["mandate"])) if listing["mandate"] else None


def _set_status(call: Call, listing: View, status: str, reason: str | None) -> None:
    """Store ``listing`` with a new status (the record given is left as it was)."""
    changed = {**listing, "status": status, "status_reason": reason, "status_tx": call.txid, "status_on": call.date}
    call.put_view(layout.listing(listing["id"]), changed)


def revoke_listings(call: Call, unit: Record, reason: str, *, mandate: str | None = None) -> list[str]:
    """Revoke the unit's live listings (only those resting on ``mandate`` when given); their ids."""
    revoked: list[str] = []
    keep: list[str] = []
    for lid in unit["listings"]:
        listing = call.peek_need(layout.listing(lid), "listing")
        if mandate is not None and listing["mandate"] != mandate:
            keep.append(lid)
            continue
        status, lapsed = listing_status(listing, _basis(call, listing), call.date)
        if status == "expired":  # it had already lapsed on its own; say so rather than "revoked"
            _set_status(call, listing, status, lapsed)
            continue
        _set_status(call, listing, "revoked", reason)
        revoked.append(lid)
    unit["listings"] = keep
    return revoked
