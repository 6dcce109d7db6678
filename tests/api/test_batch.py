"""POST /txs/batch: per-item results in order, per-item rejections, whole-batch errors, waiting for commit."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from tests.api.conftest import JSON_BODY, Server
from tests.api.test_core import env, err

from anju.client import AnjuClient
from anju.crypto.keys import SigningKey


def batch(s: Server, items: list[object] | bytes, wait: bool = True) -> tuple[int, list[dict[str, object]]]:
    raw = items if isinstance(items, bytes) else orjson.dumps(items)
    r = s.http.post("/api/v1/txs/batch", content=raw, params={"wait": "commit"} if wait else {}, headers=JSON_BODY)
    return r.status_code, (r.json().get("results", []) if r.status_code == 200 else [r.json()])


def test_batch_results_in_order(kv_server: Server) -> None:
    s = kv_server
    a, b = SigningKey.generate(), SigningKey.generate()
    good = [env(a, i, f"k{i}", "v") for i in range(1, 6)]
    bad_sig = env(b, 1)
    bad_sig["sigs"][0]["sig"] = "00" * 64
    wrong_chain = env(b, 1)
    wrong_chain["body"]["chain"] = "other"
    items: list[object] = [*good[:2], bad_sig, {"body": {}, "sigs": []}, "nope", good[2], good[2], *good[3:]]
    status, res = batch(s, items)
    assert status == 200 and len(res) == len(items)
    assert [r["status"] for r in res] == [
        "committed",
        "committed",
        "rejected",
        "rejected",
        "rejected",
        "committed",
        "rejected",
        "committed",
        "committed",
    ]
    assert res[2]["error"]["code"] == "BAD_SIGNATURE"  # type: ignore[index]
    assert res[3]["txid"] is None and res[4]["txid"] is None
    assert res[6]["error"]["code"] == "DUPLICATE_TX"  # type: ignore[index]
    idx = [r["index"] for r in res if r["status"] == "committed"]
    assert idx == sorted(idx)
    # committed ones are duplicates now; not waiting gives pending answers
    status, res = batch(s, [good[0], env(a, 6, "k6", "v")], wait=False)
    assert status == 200 and res[0]["error"]["code"] == "DUPLICATE_TX"  # type: ignore[index]
    assert res[1]["status"] == "pending"
    client = AnjuClient(s.url, s.vkey)
    assert client.wait(str(res[1]["txid"])).envelope["body"]["key"] == "k6"
    # whole-batch errors
    status, res = batch(s, b"[not json")
    assert status == 400 and res[0]["error"]["code"] == "MALFORMED_JSON"  # type: ignore[index]
    status, res = batch(s, {"body": {}})  # type: ignore[arg-type]
    assert status == 400 and res[0]["error"]["code"] == "BAD_REQUEST"  # type: ignore[index]
    status, res = batch(s, [{}] * 1001)
    assert status == 400
    assert (
        err(s.http.post("/api/v1/txs/batch", params={"wait": "maybe"}, content=b"[]", headers=JSON_BODY))
        == "BAD_REQUEST"
    )
    assert batch(s, []) == (200, [])


def test_a_batch_that_waited_checks_again_before_handing_over(kv_ledger: Path, start_server: Any) -> None:
    """A batch waits for another envelope of one of its transactions (X, pending with other
    signatures); meanwhile a single POST hands over Y, which the batch also carries. The batch must
    not hand Y over a second time: the copy that failed (SEQ_REUSED) would settle both waiters, and
    a client would be told "rejected" for a transaction the ledger holds."""
    import httpx

    from anju.crypto.tx import sign

    s = start_server(kv_ledger, "--block-interval", "1.0")
    a, b, other = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    x, y = env(a, 1, "x"), env(b, 1, "y")
    x2 = sign(x["body"], [a, other])  # the same txid (the body), other signatures
    # X closes a full block (4,000), so that Y, handed over while the batch waits, goes in the next
    fill = [env(SigningKey.generate(), 1) for _ in range(3999)] + [x]
    for i in range(0, len(fill), 1000):
        assert batch(s, fill[i : i + 1000], wait=False)[0] == 200

    def single() -> httpx.Response:
        time.sleep(0.03)  # once the batch waits for X
        with httpx.Client(base_url=s.url, timeout=60) as h:
            return h.post("/api/v1/txs", content=orjson.dumps(y), params={"wait": "commit"}, headers=JSON_BODY)

    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(single)
        status, res = batch(s, [x2, y])
        one = later.result()
    assert status == 200 and one.status_code == 200, (res, one.text)
    assert one.json()["status"] == "committed"
    assert [r["status"] for r in res] == ["rejected", "rejected"], res
    assert [r["error"]["code"] for r in res] == ["DUPLICATE_TX", "DUPLICATE_TX"], res  # type: ignore[index]
    assert s.http.get(f"/api/v1/txs/{res[1]['txid']}").json()["status"] == "committed"


def test_new_transactions_skip_the_txid_index_and_committed_ones_are_still_duplicates(kv_ledger: Path) -> None:
    """The committed-txid check asks SQLite only for a transaction whose seq its signer has already
    used (``Node.seq_taken``): new traffic costs a dict read. A resubmitted committed transaction,
    alone or in a batch, is still DUPLICATE_TX, and one with a reused seq and another body still
    reaches the sequencer's SEQ_REUSED."""
    import asyncio

    from anju.api.submit import Committed, Submissions, SubmitCore
    from anju.chain.node import Node

    probed: list[str] = []

    class Counting(Committed):
        def one(self, txid: str) -> bool:
            probed.append(txid)
            return super().one(txid)

        def which(self, txids: Any) -> set[str]:
            probed.extend(txids)
            return super().which(txids)

    key = SigningKey.generate()
    first = [env(key, seq, f"k{seq}", "v") for seq in (1, 2, 3)]

    async def go(core: SubmitCore) -> None:
        core.subs.bind(asyncio.get_running_loop())
        res = orjson.loads((await core.batch(orjson.dumps(first), True, 30)).body)["results"]
        assert [r["status"] for r in res] == ["committed"] * 3 and probed == []
        assert core.node.seq_taken(key.public_hex) == 3 and core.node.seq_taken("ab" * 32) == 0
        res = orjson.loads((await core.batch(orjson.dumps([first[0], env(key, 4)]), True, 30)).body)["results"]
        assert res[0]["error"]["code"] == "DUPLICATE_TX" and res[1]["status"] == "committed"
        assert probed == [res[0]["txid"]]  # the old one only
        answer = orjson.loads((await core.one(orjson.dumps(first[1]), True, 30)).body)
        assert answer["error"]["code"] == "DUPLICATE_TX" and len(probed) == 2
        answer = orjson.loads((await core.one(orjson.dumps(env(key, 2, "other")), True, 30)).body)
        assert answer["error"]["code"] == "SEQ_REUSED" and len(probed) == 3  # asked, not found: the node refuses
        answer = orjson.loads((await core.one(orjson.dumps(env(key, 5)), True, 30)).body)
        assert answer["status"] == "committed" and len(probed) == 3

    with Node(kv_ledger, verify_workers=0) as node:
        committed = Counting(node.store.path)
        try:
            asyncio.run(go(SubmitCore(node, Submissions(), committed, 30.0)))
        finally:
            committed.close()
