"""Leases (租约): signing, subleases, renewal, registration (备案), termination."""

from __future__ import annotations

from typing import Any

from anju.registry import credit, layout
from anju.registry.call import Call, Record, View
from anju.registry.codes import reject
from anju.registry.dates import add_days, days_between, overlaps
from anju.registry.rules.common import (
    active_party_view,
    authority_key,
    lease_party,
    require_authority,
    require_licensed_agency,
    signed_for,
)
from anju.registry.rules.mandate import check_exclusive_term, live_mandate_for
from anju.registry.rules.sweep import revoke_listings, sweep_unit
from anju.registry.rules.unit import attested_unit
from anju.registry.status import (
    BACKDATE_DAYS,
    cut_to,
    end_days,
    lease_ended,
    lease_terms_refusal,
    listing_status,
    mandate_live,
    next_let,
    subleases_cut_short,
)

LAST_DAY = "9999-12-31"


def _check_tenant(call: Call, tenant: str) -> None:
    rec = active_party_view(call, tenant, "tenant", "the tenant")
    if not rec["identity_attested"]:
        reject("IDENTITY_NOT_ATTESTED", "the tenant's identity must be attested to sign a lease", party=tenant)
    if tenant not in call.signers:
        reject("MISSING_SIGNATURE", "the tenant's signature is missing", party=tenant)


def _landlord_side(call: Call, t: dict[str, Any], unit: Record) -> tuple[str | None, View | None]:
    """Check who signs for the landlord; return (agency, mandate) the lease is made through."""
    mid = t.get("mandate")
    if t["parent"] is not None:
        if mid is not None:
            reject("INVALID_FIELD", "a sublease is signed by the sub-landlord, not through a mandate", field="mandate")
        signers = call.signers
        if t["landlord"] not in signers:
            reject("MISSING_SIGNATURE", "the sub-landlord's signature is missing", party=t["landlord"])
        if unit["owner"] not in signers:
            reject("SUBLEASE_CONSENT_REQUIRED", "the owner's consent signature is missing", owner=unit["owner"])
        if call.edition() >= 6:  # a sub-sublease: its sub-landlord's own landlord consents too (art. 716)
            parent = call.peek_need(layout.lease(t["parent"]), "lease")
            if parent["parent"] is not None and parent["landlord"] not in signers:
                reject(
                    "SUBLEASE_CONSENT_REQUIRED",
                    "the consent signature of the parent lease's landlord is missing",
                    landlord=parent["landlord"],
                )
        return None, None
    if t["landlord"] != unit["owner"]:
        reject("NOT_OWNER", "the landlord of a lease must be the unit's owner", unit=unit["id"])
    if mid is None:
        if t["landlord"] not in call.signers:
            reject("MISSING_SIGNATURE", "the landlord's signature is missing", party=t["landlord"])
        return None, None
    agency = str(call.peek_need(layout.mandate(mid), "mandate")["agency"])
    mandate = live_mandate_for(call, mid, unit["id"], agency)
    if call.edition() >= 6:  # a licence revoked (authority.revoke_licence): no new lease through it
        require_licensed_agency(call, agency)
    else:
        active_party_view(call, agency, "agency", "the agency")
    if call.edition() >= 5:  # the lease's dates are no other agency's exclusively
        check_exclusive_term(call, unit, agency, t["start"], t["end"])
    if call.edition() >= 5 and not signed_for(call, agency):  # nobody is a side of a lease it did not sign
        reject(
            "MISSING_SIGNATURE",
            "the mandated agency (or one of its agents) must sign a lease made through it",
            mandate=mid,
        )
    if t["landlord"] in call.signers:
        return agency, mandate  # the owner signs; the agency only brokered
    if not mandate["may_sign"]:
        reject("MANDATE_NO_SIGNING", "the mandate does not let the agency sign for the owner", mandate=mid)
    if call.edition() >= 3:  # an agency does not act for an owner the authority suspended
        owner = call.peek_need(layout.party(t["landlord"]), "party")
        if owner["status"] == "suspended":
            reject("PARTY_SUSPENDED", "the owner is suspended by the housing authority", party=t["landlord"])
    if not signed_for(call, agency):
        reject("MISSING_SIGNATURE", "neither the owner nor the mandated agency signed", mandate=mid)
    if call.edition() >= 5 and not mandate["from"] <= t["start"] <= mandate["to"]:
        reject(
            "MANDATE_NOT_LIVE",
            "an agency signs for the owner only a lease starting within its mandate",
            mandate=mid,
            mandate_from=mandate["from"],
            mandate_to=mandate["to"],
        )
    if t["rent"] < mandate["min_rent"]:
        reject("RENT_BELOW_MINIMUM", "rent is below the owner's minimum", min_rent=mandate["min_rent"])
    return agency, mandate


