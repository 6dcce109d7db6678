"""Reviews: after a lease ends, each side reviews a counterparty once; nobody else can."""

from __future__ import annotations

from anju.registry import credit, layout
from anju.registry.call import Call
from anju.registry.codes import reject
from anju.registry.rules.common import lease_party
from anju.registry.status import lease_ended


def write(call: Call) -> None:
    b = call.body
    lease = call.peek_need(layout.lease(b["lease"]), "lease")
    author = lease_party(call, lease)
    if author == lease["owner"] and author != lease["landlord"]:
        author = None  # the owner is not a side of a sublease
    landlord_side = {lease["landlord"], *([lease["agency"]] if lease["agency"] else [])}
    tenant_side = {lease["tenant"]}
    subject = b["subject"]
    ok = (author in tenant_side and subject in landlord_side) or (author in landlord_side and subject in tenant_side)
    if author is None or not ok:
        reject("NOT_COUNTERPARTY", "only a counterparty of the lease may review", lease=lease["id"])
    if not lease_ended(lease, call.date):
        reject("LEASE_NOT_ENDED", "reviews open after the lease ends", lease=lease["id"], ends_on=lease["ends_on"])
    e3 = call.edition() >= 3
    if e3 and lease["start"] > lease["ends_on"]:
        reject(
            "LEASE_NOT_LIVE",
            "the lease was called off before it started: there is nothing to review",
            lease=lease["id"],
        )
    key = layout.review(lease["id"], author, subject)
    if call.exists(key):
        reject("ALREADY_REVIEWED", "this side already reviewed this counterparty for this lease", lease=lease["id"])
    call.put(
        key,
        {
            "lease": lease["id"],
            "unit": lease["unit"],
            "author": author,
            "subject": subject,
            "rating": b["rating"],
            "text_hash": b["text_hash"],
            "tx": call.txid,
            "on": call.date,
        },
    )
    call.emit(
        "review.written",
        {"lease": lease["id"], "author": author, "subject": subject, "rating": b["rating"]},
        parties=[lease["owner"], author, subject],
        units=[lease["unit"]],
    )
    if not e3 or lease["registration"] is not None:  # edition 3: credit needs a registered lease
        credit.award(call, subject, "reviews", (b["rating"] - 3) * 4)
