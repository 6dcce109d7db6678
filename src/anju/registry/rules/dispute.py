"""Disputes between lease parties, and fake-listing reports; the housing authority decides both."""

from __future__ import annotations

from anju.registry import credit, layout
from anju.registry.call import Call, Record, View
from anju.registry.codes import reject
from anju.registry.rules.common import lease_party, require_authority
from anju.registry.rules.sweep import sweep_unit
from anju.registry.status import lease_ended


def _respondents(lease: View, opener: str) -> list[str]:
    if opener == lease["tenant"]:
        return sorted({lease["landlord"], *([lease["agency"]] if lease["agency"] else [])})
    return [lease["tenant"]]


def open_dispute(call: Call) -> None:
    b = call.body
    lease = call.peek_need(layout.lease(b["lease"]), "lease")
    opener = lease_party(call, lease)
    if opener is None:
        reject("NOT_LEASE_PARTY", "only a party to the lease may open a dispute", lease=lease["id"])
    if not b["evidence"]:
        reject("INVALID_FIELD", "a dispute needs at least one evidence hash", field="evidence")
    did = call.new_id
    if call.exists(layout.dispute(did)):
        reject("ALREADY_EXISTS", "a dispute with this id already exists", dispute=did)
    rec: Record = {
        "id": did,
        "lease": lease["id"],
        "unit": lease["unit"],
        "opener": opener,
        "respondents": _respondents(lease, opener),
        "subject": b["subject"],
        "evidence": b["evidence"],
        "claim": b.get("claim"),
        "opened_tx": call.txid,
        "opened_on": call.date,
        "status": "open",
        "outcome": None,
        "award": None,
        "decision_hash": None,
        "resolved_tx": None,
        "resolved_on": None,
    }
    call.put(layout.dispute(did), rec)
    if b["subject"] == "deposit" and _contests_the_deposit(call, lease, opener):
        # The settlement is contested: this dispute's decision will settle it (resolve_dispute).
        # Only top-level fields change: a shallow copy of the read-only record will do.
        contested = {"deposit_dispute": did} if call.edition() >= 2 else {}  # edition 1: never settled
        call.put(layout.lease(lease["id"]), {**lease, "deposit_status": "disputed", **contested})
    call.emit(
        "dispute.opened",
        {"dispute": did, "lease": lease["id"], "subject": b["subject"]},
        parties=[lease["owner"], opener, *rec["respondents"]],
        units=[lease["unit"]],
    )


def _contests_the_deposit(call: Call, lease: View, opener: str) -> bool:
    """Whether a deposit dispute contests the deposit's settlement, so that its decision settles it.

    Editions 1 to 4: any side's, while the collector's settlement is ``returned``. From edition 5
    only the tenant's (the collector settles by ``deposit.return``; its own dispute no longer closes
    the tenant's contest), and also while the deposit is still ``held`` after the lease ended (the
    collector never returned it: the dispute settles it from nothing returned); from edition 8 also
    while it is still ``lodged`` after the lease ended (the collector never confirmed nor refused it)."""
    if call.edition() < 5:
        return bool(lease["deposit_status"] == "returned")
    if opener != lease["tenant"]:
        return False
    # edition 8: also a deposit the collector never confirmed (``lodged``), as one it never returned
    unsettled = ("held", "lodged") if call.edition() >= 8 else ("held",)
    return lease["deposit_status"] == "returned" or (
        lease["deposit_status"] in unsettled and lease_ended(lease, call.date)
    )


def resolve_dispute(call: Call) -> None:
    require_authority(call)
    b = call.body
    rec = call.need(layout.dispute(b["dispute"]), "dispute")
    if rec["status"] != "open":
        reject("ALREADY_DONE", "the dispute is already resolved", dispute=rec["id"])
    rec.update(
        status="resolved",
        outcome=b["outcome"],
        award=b["award"],
        decision_hash=b["decision_hash"],
        resolved_tx=call.txid,
        resolved_on=call.date,
    )
    call.put(layout.dispute(rec["id"]), rec)
    unit = call.peek_need(layout.unit(rec["unit"]), "unit")
    call.emit(
        "dispute.resolved",
        {"dispute": rec["id"], "outcome": b["outcome"], "award": b["award"]},
        parties=[unit["owner"], rec["opener"], *rec["respondents"]],
        units=[rec["unit"]],
    )
    if b["outcome"] == "upheld":
        for who in rec["respondents"]:
            credit.award(call, who, "disputes_lost", -30)
    elif b["outcome"] == "rejected":
        credit.award(call, rec["opener"], "disputes_lost", -10)
    _settle_deposit(call, rec, unit["owner"])


