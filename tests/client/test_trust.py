"""Whom the SDK believes: several trusted keys must sign together, and no key counts twice."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from tests.client import forge

from anju.chain.consortium import ConsortiumError, key_history_of, trust_of
from anju.client import Trust
from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
from anju.ledger import merkle
from anju.ledger.note import quorum, vkey_of

KEYS = [SigningKey(bytes([i]) * 32) for i in range(1, 8)]
NAMES = [f"anju-forge/member{i}" for i in range(len(KEYS))]
VKEYS = [vkey_of(n, k.public) for n, k in zip(NAMES, KEYS, strict=True)]


def _note(signers: int) -> str:
    return forge.sign(forge.checkpoint(), *zip(KEYS[:signers], NAMES[:signers], strict=True))


@pytest.mark.parametrize(("n", "t"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (7, 5)])
def test_several_keys_need_a_quorum_by_default(n: int, t: int) -> None:
    """One member of a consortium is not the consortium: the default is ⌊2n/3⌋ + 1 of n keys."""
    trust = Trust.of(VKEYS[:n])
    assert trust.threshold == t == quorum(n)
    assert trust.open(_note(t)).size == 0
    if t > 1:
        with pytest.raises(VerificationError) as info:
            trust.open(_note(t - 1))
        assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "below_threshold"


def test_an_explicit_threshold_still_holds() -> None:
    assert Trust.of(VKEYS[:4], 1).open(_note(1)).size == 0
    assert Trust.of(VKEYS[:4], threshold=4).threshold == 4
    for bad in (0, 5):
        with pytest.raises(ValueError):
            Trust.of(VKEYS[:4], bad)


def test_one_public_key_under_two_names_is_refused() -> None:
    """Signers are counted by name: the same key under two names would be two signatures of one holder."""
    twice = vkey_of("anju-forge/impostor", KEYS[0].public)
    for keys in ([VKEYS[0], twice], [VKEYS[0], VKEYS[1], twice], [VKEYS[0], VKEYS[0]]):
        with pytest.raises(VerificationError) as info:
            Trust.of(keys, 2)
        assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "ambiguous_verifiers"
    note = forge.sign(forge.checkpoint(), (KEYS[0], NAMES[0]), (KEYS[0], "anju-forge/impostor"))
    with pytest.raises(VerificationError):
        Trust.of([VKEYS[0], twice, VKEYS[1]], 2).open(note)


def test_a_rotated_key_under_the_same_name_is_one_signer() -> None:
    """An old and a new key of the same name (a node that changed keys) count as one name: one of
    them signing is enough by default, and a threshold above the names is refused."""
    new = vkey_of(NAMES[0], KEYS[1].public)
    trust = Trust.of([VKEYS[0], new])
    assert trust.threshold == 1
    assert trust.open(forge.sign(forge.checkpoint(), (KEYS[1], NAMES[0]))).size == 0
    with pytest.raises(ValueError):
        Trust.of([VKEYS[0], new], 2)


def _consortium(tmp_path: Path, vkeys: list[str], threshold: int) -> Path:
    members = [{"name": v.split("+")[0], "vkey": v, "cosign_url": "http://127.0.0.1:1"} for v in vkeys]
    (tmp_path / "consortium.json").write_text(json.dumps({"members": members, "threshold": threshold}))
    return tmp_path


def test_a_consortium_file_gives_a_quorum_of_distinct_keys(tmp_path: Path) -> None:
    assert trust_of(_consortium(tmp_path, VKEYS[:4], 3)) == (VKEYS[:4], 3)
    Trust.of(*trust_of(tmp_path))
    twice = vkey_of("anju-forge/member9", KEYS[0].public)
    for vkeys, threshold in (([*VKEYS[:3], twice], 3), (VKEYS[:4], 1), (VKEYS[:4], 5)):
        with pytest.raises(ConsortiumError):
            trust_of(_consortium(tmp_path, vkeys, threshold))


def test_a_pinned_origin_refuses_another_chains_checkpoints() -> None:
    """Keys that also sign another chain (a test chain, another district) must not make its proofs pass."""
    note = _note(1)
    assert Trust.of(VKEYS[0], origin="anju-forge").open(note).origin == "anju-forge"
    pinned = Trust.of(VKEYS[0], origin="anju-xuhui-1")
    for _ in range(2):  # (the second time from the cache of opened notes)
        with pytest.raises(VerificationError) as info:
            pinned.open(note)
        assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "wrong_origin"
        assert info.value.details["origin"] == "anju-forge"


def test_a_consortium_file_gives_the_key_history_of_a_copied_ledger(tmp_path: Path) -> None:
    """A consortium started from a ledger records who signed the copied blocks: a client trusting
    the members takes it as ``key_history``, the members signing from ``first_height`` on."""
    old, older = VKEYS[5], VKEYS[6]
    _consortium(tmp_path, VKEYS[:4], 3)
    assert key_history_of(tmp_path) == []  # (started empty, or before the record)
    layout = json.loads((tmp_path / "consortium.json").read_text())
    (tmp_path / "consortium.json").write_text(
        json.dumps({**layout, "first_height": 9, "key_history": [[0, older], [4, old]]})
    )
    history = key_history_of(tmp_path)
    assert history == [[0, older], [4, old], [9, VKEYS[0]]]
    trust = Trust.of(*trust_of(tmp_path)).with_history(history)
    assert (trust.since, trust.threshold) == (9, 3)
    assert trust.at(3).verifiers == Trust.of(older).verifiers and trust.at(8).verifiers == Trust.of(old).verifiers


@pytest.mark.parametrize(
    ("first_height", "history"),
    [
        (9, [[1, "OLD"]]),  # not from height 0
        (9, [[0, "OLD"], [0, "OLD"]]),  # heights not increasing
        (9, [[0, "OLD"], [9, "OLD"]]),  # not before the members' first height
        (9, [[0, "not a key"]]),
        (9, [[0, "OLD", 1]]),
        (9, [["0", "OLD"]]),
        (9, [[True, "OLD"]]),
        (9, []),
        (9, {"0": "OLD"}),
        (None, [[0, "OLD"]]),  # no first height
        ("9", [[0, "OLD"]]),
    ],
)
def test_a_consortium_file_whose_key_history_is_not_one_is_refused(
    tmp_path: Path, first_height: Any, history: Any
) -> None:
    """consortium.json is a client's root of trust: a key history that is not one is refused, not
    guessed at."""
    _consortium(tmp_path, VKEYS[:4], 3)
    layout = json.loads((tmp_path / "consortium.json").read_text())
    named = [[VKEYS[5] if x == "OLD" else x for x in e] if isinstance(e, list) else e for e in history]
    layout = {**layout, "key_history": named if isinstance(history, list) else history}
    if first_height is not None:
        layout["first_height"] = first_height
    (tmp_path / "consortium.json").write_text(json.dumps(layout))
    with pytest.raises(ConsortiumError, match=r"consortium\.json"):
        key_history_of(tmp_path)


def _record(height: int, size: int, fill: bytes = b"r") -> dict[str, Any]:
    root = merkle.EMPTY_ROOT if size == 0 else fill * 32
    return {"height": height, "log_size": size, "log_root": base64.b64encode(root).decode()}


def test_a_consortium_file_bounds_each_earlier_key_by_its_hand_over(tmp_path: Path) -> None:
    """``handovers`` (the last block each earlier key signed) goes with its key's entry, as the
    third element ``Trust.with_history`` takes; a file without it still gives the pairs alone."""
    old, older = VKEYS[5], VKEYS[6]
    _consortium(tmp_path, VKEYS[:4], 3)
    layout = {**json.loads((tmp_path / "consortium.json").read_text()), "first_height": 9}
    layout["key_history"] = [[0, older], [4, old]]
    (tmp_path / "consortium.json").write_text(json.dumps(layout))
    assert key_history_of(tmp_path) == [[0, older], [4, old], [9, VKEYS[0]]]  # (unbounded, as before)
    for records in ([_record(3, 5), _record(8, 7)], [_record(8, 7)]):  # every hand-over, or the last
        (tmp_path / "consortium.json").write_text(json.dumps({**layout, "handovers": records}))
        history = key_history_of(tmp_path)
        assert history[-2:] == [[4, old, _record(8, 7)], [9, VKEYS[0]]]
        assert history[0] == ([0, older, _record(3, 5)] if len(records) == 2 else [0, older])
        trust = Trust.of(*trust_of(tmp_path)).with_history(history)
        assert [(ho.height, ho.size) for ho in trust.handovers] == [(r["height"], r["log_size"]) for r in records]


@pytest.mark.parametrize(
    "records",
    [
        {"8": 7},
        [_record(8, 7), _record(8, 7)],  # one hand-over twice
        [_record(9, 7)],  # not the last height of an earlier key (the members' first)
        [_record(5, 7)],
        [_record(3, 8), _record(8, 7)],  # a later hand-over with a smaller log
        [_record(3, 7), _record(8, 7, b"s")],  # the same size, another root
        [{**_record(8, 7), "log_root": base64.b64encode(b"r" * 31).decode()}],  # not 32 bytes
        [{**_record(8, 7), "log_root": "not base64!"}],
        [{**_record(8, 7), "log_root": None}],
        [{**_record(8, 7), "log_size": -1}],
        [{**_record(8, 7), "log_size": "7"}],
        [{**_record(8, 7), "log_size": True}],
        [{**_record(8, 7), "height": "8"}],
        [{**_record(8, 7), "log_size": 0}],  # the empty log with another root
        [{"height": 8, "log_size": 7}],
        [{**_record(8, 7), "signed_by": "x"}],
        [[8, 7, "root"]],
        "handovers",
    ],
)
def test_a_consortium_file_whose_hand_overs_are_not_some_is_refused(tmp_path: Path, records: Any) -> None:
    _consortium(tmp_path, VKEYS[:4], 3)
    layout = {**json.loads((tmp_path / "consortium.json").read_text()), "first_height": 9}
    layout["key_history"] = [[0, VKEYS[6]], [4, VKEYS[5]]]
    (tmp_path / "consortium.json").write_text(json.dumps({**layout, "handovers": records}))
    with pytest.raises(ConsortiumError, match=r"consortium\.json"):
        key_history_of(tmp_path)
    del layout["key_history"]  # (hand-overs of no history)
    (tmp_path / "consortium.json").write_text(json.dumps({**layout, "handovers": [_record(8, 7)]}))
    with pytest.raises(ConsortiumError, match=r"consortium\.json"):
        key_history_of(tmp_path)


def test_nested_hand_overs_bound_every_height() -> None:
    """A ledger that changed signers twice (A up to block 4, B up to 8, then the members): a note of
    a height up to a hand-over claims at most its log, of the hand-over's height exactly its log, of
    a later height at least its log, whoever signed it; one hand-over known bounds what it can."""
    a, b = VKEYS[6], VKEYS[5]
    sizes = {4: 5, 8: 7}
    history = [[0, a, _record(4, 5)], [5, b, _record(8, 7, b"s")], [9, VKEYS[0]]]
    trust = Trust.of(VKEYS[:4]).with_history(history)
    assert trust.at(4).verifiers == Trust.of(a).verifiers and trust.at(5).verifiers == Trust.of(b).verifiers

    def cp(height: int, size: int, fill: bytes | None = None) -> Any:
        root = fill or {5: b"r", 7: b"s"}.get(size, b"x")  # (the hand-overs' sizes: their roots)
        return forge.checkpoint(size=size, root=merkle.EMPTY_ROOT if size == 0 else root * 32, height=height)

    good = [cp(0, 0), cp(3, 5), cp(4, 5), cp(5, 5), cp(7, 7), cp(8, 7), cp(9, 7), cp(12, 30)]
    bad = [cp(3, 6), cp(4, 4), cp(4, 6), cp(4, 5, b"q"), cp(5, 5, b"q"), cp(6, 4), cp(7, 8), cp(8, 6),
           cp(8, 7, b"q"), cp(9, 6), cp(9, 7, b"q")]  # fmt: skip
    for c in good:
        trust.check_handovers(c)
    for c in bad:
        with pytest.raises(VerificationError) as info:
            trust.check_handovers(c)
        assert (info.value.code, info.value.details["reason"]) == ("PROOF_INVALID", "beyond_handover"), c
        assert info.value.details["handover_height"] in sizes and info.value.details["height"] == c.height
    # only the last hand-over recorded: A and B are bounded by it, not by each other's
    last = Trust.of(VKEYS[:4]).with_history([history[0][:2], history[1], history[2]])
    for c in [*good, cp(3, 6), cp(4, 4), cp(6, 4)]:
        last.check_handovers(c)
    for c in [cp(7, 8), cp(8, 6), cp(9, 6)]:
        with pytest.raises(VerificationError):
            last.check_handovers(c)
