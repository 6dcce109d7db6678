"""Judging records at a date: the ledger has no clock-driven jobs, so expiry is judged lazily.

Rules use these at the block date (and then write the status they find into state); views use
them at any date the caller asks about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from anju.registry.dates import add_days, add_months, add_years, days_between, due_date, month_of

LISTING_DAYS = 60  # Shanghai's official listing code lasts 60 days
MAX_LEASE_YEARS = 20  # Civil Code art. 705: a lease runs at most twenty years
BACKDATE_DAYS = 30  # edition 3: a lease may be put on the ledger up to 30 days after it started


def lease_terms_refusal(start: str, end: str, date: str, edition: int) -> str | None:
    """Why a lease running from ``start`` to ``end`` cannot be signed at ``date`` under rules
    ``edition``: ``reversed`` (its last day before its first), ``too_long`` (twenty years or more:
    the last day may be the day before twenty years on, no bound left past year 9999; edition 1
    counted 20 x 366 days), ``too_early`` (from edition 3, a start more than :data:`BACKDATE_DAYS`
    before ``date``), or None. The registry's rule (``rules.lease``) and the portal's checks of an
    offer before it is kept."""
    if start > end:
        return "reversed"
    if edition >= 2:
        limit = add_years(start, MAX_LEASE_YEARS) if int(start[:4]) + MAX_LEASE_YEARS <= 9999 else None
        if limit is not None and end >= limit:
            return "too_long"
    elif days_between(start, end) > MAX_LEASE_YEARS * 366:
        return "too_long"
    if edition >= 3 and start < add_days(date, -BACKDATE_DAYS):
        return "too_early"
    return None


def end_days(lease: Mapping[str, Any], date: str, edition: int) -> tuple[str, str]:
    """The days (first, last) a termination of ``lease`` at ``date`` may name as its last day: from
    the date and the lease's start (from edition 3, the day before it: calling a lease off before it
    begins) to its last day."""
    first = lease["start"]
    if edition >= 3 and first > "0001-01-01":
        first = add_days(first, -1)
    return max(date, first), str(lease["ends_on"])


def mandate_live(mandate: Mapping[str, Any], date: str) -> bool:
    return bool(mandate["status"] == "active" and mandate["from"] <= date <= mandate["to"])


def mandate_status(mandate: Mapping[str, Any], date: str) -> str:
    """active / upcoming / expired / revoked, at ``date``."""
    if mandate["status"] != "active":
        return str(mandate["status"])
    if date < mandate["from"]:
        return "upcoming"
    return "active" if date <= mandate["to"] else "expired"


def listing_status(listing: Mapping[str, Any], mandate: Mapping[str, Any] | None, date: str) -> tuple[str, str | None]:
    """(live | expired | withdrawn | revoked, reason) of a listing at ``date``. From rules edition 8 a
    listing stops being live (``revoked``, reason ``leased``) on its ``let_from`` day, the first day
    of the unit's next lease signed before it was published or last renewed (:func:`next_let`), unless
    its code expired before then."""
    if listing["status"] != "live":
        return str(listing["status"]), listing.get("status_reason")
    if mandate is not None and not mandate_live(mandate, date):
        return "revoked", "mandate_revoked" if mandate["status"] == "revoked" else "mandate_ended"
    let_from = listing.get("let_from")  # (rules edition 8: the unit's next lease begins)
    if let_from is not None and let_from <= date and let_from < listing["expires_on"]:
        return "revoked", "leased"
    if date >= listing["expires_on"]:
        return "expired", "code_expired"
    return "live", None


def next_let(leases: Iterable[Mapping[str, Any]], first: str) -> str | None:
    """Rules edition 8: the first day of the unit's next head lease beginning on or after ``first``
    (a listing's advertised term starts then), among ``leases`` (the unit's; void ones, called off
    before they began, do not count), or None. ``listing.publish`` and ``listing.renew`` store it as
    the listing's ``let_from``: the listing stops being live that day (:func:`listing_status`), as
    ``lease.sign`` revokes the listings the unit has when it is let."""
    starts = [
        str(lease["start"])
        for lease in leases
        if lease["parent"] is None and lease["start"] <= lease["ends_on"] and lease["start"] >= first
    ]
    return min(starts, default=None)


def shown_listing_status(
    listing: Mapping[str, Any],
    mandate: Mapping[str, Any] | None,
    parties: Iterable[Mapping[str, Any] | None],
    date: str,
) -> tuple[str, str | None]:
    """The status a view shows: :func:`listing_status`, except that a listing that would be live
    shows ``suspended`` (reason ``party_suspended``) while the housing authority has suspended its
    publisher or its unit's owner (``parties``): nobody can let the unit through it until the
    authority reinstates them; likewise (reason ``licence_revoked``) while its publisher is an
    agency whose licence the authority revoked (rules edition 6). A view rule only: the stored
    record is unchanged, and the listing is live again on reinstatement or a new licence."""
    status, reason = listing_status(listing, mandate, date)
    if status == "live" and any(p is not None and p.get("status") == "suspended" for p in parties):
        return "suspended", "party_suspended"
    if status == "live" and any(p is not None and p.get("role") == "agency" and not p.get("licensed") for p in parties):
        return "suspended", "licence_revoked"  # (rules edition 6: authority.revoke_licence)
    return status, reason


def lease_phase(lease: Mapping[str, Any], date: str) -> str:
    """upcoming / current / ended, at ``date``, by the lease's effective last day."""
    if date < lease["start"]:
        return "upcoming" if lease["start"] <= lease["ends_on"] else "ended"
    return "current" if date <= lease["ends_on"] else "ended"


