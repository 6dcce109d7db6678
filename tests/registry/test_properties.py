"""Hypothesis: random sequences of valid and invalid transactions keep the registry's invariants."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anju.errors import TxRejected
from anju.registry import credit, layout, views
from anju.registry.dates import add_days, add_months
from anju.registry.status import listing_status, mandate_live

from .harness import Chain, Overlay, lease_terms, listing_terms
from .world import World, make_world

OPS = ("lease", "lease", "sublease", "terminate", "renew", "grant", "revoke", "publish", "withdraw", "advance")
op = st.tuples(st.sampled_from(OPS), st.integers(0, 40), st.integers(0, 40), st.integers(0, 3))


def _month(offset: int) -> str:
    return add_months("2026-01", offset) + "-01"


def _step(w: World, name: str, a: int, b: int, who: int, made: dict[str, list[str]]) -> None:
    c = w.chain
    tenants = [w.tenant, w.tenant2, w.stranger]
    if name == "advance":
        c.day = add_days(c.day, a * 3)
    elif name == "lease":
        start = _month(a % 24)
        end = add_days(add_months(start[:7], 1 + b % 14) + "-01", -1)
        fields: dict[str, Any] = {"unit": w.unit, "landlord": w.owner.public_hex, "tenant": tenants[who % 3].public_hex}
        signer, mandates = w.owner, made["mandate"]
        if who % 2 and mandates:  # through an agency's mandate, signed by its agent or itself
            fields["mandate"] = mandates[b % len(mandates)]
            mandate = c.get(layout.mandate(fields["mandate"]))
            signer = w.agent_a if mandate and mandate["agency"] == w.agency_a.public_hex else w.agency_b
        tx = c.do(signer, "lease.sign", [tenants[who % 3]], **fields, **lease_terms(start=start, end=end))
        made["lease"].append(tx.txid[:16])
    elif name == "sublease" and made["lease"]:
        parent = c.get(layout.lease(made["lease"][a % len(made["lease"])]))
        assert parent is not None
        sub_tenant = tenants[(who + 1) % 3]
        start, end = add_days(parent["start"], b % 20), add_days(parent["start"], b % 20 + a * 5)
        fields = {"unit": w.unit, "landlord": parent["tenant"], "tenant": sub_tenant.public_hex, "parent": parent["id"]}
        sublandlord = next(t for t in tenants if t.public_hex == parent["tenant"])
        cos = [sub_tenant] + ([w.owner] if who else [])
        c.do(sublandlord, "lease.sign", cos, **fields, **lease_terms(start=start, end=end))
    elif name == "terminate" and made["lease"]:
        lid = made["lease"][a % len(made["lease"])]
        lease = c.get(layout.lease(lid))
        assert lease is not None
        tenant = next(t for t in tenants if t.public_hex == lease["tenant"])
        on = add_days(c.day, b * 2)
        mode = "mutual" if who % 2 else "notice"
        c.do(tenant, "lease.terminate", [w.owner] if mode == "mutual" else [], lease=lid, mode=mode, on=on,
             reason_hash="ee" * 32)  # fmt: skip
    elif name == "renew" and made["lease"]:
        lid = made["lease"][a % len(made["lease"])]
        lease = c.get(layout.lease(lid))
        assert lease is not None
        tenant = next(t for t in tenants if t.public_hex == lease["tenant"])
        terms = {k: v for k, v in lease_terms().items() if k != "start"}
        terms["end"] = add_days(lease["ends_on"], 30 + b * 10)
        made["lease"].append(c.do(w.owner, "lease.renew", [tenant], previous=lid, **terms).txid[:16])
    elif name == "grant":
        agency = (w.agency_a, w.agency_b)[who % 2]
        frm = add_days(c.day, a)
        made["mandate"].append(
            c.do(w.owner, "mandate.grant", unit=w.unit, agency=agency.public_hex, exclusive=b % 3 == 0,
                 may_sign=who < 2, min_rent=800_000, **{"from": frm, "to": add_days(frm, b * 5)}).txid[:16]
        )  # fmt: skip
    elif name == "revoke" and made["mandate"]:
        c.do(w.owner, "mandate.revoke", mandate=made["mandate"][a % len(made["mandate"])])
    elif name == "publish":
        mandates = made["mandate"]
        extra: dict[str, Any] = {}
        signer = w.owner
        if who and mandates:
            mid = mandates[a % len(mandates)]
            mandate = c.get(layout.mandate(mid))
            assert mandate is not None
            signer = w.agency_a if mandate["agency"] == w.agency_a.public_hex else w.agency_b
            extra["mandate"] = mid
        rent = 700_000 + b * 10_000
        made["listing"].append(c.do(signer, "listing.publish", unit=w.unit, **extra,
                                    **listing_terms(rent=rent, available_from=_month(a % 30))).txid[:16])  # fmt: skip
    elif name == "withdraw" and made["listing"]:
        lid = made["listing"][a % len(made["listing"])]
        listing = c.get(layout.listing(lid))
        assert listing is not None
        signer = {w.owner.public_hex: w.owner, w.agency_a.public_hex: w.agency_a}.get(listing["publisher"], w.agency_b)
        c.do(signer, "listing.withdraw", listing=lid)


def _check_invariants(c: Chain, unit_id: str) -> None:
    unit = c.get(layout.unit(unit_id))
    assert unit is not None
    leases = [c.get(layout.lease(x)) for x in unit["leases"]]
    for i, x in enumerate(leases):
        for y in leases[i + 1 :]:
            assert x is not None and y is not None
            if x["parent"] == y["parent"] and x["start"] <= x["ends_on"] and y["start"] <= y["ends_on"]:
                assert x["ends_on"] < y["start"] or y["ends_on"] < x["start"], (x["id"], y["id"])
        if x is not None and x["parent"] is not None:
            parent = c.get(layout.lease(x["parent"]))
            assert parent is not None and x["start"] >= parent["start"]
            assert x["ends_on"] <= parent["ends_on"] or x["start"] > x["ends_on"]
    # every listing that verifies as live rests on an attested unit and, for agencies, a live mandate
    for key in [k for k in c.state if k.startswith("listing/")]:
        listing = c.get(key)
        assert listing is not None
        mandate = c.get(layout.mandate(listing["mandate"])) if listing["mandate"] else None
        if listing_status(listing, mandate, c.day)[0] == "live":
            assert unit["title"] is not None
            assert listing["publisher_role"] == "owner" or (mandate is not None and mandate_live(mandate, c.day))
            view = views.listing_by_code(c.state, listing["code"], c.day)
            assert view is not None and view["status"] == "live"
    folded = credit.fold(c.events, credit.CHUNK)
    assert {k for k in c.state if k.startswith("credit/")} == set(folded)
    for key, value in folded.items():
        assert c.get(key) == value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=25))
def test_random_sequences_keep_invariants_and_replay_identically(ops: list[tuple[str, int, int, int]]) -> None:
    w = make_world()
    c = w.chain
    made: dict[str, list[str]] = {"lease": [], "mandate": [], "listing": []}
    accepted_from = len(c.log)
    for name, a, b, who in ops:
        before = c.root()
        try:
            _step(w, name, a, b, who, made)
        except TxRejected:
            assert c.root() == before  # a refusal changes nothing
        _check_invariants(c, w.unit)
    # determinism: the same accepted transactions on a fresh registry give the same state and events
    replica = make_world().chain
    for tx, ctx in c.log[accepted_from:]:
        overlay = Overlay(replica.state)
        replica.events.extend(replica.registry.apply(tx, ctx, overlay))
        overlay.commit()
    assert replica.state == c.state
    assert replica.events == c.events
