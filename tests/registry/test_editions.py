"""Rule editions: a chain keeps the rules it was made with (genesis ``rules``; absent: edition 1).

Each change edition 2 made is run here on an edition-1 chain, where the old behaviour must hold,
beside the edition-2 result (the edition-2 rules also have their own tests in test_rules,
test_expiry and test_journeys). A rule change that forgot to ask ``call.edition()`` fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from anju.errors import TxRejected
from anju.registry import edition, layout
from anju.registry.machine import Registry, genesis_params

from .harness import H2, H, Overlay, key_for, listing_terms
from .test_journeys import _returned_deposit
from .test_rules import lease_fields
from .world import World, make_world

EDITIONS = [pytest.param(None, id="edition-1"), pytest.param(edition.RULES, id="newest")]


def _outcome(w: World, who: Any, kind: str, cosigners: tuple[Any, ...] = (), **fields: Any) -> str:
    """ "ok", or the refusal's code (and then the state root is unchanged)."""
    before = w.chain.root()
    try:
        w.chain.do(who, kind, list(cosigners), **fields)
    except TxRejected as exc:
        assert w.chain.root() == before
        return exc.code
    return "ok"


def test_new_chains_run_the_newest_edition_and_old_ones_edition_1() -> None:
    assert genesis_params(key_for("authority").public_hex)["rules"] == edition.RULES == max(edition.CHANGES)
    assert make_world().chain.get(layout.META)["rules"] == edition.RULES  # type: ignore[index]
    old = make_world(rules=None).chain.get(layout.META)
    assert old is not None and "rules" not in old and edition.edition_of(old) == 1


@pytest.mark.parametrize("bad", [0, edition.RULES + 1, "2", 2.0, True, None])
def test_genesis_refuses_an_edition_this_build_does_not_implement(bad: object) -> None:
    params = {**genesis_params(key_for("authority").public_hex), "rules": bad}
    with pytest.raises(ValueError, match="rules must be an edition"):
        Registry().genesis(params, Overlay({}))


@pytest.mark.parametrize("rules", EDITIONS)
def test_a_suspended_co_signer(rules: int | None) -> None:
    w = make_world(rules)
    w.chain.do(w.chain.authority, "authority.suspend", party=w.owner.public_hex, reason_hash=H)
    got = _outcome(w, w.tenant, "lease.sign", (w.owner,), **lease_fields(w))
    assert got == ("ok" if rules is None else "PARTY_SUSPENDED")


@pytest.mark.parametrize("rules", EDITIONS)
def test_the_twenty_year_bound(rules: int | None) -> None:
    w = make_world(rules)  # 2026-02-01 .. 2046-02-10: 7,314 days, within 20 x 366 but past the anniversary
    got = _outcome(w, w.owner, "lease.sign", (w.tenant,), **lease_fields(w, start="2026-02-01", end="2046-02-10"))
    assert got == ("ok" if rules is None else "INVALID_FIELD")
    w2 = make_world(rules)  # 20 x 366 + 1 days: too long in both
    too_long = lease_fields(w2, start="2026-02-01", end="2046-02-17")
    assert _outcome(w2, w2.owner, "lease.sign", (w2.tenant,), **too_long) == "INVALID_FIELD"


@pytest.mark.parametrize("rules", EDITIONS)
def test_renewing_over_a_revoked_mandate(rules: int | None) -> None:
    w = make_world(rules)
    c = w.chain
    mid = w.grant(w.agency_a)
    lid = c.do(w.agent_a, "listing.publish", unit=w.unit, mandate=mid, **listing_terms()).txid[:16]
    c.day = "2026-03-10"
    c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms())  # stores the agency's listing as expired
    c.do(w.owner, "mandate.revoke", mandate=mid)
    assert _outcome(w, w.agency_a, "listing.renew", listing=lid) == ("ok" if rules is None else "MANDATE_NOT_LIVE")


@pytest.mark.parametrize("rules", EDITIONS)
def test_renewing_beside_another_live_listing(rules: int | None) -> None:
    w = make_world(rules)
    c = w.chain
    old = c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms()).txid[:16]
    c.day = "2026-03-10"
    c.do(w.owner, "listing.publish", unit=w.unit, **listing_terms())
    assert _outcome(w, w.owner, "listing.renew", listing=old) == ("ok" if rules is None else "LISTING_EXISTS")


@pytest.mark.parametrize("rules", EDITIONS)
def test_a_listing_free_only_on_its_first_day(rules: int | None) -> None:
    w = make_world(rules)
    w.chain.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w, start="2026-05-01", end="2026-12-31"))
    terms = listing_terms(available_from="2026-02-01", min_term_months=4)
    assert _outcome(w, w.owner, "listing.publish", unit=w.unit, **terms) == ("ok" if rules is None else "UNIT_NOT_FREE")
    taken = listing_terms(available_from="2026-06-01", min_term_months=1)  # let on its first day: refused by both
    assert _outcome(w, w.owner, "listing.publish", unit=w.unit, **taken) == "UNIT_NOT_FREE"


@pytest.mark.parametrize("rules", EDITIONS)
def test_rent_escrow_counts_earlier_prepayments(rules: int | None) -> None:
    w = make_world(rules)
    mid = w.grant(w.agency_a, to="2028-12-31")
    fields = {**lease_fields(w, start="2026-02-01", end="2028-01-31", collector="agency"), "mandate": mid}
    lid = w.chain.do(w.agent_a, "lease.sign", [w.tenant], **fields).txid[:16]
    w.chain.do(
        w.bank, "bank.attest_escrow", lease=lid, purpose="rent", amount=12 * 900_000, account_commitment="ab" * 32
    )
    w.chain.do(w.tenant, "rent.pay", lease=lid, period="2026-02", months=12, amount=12 * 900_000)
    got = _outcome(w, w.tenant, "rent.pay", lease=lid, period="2027-02", months=12, amount=12 * 900_000)
    assert got == ("ok" if rules is None else "BANK_ATTESTATION_REQUIRED")


@pytest.mark.parametrize("rules", EDITIONS)
def test_a_decided_deposit_dispute(rules: int | None) -> None:
    w = make_world(rules)
    c = w.chain
    lease = _returned_deposit(w, 300_000)
    dispute = c.do(w.tenant, "dispute.open", lease=lease, subject="deposit", evidence=[H]).txid[:16]
    c.do(c.authority, "dispute.resolve", dispute=dispute, outcome="upheld", award=200_000, decision_hash=H2)
    rec = c.get(layout.lease(lease))
    assert rec is not None
    if rules is None:
        assert (
            rec["deposit_status"] == "disputed" and "deposit_dispute" not in rec and rec["deposit_returned"] == 600_000
        )
        assert not [e for e in c.events if e.kind == "deposit.decided"]
    else:
        assert (rec["deposit_status"], rec["deposit_returned"], rec["deposit_dispute"]) == ("decided", 800_000, dispute)
