"""The journeys of PRODUCT.md, end to end through signed transactions."""

from __future__ import annotations

import pytest

from anju.errors import TxRejected
from anju.registry import layout, views

from .harness import H2, H, lease_terms, listing_terms
from .world import World


def refused(world: World, code: str, key, kind: str, cosigners=(), **fields) -> None:  # type: ignore[no-untyped-def]
    before = world.chain.root()
    with pytest.raises(TxRejected) as err:
        world.chain.do(key, kind, cosigners, **fields)
    assert err.value.code == code, err.value.diagnostics()
    assert world.chain.root() == before


def test_owner_mandate_agency_publishes_tenant_signs_authority_registers(world: World) -> None:
    c = world.chain
    mid = world.grant(world.agency_a)
    pub = c.do(world.agent_a, "listing.publish", unit=world.unit, mandate=mid, **listing_terms())
    lid = pub.txid[:16]
    listing = c.get(layout.listing(lid))
    assert listing is not None and listing["publisher"] == world.agency_a.public_hex
    assert listing["agent"] == world.agent_a.public_hex
    code = listing["code"]
    assert len(code) == 10
    view = views.listing_by_code(c.state, code.lower()[:5] + "-" + code[5:], "2026-01-10")
    assert view is not None and view["status"] == "live"
    assert view["keys"]["mandate"] == layout.mandate(mid) and view["keys"]["title"].startswith("title/")
    assert "room" not in listing and "address_commitment" not in listing
    # the owner hears about it
    published = [e for e in c.events if e.kind == "listing.published"][-1]
    assert world.owner.public_hex in published.parties
    # agency signs for the owner (mandate allows), tenant countersigns
    lease = c.do(
        world.agent_a,
        "lease.sign",
        [world.tenant],
        unit=world.unit,
        landlord=world.owner.public_hex,
        tenant=world.tenant.public_hex,
        mandate=mid,
        listing=lid,
        parent=None,
        **lease_terms(),
    )
    lease_id = lease.txid[:16]
    assert views.listing_by_code(c.state, code, "2026-01-10")["status"] == "revoked"  # type: ignore[index]
    signed = [e for e in c.events if e.kind == "lease.signed"][-1]
    assert world.owner.public_hex in signed.parties
    c.do(c.authority, "lease.register", lease=lease_id)
    rec = c.get(layout.lease(lease_id))
    assert rec is not None and rec["registration"]["number"] == "XH202600000001"
    assert views.lease_by_registration(c.state, "XH202600000001", "2026-03-01")["phase"] == "current"  # type: ignore[index]
    credit = views.credit_view(c.state, world.tenant.public_hex)
    assert credit["score"] == 605 and credit["factors"]["leases_registered"]["entries"][0][0] == c.log[-1][0].txid
    # a second agency, mandated too, cannot lease overlapping dates
    mid_b = world.grant(world.agency_b)
    refused(
        world,
        "LEASE_OVERLAP",
        world.agency_b,
        "lease.sign",
        [world.tenant2],
        unit=world.unit,
        landlord=world.owner.public_hex,
        tenant=world.tenant2.public_hex,
        mandate=mid_b,
        **lease_terms(start="2026-12-01", end="2027-06-30"),
    )


def test_exclusive_mandate_shuts_other_agencies_out(world: World) -> None:
    world.grant(world.agency_a, exclusive=True)
    refused(
        world,
        "EXCLUSIVE_MANDATE",
        world.owner,
        "mandate.grant",
        unit=world.unit,
        agency=world.agency_b.public_hex,
        exclusive=False,
        **{"from": "2026-06-01", "to": "2026-08-01"},
        may_sign=False,
        min_rent=0,
    )
    refused(world, "MANDATE_REQUIRED", world.agency_b, "listing.publish", unit=world.unit, **listing_terms())


def test_sublease_needs_owner_consent_and_lies_within_parent(world: World) -> None:
    c = world.chain
    parent = c.do(
        world.owner,
        "lease.sign",
        [world.tenant],
        unit=world.unit,
        landlord=world.owner.public_hex,
        tenant=world.tenant.public_hex,
        **lease_terms(),
    ).txid[:16]
    sub = {
        "unit": world.unit,
        "landlord": world.tenant.public_hex,
        "tenant": world.tenant2.public_hex,
        "parent": parent,
        **lease_terms(start="2026-03-01", end="2026-08-31", document_hash=H2),
    }
    refused(world, "SUBLEASE_CONSENT_REQUIRED", world.tenant, "lease.sign", [world.tenant2], **sub)
    outside = {**sub, "end": "2027-03-01"}
    refused(world, "SUBLEASE_OUTSIDE_PARENT", world.tenant, "lease.sign", [world.tenant2, world.owner], **outside)
    tx = c.do(world.tenant, "lease.sign", [world.tenant2, world.owner], **sub)
    ev = [e for e in c.events if e.kind == "sublease.signed"][-1]
    assert world.owner.public_hex in ev.parties and ev.data["lease"] == tx.txid[:16]


def test_fake_report_confirmed_revokes_code_and_counts_against_publisher(world: World) -> None:
    c = world.chain
    mid = world.grant(world.agency_a)
    lid = c.do(world.agency_a, "listing.publish", unit=world.unit, mandate=mid, **listing_terms()).txid[:16]
    code = c.get(layout.listing(lid))["code"]  # type: ignore[index]
    rid = c.do(world.stranger, "report.file", listing=lid, evidence=[H]).txid[:16]
    c.do(c.authority, "report.resolve", report=rid, outcome="confirmed", decision_hash=H2)
    view = views.listing_by_code(c.state, code, "2026-01-06")
    assert view is not None and (view["status"], view["reason"]) == ("revoked", "fake")
    assert views.credit_view(c.state, world.agency_a.public_hex)["score"] == 550


