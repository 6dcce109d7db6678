"""Authorisation matrix: every kind signed by every role that may not send it is refused, state unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from anju.errors import TxRejected
from anju.registry.kinds import KINDS

from .harness import H2, H, lease_terms, listing_terms
from .world import World, make_world

AUTH_CODES = {
    "WRONG_ROLE",
    "NOT_OWNER",
    "NOT_PUBLISHER",
    "NOT_LEASE_PARTY",
    "NOT_RECEIVER",
    "NOT_COUNTERPARTY",
    "MANDATE_REQUIRED",
    "MISSING_SIGNATURE",
    "ALREADY_REGISTERED",
    "NOT_LICENSED",
}
ROLES = ("authority", "owner", "owner2", "agency_a", "agent_a", "agency_b", "tenant", "stranger", "bank")


def _setup() -> tuple[World, dict[str, str]]:
    w = make_world()
    c = w.chain
    mid = w.grant(w.agency_a)
    listing = c.do(w.agency_a, "listing.publish", unit=w.unit, mandate=mid, **listing_terms()).txid[:16]
    lease_fields = {"unit": w.unit, "landlord": w.owner.public_hex, "tenant": w.tenant.public_hex}
    lease = c.do(w.owner, "lease.sign", [w.tenant], **lease_fields, **lease_terms()).txid[:16]
    pay = c.do(w.tenant, "deposit.lodge", lease=lease, amount=900_000).txid[:16]
    dispute = c.do(w.tenant, "dispute.open", lease=lease, subject="rent", evidence=[H]).txid[:16]
    report = c.do(w.stranger, "report.file", listing=listing, evidence=[H]).txid[:16]
    unit2 = c.unit(w.owner, attest=False)
    ids = {"mandate": mid, "listing": listing, "lease": lease, "payment": pay, "dispute": dispute, "report": report}
    return w, {**ids, "unit2": unit2}


def _body(kind: str, w: World, ids: dict[str, str]) -> dict[str, Any]:
    lease_body = {"unit": w.unit, "landlord": w.owner.public_hex, "tenant": w.tenant.public_hex}
    terms = {k: v for k, v in lease_terms().items() if k != "start"}
    bodies: dict[str, dict[str, Any]] = {
        "party.register": {"role": "tenant", "commitment": H},
        "authority.license_agency": {"party": w.agency_b.public_hex, "licence": H},
        "authority.license_bank": {"party": w.bank.public_hex, "licence": H},
        "authority.revoke_licence": {"party": w.agency_a.public_hex, "reason_hash": H},
        "authority.attest_identity": {"party": w.tenant.public_hex, "commitment": H},
        "authority.suspend": {"party": w.tenant2.public_hex, "reason_hash": H},
        "authority.reinstate": {"party": w.tenant2.public_hex, "reason_hash": H},
        "authority.adopt_rules": {"rules": 3, "reason_hash": H},
        "agency.appoint_agent": {"agent": w.agent_a.public_hex},
        "agency.dismiss_agent": {"agent": w.agent_a.public_hex},
        "unit.register": {
            "district": "徐汇区",
            "street": "虹漕路",
            "neighbourhood": "漕河泾街道",
            "address_commitment": H2,
            "floor_area_m2": 40,
            "rooms": 1,
        },
        "title.attest": {"unit": ids["unit2"], "certificate_commitment": H2},
        "mandate.grant": {
            "unit": w.unit,
            "agency": w.agency_b.public_hex,
            "exclusive": False,
            "from": "2026-02-01",
            "to": "2026-03-01",
            "may_sign": False,
            "min_rent": 0,
        },
        "mandate.revoke": {"mandate": ids["mandate"]},
        "listing.publish": {"unit": w.unit, "mandate": ids["mandate"], **listing_terms(available_from="2027-03-01")},
        "listing.withdraw": {"listing": ids["listing"]},
        "listing.renew": {"listing": ids["listing"]},
        "lease.sign": {**lease_body, **lease_terms(start="2027-03-01", end="2027-12-31")},
        "lease.renew": {"previous": ids["lease"], **terms, "end": "2027-12-31"},
        "lease.register": {"lease": ids["lease"]},
        "lease.terminate": {"lease": ids["lease"], "mode": "mutual", "on": "2026-06-30", "reason_hash": H},
        "bank.attest_escrow": {"lease": ids["lease"], "purpose": "deposit", "amount": 1, "account_commitment": H},
        "deposit.lodge": {"lease": ids["lease"], "amount": 900_000},
        "rent.pay": {"lease": ids["lease"], "period": "2026-02", "months": 1, "amount": 900_000},
        "payment.confirm": {"payment": ids["payment"]},
        "payment.refuse": {"payment": ids["payment"], "reason_hash": H},
        "deposit.return": {"lease": ids["lease"], "deductions": []},
        "deposit.accept": {"lease": ids["lease"]},
        "dispute.open": {"lease": ids["lease"], "subject": "rent", "evidence": [H2]},
        "dispute.resolve": {"dispute": ids["dispute"], "outcome": "settled", "award": 0, "decision_hash": H},
        "report.file": {"listing": ids["listing"], "evidence": [H2]},
        "report.resolve": {"report": ids["report"], "outcome": "dismissed", "decision_hash": H},
        "review.write": {"lease": ids["lease"], "subject": w.owner.public_hex, "rating": 4, "text_hash": H},
    }
    return bodies[kind]


# kind -> roles that may send it (and so are not part of the matrix)
ALLOWED: dict[str, set[str]] = {
    "party.register": set(),  # every cast member is already registered
    "authority.license_agency": {"authority"},
    "authority.license_bank": {"authority"},
    "authority.revoke_licence": {"authority"},
    "authority.attest_identity": {"authority"},
    "authority.suspend": {"authority"},
    "authority.reinstate": {"authority"},
    "authority.adopt_rules": {"authority"},
    "agency.appoint_agent": {"agency_a", "agency_b"},
    "agency.dismiss_agent": {"agency_a"},
    "unit.register": {"owner", "owner2"},
    "title.attest": {"authority"},
    "mandate.grant": {"owner"},
    "mandate.revoke": {"owner", "agency_a"},
    "listing.publish": {"owner", "agency_a", "agent_a"},
    "listing.withdraw": {"owner", "agency_a", "agent_a"},
    "listing.renew": {"agency_a", "agent_a"},
    "lease.sign": {"owner", "tenant"},
    "lease.renew": {"owner", "tenant"},
    "lease.register": {"authority"},
    "lease.terminate": {"owner", "tenant"},
    "bank.attest_escrow": {"bank"},
    "deposit.lodge": {"tenant"},
    "rent.pay": {"tenant"},
    "payment.confirm": {"owner"},
    "payment.refuse": {"owner"},
    "deposit.return": {"owner"},
    "deposit.accept": {"tenant"},
    "dispute.open": {"owner", "tenant"},
    "dispute.resolve": {"authority"},
    "report.file": set(ROLES),
    "review.write": {"tenant"},
    "report.resolve": {"authority"},
}

MATRIX = [(kind, role) for kind in sorted(KINDS) for role in ROLES if role not in ALLOWED[kind]]


def test_matrix_covers_every_kind() -> None:
    assert set(ALLOWED) == set(KINDS)


@pytest.mark.parametrize(("kind", "role"), MATRIX)
def test_wrong_role_is_refused(kind: str, role: str) -> None:
    w, ids = _setup()
    key = w.chain.authority if role == "authority" else getattr(w, role)
    # the other side of a two-party kind countersigns, so only the signer's role is in question
    cos = [w.tenant] if kind.startswith("lease.") and role != "tenant" else []
    before = w.chain.root()
    with pytest.raises(TxRejected) as err:
        w.chain.do(key, kind, cos, **_body(kind, w, ids))
    assert err.value.code in AUTH_CODES, err.value.diagnostics()
    assert w.chain.root() == before
