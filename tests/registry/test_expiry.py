"""Lapses judged lazily by date in views, and written into state by the next transaction on the unit."""

from __future__ import annotations

import pytest

from anju.errors import TxRejected
from anju.registry import layout, status, views

from .harness import listing_terms
from .world import World


def test_code_expires_after_60_days_and_renewal_revives_it(world: World) -> None:
    c = world.chain
    lid = c.do(world.owner, "listing.publish", unit=world.unit, **listing_terms()).txid[:16]
    code = c.get(layout.listing(lid))["code"]  # type: ignore[index]
    assert views.listing_by_code(c.state, code, "2026-03-05")["status"] == "live"  # type: ignore[index]
    view = views.listing_by_code(c.state, code, "2026-03-06")
    assert view is not None and (view["status"], view["reason"]) == ("expired", "code_expired")
    c.day = "2026-03-10"
    c.do(world.owner, "listing.renew", listing=lid)
    rec = c.get(layout.listing(lid))
    assert rec is not None and rec["expires_on"] == "2026-05-09" and rec["renewals"] == 1
    assert views.listing_by_code(c.state, code, "2026-03-10")["status"] == "live"  # type: ignore[index]


def test_mandate_end_revokes_listing_in_views_then_in_state(world: World) -> None:
    c = world.chain
    mid = world.grant(world.agency_a, to="2026-01-20")
    terms = listing_terms(available_from="2026-01-10")  # (from edition 5: available within the mandate)
    lid = c.do(world.agent_a, "listing.publish", unit=world.unit, mandate=mid, **terms).txid[:16]
    code = c.get(layout.listing(lid))["code"]  # type: ignore[index]
    view = views.listing_by_code(c.state, code, "2026-01-21")
    assert view is not None and (view["status"], view["reason"]) == ("revoked", "mandate_ended")
    assert c.get(layout.listing(lid))["status"] == "live"  # type: ignore[index]  # nothing has touched it yet
    c.day = "2026-01-22"
    c.do(world.owner, "listing.publish", unit=world.unit, **listing_terms())  # touches the unit
    rec = c.get(layout.listing(lid))
    assert rec is not None and (rec["status"], rec["status_reason"]) == ("revoked", "mandate_ended")
    assert c.get(layout.mandate(mid))["status"] == "expired"  # type: ignore[index]
    unit = views.unit_view(c.state, world.unit, "2026-01-22")
    assert unit is not None and "room" not in unit["unit"] and "address_commitment" not in unit["unit"]


def test_renewing_an_expired_listing_needs_its_mandate_still_live(world: World) -> None:
    """Stored "expired" must not hide a basis revoked since: renewal checks the mandate itself."""
    c = world.chain
    mid = world.grant(world.agency_a)
    lid = c.do(world.agent_a, "listing.publish", unit=world.unit, mandate=mid, **listing_terms()).txid[:16]
    c.day = "2026-03-10"  # its code expired on 2026-03-06
    c.do(world.owner, "listing.publish", unit=world.unit, **listing_terms())  # touches the unit: stored expired
    assert c.get(layout.listing(lid))["status"] == "expired"  # type: ignore[index]
    c.do(world.owner, "mandate.revoke", mandate=mid)
    before = c.root()
    with pytest.raises(TxRejected) as err:
        c.do(world.agency_a, "listing.renew", listing=lid)
    assert err.value.code == "MANDATE_NOT_LIVE" and c.root() == before


def test_renewal_keeps_one_live_listing_per_unit_and_publisher(world: World) -> None:
    c = world.chain
    old = c.do(world.owner, "listing.publish", unit=world.unit, **listing_terms()).txid[:16]
    c.day = "2026-03-10"
    new = c.do(world.owner, "listing.publish", unit=world.unit, **listing_terms()).txid[:16]  # old is expired
    before = c.root()
    with pytest.raises(TxRejected) as err:
        c.do(world.owner, "listing.renew", listing=old)
    assert err.value.code == "LISTING_EXISTS" and err.value.details["listing"] == new and c.root() == before
    c.do(world.owner, "listing.withdraw", listing=new)
    c.do(world.owner, "listing.renew", listing=old)  # its place is free again
    assert c.get(layout.unit(world.unit))["listings"] == [old]  # type: ignore[index]


def test_overdue_months_are_the_due_months_not_paid() -> None:
    from anju.registry.status import overdue_months

    lease = {"start": "2026-01-15", "ends_on": "2026-06-30", "payment_day": 5, "paid_through": None}
    assert overdue_months(lease, "2026-01-14") == []  # January's rent falls due when the lease starts
    assert overdue_months(lease, "2026-01-15") == ["2026-01"]
    assert overdue_months(lease, "2026-03-04") == ["2026-01", "2026-02"]
    assert overdue_months({**lease, "paid_through": "2026-02"}, "2026-03-05") == ["2026-03"]
    assert overdue_months({**lease, "paid_through": "2026-06"}, "2027-01-01") == []  # all paid
    assert overdue_months(lease, "2027-01-01") == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    ended_early = {**lease, "ends_on": "2026-02-10", "paid_through": "2026-01"}
    assert overdue_months(ended_early, "2026-12-01") == ["2026-02"]  # nothing after its last day


