"""Rule editions: a chain keeps the rules it was made with (genesis ``rules``; absent: edition 1).

Each change an edition made runs here as a case on every edition: on the editions before it the
old behaviour must hold, from it on the new one (whose rules also have their own tests in
test_rules, test_expiry and test_journeys). A rule change that forgot to ask ``call.edition()``
fails here. The cases on the older editions must also end in the very state roots the builds
before the change reached (:data:`BEFORE_EDITIONS` for edition 2's changes on edition 1,
:data:`BEFORE_EDITION_3` for edition 3's on editions 1 and 2, :data:`BEFORE_EDITION_4`,
:data:`BEFORE_EDITION_5`, :data:`BEFORE_EDITION_6`, :data:`BEFORE_EDITION_7`, :data:`BEFORE_EDITION_8` and
:data:`BEFORE_EDITION_9` likewise for editions 4 to 9): that pins
an old edition to what was, not to what the code now thinks it was.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest

from anju.errors import TxRejected
from anju.registry import layout

from .harness import H2, H, key_for, lease_terms, listing_terms
from .test_rules import lease_fields
from .world import World, make_world

EDITIONS = [
    pytest.param(None, id="edition-1"),
    pytest.param(2, id="edition-2"),
    pytest.param(3, id="edition-3"),
    pytest.param(4, id="edition-4"),
    pytest.param(5, id="edition-5"),
    pytest.param(6, id="edition-6"),
    pytest.param(7, id="edition-7"),
    pytest.param(8, id="edition-8"),
    pytest.param(9, id="edition-9"),
]


def _world(rules: int | None) -> World:
    if rules is not None:
        return make_world(rules)  # type: ignore[call-arg,unused-ignore]
    try:
        return make_world(rules=None)  # type: ignore[call-arg,unused-ignore]
    except TypeError:  # a build from before rule editions (BEFORE_EDITIONS): every chain is edition 1
        return make_world()


def _outcome(w: World, who: Any, kind: str, cosigners: tuple[Any, ...] = (), **fields: Any) -> str:
    """ "ok", or the refusal's code (and then the state root is unchanged)."""
    before = w.chain.root()
    try:
        w.chain.do(who, kind, list(cosigners), **fields)
    except TxRejected as exc:
        assert w.chain.root() == before
        return exc.code
    return "ok"


def _suspended_co_signer(w: World, old: bool) -> None:
    w.chain.do(w.chain.authority, "authority.suspend", party=w.owner.public_hex, reason_hash=H)
    got = _outcome(w, w.tenant, "lease.sign", (w.owner,), **lease_fields(w))
    assert got == ("ok" if old else "PARTY_SUSPENDED")


def _twenty_years(w: World, old: bool) -> None:
    # 2026-02-01 .. 2046-02-10: 7,314 days, within 20 x 366 but past the twentieth anniversary
    got = _outcome(w, w.owner, "lease.sign", (w.tenant,), **lease_fields(w, start="2026-02-01", end="2046-02-10"))
    assert got == ("ok" if old else "INVALID_FIELD")
    too_long = lease_fields(w, start="2026-02-01", end="2046-02-17", document_hash=H2)  # 20 x 366 + 1 days
    assert _outcome(w, w.owner, "lease.sign", (w.tenant,), **too_long) == "INVALID_FIELD"


def _renew_over_revoked_mandate(w: World, old: bool) -> None:
    c = w.chain
    mid = w.grant(w.agency_a)
    lid = c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **listing_terms()).txid[:16]
    c.day = "2026-03-10"
    c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms())  # stores the agency's listing as expired
    c.do(w.owner, "mandate.revoke", mandate=mid)
    assert _outcome(w, w.agency_a, "listing.renew", listing=lid) == ("ok" if old else "MANDATE_NOT_LIVE")


def _renew_beside_another_listing(w: World, old: bool) -> None:
    c = w.chain
    first = c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms()).txid[:16]
    c.day = "2026-03-10"
    c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms())
    assert _outcome(w, w.owner, "listing.renew", listing=first) == ("ok" if old else "LISTING_EXISTS")


def _free_on_the_first_day_only(w: World, old: bool) -> None:
    w.chain.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-05-01", end="2026-12-31"))
    terms = listing_terms(available_from="2026-02-01", min_term_months=4)
    assert _outcome(w, w.owner, "listing.publish", unit=w.unit, **terms) == ("ok" if old else "UNIT_NOT_FREE")
    taken = listing_terms(available_from="2026-06-01", min_term_months=1)  # let on its first day: refused by both
    assert _outcome(w, w.owner, "listing.publish", unit=w.unit, **taken) == "UNIT_NOT_FREE"


def _escrow_of_earlier_prepayments(w: World, old: bool) -> None:
    mid = w.grant(w.agency_a, to="2028-12-31")
    fields = {**lease_fields(w, start="2026-02-01", end="2028-01-31", collector="agency"), "mandate": mid}
    lid = w.chain.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    w.chain.do(
        w.bank, "bank.attest_escrow", lease=lid, purpose="rent", amount=12 * 900_000, account_commitment="ab" * 32
    )
    w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=12, amount=12 * 900_000)
    got = _outcome(w, w.tenant, "rent.pay", lease=lid, period="2027-02", months=12, amount=12 * 900_000)
    assert got == ("ok" if old else "BANK_ATTESTATION_REQUIRED")


def _decided_deposit_dispute(w: World, old: bool) -> None:
    c = w.chain
    terms = lease_terms(start="2026-01-01", end="2026-01-31")
    lease = c.do(
        w.owner, "lease.sign", [w.tenant], unit=w.unit, landlord=w.owner.public_hex, tenant=w.tenant.public_hex, **terms
    ).txid[:16]
    c.do(w.tenant, "deposit.lodge", lease=lease, amount=900_000)
    c.do(w.owner, "payment.confirm", payment=c.get(layout.lease(lease))["deposit_payment"])  # type: ignore[index]
    c.day = "2026-01-31"
    c.do(w.owner, "deposit.return", lease=lease, deductions=[{"reason": "墙面", "amount": 300_000}])
    dispute = c.do(w.tenant, "dispute.open", lease=lease, subject="deposit", evidence=[H]).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=dispute, outcome="upheld", award=200_000, decision_hash=H2)
    rec = c.get(layout.lease(lease))
    assert rec is not None
    if old:
        assert (
            rec["deposit_status"] == "disputed" and "deposit_dispute" not in rec and rec["deposit_returned"] == 600_000
        )
        assert not [e for e in c.events if e.kind == "deposit.decided"]
    else:
        assert (rec["deposit_status"], rec["deposit_returned"], rec["deposit_dispute"]) == ("decided", 800_000, dispute)


def _months_in_other_digits(w: World, old: bool) -> None:
    lid = w.chain.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-02-01", end="2027-01-31"))
    lease = lid.txid[:16]
    for period in ("２０２６-０２", "٢٠٢٦-٠٢"):  # full-width, Arabic-Indic: decimal digits int() reads
        got = _outcome(w, w.tenant, "rent.pay", lease=lease, period=period, months=1, amount=900_000)
        assert got == (OLD_FULL_WIDTH if old else "INVALID_FIELD"), period
    if _EDITIONS_BUILD:  # "²" is no month (it crashed the builds before editions)
        got = _outcome(w, w.tenant, "rent.pay", lease=lease, period="2026-0²", months=1, amount=900_000)
        assert got == "INVALID_FIELD"
    w.chain.do(w.tenant, "rent.pay", lease=lease, period="2026-02", months=1, amount=900_000)


# -- edition 3 -------------------------------------------------------------------------------------
def _brokers(w: World, *agents: Any) -> list[Any]:
    """The agency co-signers a lease the owner signs through a mandate needs: from edition 5 its
    agency (or an agent) signs too; before, none (so older editions keep their pinned roots)."""
    return list(agents) if _rules(w) >= 5 else []


def _rules(w: World) -> int:
    """The world's chain's edition."""
    meta = w.chain.get(layout.META)
    return 1 if meta is None else int(meta.get("rules", 1))


def _agency_ends_a_lease_it_may_not_sign(w: World, old: bool) -> None:
    mid = w.grant(w.agency_a, may_sign=False)
    cos = [w.tenant, *_brokers(w, w.agent_a)]
    lid = w.chain.do(w.owner, "lease.sign", cos, **{**lease_fields(w), "mandate": mid}).txid[:16]
    notice = {"lease": lid, "mode": "notice", "on": "2026-03-01", "reason_hash": H}
    assert _outcome(w, w.stranger, "lease.terminate", (w.agent_a,), **notice) == ("ok" if old else "NOT_LEASE_PARTY")
    if not old:
        assert _outcome(w, w.agent_a, "lease.terminate", **notice) == "NOT_LEASE_PARTY"
        assert _outcome(w, w.owner, "lease.terminate", **notice) == "ok"  # the landlord himself may


def _mutual_end_through_a_revoked_mandate(w: World, old: bool) -> None:
    mid = w.grant(w.agency_a)
    lid = w.chain.do(w.agent_a, "lease.sign", [w.tenant], **{**lease_fields(w), "mandate": mid}).txid[:16]
    w.chain.do(w.owner, "mandate.revoke", mandate=mid)
    mutual = {"lease": lid, "mode": "mutual", "on": "2026-03-01", "reason_hash": H}
    got = _outcome(w, w.tenant, "lease.terminate", (w.agent_a,), **mutual)
    assert got == ("ok" if old else "MISSING_SIGNATURE")


def _called_off_before_it_starts(w: World, old: bool) -> None:
    lid = w.chain.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-06-01", end="2027-05-31"))
    off = {"lease": lid.txid[:16], "mode": "mutual", "on": "2026-05-31", "reason_hash": H}
    assert _outcome(w, w.owner, "lease.terminate", (w.tenant,), **off) == ("INVALID_FIELD" if old else "ok")
    again = lease_fields(w, start="2026-06-01", end="2027-05-31", document_hash=H2)
    assert _outcome(w, w.owner, "lease.sign", (w.tenant2,), **{**again, "tenant": w.tenant2.public_hex}) == (
        "LEASE_OVERLAP" if old else "ok"
    )


def _backdated_lease(w: World, old: bool) -> None:
    # on 2026-01-05: 2025-12-06 is 30 days back, 2025-12-05 one more
    far = lease_fields(w, start="2025-12-05", end="2025-12-31")
    assert _outcome(w, w.owner, "lease.sign", (w.tenant,), **far) == ("ok" if old else "INVALID_FIELD")
    near = lease_fields(w, start="2025-12-06", end="2025-12-31", document_hash=H2, tenant=w.tenant2.public_hex)
    assert _outcome(w, w.owner, "lease.sign", (w.tenant2,), **{**near, "tenant": w.tenant2.public_hex}) == (
        "LEASE_OVERLAP" if old else "ok"
    )


def _credit_from_an_unregistered_lease(w: World, old: bool) -> None:
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-01-31")).txid[:16]
    c.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000)
    c.do(w.owner, "payment.confirm", payment=c.get(layout.lease(lid))["deposit_payment"])  # type: ignore[index]
    c.day = "2026-02-01"
    c.do(w.owner, "deposit.return", lease=lid, deductions=[])
    c.do(w.tenant, "deposit.accept", lease=lid)
    c.do(w.tenant, "review.write", lease=lid, subject=w.owner.public_hex, rating=5, text_hash=H)
    credit = c.get(layout.credit(w.owner.public_hex))
    assert (credit or {}).get("score", 600) == (600 + 5 + 8 if old else 600)
    assert c.get(layout.review(lid, w.tenant.public_hex, w.owner.public_hex)) is not None  # recorded in both


def _rent_paid_far_ahead(w: World, old: bool) -> None:
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-02-01", end="2027-01-31")).txid[:16]
    registered = _rules(w) >= 5  # (from edition 5 rent_on_time needs a registered lease: +5 for registering)
    if registered:
        c.do(c.authority, "lease.register", lease=lid)
    for period in ("2026-02", "2026-03", "2026-04"):  # paid on 2026-01-05: next month, then further ahead
        pay = c.do(w.tenant, "rent.pay", lease=lid, period=period, months=1, amount=900_000).txid[:16]
        c.do(w.owner, "payment.confirm", payment=pay)
    credit = c.get(layout.credit(w.tenant.public_hex))
    assert credit is not None and credit["score"] == (606 if old else 602) + (5 if registered else 0)


def _fake_listing_confirmed_twice(w: World, old: bool) -> None:
    c = w.chain
    listing = c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms()).txid[:16]
    reports = [c.do(who, "report.file", listing=listing, evidence=[H]).txid[:16] for who in (w.stranger, w.tenant2)]
    for rid in reports:
        c.do(c.authority, "report.resolve", report=rid, outcome="confirmed", decision_hash=H2)
    credit = c.get(layout.credit(w.owner.public_hex))
    assert credit is not None and credit["score"] == (500 if old else 550)


def _first_month_paid_on_the_first_day(w: World, old: bool) -> None:
    c = w.chain
    c.day = "2026-02-20"
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-02-20", end="2027-02-19")).txid[:16]
    pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=1, amount=900_000).txid[:16]
    rec = c.get(layout.payment(pay))
    assert rec is not None and (rec["due_on"], rec["late_days"]) == (("2026-02-05", 15) if old else ("2026-02-20", 0))


