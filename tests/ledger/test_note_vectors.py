"""C2SP signed-note and tlog-checkpoint against published vectors, plus Anju's checkpoint format."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint, parse_checkpoint_body
from anju.ledger.note import (
    Verifier,
    add_signature,
    open_note,
    open_note_threshold,
    parse_note,
    sign_note,
    signer_from_skey,
    skey_of,
    vkey_of,
)

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "tlog"
NOTES: dict[str, Any] = json.loads((VECTORS / "notes.json").read_text())
CHECKPOINTS: dict[str, Any] = json.loads((VECTORS / "checkpoints.json").read_text())
NOTE_BY_ID = {n["id"]: n for n in NOTES["notes"]}


def _params(records: list[dict[str, Any]]) -> list[Any]:
    assert records, "vectors missing"
    return [pytest.param(r, id=r["id"]) for r in records]


def _note(rec: dict[str, Any]) -> str | bytes:
    return base64.b64decode(rec["note_b64"]) if "note_b64" in rec else str(rec["note"])


def _reason(fn: Callable[[], object]) -> str:
    with pytest.raises(VerificationError) as err:
        fn()
    assert err.value.code == "CHECKPOINT_INVALID"
    return str(err.value.details["reason"])


# --- signed-note vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("rec", _params(NOTES["keys"]))
def test_key_vector(rec: dict[str, Any]) -> None:
    if rec["expect"] == "valid":
        v = Verifier.from_vkey(rec["vkey"])
        assert v.vkey == rec["vkey"] == vkey_of(v.name, v.public)
        if "skey" in rec:
            name, key = signer_from_skey(rec["skey"])
            assert (name, key.public) == (v.name, v.public)
            assert skey_of(name, key) == rec["skey"]
    else:
        want = {"malformed": "malformed_key", "unsupported": "unsupported_key"}[rec["expect"]]
        assert _reason(lambda: Verifier.from_vkey(rec["vkey"])) == want


@pytest.mark.parametrize("rec", _params(NOTES["notes"]))
def test_note_vector(rec: dict[str, Any]) -> None:
    verifiers = [Verifier.from_vkey(k) for k in rec["vkeys"]]
    if rec["expect"] == "valid":
        text, names = open_note(_note(rec), verifiers)
        if "text" in rec:
            assert text == rec["text"]
        # Identical repeated signature lines (gm-open-duplicates) count once.
        assert names == list(dict.fromkeys(rec.get("verified", [v.name for v in verifiers])))
        assert not set(names) & set(rec.get("unverified", []))
    elif rec["expect"] == "invalid":
        assert _reason(lambda: open_note(_note(rec), verifiers)) in {"bad_signature", "no_known_signature"}
    else:
        assert rec["expect"] == "malformed"
        assert _reason(lambda: open_note(_note(rec), verifiers)) == "malformed"


def test_sign_reproduces_the_go_golden_note() -> None:
    rec = NOTE_BY_ID["gm-sign-golden"]
    name, key = signer_from_skey(rec["sign_with"])
    assert sign_note(rec["text"], name, key) == rec["note"]


@pytest.mark.parametrize("rec_id", ["sum.golang.org-49189689", "sum.golang.org-65664258"])
def test_sum_golang_org_heads_are_checkpoints(rec_id: str) -> None:
    rec = NOTE_BY_ID[rec_id]
    text, names = open_note(rec["note"], [Verifier.from_vkey(rec["vkeys"][0])])
    body = parse_checkpoint_body(text)
    origin, size, root = rec["checkpoint"]
    assert (names, body.origin, body.size, body.root, body.extensions) == (
        ["sum.golang.org"],
        origin,
        size,
        base64.b64decode(root),
        (),
    )


def test_sumdb_fork_is_caught_by_consistency() -> None:
    extra = CHECKPOINTS["consistency_extra"]
    extra = extra[0] if isinstance(extra, list) else extra
    roots = {}
    for rec_id in ("sumdb-test-fork-old-5", "sumdb-test-fork-new-6"):
        rec = NOTE_BY_ID[rec_id]
        text, _ = open_note(rec["note"], [Verifier.from_vkey(rec["vkeys"][0])])
        body = parse_checkpoint_body(text)
        roots[body.size] = body.root
    assert roots[5] == base64.b64decode(extra["root1_signed_old"])
    assert roots[6] == base64.b64decode(extra["root2"])
    proof = [base64.b64decode(p) for p in extra["proof"]]
    merkle.verify_consistency(5, 6, proof, base64.b64decode(extra["root1_from_new_tree"]), roots[6])
    with pytest.raises(VerificationError) as err:
        merkle.verify_consistency(5, 6, proof, roots[5], roots[6])
    assert err.value.code == "PROOF_INVALID"


# --- tlog-checkpoint vectors ------------------------------------------------------------------


@pytest.mark.parametrize("rec", _params(CHECKPOINTS["checkpoints"]))
def test_checkpoint_vector(rec: dict[str, Any]) -> None:
    text = rec["text"]
    if "\n\n\u2014 " in text:  # a whole signed note (c2sp-example): its text is the checkpoint
        text = parse_note(text).text
    if rec["expect"] == "malformed":
        with pytest.raises(VerificationError):
            parse_checkpoint_body(text, hash_size=None)
        return
    if rec["expect"] == "valid-any-hash-size":
        with pytest.raises(VerificationError):
            parse_checkpoint_body(text)
        body = parse_checkpoint_body(text, hash_size=None)
    else:
        assert rec["expect"] == "valid"
        body = parse_checkpoint_body(text)
        assert body.root == base64.b64decode(rec["root"])
    assert (body.origin, body.size, list(body.extensions)) == (rec["origin"], rec["size"], rec["extensions"])
    if "root_is_leaf_hash_of" in rec:
        assert body.root == merkle.leaf_hash(rec["root_is_leaf_hash_of"].encode())


# --- Anju's checkpoint --------------------------------------------------------------------------

KEY = SigningKey(bytes(range(32)))
CP = Checkpoint(
    origin="anju-xuhui-1",
    size=1234,
    root=hashlib.sha256(b"log").digest(),
    height=56,
    state_root=hashlib.sha256(b"state").digest(),
    time="2026-11-25T18:04:05.123Z",
)
CP_TEXT = (
    "anju-xuhui-1\n1234\n"
    f"{base64.b64encode(CP.root).decode()}\n"
    "anju-height 56\n"
    f"anju-state {base64.b64encode(CP.state_root).decode()}\n"
    "anju-time 2026-11-25T18:04:05.123Z\n"
)


def test_checkpoint_text_round_trip_and_app_hash() -> None:
    assert CP.to_text() == CP_TEXT
    assert Checkpoint.from_text(CP_TEXT) == CP
    # The app hash covers the log and state lines only: height and time are left out.
    lines = CP_TEXT.splitlines(keepends=True)
    assert CP.app_hash() == hashlib.sha256("".join([*lines[:3], lines[4]]).encode()).digest()
    later = dataclasses.replace(CP, height=CP.height + 1, time="2026-11-25T18:04:06.000Z")
    assert later.app_hash() == CP.app_hash() and later.to_text() != CP.to_text()
    assert dataclasses.replace(CP, size=CP.size + 1).app_hash() != CP.app_hash()
    assert dataclasses.replace(CP, root=bytes(32)).app_hash() != CP.app_hash()
    assert dataclasses.replace(CP, state_root=bytes(32)).app_hash() != CP.app_hash()
    assert dataclasses.replace(CP, origin=CP.origin + "x").app_hash() != CP.app_hash()
    note = CP.sign(KEY, "anju-xuhui-1")
    assert note.startswith(CP_TEXT + "\n\u2014 anju-xuhui-1 ") and note.endswith("\n")
    assert Checkpoint.open(note, [Verifier.of("anju-xuhui-1", KEY.public)]) == CP
    assert parse_checkpoint_body(CP_TEXT).extensions == tuple(CP_TEXT.split("\n")[3:6])


def _swap(i: int, j: int) -> str:
    lines = CP_TEXT.split("\n")
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


BAD_TEXTS = {
    "size-leading-zero": CP_TEXT.replace("\n1234\n", "\n01234\n"),
    "size-plus-sign": CP_TEXT.replace("\n1234\n", "\n+1234\n"),
    "height-leading-zero": CP_TEXT.replace("anju-height 56", "anju-height 056"),
    "height-missing": CP_TEXT.replace("anju-height 56\n", ""),
    "height-two-spaces": CP_TEXT.replace("anju-height 56", "anju-height  56"),
    "extension-order": _swap(3, 4),
    "extra-extension": CP_TEXT + "anju-extra 1\n",
    "no-final-newline": CP_TEXT[:-1],
    "trailing-blank-line": CP_TEXT + "\n",
    "crlf": CP_TEXT.replace("\n", "\r\n"),
    "time-no-millis": CP_TEXT.replace("05.123Z", "05Z"),
    "time-micros": CP_TEXT.replace("05.123Z", "05.123456Z"),
    "time-offset": CP_TEXT.replace("05.123Z", "05.123+08:00"),
    "time-month-13": CP_TEXT.replace("2026-11-25", "2026-13-25"),
    "time-lowercase-z": CP_TEXT.replace("05.123Z", "05.123z"),
    "state-root-31-bytes": CP_TEXT.replace(
        base64.b64encode(CP.state_root).decode(), base64.b64encode(CP.state_root[:31]).decode()
    ),
    "root-unpadded": CP_TEXT.replace(base64.b64encode(CP.root).decode(), base64.b64encode(CP.root).decode()[:-1]),
    "root-urlsafe": CP_TEXT.replace(base64.b64encode(CP.root).decode(), base64.urlsafe_b64encode(CP.root).decode()),
    "origin-with-space": CP_TEXT.replace("anju-xuhui-1", "anju xuhui"),
    "size-over-uint64": CP_TEXT.replace("\n1234\n", f"\n{1 << 64}\n"),
}


def test_bad_text_table_really_changes_the_text() -> None:
    assert all(t != CP_TEXT for t in BAD_TEXTS.values())


@pytest.mark.parametrize("text", list(BAD_TEXTS.values()), ids=list(BAD_TEXTS))
def test_checkpoint_from_text_is_strict(text: str) -> None:
    with pytest.raises(VerificationError) as err:
        Checkpoint.from_text(text)
    assert err.value.code == "CHECKPOINT_INVALID"
    assert err.value.details["reason"] == "malformed"  # docs/PROTOCOL.md: every one carries a reason


def test_the_sdk_trust_gives_every_refusal_a_reason() -> None:
    from anju.client.verify import Trust

    with pytest.raises(VerificationError) as err:
        Trust.of("not a key")
    assert err.value.code == "CHECKPOINT_INVALID" and err.value.details["reason"] == "malformed_key"
    trust = Trust.of(vkey_of("anju-xuhui-1", KEY.public))
    for note in (None, "not a note"):
        with pytest.raises(VerificationError) as err:
            trust.open(note)
        assert err.value.code == "CHECKPOINT_INVALID" and err.value.details["reason"] == "malformed"


@pytest.mark.parametrize("line", range(6))
def test_tampering_with_any_body_line_fails_the_signature(line: int) -> None:
    note = CP.sign(KEY, "anju-xuhui-1")
    lines = note.split("\n")
    lines[line] = lines[line][:-1] + ("7" if lines[line][-1] != "7" else "8")
    with pytest.raises(VerificationError) as err:
        Checkpoint.open("\n".join(lines), [Verifier.of("anju-xuhui-1", KEY.public)])
    assert err.value.code == "CHECKPOINT_INVALID"
    assert err.value.details["reason"] in {"bad_signature", "malformed"}


def test_tampering_with_the_signature_line_fails() -> None:
    note = CP.sign(KEY, "anju-xuhui-1")
    sig = note.rsplit(" ", 1)[1].rstrip("\n")
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1
    bad = note.replace(sig, base64.b64encode(bytes(raw)).decode())
    assert _reason(lambda: Checkpoint.open(bad, [Verifier.of("anju-xuhui-1", KEY.public)])) == "bad_signature"
    other = SigningKey(bytes(32))
    assert _reason(lambda: Checkpoint.open(note, [Verifier.of("anju-xuhui-1", other.public)])) == "no_known_signature"


# --- consortium cosigning -----------------------------------------------------------------------

MEMBERS = {f"member{i}.example": SigningKey(bytes([i]) * 32) for i in range(1, 5)}
VERIFIERS = [Verifier.of(name, key.public) for name, key in MEMBERS.items()]


def _cosigned(names: list[str]) -> str:
    note = CP.sign(MEMBERS[names[0]], names[0])
    for name in names[1:]:
        note = add_signature(note, name, MEMBERS[name])
    return note


@pytest.mark.parametrize(
    ("signers", "threshold", "ok"),
    [
        (["member1.example", "member2.example", "member3.example"], 3, True),
        (["member1.example", "member2.example", "member3.example"], 2, True),
        (["member1.example", "member2.example"], 3, False),
        (["member1.example", "member1.example", "member1.example"], 2, False),
        (["member4.example"], 1, True),
    ],
    ids=["3-of-3", "3-of-2", "2-of-3", "one-member-thrice", "one"],
)
def test_threshold(signers: list[str], threshold: int, ok: bool) -> None:
    note = _cosigned(signers)
    if ok:
        text, names = open_note_threshold(note, VERIFIERS, threshold)
        assert text == CP_TEXT and names == list(dict.fromkeys(signers))
        assert Checkpoint.open(note, VERIFIERS, threshold) == CP
    else:
        assert _reason(lambda: open_note_threshold(note, VERIFIERS, threshold)) == "below_threshold"


def test_add_signature_is_idempotent_and_unknown_signers_are_ignored() -> None:
    note = _cosigned(["member1.example", "member2.example"])
    assert add_signature(note, "member2.example", MEMBERS["member2.example"]) == note
    stranger = add_signature(note, "stranger.example", SigningKey(bytes([9]) * 32))
    assert open_note_threshold(stranger, VERIFIERS, 2)[1] == ["member1.example", "member2.example"]
    forged = note + "\u2014 member3.example " + base64.b64encode(VERIFIERS[2].key_id + bytes(64)).decode() + "\n"
    assert _reason(lambda: open_note(forged, VERIFIERS)) == "bad_signature"


def test_signing_rejects_bad_text_and_names() -> None:
    with pytest.raises(VerificationError):
        sign_note("no final newline", "ok", KEY)
    with pytest.raises(ValueError):
        sign_note("text\n", "bad name", KEY)
    with pytest.raises(ValueError):
        sign_note("text\n", "a+b", KEY)