def next_month(lease: Mapping[str, Any], through: str | None) -> str:
    """The month after ``through`` (a lease's ``paid_through`` or ``confirmed_through``), or the
    lease's first month when nothing is paid yet."""
    return add_months(through, 1) if through else month_of(lease["start"])


def cleared_through(lease: Mapping[str, Any]) -> str | None:
    """The last month whose rent counts as paid: on a lease of edition 6 on, the receiver's
    confirmations (``confirmed_through``); before, the tenant's own records (``paid_through``)."""
    if "confirmed_through" in lease:
        return lease["confirmed_through"]  # type: ignore[no-any-return]
    return lease.get("paid_through")


def overdue_months(lease: Mapping[str, Any], date: str) -> list[str]:
    """The months (``YYYY-MM``) whose rent fell due by ``date`` and is not cleared (confirmed by the
    receiver, on a lease of edition 6 on; recorded, before): from the month after
    :func:`cleared_through` (the start month when nothing is) while the month's due day (the first
    month: not before the lease's first day) is on or before ``date`` and the month is within the
    lease. A month the tenant recorded but the receiver has not confirmed yet is among them (and in
    :func:`unconfirmed_months`)."""
    if lease["start"] > lease["ends_on"]:  # called off before it began: nothing falls due
        return []
    month = next_month(lease, cleared_through(lease))
    last = min(month_of(lease["ends_on"]), month_of(date))
    out = []
    while month <= last and max(due_date(month, lease["payment_day"]), lease["start"]) <= date:
        out.append(month)
        month = add_months(month, 1)
    return out


def unconfirmed_months(lease: Mapping[str, Any]) -> list[str]:
    """The months the tenant recorded as paid that the receiver has not confirmed (edition 6 on;
    before, recording a month cleared it and this is empty)."""
    if "confirmed_through" not in lease or not lease.get("paid_through"):
        return []
    month = next_month(lease, lease["confirmed_through"])
    out = []
    while month <= lease["paid_through"]:
        out.append(month)
        month = add_months(month, 1)
    return out


def lease_ended(lease: Mapping[str, Any], date: str) -> bool:
    return bool(date > lease["ends_on"])


def cut_to(sub: Mapping[str, Any], on: str) -> str:
    """The last day left to sublease ``sub`` when the lease it lies in ends on ``on`` (the day
    before its start, void, when it had not begun by then)."""
    return max(min(str(sub["ends_on"]), on), add_days(sub["start"], -1))


def subleases_cut_short(
    lease_of: Callable[[str], Mapping[str, Any] | None], lease: Mapping[str, Any], on: str, date: str
) -> Iterator[tuple[Mapping[str, Any], str, int]]:
    """Rules edition 7: each live sublease in ``lease`` (at any depth) that ending ``lease`` on
    ``on`` would cut sooner than the sublease's own ``notice_days`` counted from ``date``, as
    (sublease, the last day left to it, depth: 1 for ``lease``'s own), depth first. A sublease over
    by then, already ended, or void (called off before it began) is not in the way. The registry
    refuses such an end unless each one's subtenant signs it; the portal asks them."""
    for sid in lease["subleases"]:
        sub = lease_of(sid)
        if sub is None or sub["ends_on"] <= on or lease_ended(sub, date) or sub["start"] > sub["ends_on"]:
            continue
        to = cut_to(sub, on)
        if days_between(date, on) < sub["notice_days"]:
            yield sub, to, 1
        for deeper, last, depth in subleases_cut_short(lease_of, sub, to, date):
            yield deeper, last, depth + 1
