"""The state key layout (docs/REGISTRY.md describes every value's fields).

Every value is one JCS JSON object. Ids of new objects are the first 16 hex digits of the
transaction id that created them, so replaying the ledger recreates them exactly.
"""

from __future__ import annotations

META = "meta/registry"  # authority key, registration counter, credit chunk size


def party(pid: str) -> str:
    return f"party/{pid}"


def unit(uid: str) -> str:
    return f"unit/{uid}"


def title(certificate_commitment: str) -> str:
    return f"title/{certificate_commitment}"


def mandate(mid: str) -> str:
    return f"mandate/{mid}"


def listing(lid: str) -> str:
    return f"listing/{lid}"


def code(c: str) -> str:
    return f"code/{c}"


def lease(lid: str) -> str:
    return f"lease/{lid}"


def registration(number: str) -> str:
    return f"registration/{number}"


def payment(pid: str) -> str:
    return f"payment/{pid}"


def escrow(eid: str) -> str:
    return f"escrow/{eid}"


def dispute(did: str) -> str:
    return f"dispute/{did}"


def report(rid: str) -> str:
    return f"report/{rid}"


def review(lease_id: str, author: str, subject: str) -> str:
    return f"review/{lease_id}/{author}/{subject}"


def credit(pid: str) -> str:
    return f"credit/{pid}"


def credit_chunk(pid: str, factor: str, k: int) -> str:
    """Chunk ``k`` of a factor's archived credit entries (see anju.registry.credit)."""
    return f"credit/{pid}/{factor}/{k}"


def new_id(txid: str) -> str:
    """The id of the object a transaction creates."""
    return txid[:16]