def _owner_disputes_a_sublease(w: World, old: bool) -> None:
    parent = w.chain.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w)).txid[:16]
    fields = lease_fields(w, start="2026-03-01", end="2026-04-30")
    fields.update(landlord=w.tenant.public_hex, tenant=w.tenant2.public_hex, parent=parent)
    sub = w.chain.do(w.tenant, "lease.sign", [w.tenant2, w.owner], **fields).txid[:16]
    got = _outcome(w, w.owner, "dispute.open", lease=sub, subject="deposit", evidence=[H])
    assert got == ("ok" if old else "NOT_LEASE_PARTY")
    assert _outcome(w, w.tenant2, "dispute.open", lease=sub, subject="rent", evidence=[H]) == "ok"


def _agency_signs_for_a_suspended_owner(w: World, old: bool) -> None:
    mid = w.grant(w.agency_a)
    w.chain.do(w.chain.authority, "authority.suspend", party=w.owner.public_hex, reason_hash=H)
    got = _outcome(w, w.agent_a, "lease.sign", (w.tenant,), **{**lease_fields(w), "mandate": mid})
    assert got == ("ok" if old else "PARTY_SUSPENDED")


def _unattested_agent(w: World, old: bool) -> None:
    c = w.chain
    agent = c.party("agent-b", "agent", attest=False)
    got = _outcome(w, w.agency_b, "agency.appoint_agent", agent=agent.public_hex)
    assert got == ("ok" if old else "IDENTITY_NOT_ATTESTED")


def _hidden_characters_in_text(w: World, old: bool) -> None:
    # a bidi override, nothing visible (a zero-width space and joiner; a Hangul filler and a braille blank), NUL
    for description in ("两居室\u202e租出", "\u200b\u200d", "\u3164\u2800 ", "近地铁\x00"):
        got = _outcome(w, w.owner, "listing.publish", unit=w.unit, **listing_terms(description=description))
        assert got == ("ok" if old else "INVALID_FIELD"), repr(description)
        if got == "ok":
            w.chain.do(w.owner, "listing.withdraw", listing=w.chain.log[-1][0].txid[:16])
    fine = listing_terms(description="朝南两居室\n近地铁\t👨\u200d👩\u200d👧")  # line breaks, tabs, an emoji sequence
    assert _outcome(w, w.owner, "listing.publish", unit=w.unit, **fine) == "ok"


def _nothing_paid_on_a_voided_lease(w: World, old: bool) -> None:
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-06-01", end="2027-05-31")).txid[:16]
    off = {"lease": lid, "mode": "mutual", "on": "2026-05-31", "reason_hash": H}
    assert _outcome(w, w.owner, "lease.terminate", (w.tenant,), **off) == ("INVALID_FIELD" if old else "ok")
    pay = {"lease": lid, "period": "2026-06", "months": 1, "amount": 900_000}
    assert _outcome(w, w.tenant, "rent.pay", **pay) == ("ok" if old else "LEASE_NOT_LIVE")
    assert _outcome(w, w.tenant, "deposit.lodge", lease=lid, amount=900_000) == ("ok" if old else "LEASE_NOT_LIVE")


def _a_voided_renewal_frees_the_lease_it_continued(w: World, old: bool) -> None:
    c = w.chain
    first = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-06-30")).txid[:16]
    renewal = {k: v for k, v in lease_terms(end="2026-12-31").items() if k != "start"}
    second = c.do(w.owner, "lease.renew", [w.tenant], previous=first, **renewal).txid[:16]
    off = {"lease": second, "mode": "mutual", "on": "2026-06-30", "reason_hash": H}
    assert _outcome(w, w.owner, "lease.terminate", (w.tenant,), **off) == ("INVALID_FIELD" if old else "ok")
    again = {**renewal, "end": "2027-06-30", "document_hash": H2}
    assert _outcome(w, w.owner, "lease.renew", (w.tenant,), previous=first, **again) == (
        "ALREADY_DONE" if old else "ok"
    )


def _renew_a_lease_to_the_last_day(w: World, old: bool) -> None:
    c = w.chain
    c.day = "9985-01-01"
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="9985-01-01", end="9999-12-31")).txid[:16]
    renewal = {k: v for k, v in lease_terms(end="9999-12-31").items() if k != "start"}
    if old:  # edition 2 failed inside the rules; the executor refuses that as APPLICATION_ERROR
        with pytest.raises(ValueError):
            c.do(w.owner, "lease.renew", [w.tenant], previous=lid, **renewal)
    else:
        assert _outcome(w, w.owner, "lease.renew", (w.tenant,), previous=lid, **renewal) == "RENEWAL_NOT_CONTIGUOUS"


def _escrow_past_the_largest_amount(w: World, old: bool) -> None:
    lid = w.chain.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w)).txid[:16]
    attest = {"lease": lid, "purpose": "deposit", "amount": 10**13, "account_commitment": H}
    assert _outcome(w, w.bank, "bank.attest_escrow", **attest) == "ok"
    assert _outcome(w, w.bank, "bank.attest_escrow", **attest) == ("ok" if old else "INTEGER_OUT_OF_RANGE")


# -- edition 4 -------------------------------------------------------------------------------------
def _refusal(w: World, who: Any, kind: str, cosigners: tuple[Any, ...] = (), **fields: Any) -> TxRejected | None:
    """:func:`_outcome`, keeping the refusal (its details name the field or listing refused)."""
    before = w.chain.root()
    try:
        w.chain.do(who, kind, list(cosigners), **fields)
    except TxRejected as exc:
        assert w.chain.root() == before
        return exc
    return None


def _refused_listing(exc: TxRejected | None, code: str, listing: str) -> bool:
    """Whether ``exc`` refuses the lease's ``listing`` with ``code`` (INVALID_FIELD: field ``listing``)."""
    if exc is None or exc.code != code:
        return False
    return exc.details.get("field") == "listing" if code == "INVALID_FIELD" else exc.details.get("listing") == listing


def _lease_from(w: World, listing: str, old: bool, refused: str, **over: Any) -> None:
    """A lease naming ``listing`` (signed by the owner unless ``over`` names a ``signer``): accepted
    before edition 4 (the lease records the listing), refused with ``refused`` from it."""
    signer = over.pop("signer", w.owner)
    fields = {**lease_fields(w, start="2026-03-10", end="2027-03-09"), "listing": listing, **over}
    got = _refusal(w, signer, "lease.sign", (w.tenant,), **fields)
    if old:
        assert got is None, got
        lease = w.chain.get(layout.lease(w.chain.log[-1][0].txid[:16]))
        assert lease is not None and lease["listing"] == listing
    else:
        assert _refused_listing(got, refused, listing), got


def _lease_from_a_listing_confirmed_fake(w: World, old: bool) -> None:
    c = w.chain
    listing = c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms()).txid[:16]
    report = c.do(w.stranger, "report.file", listing=listing, evidence=[H]).txid[:16]
    c.do(c.authority, "report.resolve", report=report, outcome="confirmed", decision_hash=H2)
    _lease_from(w, listing, old, "LISTING_NOT_LIVE")


def _lease_from_a_withdrawn_listing(w: World, old: bool) -> None:
    listing = w.chain.do(w.owner, "listing.publish", unit=w.unit, **listing_terms()).txid[:16]
    w.chain.do(w.owner, "listing.withdraw", listing=listing)
    _lease_from(w, listing, old, "LISTING_NOT_LIVE")


def _lease_from_an_expired_listing(w: World, old: bool) -> None:
    listing = w.chain.do(w.owner, "listing.publish", unit=w.unit, **listing_terms()).txid[:16]
    w.chain.day = "2026-03-06"  # published 2026-01-05: the code's 60 days are over (expires_on)
    _lease_from(w, listing, old, "LISTING_NOT_LIVE")


def _lease_from_a_listing_whose_mandate_ended(w: World, old: bool) -> None:
    # Judged at the block date: nothing stored says so yet (the listing's record still reads "live").
    c = w.chain
    short = w.grant(w.agency_a, to="2026-03-05")
    listing = c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=short, **listing_terms()).txid[:16]
    longer = w.grant(w.agency_a)
    c.day = "2026-03-06"
    _lease_from(w, listing, old, "LISTING_NOT_LIVE", signer=w.agent_a, mandate=longer)


def _lease_from_an_agencys_listing_signed_by_the_owner(w: World, old: bool) -> None:
    mid = w.grant(w.agency_a)
    listing = w.chain.do(w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **listing_terms()).txid[:16]
    _lease_from(w, listing, old, "INVALID_FIELD")  # no mandate: the agency is no side of this lease


def _lease_through_one_agency_from_anothers_listing(w: World, old: bool) -> None:
    mid_a, mid_b = w.grant(w.agency_a), w.grant(w.agency_b)
    listing = w.chain.do(w.agency_b, "listing.publish", unit=w.unit, mandate=mid_b, **listing_terms()).txid[:16]
    _lease_from(w, listing, old, "INVALID_FIELD", signer=w.agent_a, mandate=mid_a)


def _sublease_from_a_listing(w: World, old: bool) -> None:
    c = w.chain
    parent = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-02-01", end="2026-06-30"))
    after = listing_terms(available_from="2026-07-01")  # the owner advertises the unit for when it is free
    listing = c.do(w.owner, "listing.publish", unit=w.unit, **after).txid[:16]
    fields = lease_fields(w, start="2026-03-01", end="2026-04-30")
    fields.update(landlord=w.tenant.public_hex, tenant=w.tenant2.public_hex, parent=parent.txid[:16], listing=listing)
    got = _refusal(w, w.tenant, "lease.sign", (w.tenant2, w.owner), **fields)
    assert got is None if old else _refused_listing(got, "INVALID_FIELD", listing), got
    rec = c.get(layout.listing(listing))
    assert rec is not None and rec["status"] == "live"  # a sublease never revoked the owner's listings


def _lease_from_live_listings(w: World, old: bool) -> None:
    """Accepted by every edition: the owner's own listing on its code's last day, and an agency's
    listing when the lease is made through that agency (the owner signing or the agency); each
    lease revokes the unit's live listings as 'leased'."""
    c = w.chain
    own = c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms()).txid[:16]
    c.day = "2026-03-05"  # published 2026-01-05: the code's last day
    first = lease_fields(w, start="2026-03-10", end="2026-06-30")
    assert _outcome(w, w.owner, "lease.sign", (w.tenant,), **{**first, "listing": own}) == "ok"
    rec = c.get(layout.listing(own))
    assert rec is not None and (rec["status"], rec["status_reason"]) == ("revoked", "leased")
    assert c.events[-1].kind == "lease.signed" and own in c.events[-1].listings
    mid = w.grant(w.agency_a)
    for signer, start, end, tenant in (
        (w.owner, "2026-07-01", "2026-09-30", w.tenant),  # the owner signs; the agency brokered
        (w.agent_a, "2026-10-01", "2026-12-31", w.tenant2),  # the agency signs for the owner
    ):
        terms = listing_terms(available_from=start, min_term_months=1)
        listing = c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **terms).txid[:16]
        fields = {**lease_fields(w, start=start, end=end, tenant=tenant.public_hex), "mandate": mid, "listing": listing}
        cos = (tenant, *_brokers(w, w.agent_a)) if signer == w.owner else (tenant,)
        assert _outcome(w, signer, "lease.sign", cos, **fields) == "ok"
        rec = c.get(layout.listing(listing))
        assert rec is not None and (rec["status"], rec["status_reason"]) == ("revoked", "leased")


# -- edition 5 -------------------------------------------------------------------------------------
def _listing_from_a_past_available_from(w: World, old: bool) -> None:
    c = w.chain
    c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-01", end="2026-12-31"))
    mid = w.grant(w.agency_a)
    past = listing_terms(available_from="2025-11-01", min_term_months=1)  # November 2025 is free; today is not
    got = _outcome(w, w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **past)
    assert got == ("ok" if old else "UNIT_NOT_FREE")
    assert _outcome(w, w.owner, "listing.publish", unit=w.unit, **past) == ("ok" if old else "UNIT_NOT_FREE")
    after = listing_terms(available_from="2027-01-01", min_term_months=1)  # free once the lease ends: both
    assert _outcome(w, w.owner, "listing.publish", unit=w.unit, **after) == ("LISTING_EXISTS" if old else "ok")


def _lease_through_an_agency_that_did_not_sign(w: World, old: bool) -> None:
    c = w.chain
    mid = w.grant(w.agency_b, may_sign=False)
    fields = {**lease_fields(w, start="2026-02-01", end="2026-06-30", collector="agency"), "mandate": mid}
    got = _outcome(w, w.owner, "lease.sign", (w.tenant,), **fields)  # agency B never signed
    assert got == ("ok" if old else "MISSING_SIGNATURE")
    if not old:  # the agency co-signs: a side of the lease it signed
        assert _outcome(w, w.owner, "lease.sign", (w.tenant, w.agency_b), **fields) == "ok"
    lid = c.log[-1][0].txid[:16]
    rec = c.get(layout.lease(lid))
    assert rec is not None and rec["agency"] == w.agency_b.public_hex
    renewal = {k: v for k, v in lease_terms(end="2026-12-31").items() if k != "start"}
    c.do(w.owner, "lease.renew", [w.tenant], previous=lid, **renewal)  # the owner and the tenant only
    rec = c.get(layout.lease(c.log[-1][0].txid[:16]))
    assert rec is not None
    assert (rec["agency"], rec["mandate"]) == ((w.agency_b.public_hex, mid) if old else (None, None))


