"""Table-driven: every registry rule refuses with its code, and a refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from anju.errors import CODES, TxRejected
from anju.registry import layout
from anju.registry.codes import REGISTRY_CODES
from anju.registry.kinds import KINDS

from .harness import H2, H, key_for, lease_terms, listing_terms
from .world import World, make_world

Case = tuple[Any, str, tuple[Any, ...], dict[str, Any]]  # key, kind, cosigners, fields


def lease_fields(w: World, **over: Any) -> dict[str, Any]:
    return {"unit": w.unit, "landlord": w.owner.public_hex, "tenant": w.tenant.public_hex, **lease_terms(**over)}


def signed_lease(w: World, **over: Any) -> str:
    return w.chain.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, **over)).txid[:16]


def agency_listing(w: World, **over: Any) -> str:
    mid = w.grant(w.agency_a)
    return w.chain.do(w.agency_a, "listing.publish", unit=w.unit, mandate=mid, **listing_terms(**over)).txid[:16]


def ended_lease(w: World) -> str:
    lid = signed_lease(w, start="2026-01-01", end="2026-01-31")
    w.chain.day = "2026-02-02"
    return lid


def held_deposit(w: World) -> str:
    lid = signed_lease(w, start="2026-01-01", end="2026-01-31")
    pay = w.chain.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    w.chain.do(w.owner, "payment.confirm", payment=pay)
    w.chain.day = "2026-01-31"
    return lid


def _unregistered(w: World) -> Case:
    return key_for("nobody"), "unit.register", (), {}


def _suspended(w: World) -> Case:
    w.chain.do(w.chain.authority, "authority.suspend", party=w.tenant.public_hex, reason_hash=H)
    return w.tenant, "report.file", (), {"listing": "00" * 8, "evidence": [H]}


def _unattested_unit_listing(w: World) -> Case:
    uid = w.chain.unit(w.owner, attest=False)
    return w.owner, "listing.publish", (), {"unit": uid, **listing_terms()}


def _expired_mandate(w: World) -> Case:
    mid = w.grant(w.agency_a, to="2026-01-31")
    w.chain.day = "2026-02-01"
    return w.agency_a, "listing.publish", (), {"unit": w.unit, "mandate": mid, **listing_terms()}


def _revoked_mandate(w: World) -> Case:
    mid = w.grant(w.agency_a)
    w.chain.do(w.owner, "mandate.revoke", mandate=mid)
    return w.agency_a, "listing.publish", (), {"unit": w.unit, "mandate": mid, **listing_terms()}


def _exclusive_publish(w: World) -> Case:
    w.grant(w.agency_a, exclusive=True)
    # agency B was mandated before A's exclusive mandate started
    return w.agency_b, "listing.publish", (), {"unit": w.unit, **listing_terms()}


def _exclusive_grant(w: World) -> Case:
    w.grant(w.agency_a, exclusive=False)
    fields = {"unit": w.unit, "agency": w.agency_b.public_hex, "exclusive": True, "from": "2026-03-01"}
    return w.owner, "mandate.grant", (), {**fields, "to": "2026-04-01", "may_sign": False, "min_rent": 0}


def _rent_below_min(w: World) -> Case:
    mid = w.grant(w.agency_a)
    return w.agency_a, "listing.publish", (), {"unit": w.unit, "mandate": mid, **listing_terms(rent=700_000)}


def _agency_signs_without_right(w: World) -> Case:
    mid = w.grant(w.agency_a, may_sign=False)
    return w.agent_a, "lease.sign", (w.tenant,), {**lease_fields(w), "mandate": mid}


def _agency_signs_below_min(w: World) -> Case:
    mid = w.grant(w.agency_a)
    return w.agent_a, "lease.sign", (w.tenant,), {**lease_fields(w, rent=100), "mandate": mid}


def _listing_exists(w: World) -> Case:
    w.chain.do(w.owner, "listing.publish", unit=w.unit, **listing_terms())
    return w.owner, "listing.publish", (), {"unit": w.unit, **listing_terms()}


def _unit_not_free(w: World) -> Case:
    signed_lease(w)
    return w.owner, "listing.publish", (), {"unit": w.unit, **listing_terms(available_from="2026-06-01")}


def _let_within_the_term(w: World) -> Case:
    signed_lease(w, start="2026-05-01", end="2026-12-31")  # free in February, let from May
    return w.owner, "listing.publish", (), {"unit": w.unit, **listing_terms(available_from="2026-02-01")}


def _overlap(w: World) -> Case:
    signed_lease(w)
    return w.owner, "lease.sign", (w.tenant2,), {**lease_fields(w, start="2027-01-31", end="2027-06-30"),
                                                "tenant": w.tenant2.public_hex}  # fmt: skip


def _overlap_renewal(w: World) -> Case:
    lid = signed_lease(w)
    signed_lease(w, start="2027-02-01", end="2027-12-31")  # someone already holds the following year
    return w.owner, "lease.renew", (w.tenant,), {"previous": lid, **{k: v for k, v in lease_terms().items()
                                                                     if k != "start"}, "end": "2027-06-30"}  # fmt: skip


def _renewal_backwards(w: World) -> Case:
    lid = signed_lease(w)
    terms = {k: v for k, v in lease_terms().items() if k != "start"}
    return w.owner, "lease.renew", (w.tenant,), {"previous": lid, **terms, "end": "2026-06-30"}


def _missing_tenant_sig(w: World) -> Case:
    return w.owner, "lease.sign", (), lease_fields(w)


def _sublease_no_consent(w: World) -> Case:
    parent = signed_lease(w)
    fields = lease_fields(w, start="2026-03-01", end="2026-04-30")
    fields.update(landlord=w.tenant.public_hex, tenant=w.tenant2.public_hex, parent=parent)
    return w.tenant, "lease.sign", (w.tenant2,), fields


def _sublease_outside(w: World) -> Case:
    parent = signed_lease(w)
    fields = lease_fields(w, start="2026-01-15", end="2026-04-30")
    fields.update(landlord=w.tenant.public_hex, tenant=w.tenant2.public_hex, parent=parent)
    return w.tenant, "lease.sign", (w.tenant2, w.owner), fields


def _notice_too_short(w: World) -> Case:
    lid = signed_lease(w)
    return w.tenant, "lease.terminate", (), {"lease": lid, "mode": "notice", "on": "2026-02-01", "reason_hash": H}


def _mutual_one_side(w: World) -> Case:
    lid = signed_lease(w)
    return w.tenant, "lease.terminate", (), {"lease": lid, "mode": "mutual", "on": "2026-02-10", "reason_hash": H}


def _terminate_ended(w: World) -> Case:
    lid = ended_lease(w)
    return w.tenant, "lease.terminate", (w.owner,), {"lease": lid, "mode": "mutual", "on": "2026-03-01",
                                                     "reason_hash": H}  # fmt: skip


def _review_without_lease(w: World) -> Case:
    lid = ended_lease(w)
    return w.stranger, "review.write", (), {"lease": lid, "subject": w.owner.public_hex, "rating": 1, "text_hash": H}


def _deposit_wrong_amount(w: World) -> Case:
    lid = signed_lease(w)
    return w.tenant, "deposit.lodge", (), {"lease": lid, "amount": 1}


def _rent_out_of_order(w: World) -> Case:
    lid = signed_lease(w)
    return w.tenant, "rent.pay", (), {"lease": lid, "period": "2026-03", "months": 1, "amount": 900_000}


def _rent_past_end(w: World) -> Case:
    lid = signed_lease(w, end="2026-02-28")
    return w.tenant, "rent.pay", (), {"lease": lid, "period": "2026-02", "months": 2, "amount": 1_800_000}


def _bank_needed_deposit(w: World) -> Case:
    mid = w.grant(w.agency_a)
    fields = {**lease_fields(w, deposit=1_800_000, collector="agency"), "mandate": mid}
    lid = w.chain.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    return w.tenant, "deposit.lodge", (), {"lease": lid, "amount": 1_800_000}


def _bank_needed_rent(w: World) -> Case:
    mid = w.grant(w.agency_a)
    fields = {**lease_fields(w, collector="agency"), "mandate": mid}
    lid = w.chain.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    return w.tenant, "rent.pay", (), {"lease": lid, "period": "2026-02", "months": 6, "amount": 5_400_000}


def _confirm_by_payer(w: World) -> Case:
    lid = signed_lease(w)
    pay = w.chain.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    return w.tenant, "payment.confirm", (), {"payment": pay}


def _confirm_twice(w: World) -> Case:
    lid = signed_lease(w)
    pay = w.chain.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    w.chain.do(w.owner, "payment.confirm", payment=pay)
    return w.owner, "payment.confirm", (), {"payment": pay}


def _refuse_by_payer(w: World) -> Case:
    lid = signed_lease(w)
    pay = w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=1, amount=900_000).txid[:16]
    return w.tenant, "payment.refuse", (), {"payment": pay, "reason_hash": H}


def _refuse_confirmed(w: World) -> Case:
    lid = signed_lease(w)
    pay = w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=1, amount=900_000).txid[:16]
    w.chain.do(w.owner, "payment.confirm", payment=pay)
    return w.owner, "payment.refuse", (), {"payment": pay, "reason_hash": H}


def _refuse_twice(w: World) -> Case:
    lid = signed_lease(w)
    pay = w.chain.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    w.chain.do(w.owner, "payment.refuse", payment=pay, reason_hash=H)
    return w.owner, "payment.refuse", (), {"payment": pay, "reason_hash": H}


def _confirm_refused(w: World) -> Case:
    lid = signed_lease(w)
    pay = w.chain.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    w.chain.do(w.owner, "payment.refuse", payment=pay, reason_hash=H)
    return w.owner, "payment.confirm", (), {"payment": pay}


def _refuse_an_older_claim(w: World) -> Case:
    lid = signed_lease(w)
    pay = w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=1, amount=900_000).txid[:16]
    w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-03", months=1, amount=900_000)
    return w.owner, "payment.refuse", (), {"payment": pay, "reason_hash": H}


def _confirm_out_of_order(w: World) -> Case:
    lid = signed_lease(w)
    w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=1, amount=900_000)
    pay = w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-03", months=1, amount=900_000).txid[:16]
    return w.owner, "payment.confirm", (), {"payment": pay}


def _sub_sublease_without_its_landlord(w: World) -> Case:
    head = signed_lease(w)  # 2026-02-01 .. 2027-01-31
    sub = {"unit": w.unit, "landlord": w.tenant.public_hex, "tenant": w.tenant2.public_hex, "parent": head}
    mid = w.chain.do(w.tenant, "lease.sign", [w.tenant2, w.owner], **sub, **lease_terms(start="2026-03-01"))
    fields = {"unit": w.unit, "landlord": w.tenant2.public_hex, "tenant": w.stranger.public_hex}
    terms = lease_terms(start="2026-04-01", end="2026-09-30")
    return w.tenant2, "lease.sign", (w.stranger, w.owner), {**fields, "parent": mid.txid[:16], **terms}


def _revoke_a_tenants_licence(w: World) -> Case:
    return w.chain.authority, "authority.revoke_licence", (), {"party": w.tenant.public_hex, "reason_hash": H}


def _revoke_twice(w: World) -> Case:
    w.chain.do(w.chain.authority, "authority.revoke_licence", party=w.agency_b.public_hex, reason_hash=H)
    return w.chain.authority, "authority.revoke_licence", (), {"party": w.agency_b.public_hex, "reason_hash": H}


def _lease_through_a_revoked_agency(w: World) -> Case:
    mid = w.grant(w.agency_a)
    w.chain.do(w.chain.authority, "authority.revoke_licence", party=w.agency_a.public_hex, reason_hash=H)
    return w.agent_a, "lease.sign", (w.tenant,), {**lease_fields(w), "mandate": mid}


def _renew_for_a_revoked_agency(w: World) -> Case:
    lid = agency_listing(w)
    w.chain.do(w.chain.authority, "authority.revoke_licence", party=w.agency_a.public_hex, reason_hash=H)
    w.chain.day = "2026-03-20"
    return w.agency_a, "listing.renew", (), {"listing": lid}


def _revoked_bank_attests(w: World) -> Case:
    lid = signed_lease(w)
    w.chain.do(w.chain.authority, "authority.revoke_licence", party=w.bank.public_hex, reason_hash=H)
    attest = {"lease": lid, "purpose": "deposit", "amount": 900_000, "account_commitment": H}
    return w.bank, "bank.attest_escrow", (), attest


def _return_early(w: World) -> Case:
    lid = held_deposit(w)
    w.chain.day = "2026-01-20"
    return w.owner, "deposit.return", (), {"lease": lid, "deductions": []}


def _deductions_exceed(w: World) -> Case:
    lid = held_deposit(w)
    return w.owner, "deposit.return", (), {"lease": lid, "deductions": [{"reason": "全部", "amount": 900_001}]}


def _accept_before_return(w: World) -> Case:
    lid = held_deposit(w)
    return w.tenant, "deposit.accept", (), {"lease": lid}


def _dispute_by_stranger(w: World) -> Case:
    lid = signed_lease(w)
    return w.stranger, "dispute.open", (), {"lease": lid, "subject": "rent", "evidence": [H]}


def _resolve_twice(w: World) -> Case:
    lid = signed_lease(w)
    did = w.chain.do(w.tenant, "dispute.open", lease=lid, subject="rent", evidence=[H]).txid[:16]
    w.chain.do(w.chain.authority, "dispute.resolve", dispute=did, outcome="settled", award=0, decision_hash=H2)
    return w.chain.authority, "dispute.resolve", (), {"dispute": did, "outcome": "upheld", "award": 0,
                                                      "decision_hash": H}  # fmt: skip


def _withdraw_by_other(w: World) -> Case:
    lid = agency_listing(w)
    return w.agency_b, "listing.withdraw", (), {"listing": lid}


def _renew_withdrawn(w: World) -> Case:
    lid = agency_listing(w)
    w.chain.do(w.agent_a, "listing.withdraw", listing=lid)
    return w.agent_a, "listing.renew", (), {"listing": lid}


def _title_twice(w: World) -> Case:
    return w.chain.authority, "title.attest", (), {"unit": w.unit, "certificate_commitment": H2}


def _register_twice(w: World) -> Case:
    return w.tenant, "party.register", (), {"role": "tenant", "commitment": H}


def _unlicensed_agency(w: World) -> Case:
    unlicensed = w.chain.party("fly-by-night", "agency", license=False)
    fields = {"unit": w.unit, "agency": unlicensed.public_hex, "exclusive": False, "from": "2026-01-05"}
    return w.owner, "mandate.grant", (), {**fields, "to": "2026-03-01", "may_sign": True, "min_rent": 0}


def _unattested_owner(w: World) -> Case:
    owner = w.chain.party("shadow-owner", "landlord", attest=False)
    fields = {"district": "徐汇区", "street": "田林路", "neighbourhood": "田林街道", "address_commitment": H}
    return owner, "unit.register", (), {**fields, "floor_area_m2": 30, "rooms": 1}


def _not_owner_grant(w: World) -> Case:
    fields = {"unit": w.unit, "agency": w.agency_a.public_hex, "exclusive": False, "from": "2026-01-05"}
    return w.owner2, "mandate.grant", (), {**fields, "to": "2026-03-01", "may_sign": True, "min_rent": 0}


def _wrong_role_authority(w: World) -> Case:
    return w.owner, "lease.register", (), {"lease": "00" * 8}


def _unknown_reference(w: World) -> Case:
    return w.chain.authority, "lease.register", (), {"lease": "00" * 8}


def _agency_publishes_without_mandate(w: World) -> Case:
    return w.agent_a, "listing.publish", (), {"unit": w.unit, **listing_terms()}


def _bad_date(w: World) -> Case:
    return w.owner, "lease.sign", (w.tenant,), lease_fields(w, start="2026-02-30")


def _negative_money(w: World) -> Case:
    return w.owner, "listing.publish", (), {"unit": w.unit, **listing_terms(deposit=-1)}


def _unknown_field(w: World) -> Case:
    return w.owner, "listing.publish", (), {"unit": w.unit, "room": "1201", **listing_terms()}


def _unknown_kind(w: World) -> Case:
    return w.owner, "unit.demolish", (), {}


def _wrong_type(w: World) -> Case:
    return w.owner, "listing.publish", (), {"unit": w.unit, **listing_terms(rent="9000")}


def _review_twice(w: World) -> Case:
    lid = ended_lease(w)
    w.chain.do(w.tenant, "review.write", lease=lid, subject=w.owner.public_hex, rating=4, text_hash=H)
    return w.tenant, "review.write", (), {"lease": lid, "subject": w.owner.public_hex, "rating": 2, "text_hash": H}


def _review_early(w: World) -> Case:
    lid = signed_lease(w)
    return w.tenant, "review.write", (), {"lease": lid, "subject": w.owner.public_hex, "rating": 4, "text_hash": H}


CASES: dict[str, tuple[str, Callable[[World], Case]]] = {
    "unregistered signer": ("UNKNOWN_SIGNER", _unregistered),
    "suspended signer": ("PARTY_SUSPENDED", _suspended),
    "listing of an unattested unit": ("UNIT_NOT_ATTESTED", _unattested_unit_listing),
    "agency lists with no mandate": ("MANDATE_REQUIRED", _agency_publishes_without_mandate),
    "mandate used after expiry": ("MANDATE_NOT_LIVE", _expired_mandate),
    "mandate used after revocation": ("MANDATE_NOT_LIVE", _revoked_mandate),
    "second agency under an exclusive mandate": ("MANDATE_REQUIRED", _exclusive_publish),
    "exclusive mandate over another's": ("EXCLUSIVE_MANDATE", _exclusive_grant),
    "rent under the owner's minimum": ("RENT_BELOW_MINIMUM", _rent_below_min),
    "agency signs below the minimum": ("RENT_BELOW_MINIMUM", _agency_signs_below_min),
    "agency signs without the right": ("MANDATE_NO_SIGNING", _agency_signs_without_right),
    "second live listing by one publisher": ("LISTING_EXISTS", _listing_exists),
    "listing a let unit": ("UNIT_NOT_FREE", _unit_not_free),
    "listing a unit let within the shortest term": ("UNIT_NOT_FREE", _let_within_the_term),
    "overlapping lease": ("LEASE_OVERLAP", _overlap),
    "overlapping renewal": ("LEASE_OVERLAP", _overlap_renewal),
    "renewal ending before it starts": ("RENEWAL_NOT_CONTIGUOUS", _renewal_backwards),
    "lease without the tenant's signature": ("MISSING_SIGNATURE", _missing_tenant_sig),
    "sublease without consent": ("SUBLEASE_CONSENT_REQUIRED", _sublease_no_consent),
    "sublease outside its parent": ("SUBLEASE_OUTSIDE_PARENT", _sublease_outside),
    "notice too short": ("NOTICE_TOO_SHORT", _notice_too_short),
    "mutual termination by one side": ("MISSING_SIGNATURE", _mutual_one_side),
    "terminating an ended lease": ("LEASE_NOT_LIVE", _terminate_ended),
    "review with no lease behind it": ("NOT_COUNTERPARTY", _review_without_lease),
    "review twice": ("ALREADY_REVIEWED", _review_twice),
    "review before the end": ("LEASE_NOT_ENDED", _review_early),
    "deposit of the wrong amount": ("AMOUNT_MISMATCH", _deposit_wrong_amount),
    "rent months skipped": ("PERIOD_OUT_OF_ORDER", _rent_out_of_order),
    "rent past the lease": ("PERIOD_OUT_OF_ORDER", _rent_past_end),
    "agency deposit > 1 month without bank": ("BANK_ATTESTATION_REQUIRED", _bank_needed_deposit),
    "agency rent > 3 months ahead without bank": ("BANK_ATTESTATION_REQUIRED", _bank_needed_rent),
    "payer confirms own payment": ("NOT_RECEIVER", _confirm_by_payer),
    "payment confirmed twice": ("ALREADY_DONE", _confirm_twice),
    "payer refuses own payment": ("NOT_RECEIVER", _refuse_by_payer),
    "refusing a confirmed payment": ("ALREADY_DONE", _refuse_confirmed),
    "payment refused twice": ("ALREADY_DONE", _refuse_twice),
    "confirming a refused payment": ("ALREADY_DONE", _confirm_refused),
    "refusing a claim before the newest": ("PERIOD_OUT_OF_ORDER", _refuse_an_older_claim),
    "rent confirmed out of order": ("PERIOD_OUT_OF_ORDER", _confirm_out_of_order),
    "sub-sublease without its landlord's consent": ("SUBLEASE_CONSENT_REQUIRED", _sub_sublease_without_its_landlord),
    "licence of a tenant revoked": ("WRONG_ROLE", _revoke_a_tenants_licence),
    "licence revoked twice": ("ALREADY_DONE", _revoke_twice),
    "lease through an agency whose licence was revoked": ("NOT_LICENSED", _lease_through_a_revoked_agency),
    "listing renewed for an agency whose licence was revoked": ("NOT_LICENSED", _renew_for_a_revoked_agency),
    "escrow attested by a bank whose licence was revoked": ("NOT_LICENSED", _revoked_bank_attests),
    "deposit returned before the end": ("LEASE_NOT_ENDED", _return_early),
    "deductions above the deposit": ("AMOUNT_MISMATCH", _deductions_exceed),
    "accepting before a return": ("ALREADY_DONE", _accept_before_return),
    "dispute by a stranger": ("NOT_LEASE_PARTY", _dispute_by_stranger),
    "dispute resolved twice": ("ALREADY_DONE", _resolve_twice),
    "withdraw by another agency": ("NOT_PUBLISHER", _withdraw_by_other),
    "renew a withdrawn listing": ("LISTING_NOT_LIVE", _renew_withdrawn),
    "title attested twice": ("TITLE_ALREADY_ATTESTED", _title_twice),
    "party registers twice": ("ALREADY_REGISTERED", _register_twice),
    "unlicensed agency mandated": ("NOT_LICENSED", _unlicensed_agency),
    "unattested owner registers a unit": ("IDENTITY_NOT_ATTESTED", _unattested_owner),
    "non-owner grants a mandate": ("NOT_OWNER", _not_owner_grant),
    "non-authority registers a lease": ("WRONG_ROLE", _wrong_role_authority),
    "registering a missing lease": ("UNKNOWN_REFERENCE", _unknown_reference),
    "impossible date": ("INVALID_FIELD", _bad_date),
    "negative money": ("INTEGER_OUT_OF_RANGE", _negative_money),
    "room number in a listing": ("UNKNOWN_FIELD", _unknown_field),
    "unknown kind": ("UNKNOWN_KIND", _unknown_kind),
    "money as a string": ("INVALID_FIELD", _wrong_type),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_refuses_and_changes_nothing(world: World, name: str) -> None:
    code, setup = CASES[name]
    key, kind, cosigners, fields = setup(world)
    before = world.chain.root()
    seqs = dict(world.chain.seqs)
    with pytest.raises(TxRejected) as err:
        world.chain.do(key, kind, cosigners, **fields)
    assert err.value.code == code, err.value.diagnostics()
    assert world.chain.root() == before and world.chain.seqs == seqs


def test_replayed_transaction_is_refused(world: World) -> None:
    env = world.chain.envelope(world.owner, "listing.publish", unit=world.unit, **listing_terms())
    world.chain.submit(env)
    with pytest.raises(TxRejected) as err:
        world.chain.submit(env)
    assert err.value.code == "SEQ_REUSED"


def test_every_registry_code_is_registered_and_used() -> None:
    for code, spec in REGISTRY_CODES.items():
        assert CODES[code] == spec and 400 <= spec[0] < 500
    used = {c for c, _ in CASES.values()} | {"ALREADY_EXISTS", "WRONG_ROLE"}
    documented = {c for k in KINDS.values() for c in k.errors}
    assert set(REGISTRY_CODES) - used - documented == set()


def test_mandate_revocation_revokes_its_listings_at_once(world: World) -> None:
    lid = agency_listing(world)
    mid = world.chain.get(layout.listing(lid))["mandate"]  # type: ignore[index]
    world.chain.do(world.owner, "mandate.revoke", mandate=mid)
    rec = world.chain.get(layout.listing(lid))
    assert rec is not None and (rec["status"], rec["status_reason"]) == ("revoked", "mandate_revoked")


def test_a_suspended_party_cannot_co_sign() -> None:
    """The tenant sends the lease, co-signed by an owner the authority suspended: refused."""
    w = make_world()
    w.chain.do(w.chain.authority, "authority.suspend", party=w.owner.public_hex, reason_hash=H)
    before = w.chain.root()
    with pytest.raises(TxRejected) as err:
        w.chain.do(w.tenant, "lease.sign", [w.owner], **lease_fields(w))
    assert err.value.code == "PARTY_SUSPENDED" and err.value.details["party"] == w.owner.public_hex
    assert w.chain.root() == before
    w.chain.do(w.chain.authority, "authority.reinstate", party=w.owner.public_hex, reason_hash=H)
    w.chain.do(w.tenant, "lease.sign", [w.owner], **lease_fields(w))  # reinstated: accepted


@pytest.mark.parametrize("period", ["2026-0²", "２０２６-02", "2026-٠٢"])
def test_a_month_in_other_digits_is_an_invalid_field(period: str) -> None:
    """str.isdigit accepts "²", full-width and Arabic-Indic digits; int() then fails on some: the
    rule must answer INVALID_FIELD, never raise (a raise stopped the sequencer)."""
    w = make_world()
    lid = signed_lease(w)
    before = w.chain.root()
    with pytest.raises(TxRejected) as err:
        w.chain.do(w.tenant, "rent.pay", lease=lid, period=period, months=1, amount=900_000)
    assert err.value.code == "INVALID_FIELD"
    assert w.chain.root() == before


def test_a_lease_runs_at_most_twenty_years() -> None:
    w = make_world()
    w.chain.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-02-01", end="2046-01-31"))
    w2 = make_world()
    before = w2.chain.root()
    with pytest.raises(TxRejected) as err:  # one day more than twenty years (20 x 366 days let 15 through)
        w2.chain.do(w2.owner, "lease.sign", [w2.tenant], **lease_fields(w2, start="2026-02-01", end="2046-02-01"))
    assert err.value.code == "INVALID_FIELD" and err.value.details["field"] == "end" and w2.chain.root() == before


def test_a_rent_escrow_attestation_covers_the_months_paid_ahead_once(world: World) -> None:
    """An attestation of twelve months' rent lets an agency collect twelve months ahead, not twelve
    more on top of them (it once did, for any number of payments)."""
    w = world
    mid = w.grant(w.agency_a, to="2028-12-31")
    fields = {**lease_fields(w, start="2026-02-01", end="2028-01-31", collector="agency"), "mandate": mid}
    lid = w.chain.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    account = "ab" * 32
    w.chain.do(w.bank, "bank.attest_escrow", lease=lid, purpose="rent", amount=12 * 900_000, account_commitment=account)
    w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=12, amount=12 * 900_000)
    before = w.chain.root()
    with pytest.raises(TxRejected) as err:
        w.chain.do(w.tenant, "rent.pay", lease=lid, period="2027-02", months=12, amount=12 * 900_000)
    assert err.value.code == "BANK_ATTESTATION_REQUIRED" and err.value.details["needed"] == 24 * 900_000
    assert w.chain.root() == before
    with pytest.raises(TxRejected) as err:  # a single month more is not covered either
        w.chain.do(w.tenant, "rent.pay", lease=lid, period="2027-02", months=1, amount=900_000)
    assert err.value.code == "BANK_ATTESTATION_REQUIRED"
    w.chain.day = "2026-11-05"  # time passes: January is now within three months
    w.chain.do(w.tenant, "rent.pay", lease=lid, period="2027-02", months=1, amount=900_000)
    w.chain.do(w.bank, "bank.attest_escrow", lease=lid, purpose="rent", amount=12 * 900_000, account_commitment=account)
    w.chain.do(w.tenant, "rent.pay", lease=lid, period="2027-03", months=11, amount=11 * 900_000)


def test_a_listing_fits_between_leases_only_for_its_whole_shortest_term(world: World) -> None:
    w = world
    signed_lease(w, start="2026-05-01", end="2026-12-31")
    # three months free from February: a three-month minimum term fits, a four-month one does not
    with pytest.raises(TxRejected) as err:
        w.chain.do(
            w.owner, "listing.publish", unit=w.unit, **listing_terms(available_from="2026-02-01", min_term_months=4)
        )
    assert err.value.code == "UNIT_NOT_FREE" and err.value.details["term_to"] == "2026-05-31"
    w.chain.do(w.owner, "listing.publish", unit=w.unit, **listing_terms(available_from="2026-02-01", min_term_months=3))
    mid = w.grant(w.agency_a, to="2027-12-31")  # from the day after the lease: free for a year
    terms = listing_terms(available_from="2027-01-01", min_term_months=12)
    w.chain.do(w.agency_a, "listing.publish", unit=w.unit, mandate=mid, **terms)


def test_the_months_before_a_lease_starts_are_not_counted_as_paid_ahead(world: World) -> None:
    w = world
    mid = w.grant(w.agency_a, to="2027-12-31")
    fields = {**lease_fields(w, start="2026-09-01", end="2027-08-31", collector="agency"), "mandate": mid}
    lid = w.chain.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    with pytest.raises(TxRejected) as err:  # September's rent, in January: eight months ahead
        w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-09", months=1, amount=900_000)
    assert err.value.code == "BANK_ATTESTATION_REQUIRED" and err.value.details["needed"] == 900_000
    w.chain.do(w.bank, "bank.attest_escrow", lease=lid, purpose="rent", amount=900_000, account_commitment="ab" * 32)
    w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-09", months=1, amount=900_000)


def test_a_refused_rent_payment_hands_its_months_back_and_tells_every_side(world: World) -> None:
    """payment.refuse by the collecting agency's agent: the claim's months are owed and recorded
    again, the event names the lease's sides, and nothing else of the lease moves."""
    from anju.registry.status import overdue_months, unconfirmed_months

    w, c = world, world.chain
    mid = w.grant(w.agency_a)
    fields = {**lease_fields(w, start="2026-01-05", end="2026-12-31", collector="agency"), "mandate": mid}
    lid = c.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    jan = c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=1, amount=900_000).txid[:16]
    c.do(w.agent_a, "payment.confirm", payment=jan)
    feb = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=2, amount=1_800_000).txid[:16]
    before = c.get(layout.lease(lid))
    assert before is not None and unconfirmed_months(before) == ["2026-02", "2026-03"]
    assert overdue_months(before, "2026-03-06") == ["2026-02", "2026-03"]  # claimed, not confirmed: still owed
    c.day = "2026-03-06"
    c.do(w.agent_a, "payment.refuse", payment=feb, reason_hash=H2)
    after = c.get(layout.lease(lid))
    assert after is not None
    assert (after["paid_through"], after["confirmed_through"]) == ("2026-01", "2026-01")
    assert {k: v for k, v in after.items() if k != "paid_through"} == {
        k: v for k, v in before.items() if k != "paid_through"
    }
    assert unconfirmed_months(after) == [] and overdue_months(after, c.day) == ["2026-02", "2026-03"]
    pay = c.get(layout.payment(feb))
    assert pay is not None and not pay["confirmed"] and pay["refused_on"] == "2026-03-06"
    event = c.events[-1]
    assert event.kind == "payment.refused"
    assert {**event.data} == {
        "payment": feb, "lease": lid, "kind": "rent", "reason_hash": H2, "txid": event.data["txid"],
    }  # fmt: skip
    assert set(event.parties) >= {w.owner.public_hex, w.tenant.public_hex, w.agency_a.public_hex}
    again = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=2, amount=1_800_000).txid[:16]
    c.do(w.agent_a, "payment.confirm", payment=again)
    done = c.get(layout.lease(lid))
    assert done is not None and done["confirmed_through"] == "2026-03" and overdue_months(done, c.day) == []


