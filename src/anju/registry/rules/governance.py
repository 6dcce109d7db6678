"""The chain's own rules: the housing authority moves a chain to a newer rules edition."""

from __future__ import annotations

from anju.registry import layout
from anju.registry.call import Call
from anju.registry.codes import reject
from anju.registry.rules.common import authority_key, require_authority


def adopt_rules(call: Call) -> None:
    """From the next transaction on, the chain runs rules edition ``rules`` (see
    :mod:`anju.registry.edition`). Editions only move forward, and only to one this build
    implements (the body check refuses a higher number): every member must run a build that knows
    the edition before the authority adopts it, or its node refuses this transaction, computes other
    roots than the others, and stops."""
    require_authority(call)
    current = call.edition()
    new = int(call.body["rules"])
    if new <= current:
        reject(
            "ALREADY_DONE",
            f"the chain already runs rules edition {current}; editions only move forward",
            rules=current,
        )
    meta = call.peek_need(layout.META, "registry metadata")
    call.put_view(layout.META, {**meta, "rules": new})
    call.emit("rules.adopted", {"rules": new, "previous": current}, parties=[authority_key(call)])