def _registered_lease_called_off(w: World, old: bool) -> None:
    c = w.chain
    off = {"mode": "mutual", "on": "2026-02-28", "reason_hash": H}
    first = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
    got = _outcome(w, w.owner, "lease.terminate", (w.tenant,), lease=first, **off)  # void: it never began
    if _rules(w) < 3:  # no lease could be called off before it began
        assert got == "INVALID_FIELD" and _outcome(w, c.authority, "lease.register", lease=first) == "ok"
        return
    assert _outcome(w, c.authority, "lease.register", lease=first) == ("ok" if old else "LEASE_NOT_LIVE")
    again = lease_fields(w, start="2026-03-01", end="2027-02-28", tenant=w.tenant2.public_hex, document_hash=H2)
    second = c.do(w.owner, "lease.sign", [w.tenant2], **again).txid[:16]
    c.do(c.authority, "lease.register", lease=second)
    c.do(w.owner, "lease.terminate", [w.tenant2], lease=second, **off)  # registered, then called off
    for who, points, count in (
        ((w.owner, 10, 2), (w.tenant, 5, 1), (w.tenant2, 5, 1))
        if old
        else (
            (w.owner, 0, 2),
            (w.tenant, 0, 0),
            (w.tenant2, 0, 2),
        )
    ):
        rec = c.get(layout.credit(who.public_hex))
        factor = (rec or {"factors": {}})["factors"].get("leases_registered", {"points": 0, "count": 0})
        assert (factor["points"], factor["count"]) == (points, count), who


def _rent_on_time_outside_a_registered_tenancy(w: World, old: bool) -> None:
    c = w.chain

    def paid(lid: str, period: str, tenant: Any) -> None:
        pay = c.do(tenant, "rent.pay", lease=lid, period=period, months=1, amount=900_000).txid[:16]
        c.do(w.owner, "payment.confirm", payment=pay)

    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w)).txid[:16]  # 2026-02-01 .. 2027-01-31
    paid(lid, "2026-02", w.tenant)  # before registration: nothing from edition 5
    c.do(c.authority, "lease.register", lease=lid)
    c.day = "2026-02-20"
    paid(lid, "2026-03", w.tenant)  # registered: +2 in every edition
    c.day = "2027-02-10"
    again = lease_fields(w, start="2027-03-01", end="2027-06-30", tenant=w.tenant2.public_hex, document_hash=H2)
    second = c.do(w.owner, "lease.sign", [w.tenant2], **again).txid[:16]
    c.do(c.authority, "lease.register", lease=second)
    pay = c.do(w.tenant2, "rent.pay", lease=second, period="2027-03", months=1, amount=900_000).txid[:16]
    off = {"lease": second, "mode": "mutual", "on": "2027-02-28", "reason_hash": H}
    _outcome(w, w.owner, "lease.terminate", (w.tenant2,), **off)  # void from edition 3 (refused before)
    c.do(w.owner, "payment.confirm", payment=pay)  # a month of a lease that never ran: nothing from edition 5
    credits = [c.get(layout.credit(t.public_hex)) for t in (w.tenant, w.tenant2)]
    points = [rec["factors"].get("rent_on_time", {"points": 0})["points"] for rec in credits if rec is not None]
    assert points == ([4, 2] if old else [2, 0])


def _agency_acts_beyond_its_mandate(w: World, old: bool) -> None:
    mid = w.grant(w.agency_a, to="2026-01-31")  # January 2026 only
    later = listing_terms(available_from="2030-01-01")
    got = _outcome(w, w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **later)
    assert got == ("ok" if old else "MANDATE_NOT_LIVE")
    fields = {**lease_fields(w, start="2030-01-01", end="2049-12-31", notice_days=365), "mandate": mid}
    assert _outcome(w, w.agent_a, "lease.sign", (w.tenant,), **fields) == ("ok" if old else "MANDATE_NOT_LIVE")
    within = {**lease_fields(w, start="2026-01-20", end="2026-12-31", document_hash=H2), "mandate": mid}
    assert _outcome(w, w.agent_a, "lease.sign", (w.tenant,), **within) == "ok"  # starts within it: every edition


def _another_agencys_exclusive_dates(w: World, old: bool) -> None:
    w.grant(w.agency_b, exclusive=True, **{"from": "2026-03-01", "to": "2026-12-31"})
    ma = w.grant(w.agency_a, to="2026-02-28")  # not exclusive, and before B's: granted in every edition
    in_b_months = listing_terms(available_from="2026-03-01", min_term_months=10)
    got = _outcome(w, w.agent_a, "listing.publish", unit=w.unit, mandate=ma, **in_b_months)
    assert got == ("ok" if old else "EXCLUSIVE_MANDATE")
    fields = {**lease_fields(w, start="2026-03-01", end="2026-12-31"), "mandate": ma}
    assert _outcome(w, w.agent_a, "lease.sign", (w.tenant,), **fields) == ("ok" if old else "EXCLUSIVE_MANDATE")
    before = {**lease_fields(w, start="2026-01-10", end="2026-02-28", document_hash=H2), "mandate": ma}
    assert _outcome(w, w.agent_a, "lease.sign", (w.tenant,), **before) == "ok"  # A's own months: every edition


def _agency_ends_a_lease_for_a_suspended_owner(w: World, old: bool) -> None:
    c = w.chain
    mid = w.grant(w.agency_a)
    fields = {**lease_fields(w, start="2026-01-05", end="2026-12-31"), "mandate": mid}
    lid = c.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    c.do(c.authority, "authority.suspend", party=w.owner.public_hex, reason_hash=H)
    notice = {"lease": lid, "mode": "notice", "on": "2026-03-31", "reason_hash": H}
    assert _outcome(w, w.agent_a, "lease.terminate", **notice) == ("ok" if old else "PARTY_SUSPENDED")
    mutual = {**notice, "mode": "mutual", "on": "2026-02-28"}
    got = _outcome(w, w.tenant, "lease.terminate", (w.agent_a,), **mutual)
    assert got == ("LEASE_NOT_LIVE" if old else "PARTY_SUSPENDED")  # (old: already ended by the notice)
    if not old:
        assert _outcome(w, w.tenant, "lease.terminate", **notice) == "ok"  # the tenant still may


def _escrow_for_a_lease_that_holds_no_money(w: World, old: bool) -> None:
    c = w.chain
    attest = {"purpose": "deposit", "amount": 900_000, "account_commitment": H}
    void = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
    off = {"lease": void, "mode": "mutual", "on": "2026-02-28", "reason_hash": H}
    voided = _outcome(w, w.owner, "lease.terminate", (w.tenant,), **off) == "ok"  # (editions 1 and 2 refuse it)
    got = _outcome(w, w.bank, "bank.attest_escrow", lease=void, **attest)
    assert got == ("LEASE_NOT_LIVE" if voided and not old else "ok")
    short = lease_fields(w, start="2026-01-05", end="2026-01-31", tenant=w.tenant2.public_hex, document_hash=H2)
    ended = c.do(w.owner, "lease.sign", [w.tenant2], **short).txid[:16]
    assert _outcome(w, w.bank, "bank.attest_escrow", lease=ended, **attest) == "ok"  # running: every edition
    c.day = "2026-02-01"
    assert _outcome(w, w.bank, "bank.attest_escrow", lease=ended, **attest) == ("ok" if old else "LEASE_NOT_LIVE")


def _held_deposit(w: World) -> str:
    """A January lease whose deposit the landlord holds (lodged and confirmed)."""
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-01-31")).txid[:16]
    pay = c.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    c.do(w.owner, "payment.confirm", payment=pay)
    return lid


def _deposit_never_returned(w: World, old: bool) -> None:
    c = w.chain
    lid = _held_deposit(w)
    c.day = "2026-04-01"  # two months after the end, nothing returned
    did = c.do(w.tenant, "dispute.open", lease=lid, subject="deposit", evidence=[H], claim=900_000).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=did, outcome="upheld", award=900_000, decision_hash=H2)
    rec = c.get(layout.lease(lid))
    assert rec is not None
    got = (rec["deposit_status"], rec["deposit_returned"], rec.get("deposit_dispute"))
    assert got == (("held", None, None) if old else ("decided", 900_000, did))


def _collectors_own_deposit_dispute(w: World, old: bool) -> None:
    c = w.chain
    lid = _held_deposit(w)
    c.day = "2026-02-01"
    c.do(w.owner, "deposit.return", lease=lid, deductions=[{"reason": "清洁", "amount": 810_000}])
    own = c.do(w.owner, "dispute.open", lease=lid, subject="deposit", evidence=[H], claim=0).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=own, outcome="settled", award=0, decision_hash=H2)
    did = c.do(w.tenant, "dispute.open", lease=lid, subject="deposit", evidence=[H2], claim=810_000).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=did, outcome="upheld", award=810_000, decision_hash=H2)
    rec = c.get(layout.lease(lid))
    assert rec is not None and rec["deposit_returned"] == (90_000 if old else 900_000)
    assert old or (rec["deposit_status"], rec["deposit_dispute"]) == ("decided", did)


def _rent_escrow_used_again_a_year_later(w: World, old: bool) -> None:
    c = w.chain
    mid = w.grant(w.agency_a, to="2028-12-31")
    fields = {**lease_fields(w, start="2026-01-01", end="2027-12-31", collector="agency"), "mandate": mid}
    lid = c.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    attest = {"lease": lid, "purpose": "rent", "account_commitment": H}
    c.do(w.bank, "bank.attest_escrow", amount=12 * 900_000, **attest)
    c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=12, amount=12 * 900_000)  # 11 months ahead
    c.day = "2027-01-04"  # 2026 lived: its months' rent left the account; 11 months ahead again
    year = {"lease": lid, "period": "2027-01", "months": 12, "amount": 12 * 900_000}
    assert _outcome(w, w.tenant, "rent.pay", **year) == ("ok" if old else "BANK_ATTESTATION_REQUIRED")
    if not old:
        c.do(w.bank, "bank.attest_escrow", amount=10 * 900_000, **attest)  # 22 months collected ahead in all
        assert _outcome(w, w.tenant, "rent.pay", **year) == "ok"


def _arrears_paid_at_once(w: World, old: bool) -> None:
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-01", end="2026-12-31")).txid[:16]
    c.day = "2026-03-20"  # January, February and March all overdue (due on the 5th)
    pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=3, amount=3 * 900_000).txid[:16]
    c.do(w.owner, "payment.confirm", payment=pay)
    c.day = "2026-04-02"  # April paid before its due day: on time in every edition
    pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-04", months=1, amount=900_000).txid[:16]
    c.do(w.owner, "payment.confirm", payment=pay)
    rec = c.get(layout.credit(w.tenant.public_hex))
    assert rec is not None
    late = rec["factors"]["rent_late"]
    assert (late["count"], late["points"]) == ((1, -5) if old else (1, -15))


def _unconfirmed_rent_leaves_its_months_owed(w: World, old: bool) -> None:
    from anju.registry.status import overdue_months

    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-12-31")).txid[:16]
    jan = c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=1, amount=900_000).txid[:16]
    feb = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=2, amount=2 * 900_000).txid[:16]
    c.day = "2026-03-20"  # nothing confirmed yet: January to March are owed from edition 6
    rec = c.get(layout.lease(lid))
    assert rec is not None
    assert overdue_months(rec, c.day) == ([] if old else ["2026-01", "2026-02", "2026-03"])
    assert _outcome(w, w.owner, "payment.confirm", payment=feb) == ("ok" if old else "PERIOD_OUT_OF_ORDER")
    c.do(w.owner, "payment.confirm", payment=jan)
    if not old:
        c.do(w.owner, "payment.confirm", payment=feb)
    rec = c.get(layout.lease(lid))
    assert rec is not None and overdue_months(rec, c.day) == []
    assert rec.get("confirmed_through") == (None if old else "2026-03")


def _receiver_refuses_a_rent_payment(w: World, old: bool) -> None:
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-12-31")).txid[:16]
    jan = c.do(w.tenant, "rent.pay", lease=lid, period="2026-01", months=1, amount=900_000).txid[:16]
    feb = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=1, amount=900_000).txid[:16]
    got = _outcome(w, w.owner, "payment.refuse", payment=jan, reason_hash=H)  # not the newest claim
    assert got == ("UNKNOWN_KIND" if old else "PERIOD_OUT_OF_ORDER")
    assert _outcome(w, w.owner, "payment.refuse", payment=feb, reason_hash=H) == ("UNKNOWN_KIND" if old else "ok")
    again = {"lease": lid, "period": "2026-02", "months": 1, "amount": 900_000}
    assert _outcome(w, w.tenant, "rent.pay", **again) == ("PERIOD_OUT_OF_ORDER" if old else "ok")
    assert _outcome(w, w.owner, "payment.confirm", payment=feb) == ("ok" if old else "ALREADY_DONE")