def test_a_refused_prepayment_takes_its_months_out_of_the_escrow_total(world: World) -> None:
    """Edition 7: the running escrow total (``rent_escrowed``) returns to what the refused payment
    found; a payment that collected nothing ahead under escrow changes no escrow field when refused."""
    w, c = world, world.chain
    mid = w.grant(w.agency_a, to="2028-12-31")
    fields = {**lease_fields(w, start="2026-02-01", end="2027-12-31", collector="agency"), "mandate": mid}
    lid = c.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    c.do(w.bank, "bank.attest_escrow", lease=lid, purpose="rent", amount=12 * 900_000, account_commitment=H)
    feb = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=2, amount=1_800_000).txid[:16]  # not ahead
    c.do(w.agent_a, "payment.confirm", payment=feb)
    first = c.get(layout.lease(lid))
    assert first is not None and "rent_escrowed" not in first
    ahead = c.do(w.tenant, "rent.pay", lease=lid, period="2026-04", months=6, amount=5_400_000).txid[:16]
    mid_lease = c.get(layout.lease(lid))
    # the months after the block's (January) through September: 8 under escrow
    assert mid_lease is not None and (mid_lease["rent_escrowed"], mid_lease["rent_escrowed_through"]) == (
        8 * 900_000,
        "2026-09",
    )
    c.do(w.agent_a, "payment.confirm", payment=ahead)
    more = c.do(w.tenant, "rent.pay", lease=lid, period="2026-10", months=3, amount=2_700_000).txid[:16]
    grown = c.get(layout.lease(lid))
    assert grown is not None and (grown["rent_escrowed"], grown["rent_escrowed_through"]) == (11 * 900_000, "2026-12")
    c.do(w.agent_a, "payment.refuse", payment=more, reason_hash=H)
    back = c.get(layout.lease(lid))
    assert back is not None
    assert {k: v for k, v in back.items() if k != "confirmed_through"} == {
        k: v for k, v in mid_lease.items() if k != "confirmed_through"
    }  # as the refused payment found it: paid through September, eight months under escrow
    c.do(w.tenant, "rent.pay", lease=lid, period="2026-10", months=3, amount=2_700_000)
    again = c.get(layout.lease(lid))
    assert again is not None and again["rent_escrowed"] == 11 * 900_000
    c.day = "2026-12-10"  # January is next month: not paid ahead, nothing under escrow
    plain = c.do(w.tenant, "rent.pay", lease=lid, period="2027-01", months=1, amount=900_000).txid[:16]
    assert "escrowed_before" not in (c.get(layout.payment(plain)) or {"escrowed_before": 0})
    c.do(w.agent_a, "payment.refuse", payment=plain, reason_hash=H)
    last = c.get(layout.lease(lid))
    assert last is not None and (last["rent_escrowed"], last["rent_escrowed_through"]) == (11 * 900_000, "2026-12")


