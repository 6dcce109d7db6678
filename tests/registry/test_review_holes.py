"""Review of the registry's rules (edition 7): holes still open, each an xfail (strict) test.

Each test builds its sequence from ordinary, validly signed transactions on the newest edition (the
``world`` fixture) and asserts what docs/REGISTRY.md or the product brief (../shared/PRODUCT.md)
calls for; each fails on the rules of edition 7 (hence ``xfail(strict=True)``) and should pass once
a new rules edition closes the hole. The report that goes with this file ranks them.
"""

from __future__ import annotations

from typing import Any

import pytest

from anju.registry import layout, views
from anju.registry.dates import add_days

from .harness import H2, H, lease_terms, listing_terms
from .test_review_findings import factor_points, lease_fields, outcome
from .world import World

R = "ee" * 32  # a reason / decision hash


def _lease(w: World, key: str) -> dict[str, Any]:
    rec = w.chain.get(layout.lease(key))
    assert rec is not None
    return rec


# -- credit kept from a lease called off before it began -------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="hole: deposit_settled is credited on a registered lease called off before it began",
)
def test_a_lease_called_off_before_it_began_earns_its_collector_no_deposit_settled(world: World) -> None:
    """Edition 5 takes back the registration credit of a registered lease called off before it began
    (it "was no tenancy"), and a review of one is refused (LEASE_NOT_LIVE: "nothing to review"). Yet
    the collector's ``deposit_settled`` (+5, "earned only on a registered lease") still comes from it:
    sign a lease starting next month, have it registered, lodge and confirm the deposit, call the
    lease off (mutual, ``on`` = the day before its start), return the whole deposit and have the
    tenant accept: the landlord keeps +5 for every such round, without a day of tenancy."""
    w, c = world, world.chain
    for first in ("2026-02-01", "2026-04-01", "2026-06-01"):
        c.day = add_days(first, -20)
        fields = lease_fields(w, start=first, end=add_days(first, 364))
        lid = c.do(w.owner, "lease.sign", [w.tenant], **fields).txid[:16]
        c.do(c.authority, "lease.register", lease=lid)
        pay = c.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
        c.do(w.owner, "payment.confirm", payment=pay)
        day_before = add_days(first, -1)
        c.do(w.owner, "lease.terminate", [w.tenant], lease=lid, mode="mutual", on=day_before, reason_hash=R)
        c.day = day_before  # (the deposit is returned from the lease's last day on)
        c.do(w.owner, "deposit.return", lease=lid, deductions=[])
        c.do(w.tenant, "deposit.accept", lease=lid)
    assert factor_points(w, w.owner, "leases_registered") == 0  # (edition 5 took these back)
    assert factor_points(w, w.owner, "deposit_settled") == 0, "three leases that never ran earned deposit_settled"


@pytest.mark.xfail(
    strict=True,
    reason="hole: rent_on_time confirmed before a registered lease is called off stays with the tenant",
)
def test_a_lease_called_off_before_it_began_leaves_no_rent_on_time(world: World) -> None:
    """ "A rent payment earns rent_on_time only on a registered lease and for a month from the lease's
    start to its last day ...: a lease called off before it began has none" (edition 5). The month is
    judged when the payment is confirmed, so confirming before calling the lease off keeps the +2:
    sign a lease starting next month, register it (+5), pay and confirm its first month (+2), call it
    off (-5): the tenant nets +2 a round, with no tenancy and the same dates reused."""
    w, c = world, world.chain
    c.day = "2026-02-20"
    for _ in range(3):
        lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
        c.do(c.authority, "lease.register", lease=lid)
        pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-03", months=1, amount=900_000).txid[:16]
        c.do(w.owner, "payment.confirm", payment=pay)
        c.do(w.owner, "lease.terminate", [w.tenant], lease=lid, mode="mutual", on="2026-02-28", reason_hash=R)
    assert factor_points(w, w.tenant, "leases_registered") == 0  # (edition 5 took these back)
    assert factor_points(w, w.tenant, "rent_on_time") == 0, "three leases that never ran earned rent_on_time"