def _receiver_refuses_a_deposit(w: World, old: bool) -> None:
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-12-31")).txid[:16]
    pay = c.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    assert _outcome(w, w.owner, "payment.refuse", payment=pay, reason_hash=H) == ("UNKNOWN_KIND" if old else "ok")
    assert _outcome(w, w.tenant, "deposit.lodge", lease=lid, amount=900_000) == ("ALREADY_DONE" if old else "ok")
    rec = c.get(layout.lease(lid))
    assert rec is not None and rec["deposit_status"] == "lodged"
    assert (rec["deposit_payment"] == pay) == old


def _sub_sublease_behind_its_landlords_back(w: World, old: bool) -> None:
    c = w.chain
    t, x, z = w.tenant, w.tenant2, w.stranger
    head = c.do(w.owner, "lease.sign", [t], **lease_fields(w, start="2026-01-05", end="2026-12-31")).txid[:16]
    sub = {"unit": w.unit, "landlord": t.public_hex, "tenant": x.public_hex, "parent": head}
    mid = c.do(t, "lease.sign", [x, w.owner], **sub, **lease_terms(start="2026-02-01", end="2026-11-30")).txid[:16]
    subsub = {"unit": w.unit, "landlord": x.public_hex, "tenant": z.public_hex, "parent": mid}
    terms = lease_terms(start="2026-03-01", end="2026-10-31")
    got = _outcome(w, x, "lease.sign", (z, w.owner), **subsub, **terms)
    assert got == ("ok" if old else "SUBLEASE_CONSENT_REQUIRED")
    if not old:
        assert _outcome(w, x, "lease.sign", (z, w.owner, t), **subsub, **terms) == "ok"


def _licence_revoked(w: World, old: bool) -> None:
    from anju.registry.status import shown_listing_status

    c = w.chain
    mid = w.grant(w.agency_a)
    lid = c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **listing_terms()).txid[:16]
    got = _outcome(w, c.authority, "authority.revoke_licence", party=w.agency_a.public_hex, reason_hash=H)
    assert got == ("UNKNOWN_KIND" if old else "ok")
    fields = {**lease_fields(w), "mandate": mid}
    assert _outcome(w, w.agent_a, "lease.sign", (w.tenant,), **fields) == ("ok" if old else "NOT_LICENSED")
    listing, agency = c.get(layout.listing(lid)), c.get(layout.party(w.agency_a.public_hex))
    assert listing is not None and agency is not None
    shown = shown_listing_status(listing, c.get(layout.mandate(mid)), [agency], c.day)
    assert shown == (("revoked", "leased") if old else ("suspended", "licence_revoked"))


# True from rule editions on (this file also runs on the build before them, which crashed on "2026-0²")
_EDITIONS_BUILD = importlib.util.find_spec("anju.registry.edition") is not None

OLD_FULL_WIDTH = "PERIOD_OUT_OF_ORDER"  # what the builds before edition 2 answered (checked at 6a08892)


# -- edition 9 -------------------------------------------------------------------------------------
def _personal_data_in_clear_text(w: World, old: bool) -> None:
    """From edition 9 every text field the ledger keeps in clear refuses what looks like personal
    data (``PERSONAL_DATA``, naming the field); before, any words were taken. Text that only
    looks close (a metro line, a layout, "仅限女士", a floor area) passes on every edition."""
    c = w.chain
    for description in ("联系 138 1234 5678", "看房加微信: anju_fang88", "王先生的房子", "１３８１２３４５６７８"):
        got = _refusal(w, w.owner, "listing.publish", unit=w.unit, **listing_terms(description=description))
        _refused_as_personal(got, old, "description")
        if got is None:
            w.chain.do(w.owner, "listing.withdraw", listing=w.chain.log[-1][0].txid[:16])
    fine = listing_terms(description="近地铁1号线3号口，2室1厅，仅限女士，68平米，2026年3月起")
    assert _outcome(w, w.owner, "listing.publish", unit=w.unit, **fine) == "ok"
    unit = {"district": "徐汇区", "street": "衡山路", "neighbourhood": "衡山坊", "floor_area_m2": 50, "rooms": 1}
    for field, value in (("street", "衡山路88号"), ("neighbourhood", "3号楼302室"), ("district", "徐汇区 8号")):
        _refused_as_personal(
            _refusal(w, w.owner, "unit.register", **{**unit, field: value, "address_commitment": H}), old, field
        )
    assert _outcome(w, w.owner, "unit.register", **{**unit, "address_commitment": H2}) == "ok"
    agency = c.party("agency-c", "agency", license=False)  # (its own name passes)
    assert agency is not None
    mail = {"role": "bank", "commitment": H, "name": "建设银行 service@bank.example"}
    _refused_as_personal(_refusal(w, key_for("bank-c"), "party.register", **mail), old, "name")
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-01-31")).txid[:16]
    c.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000)
    c.do(w.owner, "payment.confirm", payment=c.get(layout.lease(lid))["deposit_payment"])  # type: ignore[index]
    c.day = "2026-02-01"
    deduction = [{"reason": "墙面修补，师傅电话 021-6438 1234", "amount": 30_000}]
    _refused_as_personal(
        _refusal(w, w.owner, "deposit.return", lease=lid, deductions=deduction), old, "deductions[].reason"
    )


def _refused_as_personal(got: TxRejected | None, old: bool, field: str) -> None:
    """Accepted before edition 9; from it, refused as ``PERSONAL_DATA`` naming ``field``."""
    if old:
        assert got is None, got
    else:
        assert got is not None and (got.code, got.details.get("field")) == ("PERSONAL_DATA", field), got


CASES: dict[str, Callable[[World, bool], None]] = {  # edition 2's changes
    "suspended co-signer": _suspended_co_signer,
    "twenty years": _twenty_years,
    "renew over a revoked mandate": _renew_over_revoked_mandate,
    "renew beside another listing": _renew_beside_another_listing,
    "free on the first day only": _free_on_the_first_day_only,
    "escrow of earlier prepayments": _escrow_of_earlier_prepayments,
    "decided deposit dispute": _decided_deposit_dispute,
    "months in other digits": _months_in_other_digits,
}

CASES_3: dict[str, Callable[[World, bool], None]] = {  # edition 3's changes
    "agency ends a lease it may not sign": _agency_ends_a_lease_it_may_not_sign,
    "mutual end through a revoked mandate": _mutual_end_through_a_revoked_mandate,
    "called off before it starts": _called_off_before_it_starts,
    "backdated lease": _backdated_lease,
    "credit from an unregistered lease": _credit_from_an_unregistered_lease,
    "rent paid far ahead": _rent_paid_far_ahead,
    "fake listing confirmed twice": _fake_listing_confirmed_twice,
    "first month paid on the first day": _first_month_paid_on_the_first_day,
    "owner disputes a sublease": _owner_disputes_a_sublease,
    "agency signs for a suspended owner": _agency_signs_for_a_suspended_owner,
    "unattested agent": _unattested_agent,
    "hidden characters in text": _hidden_characters_in_text,
    "nothing paid on a voided lease": _nothing_paid_on_a_voided_lease,
    "a voided renewal frees the lease it continued": _a_voided_renewal_frees_the_lease_it_continued,
    "renew a lease to the last day": _renew_a_lease_to_the_last_day,
    "escrow past the largest amount": _escrow_past_the_largest_amount,
}

CASES_4: dict[str, Callable[[World, bool], None]] = {  # edition 4's changes
    "lease from a listing confirmed fake": _lease_from_a_listing_confirmed_fake,
    "lease from a withdrawn listing": _lease_from_a_withdrawn_listing,
    "lease from an expired listing": _lease_from_an_expired_listing,
    "lease from a listing whose mandate ended": _lease_from_a_listing_whose_mandate_ended,
    "lease from an agency's listing signed by the owner": _lease_from_an_agencys_listing_signed_by_the_owner,
    "lease through one agency from another's listing": _lease_through_one_agency_from_anothers_listing,
    "sublease from a listing": _sublease_from_a_listing,
    "lease from live listings": _lease_from_live_listings,
}


def _subtenant_told_when_cut(w: World, old: bool) -> None:
    """A sublease cut short because its parent lease ended: from edition 5 its subtenant hears it (a
    ``lease.terminated`` of the sublease, mode ``parent_ended``); before, only the parent's sides did."""
    c = w.chain
    parent = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w)).txid[:16]
    fields = lease_fields(w, start="2026-03-01", end="2026-06-30")
    fields.update(landlord=w.tenant.public_hex, tenant=w.tenant2.public_hex, parent=parent)
    sub = c.do(w.tenant, "lease.sign", [w.tenant2, w.owner], **fields).txid[:16]
    c.do(w.owner, "lease.terminate", [w.tenant], lease=parent, mode="mutual", on="2026-04-30", reason_hash=H)
    told = [(e.data["lease"], e.data["mode"], e.data["on"]) for e in c.events
            if e.kind == "lease.terminated" and w.tenant2.public_hex in e.parties]  # fmt: skip
    assert told == ([] if old else [(sub, "parent_ended", "2026-04-30")])


def _mutual_end_cuts_a_sublease_without_its_notice(w: World, old: bool) -> None:
    """From edition 7 ending a lease by agreement cuts its sublease only with the sublease's own
    notice, unless the subtenant signs too; before, the sublease was cut whatever its notice."""
    c = w.chain
    parent = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w)).txid[:16]
    fields = lease_fields(w, start="2026-03-01", end="2026-12-31", notice_days=60)
    fields.update(landlord=w.tenant.public_hex, tenant=w.tenant2.public_hex, parent=parent)
    sub = c.do(w.tenant, "lease.sign", [w.tenant2, w.owner], **fields).txid[:16]
    c.day = "2026-03-10"
    end = {"lease": parent, "mode": "mutual", "on": "2026-04-30", "reason_hash": H}  # 51 days: short of 60
    got = _outcome(w, w.owner, "lease.terminate", (w.tenant,), **end)
    assert got == ("ok" if old else "NOTICE_TOO_SHORT")
    if not old:
        assert c.get(layout.lease(sub))["ends_on"] == "2026-12-31"  # type: ignore[index]
        assert _outcome(w, w.owner, "lease.terminate", (w.tenant, w.tenant2), **end) == "ok"  # the subtenant agrees
    assert c.get(layout.lease(sub))["ends_on"] == "2026-04-30"  # type: ignore[index]


def _refused_prepayment_hands_its_escrow_back(w: World, old: bool) -> None:
    """From edition 7 a refused rent payment that collected months ahead under escrow takes them out
    of the lease's running escrow total. Edition 6 kept them counted: the months paid ahead later
    were added to a year never collected, and the attestation fell short. Before edition 6 nothing
    can be refused (``UNKNOWN_KIND``)."""
    c = w.chain
    mid = w.grant(w.agency_a, to="2028-12-31")
    fields = {**lease_fields(w, start="2026-02-01", end="2027-12-31", collector="agency"), "mandate": mid}
    lid = c.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    c.do(w.bank, "bank.attest_escrow", lease=lid, purpose="rent", amount=12 * 900_000, account_commitment=H)
    pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=12, amount=12 * 900_000).txid[:16]
    if _rules(w) < 6:
        assert _outcome(w, w.agent_a, "payment.refuse", payment=pay, reason_hash=H) == "UNKNOWN_KIND"
        return
    c.do(w.agent_a, "payment.refuse", payment=pay, reason_hash=H)
    c.day = "2026-07-04"  # February to June lived unpaid: the year paid again, six months of it ahead
    c.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=12, amount=12 * 900_000)
    more = {"lease": lid, "period": "2027-02", "months": 5, "amount": 5 * 900_000}  # 11 months ahead in all
    assert _outcome(w, w.tenant, "rent.pay", **more) == ("BANK_ATTESTATION_REQUIRED" if old else "ok")


CASES_7: dict[str, Callable[[World, bool], None]] = {  # edition 7's changes
    "sublease cut without notice": _mutual_end_cuts_a_sublease_without_its_notice,
    "refused prepayment escrow": _refused_prepayment_hands_its_escrow_back,
}


def _points(w: World, who: Any, factor: str) -> int:
    rec = w.chain.get(layout.credit(who.public_hex))
    return 0 if rec is None or factor not in rec["factors"] else int(rec["factors"][factor]["points"])


def _voided_sublease_credit(w: World, old: bool) -> None:
    """From edition 8 a registered sublease voided with its parent gives its registration credit back
    (-5 for each of its sides); before, only the lease ``lease.terminate`` names did (edition 5)."""
    c = w.chain
    parent = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05")).txid[:16]
    fields = lease_fields(w, start="2026-03-01", end="2026-12-31")
    fields.update(landlord=w.tenant.public_hex, tenant=w.tenant2.public_hex, parent=parent)
    sub = c.do(w.tenant, "lease.sign", [w.tenant2, w.owner], **fields).txid[:16]
    c.do(c.authority, "lease.register", lease=sub)
    end = {"lease": parent, "mode": "mutual", "on": "2026-02-27", "reason_hash": H}  # the sublease not begun
    assert _outcome(w, w.owner, "lease.terminate", (w.tenant, w.tenant2), **end) == "ok"
    voided = c.get(layout.lease(sub))
    assert voided is not None and voided["start"] > voided["ends_on"]
    assert (_points(w, w.tenant, "leases_registered"), _points(w, w.tenant2, "leases_registered")) == (
        (5, 5) if old else (0, 0)
    )


