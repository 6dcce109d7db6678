"""Every transaction kind: its body fields, who signs, what it does, and a JSON example.

This table is the single source for body validation (:func:`anju.registry.schema.check_body`),
for docs/REGISTRY.md and for the API's OpenAPI examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from anju.registry.edition import RULES
from anju.registry.schema import Field, enum, hashes, integer, money, text

# Placeholder values for examples; real ones are keys, hashes and ids from the ledger.
K_AUTH = "a1" * 32
K_OWNER = "b2" * 32
K_AGENCY = "c3" * 32
K_AGENT = "c4" * 32
K_TENANT = "d4" * 32
K_BANK = "e5" * 32
H = "5e" * 32
H2 = "6f" * 32
U = "0a1b2c3d4e5f6071"
M = "1b2c3d4e5f607182"
L = "2c3d4e5f60718293"
LS = "3d4e5f6071829304"
P = "4e5f607182930415"
D = "5f60718293041526"
R = "6071829304152637"

GENERIC_ERRORS = ("UNKNOWN_FIELD", "INVALID_FIELD", "INTEGER_OUT_OF_RANGE", "UNKNOWN_SIGNER", "PARTY_SUSPENDED")


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    summary: str
    signers: str
    fields: dict[str, Field]
    example: dict[str, Any]
    errors: tuple[str, ...] = ()
    rules: tuple[str, ...] = field(default=())
    since: int = 1
    """The rules edition that introduced the kind (older editions refuse it: ``UNKNOWN_KIND``)."""

    def refusals(self) -> tuple[str, ...]:
        """Every code a transaction of this kind may be refused with: its own, then the generic
        ones (an unregistered signer is refused for every kind but ``party.register``)."""
        generic = [c for c in GENERIC_ERRORS if not (c == "UNKNOWN_SIGNER" and self.name == "party.register")]
        return tuple(dict.fromkeys([*self.errors, *generic]))


def _k(
    name: str,
    summary: str,
    signers: str,
    fields: dict[str, Field],
    example: dict[str, Any],
    errors: tuple[str, ...] = (),
    rules: tuple[str, ...] = (),
    since: int = 1,
) -> Kind:
    if any(f.type in ("text", "deductions") for f in fields.values()):
        errors = (*errors, "PERSONAL_DATA")  # text kept in clear (rules edition 9, anju.registry.personal)
    return Kind(name, summary, signers, fields, {"kind": name, **example}, errors, rules, since)


_LEASE_TERMS: dict[str, Field] = {
    "end": Field("date", "last day of the lease (inclusive)"),
    "rent": money("monthly rent in fen", lo=1),
    "deposit": money("deposit in fen"),
    "payment_day": integer("day of the month rent falls due", 1, 28),
    "notice_days": integer("notice a unilateral termination must give, in days", 0, 365),
    "collector": enum("who receives rent and holds the deposit", "landlord", "agency"),
    "document_hash": Field(
        "hash",
        "hex SHA-256 of the contract document, or a salted commitment to it (the portal's: SHA-256(salt ‖ text))",
    ),
}

KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        _k(
            "party.register",
            "A key registers itself as a party (pseudonymous; personal data only as a salted commitment).",
            "the new key itself (the one kind an unregistered signer may send)",
            {
                "role": enum("the party's role", "tenant", "landlord", "agency", "agent", "bank"),
                "commitment": Field("hash", "hex SHA-256(salt ‖ identity data), computed by the client off-ledger"),
                "name": text("public business name; agencies and banks only", 100, optional=True),
            },
            {"role": "tenant", "commitment": H},
            ("ALREADY_REGISTERED",),
        ),
        _k(
            "authority.license_agency",
            "The housing authority licenses a registered agency.",
            "the housing authority",
            {"party": Field("key", "the agency"), "licence": Field("hash", "commitment to the licence number")},
            {"party": K_AGENCY, "licence": H},
            ("WRONG_ROLE", "UNKNOWN_REFERENCE", "ALREADY_DONE"),
        ),
        _k(
            "authority.license_bank",
            "The housing authority recognises a registered bank as a deposit supervisor.",
            "the housing authority",
            {"party": Field("key", "the bank"), "licence": Field("hash", "commitment to the bank's licence")},
            {"party": K_BANK, "licence": H},
            ("WRONG_ROLE", "UNKNOWN_REFERENCE", "ALREADY_DONE"),
        ),
        _k(
            "authority.revoke_licence",
            "The housing authority revokes an agency's licence or a bank's recognition: it takes no new "
            "business (mandates, listings, leases, agents; a bank's attestations) until licensed again, and "
            "its listings stop showing as live. What it owes on running leases stays its to settle.",
            "the housing authority",
            {"party": Field("key", "the agency or bank"), "reason_hash": Field("hash", "SHA-256 of the decision")},
            {"party": K_AGENCY, "reason_hash": H},
            ("WRONG_ROLE", "UNKNOWN_REFERENCE", "ALREADY_DONE", "UNKNOWN_KIND"),
            since=6,
        ),
        _k(
            "authority.attest_identity",
            "The housing authority attests that a party's identity commitment opens to a checked identity.",
            "the housing authority",
            {
                "party": Field("key", "the party"),
                "commitment": Field("hash", "must equal the commitment the party registered"),
            },
            {"party": K_TENANT, "commitment": H},
            ("WRONG_ROLE", "UNKNOWN_REFERENCE", "ALREADY_DONE"),
        ),
        _k(
            "authority.suspend",
            "The housing authority suspends a party; a suspended party can sign nothing.",
            "the housing authority",
            {"party": Field("key", "the party"), "reason_hash": Field("hash", "SHA-256 of the decision document")},
            {"party": K_AGENCY, "reason_hash": H},
            ("WRONG_ROLE", "UNKNOWN_REFERENCE", "ALREADY_DONE"),
        ),
        _k(
            "authority.reinstate",
            "The housing authority lifts a suspension.",
            "the housing authority",
            {"party": Field("key", "the party"), "reason_hash": Field("hash", "SHA-256 of the decision document")},
            {"party": K_AGENCY, "reason_hash": H},
            ("WRONG_ROLE", "UNKNOWN_REFERENCE", "ALREADY_DONE"),
        ),
        _k(
            "authority.adopt_rules",
            "The housing authority moves the chain to a newer rules edition (docs/REGISTRY.md, Rule editions): "
            "from the next transaction on, the chain runs its rules. Editions only move forward; every node must "
            "run a build that implements the edition first (an older build refuses this transaction and stops).",
            "the housing authority",
            {
                "rules": integer("the rules edition to adopt (higher than the chain's)", 2, RULES),
                "reason_hash": Field("hash", "SHA-256 of the decision document"),
            },
            {"rules": RULES, "reason_hash": H},
            ("WRONG_ROLE", "ALREADY_DONE"),
        ),
        _k(
            "agency.appoint_agent",
            "A licensed agency appoints a registered agent (经纪人), who may then act for it.",
            "the agency",
            {"agent": Field("key", "a party registered with role agent")},
            {"agent": K_AGENT},
            ("WRONG_ROLE", "NOT_LICENSED", "UNKNOWN_REFERENCE", "ALREADY_DONE", "IDENTITY_NOT_ATTESTED"),
        ),
        _k(
            "agency.dismiss_agent",
            "An agency dismisses its agent.",
            "the agency",
            {"agent": Field("key", "the agent")},
            {"agent": K_AGENT},
            ("WRONG_ROLE", "UNKNOWN_REFERENCE"),
        ),
        _k(
            "unit.register",
            "An owner registers a unit; building and room are only inside the address commitment.",
            "a landlord whose identity is attested (becomes the owner)",
            {
                "district": text("district, e.g. 徐汇区", 40),
                "street": text("street, e.g. 衡山路", 60),
                "neighbourhood": text("neighbourhood (小区 / 街道), public approximate location", 60),
                "address_commitment": Field("hash", "SHA-256(salt ‖ full address with building and room)"),
                "floor_area_m2": integer("floor area in square metres", 1, 10_000),
                "rooms": integer("number of rooms", 0, 50),
            },
            {
                "district": "徐汇区",
                "street": "衡山路",
                "neighbourhood": "衡山坊",
                "address_commitment": H,
                "floor_area_m2": 68,
                "rooms": 2,
            },
            ("WRONG_ROLE", "IDENTITY_NOT_ATTESTED", "ALREADY_EXISTS"),
        ),
        _k(
            "title.attest",
            "The housing authority attests the unit's title certificate (不动产权证).",
            "the housing authority",
            {
                "unit": Field("id", "the unit"),
                "certificate_commitment": Field(
                    "hash", "commitment to the certificate number; the authority uses one salt per certificate"
                ),
            },
            {"unit": U, "certificate_commitment": H},
            ("WRONG_ROLE", "UNKNOWN_REFERENCE", "TITLE_ALREADY_ATTESTED"),
        ),
        _k(
            "mandate.grant",
            "The owner authorises a licensed agency for a unit (委托).",
            "the unit's owner",
            {
                "unit": Field("id", "the unit (attested)"),
                "agency": Field("key", "the licensed agency"),
                "exclusive": Field("bool", "whether this mandate shuts every other agency out"),
                "from": Field("date", "first day in force"),
                "to": Field("date", "last day in force (inclusive)"),
                "may_sign": Field("bool", "whether the agency may sign leases for the owner"),
                "min_rent": money("lowest monthly rent (fen) the agency may advertise or sign"),
            },
            {
                "unit": U,
                "agency": K_AGENCY,
                "exclusive": False,
                "from": "2026-12-01",
                "to": "2027-05-31",
                "may_sign": True,
                "min_rent": 800_000,
            },
            ("NOT_OWNER", "UNIT_NOT_ATTESTED", "NOT_LICENSED", "EXCLUSIVE_MANDATE", "WRONG_ROLE", "UNKNOWN_REFERENCE"),
        ),
        _k(
            "mandate.revoke",
            "The owner (or the agency, renouncing) ends a mandate; listings resting on it are revoked at once.",
            "the unit's owner or the mandated agency",
            {"mandate": Field("id", "the mandate")},
            {"mandate": M},
            ("NOT_OWNER", "UNKNOWN_REFERENCE", "ALREADY_DONE"),
        ),
        _k(
            "listing.publish",
            "The owner, or an agency (or its agent) holding a live mandate, publishes a listing; it gets a code.",
            "the unit's owner, or the mandated agency or one of its agents",
            {
                "unit": Field("id", "the unit (attested)"),
                "mandate": Field("id", "the agency's mandate (agencies only; owners omit it)", optional=True),
                "rent": money("monthly rent in fen", lo=1),
                "deposit": money("deposit in fen"),
                "available_from": Field("date", "first day the unit can be let"),
                "min_term_months": integer("shortest lease accepted, months", 1, 120),
                "description": text("free text shown with the listing", 2000),
                "photos": hashes("SHA-256 hashes of the photos", 20),
            },
            {
                "unit": U,
                "mandate": M,
                "rent": 950_000,
                "deposit": 950_000,
                "available_from": "2026-12-15",
                "min_term_months": 12,
                "description": "南北通透两居室，近地铁",
                "photos": [H, H2],
            },
            (
                "UNIT_NOT_ATTESTED",
                "MANDATE_REQUIRED",
                "MANDATE_NOT_LIVE",
                "EXCLUSIVE_MANDATE",
                "RENT_BELOW_MINIMUM",
                "UNIT_NOT_FREE",
                "LISTING_EXISTS",
                "WRONG_ROLE",
                "NOT_LICENSED",
                "UNKNOWN_REFERENCE",
            ),
        ),
        _k(
            "listing.withdraw",
            "The publisher (or the owner) takes a listing down; its code is revoked at once.",
            "the publisher (or its agent) or the unit's owner",
            {"listing": Field("id", "the listing")},
            {"listing": LS},
            ("NOT_PUBLISHER", "LISTING_NOT_LIVE", "UNKNOWN_REFERENCE"),
        ),
        _k(
            "listing.renew",
            "The publisher renews a listing's code for another 60 days (its basis must still be live).",
            "the publisher (or its agent)",
            {"listing": Field("id", "the listing")},
            {"listing": LS},
            (
                "NOT_PUBLISHER",
                "LISTING_NOT_LIVE",
                "MANDATE_NOT_LIVE",
                "LISTING_EXISTS",
                "UNIT_NOT_FREE",
                "EXCLUSIVE_MANDATE",
                "NOT_LICENSED",
                "UNKNOWN_REFERENCE",
            ),
        ),
        _k(
            "lease.sign",
            "Landlord side and tenant sign the same lease terms (网签); a sublease names its parent.",
            "landlord (or the mandated agency / its agent when the mandate allows signing) AND tenant, in sigs;"
            " a sublease also needs the owner's signature (consent)",
            {
                "unit": Field("id", "the unit (attested)"),
                "landlord": Field("key", "the owner; for a sublease, the parent lease's tenant"),
                "tenant": Field("key", "the tenant"),
                "mandate": Field("id", "the mandate an agency acts under", optional=True),
                "listing": Field(
                    "id",
                    "the listing the lease came from (edition 4: live, published by the landlord or the lease's"
                    " agency; none for a sublease)",
                    optional=True,
                ),
                "parent": Field("id", "the parent lease, for a sublease (转租)", optional=True),
                "start": Field("date", "first day of the lease"),
                **_LEASE_TERMS,
            },
            {
                "unit": U,
                "landlord": K_OWNER,
                "tenant": K_TENANT,
                "mandate": M,
                "start": "2027-01-01",
                "end": "2027-12-31",
                "rent": 950_000,
                "deposit": 950_000,
                "payment_day": 5,
                "notice_days": 30,
                "collector": "landlord",
                "document_hash": H,
            },
            (
                "MISSING_SIGNATURE",
                "UNIT_NOT_ATTESTED",
                "LEASE_OVERLAP",
                "MANDATE_NO_SIGNING",
                "MANDATE_NOT_LIVE",
                "EXCLUSIVE_MANDATE",
                "NOT_LICENSED",
                "RENT_BELOW_MINIMUM",
                "SUBLEASE_CONSENT_REQUIRED",
                "SUBLEASE_OUTSIDE_PARENT",
                "IDENTITY_NOT_ATTESTED",
                "WRONG_ROLE",
                "NOT_OWNER",
                "LEASE_NOT_LIVE",
                "NOT_LEASE_PARTY",
                "MANDATE_REQUIRED",
                "LISTING_NOT_LIVE",
                "UNKNOWN_REFERENCE",
                "ALREADY_EXISTS",
            ),
        ),
        _k(
            "lease.renew",
            "Both sides sign a new lease that starts the day after the previous one ends.",
            "as for lease.sign, for the same landlord and tenant",
            {"previous": Field("id", "the lease being renewed"), **_LEASE_TERMS},
            {
                "previous": L,
                "end": "2028-12-31",
                "rent": 980_000,
                "deposit": 980_000,
                "payment_day": 5,
                "notice_days": 30,
                "collector": "landlord",
                "document_hash": H2,
            },
            (
                "RENEWAL_NOT_CONTIGUOUS",
                "LEASE_OVERLAP",
                "LEASE_NOT_LIVE",
                "MISSING_SIGNATURE",
                "MANDATE_NO_SIGNING",
                "MANDATE_NOT_LIVE",
                "EXCLUSIVE_MANDATE",
                "NOT_LICENSED",
                "ALREADY_DONE",
                "SUBLEASE_CONSENT_REQUIRED",
                "SUBLEASE_OUTSIDE_PARENT",
                "RENT_BELOW_MINIMUM",
                "UNKNOWN_REFERENCE",
            ),
        ),
        _k(
            "lease.register",
            "The housing authority registers a lease (备案) and assigns its registration number.",
            "the housing authority",
            {"lease": Field("id", "the lease")},
            {"lease": L},
            ("WRONG_ROLE", "UNKNOWN_REFERENCE", "ALREADY_DONE", "LEASE_NOT_LIVE"),
        ),
        _k(
            "lease.terminate",
            "Mutual termination (both sides sign) or unilateral termination with the lease's notice.",
            "mutual: landlord side AND tenant; notice: either side",
            {
                "lease": Field("id", "the lease"),
                "mode": enum("how it ends", "mutual", "notice"),
                "on": Field("date", "the lease's new last day"),
                "reason_hash": Field("hash", "SHA-256 of the termination document"),
            },
            {"lease": L, "mode": "notice", "on": "2027-06-30", "reason_hash": H},
            (
                "NOT_LEASE_PARTY",
                "NOTICE_TOO_SHORT",
                "LEASE_NOT_LIVE",
                "MISSING_SIGNATURE",
                "PARTY_SUSPENDED",
                "UNKNOWN_REFERENCE",
            ),
        ),
        _k(
            "bank.attest_escrow",
            "A licensed bank attests that a lease's deposit or prepaid rent sits in a supervised account.",
            "a licensed bank",
            {
                "lease": Field("id", "the lease"),
                "purpose": enum("what the account holds", "deposit", "rent"),
                "amount": money("amount held, fen", lo=1),
                "account_commitment": Field("hash", "commitment to the supervised account number"),
            },
            {"lease": L, "purpose": "deposit", "amount": 1_900_000, "account_commitment": H},
            ("WRONG_ROLE", "NOT_LICENSED", "UNKNOWN_REFERENCE", "LEASE_NOT_LIVE"),
        ),
        _k(
            "deposit.lodge",
            "The tenant records paying the deposit to the collector; the collector confirms it.",
            "the tenant",
            {"lease": Field("id", "the lease"), "amount": money("must equal the lease's deposit", lo=1)},
            {"lease": L, "amount": 950_000},
            (
                "NOT_LEASE_PARTY",
                "AMOUNT_MISMATCH",
                "ALREADY_DONE",
                "BANK_ATTESTATION_REQUIRED",
                "LEASE_NOT_LIVE",
                "UNKNOWN_REFERENCE",
            ),
        ),
        _k(
            "rent.pay",
            "The tenant records a rent payment for one or more months; the collector confirms it.",
            "the tenant",
            {
                "lease": Field("id", "the lease"),
                "period": Field("month", "first month paid, YYYY-MM (the month after the last one paid)"),
                "months": integer("number of months paid", 1, 12),
                "amount": money("must equal rent x months", lo=1),
            },
            {"lease": L, "period": "2027-01", "months": 1, "amount": 950_000},
            (
                "NOT_LEASE_PARTY",
                "AMOUNT_MISMATCH",
                "PERIOD_OUT_OF_ORDER",
                "BANK_ATTESTATION_REQUIRED",
                "LEASE_NOT_LIVE",
                "UNKNOWN_REFERENCE",
            ),
        ),
        _k(
            "payment.confirm",
            "The receiving side confirms a recorded rent or deposit payment.",
            "the lease's collector (landlord, or the agency / its agent)",
            {"payment": Field("id", "the payment")},
            {"payment": P},
            ("NOT_RECEIVER", "ALREADY_DONE", "PERIOD_OUT_OF_ORDER", "UNKNOWN_REFERENCE"),
        ),
        _k(
            "payment.refuse",
            "The receiving side says a recorded rent or deposit payment never arrived: a rent payment's months "
            "are owed again (the newest claim first), a deposit is no longer lodged.",
            "the lease's collector (landlord, or the agency / its agent)",
            {
                "payment": Field("id", "the payment"),
                "reason_hash": Field("hash", "SHA-256 of the receiver's statement (e.g. the account's statement)"),
            },
            {"payment": P, "reason_hash": H},
            ("NOT_RECEIVER", "ALREADY_DONE", "PERIOD_OUT_OF_ORDER", "UNKNOWN_REFERENCE", "UNKNOWN_KIND"),
            since=6,
        ),
        _k(
            "deposit.return",
            "At the end the collector returns the deposit, itemising any deductions.",
            "the lease's collector",
            {
                "lease": Field("id", "the lease"),
                "deductions": Field("deductions", "[{reason, amount}] deducted from the deposit", max_len=20),
            },
            {"lease": L, "deductions": [{"reason": "墙面修补", "amount": 30_000}]},
            ("NOT_RECEIVER", "LEASE_NOT_ENDED", "AMOUNT_MISMATCH", "ALREADY_DONE", "UNKNOWN_REFERENCE"),
        ),
        _k(
            "deposit.accept",
            "The tenant accepts the deposit settlement (otherwise they open a dispute on it).",
            "the tenant",
            {"lease": Field("id", "the lease")},
            {"lease": L},
            ("NOT_LEASE_PARTY", "ALREADY_DONE", "UNKNOWN_REFERENCE"),
        ),
        _k(
            "dispute.open",
            "A party to a lease opens a dispute with evidence hashes.",
            "a party to the lease (tenant, landlord, owner, or the agency / its agent)",
            {
                "lease": Field("id", "the lease"),
                "subject": enum("what it is about", "deposit", "rent", "condition", "termination", "other"),
                "evidence": hashes("SHA-256 hashes of the evidence (at least one)", 20),
                "claim": money("amount claimed, fen", optional=True),
            },
            {"lease": L, "subject": "deposit", "evidence": [H], "claim": 30_000},
            ("NOT_LEASE_PARTY", "INVALID_FIELD", "UNKNOWN_REFERENCE"),
        ),
        _k(
            "dispute.resolve",
            "The housing authority records a dispute's outcome.",
            "the housing authority",
            {
                "dispute": Field("id", "the dispute"),
                "outcome": enum("who prevails", "upheld", "rejected", "settled"),
                "award": money("amount awarded to the opener, fen"),
                "decision_hash": Field("hash", "SHA-256 of the decision"),
            },
            {"dispute": D, "outcome": "upheld", "award": 30_000, "decision_hash": H},
            ("WRONG_ROLE", "ALREADY_DONE", "UNKNOWN_REFERENCE"),
        ),
        _k(
            "report.file",
            "Any registered party reports a listing as fake, with evidence.",
            "any registered party",
            {"listing": Field("id", "the listing"), "evidence": hashes("SHA-256 hashes of the evidence", 20)},
            {"listing": LS, "evidence": [H]},
            ("UNKNOWN_REFERENCE", "INVALID_FIELD"),
        ),
        _k(
            "report.resolve",
            "The housing authority confirms a fake-listing report (listing revoked) or dismisses it.",
            "the housing authority",
            {
                "report": Field("id", "the report"),
                "outcome": enum("the finding", "confirmed", "dismissed"),
                "decision_hash": Field("hash", "SHA-256 of the decision"),
            },
            {"report": R, "outcome": "confirmed", "decision_hash": H},
            ("WRONG_ROLE", "ALREADY_DONE", "UNKNOWN_REFERENCE"),
        ),
        _k(
            "review.write",
            "After a lease ends, each side reviews a counterparty once.",
            "a party to the lease (tenant; landlord; the agency or its agent)",
            {
                "lease": Field("id", "the lease"),
                "subject": Field("key", "the counterparty reviewed"),
                "rating": integer("1 (worst) to 5 (best)", 1, 5),
                "text_hash": Field("hash", "SHA-256 of the review text (kept off-ledger)"),
            },
            {"lease": L, "subject": K_OWNER, "rating": 5, "text_hash": H},
            ("NOT_COUNTERPARTY", "LEASE_NOT_ENDED", "ALREADY_REVIEWED", "LEASE_NOT_LIVE", "UNKNOWN_REFERENCE"),
        ),
    ]
}


def example_body(kind: str, *, chain: str = "anju-demo", signer: str = K_OWNER, seq: int = 1) -> dict[str, Any]:
    """A complete example body for ``kind`` (placeholder keys and ids)."""
    return {"chain": chain, "signer": signer, "seq": seq, **KINDS[kind].example}
