"""A history in parts read strictly, line by line (docs/PROTOCOL.md, "Histories in parts"): offline,
over a small stream a trusted checkpoint signer makes (tests/client/forge.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tests.client import forge

from anju.client import verify_history_parts
from anju.client.parts import PARTS_FORMAT, note_hash
from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
from anju.ledger.note import vkey_of

KEY = SigningKey(b"p" * 32)
VKEY = vkey_of("anju-forge", KEY.public)
PARTY = "ef" * 32


def _lines() -> list[dict[str, Any]]:
    """The head and the end line of the history of a party with no lease and no credit record yet."""
    state = {
        "meta/registry": {"authority": "ab" * 32},
        f"party/{PARTY}": {"id": PARTY, "role": "tenant"},
        f"credit/{PARTY}": None,
    }
    bundle = forge.bundle("history", PARTY, state, lambda cp: cp.sign(KEY, "anju-forge"), forge.checkpoint())
    head = {
        "format": PARTS_FORMAT,
        "part": 0,
        "kind": "history",
        "subject": PARTY,
        "chain_id": bundle["chain_id"],
        "checkpoint": bundle["checkpoint"],
        "state": bundle["state"],
        "claims": {"party": PARTY, "score": None},
    }
    end = {"part": 1, "note_sha256_hex": note_hash(bundle["checkpoint"]), "end": True, "state": 3, "txs": 0}
    return [head, end]


def _encoded(lines: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(line).encode() for line in lines]


def test_the_stream_the_tests_below_change_verifies() -> None:
    assert verify_history_parts(_encoded(_lines()), VKEY).party == PARTY


def _head_key(value: Any) -> Callable[[list[dict[str, Any]]], None]:
    def change(lines: list[dict[str, Any]]) -> None:
        lines[0]["state"][0]["key"] = value

    return change


def _set(line: int, field: str, value: Any) -> Callable[[list[dict[str, Any]]], None]:
    def change(lines: list[dict[str, Any]]) -> None:
        lines[line][field] = value

    return change


@pytest.mark.parametrize(
    ("change", "code", "reason"),
    [
        # a head entry's key that is not a string: TypeError (unhashable) out of the verifier
        (_head_key([]), "BUNDLE_MALFORMED", "unexpected_key"),
        (_head_key({"k": 1}), "BUNDLE_MALFORMED", "unexpected_key"),
        (_head_key(5), "BUNDLE_MALFORMED", "unexpected_key"),
        # part numbers and counts are JSON integers: false, 0.0, true and 1.0 passed for 0 and 1
        (_set(0, "part", False), "BUNDLE_MALFORMED", "not_a_head"),
        (_set(0, "part", 0.0), "BUNDLE_MALFORMED", "not_a_head"),
        (_set(1, "part", True), "BUNDLE_MALFORMED", "out_of_order"),
        (_set(1, "part", 1.0), "BUNDLE_MALFORMED", "out_of_order"),
        (_set(1, "txs", False), "BUNDLE_INCOMPLETE", "count_mismatch"),
        (_set(1, "state", 3.0), "BUNDLE_INCOMPLETE", "count_mismatch"),
    ],
)
def test_a_malformed_line_is_refused_with_its_code(
    change: Callable[[list[dict[str, Any]]], None], code: str, reason: str
) -> None:
    lines = _lines()
    change(lines)
    with pytest.raises(VerificationError) as info:
        verify_history_parts(_encoded(lines), VKEY)
    assert (info.value.code, info.value.details.get("reason")) == (code, reason), info.value
