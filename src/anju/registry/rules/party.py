"""Parties and onboarding: self-registration, licences, identity attestation, suspension, agents."""

from __future__ import annotations

from anju.registry import credit, layout
from anju.registry.call import Call, Record
from anju.registry.codes import reject
from anju.registry.rules.common import (
    active_party,
    active_party_view,
    party,
    require_authority,
    require_licensed_agency,
)


def new_party(key: str, role: str, commitment: str | None, call_txid: str | None, on: str | None) -> Record:
    return {
        "id": key,
        "role": role,
        "commitment": commitment,
        "name": None,
        "status": "active",
        "identity_attested": False,
        "licensed": False,
        "licence": None,
        "agency": None,
        "registered_tx": call_txid,
        "registered_on": on,
    }


def register(call: Call) -> None:
    body = call.body
    if call.exists(layout.party(call.signer)):
        reject("ALREADY_REGISTERED", "this key is already a registered party", party=call.signer)
    name = body.get("name")
    if name is not None and body["role"] not in ("agency", "bank"):
        reject("INVALID_FIELD", "only agencies and banks carry a public name; people stay pseudonymous", field="name")
    rec = new_party(call.signer, body["role"], body["commitment"], call.txid, call.date)
    rec["name"] = name
    call.put_view(layout.party(call.signer), rec)
    call.emit("party.registered", {"party": call.signer, "role": body["role"]}, parties=[call.signer])


def _license(call: Call, role: str) -> None:
    require_authority(call)
    key = call.body["party"]
    rec = active_party(call, key, role, f"the {role}")
    if rec["licensed"]:
        reject("ALREADY_DONE", f"the {role} is already licensed", party=key)
    rec.update(licensed=True, licence=call.body["licence"], licensed_tx=call.txid, licensed_on=call.date)
    call.put(layout.party(key), rec)
    call.emit("party.licensed", {"party": key, "role": role}, parties=[key])


def license_agency(call: Call) -> None:
    _license(call, "agency")


def license_bank(call: Call) -> None:
    _license(call, "bank")


def revoke_licence(call: Call) -> None:
    """Edition 6: the authority withdraws an agency's licence or a bank's recognition (``licensed``
    false: every rule that needs a licensed one refuses it, ``NOT_LICENSED``); ``authority.license_*``
    grants it again."""
    require_authority(call)
    key = call.body["party"]
    rec = party(call, key)
    if rec["role"] not in ("agency", "bank"):
        reject("WRONG_ROLE", "only an agency's or a bank's licence can be revoked", party=key)
    if not rec["licensed"]:
        reject("ALREADY_DONE", f"the {rec['role']} holds no licence", party=key)
    rec.update(
        licensed=False,
        licence_revoked_tx=call.txid,
        licence_revoked_on=call.date,
        licence_revoked_reason=call.body["reason_hash"],
    )
    call.put(layout.party(key), rec)
    call.emit("party.licence_revoked", {"party": key, "role": rec["role"]}, parties=[key])


def attest_identity(call: Call) -> None:
    require_authority(call)
    key = call.body["party"]
    rec = call.peek_need(layout.party(key), "party")
    if rec["identity_attested"]:
        reject("ALREADY_DONE", "the party's identity is already attested", party=key)
    if rec["commitment"] != call.body["commitment"]:
        reject("INVALID_FIELD", "commitment differs from the one the party registered", field="commitment")
    attested = {**rec, "identity_attested": True, "identity_tx": call.txid, "identity_on": call.date}
    call.put_view(layout.party(key), attested)
    call.emit("party.identity_attested", {"party": key}, parties=[key])


def suspend(call: Call) -> None:
    require_authority(call)
    key = call.body["party"]
    rec = party(call, key)
    if rec["role"] == "authority":
        reject("WRONG_ROLE", "the housing authority cannot suspend itself", party=key)
    if rec["status"] == "suspended":
        reject("ALREADY_DONE", "the party is already suspended", party=key)
    rec.update(status="suspended", status_tx=call.txid, status_on=call.date, status_reason=call.body["reason_hash"])
    call.put(layout.party(key), rec)
    call.emit("party.suspended", {"party": key}, parties=[key])
    credit.award(call, key, "suspensions")


def reinstate(call: Call) -> None:
    require_authority(call)
    key = call.body["party"]
    rec = party(call, key)
    if rec["status"] != "suspended":
        reject("ALREADY_DONE", "the party is not suspended", party=key)
    rec.update(status="active", status_tx=call.txid, status_on=call.date, status_reason=call.body["reason_hash"])
    call.put(layout.party(key), rec)
    call.emit("party.reinstated", {"party": key}, parties=[key])


def appoint_agent(call: Call) -> None:
    require_licensed_agency(call, call.signer)
    key = call.body["agent"]
    rec = active_party(call, key, "agent", "the agent")
    if rec["agency"] is not None:
        reject("ALREADY_DONE", "the agent already works for an agency", party=key, agency=rec["agency"])
    if call.edition() >= 3 and not rec["identity_attested"]:  # an agent signs leases for owners
        reject(
            "IDENTITY_NOT_ATTESTED", "an agent's identity must be attested before an agency appoints them", party=key
        )
    rec.update(agency=call.signer, appointed_tx=call.txid)
    call.put(layout.party(key), rec)
    call.emit("agent.appointed", {"agent": key, "agency": call.signer}, parties=[key, call.signer])


def dismiss_agent(call: Call) -> None:
    active_party_view(call, call.signer, "agency", "the signer")
    key = call.body["agent"]
    rec = party(call, key)
    if rec["role"] != "agent" or rec["agency"] != call.signer:
        reject("WRONG_ROLE", "an agency may dismiss only its own agents", party=key)
    rec.update(agency=None, appointed_tx=None)
    call.put(layout.party(key), rec)
    call.emit("agent.dismissed", {"agent": key, "agency": call.signer}, parties=[key, call.signer])
