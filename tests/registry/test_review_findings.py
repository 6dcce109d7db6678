"""Adversarial review of the registry's rules (edition 4): holes found in the product's promises.

Each test builds a scenario with the ordinary transaction kinds and asserts the behaviour the
promise (../shared/PRODUCT.md, docs/REGISTRY.md) calls for. Every test here failed on the rules of
edition 4: each one is a confirmed hole. They run on the newest edition (the ``world`` fixture):
edition 5 closed all but two (holes 12 and 14), which edition 6 closed; the fixes' old and new
behaviour on every edition are cases in test_editions (``CASES_5`` and ``CASES_6``). The ranking,
the rule each one rests on and a suggested fix are in the review report; each test's docstring
restates the sequence (as it stood in edition 4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from anju.crypto.tx import Tx
from anju.errors import TxRejected
from anju.registry import layout, views
from anju.registry.dates import add_days
from anju.registry.status import overdue_months

from .harness import H2, H, lease_terms, listing_terms
from .world import World

R = "ee" * 32  # a reason / decision hash


def lease_fields(w: World, **over: Any) -> dict[str, Any]:
    return {"unit": w.unit, "landlord": w.owner.public_hex, "tenant": w.tenant.public_hex, **lease_terms(**over)}


def refused(code: str, submit: Callable[[], Tx]) -> None:
    """Assert that ``submit`` is refused with ``code`` (and say what happened when it was not)."""
    try:
        tx = submit()
    except TxRejected as err:
        assert err.code == code, f"refused with {err.code} ({err.message}), expected {code}"
        return
    pytest.fail(f"{tx.kind} {tx.txid[:16]} was accepted; the promise needs it refused with {code}")


def outcome(submit: Callable[[], Tx]) -> str:
    """The refusal code of ``submit``, or "accepted" (to check several attempts in one test)."""
    try:
        submit()
    except TxRejected as err:
        return err.code
    return "accepted"


def score(w: World, who: Any) -> int:
    rec = w.chain.get(layout.credit(who.public_hex))
    return 600 if rec is None else int(rec["score"])


def factor_points(w: World, who: Any, factor: str) -> int:
    rec = w.chain.get(layout.credit(who.public_hex))
    return 0 if rec is None or factor not in rec["factors"] else int(rec["factors"][factor]["points"])


# -- 1. listings that can be proven real ----------------------------------------------------------


def test_a_listing_with_a_past_available_from_cannot_advertise_a_leased_unit(world: World) -> None:
    """listing.publish checks the unit free from ``available_from`` for ``min_term_months``, even
    when ``available_from`` lies in the past (listing.renew starts the term at the later of
    ``available_from`` and the block date; publish does not). So, with the unit leased through
    2026, the owner (or a mandated agency) publishes ``available_from`` 2025-11-01, one month: the
    term checked is November 2025, free, and the listing is accepted and verifies as ``live``:
    a proven-real advert of a unit that is let for the next year."""
    w, c = world, world.chain
    c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-01", end="2026-12-31"))
    mid = w.grant(w.agency_a)
    past = listing_terms(available_from="2025-11-01", min_term_months=1)
    by_agency = outcome(lambda: c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **past))
    by_owner = outcome(lambda: c.do(w.owner, "listing.publish", unit=w.unit, **past))
    assert (by_agency, by_owner) == ("UNIT_NOT_FREE", "UNIT_NOT_FREE")


def test_views_show_the_listing_from_the_past_available_from_as_live(world: World) -> None:
    """What a tenant scanning the code of the listing of the first test is told: ``live``, while
    the unit's only head lease runs through 2026 (the proof verifies: the record says so)."""
    w, c = world, world.chain
    c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-01", end="2026-12-31"))
    try:
        lid = c.do(w.owner, "listing.publish", unit=w.unit,
                   **listing_terms(available_from="2025-11-01", min_term_months=1)).txid[:16]  # fmt: skip
    except TxRejected:
        return
    view = views.listing_view(c.state, lid, "2026-01-05")
    assert view is not None
    assert view["status"] != "live", "the code of a let unit verifies as live"


# -- 2. credit that cannot be pumped -------------------------------------------------------------