def _check_listing(call: Call, t: dict[str, Any], agency: str | None) -> None:
    """Edition 4: the listing a lease names is one the landlord side let the unit through.

    It is live on the block date (not withdrawn or revoked, its mandate in force, its code not
    expired: :func:`~anju.registry.status.listing_status`) and its publisher is the landlord (the
    owner) or the agency the lease is made through. A sublease names none: the unit's listings are
    the owner's or its agency's adverts, and the sub-landlord (the parent lease's tenant) can
    publish none. (``lease.sign`` has already checked that the listing exists and is for the unit.)"""
    lid = t["listing"]
    if t["parent"] is not None:
        reject(
            "INVALID_FIELD", "a sublease names no listing: the unit's listings advertise the owner's", field="listing"
        )
    listing = call.peek_need(layout.listing(lid), "listing")
    mandate = call.peek(layout.mandate(listing["mandate"])) if listing["mandate"] else None
    status, reason = listing_status(listing, mandate, call.date)
    if status != "live":
        reject("LISTING_NOT_LIVE", f"the listing is {status} ({reason})", listing=lid, status=status, reason=reason)
    if listing["publisher"] not in (t["landlord"], agency):
        reject(
            "INVALID_FIELD",
            "the listing's publisher is neither the landlord nor the agency the lease is made through",
            field="listing",
            publisher=listing["publisher"],
        )


def _check_overlap(call: Call, unit: Record, parent: str | None, start: str, end: str) -> None:
    # Siblings under the same parent (or the head leases, parent None) may never share a day,
    # whoever signed them: that is what stops 一房多租.
    for lid in unit["leases"]:
        other = call.peek_need(layout.lease(lid), "lease")
        if other["parent"] != parent or other["start"] > other["ends_on"]:
            continue
        if overlaps(start, end, other["start"], other["ends_on"]):
            reject("LEASE_OVERLAP", f"lease {lid} already covers part of these dates", lease=lid)