def test_a_term_ends_the_day_before_the_same_day_or_at_a_short_months_end() -> None:
    from anju.registry.dates import term_end

    assert term_end("2026-01-01", 12) == "2026-12-31"
    assert term_end("2026-03-15", 1) == "2026-04-14"
    assert term_end("2026-01-31", 1) == "2026-02-28" and term_end("2024-01-31", 1) == "2024-02-29"
    assert term_end("2026-05-31", 1) == "2026-06-30"
    assert term_end("9999-01-01", 11) == "9999-11-30" and term_end("9999-12-01", 12) == "9999-12-31"  # no crash


def test_date_ranges_overlap_on_a_shared_day_and_an_empty_range_on_none() -> None:
    from anju.registry.dates import overlaps

    assert overlaps("2026-01-01", "2026-01-31", "2026-01-31", "2026-02-28")  # inclusive: the 31st is shared
    assert not overlaps("2026-01-01", "2026-01-30", "2026-01-31", "2026-02-28")
    assert not overlaps("2026-01-01", "2026-12-31", "2026-03-01", "2026-02-28")  # a lease voided before it began
    assert not overlaps("2026-03-01", "2026-02-28", "2026-01-01", "2026-12-31")


def test_a_suspended_publisher_or_owner_shows_the_listing_suspended_until_reinstated(world: World) -> None:
    c = world.chain
    mid = world.grant(world.agency_a)
    lid = c.do(world.agent_a, "listing.publish", unit=world.unit, mandate=mid, **listing_terms()).txid[:16]
    code = c.get(layout.listing(lid))["code"]  # type: ignore[index]
    for who in (world.agency_a, world.owner):
        c.do(c.authority, "authority.suspend", party=who.public_hex, reason_hash="ab" * 32)
        view = views.listing_by_code(c.state, code, c.day)
        assert view is not None and (view["status"], view["reason"]) == ("suspended", "party_suspended")
        assert c.get(layout.listing(lid))["status"] == "live"  # type: ignore[index]  # a view rule: nothing stored
        c.do(c.authority, "authority.reinstate", party=who.public_hex, reason_hash="cd" * 32)
        assert views.listing_by_code(c.state, code, c.day)["status"] == "live"  # type: ignore[index]
    c.do(c.authority, "authority.suspend", party=world.agency_a.public_hex, reason_hash="ab" * 32)
    c.day = "2026-03-20"  # past its code's 60 days: expiry wins, as for any status but live
    assert views.listing_by_code(c.state, code, c.day)["status"] == "expired"  # type: ignore[index]


@pytest.mark.parametrize(
    ("start", "end", "edition", "why"),
    [
        ("2026-03-01", "2026-02-28", 7, "reversed"),
        ("2026-03-01", "2026-03-01", 7, None),  # one day
        ("2026-03-01", "2046-02-28", 7, None),  # the day before twenty years on
        ("2026-03-01", "2046-03-01", 7, "too_long"),
        ("2028-02-29", "2048-02-28", 7, None),  # twenty years from a leap day: to 2048-02-29 exclusive
        ("2028-02-29", "2048-02-29", 7, "too_long"),
        ("2026-03-01", "2046-03-16", 1, None),  # edition 1 counted 20 x 366 days: 7,320
        ("2026-03-01", "2046-03-17", 1, "too_long"),  # 7,321 days
        ("9990-01-01", "9999-12-31", 7, None),  # no bound left past year 9999
        ("2026-01-21", "2027-01-20", 7, None),  # 30 days before the signing date
        ("2026-01-20", "2027-01-19", 7, "too_early"),
        ("2026-01-20", "2027-01-19", 2, None),  # before edition 3: any start
    ],
)
def test_lease_terms_refusal_reads_the_dates_as_the_rules_do(
    start: str, end: str, edition: int, why: str | None
) -> None:
    """The one reading of a lease's dates (the registry's rule, the portal's check of an offer),
    signed on 2026-02-20."""
    assert status.lease_terms_refusal(start, end, "2026-02-20", edition) == why


def test_end_days_run_from_the_date_or_the_day_before_the_start_to_the_last_day() -> None:
    lease = {"start": "2026-12-10", "ends_on": "2027-12-09"}
    assert status.end_days(lease, "2026-11-27", 7) == ("2026-12-09", "2027-12-09")  # a call-off, from edition 3
    assert status.end_days(lease, "2026-11-27", 2) == ("2026-12-10", "2027-12-09")
    assert status.end_days(lease, "2027-01-05", 7) == ("2027-01-05", "2027-12-09")