def test_voided_unregistered_leases_earn_no_rent_on_time_credit(world: World) -> None:
    """rent_on_time needs neither the authority's registration (unlike reviews and
    deposit_settled from edition 3) nor a lease that runs. A tenant and a friendly landlord:
    sign a lease starting next month (rent 1 fen), pay its first month (it is "this month or the
    next", paid before its due day), the landlord confirms (+2), and both call the lease off
    (mutual, ``on`` = the day before its start: void, its dates free again). Repeat: +2 a round,
    in one day, on the same dates of the same unit, with no authority in the loop; 200 rounds
    reach the 1000 ceiling."""
    w, c = world, world.chain
    c.day = "2026-01-20"
    for _ in range(10):
        fields = lease_fields(w, start="2026-02-01", end="2026-02-28", rent=1, deposit=0)
        lid = c.do(w.owner, "lease.sign", [w.tenant], **fields).txid[:16]
        pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=1, amount=1).txid[:16]
        c.do(w.owner, "payment.confirm", payment=pay)
        c.do(w.owner, "lease.terminate", [w.tenant], lease=lid, mode="mutual", on="2026-01-31", reason_hash=R)
    assert factor_points(w, w.tenant, "rent_on_time") == 0, "ten void leases that never ran raised the tenant's credit"
    assert score(w, w.tenant) == 600


def test_one_day_leases_do_not_multiply_rent_on_time_credit(world: World) -> None:
    """The same without calling anything off: one-day leases on consecutive days of one month, each
    paying "its" month once (the amount of one month's rent, here 1 fen), each confirmed: +2 per
    lease, some thirty a month per unit, none registered. A month of rent paid on time is one
    month, whatever number of leases it is split into."""
    w, c = world, world.chain
    c.day = "2026-01-05"
    for i in range(10):
        day = add_days("2026-01-10", i)
        fields = lease_fields(w, start=day, end=day, rent=1, deposit=0)
        lid = c.do(w.owner, "lease.sign", [w.tenant], **fields).txid[:16]
        pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=1, amount=1).txid[:16]
        c.do(w.owner, "payment.confirm", payment=pay)
    assert factor_points(w, w.tenant, "rent_on_time") <= 2, "one month paid on time counted ten times"


def test_a_voided_lease_cannot_be_registered(world: World) -> None:
    """lease.register checks nothing but that the lease exists and is unregistered: the authority
    can give a registration number (the tenant's proof of residence) and +5 leases_registered to
    every side of a lease called off before it began (start after ends_on)."""
    w, c = world, world.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
    c.do(w.owner, "lease.terminate", [w.tenant], lease=lid, mode="mutual", on="2026-02-28", reason_hash=R)
    refused("LEASE_NOT_LIVE", lambda: c.do(c.authority, "lease.register", lease=lid))


def test_calling_off_a_registered_lease_takes_its_registration_credit_back(world: World) -> None:
    """Sign a lease that starts later, have it registered (备案: +5 to landlord and tenant), then call
    it off before it starts (mutual, void): the unit's dates are free again and the +5 stays. Round
    after round, a landlord and a tenant in league pump both their leases_registered without a day
    of tenancy (the authority registered a real, signed lease each time)."""
    w, c = world, world.chain
    for _ in range(5):
        lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
        c.do(c.authority, "lease.register", lease=lid)
        c.do(w.owner, "lease.terminate", [w.tenant], lease=lid, mode="mutual", on="2026-02-28", reason_hash=R)
    assert factor_points(w, w.tenant, "leases_registered") == 0, "five leases that never ran count as registered"
    assert factor_points(w, w.owner, "leases_registered") == 0


# -- 3. nobody is bound by a lease they did not sign -----------------------------------------------


