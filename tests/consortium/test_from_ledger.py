"""A consortium started from an existing ledger: CometBFT skips InitChain and carries on at its next height.

The ledger is written by the embedded node (blocks dated in the past), copied to four members,
and a real 4-validator network then commits the same signer's next transactions on top of it.
"""

from __future__ import annotations

from base64 import b64encode
from pathlib import Path

import orjson
import pytest
from tests.consortium.ports import port_base

from anju.api.snapshot import Reader
from anju.chain import consortium as c
from anju.chain.abci.app import checkpoint_of
from anju.chain.node import Node, init_ledger
from anju.chain.verify import verify_data
from anju.client import Trust, verify_height
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse
from anju.ledger.store import Store

from .test_network import CHAIN, Net, _cometbft, wait

pytestmark = pytest.mark.consortium


def b64(raw: bytes) -> str:
    return b64encode(raw).decode()


def _ledger(data: Path, key: SigningKey, blocks: int = 3, chain: str = CHAIN) -> None:
    """A kv ledger of ``blocks`` blocks (two puts each, by ``key``) in the past."""
    init_ledger(data, chain_id=chain, app="kv", params={}, genesis_time="2026-01-01T00:00:00.000Z")
    node = Node(data, verify_workers=0)
    net = Net.__new__(Net)  # only its tx builder: chain, signer and seq
    net.keys, net.seq = [key], [0]
    for b in range(blocks):
        txs = [parse(net.tx(0, f"old{b}-{i}", f"{b}.{i}")) for i in range(2)]
        _, refused = node.commit_block(f"2026-01-0{b + 2}T08:00:00.000Z", txs)
        assert refused == [None, None]
    node.store.close()


def test_init_from_a_ledger_refuses_another_chain(tmp_path: Path) -> None:
    if c.find_cometbft() is None:
        pytest.skip("cometbft is not built (scripts/install-cometbft.sh)")
    _ledger(tmp_path / "src", SigningKey.generate(), blocks=0, chain="some-other-chain")
    with pytest.raises(c.ConsortiumError, match="some-other-chain"):
        c.init(tmp_path / "d", chain_id=CHAIN, ledger=tmp_path / "src", base_port=51200)
    with pytest.raises(c.ConsortiumError, match="genesis params"):
        c.init(tmp_path / "g", chain_id=CHAIN, ledger=tmp_path / "src", params={"authority": "x"}, base_port=51200)
    with pytest.raises(c.ConsortiumError, match="no Anju ledger"):
        c.init(tmp_path / "e", chain_id=CHAIN, ledger=tmp_path / "nowhere", base_port=51200)
    with pytest.raises(c.ConsortiumError, match="not after"):
        c.init(
            tmp_path / "f",
            chain_id="some-other-chain",
            ledger=tmp_path / "src",
            genesis_time="2025-12-31T00:00:00.000Z",
            base_port=51200,
        )


def test_consortium_json_records_the_key_history_of_the_ledger(tmp_path: Path) -> None:
    """The root of trust of a consortium started from a ledger names who signed the copied blocks
    (the ledger's key), a consortium started empty none."""
    if c.find_cometbft() is None:
        pytest.skip("cometbft is not built (scripts/install-cometbft.sh)")
    _ledger(tmp_path / "src", SigningKey.generate(), blocks=2)
    src = Store(tmp_path / "src" / "ledger.db", readonly=True)
    vkey = src.get_meta("verifier_key")
    src.close()
    assert vkey is not None
    src = Store(tmp_path / "src" / "ledger.db", readonly=True)
    tip = src.block(2)
    src.close()
    assert tip is not None and tip.log_size == 4
    layout = c.init(tmp_path / "d", validators=2, chain_id=CHAIN, ledger=tmp_path / "src", base_port=51400)
    assert layout["key_history"] == [[0, vkey.decode()]] and layout["first_height"] == 3
    # the ledger's key's last block: what its notes may claim (the last copied block's log)
    handover = {"height": 2, "log_size": 4, "log_root": b64(tip.log_root)}
    assert layout["handovers"] == [handover]
    assert c.key_history_of(tmp_path / "d") == [[0, vkey.decode(), handover], [3, layout["members"][0]["vkey"]]]
    empty = c.init(tmp_path / "f", validators=1, chain_id=CHAIN, base_port=51400)
    assert "key_history" not in empty and "handovers" not in empty and c.key_history_of(tmp_path / "f") == []


