"""A real 4-validator CometBFT network driving four Anju ledgers (real processes, loopback only).

One network per module; the scenarios run in order on it: commit everywhere, one member down and
back (then `anju verify` on its data), two down (no commit) and back, one member tampered with.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.api.conftest import JSON_BODY
from tests.consortium.ports import port_base

from anju.chain import consortium as c
from anju.chain.verify import verify_data
from anju.crypto import jcs
from anju.crypto.keys import SigningKey
from anju.crypto.tx import sign
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import Verifier

pytestmark = pytest.mark.consortium
CHAIN = "anju-test-consortium"


def _cometbft() -> Path:
    path = c.find_cometbft()
    if path is None and os.environ.get("ANJU_SKIP_COMETBFT_BUILD") != "1":
        script = c.ROOT / "scripts" / "install-cometbft.sh"
        subprocess.run(["bash", str(script)], capture_output=True, timeout=900)
        path = c.find_cometbft()
    if path is None:
        pytest.skip("the cometbft binary could not be built (scripts/install-cometbft.sh needs Go and the Go proxy)")
    return path


class Net:
    def __init__(self, d: Path) -> None:
        self.d = d
        self.layout = c.load(d)
        self.nodes = c.nodes_of(self.layout)
        self.keys = [SigningKey.generate() for _ in range(4)]
        self.seq = [0] * 4
        self.client = httpx.Client(timeout=5)

    def tx(self, signer: int, key: str, value: str = "v") -> bytes:
        self.seq[signer] += 1
        k = self.keys[signer]
        body = {
            "chain": CHAIN,
            "kind": "kv.put",
            "signer": k.public_hex,
            "seq": self.seq[signer],
            "key": key,
            "value": value,
        }
        return jcs.canonicalize(sign(body, [k]))

    def rpc(self, node: int, method: str, **params: Any) -> Any:
        r = self.client.post(
            self.nodes[node].rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        )
        return r.json()["result"]

    def submit(self, node: int, raw: bytes) -> dict[str, Any]:
        res: dict[str, Any] = self.rpc(node, "broadcast_tx_sync", tx=base64.b64encode(raw).decode())
        assert res["code"] == 0, res
        return res

    def value(self, node: int, key: str) -> str | None:
        try:
            res = self.rpc(node, "abci_query", path="/state", data=("kv/" + key).encode().hex())
        except (httpx.HTTPError, KeyError):
            return None
        doc = orjson.loads(base64.b64decode(res["response"]["value"]))
        v: str | None = doc["value"]
        return v

    def status(self, node: int) -> dict[str, Any]:
        r: dict[str, Any] = self.client.get(self.nodes[node].cosign_url + "/status").json()
        return r

    def note(self, node: int, height: int) -> str:
        return self.client.get(f"{self.nodes[node].cosign_url}/checkpoint/{height}").text


def wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except (httpx.HTTPError, OSError, KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    _cometbft()
    d = tmp_path_factory.mktemp("consortium")
    base = port_base(0)
    c.init(d / "net", validators=4, chain_id=CHAIN, app="kv", base_port=base)
    c.up(d / "net")
    n = Net(d / "net")
    try:
        wait(lambda: all(n.status(i)["height"] >= 2 for i in range(4)), 60, "the first blocks")
        yield n
    finally:
        c.down(d / "net")


def test_txs_to_any_member_commit_everywhere_with_identical_app_hashes(net: Net) -> None:
    for i in range(8):
        net.submit(i % 4, net.tx(i % 4, f"k{i}", str(i)))
    wait(lambda: all(net.value(n, "k7") == '"7"' for n in range(4)), 30, "k7 on every member")
    assert all(net.value(n, f"k{i}") == f'"{i}"' for n in range(4) for i in range(8))
    h = min(net.status(n)["cosigned_height"] for n in range(4))
    texts = {net.note(n, h).split("\n\n")[0] for n in range(4)}
    assert len(texts) == 1, "members disagree on the checkpoint (app hash) at a common height"
    verifiers = [Verifier.from_vkey(m["vkey"]) for m in net.layout["members"]]
    for n in range(4):
        cp = Checkpoint.open(net.note(n, h), verifiers, net.layout["threshold"])
        assert cp.height == h
    assert all(not net.status(n)["divergent"] for n in range(4))


def test_an_idle_network_waits_for_transactions(net: Net) -> None:
    """A block without transactions leaves the app hash unchanged, so CometBFT makes no more blocks
    than the one after the last transactions (and a heartbeat every 10 s): over 4 s of quiet the
    height moves by at most 2. (When the app hash covered the height, it moved every ~0.4 s.)"""
    net.submit(0, net.tx(0, "idle-probe"))
    wait(lambda: all(net.value(n, "idle-probe") == '"v"' for n in range(4)), 30, "the probe everywhere")
    time.sleep(1.0)  # the block after it (its app hash changed)
    h0 = net.status(0)["height"]
    time.sleep(4.0)
    assert net.status(0)["height"] - h0 <= 2
    # The block time still moves on: a heartbeat block within ~10 s.
    wait(lambda: net.status(0)["height"] > h0, 25, "a heartbeat block")


def test_one_member_down_the_rest_commit_and_it_catches_up(net: Net) -> None:
    c.down(net.d, only=[3], kill=True)
    for i in range(3):
        net.submit(i, net.tx(i, f"one-down-{i}"))
    wait(lambda: all(net.value(n, "one-down-2") == '"v"' for n in range(3)), 30, "commit with one member down")
    c.up(net.d, only=[3])
    target = net.status(0)["height"]
    wait(lambda: net.status(3)["height"] >= target and net.value(3, "one-down-2") == '"v"', 60, "member3 catching up")
    wait(lambda: net.status(3)["cosigned_height"] >= target, 30, "member3's catch-up cosigned")
    c.down(net.d, only=[3])
    summary = verify_data(net.d / "node3" / "anju", workers=1)
    assert summary.ok, summary.error
    assert summary.height >= target
    c.up(net.d, only=[3])


def test_two_members_down_nothing_commits_then_it_resumes(net: Net) -> None:
    wait(lambda: net.status(3)["height"] >= net.status(0)["height"] - 1, 30, "member3 in step")
    c.down(net.d, only=[2, 3])
    time.sleep(1.0)
    h0 = max(net.status(n)["height"] for n in range(2))
    net.submit(0, net.tx(0, "two-down"))
    time.sleep(4.0)
    assert max(net.status(n)["height"] for n in range(2)) <= h0 + 1  # at most the block already in flight
    assert net.value(0, "two-down") is None and net.value(1, "two-down") is None
    c.up(net.d, only=[2, 3])
    wait(lambda: all(net.value(n, "two-down") == '"v"' for n in range(4)), 90, "commit after two members return")


def test_tampered_member_is_detected_while_the_others_carry_on(net: Net) -> None:
    c.down(net.d, only=[3])

    def member3_gone() -> bool:
        # Its app must really have exited: a lingering process would keep the old state in memory.
        for probe in (lambda: net.status(3), lambda: net.rpc(3, "status")):
            try:
                probe()
            except (httpx.HTTPError, OSError, KeyError, ValueError):
                continue
            return False
        return True

    wait(member3_gone, 60, "member3's processes to exit")
    signer = net.keys[1].public_hex
    with sqlite3.connect(net.d / "node3" / "anju" / "ledger.db") as db:  # an operator edits its own state
        db.execute("UPDATE state SET value=? WHERE key=?", ("99", "seq/" + signer))
    c.up(net.d, only=[3])

    def cometbft_height(node: int) -> int:
        return int(net.rpc(node, "status")["sync_info"]["latest_block_height"])

    # member3's CometBFT itself must be back and in step (not only its Anju app), or there is
    # nothing to detect: wait for its own RPC to report a height near member0's.
    wait(lambda: cometbft_height(3) >= cometbft_height(0) - 1, 90, "member3's CometBFT back in step")
    wait(lambda: net.status(3)["height"] >= net.status(0)["height"] - 1, 60, "member3 back")
    net.submit(0, net.tx(1, "after-tamper"))
    wait(lambda: all(net.value(n, "after-tamper") == '"v"' for n in range(3)), 90, "the others commit")
    # Detected either way: member0 holds member3's signature over a different checkpoint text, or
    # CometBFT on member3 refuses the next header because the app hash differs (and member3 halts).
    log3 = net.d / "node3" / "cometbft.log"

    def detected() -> bool:
        if "anju-test-consortium/member3" in net.status(0)["divergent"]:
            return True
        return log3.exists() and "wrong Block.Header.AppHash" in log3.read_text(errors="replace")

    wait(detected, 120, "divergence evidence (cosignature or CometBFT's app-hash check)")
    assert net.value(3, "after-tamper") is None
    before = net.status(0)["height"]
    net.submit(2, net.tx(2, "still-going"))
    wait(lambda: all(net.value(n, "still-going") == '"v"' for n in range(3)), 90, "the others carry on")
    wait(lambda: net.status(0)["height"] > before, 60, "member0's height to advance")


def test_member_api_submits_through_cometbft_and_reads_its_own_ledger(net: Net) -> None:
    api = [n.api_url + "/api/v1" for n in net.nodes]
    wait(lambda: all(net.client.get(u + "/node").status_code == 200 for u in api), 60, "the members' APIs")
    raw = net.tx(2, "via-api", "api")
    r = net.client.post(
        api[1] + "/txs", params={"wait": "commit", "timeout": 30}, content=raw, timeout=35, headers=JSON_BODY
    )
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["status"] == "committed" and receipt["height"] >= 1
    # the member's cosigner lists that height with no refusal (what the member API polls while clients wait)
    rows = net.client.get(net.nodes[1].cosign_url + "/refused", params={"from": receipt["height"]}).json()
    assert rows[0] == {"height": receipt["height"], "refused": {}}
    # the receipt carries the tx's events, as the embedded node's do (read from the member's ledger)
    assert receipt["events"] == [
        {"kind": "kv.put", "data": {"key": "via-api"}, "parties": [net.keys[2].public_hex], "units": [], "listings": []}
    ]
    wait(lambda: net.client.get(f"{api[2]}/txs/{receipt['txid']}").json()["status"] == "committed", 30, "on member2")
    wait(lambda: net.value(0, "via-api") == '"api"', 30, "on member0 (member3 was tampered with)")
    # a CheckTx refusal comes back with its Anju error code at once
    stale = net.client.post(api[0] + "/txs", content=raw, headers=JSON_BODY)
    assert stale.status_code in (400, 409), stale.text
    assert stale.json()["error"]["code"] in ("SEQ_REUSED", "DUPLICATE_TX")
    assert net.client.get(net.nodes[0].api_url + "/").status_code == 200  # the web portal


def test_up_turns_mempool_recheck_on_in_a_member_made_without_it(tmp_path: Path) -> None:
    """A consortium made before 2026-11-27 has CometBFT's mempool recheck off in its config.toml
    (``init`` wrote it so). The app's proposals now leave a tx out of seq in the mempool, where only
    recheck removes it: with it off such txs stayed for ever, filling the mempool, until a proposal
    was offered nothing else. ``up`` turns it on as it starts the member's CometBFT."""
    _cometbft()
    d = tmp_path / "net"
    c.init(d, validators=1, chain_id=CHAIN, app="kv", base_port=port_base(3, validators=1))
    config = d / "node0" / "cometbft" / "config" / "config.toml"
    text = config.read_text()
    assert tomllib.loads(text)["mempool"]["recheck"] is True
    config.write_text(text.replace("\nrecheck = true\n", "\nrecheck = false\n", 1))  # as init wrote it before
    assert tomllib.loads(config.read_text())["mempool"]["recheck"] is False
    try:
        c.up(d, api=False)
        assert tomllib.loads(config.read_text())["mempool"]["recheck"] is True
        one = Net(d)
        wait(lambda: one.status(0)["height"] >= 1, 60, "a block of the member so started")
        one.client.close()
    finally:
        c.down(d)