def test_a_lease_cannot_name_an_agency_that_did_not_sign_it(world: World) -> None:
    """mandate.grant needs only the owner's signature, and lease.sign with a ``mandate`` that the
    owner signs needs no signature of the agency ("the agency only brokered"). So an owner names
    any licensed agency on a lease it never saw, even as ``collector`` (the holder of the tenant's
    deposit and the one who must confirm rent): the agency becomes a side of the lease, earns
    leases_registered, is a respondent of every tenant dispute (-30 if upheld) and can be reviewed
    by the tenant (here rating 1: -8). The agency never signed anything."""
    w, c = world, world.chain
    mid = w.grant(w.agency_b, may_sign=False)  # agency B never signs a transaction in this test
    fields = lease_fields(w, start="2026-01-05", end="2026-01-31", mandate=mid, collector="agency")
    try:
        lid = c.do(w.owner, "lease.sign", [w.tenant], **fields).txid[:16]
    except TxRejected as err:
        assert err.code == "MISSING_SIGNATURE", err.code
        return
    c.do(c.authority, "lease.register", lease=lid)
    c.day = "2026-02-02"
    c.do(w.tenant, "review.write", lease=lid, subject=w.agency_b.public_hex, rating=1, text_hash=H)
    lease = c.get(layout.lease(lid))
    assert lease is not None
    assert lease["agency"] != w.agency_b.public_hex, "agency B is a side (and the collector) of a lease it never signed"
    assert c.get(layout.credit(w.agency_b.public_hex)) is None, "a lease agency B never signed moved its credit"


# -- 4. money ----------------------------------------------------------------------------------


def _agency_collected_lease(w: World, **over: Any) -> str:
    mid = w.grant(w.agency_a)
    fields = lease_fields(w, mandate=mid, collector="agency", **over)
    return w.chain.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]


def test_a_rent_escrow_attestation_backs_the_months_it_was_made_for_only(world: World) -> None:
    """Attested escrow only ever adds up, and the rent escrow needed counts only months after the
    block's month. In January 2026 the bank attests 11 months' rent and the agency collects
    2026-01..2026-12 (11 months ahead). That money is released month by month as 2026 is lived.
    In January 2027 the agency collects 2027-01..2027-12 (11 months ahead again): needed = 11
    months, attested (in 2026) = 11 months, accepted with no new attestation: a year's rent
    collected ahead with nothing in a supervised account."""
    w, c = world, world.chain
    lid = _agency_collected_lease(w, start="2026-01-01", end="2027-12-31")
    c.do(w.bank, "bank.attest_escrow", lease=lid, purpose="rent", amount=11 * 900_000, account_commitment=H2)
    c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=12, amount=12 * 900_000)
    c.day = "2027-01-04"
    refused(
        "BANK_ATTESTATION_REQUIRED",
        lambda: c.do(w.tenant, "rent.pay", lease=lid, period="2027-01", months=12, amount=12 * 900_000),
    )


def test_a_bank_attests_escrow_only_for_a_lease_money_can_be_held_for(world: World) -> None:
    """bank.attest_escrow checks only that the signer is a licensed bank and that the lease exists:
    nothing links the bank to the lease, its collector or the collector's supervised account (no
    party to the lease names or accepts the bank), and any licensed bank's word counts towards
    BANK_ATTESTATION_REQUIRED. It is even accepted for a lease called off before it began, on
    which nothing is or ever will be paid: the lease then shows an escrow nobody asked for."""
    w, c = world, world.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
    c.do(w.owner, "lease.terminate", [w.tenant], lease=lid, mode="mutual", on="2026-02-28", reason_hash=R)
    refused(
        "LEASE_NOT_LIVE",
        lambda: c.do(w.bank, "bank.attest_escrow", lease=lid, purpose="deposit", amount=900_000,
                     account_commitment=H2),
    )  # fmt: skip


def test_rent_arrears_settled_in_one_payment_count_every_late_month(world: World) -> None:
    """rent_late is one -5 per confirmed payment, whatever it covers. A tenant who pays nothing for
    three months and then settles all three in one rent.pay loses 5 points; one who pays each of
    those months a day late loses 15. Lateness is measured against the payment day, but the
    penalty is per payment, so batching arrears hides them."""
    w, c = world, world.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-01", end="2026-12-31")).txid[:16]
    c.day = "2026-03-20"  # January, February and March rent all overdue
    pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=3, amount=3 * 900_000).txid[:16]
    c.do(w.owner, "payment.confirm", payment=pay)
    assert factor_points(w, w.tenant, "rent_late") <= -15, "three late months cost as much as one"