@pytest.mark.xfail(
    strict=True,
    reason="hole: a registered sublease voided by its parent's termination keeps its registration credit",
)
def test_a_registered_sublease_voided_with_its_parent_gives_its_registration_credit_back(world: World) -> None:
    """Edition 5: "a registered lease called off before it began gives its leases_registered points
    back" (-5 for each side). That is done only for the lease a ``lease.terminate`` names: a sublease
    voided because its parent lease ended first (``_end`` cuts it to the day before its start) keeps
    its +5, and its registration number (the subtenant's proof of residence) stays on a lease that
    never ran. The owner signs an upcoming lease to T, T sublets it all to X (owner's consent), the
    authority registers the sublease (+5 to T and X), then owner and T call the head lease off (X
    co-signs, as edition 7 asks): head lease and sublease are void, T and X keep +5 each. Round after
    round, with no tenancy, and the head lease was never registered (nothing to take back there)."""
    w, c = world, world.chain
    t, x = w.tenant, w.tenant2
    c.day = "2026-01-20"
    for _ in range(3):
        head = c.do(w.owner, "lease.sign", [t], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
        sub_fields = {"unit": w.unit, "landlord": t.public_hex, "tenant": x.public_hex, "parent": head}
        sub = c.do(t, "lease.sign", [x, w.owner], **sub_fields, **lease_terms(start="2026-03-01", end="2027-02-28"))
        sid = sub.txid[:16]
        c.do(c.authority, "lease.register", lease=sid)
        c.do(w.owner, "lease.terminate", [t, x], lease=head, mode="mutual", on="2026-02-28", reason_hash=R)
        voided = _lease(w, sid)
        assert voided["start"] > voided["ends_on"]  # the sublease was called off before it began
    assert factor_points(w, x, "leases_registered") == 0, "the subtenant kept +5 for three subleases that never ran"
    assert factor_points(w, t, "leases_registered") == 0, "the sub-landlord kept +5 for three subleases that never ran"


# -- listings --------------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="hole: a listing published after a lease was signed stays live (and verifies) into that tenancy",
)
def test_a_listing_does_not_verify_as_live_while_the_unit_is_let(world: World) -> None:
    """ "A listing's code is revoked at once ... when the unit is leased": ``lease.sign`` revokes the
    listings the unit has *then*. A listing published after a lease was signed for a later period
    passes UNIT_NOT_FREE (its advertised term, from today for ``min_term_months``, ends before the
    lease starts) and is never revoked: its code stays ``live`` for its 60 days, well into the
    tenancy. The owner lets the unit from 2026-02-02 for a year, then on 2026-01-02 publishes a
    one-month listing available at once: on 2026-02-20, with the tenant living there, the code still
    verifies as live (the API, the portal and third-party sites show it) and the unit is searchable,
    although no lease through it can be signed (LEASE_OVERLAP) and publishing the same listing that
    day is refused (UNIT_NOT_FREE)."""
    w, c = world, world.chain
    c.day = "2026-01-02"
    c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-02-02", end="2027-02-01"))
    terms = listing_terms(available_from="2026-01-02", min_term_months=1)
    lid = c.do(w.owner, "listing.publish", unit=w.unit, **terms).txid[:16]
    c.day = "2026-02-20"
    assert outcome(lambda: c.do(w.owner, "listing.publish", unit=w.unit, **terms)) in (
        "UNIT_NOT_FREE",
        "LISTING_EXISTS",
    )
    view = views.listing_view(c.state, lid, "2026-02-20")
    assert view is not None
    assert view["status"] != "live", "the code of a unit let and lived in verifies as live"


@pytest.mark.xfail(
    strict=True,
    reason="hole: listing.renew skips edition 5's check against another agency's upcoming exclusive mandate",
)
def test_renewing_a_listing_cannot_offer_another_agencys_exclusive_dates(world: World) -> None:
    """Edition 5: "a lease or listing through another agency's mandate may not offer a day of an
    exclusive mandate in force or upcoming" (``listing.publish``: EXCLUSIVE_MANDATE, the term from the
    later of ``available_from`` and the block date). ``listing.renew`` only asks for an exclusive
    mandate in force *today* (edition 4's check). Agency A holds a non-exclusive mandate for
    January..June and lists the unit (three months' minimum term, available at once); the owner then
    grants agency B an exclusive mandate for July..December (allowed: the mandates' dates do not
    meet). In May, publishing A's listing again is refused (its term runs into July), but renewing
    it is accepted: a fresh 60-day code advertising B's exclusive months through A."""
    w, c = world, world.chain
    ma = w.grant(w.agency_a, to="2026-06-30")
    terms = listing_terms(available_from="2026-01-05", min_term_months=3)
    lid = c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=ma, **terms).txid[:16]
    w.grant(w.agency_b, exclusive=True, **{"from": "2026-07-01", "to": "2026-12-31"})
    c.day = "2026-03-01"
    c.do(w.agent_a, "listing.renew", listing=lid)  # (its term to 2026-05-31: no exclusive day yet)
    c.day = "2026-05-01"
    published = outcome(lambda: c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=ma, **terms))
    assert published == "EXCLUSIVE_MANDATE"  # publishing it anew in May (checked before LISTING_EXISTS)
    renewed = outcome(lambda: c.do(w.agent_a, "listing.renew", listing=lid))
    assert renewed == "EXCLUSIVE_MANDATE", "a renewed code advertises B's exclusive months through A"


