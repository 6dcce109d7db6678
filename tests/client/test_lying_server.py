"""The SDK refuses answers a server altered after signing (values, proofs, leaves, bundles) or
replayed from an older checkpoint, and checkpoints its trusted signers could not both have made."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.api.conftest import CHAIN, Server
from tests.api.test_core import env, post
from tests.client import forge

from anju.client import AnjuClient, check_fresh
from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
from anju.ledger.checkpoint import Checkpoint
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


def test_sdk_refuses_an_answer_older_than_one_it_has_seen(kv_ledger: Path, start_server: Callable[..., Server]) -> None:
    """A server replaying an old (genuinely signed) answer: once the client has seen a log of size
    N, a value proven against a smaller log is refused, not quietly returned as current."""
    liar = start_server(kv_ledger, "--lie", "stale")
    key = SigningKey.generate()
    post(liar, env(key, 1, "k1", "old"), wait=True)
    client = AnjuClient(liar.url, liar.vkey)
    assert client.state("kv/k1").value == "old"
    post(liar, env(key, 2, "k1", "new"), wait=True)
    assert client.checkpoint().size == 2  # (a text answer: the liar passes it on)
    with pytest.raises(VerificationError) as info:
        client.state("kv/k1")  # the first answer again
    assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "stale"
    assert (info.value.details["size"], info.value.details["seen_size"]) == (1, 2)


def test_sdk_refuses_a_checkpoint_older_than_max_age(tmp_path: Path, start_server: Callable[..., Server]) -> None:
    """A node (or a replaying server) whose newest checkpoint is a day old: genuine, but not current."""
    from anju.chain.node import init_ledger

    data = init_ledger(tmp_path / "old", chain_id=CHAIN, app="kv", genesis_time="2026-01-01T00:00:00.000Z")
    clock = tmp_path / "clock"
    clock.write_text("2026-01-02T00:00:00.000Z")
    server = start_server(data, "--clock-file", str(clock))
    post(server, env(SigningKey.generate(), 1), wait=True)
    assert AnjuClient(server.url, server.vkey).state("kv/a").checkpoint.time == "2026-01-02T00:00:00.000Z"
    with pytest.raises(VerificationError) as info:
        AnjuClient(server.url, server.vkey, max_age=3600).state("kv/a")
    assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "stale"
    assert info.value.details["time"] == "2026-01-02T00:00:00.000Z"
    with pytest.raises(ValueError):
        AnjuClient(server.url, server.vkey, max_age=-1)


_VKEY = vkey_of("anju-forge", SigningKey(b"f" * 32).public)


def _seen(*cps: Checkpoint) -> AnjuClient:
    """A client (never reaching the network) that has seen ``cps`` in turn."""
    client = AnjuClient("http://127.0.0.1:9", _VKEY)
    for cp in cps:
        client.see(forge.sign(cp, (SigningKey(b"f" * 32), "anju-forge")))
    return client


R1, R2 = b"\x01" * 32, b"\x02" * 32
T1, T2 = "2026-03-01T08:00:00.000Z", "2026-03-01T09:00:00.000Z"


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        (forge.checkpoint(size=5, root=R1, height=4, state_root=R2, time=T2), "different state roots"),
        (forge.checkpoint(size=5, root=R2, height=4, state_root=R1, time=T2), "different roots"),
        (forge.checkpoint(size=5, root=R1, height=3, state_root=R1, time=T2), "same height"),
        (forge.checkpoint(size=9, root=R2, height=2, state_root=R2, time=T2), "smaller log or an earlier time"),
        (forge.checkpoint(size=9, root=R2, height=4, state_root=R2, time="2026-03-01T07:00:00.000Z"), "earlier time"),
        (forge.checkpoint(size=3, root=R2, height=4, state_root=R2, time=T2), "smaller log"),
    ],
)
def test_sdk_refuses_checkpoints_that_tell_two_histories(second: Checkpoint, problem: str) -> None:
    """The trusted signer equivocating: both notes verify, but they cannot both be true."""
    first = forge.checkpoint(size=5, root=R1, height=3, state_root=R1, time=T1)
    with pytest.raises(VerificationError, match=problem) as info:
        _seen(first, second)
    assert info.value.code == "PROOF_INVALID" and {"first", "second"} <= set(info.value.details)


def test_sdk_follows_empty_blocks_and_refuses_going_back() -> None:
    first = forge.checkpoint(size=5, root=R1, height=3, state_root=R1, time=T1)
    empty = forge.checkpoint(size=5, root=R1, height=9, state_root=R1, time=T2)  # a block without transactions
    client = _seen(first, empty, first)
    assert client.latest == empty  # the earlier block of the same log is the same state, but not the latest
    older = forge.checkpoint(size=2, root=R2, height=2, state_root=R2, time="2026-03-01T07:00:00.000Z")
    with pytest.raises(VerificationError) as info:
        _seen(first, older)
    assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "stale"
    assert (info.value.details["size"], info.value.details["seen_size"]) == (2, 5)


def test_check_fresh_measures_against_the_block_time() -> None:
    from datetime import datetime

    cp = forge.checkpoint(time=T1)
    made = datetime.fromisoformat("2026-03-01T08:00:00+00:00").timestamp()
    check_fresh(cp, None, made + 10**9)
    check_fresh(cp, 60, made + 60)
    with pytest.raises(VerificationError) as info:
        check_fresh(cp, 60, made + 61)
    assert info.value.details["reason"] == "stale"


def test_sdk_refuses_a_record_about_another_key(kv_ledger: Path, start_server: Callable[..., Server]) -> None:
    """Asked for unit U, the server proves that unit/NOPE does not exist: a valid proof, of the wrong key."""
    liar = start_server(kv_ledger, "--lie", "other_key")
    post(liar, env(SigningKey.generate(), 1), wait=True)
    client = AnjuClient(liar.url, liar.vkey)
    unit = "0123456789abcdef"
    with pytest.raises(VerificationError) as info:
        client.record(f"/units/{unit}")
    assert info.value.code == "PROOF_INVALID"
    assert (info.value.details["key"], info.value.details["got"]) == (f"unit/{unit}", "unit/NOPE")
    for path in (f"/units/{unit}/leases", "/state/unit/NOPE", f"/units/{unit}?x=1", "/things/1"):
        with pytest.raises(VerificationError) as info:
            client.record(path)
        assert info.value.code == "BAD_REQUEST", path


def test_every_record_route_of_the_api_has_its_state_key() -> None:
    """The SDK's path → key table covers every API route that answers one proven record."""
    from anju.api import schemas
    from anju.api.registry_routes import registry_router
    from anju.client.sdk import RECORD_PATHS, record_key

    router = registry_router(None, None)  # type: ignore[arg-type]  # (routes only: nothing is served)
    paths = [r.path for r in router.routes if getattr(r, "response_model", None) is schemas.Record]
    assert len(paths) == len(RECORD_PATHS), paths
    for path in paths:
        collection = path.split("/")[3]
        assert record_key(f"/{collection}/abc123") == f"{RECORD_PATHS[collection]}/abc123", path


def test_sdk_pinned_to_a_chain_refuses_a_node_of_another(kv_server: Server) -> None:
    post(kv_server, env(SigningKey.generate(), 1), wait=True)
    with pytest.raises(VerificationError) as info:
        AnjuClient(kv_server.url, kv_server.vkey, chain_id="anju-xuhui-1").state("kv/a")
    assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "wrong_origin"
    client = AnjuClient(kv_server.url, kv_server.vkey, chain_id=CHAIN)
    assert client.state("kv/a").value == "b" and client.chain_id == CHAIN


def test_sdk_follows_one_chain_even_unpinned() -> None:
    """Keys that sign two chains: a client that has seen one chain's checkpoint refuses the other's."""
    first = forge.checkpoint(origin="anju-forge", size=5, root=R1, height=3, state_root=R1, time=T1)
    other = forge.checkpoint(origin="anju-forge-test", size=5, root=R1, height=4, state_root=R1, time=T2)
    with pytest.raises(VerificationError) as info:
        _seen(first, other)
    assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "wrong_origin"
    assert _seen(other).chain_id == "anju-forge-test"
