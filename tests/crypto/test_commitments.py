"""Salted commitments: what the ledger holds instead of personal data."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from anju.cli.main import app
from anju.crypto.commitments import commit, opens


def test_a_commitment_is_sha256_of_salt_then_text() -> None:
    salt, value = commit("张三 310101199001011234", "00" * 16)
    assert salt == "00" * 16
    assert value == hashlib.sha256(bytes(16) + "张三 310101199001011234".encode()).hexdigest()


@given(st.text(max_size=60))
def test_fresh_salts_hide_equal_texts_and_open_only_their_own(text: str) -> None:
    (s1, c1), (s2, c2) = commit(text), commit(text)
    assert s1 != s2 and c1 != c2 and len(s1) == 32
    assert opens(c1, text, s1) and opens(c2.upper(), text, s2)
    assert not opens(c1, text, s2) and not opens(c1, text + "x", s1) and not opens(c1, text, "zz")


def test_the_cli_makes_and_checks_one() -> None:
    runner = CliRunner()
    made = json.loads(runner.invoke(app, ["keys", "commit", "衡山路 88号 1201室", "--json"]).output)
    ok = runner.invoke(
        app, ["keys", "commit", "衡山路 88号 1201室", "--salt", made["salt"], "--commitment", made["commitment"]]
    )
    assert ok.exit_code == 0
    bad = runner.invoke(
        app, ["keys", "commit", "衡山路 88号 1202室", "--salt", made["salt"], "--commitment", made["commitment"]]
    )
    assert bad.exit_code == 1
    assert runner.invoke(app, ["keys", "commit", "x", "--commitment", made["commitment"]]).exit_code == 2
