"""Review of the registry's rules (edition 7): seven holes, each closed by rules edition 8.

Each test builds its sequence from ordinary, validly signed transactions on the newest edition (the
``world`` fixture) and asserts what docs/REGISTRY.md or the product brief (../shared/PRODUCT.md)
calls for; each failed on the rules of edition 7 (they were ``xfail(strict=True)``) and passes on
edition 8 (test_editions' CASES_8 runs each change on every edition). The tests after each hole's
check the edges of the rule that closed it.
"""

from __future__ import annotations

from typing import Any

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


def _lease_and_renewal_paid_ahead(w: World) -> tuple[str, str]:
    """An agency's lease January..April and its renewal May..December (same tenant and rent, signed
    the same day), January..April paid at once (three months ahead: no escrow); their ids."""
    c = w.chain
    mid = w.grant(w.agency_a)
    first = lease_fields(w, mandate=mid, collector="agency", start="2026-01-05", end="2026-04-30")
    l1 = c.do(w.agent_a, "lease.sign", [w.tenant], **first).txid[:16]
    terms = {k: v for k, v in lease_terms(collector="agency").items() if k != "start"}
    l2 = c.do(w.agent_a, "lease.renew", [w.tenant], previous=l1, **{**terms, "end": "2026-12-31"}).txid[:16]
    c.do(w.tenant, "rent.pay", lease=l1, period="2026-01", months=4, amount=4 * 900_000)
    return l1, l2


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
    _, l2 = _lease_and_renewal_paid_ahead(w)
    c.do(w.bank, "bank.attest_escrow", lease=l2, purpose="rent", amount=8 * 900_000, account_commitment=H2)
    # Over one lease the same money needs 11 months' rent attested: here 8 are.
    got = outcome(lambda: c.do(w.tenant, "rent.pay", lease=l2, period="2026-05", months=8, amount=8 * 900_000))
    assert got == "BANK_ATTESTATION_REQUIRED", "11 months' rent collected ahead with 8 in escrow"


# -- the edges of edition 8's rules ------------------------------------------------------------------