def _on_time_before_a_void_lease(w: World, old: bool) -> None:
    """From edition 8 the rent_on_time a lease earned before it began goes back when it is called off
    before it began; before, the tenant kept it. (Editions 1 and 2 cannot call a lease off.)"""
    c = w.chain
    c.day = "2026-02-20"
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-03-01", end="2027-02-28")).txid[:16]
    c.do(c.authority, "lease.register", lease=lid)
    pay = c.do(w.tenant, "rent.pay", lease=lid, period="2026-03", months=1, amount=900_000).txid[:16]
    c.do(w.owner, "payment.confirm", payment=pay)
    assert _points(w, w.tenant, "rent_on_time") == 2
    off = {"lease": lid, "mode": "mutual", "on": "2026-02-28", "reason_hash": H}
    if _rules(w) < 3:
        assert _outcome(w, w.owner, "lease.terminate", (w.tenant,), **off) == "INVALID_FIELD"
        return
    assert _outcome(w, w.owner, "lease.terminate", (w.tenant,), **off) == "ok"
    assert _points(w, w.tenant, "rent_on_time") == (2 if old else 0)


def _deposit_settled_on_a_void_lease(w: World, old: bool) -> None:
    """From edition 8 the collector earns no deposit_settled on a lease called off before it began;
    editions 3 to 7 credited it on a registered one. (Editions 1 and 2 cannot call a lease off.)"""
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-02-01", end="2027-01-31")).txid[:16]
    c.do(c.authority, "lease.register", lease=lid)
    pay = c.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    c.do(w.owner, "payment.confirm", payment=pay)
    off = {"lease": lid, "mode": "mutual", "on": "2026-01-31", "reason_hash": H}
    if _rules(w) < 3:
        assert _outcome(w, w.owner, "lease.terminate", (w.tenant,), **off) == "INVALID_FIELD"
        return
    c.do(w.owner, "lease.terminate", [w.tenant], **off)
    c.day = "2026-01-31"
    c.do(w.owner, "deposit.return", lease=lid, deductions=[])
    c.do(w.tenant, "deposit.accept", lease=lid)
    assert _points(w, w.owner, "deposit_settled") == (5 if old else 0)


def _listing_into_a_let_tenancy(w: World, old: bool) -> None:
    """From edition 8 a listing published after the unit was let for a later period stops being live
    when that tenancy begins (``let_from``); before, it stayed live for its 60 days."""
    from anju.registry.status import listing_status

    c = w.chain
    c.day = "2026-01-02"
    c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-02-02", end="2027-02-01"))
    terms = listing_terms(available_from="2026-01-02", min_term_months=1)
    lid = c.do(w.owner, "listing.publish", unit=w.unit, **terms).txid[:16]
    listing = c.get(layout.listing(lid))
    assert listing is not None
    assert listing_status(listing, None, "2026-02-01") == ("live", None)
    assert listing_status(listing, None, "2026-02-20") == (("live", None) if old else ("revoked", "leased"))


def _renew_into_exclusive_dates(w: World, old: bool) -> None:
    """From edition 8 ``listing.renew`` checks another agency's upcoming exclusive mandate against the
    renewed term, as ``listing.publish`` does from edition 5; before, it was renewed."""
    c = w.chain
    ma = w.grant(w.agency_a, to="2026-06-30")
    terms = listing_terms(available_from="2026-01-05", min_term_months=3)
    lid = c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=ma, **terms).txid[:16]
    w.grant(w.agency_b, exclusive=True, **{"from": "2026-07-01", "to": "2026-12-31"})
    c.day = "2026-05-01"  # the term, three months from today, runs into B's July
    assert _outcome(w, w.agent_a, "listing.renew", listing=lid) == ("ok" if old else "EXCLUSIVE_MANDATE")


def _deposit_never_confirmed(w: World, old: bool) -> None:
    """From edition 8 the tenant's deposit dispute after the end settles a deposit still ``lodged``
    (never confirmed nor refused), and it can no longer be confirmed; before, it stayed lodged."""
    c = w.chain
    lid = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-01-05", end="2026-01-31")).txid[:16]
    pay = c.do(w.tenant, "deposit.lodge", lease=lid, amount=900_000).txid[:16]
    c.day = "2026-04-01"
    did = c.do(w.tenant, "dispute.open", lease=lid, subject="deposit", evidence=[H], claim=900_000).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=did, outcome="upheld", award=900_000, decision_hash=H2)
    lease = c.get(layout.lease(lid))
    assert lease is not None
    assert (lease["deposit_status"], lease["deposit_returned"]) == (("lodged", None) if old else ("decided", 900_000))
    assert _outcome(w, w.owner, "payment.confirm", payment=pay) == ("ok" if old else "ALREADY_DONE")


def _escrow_over_a_renewal(w: World, old: bool) -> None:
    """From edition 8 the rent escrow counts the months paid ahead on the lease a renewal continues;
    before, the renewal's own months only (edition 1: this payment's amount)."""
    c = w.chain
    mid = w.grant(w.agency_a)
    first = {**lease_fields(w, collector="agency", start="2026-01-05", end="2026-04-30"), "mandate": mid}
    l1 = c.do(w.agent_a, "lease.sign", [w.tenant], **first).txid[:16]
    terms = {k: v for k, v in lease_terms(collector="agency").items() if k != "start"}
    l2 = c.do(w.agent_a, "lease.renew", [w.tenant], previous=l1, **{**terms, "end": "2026-12-31"}).txid[:16]
    c.do(w.tenant, "rent.pay", lease=l1, period="2026-01", months=4, amount=4 * 900_000)
    c.do(w.bank, "bank.attest_escrow", lease=l2, purpose="rent", amount=8 * 900_000, account_commitment=H2)
    pay = {"lease": l2, "period": "2026-05", "months": 8, "amount": 8 * 900_000}
    assert _outcome(w, w.tenant, "rent.pay", **pay) == ("ok" if old else "BANK_ATTESTATION_REQUIRED")


CASES_8: dict[str, Callable[[World, bool], None]] = {  # edition 8's changes
    "voided sublease credit": _voided_sublease_credit,
    "on time before a void lease": _on_time_before_a_void_lease,
    "deposit settled on a void lease": _deposit_settled_on_a_void_lease,
    "listing into a let tenancy": _listing_into_a_let_tenancy,
    "renew into exclusive dates": _renew_into_exclusive_dates,
    "deposit never confirmed": _deposit_never_confirmed,
    "escrow over a renewal": _escrow_over_a_renewal,
}


CASES_5: dict[str, Callable[[World, bool], None]] = {  # edition 5's changes
    "listing from a past available_from": _listing_from_a_past_available_from,
    "lease through an agency that did not sign": _lease_through_an_agency_that_did_not_sign,
    "registered lease called off": _registered_lease_called_off,
    "rent on time outside a registered tenancy": _rent_on_time_outside_a_registered_tenancy,
    "agency acts beyond its mandate": _agency_acts_beyond_its_mandate,
    "another agency's exclusive dates": _another_agencys_exclusive_dates,
    "agency ends a lease for a suspended owner": _agency_ends_a_lease_for_a_suspended_owner,
    "escrow for a lease that holds no money": _escrow_for_a_lease_that_holds_no_money,
    "deposit never returned": _deposit_never_returned,
    "collector's own deposit dispute": _collectors_own_deposit_dispute,
    "rent escrow used again a year later": _rent_escrow_used_again_a_year_later,
    "arrears paid at once": _arrears_paid_at_once,
    "subtenant told when cut": _subtenant_told_when_cut,
}

CASES_6: dict[str, Callable[[World, bool], None]] = {  # edition 6's changes
    "unconfirmed rent leaves its months owed": _unconfirmed_rent_leaves_its_months_owed,
    "receiver refuses a rent payment": _receiver_refuses_a_rent_payment,
    "receiver refuses a deposit": _receiver_refuses_a_deposit,
    "sub-sublease behind its landlord's back": _sub_sublease_behind_its_landlords_back,
    "licence revoked": _licence_revoked,
}

CASES_9: dict[str, Callable[[World, bool], None]] = {  # edition 9's changes
    "personal data in clear text": _personal_data_in_clear_text,
}


SINCE = {
    **dict.fromkeys(CASES, 2),
    **dict.fromkeys(CASES_3, 3),
    **dict.fromkeys(CASES_4, 4),
    **dict.fromkeys(CASES_5, 5),
    **dict.fromkeys(CASES_6, 6),
    **dict.fromkeys(CASES_7, 7),
    **dict.fromkeys(CASES_8, 8),
    **dict.fromkeys(CASES_9, 9),
}
ALL_CASES = {**CASES, **CASES_3, **CASES_4, **CASES_5, **CASES_6, **CASES_7, **CASES_8, **CASES_9}

BEFORE_EDITIONS = {
    # Each case's state root on edition 1, as the build before the first edition-2 change computed
    # it: commit 6a08892 (9b10d45^), running this file's CASES with its own harness:
    #   git worktree add /tmp/old 6a08892 && cp tests/registry/test_editions.py /tmp/old/tests/registry/
    #   cd /tmp/old && PYTHONPATH=src python -c "from tests.registry.test_editions import print_roots; print_roots()"
    "suspended co-signer": "682a4113046b1af11813711d94968585bb3770a5fa53c3928bf64d4ea313d4d2",
    "twenty years": "104ffb774bc99ee0f14b7d6f933d4527198267f5d455dc855c4bf19c609e611c",
    "renew over a revoked mandate": "7c8e7b2372d93e077321b80e03a7b3b3c444ddd5548d6c43f9b3d7cd7e69ea6b",
    "renew beside another listing": "d22f429480b9ee2c82fb15bd50b144137bfecf6911e87cb0f5f55f1005b3342a",
    "free on the first day only": "c6e34f0fd93c2b41f42639fc0651c5ef41b0133d871474b3f6a2f259cd1d323a",
    "escrow of earlier prepayments": "4627ebd4696618fc07a05d983901c2c66a46660091653598e322ef4b55dbee16",
    "decided deposit dispute": "7d3be878c6d174d0b6a346f95d56fa942ea83a44134618dc74f8e3bf3cb97ed0",
    "months in other digits": "cbb9c9cb03612ba8a2e841da931cff965047d65816aad594eae89e53bef2f323",
}


def print_roots() -> None:
    """Print each case's edition-1 state root (how :data:`BEFORE_EDITIONS` was made)."""
    for name, case in CASES.items():
        w = _world(None)
        case(w, True)
        print(f"    {name!r}: {w.chain.root()!r},")