def test_review_only_once_and_only_by_counterparties(world: World) -> None:
    c = world.chain
    lease = c.do(
        world.owner,
        "lease.sign",
        [world.tenant],
        unit=world.unit,
        landlord=world.owner.public_hex,
        tenant=world.tenant.public_hex,
        **lease_terms(start="2026-01-01", end="2026-01-31"),
    ).txid[:16]
    c.do(c.authority, "lease.register", lease=lease)  # credit from a lease needs its registration (edition 3)
    review = {"lease": lease, "subject": world.owner.public_hex, "rating": 5, "text_hash": H}
    refused(world, "LEASE_NOT_ENDED", world.tenant, "review.write", **review)
    c.day = "2026-02-02"
    refused(world, "NOT_COUNTERPARTY", world.stranger, "review.write", **review)
    refused(world, "NOT_COUNTERPARTY", world.owner, "review.write", **review)  # cannot review oneself
    c.do(world.tenant, "review.write", **review)
    refused(world, "ALREADY_REVIEWED", world.tenant, "review.write", **{**review, "rating": 1})
    c.do(world.owner, "review.write", lease=lease, subject=world.tenant.public_hex, rating=4, text_hash=H2)
    assert views.credit_view(c.state, world.owner.public_hex)["score"] == 600 + 5 + 8  # registered, 5 stars


def test_a_lease_called_off_before_it_starts_frees_its_dates_and_has_nothing_to_review(world: World) -> None:
    c = world.chain
    terms = lease_terms(start="2026-03-01", end="2026-08-31")
    parties = {"unit": world.unit, "landlord": world.owner.public_hex, "tenant": world.tenant.public_hex}
    lease = c.do(world.owner, "lease.sign", [world.tenant], **parties, **terms).txid[:16]
    c.do(world.owner, "lease.terminate", [world.tenant], lease=lease, mode="mutual", on="2026-02-28", reason_hash=H)
    rec = c.get(layout.lease(lease))
    assert rec is not None and (rec["status"], rec["ends_on"]) == ("terminated", "2026-02-28")
    # the owner may advertise those dates again: the voided lease holds none of them
    c.do(world.owner, "listing.publish", unit=world.unit, **listing_terms(available_from="2026-02-01"))
    c.day = "2026-09-01"
    review = {"lease": lease, "subject": world.owner.public_hex, "rating": 1, "text_hash": H}
    refused(world, "LEASE_NOT_LIVE", world.tenant, "review.write", **review)


def _returned_deposit(world: World, deduction: int) -> str:
    """A one-month lease with its deposit lodged, held and returned with ``deduction`` kept."""
    c = world.chain
    lease = c.do(
        world.owner,
        "lease.sign",
        [world.tenant],
        unit=world.unit,
        landlord=world.owner.public_hex,
        tenant=world.tenant.public_hex,
        **lease_terms(start="2026-01-01", end="2026-01-31"),
    ).txid[:16]
    c.do(world.tenant, "deposit.lodge", lease=lease, amount=900_000)
    payment = c.get(layout.lease(lease))["deposit_payment"]  # type: ignore[index]
    c.do(world.owner, "payment.confirm", payment=payment)
    c.day = "2026-01-31"
    c.do(world.owner, "deposit.return", lease=lease, deductions=[{"reason": "墙面", "amount": deduction}])
    return lease


@pytest.mark.parametrize(
    ("outcome", "award", "returned"),
    [("upheld", 200_000, 800_000), ("settled", 500_000, 900_000), ("rejected", 300_000, 600_000)],
)
def test_a_contested_deposit_is_settled_by_the_decision(world: World, outcome: str, award: int, returned: int) -> None:
    """The tenant disputes the deductions; the authority's decision settles the deposit: the award
    goes back to the tenant (never beyond the deposit; nothing when the dispute is rejected)."""
    c = world.chain
    lease = _returned_deposit(world, 300_000)
    dispute = c.do(world.tenant, "dispute.open", lease=lease, subject="deposit", evidence=[H]).txid[:16]
    rec = c.get(layout.lease(lease))
    assert rec is not None and rec["deposit_status"] == "disputed" and rec["deposit_dispute"] == dispute
    refused(world, "ALREADY_DONE", world.tenant, "deposit.accept", lease=lease)  # contested: only the decision settles
    authority = c.authority
    c.do(authority, "dispute.resolve", dispute=dispute, outcome=outcome, award=award, decision_hash=H2)
    rec = c.get(layout.lease(lease))
    assert rec is not None and rec["deposit_status"] == "decided" and rec["deposit_returned"] == returned
    refused(world, "ALREADY_DONE", world.tenant, "deposit.accept", lease=lease)
    refused(world, "ALREADY_DONE", world.owner, "deposit.return", lease=lease, deductions=[])


def test_a_second_deposit_dispute_does_not_settle_it(world: World) -> None:
    c = world.chain
    lease = _returned_deposit(world, 300_000)
    first = c.do(world.tenant, "dispute.open", lease=lease, subject="deposit", evidence=[H]).txid[:16]
    second = c.do(world.owner, "dispute.open", lease=lease, subject="deposit", evidence=[H2]).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=second, outcome="upheld", award=100_000, decision_hash=H)
    rec = c.get(layout.lease(lease))
    assert rec is not None and rec["deposit_status"] == "disputed"  # still waiting for the first one's decision
    c.do(c.authority, "dispute.resolve", dispute=first, outcome="upheld", award=100_000, decision_hash=H)
    rec = c.get(layout.lease(lease))
    assert rec is not None and rec["deposit_status"] == "decided" and rec["deposit_returned"] == 700_000
