"""One-click demo sign-in: the keys of a demo ledger's parties, from ``DIR/demo-parties.json``.

Only a ledger that ``anju demo`` (or a test) built has that file; a real deployment never does,
so there the portal offers no such sign-in. Accepted shapes: a list of entries, or
``{"parties": [...]}``; each entry has ``role``, a display ``name`` (or ``label``), and the
private key as ``seed`` (hex, 32 bytes; also ``seed_hex`` or ``ed25519_seed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from anju.crypto.keys import SigningKey

FILE = "demo-parties.json"


@dataclass(frozen=True, slots=True)
class DemoParty:
    name: str
    role: str
    key: SigningKey

    @property
    def party(self) -> str:
        return self.key.public_hex


def load(data_dir: Path | None) -> list[DemoParty]:
    """The demo parties of the ledger in ``data_dir``; empty when it is not a demo ledger."""
    if data_dir is None or not (Path(data_dir) / FILE).is_file():
        return []
    doc = orjson.loads((Path(data_dir) / FILE).read_bytes())
    entries = doc.get("parties", []) if isinstance(doc, dict) else doc
    out: list[DemoParty] = []
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict):
            continue
        seed = e.get("seed") or e.get("seed_hex") or e.get("ed25519_seed")
        if not isinstance(seed, str) or len(seed) != 64:
            continue
        key = SigningKey(bytes.fromhex(seed))
        out.append(DemoParty(str(e.get("name") or e.get("label") or key.public_hex[:8]), str(e.get("role", "")), key))
    return out
