"""docs/REGISTRY.md stays true: generated sections match the code; every kind, key and code appears."""

from __future__ import annotations

from pathlib import Path

from anju.registry import layout
from anju.registry.codes import REGISTRY_CODES
from anju.registry.doc import codes_markdown, credit_markdown, kinds_markdown
from anju.registry.edition import changes_markdown
from anju.registry.kinds import KINDS, example_body
from anju.registry.schema import BodyCheck, check_body

DOC = Path(__file__).resolve().parents[2] / "docs" / "REGISTRY.md"


def test_generated_sections_are_current() -> None:
    text = DOC.read_text()
    for section in (kinds_markdown(), codes_markdown(), credit_markdown(), changes_markdown()):
        assert section in text, "regenerate docs/REGISTRY.md from anju.registry.doc"


def test_every_code_kind_and_key_prefix_is_documented() -> None:
    text = DOC.read_text()
    assert all(f"`{code}`" in text for code in REGISTRY_CODES)
    assert all(f"`{kind}`" in text for kind in KINDS)
    prefixes = ["party/", "unit/", "title/", "mandate/", "listing/", "code/", "lease/", "registration/"]
    prefixes += ["payment/", "escrow/", "dispute/", "report/", "review/", "credit/", layout.META]
    assert all(f"`{p}" in text for p in prefixes)


def test_every_example_body_passes_its_schema() -> None:
    for name, kind in KINDS.items():
        check_body(example_body(name), kind.fields)
        BodyCheck(kind.fields)(example_body(name), personal=True)  # the newest edition's text rule too
        assert kind.summary and kind.signers


def _emitted() -> dict[str, set[str]]:
    """Every ``call.emit(kind, {data...})`` in the registry's code: kind (a pattern where the kind is
    built, e.g. ``*.recorded``) → the data fields it writes."""
    import ast
    import re

    out: dict[str, set[str]] = {}
    root = Path(__file__).resolve().parents[2] / "src" / "anju" / "registry"
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit"):
                continue
            if len(node.args) < 2:
                continue
            kind, data = node.args[0], node.args[1]
            assert isinstance(data, ast.Dict), f"{path}:{node.lineno}: emit's data must be a dict literal"
            fields = {k.value for k in data.keys if isinstance(k, ast.Constant)}
            assert len(fields) == len(data.keys), f"{path}:{node.lineno}: data keys must be literal"
            names = []
            if isinstance(kind, ast.Constant):
                names = [kind.value]
            elif isinstance(kind, ast.IfExp) and isinstance(kind.body, ast.Constant):
                assert isinstance(kind.orelse, ast.Constant)
                names = [kind.body.value, kind.orelse.value]
            elif isinstance(kind, ast.JoinedStr):
                names = [re.sub(r"\{[^}]*\}", "*", ast.unparse(kind)[2:-1])]
            assert names, f"{path}:{node.lineno}: an event kind the docs test cannot read"
            for name in names:
                out.setdefault(name, set()).update(fields)
    return out


def test_every_event_kind_and_its_data_are_documented() -> None:
    """PROTOCOL.md's event table (anju.registry.doc.EVENTS) lists exactly the kinds the rules emit,
    each with exactly the data fields it carries."""
    import fnmatch

    from anju.registry.doc import EVENTS

    emitted = _emitted()
    documented = dict(EVENTS)
    covered: set[str] = set()
    for pattern, fields in emitted.items():
        matches = [k for k in documented if fnmatch.fnmatchcase(k, pattern)]
        assert matches, f"event {pattern} is emitted but not documented"
        for kind in matches:
            assert set(documented[kind][0]) == fields, (kind, sorted(fields))
        covered.update(matches)
    genesis = {"party.registered"}  # also written by Registry.genesis, with the same fields
    assert set(documented) == covered | genesis, sorted(set(documented) - covered)