def test_the_first_claim_refused_leaves_nothing_paid(world: World) -> None:
    w, c = world, world.chain
    lid = signed_lease(w)  # from 2026-02-01
    pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=3, amount=2_700_000).txid[:16]
    c.do(w.owner, "payment.refuse", payment=pay, reason_hash=H)
    rec = c.get(layout.lease(lid))
    assert rec is not None and rec["paid_through"] is None
    c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=1, amount=900_000)  # from the first month again


def test_a_lease_signed_before_edition_6_keeps_its_old_payment_rules_after_the_chain_adopts_it() -> None:
    """A lease of edition 5 has no ``confirmed_through``: recorded months stay cleared after the
    chain adopts edition 6 (its confirmations in any order), and payment.refuse works on it."""
    from anju.registry.status import overdue_months

    w = make_world(5)
    c = w.chain
    lid = signed_lease(w, start="2026-01-05", end="2026-12-31")
    jan = c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=1, amount=900_000).txid[:16]
    c.do(c.authority, "authority.adopt_rules", rules=6, reason_hash=H)
    feb = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=1, amount=900_000).txid[:16]
    c.do(w.owner, "payment.confirm", payment=feb)  # before January's: no order on an edition-5 lease
    rec = c.get(layout.lease(lid))
    assert rec is not None and "confirmed_through" not in rec and overdue_months(rec, "2026-02-20") == []
    mar = c.do(w.tenant, "rent.pay", lease=lid, period="2026-03", months=1, amount=900_000).txid[:16]
    c.do(w.owner, "payment.refuse", payment=mar, reason_hash=H)
    rec = c.get(layout.lease(lid))
    assert rec is not None and rec["paid_through"] == "2026-02"
    c.do(w.owner, "payment.confirm", payment=jan)
    new = signed_lease(w, start="2027-01-05", end="2027-06-30", document_hash=H2)
    rec = c.get(layout.lease(new))
    assert rec is not None and rec["confirmed_through"] is None  # signed under edition 6


