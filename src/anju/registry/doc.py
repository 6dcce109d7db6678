"""Markdown for docs/REGISTRY.md, rendered from the kind table so the docs cannot drift from the code."""

from __future__ import annotations

from anju.crypto import jcs
from anju.registry.codes import REGISTRY_CODES
from anju.registry.credit import BASE, FACTORS
from anju.registry.kinds import GENERIC_ERRORS, KINDS


def kinds_markdown() -> str:
    out: list[str] = []
    for kind in KINDS.values():
        out.append(f"### `{kind.name}`\n\n{kind.summary}\n\n**Signed by:** {kind.signers}.\n")
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
        codes = ", ".join(f"`{c}`" for c in (*kind.errors, *GENERIC_ERRORS))
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