def create(call: Call, t: dict[str, Any], previous: str | None = None) -> Record:
    """Check and store a new lease from its terms ``t``; shared by lease.sign and lease.renew."""
    unit = attested_unit(call, t["unit"])
    refused = lease_terms_refusal(t["start"], t["end"], call.date, call.edition())
    if refused == "reversed":
        reject("INVALID_FIELD", "start must not be after end", field="end")
    if refused == "too_long":
        reject("INVALID_FIELD", "a lease may run at most twenty years", field="end")
    if refused == "too_early":
        reject(
            "INVALID_FIELD",
            f"a lease may start at most {BACKDATE_DAYS} days before it is signed",
            field="start",
            earliest=add_days(call.date, -BACKDATE_DAYS),
        )
    if t["tenant"] == t["landlord"]:
        reject("INVALID_FIELD", "landlord and tenant must differ", field="tenant")
    if t["parent"] is not None:
        parent = call.peek_need(layout.lease(t["parent"]), "lease")
        if parent["unit"] != unit["id"]:
            reject("INVALID_FIELD", "the parent lease is for another unit", field="parent")
        if parent["status"] != "active" or lease_ended(parent, call.date):
            reject("LEASE_NOT_LIVE", "the parent lease is terminated or has ended", lease=t["parent"])
        if t["landlord"] != parent["tenant"]:
            reject("WRONG_ROLE", "a sub-landlord must be the parent lease's tenant", lease=t["parent"])
        if t["start"] < parent["start"] or t["end"] > parent["ends_on"]:
            reject("SUBLEASE_OUTSIDE_PARENT", "a sublease must lie within its parent", lease=t["parent"])
    _check_tenant(call, t["tenant"])
    agency, _ = _landlord_side(call, t, unit)
    if t["collector"] == "agency" and agency is None:
        reject("INVALID_FIELD", "only a lease made through an agency can have the agency collect", field="collector")
    if call.signer not in (t["tenant"], t["landlord"]) and not (agency and signed_for(call, agency)):
        reject("NOT_LEASE_PARTY", "the transaction's signer is not a side of the lease")
    if t.get("listing") is not None and call.edition() >= 4:  # (editions 1 to 3: any listing of the unit)
        _check_listing(call, t, agency)
    sweep_unit(call, unit)
    _check_overlap(call, unit, t["parent"], t["start"], t["end"])
    lid = call.new_id
    if call.exists(layout.lease(lid)):
        reject("ALREADY_EXISTS", "a lease with this id already exists", lease=lid)
    rec: Record = {
        "id": lid,
        "unit": unit["id"],
        "owner": unit["owner"],
        "landlord": t["landlord"],
        "tenant": t["tenant"],
        "agency": agency,
        "mandate": t.get("mandate"),
        "listing": t.get("listing"),
        "parent": t["parent"],
        "previous": previous,
        "start": t["start"],
        "end": t["end"],
        "ends_on": t["end"],
        "rent": t["rent"],
        "deposit": t["deposit"],
        "payment_day": t["payment_day"],
        "notice_days": t["notice_days"],
        "collector": t["collector"],
        "collector_party": agency if t["collector"] == "agency" else t["landlord"],
        "document_hash": t["document_hash"],
        "signers": sorted(call.signers),
        "signed_tx": call.txid,
        "signed_on": call.date,
        "status": "active",
        "termination": None,
        "registration": None,
        "paid_through": None,
        **({"confirmed_through": None} if call.edition() >= 6 else {}),  # edition 6: the receiver's word
        "deposit_status": "none",
        "deposit_returned": None,
        "deductions": [],
        "escrow": {"deposit": 0, "rent": 0},
        "subleases": [],
        "renewed_by": None,
    }
    call.put_view(layout.lease(lid), rec)
    unit["leases"].append(lid)
    revoked: list[str] = []
    if t["parent"] is None:
        revoked = revoke_listings(call, unit, "leased")  # a let unit must not stay advertised
    else:
        parent = call.need(layout.lease(t["parent"]), "lease")
        parent["subleases"].append(lid)
        call.put(layout.lease(t["parent"]), parent)
    call.put(layout.unit(unit["id"]), unit)
    call.emit(
        "lease.signed" if t["parent"] is None else "sublease.signed",
        {"lease": lid, "unit": unit["id"], "start": t["start"], "end": t["end"], "parent": t["parent"]},
        parties=[unit["owner"], t["landlord"], t["tenant"], agency],
        units=[unit["id"]],
        listings=revoked,
    )
    return rec


_TERMS = ("end", "rent", "deposit", "payment_day", "notice_days", "collector", "document_hash")


def sign(call: Call) -> None:
    b = call.body
    terms = {k: b.get(k) for k in ("unit", "landlord", "tenant", "mandate", "listing", "parent", "start", *_TERMS)}
    if terms["listing"] is not None:  # (from edition 4 create also checks it once the landlord side is known)
        listing = call.peek_need(layout.listing(terms["listing"]), "listing")
        if listing["unit"] != terms["unit"]:
            reject("INVALID_FIELD", "the listing is for another unit", field="listing")
    create(call, terms)


