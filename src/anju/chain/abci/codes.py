"""Stable ABCI result codes: 0 is success, every Anju error code has its own number.

The numbers are part of the contract (clients of CometBFT's RPC see them): append new codes,
never renumber. ``codespace`` carries the code's name, ``log`` the human message. A code that is
missing from this table (an application registered it later) answers ``OTHER_CODE`` with its
name in ``codespace``.
"""

from __future__ import annotations

OK = 0
OTHER_CODE = 1

ABCI_CODES: dict[str, int] = {
    # envelope, transport and sequencing (2..39)
    "MALFORMED_JSON": 2,
    "MALFORMED_ENVELOPE": 3,
    "UNKNOWN_FIELD": 4,
    "NON_INTEGER_NUMBER": 5,
    "INTEGER_OUT_OF_RANGE": 6,
    "TX_TOO_LARGE": 7,
    "WRONG_CHAIN": 8,
    "BAD_SIGNATURE": 9,
    "MISSING_SIGNATURE": 10,
    "DUPLICATE_SIGNATURE": 11,
    "UNKNOWN_SIGNER": 12,
    "SEQ_REUSED": 13,
    "SEQ_SKIPPED": 14,
    "DUPLICATE_TX": 15,
    "UNKNOWN_KIND": 16,
    "INVALID_FIELD": 17,
    "MEMPOOL_FULL": 18,
    "SHUTTING_DOWN": 19,
    "APPLICATION_ERROR": 20,
    # the rental registry's rules (100..)
    "ALREADY_REGISTERED": 100,
    "WRONG_ROLE": 101,
    "PARTY_SUSPENDED": 102,
    "NOT_LICENSED": 103,
    "IDENTITY_NOT_ATTESTED": 104,
    "UNKNOWN_REFERENCE": 105,
    "ALREADY_EXISTS": 106,
    "ALREADY_DONE": 107,
    "NOT_OWNER": 108,
    "UNIT_NOT_ATTESTED": 109,
    "TITLE_ALREADY_ATTESTED": 110,
    "MANDATE_REQUIRED": 111,
    "MANDATE_NOT_LIVE": 112,
    "EXCLUSIVE_MANDATE": 113,
    "MANDATE_NO_SIGNING": 114,
    "RENT_BELOW_MINIMUM": 115,
    "LISTING_EXISTS": 116,
    "UNIT_NOT_FREE": 117,
    "LISTING_NOT_LIVE": 118,
    "NOT_PUBLISHER": 119,
    "LEASE_OVERLAP": 120,
    "NOT_LEASE_PARTY": 121,
    "SUBLEASE_CONSENT_REQUIRED": 122,
    "SUBLEASE_OUTSIDE_PARENT": 123,
    "LEASE_NOT_LIVE": 124,
    "LEASE_NOT_ENDED": 125,
    "NOTICE_TOO_SHORT": 126,
    "RENEWAL_NOT_CONTIGUOUS": 127,
    "AMOUNT_MISMATCH": 128,
    "PERIOD_OUT_OF_ORDER": 129,
    "BANK_ATTESTATION_REQUIRED": 130,
    "NOT_RECEIVER": 131,
    "NOT_COUNTERPARTY": 132,
    "ALREADY_REVIEWED": 133,
}


def abci_code(anju_code: str) -> int:
    """The numeric ABCI code of an Anju error code."""
    return ABCI_CODES.get(anju_code, OTHER_CODE)