def test_a_sublease_voided_twice_gives_its_credit_back_once(world: World) -> None:
    """A registered sublease called off by its own sides gives its +5 back (edition 5); its parent's
    being called off later cuts it again (it is still in the parent) but takes nothing more."""
    w, c = world, world.chain
    t, x = w.tenant, w.tenant2
    c.day = "2026-01-20"
    head = c.do(w.owner, "lease.sign", [t], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
    sub_fields = {"unit": w.unit, "landlord": t.public_hex, "tenant": x.public_hex, "parent": head}
    sid = c.do(t, "lease.sign", [x, w.owner], **sub_fields, **lease_terms(start="2026-04-01", end="2027-02-28"))
    sub = sid.txid[:16]
    c.do(c.authority, "lease.register", lease=sub)
    c.do(t, "lease.terminate", [x], lease=sub, mode="mutual", on="2026-03-31", reason_hash=R)
    assert (factor_points(w, t, "leases_registered"), factor_points(w, x, "leases_registered")) == (0, 0)
    c.do(w.owner, "lease.terminate", [t], lease=head, mode="mutual", on="2026-02-28", reason_hash=R)
    assert (factor_points(w, t, "leases_registered"), factor_points(w, x, "leases_registered")) == (0, 0)


def test_rent_paid_on_time_before_a_lease_that_runs_keeps_its_credit(world: World) -> None:
    """Paying the first month before the lease begins still earns rent_on_time (+2) when the lease
    runs; only calling it off before it began takes it back, and a sublease's with it."""
    w, c = world, world.chain
    c.day = "2026-02-20"
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
    c.do(c.authority, "lease.register", lease=lid)
    pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-03", months=1, amount=900_000).txid[:16]
    c.do(w.owner, "payment.confirm", payment=pay)
    assert _lease(w, lid)["rent_on_time_early"] == 1
    c.day = "2026-03-02"  # the lease has begun: it can no longer be called off before it began
    off = {"lease": lid, "mode": "mutual", "on": "2026-02-28", "reason_hash": R}
    assert outcome(lambda: c.do(w.owner, "lease.terminate", [w.tenant], **off)) == "INVALID_FIELD"
    assert factor_points(w, w.tenant, "rent_on_time") == 2
    # a sublease's rent_on_time goes back when its parent's end voids it
    t, x = w.tenant, w.tenant2
    sub_fields = {"unit": w.unit, "landlord": t.public_hex, "tenant": x.public_hex, "parent": lid}
    sid = c.do(t, "lease.sign", [x, w.owner], **sub_fields, **lease_terms(start="2026-05-01", end="2027-02-28"))
    sub = sid.txid[:16]
    c.do(c.authority, "lease.register", lease=sub)
    c.day = "2026-04-20"  # (a month paid further ahead than the next earns nothing: edition 3)
    spay = c.do(x, "rent.pay", lease=sub, period="2026-05", months=1, amount=900_000).txid[:16]
    c.do(t, "payment.confirm", payment=spay)
    assert factor_points(w, x, "rent_on_time") == 2
    c.do(w.owner, "lease.terminate", [t, x], lease=lid, mode="mutual", on="2026-04-25", reason_hash=R)
    assert factor_points(w, x, "rent_on_time") == 0
    assert factor_points(w, x, "leases_registered") == 0
    assert factor_points(w, t, "rent_on_time") == 2  # its own lease ran


def test_a_listing_is_live_again_when_the_lease_it_waited_for_is_called_off(world: World) -> None:
    """``let_from`` is the next lease's first day; calling that lease off before it began moves it
    to the next one's (here: none), and renewing the listing computes it again."""
    w, c = world, world.chain
    c.day = "2026-01-02"
    first = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-02-02", end="2026-06-30"))
    lease2 = lease_fields(w, start="2026-08-01", end="2026-12-31", document_hash=H2, tenant=w.tenant2.public_hex)
    c.do(w.owner, "lease.sign", [w.tenant2], **lease2)
    lid = c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms(available_from="2026-01-02", min_term_months=1))
    listing_id = lid.txid[:16]
    assert w.chain.get(layout.listing(listing_id))["let_from"] == "2026-02-02"  # type: ignore[index]
    c.do(w.owner, "lease.terminate", [w.tenant], lease=first.txid[:16], mode="mutual", on="2026-02-01", reason_hash=R)
    assert w.chain.get(layout.listing(listing_id))["let_from"] == "2026-08-01"  # type: ignore[index]
    view = views.listing_view(c.state, listing_id, "2026-02-20")
    assert view is not None and view["status"] == "live"
    c.day = "2026-02-20"
    c.do(w.owner, "listing.renew", listing=listing_id)
    assert w.chain.get(layout.listing(listing_id))["let_from"] == "2026-08-01"  # type: ignore[index]
    view = views.listing_view(c.state, listing_id, "2026-04-19")  # its code still valid, the unit let
    assert view is not None and view["status"] == "live"
    later = views.listing_view(c.state, listing_id, "2026-08-01")
    assert later is not None and (later["status"], later["reason"]) == ("expired", "code_expired")


def test_rent_collected_ahead_over_a_renewal_in_two_payments_counts_each_month_once(world: World) -> None:
    """The months paid ahead on the continued lease count once, on the renewal's first escrowed
    payment: 11 months attested cover January's collection of February to December in three
    payments, as over one lease."""
    w, c = world, world.chain
    _, l2 = _lease_and_renewal_paid_ahead(w)
    c.do(w.bank, "bank.attest_escrow", lease=l2, purpose="rent", amount=11 * 900_000, account_commitment=H2)
    c.do(w.tenant, "rent.pay", lease=l2, period="2026-05", months=4, amount=4 * 900_000)
    assert _lease(w, l2)["rent_escrowed"] == 7 * 900_000  # February to April on the first lease, May to August
    c.do(w.tenant, "rent.pay", lease=l2, period="2026-09", months=4, amount=4 * 900_000)
    assert _lease(w, l2)["rent_escrowed"] == 11 * 900_000
