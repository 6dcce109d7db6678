"""The SDK refuses answers a server altered after signing: values, proofs, leaves, bundles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.api.conftest import Server
from tests.api.test_core import env, post

from anju.client import AnjuClient
from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
from anju.ledger.note import vkey_of


@pytest.mark.parametrize("mode", ["value", "proof", "leaf"])
def test_sdk_rejects_a_lying_server(mode: str, kv_ledger: Path, start_server: Callable[..., Server]) -> None:
    honest = start_server(kv_ledger)
    key = SigningKey.generate()
    txids = [post(honest, env(key, i, f"k{i}", "truth"), wait=True).json()["txid"] for i in range(1, 4)]
    vkey = honest.vkey
    honest.stop()
    liar = start_server(kv_ledger, "--lie", mode)
    client = AnjuClient(liar.url, vkey)
    with pytest.raises(VerificationError) as info:
        if mode == "value":
            client.state("kv/k1")
        else:
            client.tx(txids[0])
    assert info.value.code == "PROOF_INVALID"


def test_sdk_rejects_a_foreign_key(kv_server: Server) -> None:
    post(kv_server, env(SigningKey.generate(), 1), wait=True)
    other = vkey_of("anju-api-test", SigningKey.generate().public)
    client = AnjuClient(kv_server.url, other)
    with pytest.raises(VerificationError) as info:
        client.state("kv/a")
    assert info.value.code == "CHECKPOINT_INVALID"


def test_sdk_trusting_several_keys_needs_more_than_one_signature(kv_server: Server) -> None:
    """A node signing alone is one member of the consortium a client trusts: not enough by default."""
    post(kv_server, env(SigningKey.generate(), 1), wait=True)
    other = vkey_of("anju-api-test/member2", SigningKey.generate().public)
    client = AnjuClient(kv_server.url, verifier_keys=[kv_server.vkey, other])
    with pytest.raises(VerificationError) as info:
        client.state("kv/a")
    assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "below_threshold"
    assert AnjuClient(kv_server.url, verifier_keys=[kv_server.vkey, other], threshold=1).state("kv/a").value == "b"
