"""A small cast for registry tests: owner, two agencies (one with an agent), tenants, a bank."""

from __future__ import annotations

from dataclasses import dataclass

from anju.crypto.keys import SigningKey
from anju.registry.edition import RULES

from .harness import Chain, key_for


@dataclass
class World:
    chain: Chain
    owner: SigningKey
    owner2: SigningKey
    agency_a: SigningKey
    agent_a: SigningKey
    agency_b: SigningKey
    tenant: SigningKey
    tenant2: SigningKey
    stranger: SigningKey
    bank: SigningKey
    unit: str

    def grant(self, agency: SigningKey, **over: object) -> str:
        fields: dict[str, object] = {
            "unit": self.unit,
            "agency": agency.public_hex,
            "exclusive": False,
            "from": "2026-01-01",
            "to": "2026-12-31",
            "may_sign": True,
            "min_rent": 800_000,
        }
        fields.update(over)
        return self.chain.do(self.owner, "mandate.grant", **fields).txid[:16]


def make_world(rules: int | None = RULES) -> World:
    c = Chain(banks=(key_for("genesis-bank"),), rules=rules)
    owner = c.party("owner", "landlord")
    owner2 = c.party("owner2", "landlord")
    agency_a = c.party("agency-a", "agency")
    agent_a = c.party("agent-a", "agent")
    c.do(agency_a, "agency.appoint_agent", agent=agent_a.public_hex)
    agency_b = c.party("agency-b", "agency")
    tenant = c.party("tenant", "tenant")
    tenant2 = c.party("tenant2", "tenant")
    stranger = c.party("stranger", "tenant")
    bank = c.party("bank", "bank")
    unit = c.unit(owner)
    return World(c, owner, owner2, agency_a, agent_a, agency_b, tenant, tenant2, stranger, bank, unit)
