"""Listings (房源): publish with a verification code, withdraw, renew."""

from __future__ import annotations

from anju.registry import layout, vcode
from anju.registry.call import Call, Record, View
from anju.registry.codes import reject
from anju.registry.dates import add_days, overlaps, term_end
from anju.registry.rules.common import acting_agency, require_licensed_agency
from anju.registry.rules.mandate import check_exclusive_term, live_mandate_for
from anju.registry.rules.sweep import sweep_unit
from anju.registry.rules.unit import attested_unit
from anju.registry.status import LISTING_DAYS, listing_status, mandate_live, next_let


def _check_free(call: Call, unit: Record, first: str, months: int) -> None:
    """The unit is free for the advertised term: from ``first``, for the shortest lease offered."""
    last = term_end(first, months) if call.edition() >= 2 else first  # edition 1: the first day only
    for lid in unit["leases"]:
        lease = call.peek_need(layout.lease(lid), "lease")
        if lease["parent"] is None and overlaps(first, last, lease["start"], lease["ends_on"]):
            reject(
                "UNIT_NOT_FREE",
                f"lease {lid} ({lease['start']} to {lease['ends_on']}) falls within {first} to {last}",
                unit=unit["id"],
                lease=lid,
                term_from=first,
                term_to=last,
            )


def _let_from(call: Call, unit: Record, first: str) -> dict[str, str | None]:
    """Edition 8: the listing's ``let_from`` (:func:`status.next_let`: the first day of the unit's
    next lease after the advertised term, which starts on ``first``); the listing stops being live
    that day. Before edition 8 no such field (a listing published after a lease was signed stayed
    live into that tenancy)."""
    if call.edition() < 8:
        return {}
    leases = [call.peek_need(layout.lease(lid), "lease") for lid in unit["leases"]]
    return {"let_from": next_let(leases, first)}


def _check_no_exclusive(call: Call, unit: Record, agency: str) -> None:
    for mid in unit["mandates"]:
        other = call.peek_need(layout.mandate(mid), "mandate")
        if other["agency"] != agency and other["exclusive"] and mandate_live(other, call.date):
            reject("EXCLUSIVE_MANDATE", "another agency holds an exclusive mandate for this unit", mandate=mid)


def _check_one_live(call: Call, unit: Record, publisher: str) -> None:
    """One live listing per unit per publisher (the unit lists its live listings)."""
    for lid in unit["listings"]:
        if call.peek_need(layout.listing(lid), "listing")["publisher"] == publisher:
            reject("LISTING_EXISTS", "this publisher already has a live listing for the unit", listing=lid)


def publish(call: Call) -> None:
    b = call.body
    unit = attested_unit(call, b["unit"])
    sweep_unit(call, unit)
    mid = b.get("mandate")
    if call.signer == unit["owner"]:
        if mid is not None:
            reject("INVALID_FIELD", "an owner publishes without a mandate", field="mandate")
        publisher, role, agent = call.signer, "owner", None
    else:
        agency = acting_agency(call, call.signer)
        if agency is None:
            reject("WRONG_ROLE", "only the owner or a mandated agency (or its agent) may publish", unit=b["unit"])
        require_licensed_agency(call, agency)
        if mid is None:
            reject("MANDATE_REQUIRED", "an agency needs the owner's mandate to publish", unit=b["unit"])
        mandate = live_mandate_for(call, mid, b["unit"], agency)
        _check_no_exclusive(call, unit, agency)
        if call.edition() >= 5:  # the advertised term is no other agency's exclusively, and starts within the mandate
            first = max(b["available_from"], call.date)
            check_exclusive_term(call, unit, agency, first, term_end(first, b["min_term_months"]))
            if b["available_from"] > mandate["to"]:
                reject(
                    "MANDATE_NOT_LIVE",
                    "an agency advertises the unit only as available within its mandate",
                    mandate=mid,
                    mandate_to=mandate["to"],
                )
        if b["rent"] < mandate["min_rent"]:
            reject("RENT_BELOW_MINIMUM", "rent is below the owner's minimum", min_rent=mandate["min_rent"])
        publisher, role = agency, "agency"
        agent = call.signer if call.signer != agency else None
    # From edition 5 the term starts no earlier than today, as for listing.renew (edition 4: a past
    # available_from put the term checked in the past, and a let unit could be advertised).
    first = max(b["available_from"], call.date) if call.edition() >= 5 else b["available_from"]
    _check_free(call, unit, first, b["min_term_months"])
    _check_one_live(call, unit, publisher)
    lid = call.new_id
    if call.exists(layout.listing(lid)):
        reject("ALREADY_EXISTS", "a listing with this id already exists", listing=lid)
    code = next(c for c in vcode.candidates(call.txid) if not call.exists(layout.code(c)))
    rec: Record = {
        "id": lid,
        "code": code,
        "unit": unit["id"],
        "owner": unit["owner"],
        "publisher": publisher,
        "publisher_role": role,
        "agent": agent,
        "mandate": mid,
        "title": unit["title"],
        "district": unit["district"],
        "street": unit["street"],
        "neighbourhood": unit["neighbourhood"],
        "rooms": unit["rooms"],
        "floor_area_m2": unit["floor_area_m2"],
        "rent": b["rent"],
        "deposit": b["deposit"],
        "available_from": b["available_from"],
        "min_term_months": b["min_term_months"],
        "description": b["description"],
        "photos": b["photos"],
        "status": "live",
        "status_reason": None,
        "status_tx": None,
        "status_on": None,
        "published_tx": call.txid,
        "published_on": call.date,
        "expires_on": add_days(call.date, LISTING_DAYS),
        "renewals": 0,
        **_let_from(call, unit, first),
    }
    call.put_view(layout.listing(lid), rec)
    call.put(layout.code(code), {"code": code, "listing": lid})
    unit["listings"].append(lid)
    call.put(layout.unit(unit["id"]), unit)
    call.emit(
        "listing.published",
        {"listing": lid, "code": code, "unit": unit["id"], "publisher": publisher, "mandate": mid},
        parties=[unit["owner"], publisher, agent],
        units=[unit["id"]],
        listings=[lid],
    )


