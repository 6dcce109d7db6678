"""Generated sections of docs/PROTOCOL.md; tests/test_docs.py fails when the file drifts."""

from __future__ import annotations

import anju.api.errors
import anju.registry.machine  # noqa: F401  (registers the registry's error codes)
from anju.chain.abci.codes import ABCI_CODES, OK, OTHER_CODE
from anju.errors import CODES, LEDGER_CODES
from anju.registry.doc import events_markdown
from anju.registry.kinds import KINDS

BEGIN = "<!-- BEGIN GENERATED: {name} (anju.docs.{name}) -->"
END = "<!-- END GENERATED: {name} -->"


def error_codes() -> str:
    rows = ["| code | HTTP | meaning |", "| --- | --- | --- |"]
    # The ledger's codes in their own order, then every application code by name (import order varies).
    order = [c for c in CODES if c in LEDGER_CODES] + sorted(c for c in CODES if c not in LEDGER_CODES)
    rows += [f"| `{code}` | {CODES[code][0]} | {CODES[code][1]} |" for code in order]
    return "\n".join(rows)


def kinds() -> str:
    rows = ["| kind | signed by | what it does |", "| --- | --- | --- |"]
    rows += [f"| `{k.name}` | {k.signers} | {k.summary} |" for k in KINDS.values()]
    rows += [
        "| `kv.put` | anyone (kv application only) | set `key` (1–128 printable ASCII) to `value` (string ≤ 4096) |",
        "| `kv.delete` | anyone (kv application only) | remove `key` |",
    ]
    return "\n".join(rows)


def abci_codes() -> str:
    rows = ["| code | ABCI `code` |", "| --- | --- |", f"| (committed / admitted) | {OK} |"]
    rows += [f"| `{name}` | {number} |" for name, number in ABCI_CODES.items()]
    rows.append(f"| any other (its name in `codespace`) | {OTHER_CODE} |")
    return "\n".join(rows)


def events() -> str:
    return events_markdown()


SECTIONS = {"error_codes": error_codes, "kinds": kinds, "abci_codes": abci_codes, "events": events}


def render(text: str) -> str:
    """``text`` with every generated section replaced by its current rendering."""
    for name, fn in SECTIONS.items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        head, sep, rest = text.partition(begin)
        if not sep:
            raise ValueError(f"docs/PROTOCOL.md lacks the section marker {begin}")
        _, sep2, tail = rest.partition(end)
        if not sep2:
            raise ValueError(f"docs/PROTOCOL.md lacks the section marker {end}")
        text = f"{head}{begin}\n{fn()}\n{end}{tail}"
    return text


if __name__ == "__main__":
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
    path.write_text(render(path.read_text()))