def renew(call: Call) -> None:
    prev_id = call.body["previous"]
    prev = call.peek_need(layout.lease(prev_id), "lease")
    if prev["renewed_by"] is not None:
        reject("ALREADY_DONE", "the lease was already renewed", lease=prev_id, by=prev["renewed_by"])
    if prev["status"] != "active" or lease_ended(prev, call.date):
        reject("LEASE_NOT_LIVE", "only a running lease can be renewed", lease=prev_id)
    if prev["ends_on"] == LAST_DAY and call.edition() >= 3:  # (edition 2: add_days failed, APPLICATION_ERROR)
        reject("RENEWAL_NOT_CONTIGUOUS", "the lease runs to the last day a date can name", lease=prev_id)
    terms: dict[str, Any] = {k: call.body[k] for k in _TERMS}
    mandate = call.peek(layout.mandate(prev["mandate"])) if prev["mandate"] else None
    if mandate is not None and call.edition() >= 5 and not signed_for(call, mandate["agency"]):
        mandate = None  # edition 5: a renewal the agency does not sign is the owner's own
    terms.update(
        unit=prev["unit"],
        landlord=prev["landlord"],
        tenant=prev["tenant"],
        # A lapsed mandate cannot carry the renewal: then the owner signs it in person.
        mandate=prev["mandate"] if mandate is not None and mandate_live(mandate, call.date) else None,
        listing=None,
        parent=prev["parent"],
        start=add_days(prev["ends_on"], 1),
    )
    if terms["start"] > terms["end"]:
        reject("RENEWAL_NOT_CONTIGUOUS", "the renewal must end after the previous lease", lease=prev_id)
    rec = create(call, terms, previous=prev_id)
    renewed = call.need(layout.lease(prev_id), "lease")
    renewed["renewed_by"] = rec["id"]
    call.put(layout.lease(prev_id), renewed)


def register(call: Call) -> None:
    require_authority(call)
    lid = call.body["lease"]
    lease = call.peek_need(layout.lease(lid), "lease")
    if lease["registration"] is not None:
        reject("ALREADY_DONE", "the lease is already registered", lease=lid, number=lease["registration"]["number"])
    if lease["start"] > lease["ends_on"] and call.edition() >= 5:  # called off before it began: no tenancy
        reject("LEASE_NOT_LIVE", "the lease was called off before it began", lease=lid)
    meta = call.peek_need(layout.META, "registry metadata")
    count = meta["registrations"] + 1
    number = f"XH{call.date[:4]}{count:08d}"
    call.put_view(layout.META, {**meta, "registrations": count})
    call.put_view(layout.lease(lid), {**lease, "registration": {"number": number, "tx": call.txid, "on": call.date}})
    call.put(layout.registration(number), {"number": number, "lease": lid, "unit": lease["unit"]})
    call.emit(
        "lease.registered",
        {"lease": lid, "number": number},
        parties=[lease["owner"], lease["landlord"], lease["tenant"], lease["agency"], authority_key(call)],
        units=[lease["unit"]],
    )
    for who in _registered_sides(lease):
        credit.award(call, who, "leases_registered")


def _registered_sides(lease: View) -> list[str]:
    """The sides a registration credits (``leases_registered``): landlord, tenant and agency."""
    return sorted({lease["landlord"], lease["tenant"], *([lease["agency"]] if lease["agency"] else [])})


def sides(call: Call, lease: View) -> tuple[bool, bool]:
    """(landlord side signed, tenant signed) for this envelope."""
    landlord = lease["landlord"] in call.signers or (
        lease["agency"] is not None and signed_for(call, lease["agency"]) and _may_sign(call, lease)
    )
    return landlord, lease["tenant"] in call.signers


def _may_sign(call: Call, lease: View) -> bool:
    """Whether the lease's agency may act as its landlord side: its mandate lets it sign (and, from
    edition 3, is in force on the block date)."""
    mandate = call.peek(layout.mandate(lease["mandate"])) if lease["mandate"] else None
    if not (mandate and mandate["may_sign"]):
        return False
    return call.edition() < 3 or mandate_live(mandate, call.date)