BEFORE_EDITION_3 = {
    # Each edition-3 case's state root on editions 1 and 2, as the build before edition 3 computed
    # it: commit d0fc676, running this file's CASES_3 with its own harness:
    #   git worktree add /tmp/old d0fc676 && cp tests/registry/test_editions.py /tmp/old/tests/registry/
    #   cd /tmp/old && PYTHONPATH=src python -c \
    #     "from tests.registry.test_editions import print_roots_3; print_roots_3()"
    ("agency ends a lease it may not sign", 1): "a505c89734e18ebd578e450f3de8aad4640531bdce5bc5a45ccabefefbb0cf47",
    ("agency ends a lease it may not sign", 2): "0027dee12a4cdf8476577fdde251af442691e9c6e6acf80305b012629f14b66c",
    ("mutual end through a revoked mandate", 1): "ca222d623d2f8ae3b54d463294809c6a8a111404569b3d34a1e1f9226c0d73c6",
    ("mutual end through a revoked mandate", 2): "9139ae9c35cfca68f5314d0957d60463f733330533a98d31612f2eb321fb9a2d",
    ("called off before it starts", 1): "94148f4accc8b8f0148e6d2c32f37265fcc086fcbe39d5df66c9796e08969587",
    ("called off before it starts", 2): "da0b42cf0837a05e7930b16a6d22116c0d115c616d5bf39a471f75f804aa9e02",
    ("backdated lease", 1): "0e7d7d37eea64082259df62aa418984f4c8d98e83f0528d2371d2a9f5f644873",
    ("backdated lease", 2): "e4cd5ae30c97e87139c5516cd19b9914320b4ab99a0c763b16c1061b6b70248b",
    ("credit from an unregistered lease", 1): "5e85535ecd4a0d324fa51a09b0bbb80a4e342adac92f5730e3a8c421f55ac85f",
    ("credit from an unregistered lease", 2): "76ec3302e2ca75ce60b540e525d9993e36149f17e243095bd52b57d242b5acf9",
    ("rent paid far ahead", 1): "ab651b9727b6b458e63602a2f1a6243793b72c5f5b430552128583ab1238d368",
    ("rent paid far ahead", 2): "48b4c758011c4121b92ff81da89b5feea02f9d1108172a2d76f945d99e647628",
    ("fake listing confirmed twice", 1): "b098973990b80f15c70f83b7c373912fa830afb26f84d17578b515a610c0b90b",
    ("fake listing confirmed twice", 2): "5c7a3b6c2b92c8825203712df38dcba7030984ffd85f5eb78dacdfbd3fa92142",
    ("first month paid on the first day", 1): "bad14544815fc9f541235633ddcf3393772470715892e22050e2c0c349c2a36e",
    ("first month paid on the first day", 2): "142badf162d27d95535aaa45641ef343e2b4742b7fecc987db82a415bebb3998",
    ("owner disputes a sublease", 1): "16edeaad5875d30b5cefc0682822f653d8364768f1ad0bf2ade59850969426d1",
    ("owner disputes a sublease", 2): "c371bc0cf70ca0ba7c02c760f87c5901a70924a83862f22292ed52ea7bb59a7f",
    ("agency signs for a suspended owner", 1): "571826abeb8977725c1ea2de9036dae368f8474eecb6006b5e78e5135fd46e6e",
    ("agency signs for a suspended owner", 2): "0e347c983b76342b08c6205b2640893fb69f490bc623bd7106961d6dfbbde2f9",
    ("unattested agent", 1): "27237e1cac76955665f064e519f3e9d361aa2d13c5c3cd2aed96887a8d5ec2bd",
    ("unattested agent", 2): "2589f947a94583200c45a376dff0ffb6d5036492303e786d3e318f7230eec9ed",
    ("hidden characters in text", 1): "6b51214f2de5ec9f26b8da949b842f59dce12d98f2d2a5a0cc189a2dec846049",
    ("hidden characters in text", 2): "6d0fb2d292b5ba32fc720f9823e7a45e7bd45756de7405fa2b71a4226f815cdb",
    ("nothing paid on a voided lease", 1): "ab67e0f4aee45c90b815b9553c02add0c175557d5951eb123e837d1f19a76e9b",
    ("nothing paid on a voided lease", 2): "cbcb6b162ba50de9227fcd10eef08411594094d4fde069f8bbb95f677cea1c86",
    (
        "a voided renewal frees the lease it continued",
        1,
    ): "d59be671bb98ff6b07dde55e8d68de8d439f03fe7ab5f406385bb038b7e1c866",
    (
        "a voided renewal frees the lease it continued",
        2,
    ): "9915f630648c9c2264a15608f058c832ec29662027f49586c8607a414ec0c6c9",
    ("renew a lease to the last day", 1): "c53e482f3e1e1a29ef104ad27fc237af0bbac346f08fea0162bbc25a02fc8ee6",
    ("renew a lease to the last day", 2): "367a471f7d9edcc8ad4d285995c7e48c3bafa45ffc1f871fce0fd4f302943722",
    ("escrow past the largest amount", 1): "a36fb691cb02676905e8f6d68d4d5aa9ca9b5fe2c269162324433769171d2995",
    ("escrow past the largest amount", 2): "2525bcb19afbe6329b5f0dc1c5552fc993b190506c64a89f69561a36bfa289ac",
}


def _print_roots(cases: dict[str, Any], editions: tuple[int | None, ...]) -> None:
    for name, case in cases.items():
        for rules in editions:
            w = _world(rules)
            case(w, True)
            print(f"    ({name!r}, {rules or 1}): {w.chain.root()!r},")


def print_roots_3() -> None:
    """Print each edition-3 case's state roots on editions 1 and 2 (how :data:`BEFORE_EDITION_3` was made)."""
    _print_roots(CASES_3, (None, 2))


BEFORE_EDITION_4: dict[tuple[str, int], str] = {
    # Each edition-4 case's state root on editions 1, 2 and 3, as the build before edition 4 computed
    # it: commit 135b608, running this file's CASES_4 with its own harness:
    #   git worktree add /tmp/old 135b608 && cp tests/registry/test_editions.py /tmp/old/tests/registry/
    #   cd /tmp/old && PYTHONPATH=src python -c \
    #     "from tests.registry.test_editions import print_roots_4; print_roots_4()"
    ("lease from a listing confirmed fake", 1): "31639a1a19d3ccce2884ece9a70f0ce6b31967b8afc052ed01251f2691fce00a",
    ("lease from a listing confirmed fake", 2): "c67994a91a159b45b18f7accf3684c2c1562819a6a96bc467abbecb9d08cb658",
    ("lease from a listing confirmed fake", 3): "cdc520aa73dfb9a2436a9c3d8f0fc200ce652eb2b7f1cff265a5fb7ef6f2c314",
    ("lease from a withdrawn listing", 1): "399140d7a36cda163c5536acfe606433535326278aad95e052067d1e80519bf1",
    ("lease from a withdrawn listing", 2): "3e261676cc38c78bb53e290271cbe9f26c861c256e5cc709db424e3dd26ddac4",
    ("lease from a withdrawn listing", 3): "c3e6410d589c4c36fc1bc2af4417780bcdd2f15dec8debc70057f209e7db0675",
    ("lease from an expired listing", 1): "bb63d70968744ff977f583b5473af60b613f2f1e7c74f0731f6e18e7f4ec5e92",
    ("lease from an expired listing", 2): "be364f34906ad878977df39a947f4d4571e3a6867ca120f1ca6d4ae18a227b63",
    ("lease from an expired listing", 3): "68d3a3c1bd8d7a4e99cdd58b680ab611204b9d6ed04224bb04d7712a2e17c754",
    ("lease from a listing whose mandate ended", 1): "e08bf2e50f0ab57ed60f937f9ddca6997d40d279aa37295fcaf2eae3f886322e",
    ("lease from a listing whose mandate ended", 2): "8ecacc3f9b56c402c4fda4b84fabe1015515218f4a1e67df5fdb5e3cdb032974",
    ("lease from a listing whose mandate ended", 3): "3dc7267f4a83de1243404e2e086db88ec892773d4af9213abed64065f2720965",
    (
        "lease from an agency's listing signed by the owner",
        1,
    ): "0f97dad27120152a994aef123d3a120603024d1d8eb219afe54851ba50e5ab67",
    (
        "lease from an agency's listing signed by the owner",
        2,
    ): "f06947e57c119bb767208dfe1e589f65aedcd9afeeacb7cbc6008a169af96660",
    (
        "lease from an agency's listing signed by the owner",
        3,
    ): "aa4bd2768c925912a6dff554e3581899cb3c529dd1bce3e552856d68bacc736e",
    (
        "lease through one agency from another's listing",
        1,
    ): "9737430badeb03afcbc56635bdce4774366afccec1158a75e3c183fa5ffb9521",
    (
        "lease through one agency from another's listing",
        2,
    ): "2175be8871c0a7072eec15e3a6c9cc363953515c2d5034b4db7c32458eca613d",
    (
        "lease through one agency from another's listing",
        3,
    ): "70f508ad7de46986d73698e86ee88fad3d2e018a06d08e3aee6cc055c0c7986a",
    ("sublease from a listing", 1): "e96925f0a346913a690251bf51672483445d2a4161cedbc23e74c8a5cd1a3b3e",
    ("sublease from a listing", 2): "78d427d5eeaeabb2c531110b25b68190be63054b1f321893ac23b3eeedc01ece",
    ("sublease from a listing", 3): "6f5d1b3d6360da49c57d93465ad7d8fd87f984ab51d70492ed157bf229ecc247",
    ("lease from live listings", 1): "fa3eefaeae727ab87671ab28e2dffd8c352af9bcca389f66afb485e5750345bf",
    ("lease from live listings", 2): "f2b3bd580a7273dacdbe4e242b6814c34008e050e9e57bf6ea7bbd49f060cf2e",
    ("lease from live listings", 3): "6adb5d30f1c1e11dd3026c009187def42eef1a9d9330005734884f1e0ee59233",
}


def print_roots_4() -> None:
    """Print each edition-4 case's state roots on editions 1 to 3 (how :data:`BEFORE_EDITION_4` was made)."""
    _print_roots(CASES_4, (None, 2, 3))


BEFORE_EDITION_5: dict[tuple[str, int], str] = {
    # Each edition-5 case's state root on editions 1 to 4, as the build before edition 5 computed
    # it: commit 709b935 (the rules of edition 4), running this file's CASES_5 with its own harness:
    #   mkdir /tmp/old && git archive 709b935 src | tar -x -C /tmp/old
    #   PYTHONPATH=/tmp/old/src python -c "from tests.registry.test_editions import print_roots_5; print_roots_5()"
    ("listing from a past available_from", 1): "9421e6ffc67db38cb9d87fba3daade983bc31b3a04e256d7777b81220b9035e4",
    ("listing from a past available_from", 2): "dc93302601678bf03abf6b2c1a88066cf72f920385c5f8c07b6a316f71d3f8b4",
    ("listing from a past available_from", 3): "ac2bef63f6290865c5990b37224c05e31e06fffaa2ccf79cda06fefa6ac66446",
    ("listing from a past available_from", 4): "a379e0730c7f9392f1dd77f3881b26b2d7cc390ef823b00f948a5cc6515b36a9",
    (
        "lease through an agency that did not sign",
        1,
    ): "c165d1962b3941670e571d408902caf23e10d068920f283ca7c75d8e3f1b798b",
    (
        "lease through an agency that did not sign",
        2,
    ): "1cdfbf7ac568099045da117b468a72a6a3829ef13d59879feeeb7222b53a78b3",
    (
        "lease through an agency that did not sign",
        3,
    ): "780775d2f0b9cd2a1c86b2ff016494f62e7147d1b9684bf6f10588f29dbaae78",
    (
        "lease through an agency that did not sign",
        4,
    ): "5b066acc299389fc40f02c6773efad12719544944c28f9595754f125ef6bfe82",
    ("registered lease called off", 1): "ec518aa2567615507f2fd2d670b7b4c029aae57e229298efb2651828c77d66db",
    ("registered lease called off", 2): "9b79d6c8deca50c0d08121ea31b2e0e0b266226719a136a76b8472325e5744a4",
    ("registered lease called off", 3): "814c2104615291f9b36e8177446fc5f72c547bbbcaeb2370297dcbcceb279b38",
    ("registered lease called off", 4): "3bfe4b826f97d7f15e7a7431af45401f7cf95b1479dbc7aad3b31a57808e7f79",
    (
        "rent on time outside a registered tenancy",
        1,
    ): "3e933bacc0a4402a065e5901662de86d10c6fff71b57f4938cfaf0b714e43ac5",
    (
        "rent on time outside a registered tenancy",
        2,
    ): "d189ceef91147d03972b84aedb73e07e2554924d8205baebc91a93d7d83a82be",
    (
        "rent on time outside a registered tenancy",
        3,
    ): "bb16fddfb14223ea2e20712fa6074f877fa868ff8c3cd2d760b1cc5531b66b07",
    (
        "rent on time outside a registered tenancy",
        4,
    ): "86794e10a3130d90e5456e03b1917ec3c593260ea2de2b299e2111ae21a57f34",
    ("agency acts beyond its mandate", 1): "e16111e1ca0e9781d92ec46bc46b73d1d519535434b0c63abdeef94007107e15",
    ("agency acts beyond its mandate", 2): "85c11a9504e671d996c8e1f87877015e84e85561194ebf7e5319a29472035f45",
    ("agency acts beyond its mandate", 3): "bf8093f931e5db84a2f6b6ee06359d756ee7d218e0095b2b8a81c16f88009c56",
    ("agency acts beyond its mandate", 4): "172a2b506dfe2d37fce3b2451d2bb396390c26d72eceadcca2cebe6c78d1a1ec",
    ("another agency's exclusive dates", 1): "8aeef6f69e1448748c3a3c61c52bf57c2a0f16697c156d52be41c7fbfdf198c4",
    ("another agency's exclusive dates", 2): "2ffb786fd8dd4c651e11ccbd352746fe6856bbd36a0c061b9553e90276782cc7",
    ("another agency's exclusive dates", 3): "bb3d363c16b34d30b39ed1b405936190376d3672d7cf615537f7330f4634673d",
    ("another agency's exclusive dates", 4): "97b32462717756d9674b42ae5590824dd6b909de315c3178e03deb6ed088cc20",
    (
        "agency ends a lease for a suspended owner",
        1,
    ): "3b46cee279335843f877c5e80aa069c3f11ce628fb35fbf9eb9b032dd52964de",
    (
        "agency ends a lease for a suspended owner",
        2,
    ): "9fda7b6cd0bb25c65e3a63c27cd3841a237722a3596a40a4f5f65bd0abe89ab7",
    (
        "agency ends a lease for a suspended owner",
        3,
    ): "ad2a98bdf4f775e3b68076957ae070c2053555108345f62a8e8f150ef29acee2",
    (
        "agency ends a lease for a suspended owner",
        4,
    ): "39c4c1cf4d7631854bd582930bb8a59446653739c7a8b0f4ff0542ea29a27e46",
    ("escrow for a lease that holds no money", 1): "7a94e35545f604f458d7cd3aa3a4b07f16ea51d3a477a02e14cb8931aa7c1568",
    ("escrow for a lease that holds no money", 2): "4ef121a65afeff9dabcb0e98b23d6460f94ff534790f0854a698bf53bcf61496",
    ("escrow for a lease that holds no money", 3): "27ddc2f3b2b76d06e4593ebcfc299d80bc4eaecad56ffa6b8f59fe02981048a3",
    ("escrow for a lease that holds no money", 4): "5b277dc87800e500665feee315bd81928a5b5233f7f286e82fd2584a834f35b1",
    ("deposit never returned", 1): "4e8b7f7bf03197cc10910282ca933deeba5670e739fc7c99f513df30b9e1356b",
    ("deposit never returned", 2): "1db18402e6cb739be26ef5b8f567a6086dc1bc40217d0d9a004e3e7dbad1d9fc",
    ("deposit never returned", 3): "ff3eaa9a80192e64c022ec6c04ffaa28529f809b467ee74536f3ffcb2406dea8",
    ("deposit never returned", 4): "db8e24f634fd50d718d85ae889dcb084192de4d9ffae4ab32a92b23df2f092cd",
    ("collector's own deposit dispute", 1): "307ab0c2141dc10a223e48f85794a5105e45a665769fbccfe111042edb568130",
    ("collector's own deposit dispute", 2): "e009d4387ae17f9c3a44b38fcb56c1f80925f9a31e848d8e9af66f5237688517",
    ("collector's own deposit dispute", 3): "633fbf0c56487fae53f93a4e6b399338e146351ba57b5ecebcb30559065d10ae",
    ("collector's own deposit dispute", 4): "b20e9fafb66998a512131755f1966cf65148446d5b9451ee68ca7d0501867b98",
    ("rent escrow used again a year later", 1): "ade22a7d41093f2269c2d6ba809b87cf89cbe5511f30f5227b2a1dcb0977471d",
    ("rent escrow used again a year later", 2): "2cfaa28e43f8a77f6fef43695d2df8ee18c4c0b46af5447878df93268ddb59ba",
    ("rent escrow used again a year later", 3): "a69c9cbd99a18c978e00143734ebdbfa0032c694e3065b88a62920dd8b3b24e8",
    ("rent escrow used again a year later", 4): "e8806af35351c47fa141784ea115e715f34e65e73195d85b45a3f587ce22c0b4",
    ("arrears paid at once", 1): "de6469c3bc1182c56ccaab419cedd8cb9f6fd346294a446b71110655cb4f77b7",
    ("arrears paid at once", 2): "bfc9e281cf0838c6bd508c2b9260c14a637f37e35ad43845035fd3d3ee939561",
    ("arrears paid at once", 3): "32076364fa05274c4e8c50b816f7633dbac0e85af815e6f39f18b1380086de5e",
    ("arrears paid at once", 4): "7483d40df6bc2f35d5ebf8e14bd48ca8883b8ef108cb1895f9eb289b6a7899a2",
    ("subtenant told when cut", 1): "a7f7839460b757ac3210341fafa291a3f1cc3c82b0ef1e439866bee4e0d9f432",
    ("subtenant told when cut", 2): "19b1e4efc52979bf81b4bf6f2a0b939a0f93db4f93d244b6634e646d9291440d",
    ("subtenant told when cut", 3): "f90de2726b9eb0830aecd8f9b28b6ec07c6b1df415a31ba9a16e0136d02e71fb",
    ("subtenant told when cut", 4): "7e6dd2ed4126937740c31477d2c12d49e6b2e8c94fcc0ccc1676f2fce05457ed",
}