def _by_publisher(call: Call, listing: View, *, owner_may: bool) -> None:
    if acting_agency(call, call.signer) == listing["publisher"] or call.signer == listing["publisher"]:
        return
    if owner_may and call.signer == listing["owner"]:
        return
    reject("NOT_PUBLISHER", "only the listing's publisher may do this", listing=listing["id"])


def withdraw(call: Call) -> None:
    lid = call.body["listing"]
    seen = call.peek_need(layout.listing(lid), "listing")
    _by_publisher(call, seen, owner_may=True)
    unit = call.need(layout.unit(seen["unit"]), "unit")
    sweep_unit(call, unit)
    listing = call.need(layout.listing(lid), "listing")
    if listing["status"] in ("withdrawn", "revoked"):
        reject("LISTING_NOT_LIVE", f"the listing is already {listing['status']}", listing=lid)
    listing.update(status="withdrawn", status_reason="withdrawn", status_tx=call.txid, status_on=call.date)
    call.put(layout.listing(lid), listing)
    unit["listings"] = [x for x in unit["listings"] if x != lid]
    call.put(layout.unit(unit["id"]), unit)
    call.emit(
        "listing.withdrawn",
        {"listing": lid, "code": listing["code"]},
        parties=[listing["owner"], listing["publisher"]],
        units=[unit["id"]],
        listings=[lid],
    )


def renew(call: Call) -> None:
    lid = call.body["listing"]
    seen = call.peek_need(layout.listing(lid), "listing")
    _by_publisher(call, seen, owner_may=False)
    unit = call.need(layout.unit(seen["unit"]), "unit")
    sweep_unit(call, unit)
    listing = call.need(layout.listing(lid), "listing")
    mandate = call.peek(layout.mandate(listing["mandate"])) if listing["mandate"] else None
    status, reason = listing_status(listing, mandate, call.date)
    if status in ("withdrawn", "revoked"):
        reject("LISTING_NOT_LIVE", f"a {status} listing cannot be renewed ({reason})", listing=lid)
    newer = call.edition() >= 2
    if (
        newer and mandate is not None and not mandate_live(mandate, call.date)
    ):  # (stored "expired" hides a revoked basis)
        reject(
            "MANDATE_NOT_LIVE", "the listing's mandate is revoked, expired or not yet in force", mandate=mandate["id"]
        )
    if listing["publisher_role"] == "agency":
        if call.edition() >= 6:  # a licence revoked since it was published: renewed by nobody
            require_licensed_agency(call, listing["publisher"])
        _check_no_exclusive(call, unit, listing["publisher"])
    first = max(listing["available_from"], call.date)
    if listing["publisher_role"] == "agency" and call.edition() >= 8:  # as listing.publish does (edition 5)
        check_exclusive_term(call, unit, listing["publisher"], first, term_end(first, listing["min_term_months"]))
    _check_free(call, unit, first, listing["min_term_months"])
    if listing["status"] != "live":  # an expired code comes back to life, unless another took its place
        if newer:
            _check_one_live(call, unit, listing["publisher"])
        unit["listings"].append(lid)
    listing.update(
        status="live",
        status_reason=None,
        status_tx=call.txid,
        status_on=call.date,
        expires_on=add_days(call.date, LISTING_DAYS),
        renewals=listing["renewals"] + 1,
        **_let_from(call, unit, first),
    )
    call.put(layout.listing(lid), listing)
    call.put(layout.unit(unit["id"]), unit)
    call.emit(
        "listing.renewed",
        {"listing": lid, "code": listing["code"], "expires_on": listing["expires_on"]},
        parties=[listing["owner"], listing["publisher"]],
        units=[unit["id"]],
        listings=[lid],
    )
