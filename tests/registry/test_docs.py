"""docs/REGISTRY.md stays true: generated sections match the code; every kind, key and code appears."""

from __future__ import annotations

from pathlib import Path

from anju.registry import layout
from anju.registry.codes import REGISTRY_CODES
from anju.registry.doc import codes_markdown, credit_markdown, kinds_markdown
from anju.registry.edition import changes_markdown
from anju.registry.kinds import KINDS, example_body
from anju.registry.schema import check_body

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
        assert kind.summary and kind.signers