def _signer_is_side(call: Call, lease: View) -> bool:
    """Whether the envelope's signer speaks for a side of ``lease`` (:func:`lease_party`): its tenant,
    its landlord, or (edition 3) its agency or one of the agency's agents only while the agency may
    sign for the landlord. Edition 1 and 2 accepted any signer once the agency or one of its agents
    co-signed."""
    agency = lease["agency"]
    if call.edition() < 3:
        return call.signer in (lease["tenant"], lease["landlord"]) or bool(agency and signed_for(call, agency))
    side = lease_party(call, lease)
    return side is not None and (side != agency or _may_sign(call, lease))


def _for_the_landlord_by_agency(call: Call, lease: View, mode: str) -> bool:
    """Whether the lease's agency speaks for its landlord in this termination: it sends it, or, for
    a mutual one, it signs for the landlord side while the landlord does not."""
    if lease_party(call, lease) == lease["agency"]:
        return True
    return mode == "mutual" and lease["landlord"] not in call.signers and signed_for(call, lease["agency"])


def terminate(call: Call) -> None:
    b = call.body
    lid = b["lease"]
    lease = call.need(layout.lease(lid), "lease")
    landlord_signed, tenant_signed = sides(call, lease)
    if not _signer_is_side(call, lease):
        reject("NOT_LEASE_PARTY", "only a side of the lease may terminate it", lease=lid)
    if call.edition() >= 5 and lease["agency"] is not None and _for_the_landlord_by_agency(call, lease, b["mode"]):
        landlord = call.peek_need(layout.party(lease["landlord"]), "party")
        if landlord["status"] == "suspended":  # as it may not sign for a suspended owner (edition 3)
            reject("PARTY_SUSPENDED", "the owner is suspended by the housing authority", party=lease["landlord"])
    if lease["status"] != "active" or lease_ended(lease, call.date):
        reject("LEASE_NOT_LIVE", "the lease is already terminated or has ended", lease=lid)
    on = b["on"]
    # From edition 3 a lease that has not started can be called off: on = the day before its start voids it.
    first, last = end_days(lease, call.date, call.edition())
    if not first <= on <= last:
        reject("INVALID_FIELD", "on must lie from the block date and the lease start to the lease end", field="on")
    if b["mode"] == "mutual":
        if not (landlord_signed and tenant_signed):
            reject("MISSING_SIGNATURE", "a mutual termination needs both sides' signatures", lease=lid)
    elif days_between(call.date, on) < lease["notice_days"]:
        reject("NOTICE_TOO_SHORT", f"the lease requires {lease['notice_days']} days' notice", lease=lid)
    if call.edition() >= 7 and (b["mode"] == "mutual" or lease_party(call, lease) == lease["tenant"]):
        _check_subtenants_notice(call, lease, on)
    voided: list[Record] = []
    cut = _end(call, lease, on, b["mode"], voided)
    if call.edition() >= 8:  # each sublease voided with it (cut before its start) was no tenancy either
        _void_credit_back(call, [lease] if on < lease["start"] else [], voided)
    elif on < lease["start"] and call.edition() >= 5:
        _void_credit_back(call, [lease], [])
    if on < lease["start"] and lease["parent"] is None and call.edition() >= 8:
        _lift_listing_caps(call, lease)
    if on < lease["start"] and lease["previous"] is not None:  # (edition 3 only: earlier, on >= start)
        # a renewal called off before it began: the lease it continued may be renewed again
        prev = call.need(layout.lease(lease["previous"]), "lease")
        if prev["renewed_by"] == lid:
            prev["renewed_by"] = None
            call.put(layout.lease(prev["id"]), prev)
    call.emit(
        "lease.terminated",
        {"lease": lid, "mode": b["mode"], "on": on},
        parties=[lease["owner"], lease["landlord"], lease["tenant"], lease["agency"]],
        units=[lease["unit"]],
    )
    if call.edition() >= 5:  # each sublease cut with it: its subtenant hears it too
        for sub in cut:
            call.emit(
                "lease.terminated",
                {"lease": sub["id"], "mode": "parent_ended", "on": sub["ends_on"]},
                parties=[sub["owner"], sub["landlord"], sub["tenant"], sub["agency"]],
                units=[sub["unit"]],
            )


