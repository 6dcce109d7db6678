"""Rule editions: a chain keeps the rules it was made with (genesis ``rules``; absent: edition 1).

Each change edition 2 made runs here as a case, on an edition-1 chain, where the old behaviour
must hold, and on a chain of the newest edition (whose rules also have their own tests in
test_rules, test_expiry and test_journeys). A rule change that forgot to ask ``call.edition()``
fails here. The cases on edition 1 must also end in the very state roots the builds before rule
editions reached (:data:`BEFORE_EDITIONS`): that pins edition 1 to what was, not to what the
code now thinks it was.
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

EDITIONS = [pytest.param(None, id="edition-1"), pytest.param(2, id="edition-2")]


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


# True from rule editions on (this file also runs on the build before them, which crashed on "2026-0²")
_EDITIONS_BUILD = importlib.util.find_spec("anju.registry.edition") is not None

OLD_FULL_WIDTH = "PERIOD_OUT_OF_ORDER"  # what the builds before edition 2 answered (checked at 6a08892)


CASES: dict[str, Callable[[World, bool], None]] = {
    "suspended co-signer": _suspended_co_signer,
    "twenty years": _twenty_years,
    "renew over a revoked mandate": _renew_over_revoked_mandate,
    "renew beside another listing": _renew_beside_another_listing,
    "free on the first day only": _free_on_the_first_day_only,
    "escrow of earlier prepayments": _escrow_of_earlier_prepayments,
    "decided deposit dispute": _decided_deposit_dispute,
    "months in other digits": _months_in_other_digits,
}

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


@pytest.mark.parametrize("rules", EDITIONS)
@pytest.mark.parametrize("name", list(CASES))
def test_each_change_keeps_its_edition_1_behaviour(name: str, rules: int | None) -> None:
    CASES[name](_world(rules), rules is None)


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


@pytest.mark.parametrize("bad", [0, 3, "2", 2.0, True, None])
def test_genesis_refuses_an_edition_this_build_does_not_implement(bad: object) -> None:
    from anju.registry import edition
    from anju.registry.machine import Registry, genesis_params

    from .harness import Overlay

    assert edition.RULES == 2  # 3 above is the first edition this build does not implement
    params = {**genesis_params(key_for("authority").public_hex), "rules": bad}
    with pytest.raises(ValueError, match="rules must be an edition"):
        Registry().genesis(params, Overlay({}))
