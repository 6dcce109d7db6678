"""Layers import only downwards (docs/ARCHITECTURE.md); the registry stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "anju"

# layer -> the anju layers it may import (besides itself, `anju.errors`, `anju.files` and `anju` itself)
ALLOWED: dict[str, set[str]] = {
    "crypto": set(),
    "ledger": {"crypto"},
    "registry": {"crypto"},
    "demo": {"crypto", "registry"},
    "chain": {"crypto", "ledger", "registry"},
    "client": {"crypto", "ledger"},
    "api": {"crypto", "ledger", "registry", "chain", "client"},
    "web": {"crypto", "ledger", "registry", "chain", "api", "client"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_downwards(layer: str) -> None:
    bad = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for mod in _imports(path):
            parts = mod.split(".")
            if parts[0] != "anju" or len(parts) < 2 or parts[1] in {"errors", "files", layer}:
                continue
            if parts[1] not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(SRC)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_registry_and_tree_maths_do_no_io() -> None:
    forbidden = {"sqlite3", "time", "random", "os", "socket", "pathlib", "secrets", "uuid", "threading", "io"}
    forbidden.add("unicodedata")  # its tables change with the Python build: nodes on two builds would disagree
    files = [*sorted((SRC / "registry").rglob("*.py")), SRC / "ledger" / "merkle.py", SRC / "ledger" / "statemap.py"]
    bad = [f"{p.relative_to(SRC)}: {m}" for p in files for m in _imports(p) if m.split(".")[0] in forbidden]
    # datetime.date is plain calendar arithmetic; reading the clock through it is not allowed.
    clock = {"now", "today", "utcnow", "fromtimestamp"}
    for p in files:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in clock:
                bad.append(f"{p.relative_to(SRC)}: .{node.attr}")
            if isinstance(node, ast.Name) and node.id in {"open", "input", "print"}:
                bad.append(f"{p.relative_to(SRC)}: {node.id}()")
    assert not bad, bad
