"""Turning a refusal (a stable error code from the ledger, or a form check) into words people read.

Every code the ledger can answer has a sentence here, marked for translation, and the form field
it most likely concerns, so the page can show it next to that field. A code missing from this
table still gets a generic sentence: never a bare code or a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from anju.errors import AnjuError
from anju.web.i18n import N_, Gettext

_PERSONAL = N_(
    "This text goes on the public ledger as written, forever. It seems to hold personal data (a phone "
    "or ID number, an e-mail or messaging account, a person's name, a building, door or room number): "
    "please leave it out. The full address belongs only in the address commitment."
)

# code -> (message, the form field it belongs next to, or None for the whole form)
MESSAGES: dict[str, tuple[str, str | None]] = {
    # envelope and transport
    "MALFORMED_JSON": (N_("The request could not be read. Please try again."), None),
    "MALFORMED_ENVELOPE": (N_("The transaction is incomplete. Please fill in the form again."), None),
    "UNKNOWN_FIELD": (N_("The form sent a field the ledger does not know."), None),
    "NON_INTEGER_NUMBER": (N_("Please enter a whole number."), None),
    "INTEGER_OUT_OF_RANGE": (N_("This number is outside the allowed range."), None),
    "TX_TOO_LARGE": (N_("The text is too long. Please shorten it."), "description"),
    "PAYLOAD_TOO_LARGE": (N_("The upload is too large."), None),
    "WRONG_CHAIN": (N_("This transaction was prepared for another ledger."), None),
    "BAD_SIGNATURE": (N_("A signature does not verify. Please sign in again."), None),
    "MISSING_SIGNATURE": (N_("A required signature is missing: both sides must sign."), None),
    "DUPLICATE_SIGNATURE": (N_("The same key signed twice."), None),
    "UNKNOWN_SIGNER": (N_("Your key is not registered on this ledger yet."), None),
    "SEQ_REUSED": (N_("This action was already sent (or prepared too long ago). Please try again."), None),
    "SEQ_SKIPPED": (N_("Another action of yours is still being processed. Please try again in a moment."), None),
    "DUPLICATE_TX": (N_("This exact action was already sent."), None),
    "UNKNOWN_KIND": (N_("The ledger does not know this kind of action."), None),
    "INVALID_FIELD": (N_("This value is not valid here."), None),
    "APPLICATION_ERROR": (
        N_("The ledger could not process this action, and nothing was changed. The operators have been told."),
        None,
    ),
    "NOT_FOUND": (N_("Nothing was found under this reference."), None),
    "BAD_REQUEST": (N_("The request is not valid."), None),
    "RATE_LIMITED": (N_("Too many requests. Please wait a moment and try again."), None),
    "MEMPOOL_FULL": (N_("The ledger is busy. Please try again in a moment."), None),
    "SHUTTING_DOWN": (N_("The ledger is stopping for maintenance. Please try again later."), None),
    "BUSY": (N_("Other long histories are being prepared just now. Please try again in a minute."), None),
    "TIMEOUT": (N_("The action was accepted but not yet confirmed. Check your records again shortly."), None),
    "PROOF_INVALID": (N_("A proof does not verify."), None),
    "CHECKPOINT_INVALID": (N_("A checkpoint signature does not verify."), None),
    "STORE_CORRUPT": (N_("The ledger's storage needs attention. Please try again later."), None),
    # the rental registry
    "ALREADY_REGISTERED": (N_("This key is already registered."), None),
    "WRONG_ROLE": (N_("Your role does not allow this action."), None),
    "PARTY_SUSPENDED": (N_("This party is suspended by the housing authority."), None),
    "NOT_LICENSED": (N_("This agency has no licence from the housing authority."), "agency"),
    "IDENTITY_NOT_ATTESTED": (N_("The identity has not yet been checked by the housing authority."), None),
    "NOT_A_TENANT": (
        N_("This key is not a registered tenant whose identity the housing authority has checked."),
        "tenant",
    ),
    "UNKNOWN_REFERENCE": (N_("No such record exists on the ledger. Check the reference."), None),
    "ALREADY_EXISTS": (N_("This record already exists."), None),
    "ALREADY_DONE": (N_("This has already been done."), None),
    "NOT_OWNER": (N_("Only the unit's owner may do this."), None),
    "UNIT_NOT_ATTESTED": (N_("The unit's title has not yet been attested by the housing authority."), "unit"),
    "TITLE_ALREADY_ATTESTED": (N_("This title is already attested."), None),
    "MANDATE_REQUIRED": (N_("Your agency holds no mandate for this unit."), "mandate"),
    "MANDATE_OFFERED_BY_AGENCY": (
        N_("A lease through an agency's mandate is offered by that agency. To let it yourself, name no mandate."),
        "mandate",
    ),
    "MANDATE_NOT_LIVE": (N_("The mandate is revoked, expired or not yet in force."), "mandate"),
    "EXCLUSIVE_MANDATE": (N_("Another agency holds an exclusive mandate for this unit on these dates."), "agency"),
    "MANDATE_NO_SIGNING": (N_("The owner's mandate does not allow the agency to sign leases."), "mandate"),
    "RENT_BELOW_MINIMUM": (N_("The rent is below the minimum the owner set in the mandate."), "rent"),
    "LISTING_EXISTS": (N_("You already have a live listing for this unit."), "unit"),
    "UNIT_NOT_FREE": (
        N_("The unit is leased during the advertised term (from the available date, for the shortest lease)."),
        "available_from",
    ),
    "LISTING_NOT_LIVE": (N_("The listing is withdrawn, revoked or expired."), "listing"),
    "NOT_PUBLISHER": (N_("Only the publisher of the listing may do this."), "listing"),
    "LEASE_OVERLAP": (
        N_("Refused: this unit is already leased for part of these dates (one unit, one lease at a time)."),
        "start",
    ),
    "NOT_LEASE_PARTY": (N_("You are not a party to this lease."), "lease"),
    "SUBLEASE_CONSENT_REQUIRED": (N_("A sublease needs the owner's signed consent."), None),
    "SUBLEASE_OUTSIDE_PARENT": (N_("A sublease must lie within the dates of its parent lease."), "end"),
    "LEASE_NOT_LIVE": (N_("The lease is terminated or has ended."), "lease"),
    "LEASE_NOT_ENDED": (N_("This is possible only after the lease has ended."), "lease"),
    "NOTICE_TOO_SHORT": (
        N_("The termination date does not give the notice the lease, or a sublease within it, requires."),
        "on",
    ),
    "RENEWAL_NOT_CONTIGUOUS": (N_("A renewal must start the day after the current lease ends."), "end"),
    "AMOUNT_MISMATCH": (N_("The amount does not match the lease."), "amount"),
    "PERIOD_OUT_OF_ORDER": (
        N_("Rent must be recorded month by month, starting with the first unpaid month."),
        "period",
    ),
    "BANK_ATTESTATION_REQUIRED": (
        N_("A bank must first attest that this money sits in a supervised account."),
        "amount",
    ),
    "NOT_RECEIVER": (N_("Only the side that receives the money may do this."), None),
    "NOT_COUNTERPARTY": (N_("Only a counterparty of the lease may write this review."), "subject"),
    "ALREADY_REVIEWED": (N_("You have already reviewed this counterparty for this lease."), "subject"),
    # the portal's own checks
    "FORM_REQUIRED": (N_("This field is required."), None),
    "FORM_DATE": (N_("Please enter a date as YYYY-MM-DD."), None),
    "FORM_MONTH": (N_("Please enter a month as YYYY-MM."), None),
    "FORM_RANGE": (N_("Please enter a whole number from %(lo)s to %(hi)s."), None),
    "FORM_MONEY": (N_("Please enter an amount in yuan, e.g. 9500 or 9500.50."), None),
    "FORM_DEDUCTION_AMOUNT": (
        N_("Give the amount deducted for this reason, or leave the reason empty to return the whole deposit."),
        None,
    ),
    "FORM_CHOICE": (N_("Please choose one of the options."), None),
    "FORM_KEY": (N_("Please enter a 64-character party key."), None),
    "FORM_TOO_LONG": (N_("This text is longer than the ledger takes. Please shorten it."), None),
    "FORM_PERSONAL_DATA": (_PERSONAL, None),
    "PERSONAL_DATA": (_PERSONAL, None),  # the ledger's own check (rules edition 9): the portal's catches it first
    "FORM_RESENT": (
        N_("This form was sent already and was carried out then; nothing was done again. See your page."),
        None,
    ),
    "FORM_TOO_LARGE": (
        N_("This form is too large to send. Please shorten the longest text and try again."),
        None,
    ),
    "FORM_DATES_REVERSED": (N_("The last day comes before the first day."), "end"),
    "FORM_RENEWAL_END": (N_("A renewal must end after the current lease's last day."), "end"),
    "FORM_LEASE_TOO_LONG": (N_("A lease may run at most twenty years."), "end"),
    "FORM_START_TOO_EARLY": (N_("A lease may start at most 30 days before it is signed."), "start"),
    "FORM_END_DAY": (N_("The new last day must lie between today and the lease's last day."), "on"),
    "FORM_ENCODING": (
        N_("Some characters of this text could not be read (they were not sent as UTF-8). Please type it again."),
        None,
    ),
    "OFFER_STALE": (
        N_("This offer was prepared before your latest action. Ask the landlord side to issue it again."),
        None,
    ),
    "OFFER_GONE": (N_("This offer no longer exists."), None),
    "OFFER_WAITING": (
        N_(
            "This sublease still waits for the owner's consent (for a sublease of a sublease, its sub-landlord's "
            "landlord's too); you can sign it once every consent is in."
        ),
        None,
    ),
    "OFFER_WAITING_AGREEMENT": (
        N_(
            "This end still waits for the agreement of a subtenant it would move out sooner than their notice; "
            "you can sign it once each one asked has agreed."
        ),
        None,
    ),
    "OFFER_STALE_AGREEMENT": (
        N_(
            "The tenant has signed something else since this end was proposed. Ask the landlord side to issue it again."
        ),
        None,
    ),
    "OFFER_STALE_SUBLEASES": (
        N_(
            "Since this end was proposed, it has come to cut a sublease sooner than its notice, and that subtenant "
            "was not asked. Ask the landlord side to issue it again: the subtenant is then asked to agree first."
        ),
        None,
    ),
    "NOTICE_TOO_SHORT_SUBLEASE": (
        N_(
            "This day would end a sublease within your lease sooner than its own notice, and a notice cannot carry "
            "its subtenant's agreement. Choose a later day, or ask your landlord to propose ending the lease by "
            "agreement: the subtenant is then asked to agree."
        ),
        "on",
    ),
    "OFFER_STALE_CONSENT": (
        N_("The subtenant has signed something else since this offer was made. Ask the tenant to issue it again."),
        None,
    ),
    "NOT_YOURS": (N_("This can only be done by the party it is addressed to."), None),
    "SESSION_EXPIRED": (N_("Your session has ended. Please sign in again."), None),
    "BAD_FORM_TOKEN": (N_("The form expired. Please reload the page and try again."), None),
    "KEYSTORE_PASSWORD": (N_("Wrong password, or the keystore file is damaged."), "password"),
    "PASSWORD_SHORT": (N_("Choose a password of at least 10 characters."), "password"),
    "PASSWORD_MISMATCH": (N_("The two passwords differ."), "password2"),
    "NAME_REQUIRED": (N_("Agencies and banks register under their business name."), "name"),
    "KEYFILE_INVALID": (N_("This file is not an Anju key file or keystore."), "keyfile"),
    "NOT_A_PARTY": (N_("This key is not a registered party of this ledger."), "keyfile"),
    "SESSIONS_FULL": (N_("Too many people are signed in right now. Please try again in a few minutes."), None),
    "SIGNIN_RATE": (N_("Too many keystore sign-ins from your address. Please wait a minute and try again."), None),
    "REGISTER_RATE": (N_("Too many registrations from your address. Please wait a minute and try again."), None),
    "TENANT_OFFERS_FULL": (
        N_("This tenant already has many offers waiting. Ask them to answer those, or withdraw yours, first."),
        None,
    ),
    "OFFERER_OFFERS_FULL": (
        N_(
            "You already made this tenant several offers in the last 30 days that are waiting or were declined. "
            "Wait for their answer, or withdraw one, first."
        ),
        None,
    ),
    "PORTAL_BUSY": (N_("The portal is busy checking other passwords. Please try again in a minute."), None),
    "UNEXPECTED": (N_("Something went wrong on our side. Please check your records before trying again."), None),
}

GENERIC = N_("The action was refused. Please check the form and try again.")


@dataclass(slots=True)
class Refusal:
    """A refusal to show: per-field messages and form-level messages, already translated."""

    fields: dict[str, str] = field(default_factory=dict)
    form: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.form)

    def add(
        self,
        _: Gettext,
        code: str,
        field_name: str | None = None,
        form_fields: tuple[str, ...] = (),
        values: dict[str, Any] | None = None,
    ) -> None:
        """Add the sentence for ``code`` (with its placeholders filled from ``values``); next to
        ``field_name`` (or the code's usual field) if the form has it."""
        text, default_field = MESSAGES.get(code, (GENERIC, None))
        sentence = _(text) % values if values else _(text)
        where = field_name or default_field
        if where is not None and where in form_fields and where not in self.fields:
            self.fields[where] = sentence
        else:
            self.form.append(sentence)


def from_error(_: Gettext, exc: AnjuError, form_fields: tuple[str, ...], lease: str | None = None) -> Refusal:
    """The refusal for a ledger error, placed next to the field its details name when the form has it.
    ``lease``: the lease a notice ends; NOTICE_TOO_SHORT naming another lease (a sublease in it, rules
    edition 7) gets the sentence that says a notice cannot carry its subtenant's agreement."""
    out = Refusal()
    details: dict[str, Any] = exc.details
    named = details.get("field")
    code = exc.code
    if code == "NOTICE_TOO_SHORT" and lease is not None and details.get("lease") not in (None, lease):
        code = "NOTICE_TOO_SHORT_SUBLEASE"
    out.add(_, code, str(named) if named else None, form_fields)
    return out
