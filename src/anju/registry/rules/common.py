"""Checks many rules share: who the authority is, what role a key plays, which agency it acts for."""

from __future__ import annotations

from anju.registry import layout
from anju.registry.call import Call, Record, View
from anju.registry.codes import reject


def authority_key(call: Call) -> str:
    meta = call.peek_need(layout.META, "registry metadata (genesis missing)")
    return str(meta["authority"])


def require_authority(call: Call) -> None:
    if call.signer != authority_key(call):
        reject("WRONG_ROLE", f"only the housing authority may send {call.tx.kind}", kind=call.tx.kind)


def party(call: Call, key: str) -> Record:
    return call.need(layout.party(key), "party")


def _check_active(rec: View, key: str, role: str | tuple[str, ...], what: str) -> None:
    roles = (role,) if isinstance(role, str) else role
    if rec["role"] not in roles:
        reject("WRONG_ROLE", f"{what} must have role {' or '.join(roles)}, not {rec['role']}", party=key)
    if rec["status"] == "suspended":
        reject("PARTY_SUSPENDED", f"{what} is suspended", party=key)


def active_party(call: Call, key: str, role: str | tuple[str, ...], what: str) -> Record:
    """The party ``key`` in one of ``role``s and not suspended (a fresh record, to change and store)."""
    rec = party(call, key)
    _check_active(rec, key, role, what)
    return rec


def active_party_view(call: Call, key: str, role: str | tuple[str, ...], what: str) -> View:
    """:func:`active_party`, read-only (for checks that do not change the party)."""
    rec = call.peek_need(layout.party(key), "party")
    _check_active(rec, key, role, what)
    return rec


def acting_agency(call: Call, key: str) -> str | None:
    """The licensed agency ``key`` acts for: itself if an agency, its employer if an appointed agent."""
    rec = call.peek(layout.party(key))
    if rec is None or rec["status"] == "suspended":
        return None
    if rec["role"] == "agency":
        agency = key
    elif rec["role"] == "agent" and rec.get("agency"):
        agency = str(rec["agency"])
        emp = call.peek(layout.party(agency))
        if emp is None or emp["status"] == "suspended":
            return None
    else:
        return None
    return agency


def principal(call: Call, key: str) -> str:
    """Whom a signature by ``key`` binds: the agency for an agent, the key itself otherwise."""
    return acting_agency(call, key) or key


def signed_for(call: Call, who: str) -> bool:
    """Whether ``who`` (or, for an agency, one of its agents) signed this envelope."""
    signers = call.signers
    if who in signers:
        return True
    return any(acting_agency(call, k) == who for k in signers if k != who)


def require_licensed_agency(call: Call, key: str) -> View:
    """The licensed, active agency ``key`` (read-only)."""
    rec = active_party_view(call, key, "agency", "the agency")
    if not rec["licensed"]:
        reject("NOT_LICENSED", "the agency is not licensed by the housing authority", party=key)
    return rec


def lease_party(call: Call, lease: View) -> str | None:
    """Which side of ``lease`` the signer speaks for: the principal's key, or None. The unit's
    owner speaks for the landlord side of its own leases; from edition 3 not of a sublease, whose
    sides are the sub-landlord and the subtenant (edition 1 and 2 let the owner open disputes on it)."""
    if call.signer in (lease["tenant"], lease["landlord"]):
        return call.signer
    if call.signer == lease["owner"] and (lease["parent"] is None or call.edition() < 3):
        return call.signer
    if lease["agency"] is not None and acting_agency(call, call.signer) == lease["agency"]:
        return str(lease["agency"])
    return None
