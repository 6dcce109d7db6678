"""Units and titles: an owner registers a unit, the housing authority attests its title."""

from __future__ import annotations

from anju.registry import layout
from anju.registry.call import Call, Record
from anju.registry.codes import reject
from anju.registry.rules.common import active_party_view, require_authority


def register(call: Call) -> None:
    owner = active_party_view(call, call.signer, "landlord", "the owner")
    if not owner["identity_attested"]:
        reject("IDENTITY_NOT_ATTESTED", "an owner's identity must be attested before registering units")
    uid = call.new_id
    if call.exists(layout.unit(uid)):
        reject("ALREADY_EXISTS", "a unit with this id already exists", unit=uid)
    b = call.body
    rec: Record = {
        "id": uid,
        "owner": call.signer,
        "district": b["district"],
        "street": b["street"],
        "neighbourhood": b["neighbourhood"],
        "address_commitment": b["address_commitment"],
        "floor_area_m2": b["floor_area_m2"],
        "rooms": b["rooms"],
        "registered_tx": call.txid,
        "registered_on": call.date,
        "title": None,
        "title_tx": None,
        "attested_on": None,
        "mandates": [],
        "listings": [],
        "leases": [],
    }
    call.put(layout.unit(uid), rec)
    call.emit("unit.registered", {"unit": uid, "street": b["street"]}, parties=[call.signer], units=[uid])


def attest_title(call: Call) -> None:
    require_authority(call)
    uid, cert = call.body["unit"], call.body["certificate_commitment"]
    unit = call.need(layout.unit(uid), "unit")
    if unit["title"] is not None:
        reject("TITLE_ALREADY_ATTESTED", "the unit's title is already attested", unit=uid)
    if call.exists(layout.title(cert)):
        reject("TITLE_ALREADY_ATTESTED", "this certificate already backs another unit", unit=uid)
    unit.update(title=cert, title_tx=call.txid, attested_on=call.date)
    call.put(layout.unit(uid), unit)
    title = {"certificate_commitment": cert, "unit": uid, "tx": call.txid, "attested_on": call.date}
    call.put(layout.title(cert), title)
    call.emit("title.attested", {"unit": uid}, parties=[unit["owner"]], units=[uid])


def attested_unit(call: Call, uid: str) -> Record:
    """The unit ``uid``; nothing may refer to a unit whose title is not attested."""
    unit = call.need(layout.unit(uid), "unit")
    if unit["title"] is None:
        reject("UNIT_NOT_ATTESTED", "the unit's title has not been attested by the housing authority", unit=uid)
    return unit
