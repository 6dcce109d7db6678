"""The portal's action forms: fields, labels (marked for translation) and parsing into body fields.

Parsing turns what a person typed (yuan, dates, a contract's text) into the ledger's units (fen,
``YYYY-MM-DD``, SHA-256 hex); a value it cannot read becomes a refusal next to its field, in the
reader's language, before anything is signed.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from anju.crypto.commitments import commit, document_text, keyed_commit
from anju.crypto.keys import is_hex_key
from anju.registry.dates import parse_date, parse_month
from anju.registry.kinds import KINDS
from anju.registry.schema import MAX_MONEY
from anju.web.i18n import N_, Gettext
from anju.web.personal import personal_data
from anju.web.refusals import Refusal

_ID = re.compile(r"^[0-9a-f]{16}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_WHOLE = re.compile(r"[+-]?[0-9]+")
"""A whole number as typed, after NFKC (a full-width IME's digits are ASCII then): ASCII digits only,
as for money (\\d would also take Arabic-Indic and other digits, which int() reads)."""
_DIGITS_READ = 40
"""Digits of a number (a whole number, or yuan) read at most: far beyond any sum or field range the
ledger holds, so a longer one is refused as out of range, not as unreadable (and Python's int()
raises ValueError past 4300 digits)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One form field: its body name, label msgid, input type, and whether it may be left empty."""

    name: str
    label: str
    type: str  # text, textarea, date, month, money, int, bool, key, id, digest, choice, sha256, commit, certificate
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()  # (value, label msgid)
    help: str | None = None
    lo: int | None = None
    hi: int | None = None
    hidden: bool = False  # a value the page fills in (the lease, listing, offer… it acts on), still checked by type


@dataclass(frozen=True, slots=True)
class Form:
    """An action: which transaction kind it sends, who may use it, and its fields."""

    name: str
    kind: str | None
    title: str
    submit: str
    roles: tuple[str, ...]
    fields: tuple[Field, ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


_COLLECTOR = (("landlord", N_("the landlord")), ("agency", N_("the agency")))
_DISPUTE = (
    ("deposit", N_("deposit")),
    ("rent", N_("rent")),
    ("condition", N_("condition of the home")),
    ("termination", N_("termination")),
    ("other", N_("other")),
)
_LEASE_TERMS = (
    Field("start", N_("First day"), "date"),
    Field("end", N_("Last day"), "date"),
    Field("rent", N_("Monthly rent (yuan)"), "money"),
    Field("deposit", N_("Deposit (yuan)"), "money"),
    Field("payment_day", N_("Rent due on day of month"), "int", lo=1, hi=28),
    Field("notice_days", N_("Notice for termination (days)"), "int", lo=0, hi=365),
    Field("collector", N_("Rent is collected by"), "choice", choices=_COLLECTOR),
    # a salted commitment, not a plain SHA-256: a copy of the contract would otherwise find its parties'
    # keys on the public ledger (the salt is kept with the offer for its parties, anju.web.offers)
    Field("document_hash", N_("Contract text (a salted commitment to it goes on the ledger)"), "commit"),
)

_PUBLIC = N_(
    "Public and kept on the ledger forever: no names, phone numbers, ID numbers, e-mail or messaging "
    "accounts, and no building, door or room numbers."
)
_PLACES = ("district", "street", "neighbourhood")  # a location's own fields: any door number is refused

_PARTY = Field("party", N_("Party"), "key", hidden=True)
_PARTY_DECISION = (_PARTY, Field("reason_hash", N_("Decision (its SHA-256 goes on the ledger)"), "sha256"))
_PARTY_LICENCE = (_PARTY, Field("licence", N_("Licence number"), "certificate"))

FORMS: dict[str, Form] = {
    f.name: f
    for f in [
        Form(
            "unit.register",
            "unit.register",
            N_("Register a unit"),
            N_("Register unit"),
            ("landlord",),
            (
                Field("district", N_("District"), "text"),
                Field("street", N_("Street"), "text", help=_PUBLIC),
                Field("neighbourhood", N_("Neighbourhood"), "text", help=_PUBLIC),
                Field("address_commitment", N_("Full address with building and room (kept off the ledger)"), "commit"),
                Field("floor_area_m2", N_("Floor area (m²)"), "int", lo=1, hi=10_000),
                Field("rooms", N_("Rooms"), "int", lo=0, hi=50),
            ),
        ),
        Form(
            "mandate.grant",
            "mandate.grant",
            N_("Grant a mandate to an agency"),
            N_("Grant mandate"),
            ("landlord",),
            (
                Field("unit", N_("Unit"), "id"),
                Field("agency", N_("Agency"), "key"),
                Field("exclusive", N_("Exclusive (no other agency)"), "bool", required=False),
                Field("from", N_("From"), "date"),
                Field("to", N_("Until"), "date"),
                Field("may_sign", N_("The agency may sign leases for me"), "bool", required=False),
                Field("min_rent", N_("Lowest monthly rent (yuan)"), "money"),
            ),
        ),
        Form(
            "mandate.revoke",
            "mandate.revoke",
            N_("Revoke a mandate"),
            N_("Revoke"),
            ("landlord", "agency"),
            (Field("mandate", N_("Mandate"), "id", hidden=True),),
        ),
        Form(
            "listing.publish",
            "listing.publish",
            N_("Publish a listing"),
            N_("Publish"),
            ("landlord", "agency", "agent"),
            (
                Field("unit", N_("Unit"), "id"),
                Field("mandate", N_("Mandate (agencies)"), "id", required=False),
                Field("rent", N_("Monthly rent (yuan)"), "money"),
                Field("deposit", N_("Deposit (yuan)"), "money"),
                Field("available_from", N_("Available from"), "date"),
                Field("min_term_months", N_("Shortest lease (months)"), "int", lo=1, hi=120),
                Field("description", N_("Description"), "textarea", help=_PUBLIC),
            ),
        ),
        Form(
            "listing.withdraw",
            "listing.withdraw",
            N_("Withdraw a listing"),
            N_("Withdraw"),
            ("landlord", "agency", "agent"),
            (Field("listing", N_("Listing"), "id", hidden=True),),
        ),
        Form(
            "listing.renew",
            "listing.renew",
            N_("Renew a listing's code"),
            N_("Renew code"),
            ("landlord", "agency", "agent"),
            (Field("listing", N_("Listing"), "id", hidden=True),),
        ),
        Form(
            "lease.offer",
            None,
            N_("Offer a lease to a tenant"),
            N_("Sign and offer"),
            ("landlord", "agency", "agent"),
            (
                Field("unit", N_("Unit"), "id"),
                Field("tenant", N_("Tenant's party key"), "key"),
                Field("mandate", N_("Mandate (agencies)"), "id", required=False),
                Field("listing", N_("Listing"), "id", required=False),
                *_LEASE_TERMS,
            ),
        ),
        Form(
            "lease.propose_renewal",
            None,
            N_("Propose a renewal to the tenant"),
            N_("Sign and propose"),
            ("landlord", "agency", "agent", "tenant"),  # a tenant: the landlord of a sublease
            (Field("lease", N_("Lease"), "id", hidden=True), *(f for f in _LEASE_TERMS if f.name != "start")),
        ),
        Form(
            "lease.propose_end",
            None,
            N_("Propose ending the lease by mutual agreement"),
            N_("Sign and propose"),
            ("landlord", "agency", "agent", "tenant"),
            (
                Field("lease", N_("Lease"), "id", hidden=True),
                Field("on", N_("New last day"), "date"),
                Field("reason_hash", N_("Agreement text (its SHA-256 goes on the ledger)"), "sha256"),
            ),
        ),
        Form(
            "lease.offer_sublease",
            None,
            N_("Offer a sublease of this home"),
            N_("Sign and ask for consent"),
            ("tenant",),
            (
                Field("lease", N_("Lease"), "id", hidden=True),
                Field("tenant", N_("Subtenant's party key"), "key"),
                *(f for f in _LEASE_TERMS if f.name != "collector"),
            ),
        ),
        Form(
            "offer.reissue",
            None,
            N_("Offer it again"),
            N_("Sign again"),
            ("landlord", "agency", "agent", "tenant"),
            (Field("offer", N_("Offer"), "id", hidden=True),),
        ),
        Form(
            "offer.withdraw",
            None,
            N_("Withdraw this offer"),
            N_("Withdraw"),
            ("landlord", "agency", "agent", "tenant"),
            (Field("offer", N_("Offer"), "id", hidden=True),),
        ),
        Form(
            "offer.consent",
            None,
            N_("Consent to this sublease"),
            N_("Sign consent"),
            ("landlord", "tenant"),  # the owner; for a sublease of a sublease first its landlord, a tenant
            (Field("offer", N_("Offer"), "id", hidden=True),),
        ),
        Form(
            "offer.refuse",
            None,
            N_("Refuse consent"),
            N_("Refuse"),
            ("landlord", "tenant"),
            (Field("offer", N_("Offer"), "id", hidden=True),),
        ),
        Form(
            "offer.agree_end",
            None,
            N_("Agree to leave sooner than your sublease's notice"),
            N_("Agree to leave sooner"),
            ("tenant",),  # a subtenant whose sublease a mutual end of a lease above it cuts short
            (Field("offer", N_("Offer"), "id", hidden=True),),
        ),
        Form(
            "offer.refuse_end",
            None,
            N_("Refuse to leave sooner than your sublease's notice"),
            N_("Refuse, keep my notice"),
            ("tenant",),
            (Field("offer", N_("Offer"), "id", hidden=True),),
        ),
        Form(
            "offer.accept",
            None,
            N_("Sign this lease"),
            N_("Countersign lease"),
            ("tenant",),
            (Field("offer", N_("Offer"), "id", hidden=True),),
        ),
        Form(
            "offer.decline",
            None,
            N_("Decline this offer"),
            N_("Decline"),
            ("tenant",),
            (Field("offer", N_("Offer"), "id", hidden=True),),
        ),
        Form(
            "rent.pay",
            "rent.pay",
            N_("Record a rent payment"),
            N_("Record payment"),
            ("tenant",),
            (
                Field("lease", N_("Lease"), "id", hidden=True),
                Field("period", N_("First month paid (YYYY-MM)"), "month"),
                Field("months", N_("Months"), "int", lo=1, hi=12),
                Field("amount", N_("Amount (yuan)"), "money"),
            ),
        ),
        Form(
            "deposit.lodge",
            "deposit.lodge",
            N_("Record paying the deposit"),
            N_("Record deposit"),
            ("tenant",),
            (
                Field("lease", N_("Lease"), "id", hidden=True),
                Field("amount", N_("Amount (yuan)"), "money"),
            ),
        ),
        Form(
            "payment.confirm",
            "payment.confirm",
            N_("Confirm a payment received"),
            N_("Confirm received"),
            ("landlord", "agency", "agent"),
            (Field("payment", N_("Payment"), "id", hidden=True),),
        ),
        Form(
            "payment.refuse",
            "payment.refuse",
            N_("Say this payment never arrived"),
            N_("Not received"),
            ("landlord", "agency", "agent"),
            (
                Field("payment", N_("Payment"), "id", hidden=True),
                Field(
                    "reason_hash",
                    N_("What you checked, e.g. the account statement (its SHA-256 goes on the ledger)"),
                    "sha256",
                ),
            ),
        ),
        Form(
            "deposit.return",
            "deposit.return",
            N_("Settle the deposit"),
            N_("Settle deposit"),
            ("landlord", "agency"),
            (
                Field("lease", N_("Lease"), "id", hidden=True),
                Field("deduction_reason", N_("Deduction reason"), "text", required=False, help=_PUBLIC),
                Field("deduction_amount", N_("Deduction (yuan)"), "money", required=False),
            ),
        ),
        Form(
            "deposit.accept",
            "deposit.accept",
            N_("Accept the deposit settlement"),
            N_("Accept settlement"),
            ("tenant",),
            (Field("lease", N_("Lease"), "id", hidden=True),),
        ),
        Form(
            "dispute.open",
            "dispute.open",
            N_("Open a dispute"),
            N_("Open dispute"),
            ("tenant", "landlord", "agency"),
            (
                Field("lease", N_("Lease"), "id", hidden=True),
                Field("subject", N_("About"), "choice", choices=_DISPUTE),
                Field("evidence", N_("Evidence (its SHA-256 goes on the ledger)"), "sha256"),
                Field("claim", N_("Amount claimed (yuan)"), "money", required=False),
            ),
        ),
        Form(
            "review.write",
            "review.write",
            N_("Review your counterparty"),
            N_("Publish review"),
            ("tenant", "landlord", "agency"),
            (
                Field("lease", N_("Lease"), "id", hidden=True),
                Field("subject", N_("Counterparty"), "key", hidden=True),
                Field("rating", N_("Rating (1–5)"), "int", lo=1, hi=5),
                Field("text_hash", N_("Review text (kept off the ledger; its SHA-256 goes on it)"), "sha256"),
            ),
        ),
        Form(
            "lease.terminate",
            "lease.terminate",
            N_("Give notice"),
            N_("Give notice"),
            ("tenant", "landlord", "agency"),
            (
                Field("lease", N_("Lease"), "id", hidden=True),
                Field("on", N_("New last day"), "date"),
                Field("reason_hash", N_("Reason (its SHA-256 goes on the ledger)"), "sha256"),
            ),
        ),
        Form(
            "report.file",
            "report.file",
            N_("Report this listing as fake"),
            N_("Report"),
            ("tenant", "landlord", "agency", "agent", "bank"),
            (
                Field("listing", N_("Listing"), "id", hidden=True),
                Field("evidence", N_("What is wrong (its SHA-256 goes on the ledger)"), "sha256"),
            ),
        ),
        Form(
            "title.attest",
            "title.attest",
            N_("Attest title"),
            N_("Attest title"),
            ("authority",),
            (
                Field("unit", N_("Unit"), "id", hidden=True),
                Field("certificate_commitment", N_("Title certificate number (kept off the ledger)"), "certificate"),
            ),
        ),
        Form(
            "lease.register",
            "lease.register",
            N_("Register lease"),
            N_("Register (备案)"),
            ("authority",),
            (Field("lease", N_("Lease"), "id", hidden=True),),
        ),
        Form(
            "report.resolve",
            "report.resolve",
            N_("Decide report"),
            N_("Record decision"),
            ("authority",),
            (
                Field("report", N_("Report"), "id", hidden=True),
                Field(
                    "outcome",
                    N_("Finding"),
                    "choice",
                    choices=(("confirmed", N_("fake: confirmed")), ("dismissed", N_("dismissed"))),
                ),
                Field("decision_hash", N_("Decision text"), "sha256"),
            ),
        ),
        Form(
            "dispute.resolve",
            "dispute.resolve",
            N_("Decide dispute"),
            N_("Record decision"),
            ("authority",),
            (
                Field("dispute", N_("Dispute"), "id", hidden=True),
                Field(
                    "outcome",
                    N_("Outcome"),
                    "choice",
                    choices=(("upheld", N_("upheld")), ("rejected", N_("rejected")), ("settled", N_("settled"))),
                ),
                Field("award", N_("Award (yuan)"), "money"),
                Field("decision_hash", N_("Decision text"), "sha256"),
            ),
        ),
        Form(
            "bank.attest_escrow",
            "bank.attest_escrow",
            N_("Attest a supervised account"),
            N_("Attest"),
            ("bank",),
            (
                Field("lease", N_("Lease"), "id", hidden=True),
                Field(
                    "purpose",
                    N_("The account holds"),
                    "choice",
                    choices=(("deposit", N_("the deposit")), ("rent", N_("rent paid ahead"))),
                ),
                Field("amount", N_("Amount held (yuan)"), "money"),
                Field("account_commitment", N_("Supervised account number (kept off the ledger)"), "commit"),
            ),
        ),
        Form(
            "authority.license_bank",
            "authority.license_bank",
            N_("License bank"),
            N_("License"),
            ("authority",),
            _PARTY_LICENCE,
        ),
        Form(
            "authority.suspend",
            "authority.suspend",
            N_("Suspend this party"),
            N_("Suspend"),
            ("authority",),
            _PARTY_DECISION,
        ),
        Form(
            "authority.reinstate",
            "authority.reinstate",
            N_("Reinstate this party"),
            N_("Reinstate"),
            ("authority",),
            _PARTY_DECISION,
        ),
        Form(
            "authority.revoke_licence",
            "authority.revoke_licence",
            N_("Revoke this licence"),
            N_("Revoke licence"),
            ("authority",),
            _PARTY_DECISION,
        ),
        Form(
            "agency.appoint_agent",
            "agency.appoint_agent",
            N_("Appoint an agent"),
            N_("Appoint"),
            ("agency",),
            (Field("agent", N_("Agent's party key"), "key"),),
        ),
        Form(
            "agency.dismiss_agent",
            "agency.dismiss_agent",
            N_("Dismiss this agent"),
            N_("Dismiss"),
            ("agency",),
            (Field("agent", N_("Agent"), "key", hidden=True),),
        ),
        Form(
            "authority.attest_identity",
            "authority.attest_identity",
            N_("Attest identity"),
            N_("Attest identity"),
            ("authority",),
            (
                _PARTY,
                Field("commitment", N_("Commitment"), "digest", hidden=True),
            ),
        ),
        Form(
            "authority.license_agency",
            "authority.license_agency",
            N_("License agency"),
            N_("License"),
            ("authority",),
            _PARTY_LICENCE,
        ),
    ]
}


def body_fields(form: Form, fields: dict[str, Any], role: str, secret: bytes = b"") -> dict[str, Any]:
    """The transaction body fields of ``form`` (one with a kind) from its parsed ``fields``, as
    signed by a party of ``role`` whose private ``secret`` salts certificate and licence numbers: what the
    form asks in people's terms, in the kind's shape."""
    out = dict(fields)
    for f in form.fields:  # one certificate, one commitment (the registry refuses a second use)
        if f.type == "certificate" and f.name in out:
            purpose = "licence" if f.name == "licence" else "title-certificate"
            out[f.name] = keyed_commit(secret, purpose, out[f.name])[1]
    if form.name == "deposit.return":
        deductions = []
        if out.get("deduction_amount"):
            deductions.append({"reason": out.get("deduction_reason") or "-", "amount": out["deduction_amount"]})
        out = {"lease": out["lease"], "deductions": deductions}
    elif form.name == "listing.publish":
        out.setdefault("photos", [])
        if role == "landlord":
            out.pop("mandate", None)
    elif form.name == "lease.terminate":
        out["mode"] = "notice"  # one side's notice; a mutual end needs both signatures (not a form)
    elif form.name in ("dispute.open", "report.file"):
        out["evidence"] = [out["evidence"]]  # the kind takes a list of hashes; the form gives one
    return out


def yuan_to_fen(text: str) -> int | None:
    """Yuan as typed ("9,500", "¥9500.50", "9500元", full-width "９５００" from a Chinese input method) in fen,
    exactly; None for what is no amount of money: anything but digits with at most two decimals
    (a negative amount, finer than a fen, "1e3", "1_000", "NaN", "Infinity": what Python's Decimal
    and int() would read as numbers, a person did not mean as a sum of yuan)."""
    plain = unicodedata.normalize("NFKC", text).replace(",", "").strip()
    plain = plain.removeprefix("¥").removesuffix("元").strip()  # ¥9,500 or 9500元 (￥ is ¥ in NFKC)
    found = _YUAN.fullmatch(plain)
    if found is None or len(found[1]) > _DIGITS_READ:
        return None
    return int(found[1]) * 100 + int((found[2] or "").ljust(2, "0"))


_YUAN = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?")


def parse(form: Form, raw: dict[str, str], _: Gettext) -> tuple[dict[str, Any], Refusal, dict[str, str]]:
    """(body fields, refusal, notes for the user) from the submitted strings."""
    out: dict[str, Any] = {}
    notes: dict[str, str] = {}
    bad = Refusal()
    names = form.field_names
    for f in form.fields:
        text = raw.get(f.name, "").strip()
        if f.type == "bool":
            out[f.name] = text in ("on", "true", "1", "yes")
            continue
        if not text:
            if f.required:
                bad.add(_, "FORM_REQUIRED", f.name, names)
            continue
        if "\ufffd" in text:  # bytes that were not UTF-8, as the server decoded them: never signed as typed
            bad.add(_, "FORM_ENCODING", f.name, names)
            continue
        value: Any = text
        if f.type == "date":
            value = text if parse_date(text) is not None else None
            code = "FORM_DATE"
        elif f.type == "month":
            value = text if parse_month(text) is not None else None
            code = "FORM_MONTH"
        elif f.type == "money":
            value = yuan_to_fen(text)
            code = "FORM_MONEY"
            if value is not None and value > MAX_MONEY:  # (beyond any sum the ledger holds)
                value, code = None, "INTEGER_OUT_OF_RANGE"
        elif f.type == "int":  # digits only: "45.5" or "1e3" is no whole number, nor "1_000" (which int() reads)
            plain = unicodedata.normalize("NFKC", text)
            whole = _WHOLE.fullmatch(plain) is not None
            value = int(plain) if whole and len(plain) <= _DIGITS_READ else None
            code = "NON_INTEGER_NUMBER"
            below = value is not None and f.lo is not None and value < f.lo
            above = value is not None and f.hi is not None and value > f.hi
            if whole and (value is None or below or above):
                value = None
                code = "FORM_RANGE" if f.lo is not None and f.hi is not None else "INTEGER_OUT_OF_RANGE"
        elif f.type == "key":
            value = text.lower() if is_hex_key(text.lower()) else None
            code = "FORM_KEY"
        elif f.type == "id":
            value = text.lower() if _ID.match(text.lower()) else None
            code = "UNKNOWN_REFERENCE"
        elif f.type == "digest":
            value = text.lower() if _DIGEST.match(text.lower()) else None
            code = "INVALID_FIELD"
        elif f.type == "choice":
            value = text if text in {c for c, _label in f.choices} else None
            code = "FORM_CHOICE"
        elif f.type == "sha256":
            value = hashlib.sha256(text.encode()).hexdigest()
            code = "FORM_REQUIRED"
        elif f.type == "commit":
            salt, value = commit(document_text(text))  # (a contract's line breaks as \n: as a file's are read)
            notes[f.name] = salt
            code = "FORM_REQUIRED"
        else:
            code = "FORM_REQUIRED"
            if len(text) > _max_len(form, f.name):  # (the ledger's bound on the body field it becomes)
                value, code = None, "FORM_TOO_LONG"
            elif f.type in ("text", "textarea") and personal_data(text, place=f.name in _PLACES) is not None:
                # in clear on the ledger, forever (a certificate or licence number goes there salted and hashed)
                value, code = None, "FORM_PERSONAL_DATA"
        if value is None:
            bad.add(_, code, f.name, names, {"lo": f.lo, "hi": f.hi} if code == "FORM_RANGE" else None)
        else:
            out[f.name] = value
    # a deduction's reason alone deducts nothing: say so, rather than return the whole deposit unseen
    reason_alone = out.get("deduction_reason") and not out.get("deduction_amount")
    if form.name == "deposit.return" and reason_alone and "deduction_amount" not in bad.fields:
        bad.add(_, "FORM_DEDUCTION_AMOUNT", "deduction_amount", names)
    return out, bad, notes


def _max_len(form: Form, name: str) -> int | float:
    """The most characters the ledger takes in text field ``name`` of ``form``'s kind (no bound: inf)."""
    kind = KINDS.get(form.kind) if form.kind else None
    f = kind.fields.get(name) if kind is not None else None
    return f.max_len if f is not None and f.type == "text" and f.max_len else math.inf
