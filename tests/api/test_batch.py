"""POST /txs/batch: per-item results in order, per-item rejections, whole-batch errors, waiting for commit."""

from __future__ import annotations

import orjson
from tests.api.conftest import Server
from tests.api.test_core import env, err

from anju.client import AnjuClient
from anju.crypto.keys import SigningKey


def batch(s: Server, items: list[object] | bytes, wait: bool = True) -> tuple[int, list[dict[str, object]]]:
    raw = items if isinstance(items, bytes) else orjson.dumps(items)
    r = s.http.post("/api/v1/txs/batch", content=raw, params={"wait": "commit"} if wait else {})
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
    assert err(s.http.post("/api/v1/txs/batch", params={"wait": "maybe"}, content=b"[]")) == "BAD_REQUEST"
    assert batch(s, []) == (200, [])
