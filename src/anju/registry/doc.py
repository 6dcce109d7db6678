"""Markdown for docs/REGISTRY.md, rendered from the kind table so the docs cannot drift from the code."""

from __future__ import annotations

from anju.crypto import jcs
from anju.registry.codes import REGISTRY_CODES
from anju.registry.credit import BASE, FACTORS
from anju.registry.kinds import KINDS


def kinds_markdown() -> str:
    out: list[str] = []
    for kind in KINDS.values():
        since = f" From rules edition {kind.since} on." if kind.since > 1 else ""
        out.append(f"### `{kind.name}`\n\n{kind.summary}{since}\n\n**Signed by:** {kind.signers}.\n")
        out.append("| field | type | required | meaning |\n| --- | --- | --- | --- |")
        for name, f in kind.fields.items():
            t = f.type
            if t in ("int", "money"):
                t = f"{t} {f.lo}..{f.hi}"
            elif t == "enum":
                t = "one of " + ", ".join(f"`{c}`" for c in f.choices)
            elif t in ("text", "hashes", "deductions"):
                t = f"{t} (max {f.max_len})"
            out.append(f"| `{name}` | {t} | {'no' if f.optional else 'yes'} | {f.doc} |")
        codes = ", ".join(f"`{c}`" for c in kind.refusals())
        example = jcs.canonicalize(kind.example).decode()
        out.append(f"\n**Refusals:** {codes}.\n\nExample body fields:\n\n```json\n{example}\n```\n")
    return "\n".join(out)


def codes_markdown() -> str:
    rows = ["| code | HTTP | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{code}` | {status} | {meaning} |" for code, (status, meaning) in REGISTRY_CODES.items()]
    return "\n".join(rows)


def credit_markdown() -> str:
    rows = [
        f"Score = clamp({BASE} + sum of entry points, 0, 1000)"
        f" = clamp({BASE} + sum of the factors' `points`, 0, 1000).\n",
        "| factor | points | counts |",
        "| --- | --- | --- |",
    ]
    rows += [f"| `{name}` | {'varies' if pts is None else pts} | {doc} |" for name, (pts, doc) in FACTORS.items()]
    return "\n".join(rows)


EVENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "party.registered": (("party", "role"), "a key registered itself (genesis: the authority and its banks)"),
    "party.licensed": (("party", "role"), "the authority licensed an agency or recognised a bank"),
    "party.licence_revoked": (("party", "role"), "the authority revoked an agency's licence or a bank's (edition 6)"),
    "party.identity_attested": (("party",), "the authority attested a party's identity commitment"),
    "party.suspended": (("party",), "the authority suspended a party"),
    "party.reinstated": (("party",), "the authority lifted a suspension"),
    "rules.adopted": (("rules", "previous"), "the authority moved the chain to rules edition `rules`"),
    "agent.appointed": (("agency", "agent"), "an agency appointed an agent"),
    "agent.dismissed": (("agency", "agent"), "an agency dismissed an agent"),
    "unit.registered": (("unit", "street"), "an owner registered a unit"),
    "title.attested": (("unit",), "the authority attested a unit's title"),
    "mandate.granted": (("mandate", "unit", "agency", "exclusive"), "an owner mandated an agency"),
    "mandate.revoked": (("mandate", "unit", "listings_revoked"), "a mandate was revoked (its listings with it)"),
    "listing.published": (("listing", "unit", "code", "publisher", "mandate"), "a listing was published"),
    "listing.renewed": (("listing", "code", "expires_on"), "a listing's verification code was renewed"),
    "listing.withdrawn": (("listing", "code"), "a listing was withdrawn"),
    "lease.signed": (("lease", "unit", "start", "end", "parent"), "a lease was signed (`parent` null)"),
    "sublease.signed": (("lease", "unit", "start", "end", "parent"), "a sublease of lease `parent` was signed"),
    "lease.registered": (("lease", "number"), "the authority registered a lease (备案) as `number`"),
    "lease.terminated": (
        ("lease", "mode", "on"),
        "a lease was ended (`on` is its last day); from edition 5 also each sublease cut with it (`mode` "
        "`parent_ended`)",
    ),
    "escrow.attested": (("escrow", "lease", "purpose", "amount"), "a bank attested a supervised account"),
    "deposit.recorded": (("payment", "lease", "amount"), "a tenant recorded lodging the deposit"),
    "rent.recorded": (("payment", "lease", "amount"), "a tenant recorded a rent payment"),
    "payment.confirmed": (("payment", "lease", "kind", "late_days"), "the receiver confirmed a payment"),
    "payment.refused": (
        ("payment", "lease", "kind", "reason_hash"),
        "the receiver said a recorded payment never arrived (edition 6)",
    ),
    "deposit.returned": (("lease", "returned", "deducted"), "the collector settled the deposit"),
    "deposit.accepted": (("lease",), "the tenant accepted the deposit settlement"),
    "deposit.decided": (("lease", "dispute", "offered", "returned"), "a dispute decided a contested deposit"),
    "dispute.opened": (("dispute", "lease", "subject"), "a side of a lease opened a dispute"),
    "dispute.resolved": (("dispute", "outcome", "award"), "the authority decided a dispute"),
    "report.filed": (("report", "listing"), "someone reported a listing as fake"),
    "report.resolved": (("report", "listing", "outcome"), "the authority confirmed or dismissed a report"),
    "review.written": (("lease", "author", "subject", "rating"), "a side of an ended lease reviewed the other"),
    "credit.changed": (("party", "factor", "points", "score"), "a party's credit record changed"),
}
"""Every event kind the registry emits: its ``data`` fields (besides ``txid``, which every event
carries) and when. docs/PROTOCOL.md prints it; tests/registry/test_docs.py checks it against the
``emit`` calls in the rules."""


def events_markdown() -> str:
    rows = ["| event | `data` (and `txid`) | when |", "| --- | --- | --- |"]
    rows += [
        f"| `{kind}` | {', '.join(f'`{f}`' for f in fields)} | {when} |" for kind, (fields, when) in EVENTS.items()
    ]
    return "\n".join(rows)