def print_roots_5() -> None:
    """Print each edition-5 case's state roots on editions 1 to 4 (how :data:`BEFORE_EDITION_5` was made)."""
    _print_roots(CASES_5, (None, 2, 3, 4))


BEFORE_EDITION_6: dict[tuple[str, int], str] = {
    # Each edition-6 case's state root on editions 1 to 5, as the build before edition 6 computed
    # it: commit b62b5f3 (the rules of edition 5), running this file's CASES_6 with its own harness:
    #   mkdir /tmp/old && git archive b62b5f3 src | tar -x -C /tmp/old
    #   PYTHONPATH=/tmp/old/src python -c "from tests.registry.test_editions import print_roots_6; print_roots_6()"
    ("unconfirmed rent leaves its months owed", 1): "b1c049e31e141f0d7ec06d639edc5e47bb7a61553b058a5d2c8f270b54f7f0de",
    ("unconfirmed rent leaves its months owed", 2): "eea53f609f9a352458eddcca297a02337b38e96614ba19ba116c647eb428c5e8",
    ("unconfirmed rent leaves its months owed", 3): "4b1f17d676b049020cbf7e1af866b2b6769ddfd6ccb3e866a0f71ccb4cf154d6",
    ("unconfirmed rent leaves its months owed", 4): "0c4b917958799b1465e395a0e8d76db0edb2450ed4f0d8ecaec06cf12f309693",
    ("unconfirmed rent leaves its months owed", 5): "cf7eae330e1f2c4a6f0e0a455989a1ca3013aac2a4da5ef5c2efd6a05de91200",
    ("receiver refuses a rent payment", 1): "76bf87d499f02c2b024289137ef43fc7984593e622efc1a471082b8476eecf60",
    ("receiver refuses a rent payment", 2): "1755ce06e75d0cac255f4754ede52a0b2753929df13466d9ba7cfb32097a8974",
    ("receiver refuses a rent payment", 3): "4bd1f07145ae68d9014f7834f2756b20516d0d73afa406419783099fc0407136",
    ("receiver refuses a rent payment", 4): "e15134027cf642d5d97aeea1daafff725d60c61fe15811fa1bf9b4aadf0f3496",
    ("receiver refuses a rent payment", 5): "79a19e0b42f9847ca77490e404f5e85018312b67767871e1721486e919c9cc66",
    ("receiver refuses a deposit", 1): "58ed19db5b11c40e9a4110cd6fd08991d5d8ecf83b31378e19c4a3ade3bc4221",
    ("receiver refuses a deposit", 2): "4b46f8fbfbe89d7864ef6c0b754fda062932486e38d0310940379a6e50ed2d44",
    ("receiver refuses a deposit", 3): "6e33941594e4e2161f9a1c70ec53c61ad0e98c9f7356e80e0653a509d9746da3",
    ("receiver refuses a deposit", 4): "a0830a9d9463bf3199fa0b62149c726444a4fa40d7d3c81665622591aac509f0",
    ("receiver refuses a deposit", 5): "0bfad68671f3c8ab7102fcf7bf61b45c91f6015a17e137d29367f77ca0405c52",
    ("sub-sublease behind its landlord's back", 1): "089dabae768ab8cbfb9d77a29ab98eb1266b0ec519946ab0e61b698d4adf376b",
    ("sub-sublease behind its landlord's back", 2): "83536f145621a89efed03c4530d40a26a231d0cb692cc2f3a0ad2f93a79e30e9",
    ("sub-sublease behind its landlord's back", 3): "9638d7e746bbec9d1446023fe74eba30cf7e99da60fd975a2dd6b9b59d8ef2a6",
    ("sub-sublease behind its landlord's back", 4): "9478c8d89f379367fc89320f91d433ea2a6580a132b6429fd5fda68595aaf4a5",
    ("sub-sublease behind its landlord's back", 5): "a3e01d0da532fedc032483529db3fcae4cf63a502f5bd2685c7180cd40ff5da0",
    ("licence revoked", 1): "7f3c8539180389d8f8ab43c091dc4a512f5bb5e8ab55b108238e6327c3e04601",
    ("licence revoked", 2): "48af82c3b0b15c3e24c5723ffc7c7e71cc8df4ef52a4ecf5a82832ad376c0dc8",
    ("licence revoked", 3): "9e5c44404a7ee95a73fcc8250cb6104e9919a440d51089a72837e8df1892a7db",
    ("licence revoked", 4): "4bef09809d25167cb6c9d76fa91e8fbd05bf08a900c78870ade214a7c04fafe5",
    ("licence revoked", 5): "03f888dc492dea925b835b1de52d64d4ce5dc81ac32f67b5ea9e923d32fba401",
}


def print_roots_6() -> None:
    """Print each edition-6 case's state roots on editions 1 to 5 (how :data:`BEFORE_EDITION_6` was made)."""
    _print_roots(CASES_6, (None, 2, 3, 4, 5))


BEFORE_EDITION_7: dict[tuple[str, int], str] = {
    # Each edition-7 case's state root on editions 1 to 6, as the build before edition 7 computed
    # it: commit 931502a (the rules of edition 6), running this file's CASES_7 with its own harness:
    #   mkdir /tmp/old && git archive 931502a src | tar -x -C /tmp/old
    #   PYTHONPATH=/tmp/old/src python -c "from tests.registry.test_editions import print_roots_7; print_roots_7()"
    ("sublease cut without notice", 1): "a1d6f873ce275d04835330b17b043ddb110f3a686645e6b40f72cb7bce0d8288",
    ("sublease cut without notice", 2): "9b2effceb399374fb1eaecb9f6bfd53e74a7a8129feff6580a2b1da9292b063b",
    ("sublease cut without notice", 3): "cdb1c9d29789f358c430a669cdee917f25f53eb241a2988fceecf4ad1483052d",
    ("sublease cut without notice", 4): "d384a53e5cb6dd75b3adf61dc0b3a2f3460d3aacda834da63d37f315d4574e3e",
    ("sublease cut without notice", 5): "9e99f7219fecb9bd84da37b8b875d55195722767c1267f1a9d8fbba12b8f7161",
    ("sublease cut without notice", 6): "bfaa88d21a6716853e3820c941e660c74eb1222fb1f2686d14dc9e5d6f7c03fa",
    ("refused prepayment escrow", 1): "46ecbde8e6491fdf67d2ff7074551b2c8fdd26c634f7efc4016ed23fade0b633",
    ("refused prepayment escrow", 2): "cf1a946282949d402b7de0cfa4678d58099af819416b115ea48cc8f4ef4cf818",
    ("refused prepayment escrow", 3): "f231e680d4368c18d261f4dea644fe55c45fd87ad3730904beaff5ec2a8c34ad",
    ("refused prepayment escrow", 4): "78fd175523a77b1d3ebdd092e2df01d2d9456ec5c457c4d233a6990f41cf2c45",
    ("refused prepayment escrow", 5): "c9e873499a3a09f3c8348e998663ffc51513d337325c51847dc32ef0e0a31a0c",
    ("refused prepayment escrow", 6): "0709a35047362e9369660d899de217eb9105f507ec9c905911eab54d174ac07d",
}


def print_roots_7() -> None:
    """Print each edition-7 case's state roots on editions 1 to 6 (how :data:`BEFORE_EDITION_7` was made)."""
    _print_roots(CASES_7, (None, 2, 3, 4, 5, 6))