def test_a_consortium_carries_on_from_an_existing_ledger(tmp_path: Path) -> None:
    _cometbft()
    key = SigningKey.generate()
    _ledger(tmp_path / "src", key)
    src = Store(tmp_path / "src" / "ledger.db", readonly=True)
    tip = src.block(3)
    src.close()
    assert tip is not None

    base = port_base(1)
    layout = c.init(tmp_path / "net", validators=4, chain_id=CHAIN, ledger=tmp_path / "src", base_port=base)
    assert layout["app"] == "kv"
    genesis = orjson.loads((tmp_path / "net" / "node1" / "cometbft" / "config" / "genesis.json").read_bytes())
    assert genesis["initial_height"] == "4"
    assert genesis["app_hash"] == checkpoint_of(CHAIN, tip).app_hash().hex().upper()

    c.up(tmp_path / "net", api=False)
    try:
        net = Net(tmp_path / "net")
        net.keys[0], net.seq[0] = key, 6  # the same signer carries on after its 6 puts
        wait(lambda: all(net.status(i)["height"] >= 4 for i in range(4)), 60, "the first consortium block")
        for i in range(4):  # one member: the next seq must follow the last one that member admitted
            net.submit(0, net.tx(0, f"new{i}", str(i)))
        net.submit(2, net.tx(1, "other", "x"))  # a new signer, through another member
        wait(lambda: all(net.value(n, "new3") == '"3"' for n in range(4)), 30, "new3 on every member")
        for n in range(4):  # the history is there, and the new blocks sit on top of it
            assert net.value(n, "old2-1") == '"2.1"'
            assert net.value(n, "new0") == '"0"'
        wait(lambda: all(net.value(n, "other") == '"x"' for n in range(4)), 30, "other on every member")
        wait(lambda: min(net.status(n)["cosigned_height"] for n in range(4)) >= 5, 30, "a cosigned block")
        h = min(net.status(n)["cosigned_height"] for n in range(4))
        texts = {net.note(n, h).split("\n\n")[0] for n in range(4)}
        assert len(texts) == 1
        # a client trusting consortium.json proves the heights of the copied blocks' transactions
        # (the ledger's key signed them) against a checkpoint the members cosigned
        # and bounded by the ledger's key's hand-over (block 3); the members' own blocks too
        trust = Trust.of(*c.trust_of(tmp_path / "net")).with_history(c.key_history_of(tmp_path / "net"))
        assert [(ho.height, ho.size, ho.root) for ho in trust.handovers] == [(3, 6, tip.log_root)]
        head = trust.open(net.note(1, h))
        with Reader(tmp_path / "net" / "node1" / "anju" / "ledger.db").snapshot() as snap:
            for height in (1, 2, 3, 4, 5):
                block = snap.block(height)
                assert block is not None
                if block.tx_count == 0:
                    continue  # (a block without transactions has none to date)
                proof = snap.height_proof(height)
                proof["block_to_head"] = [b64(x) for x in snap.consistency_proof(block.log_size, head.size)]
                assert verify_height(height, block.log_size - 1, proof, head, trust).height == height
        st = Store(tmp_path / "net" / "node0" / "anju" / "ledger.db", readonly=True)
        try:
            old = st.block(3)
            assert old is not None and old.log_root == tip.log_root and old.state_root == tip.state_root
            assert old.checkpoint == tip.checkpoint  # the old checkpoint keeps its writer's signature
        finally:
            st.close()
    finally:
        c.down(tmp_path / "net")
    # `anju verify` replays the whole history of a member: the ledger's key signs up to block 3,
    # the member's from block 4 (meta.verifier_keys)
    member2 = tmp_path / "net" / "node2" / "anju"
    summary = verify_data(member2, workers=1)
    assert summary.ok, summary
    assert summary.height >= 5 and summary.transactions == 6 + 5
    st = Store(member2 / "ledger.db", readonly=True)
    raw = st.get_meta("verifier_keys")
    st.close()
    assert raw is not None
    keys = orjson.loads(raw)
    assert [h for h, _ in keys] == [0, 4] and keys[1][1] == layout["members"][2]["vkey"]
    assert layout["key_history"] == keys[:1]  # (consortium.json: the ledger's key, up to block 3)
    # trusting the member's key alone: the history before it does not verify
    alone = verify_data(member2, trusted_vkey=keys[1][1], workers=1)
    assert not alone.ok and alone.error_height == 0 and "does not verify" in str(alone.error)