# -- deposits --------------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="hole: a deposit the collector never confirms stays 'lodged'; the tenant's upheld dispute settles nothing",
)
def test_a_deposit_the_collector_never_confirms_is_settled_by_the_tenants_dispute(world: World) -> None:
    """The deposit's lifecycle reaches ``disputed``/``decided`` only from ``returned`` or, from edition
    5, from ``held`` once the lease has ended. A collector who takes the tenant's deposit and simply
    never answers the ``deposit.lodge`` (neither ``payment.confirm`` nor, edition 6, ``payment.refuse``)
    keeps it ``lodged`` for ever: it need never return it (``deposit.return`` wants it ``held``), and
    the tenant's deposit dispute after the end, upheld with the whole deposit awarded, leaves it
    ``lodged`` with nothing returned: the authority's decision on the deposit settles nothing, the
    very gap edition 5 closed for a ``held`` deposit ("a deposit the collector never returns")."""
    w, c = world, world.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-01-31")).txid[:16]
    c.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000)  # the landlord never confirms nor refuses it
    c.day = "2026-04-01"  # two months after the end
    did = c.do(w.tenant, "dispute.open", lease=lid, subject="deposit", evidence=[H], claim=900_000).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=did, outcome="upheld", award=900_000, decision_hash=R)
    lease = _lease(w, lid)
    assert lease["deposit_status"] == "decided", f"deposit is still {lease['deposit_status']}"
    assert lease["deposit_returned"] == 900_000


@pytest.mark.xfail(
    strict=True,
    reason="hole: an agency collecting a year ahead over a renewal chain escrows three months' rent less",
)
def test_rent_collected_ahead_over_a_renewal_needs_the_same_escrow_as_over_one_lease(world: World) -> None:
    """Rental-business rule: "a rent payment that leaves more than three months paid ahead of the
    block's month needs attested rent of at least the rent of every month then paid after the block's
    month ..., earlier prepayments included". The months counted start at the *lease's* first month,
    so rent collected ahead on the lease a renewal continues is never counted. In January an agency
    collecting rent for the owner lets the unit January..December: collecting the whole year at once
    needs 11 months' rent in escrow (February..December). Signed instead as January..April plus its
    renewal May..December (same tenant, agency and rent, the same day), it collects January..April
    (three months ahead: no escrow) and then May..December with 8 months' escrow: the agency holds
    the same 11 months' rent ahead, 3 of them outside any supervised account."""
    w, c = world, world.chain
    mid = w.grant(w.agency_a)
    first = lease_fields(w, mandate=mid, collector="agency", start="2026-01-05", end="2026-04-30")
    l1 = c.do(w.agent_a, "lease.sign", [w.tenant], **first).txid[:16]
    terms = {k: v for k, v in lease_terms(collector="agency").items() if k != "start"}
    l2 = c.do(w.agent_a, "lease.renew", [w.tenant], previous=l1, **{**terms, "end": "2026-12-31"}).txid[:16]
    c.do(w.tenant, "rent.pay", lease=l1, period="2026-01", months=4, amount=4 * 900_000)
    c.do(w.bank, "bank.attest_escrow", lease=l2, purpose="rent", amount=8 * 900_000, account_commitment=H2)
    # Over one lease the same money needs 11 months' rent attested: here 8 are.
    got = outcome(lambda: c.do(w.tenant, "rent.pay", lease=l2, period="2026-05", months=8, amount=8 * 900_000))
    assert got == "BANK_ATTESTATION_REQUIRED", "11 months' rent collected ahead with 8 in escrow"
