"""The docs stay true: generated sections are current and every error code is documented."""

from __future__ import annotations

import re
from pathlib import Path

from anju import docs
from anju.errors import CODES

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "docs" / "PROTOCOL.md"


def test_generated_sections_are_current() -> None:
    text = PROTOCOL.read_text()
    assert docs.render(text) == text, "run `python -m anju.docs` to refresh docs/PROTOCOL.md"


def test_every_error_code_is_documented() -> None:
    text = PROTOCOL.read_text()
    missing = [code for code in CODES if f"`{code}`" not in text]
    assert not missing, f"codes missing from docs/PROTOCOL.md: {missing}"


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_docs_give_the_newest_rules_edition_for_a_new_chain() -> None:
    """Genesis params in the docs name the edition a new chain gets (they had named 5 and 6 at 7)."""
    from anju.registry.edition import RULES

    for name in ("PROTOCOL.md", "REGISTRY.md", "CONSORTIUM.md"):
        text = (ROOT / "docs" / name).read_text()
        named = {int(n) for n in re.findall(r'"credit_chunk": 32, "rules": (\d+)', text)}
        assert named == {RULES}, (name, named)
