"""Values outside Anju's JSON domain never verify: JCS of them is not what the ledger hashed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.client import forge
from typer.testing import CliRunner

from anju.cli.main import app
from anju.client import verify_bundle
from anju.client.verify import load_bundle, verify_state
from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
from anju.ledger.note import vkey_of
from anju.ledger.statemap import MemoryNodeStore, StateMap

KEY = SigningKey(b"s" * 32)
VKEY = vkey_of("anju-forge", KEY.public)
PARTY = "cd" * 32


def test_a_value_outside_the_domain_does_not_pass_for_the_json_it_is_written_as() -> None:
    """The ledger holds JSON null under k (and 1 under n): NaN, which JCS writes as null, is not
    that value, nor is 1.0 the integer 1, nor an integer past 2^53 anything the ledger holds."""
    store = MemoryNodeStore()
    smap = StateMap(store)
    _, changes = smap.apply({"k": b"null", "n": b"1", "big": b"9007199254740993"})
    store.write(changes)
    cp = forge.checkpoint(state_root=smap.root)
    verify_state("n", 1, smap.prove("n").to_json(), cp)
    for key, value in (("k", float("nan")), ("k", float("inf")), ("n", 1.0), ("big", 2**53 + 1), ("n", [1.0])):
        with pytest.raises(VerificationError) as info:
            verify_state(key, value, smap.prove(key).to_json(), cp)
        assert info.value.code == "PROOF_INVALID", (key, value)


def _history(note: str = "null") -> str:
    """A genuine history bundle's text in which the party record's ``note`` field (signed as null) reads ``note``."""
    state: dict[str, Any] = {f"party/{PARTY}": {"id": PARTY, "role": "tenant", "note": None}, f"credit/{PARTY}": None}
    bundle = forge.bundle("history", PARTY, state, lambda cp: cp.sign(KEY, "anju-forge"), forge.checkpoint())
    text = json.dumps(bundle)
    assert text.count('"note": null') == 1
    return text.replace('"note": null', f'"note": {note}')


@pytest.mark.parametrize("loose", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_bundle_with_a_value_json_does_not_allow_is_refused(loose: str, tmp_path: Path) -> None:
    assert verify_bundle(load_bundle(_history()), VKEY).party == PARTY  # type: ignore[union-attr]
    text = _history(loose)
    with pytest.raises(VerificationError) as info:
        verify_bundle(json.loads(text), VKEY)  # however a caller read it: never hashed as null
    assert info.value.code == "PROOF_INVALID"
    if loose != "1e400":  # (a finite-looking number: strict JSON, but not Anju's domain, as just seen)
        with pytest.raises(VerificationError) as info:
            load_bundle(text)
        assert info.value.code == "PROOF_INVALID"
    path = tmp_path / "bundle.json"
    path.write_text(text)
    result = CliRunner().invoke(app, ["check", str(path), "--key", VKEY, "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["error"]["code"] == "PROOF_INVALID", result.output


@pytest.mark.parametrize("field", ["state", "txs"])
@pytest.mark.parametrize("value", [5, True, 1.5])
def test_a_bundle_whose_state_or_txs_is_not_a_list_is_refused(field: str, value: Any, tmp_path: Path) -> None:
    """A number in place of the list of state entries or of transactions raised TypeError out of
    verify_bundle (and a traceback out of `anju check`) instead of refusing the bundle."""
    bundle = json.loads(_history())
    bundle[field] = value
    with pytest.raises(VerificationError) as info:
        verify_bundle(bundle, VKEY)
    assert info.value.code == "PROOF_INVALID" and info.value.details["field"] == field
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    result = CliRunner().invoke(app, ["check", str(path), "--key", VKEY, "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["error"]["code"] == "PROOF_INVALID", result.output