def test_the_registry_mix_commits_story_by_story_on_four_validators(tmp_path: Path) -> None:
    """The consortium benchmark's path at tiny scale: every transaction of the mix commits."""
    _cometbft()
    import asyncio
    import io
    from concurrent.futures import ProcessPoolExecutor

    from rich.console import Console

    from anju.bench import registry
    from anju.bench.stories import AnjuFeed, Driver, registry_workload
    from anju.chain.node import now_rfc3339
    from anju.demo import workload

    w = workload.plan("test-mix", units=120, txs=300, today=now_rfc3339()[:10], chain=CHAIN)
    story: list[int] = []
    with ProcessPoolExecutor(2) as pool:
        _, raws, _ = registry.build(tmp_path / "src", w, pool, console=Console(file=io.StringIO()), stories=story)
    base = port_base(2)
    c.init(tmp_path / "net", validators=4, chain_id=CHAIN, ledger=tmp_path / "src", base_port=base)
    c.up(tmp_path / "net", api=False)
    try:
        nodes = c.nodes_of(c.load(tmp_path / "net"))
        net = Net(tmp_path / "net")
        first = int(c.load(tmp_path / "net")["first_height"])
        wait(lambda: all(net.status(i)["height"] >= first for i in range(4)), 60, "the first consortium block")
        d = Driver(registry_workload(raws, story, 4), [n.rpc_url for n in nodes])
        feed = AnjuFeed(nodes[0].cosign_url)
        m = asyncio.run(d.run(feed, 30, backlog=2000))
        left = asyncio.run(d.settle(feed, timeout=30))
        assert left == 0 and d.failed == 0, m
        assert d.committed == len(raws), m
        wait(lambda: len({net.status(n)["app_hash"] for n in range(4)}) == 1, 30, "equal app hashes")
    finally:
        c.down(tmp_path / "net")


def test_the_command_line_starts_a_consortium_from_a_ledger(tmp_path: Path) -> None:
    if c.find_cometbft() is None:
        pytest.skip("cometbft is not built (scripts/install-cometbft.sh)")
    from typer.testing import CliRunner

    from anju.cli.main import app

    _ledger(tmp_path / "src", SigningKey.generate(), blocks=2)
    args = ["consortium", "init", "--dir", str(tmp_path / "d"), "--chain-id", CHAIN, "--base-port", "51300"]
    res = CliRunner().invoke(app, [*args, "--ledger", str(tmp_path / "src")])
    assert res.exit_code == 0, res.output
    assert "the first consortium block is 3" in " ".join(res.output.split())  # (Rich wraps lines)
    member = orjson.loads((tmp_path / "d" / "node3" / "anju" / "consortium.json").read_bytes())
    assert member["first_height"] == 3
    res = CliRunner().invoke(
        app, ["consortium", "init", "--dir", str(tmp_path / "e"), "--ledger", str(tmp_path / "src")]
    )
    assert res.exit_code != 0 and CHAIN in res.output  # the default chain id is not the ledger's
