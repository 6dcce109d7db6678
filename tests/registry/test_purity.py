"""The registry stays pure: no I/O, clock, randomness or environment anywhere in the package."""

from __future__ import annotations

import ast
from pathlib import Path

import anju.registry

FORBIDDEN_MODULES = {
    "os",
    "sys",
    "time",
    "random",
    "secrets",
    "sqlite3",
    "socket",
    "threading",
    "subprocess",
    "multiprocessing",
    "asyncio",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "uuid",
    "urllib",
    "http",
}
FORBIDDEN_CALLS = {"today", "now", "utcnow", "open", "input", "print", "getenv"}
PACKAGE = Path(anju.registry.__file__).parent


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_package_has_modules() -> None:
    assert len(_modules()) > 10
    assert (PACKAGE / "README.md").read_text().count("pure") >= 1


def test_no_forbidden_imports_or_calls() -> None:
    problems: list[str] = []
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_MODULES:
                    problems.append(f"{path.name}: imports {name}")
            if isinstance(node, ast.Call):
                fn = node.func
                called = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
                if called in FORBIDDEN_CALLS:
                    problems.append(f"{path.name}:{node.lineno}: calls {called}()")
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("anju."):
                layer = node.module.split(".")[1]
                if layer not in ("registry", "crypto", "errors"):
                    problems.append(f"{path.name}: imports the {layer} layer")
    assert problems == []
