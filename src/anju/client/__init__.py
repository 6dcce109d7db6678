"""Anju's Python SDK: :class:`AnjuClient` talks to a node; :func:`verify_bundle` needs no network."""

from anju.client.parts import HistoryParts, is_parts_file, verify_history_file, verify_history_parts
from anju.client.sdk import AnjuClient, ProvenState, ProvenTx, iter_sse, load_key
from anju.client.verify import (
    Trust,
    VerifiedBundle,
    VerifiedHistory,
    VerifiedListing,
    VerifiedRegistration,
    canonical_code,
    check_fresh,
    check_history,
    check_listing,
    check_registration,
    disclose,
    load_bundle,
    open_bundle,
    verify_bundle,
    verify_height,
)

__all__ = [
    "AnjuClient",
    "HistoryParts",
    "ProvenState",
    "ProvenTx",
    "Trust",
    "VerifiedBundle",
    "VerifiedHistory",
    "VerifiedListing",
    "VerifiedRegistration",
    "canonical_code",
    "check_fresh",
    "check_history",
    "check_listing",
    "check_registration",
    "disclose",
    "is_parts_file",
    "iter_sse",
    "load_bundle",
    "load_key",
    "open_bundle",
    "verify_bundle",
    "verify_height",
    "verify_history_file",
    "verify_history_parts",
]
