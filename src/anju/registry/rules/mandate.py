"""Mandates (委托): an owner authorises an agency for a unit; exclusivity; revocation."""

from __future__ import annotations

from anju.registry import layout
from anju.registry.call import Call, Record, View
from anju.registry.codes import reject
from anju.registry.dates import overlaps
from anju.registry.rules.common import require_licensed_agency
from anju.registry.rules.sweep import revoke_listings, sweep_unit
from anju.registry.rules.unit import attested_unit
from anju.registry.status import mandate_live, mandate_status


def grant(call: Call) -> None:
    b = call.body
    unit = attested_unit(call, b["unit"])
    if unit["owner"] != call.signer:
        reject("NOT_OWNER", "only the unit's owner may grant a mandate", unit=b["unit"])
    agency = b["agency"]
    require_licensed_agency(call, agency)
    if b["from"] > b["to"]:
        reject("INVALID_FIELD", "from must not be after to", field="to")
    if b["to"] < call.date:
        reject("INVALID_FIELD", "a mandate cannot end before the block date", field="to")
    sweep_unit(call, unit)
    for mid in unit["mandates"]:
        other = call.peek_need(layout.mandate(mid), "mandate")
        if other["agency"] == agency or other["status"] != "active":
            continue
        if (b["exclusive"] or other["exclusive"]) and overlaps(b["from"], b["to"], other["from"], other["to"]):
            reject(
                "EXCLUSIVE_MANDATE",
                "an exclusive mandate cannot share its dates with another agency's mandate",
                unit=b["unit"],
                mandate=mid,
            )
    mid = call.new_id
    if call.exists(layout.mandate(mid)):
        reject("ALREADY_EXISTS", "a mandate with this id already exists", mandate=mid)
    rec: Record = {
        "id": mid,
        "unit": b["unit"],
        "owner": call.signer,
        "agency": agency,
        "exclusive": b["exclusive"],
        "from": b["from"],
        "to": b["to"],
        "may_sign": b["may_sign"],
        "min_rent": b["min_rent"],
        "status": "active",
        "granted_tx": call.txid,
        "granted_on": call.date,
        "status_tx": None,
        "status_on": None,
    }
    call.put_view(layout.mandate(mid), rec)
    unit["mandates"].append(mid)
    call.put(layout.unit(unit["id"]), unit)
    call.emit(
        "mandate.granted",
        {"mandate": mid, "unit": b["unit"], "agency": agency, "exclusive": b["exclusive"]},
        parties=[call.signer, agency],
        units=[b["unit"]],
    )


def revoke(call: Call) -> None:
    mid = call.body["mandate"]
    mandate = call.need(layout.mandate(mid), "mandate")
    if call.signer not in (mandate["owner"], mandate["agency"]):
        reject("NOT_OWNER", "only the owner (or the agency, renouncing) may revoke a mandate", mandate=mid)
    if mandate["status"] != "active" or call.date > mandate["to"]:
        reject("ALREADY_DONE", "the mandate is no longer in force", mandate=mid)
    mandate.update(status="revoked", status_tx=call.txid, status_on=call.date)
    call.put(layout.mandate(mid), mandate)
    unit = call.need(layout.unit(mandate["unit"]), "unit")
    unit["mandates"] = [m for m in unit["mandates"] if m != mid]
    # The code must stop verifying at once, not when someone next looks.
    revoked = revoke_listings(call, unit, "mandate_revoked", mandate=mid)
    call.put(layout.unit(unit["id"]), unit)
    call.emit(
        "mandate.revoked",
        {"mandate": mid, "unit": unit["id"], "listings_revoked": revoked},
        parties=[mandate["owner"], mandate["agency"]],
        units=[unit["id"]],
        listings=revoked,
    )


def live_mandate_for(call: Call, mid: str, unit_id: str, agency: str) -> View:
    """The mandate ``mid``, checked to be ``agency``'s, for ``unit_id``, and in force today (read-only)."""
    mandate = call.peek_need(layout.mandate(mid), "mandate")
    if mandate["unit"] != unit_id or mandate["agency"] != agency:
        reject("MANDATE_REQUIRED", "the mandate is not this agency's mandate for this unit", mandate=mid)
    if not mandate_live(mandate, call.date):
        reject("MANDATE_NOT_LIVE", "the mandate is revoked, expired or not yet in force", mandate=mid)
    return mandate


def check_exclusive_term(call: Call, unit: View, agency: str, first: str, last: str) -> None:
    """Edition 5: no other agency holds an exclusive mandate for the unit, in force or upcoming,
    whose dates meet ``first`` .. ``last`` (the term a lease or listing through ``agency`` offers)."""
    for mid in unit["mandates"]:
        other = call.peek_need(layout.mandate(mid), "mandate")
        if (
            other["agency"] != agency
            and other["exclusive"]
            and mandate_status(other, call.date) in ("active", "upcoming")
            and overlaps(first, last, other["from"], other["to"])
        ):
            reject(
                "EXCLUSIVE_MANDATE",
                "another agency holds an exclusive mandate for these dates of the unit",
                mandate=mid,
                term_from=first,
                term_to=last,
            )