def test_a_payment_the_receiver_never_confirmed_does_not_clear_the_months_it_claims(world: World) -> None:
    """rent.pay is the tenant's claim; only payment.confirm is the receiver's word. Yet rent.pay
    moves the lease's ``paid_through`` at once and for good: a tenant who records six months
    (collector: the landlord, so no escrow check) without paying a fen has no month overdue
    (``status.overdue_months``, what the portal shows), the receiver has no transaction to refuse
    the claim, and the months can never be recorded again (PERIOD_OUT_OF_ORDER) when the money
    does come. Only the receiver's confirmation should clear a month."""
    w, c = world, world.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-12-31")).txid[:16]
    six = c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=6, amount=6 * 900_000)  # never confirmed
    lease = c.get(layout.lease(lid))
    assert lease is not None
    assert overdue_months(lease, "2026-03-20") == ["2026-01", "2026-02", "2026-03"], (
        f"nothing confirmed, yet overdue = {overdue_months(lease, '2026-03-20')} (paid_through {lease['paid_through']})"
    )
    c.day = "2026-03-20"
    c.do(w.owner, "payment.refuse", payment=six.txid[:16], reason_hash=R)  # the receiver's word: never arrived
    pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=3, amount=3 * 900_000)  # the money comes
    c.do(w.owner, "payment.confirm", payment=pay.txid[:16])
    lease = c.get(layout.lease(lid))
    assert lease is not None and overdue_months(lease, "2026-03-20") == []


def _returned_deposit(w: World) -> str:
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-01-31")).txid[:16]
    pay = c.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    c.do(w.owner, "payment.confirm", payment=pay)
    c.day = "2026-02-01"
    return lid


def test_a_deposit_the_collector_never_returns_is_settled_by_the_tenants_dispute(world: World) -> None:
    """The deposit lifecycle only reaches ``disputed``/``decided`` from ``returned``. A collector who
    simply never sends deposit.return keeps it ``held`` for ever: the tenant's deposit dispute, even
    upheld with the whole deposit awarded, settles nothing (``_settle_deposit`` needs the lease
    ``disputed`` by that dispute), and the lease never shows the deposit returned."""
    w, c = world, world.chain
    lid = _returned_deposit(w)
    c.day = "2026-04-01"  # two months after the end, still nothing returned
    did = c.do(w.tenant, "dispute.open", lease=lid, subject="deposit", evidence=[H], claim=900_000).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=did, outcome="upheld", award=900_000, decision_hash=R)
    lease = c.get(layout.lease(lid))
    assert lease is not None
    assert lease["deposit_status"] == "decided", f"deposit is still {lease['deposit_status']}"
    assert lease["deposit_returned"] == 900_000


def test_the_collector_cannot_shut_the_tenant_out_of_contesting_its_own_deposit_settlement(world: World) -> None:
    """The collector returns the deposit keeping 90% (deductions up to the deposit are all it
    needs), then at once opens a deposit dispute itself (claim 0): the lease becomes ``disputed``
    by the collector's dispute. Its decision (here ``settled``, award 0) makes the deposit
    ``decided`` at the collector's own offer, and the tenant's deposit dispute, upheld for the
    whole deduction, no longer moves it: "a later deposit dispute on the same lease does not
    settle it"."""
    w, c = world, world.chain
    lid = _returned_deposit(w)
    c.do(w.owner, "deposit.return", lease=lid, deductions=[{"reason": "清洁", "amount": 810_000}])
    own = c.do(w.owner, "dispute.open", lease=lid, subject="deposit", evidence=[H], claim=0).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=own, outcome="settled", award=0, decision_hash=R)
    did = c.do(w.tenant, "dispute.open", lease=lid, subject="deposit", evidence=[H2], claim=810_000).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=did, outcome="upheld", award=810_000, decision_hash=R)
    lease = c.get(layout.lease(lid))
    assert lease is not None
    assert lease["deposit_returned"] == 900_000, (
        f"the tenant's upheld contest left {lease['deposit_returned']} returned"
    )


# -- 5. mandates, subleases ----------------------------------------------------------------------


