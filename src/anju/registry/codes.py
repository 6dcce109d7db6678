"""The registry's stable error codes, added to the one table in :mod:`anju.errors`.

Generic codes it reuses from that table: UNKNOWN_SIGNER, UNKNOWN_KIND, UNKNOWN_FIELD,
INVALID_FIELD, INTEGER_OUT_OF_RANGE, MISSING_SIGNATURE.
"""

from __future__ import annotations

from typing import Any, NoReturn

from anju.errors import TxRejected, register_codes

# code -> (HTTP status, meaning)
REGISTRY_CODES: dict[str, tuple[int, str]] = {
    "ALREADY_REGISTERED": (409, "the key is already a registered party"),
    "WRONG_ROLE": (403, "the signer's (or a named party's) role may not take this action"),
    "PARTY_SUSPENDED": (403, "the signer or a named party is suspended by the housing authority"),
    "NOT_LICENSED": (403, "the agency or bank has no licence from the housing authority"),
    "IDENTITY_NOT_ATTESTED": (403, "the party's identity has not been attested by the housing authority"),
    "UNKNOWN_REFERENCE": (422, "a party, unit, mandate, listing, lease, payment, dispute or report it names is absent"),
    "ALREADY_EXISTS": (409, "an object with the id this transaction derives already exists"),
    "ALREADY_DONE": (409, "the action was already taken (registered, confirmed, resolved, returned, revoked)"),
    "NOT_OWNER": (403, "only the unit's owner may do this"),
    "UNIT_NOT_ATTESTED": (409, "the unit's title has not been attested by the housing authority"),
    "TITLE_ALREADY_ATTESTED": (409, "the unit already has a title, or the certificate already backs another unit"),
    "MANDATE_REQUIRED": (403, "an agency acts on a unit without its own mandate for that unit"),
    "MANDATE_NOT_LIVE": (409, "the mandate is revoked, expired or not yet in force on the block date"),
    "EXCLUSIVE_MANDATE": (409, "another agency's exclusive mandate covers the unit for these dates"),
    "MANDATE_NO_SIGNING": (403, "the mandate does not allow the agency to sign leases for the owner"),
    "RENT_BELOW_MINIMUM": (409, "the rent is below the minimum the owner set in the mandate"),
    "LISTING_EXISTS": (409, "the publisher already has a live listing for this unit"),
    "UNIT_NOT_FREE": (
        409,
        "a lease of the unit falls within the advertised term (available-from date and shortest lease)",
    ),
    "LISTING_NOT_LIVE": (409, "the listing is withdrawn or revoked (or, where a live one is needed, expired)"),
    "NOT_PUBLISHER": (403, "only the listing's publisher may do this"),
    "LEASE_OVERLAP": (409, "the lease overlaps another lease of the same unit (one unit, one lease at a time)"),
    "NOT_LEASE_PARTY": (403, "the signer is not a party to the lease"),
    "SUBLEASE_CONSENT_REQUIRED": (
        403,
        "a sublease needs the owner's signature among the envelope's sigs (from edition 6, a sublease of a "
        "sublease its parent lease's landlord's too)",
    ),
    "SUBLEASE_OUTSIDE_PARENT": (409, "a sublease must lie within its parent lease's dates"),
    "LEASE_NOT_LIVE": (409, "the lease is terminated or has ended"),
    "LEASE_NOT_ENDED": (409, "the action needs the lease to have ended first"),
    "NOTICE_TOO_SHORT": (
        409,
        "a unilateral termination date is sooner than the lease's notice period allows (from edition 7 also: "
        "a termination by agreement or by the tenant's notice cuts a sublease sooner than its own notice allows, "
        "and its subtenant did not sign)",
    ),
    "RENEWAL_NOT_CONTIGUOUS": (409, "a renewal must start the day after the previous lease ends, same unit and tenant"),
    "AMOUNT_MISMATCH": (409, "the amount does not match the lease (rent x months, deposit, deductions)"),
    "PERIOD_OUT_OF_ORDER": (
        409,
        "rent must be paid month by month, from the lease's first month, within the lease (from edition 6 "
        "confirmed in that order, and refused newest first)",
    ),
    "BANK_ATTESTATION_REQUIRED": (
        409,
        "an agency holding a deposit above one month's rent, or rent over three months ahead, needs a bank attestation",
    ),
    "NOT_RECEIVER": (403, "only the receiving side may confirm or refuse a payment or return a deposit"),
    "NOT_COUNTERPARTY": (403, "only a counterparty of the lease may review"),
    "ALREADY_REVIEWED": (409, "this side already reviewed this counterparty for this lease"),
    "PERSONAL_DATA": (
        400,
        "a text the ledger keeps in clear seems to hold personal data: a phone, identity or account number, an "
        "e-mail or messaging account, a person's name, a building, door or room number (rules edition 9)",
    ),
}

register_codes(REGISTRY_CODES)


def reject(code: str, message: str, **details: Any) -> NoReturn:
    """Refuse the transaction; the chain discards every write it made."""
    raise TxRejected(code, message, **details)