BEFORE_EDITION_8: dict[tuple[str, int], str] = {
    # Each edition-8 case's state root on editions 1 to 7, as the build before edition 8 computed
    # it: commit cd4a851 (the rules of edition 7), running this file's CASES_8 with its own harness:
    #   mkdir /tmp/old8 && git archive cd4a851 src | tar -x -C /tmp/old8
    #   PYTHONPATH=/tmp/old8/src python -c "from tests.registry.test_editions import print_roots_8; print_roots_8()"
    ("voided sublease credit", 1): "7a015c3a87d7ec54c8181dc39619dadc5ce9e768f7236f9735137554fd69b7b8",
    ("voided sublease credit", 2): "05fa07768adbfefe9730d3f62576f5b7fa55c5a7ab8e669c15d3deed3c967e55",
    ("voided sublease credit", 3): "4ec0df38b71db4b7931b1d0fc280c1f15f32e58b355d48fd1e0115c859ce56c7",
    ("voided sublease credit", 4): "14be56ff5d8352aad5c39afbd582b8e39491aa3b79dce808222294c72aade637",
    ("voided sublease credit", 5): "e1cf79a140ad0a1143a6ab229531515d4e669c523906253d9c4b8ad10163b37b",
    ("voided sublease credit", 6): "318d55c92f3048f295b0d0ceb24e9e3657e373857eb1cc3dcc64231a290664b9",
    ("voided sublease credit", 7): "6fca7f04fd032d876aa6571f74ec3c44e9789d699294cc685169beb8b935b6f4",
    ("on time before a void lease", 1): "498b4ad00023a36eec7b11752d6ec68430f9a2699f0a7f6cd5a4b8dad9240db5",
    ("on time before a void lease", 2): "43984e23acbd32e1093756fa2cfdceeaa0b5f9d93df6cb943ef8b0a52f434c81",
    ("on time before a void lease", 3): "617cd30e1360f764e5dd6a4a136b962c5ae3f72bd9ebbc21b3c83c20901ab76f",
    ("on time before a void lease", 4): "f111af9fa84de51ecade80b958bf19556cc5b85b15312cdb10fb8f9fc64e1a87",
    ("on time before a void lease", 5): "2c8f60d96aaf5b6267f30f89e1826adef4a283098765b6eb4ca7c11e0e038d2d",
    ("on time before a void lease", 6): "ced6bda5a8bf1eccd429dc36f58f8a1044e84879b16c5cc72f63e973e15cb0b0",
    ("on time before a void lease", 7): "5533199e004ab6f8ecee97eeac19bdfb3d169bcf33026811949df1fda069201f",
    ("deposit settled on a void lease", 1): "59e9f1db15fb4e62c4c8cd9b2e68cc13bd024cd3ce9af814509dff25d91d03df",
    ("deposit settled on a void lease", 2): "41460de83f79e072007dc4bb2da383cd156eb5031c92a18d0d54ceda498b3266",
    ("deposit settled on a void lease", 3): "edb7a825fce101ff53ff8835590fd30e20c786b0fa653f342aff47c5c51bc001",
    ("deposit settled on a void lease", 4): "cc2a518d110b235ed89002a487da43626eab29b70af0c5f481ccff473734a4e6",
    ("deposit settled on a void lease", 5): "fed4c55450794d5bfc751c586f7e7c0f2888d97271e7ec6309d4bc7e9063d01e",
    ("deposit settled on a void lease", 6): "b99b0e7b4e2fcff136c0c5341c0fa70105ec96dfd4962eee9a78df9cd6c3b0da",
    ("deposit settled on a void lease", 7): "bcef3fc73968d0c5330f7fcc0c7adfb5e21a8893ebcc8ec59ac0b9ccc1ed9ff1",
    ("listing into a let tenancy", 1): "1425c09283f7f03c692b47ad1ca9c85eb197a0465f0b63944b1bbb99edbbfec1",
    ("listing into a let tenancy", 2): "aaa141e3980a06e2b05488b7615cf6c456f164b7519fa39b86d90850c1321c5e",
    ("listing into a let tenancy", 3): "fb36e853612c003831ae306aec957ef20487fbace16dbd91712537d73aa2222e",
    ("listing into a let tenancy", 4): "0d6d101171bd1b68f0d98433400099e1ffbea85697eec7cdeb3156ba4b22854e",
    ("listing into a let tenancy", 5): "e0399ab873fe4d5cf15e800fad0203120bea6c27ed4c9e5bdafe29f73d6ffdb8",
    ("listing into a let tenancy", 6): "58f27402cfffb1f6157e7dafe071acbc22396142e5b967c5eb805ac5dcb99e5e",
    ("listing into a let tenancy", 7): "e1ae6c027fd4de9e8961bdd9edba2634b7be234fa4d0ef1332c4ebf7c939fbcb",
    ("renew into exclusive dates", 1): "cf00bcff672c5881f9e59f9cc29b407bc72f2f9738efffcec8b98f43a961234a",
    ("renew into exclusive dates", 2): "8799f80435583682c02c86526b04d8b946f78908032fd4b77ac7e8222696b54b",
    ("renew into exclusive dates", 3): "dcaafdd8fe79227b1459decd2d079a1dec173f3bc2597ecddfd69a2acfdc17a7",
    ("renew into exclusive dates", 4): "ab96f7a5d7fa9c110e9924505f1cab799abaa2430a60da0b3e874f63a922697e",
    ("renew into exclusive dates", 5): "760a727206a8641daabf28cd4f5a277072a68f84a946accafdae9f7ed5af57d5",
    ("renew into exclusive dates", 6): "f5f861b5dcf81e4eb6115a5c38eeec6b605835bb758b5adf5af364cc0e37a876",
    ("renew into exclusive dates", 7): "d4c40ed9ac0de81b8fd7b1c5119bbfc2c482ddd376f4ad1ffad4911489e874dd",
    ("deposit never confirmed", 1): "e10bc4d9364422d6ffa0ecb52bcbf1123a99df0b5334f67ae96d5939d1daa75c",
    ("deposit never confirmed", 2): "20569cf23aa3201e9af4a342280def76857880a004ad66fa30d2438a655ea54b",
    ("deposit never confirmed", 3): "6eace1328a8ce9f7425e9d9f04f315a5bff8330af3b27c186aa0ccfb0b1a74b5",
    ("deposit never confirmed", 4): "f551523700acf61738b192eaa7dc5525eea4f2e0c81465f5be9b2775e4e2e85a",
    ("deposit never confirmed", 5): "7494d1be9bf5e12df76bd7887f0756b86a3911cd3e66c65490d7e6aaa232b91d",
    ("deposit never confirmed", 6): "78f1b87669668bd03a84b53e02db44eabf94b3080d8300b6e509b3e5ffe0da7c",
    ("deposit never confirmed", 7): "9e497cc35036dc688e5b59bd942fad136c21b332bf2d290833e7b5ed17aa65bd",
    ("escrow over a renewal", 1): "9447dd7c1582e49da0738d34aad131958c414a9e1e5a38a57150751ff5a01f0f",
    ("escrow over a renewal", 2): "1173ba8f6c4b0d1b168c76bdefcd78f0d7137a422d079cc2d9c6b14e8d17655d",
    ("escrow over a renewal", 3): "a7fcc1c7e8206872db89ee2793637e23aa22edc12e9cae600ad514a186616841",
    ("escrow over a renewal", 4): "815c7942808e82f13fbb8ea7a16b081e96b301c8b737e43c84c16f9c40d70e5c",
    ("escrow over a renewal", 5): "c92ea47e96a72aa23a7d9868cae60ec99dff905f8ef1963c7e229b6a1d547b46",
    ("escrow over a renewal", 6): "4d2194a3793f671b13b5e2cf83e5b1a4300ad76534f86aab4b202f7bc4e35bcc",
    ("escrow over a renewal", 7): "95ffedd724c03e1f7095820d7660ba1103bfd2c80a588e8b20830fe93f23ef84",
}


def print_roots_8() -> None:
    """Print each edition-8 case's state roots on editions 1 to 7 (how :data:`BEFORE_EDITION_8` was made)."""
    _print_roots(CASES_8, (None, 2, 3, 4, 5, 6, 7))


BEFORE_EDITION_9: dict[tuple[str, int], str] = {
    # Each edition-9 case's state root on editions 1 to 8, as the build before edition 9 computed
    # it: commit db3358c (the rules of edition 8), running this file's CASES_9 with its own harness:
    #   mkdir /tmp/old9 && git archive db3358c src | tar -x -C /tmp/old9
    #   PYTHONPATH=/tmp/old9/src python -c "from tests.registry.test_editions import print_roots_9; print_roots_9()"
    ("personal data in clear text", 1): "bafc571582927e613f72ff79a6d2a9ac77e514fe7de81ed0b19c8876b7ca931c",
    ("personal data in clear text", 2): "cb9b14f60f8483810b2f91a47ba9df3890931a7f79cb5eb330f0520834f60255",
    ("personal data in clear text", 3): "e657aec0edc986d85bc5e6fca8ec7fdf06f43b42096c31a534a59019b43b2886",
    ("personal data in clear text", 4): "13ee20382a534fe33e0758b856225880bdae9aae8a412abafd87d3563010d914",
    ("personal data in clear text", 5): "d3a441dcc736c92e2f0442f4b9c979b7b438e3b0a89ff9e295bc622beaff49b1",
    ("personal data in clear text", 6): "0dfb33c2ac5f919a6fe1d90852fe05d669d1d14abac65df767ff2b76a3a40b9f",
    ("personal data in clear text", 7): "ebe84bd9443e73717978a7557c71547a04f1c0e825c44977b74d9095260e7820",
    ("personal data in clear text", 8): "a00074e7ddda95ddec81fddee78794742f88506122b11147fcff739ab40d70b8",
}


def print_roots_9() -> None:
    """Print each edition-9 case's state roots on editions 1 to 8 (how :data:`BEFORE_EDITION_9` was made)."""
    _print_roots(CASES_9, (None, 2, 3, 4, 5, 6, 7, 8))


@pytest.mark.parametrize("rules", EDITIONS)
@pytest.mark.parametrize("name", list(ALL_CASES))
def test_each_change_keeps_the_behaviour_of_the_editions_before_it(name: str, rules: int | None) -> None:
    ALL_CASES[name](_world(rules), (rules or 1) < SINCE[name])


@pytest.mark.parametrize("rules", [None, 2])
@pytest.mark.parametrize("name", list(CASES_3))
def test_older_editions_reach_the_roots_of_the_build_before_edition_3(name: str, rules: int | None) -> None:
    w = _world(rules)
    CASES_3[name](w, True)
    assert w.chain.root() == BEFORE_EDITION_3[(name, rules or 1)]


@pytest.mark.parametrize("rules", [None, 2, 3])
@pytest.mark.parametrize("name", list(CASES_4))
def test_older_editions_reach_the_roots_of_the_build_before_edition_4(name: str, rules: int | None) -> None:
    w = _world(rules)
    CASES_4[name](w, True)
    assert w.chain.root() == BEFORE_EDITION_4[(name, rules or 1)]


@pytest.mark.parametrize("rules", [None, 2, 3, 4])
@pytest.mark.parametrize("name", list(CASES_5))
def test_older_editions_reach_the_roots_of_the_build_before_edition_5(name: str, rules: int | None) -> None:
    w = _world(rules)
    CASES_5[name](w, True)
    assert w.chain.root() == BEFORE_EDITION_5[(name, rules or 1)]


@pytest.mark.parametrize("rules", [None, 2, 3, 4, 5])
@pytest.mark.parametrize("name", list(CASES_6))
def test_older_editions_reach_the_roots_of_the_build_before_edition_6(name: str, rules: int | None) -> None:
    w = _world(rules)
    CASES_6[name](w, True)
    assert w.chain.root() == BEFORE_EDITION_6[(name, rules or 1)]


@pytest.mark.parametrize("rules", [None, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("name", list(CASES_7))
def test_older_editions_reach_the_roots_of_the_build_before_edition_7(name: str, rules: int | None) -> None:
    w = _world(rules)
    CASES_7[name](w, True)
    assert w.chain.root() == BEFORE_EDITION_7[(name, rules or 1)]


@pytest.mark.parametrize("rules", [None, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("name", list(CASES_8))
def test_older_editions_reach_the_roots_of_the_build_before_edition_8(name: str, rules: int | None) -> None:
    w = _world(rules)
    CASES_8[name](w, True)
    assert w.chain.root() == BEFORE_EDITION_8[(name, rules or 1)]


@pytest.mark.parametrize("rules", [None, 2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize("name", list(CASES_9))
def test_older_editions_reach_the_roots_of_the_build_before_edition_9(name: str, rules: int | None) -> None:
    w = _world(rules)
    CASES_9[name](w, True)
    assert w.chain.root() == BEFORE_EDITION_9[(name, rules or 1)]


@pytest.mark.parametrize("name", list(CASES))
def test_edition_1_reaches_the_roots_of_the_builds_before_editions(name: str) -> None:
    w = _world(None)
    CASES[name](w, True)
    assert w.chain.root() == BEFORE_EDITIONS[name]


def test_new_chains_run_the_newest_edition_and_old_ones_edition_1() -> None:
    from anju.registry import edition
    from anju.registry.machine import genesis_params

    assert genesis_params(key_for("authority").public_hex)["rules"] == edition.RULES == max(edition.CHANGES)
    assert make_world().chain.get(layout.META)["rules"] == edition.RULES  # type: ignore[index]
    old = _world(None).chain.get(layout.META)
    assert old is not None and "rules" not in old and edition.edition_of(old) == 1


@pytest.mark.parametrize("bad", [0, 10, "2", 2.0, True, None])
def test_genesis_refuses_an_edition_this_build_does_not_implement(bad: object) -> None:
    from anju.registry import edition
    from anju.registry.machine import Registry, genesis_params

    from .harness import Overlay

    assert edition.RULES == 9  # 10 above is the first edition this build does not implement
    params = {**genesis_params(key_for("authority").public_hex), "rules": bad}
    with pytest.raises(ValueError, match="rules must be an edition"):
        Registry().genesis(params, Overlay({}))


@pytest.mark.parametrize("start", [None, 2])
def test_the_authority_moves_a_chain_to_a_newer_edition(start: int | None) -> None:
    """``authority.adopt_rules``: the edition's rules apply from the next transaction on; editions
    only move forward, to one this build implements, and only the authority moves them."""
    from anju.registry.edition import RULES

    w = _world(start)
    c = w.chain
    far = lease_fields(w, start="2025-12-05", end="2025-12-31")
    assert _outcome(w, w.owner, "lease.sign", (w.tenant,), **far) == "ok"  # backdated: fine before edition 3
    assert _outcome(w, w.owner, "authority.adopt_rules", rules=3, reason_hash=H) == "WRONG_ROLE"
    for wrong in (1, RULES + 1):  # below any edition to move to, or one this build does not know
        assert _outcome(w, c.authority, "authority.adopt_rules", rules=wrong, reason_hash=H) == "INTEGER_OUT_OF_RANGE"
    c.do(c.authority, "authority.adopt_rules", rules=3, reason_hash=H)
    meta = c.get(layout.META)
    assert meta is not None and meta["rules"] == 3
    event = c.events[-1]
    assert event.kind == "rules.adopted" and {**event.data} == {
        "rules": 3,
        "previous": start or 1,
        "txid": event.data["txid"],
    }
    assert event.parties == (c.authority.public_hex,)
    again = lease_fields(w, start="2025-12-05", end="2025-12-31", document_hash=H2, tenant=w.tenant2.public_hex)
    assert _outcome(w, w.owner, "lease.sign", (w.tenant2,), **again) == "INVALID_FIELD"  # edition 3's rule now
    for back in (2, 3):
        assert _outcome(w, c.authority, "authority.adopt_rules", rules=back, reason_hash=H) == "ALREADY_DONE"