def _void_credit_back(call: Call, called_off: list[Record], voided: list[Record]) -> None:
    """Credit from leases called off before they began (void) goes back: they were no tenancy.

    From edition 5, a registered lease's ``leases_registered`` (-5 for each side), for the lease a
    ``lease.terminate`` names (``called_off``); from edition 8 also for each sublease voided with it
    (``voided``), and the tenant's ``rent_on_time`` earned on each before it began (-2 for each such
    entry: the lease's ``rent_on_time_early``, counted from edition 8). Each party gets one entry per
    factor from the transaction (the sum), as every other credit entry: one transaction, one entry."""
    taken: dict[tuple[str, str], int] = {}
    for lease in [*called_off, *voided]:
        if lease["registration"] is not None:
            for who in _registered_sides(lease):
                taken[(who, "leases_registered")] = taken.get((who, "leases_registered"), 0) - 5
        early = int(lease.get("rent_on_time_early", 0))
        if early and call.edition() >= 8:
            key = (lease["tenant"], "rent_on_time")
            taken[key] = taken.get(key, 0) - 2 * early
    for (who, factor), points in sorted(taken.items()):
        credit.award(call, who, factor, points)


def _lift_listing_caps(call: Call, lease: View) -> None:
    """Edition 8: a head lease called off before it began no longer ends the unit's listings that
    stop being live on its first day (``let_from``): each now stops on the next live head lease's
    first day, if any (:func:`status.next_let`)."""
    unit = call.peek_need(layout.unit(lease["unit"]), "unit")
    leases = [call.peek_need(layout.lease(lid), "lease") for lid in unit["leases"]]
    for lid in unit["listings"]:
        listing = call.peek_need(layout.listing(lid), "listing")
        if listing.get("let_from") == lease["start"]:
            call.put_view(layout.listing(lid), {**listing, "let_from": next_let(leases, lease["start"])})


def _check_subtenants_notice(call: Call, lease: View, on: str) -> None:
    """Edition 7: a lease ended by agreement, or by its own tenant's notice, cuts each live sublease
    in it (at any depth) only with that sublease's notice, unless its subtenant signs the termination
    too (NOTICE_TOO_SHORT, naming the sublease; :func:`status.subleases_cut_short`). A sublease lives
    within its parent (Civil Code art. 716), but its sub-landlord may not end it sooner by ending the
    parent instead, alone or with the owner; the owner's own notice under the parent lease still ends
    it on that lease's terms, which the owner consented to the sublease within."""
    for sub, _to, _depth in subleases_cut_short(
        lambda sid: call.peek_need(layout.lease(sid), "lease"), lease, on, call.date
    ):
        if sub["tenant"] not in call.signers:
            reject(
                "NOTICE_TOO_SHORT",
                f"sublease {sub['id']} in this lease requires {sub['notice_days']} days' notice, unless its tenant "
                "signs too",
                lease=sub["id"],
            )


def _end(call: Call, lease: Record, on: str, mode: str, voided: list[Record] | None = None) -> list[Record]:
    """End ``lease`` on ``on`` and cut its subleases (at any depth) to fit; return those cut (and
    add to ``voided`` those that had not begun and are void now, not those void already)."""
    lease.update(status="terminated", ends_on=on, termination={"mode": mode, "on": on, "tx": call.txid})
    call.put(layout.lease(lease["id"]), lease)
    cut: list[Record] = []
    for sid in lease["subleases"]:  # a sublease cannot outlive the lease it is carved from
        sub = call.need(layout.lease(sid), "lease")
        if sub["ends_on"] > on:
            was_void = sub["start"] > sub["ends_on"]
            cut.append(sub)
            cut += _end(call, sub, cut_to(sub, on), "parent_ended", voided)
            if voided is not None and not was_void and sub["start"] > sub["ends_on"]:
                voided.append(sub)
    return cut