def _settle_deposit(call: Call, rec: Record, owner: str) -> None:
    """The decision on a contested deposit settlement settles it: the award (to the opener) moves
    that much of the deposit towards the opener, within what the deposit holds."""
    lease = call.peek_need(layout.lease(rec["lease"]), "lease")
    if lease["deposit_status"] != "disputed" or lease.get("deposit_dispute") != rec["id"]:
        return
    offered = lease["deposit_returned"] or 0  # (none: contested while still held, edition 5)
    award = rec["award"] if rec["outcome"] != "rejected" else 0
    tenant_opened = rec["opener"] == lease["tenant"]  # else the landlord side claims more of it
    returned = min(lease["deposit"], offered + award) if tenant_opened else max(0, offered - award)
    call.put_view(
        layout.lease(lease["id"]),
        {**lease, "deposit_status": "decided", "deposit_returned": returned, "deposit_decided_tx": call.txid},
    )
    call.emit(
        "deposit.decided",
        {"lease": lease["id"], "dispute": rec["id"], "offered": offered, "returned": returned},
        parties=[owner, lease["tenant"], lease["collector_party"]],
        units=[lease["unit"]],
    )


def file_report(call: Call) -> None:
    b = call.body
    listing = call.peek_need(layout.listing(b["listing"]), "listing")
    if not b["evidence"]:
        reject("INVALID_FIELD", "a report needs at least one evidence hash", field="evidence")
    rid = call.new_id
    if call.exists(layout.report(rid)):
        reject("ALREADY_EXISTS", "a report with this id already exists", report=rid)
    rec: Record = {
        "id": rid,
        "listing": listing["id"],
        "unit": listing["unit"],
        "publisher": listing["publisher"],
        "reporter": call.signer,
        "evidence": b["evidence"],
        "filed_tx": call.txid,
        "filed_on": call.date,
        "status": "open",
        "decision_hash": None,
        "resolved_tx": None,
        "resolved_on": None,
    }
    call.put(layout.report(rid), rec)
    call.emit(
        "report.filed",
        {"report": rid, "listing": listing["id"]},
        parties=[listing["owner"], listing["publisher"], call.signer],
        units=[listing["unit"]],
        listings=[listing["id"]],
    )


def resolve_report(call: Call) -> None:
    require_authority(call)
    b = call.body
    rec = call.need(layout.report(b["report"]), "report")
    if rec["status"] != "open":
        reject("ALREADY_DONE", "the report is already resolved", report=rec["id"])
    rec.update(status=b["outcome"], decision_hash=b["decision_hash"], resolved_tx=call.txid, resolved_on=call.date)
    call.put(layout.report(rec["id"]), rec)
    listing = call.need(layout.listing(rec["listing"]), "listing")
    # Edition 3: one fake listing costs its publisher once, however many reports confirm it.
    known_fake = call.edition() >= 3 and listing["status"] == "revoked" and listing.get("status_reason") == "fake"
    if b["outcome"] == "confirmed":
        unit = call.need(layout.unit(rec["unit"]), "unit")
        sweep_unit(call, unit)
        listing = call.need(layout.listing(rec["listing"]), "listing")
        # Confirmed fake: down at once and for good, whatever state it was in.
        listing.update(status="revoked", status_reason="fake", status_tx=call.txid, status_on=call.date)
        call.put(layout.listing(listing["id"]), listing)
        unit["listings"] = [x for x in unit["listings"] if x != listing["id"]]
        call.put(layout.unit(unit["id"]), unit)
    call.emit(
        "report.resolved",
        {"report": rec["id"], "listing": listing["id"], "outcome": b["outcome"]},
        parties=[listing["owner"], listing["publisher"], rec["reporter"]],
        units=[listing["unit"]],
        listings=[listing["id"]],
    )
    if b["outcome"] == "confirmed" and not known_fake:
        credit.award(call, listing["publisher"], "fake_listings")
