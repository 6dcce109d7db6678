"""Whom the SDK believes: several trusted keys must sign together."""

from __future__ import annotations

import pytest
from tests.client import forge

from anju.client import Trust
from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
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


def test_a_rotated_key_under_the_same_name_is_one_signer() -> None:
    """An old and a new key of the same name (a node that changed keys) count as one name: one of
    them signing is enough by default, and a threshold above the names is refused."""
    new = vkey_of(NAMES[0], KEYS[1].public)
    trust = Trust.of([VKEYS[0], new])
    assert trust.threshold == 1
    assert trust.open(forge.sign(forge.checkpoint(), (KEYS[1], NAMES[0]))).size == 0
    with pytest.raises(ValueError):
        Trust.of([VKEYS[0], new], 2)
