"""``anju bench verify-codes`` at a tiny size: a real registry, a real server, proofs checked by the SDK."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from anju.cli.main import app


def test_verify_codes_builds_once_then_reuses_the_registry(tmp_path: Path) -> None:
    data, out = tmp_path / "registry", tmp_path / "vc.json"
    args = ["bench", "verify-codes", "--listings", "120", "--codes", "30", "--data", str(data), "--out", str(out)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    built = json.loads(out.read_text())
    assert built["listings_stored"] == built["listings"] == 120
    assert built["verify_code_calls"] == 30
    assert 0 < built["verify_code_p50_ms"] <= built["verify_code_p99_ms"]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    reused = json.loads(out.read_text())
    assert reused["registry_reused"] == str(data) and "registry_setup_s" not in reused
    assert reused["listings_stored"] == 120