def test_an_agency_whose_licence_is_revoked_settles_what_it_owes_and_takes_nothing_new(world: World) -> None:
    """After authority.revoke_licence the agency's listings show suspended (licence_revoked), it may
    not take a mandate or appoint an agent, yet it still confirms rent and returns the deposit of its
    running lease; a new licence makes it an agency again."""
    from anju.registry.status import shown_listing_status

    w, c = world, world.chain
    mid = w.grant(w.agency_a)
    fields = {**lease_fields(w, start="2026-01-05", end="2026-01-31", collector="agency"), "mandate": mid}
    lease = c.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    deposit = c.do(w.tenant, "deposit.lodge", lease=lease, amount=900_000).txid[:16]
    c.do(c.authority, "authority.revoke_licence", party=w.agency_a.public_hex, reason_hash=H2)
    agency = c.get(layout.party(w.agency_a.public_hex))
    assert agency is not None and not agency["licensed"] and agency["licence_revoked_on"] == c.day
    event = c.events[-1]
    assert (event.kind, event.data["party"], event.data["role"]) == (
        "party.licence_revoked",
        w.agency_a.public_hex,
        "agency",
    )
    for kind, body in (
        ("mandate.grant", {"unit": w.unit, "agency": w.agency_a.public_hex, "exclusive": False, "from": "2026-02-01",
                           "to": "2026-06-30", "may_sign": False, "min_rent": 0}),
        ("agency.appoint_agent", {"agent": w.tenant2.public_hex}),
    ):  # fmt: skip
        signer = w.owner if kind == "mandate.grant" else w.agency_a
        with pytest.raises(TxRejected) as err:
            c.do(signer, kind, **body)
        assert err.value.code == "NOT_LICENSED", kind
    c.do(w.agent_a, "payment.confirm", payment=deposit)  # what it owes stays its to settle
    c.day = "2026-01-31"
    c.do(w.agency_a, "deposit.return", lease=lease, deductions=[])
    c.do(c.authority, "authority.license_agency", party=w.agency_a.public_hex, licence=H)
    c.day = "2026-02-01"
    listing = c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **listing_terms()).txid[:16]
    rec, mandate = c.get(layout.listing(listing)), c.get(layout.mandate(mid))
    assert rec is not None and shown_listing_status(
        rec, mandate, [c.get(layout.party(w.agency_a.public_hex))], c.day
    ) == (
        "live",
        None,
    )