def test_an_agency_signs_for_the_owner_only_within_its_mandate(world: World) -> None:
    """The mandate's from..to bounds when the agency may act, not what it commits the owner to: with
    a one-month mandate (January 2026, may_sign), the agent signs on the owner's behalf a lease of
    the unit for 2030..2049 (twenty years, starting years after the mandate ends; the notice a
    unilateral termination needs is the agency's choice too). The same mandate lets it publish a
    listing available from 2030."""
    w, c = world, world.chain
    mid = w.grant(w.agency_a, to="2026-01-31")
    later = listing_terms(available_from="2030-01-01")
    listing = outcome(lambda: c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **later))
    fields = lease_fields(w, mandate=mid, start="2030-01-01", end="2049-12-31", notice_days=365)
    lease = outcome(lambda: c.do(w.agent_a, "lease.sign", [w.tenant], **fields))
    assert (lease, listing) == ("MANDATE_NOT_LIVE", "MANDATE_NOT_LIVE"), "acts beyond the mandate's dates"


def test_an_exclusive_mandate_shuts_other_agencies_out_of_its_dates(world: World) -> None:
    """The exclusivity checks compare mandates' dates at grant, and at publish look only at
    exclusive mandates in force on the block date; a lease or a listing made through a mandate is
    checked against nothing but that mandate being in force today. Agency B holds an exclusive
    mandate for March..December; agency A a non-exclusive one for January..February (allowed: the
    dates do not meet). In January A's agent signs, for the owner, a lease for March..December, and
    publishes a listing available from March: the unit is let and advertised by another agency for
    exactly the months B was promised alone."""
    w, c = world, world.chain
    w.grant(w.agency_b, exclusive=True, **{"from": "2026-03-01", "to": "2026-12-31"})
    ma = w.grant(w.agency_a, to="2026-02-28")
    in_b_months = listing_terms(available_from="2026-03-01", min_term_months=10)
    listing = outcome(lambda: c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=ma, **in_b_months))
    fields = lease_fields(w, mandate=ma, start="2026-03-01", end="2026-12-31")
    lease = outcome(lambda: c.do(w.agent_a, "lease.sign", [w.tenant], **fields))
    assert (lease, listing) == ("EXCLUSIVE_MANDATE", "EXCLUSIVE_MANDATE"), "agency A lets B's exclusive months"


def test_an_agency_does_not_end_a_lease_for_a_suspended_owner(world: World) -> None:
    """Edition 3 stopped an agency from signing a lease for an owner the authority suspended
    (PARTY_SUSPENDED), but lease.terminate by the agency (its mandate may_sign and in force) still
    acts for the suspended owner: here a notice that ends the tenant's lease in March."""
    w, c = world, world.chain
    mid = w.grant(w.agency_a)
    fields = lease_fields(w, mandate=mid, start="2026-01-05", end="2026-12-31")
    lid = c.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    c.do(c.authority, "authority.suspend", party=w.owner.public_hex, reason_hash=R)
    refused(
        "PARTY_SUSPENDED",
        lambda: c.do(w.agent_a, "lease.terminate", lease=lid, mode="notice", on="2026-03-31", reason_hash=R),
    )


def test_a_sub_sublease_needs_its_sub_landlords_consent(world: World) -> None:
    """A sublease needs the signature of the unit's owner only. Under a sublease T -> X (owner
    consented), X lets the unit on to Z with the owner's signature and not T's, although T is X's
    landlord (Civil Code art. 716: a lessee sublets with *its lessor's* consent); T is not even
    named in the sublease.signed event. The 二房东 that the owner is protected from can act behind
    the back of the 二房东 above it."""
    w, c = world, world.chain
    t, x, z = w.tenant, w.tenant2, w.stranger
    head = c.do(w.owner, "lease.sign", [t], **lease_fields(w, start="2026-01-05", end="2026-12-31")).txid[:16]
    sub_fields = {"unit": w.unit, "landlord": t.public_hex, "tenant": x.public_hex, "parent": head}
    sub = c.do(t, "lease.sign", [x, w.owner], **sub_fields, **lease_terms(start="2026-02-01", end="2026-11-30"))
    fields = {"unit": w.unit, "landlord": x.public_hex, "tenant": z.public_hex, "parent": sub.txid[:16]}
    refused(
        "SUBLEASE_CONSENT_REQUIRED",
        lambda: c.do(x, "lease.sign", [z, w.owner], **fields, **lease_terms(start="2026-03-01", end="2026-10-31")),
    )
