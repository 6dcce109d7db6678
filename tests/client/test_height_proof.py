"""A transaction's height is proven, not the server's word: ``GET /txs/{txid}`` carries the signed
checkpoints of its block and the block before it (their log sizes bracket its index) and the
consistency proofs that tie them to the head, and the SDK refuses any answer whose height they do
not prove (docs/PROTOCOL.md, "Height proofs")."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.api.conftest import CHAIN, JSON_BODY, Server
from tests.api.test_core import env, post
from tests.client import forge

from anju.chain.consortium import _hand_over_keys
from anju.chain.node import DB_NAME, KEY_NAME, Node, init_ledger, read_node_key, write_node_key
from anju.client import AnjuClient, Trust, verify_height
from anju.client.sdk import node_keys
from anju.crypto.keys import SigningKey
from anju.errors import AnjuError, VerificationError
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.handover import merge_handovers
from anju.ledger.note import vkey_of
from anju.ledger.store import Store

Edit = Callable[[dict[str, Any], httpx.Client], None]


class Tampering(httpx.HTTPTransport):
    """Passes every request to the real server and edits its answers to ``GET /txs/{txid}``:
    a lying server in front of a genuine node."""

    def __init__(self, server: Server, edit: Edit) -> None:
        super().__init__()
        self.server, self.edit = server, edit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = super().handle_request(request)
        if request.method != "GET" or not re.fullmatch(r"/api/v1/txs/[0-9a-f]{64}", request.url.path):
            return resp
        doc = orjson.loads(resp.read())
        self.edit(doc, self.server.http)
        return httpx.Response(resp.status_code, json=doc)


def note_of(http: httpx.Client, height: int) -> str:
    note: str = http.get(f"/api/v1/blocks/{height}").json()["checkpoint"]
    return note


def size_of(http: httpx.Client, height: int) -> int:
    size: int = http.get(f"/api/v1/blocks/{height}").json()["log_size"]
    return size


def consistency(http: httpx.Client, first: int, second: int) -> list[str]:
    if first in (0, second):
        return []
    hashes: list[str] = http.get("/api/v1/proofs/consistency", params={"first": first, "second": second}).json()[
        "hashes"
    ]
    return hashes


def claim(height: int) -> Edit:
    """The answer claims ``height``, with the genuine notes and proofs of that height."""

    def edit(doc: dict[str, Any], http: httpx.Client) -> None:
        head = http.get("/api/v1/node").json()["tree_size"]
        doc["height"] = height
        doc["height_proof"] = {
            "block": note_of(http, height),
            "previous": note_of(http, height - 1),
            "previous_to_block": consistency(http, size_of(http, height - 1), size_of(http, height)),
            "block_to_head": consistency(http, size_of(http, height), head),
        }

    return edit


@pytest.fixture
def chain(kv_server: Server) -> Iterator[tuple[Server, dict[str, int]]]:
    """A node with several blocks: txid -> the height the ledger stored it at (three in one batch,
    then one a block)."""
    key = SigningKey(b"h" * 32)
    batch = [env(key, i, f"k{i}") for i in range(1, 4)]
    resp = kv_server.http.post(
        "/api/v1/txs/batch", content=orjson.dumps(batch), params={"wait": "commit"}, headers=JSON_BODY
    )
    heights = {r["txid"]: r["height"] for r in resp.json()["results"]}
    for i in range(4, 9):
        ans = post(kv_server, env(key, i, f"k{i}")).json()
        heights[ans["txid"]] = ans["height"]
    store = Store(kv_server.data / DB_NAME)
    try:  # (the ledger's own record, not the receipts')
        stored = {bytes(t).hex(): h for t, h in store.execute("SELECT txid, height FROM txs")}
    finally:
        store.close()
    assert stored == heights and len(set(heights.values())) >= 5
    yield kv_server, heights


def test_the_sdk_proves_every_transactions_height(chain: tuple[Server, dict[str, int]]) -> None:
    """The first block (the one before it is genesis, of an empty log), blocks in the middle and the
    head's own block (nothing to prove between it and the head) all prove their transactions' heights."""
    server, heights = chain
    client = AnjuClient(server.url, server.vkey)
    for txid, height in heights.items():
        proven = client.tx(txid)
        assert (proven.height, proven.block.height) == (height, height)
        assert proven.block.time == server.http.get(f"/api/v1/blocks/{height}").json()["time"]
    assert min(heights.values()) == 1 and max(heights.values()) == client.latest.height  # type: ignore[union-attr]


def _flip_signature(note: str) -> str:
    text, _, sig_line = note.rstrip("\n").rpartition("\n")
    prefix, _, sig = sig_line.rpartition(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    return f"{text}\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n"


def _flip_hash(hashes: list[str]) -> None:
    raw = bytearray(base64.b64decode(hashes[0]))
    raw[0] ^= 1
    hashes[0] = base64.b64encode(bytes(raw)).decode()


def _tampered(name: str) -> Edit:
    def edit(doc: dict[str, Any], http: httpx.Client) -> None:
        proof = doc["height_proof"]
        h = doc["height"]
        if name == "wrong_height":
            doc["height"] = h + 1
        elif name == "note_of_another_height":
            proof["block"] = note_of(http, h + 1)
        elif name == "swapped_notes":
            proof["block"], proof["previous"] = proof["previous"], proof["block"]
        elif name == "bad_signature":
            proof["block"] = _flip_signature(proof["block"])
        elif name == "later_height":
            claim(h + 1)(doc, http)
        elif name == "earlier_height":
            claim(h - 1)(doc, http)
        elif name == "bad_consistency":
            _flip_hash(proof["previous_to_block"])
        elif name == "missing":
            del doc["height_proof"]

    return edit


@pytest.mark.parametrize(
    ("name", "code", "reason"),
    [
        ("wrong_height", "PROOF_INVALID", "wrong_height"),
        ("note_of_another_height", "PROOF_INVALID", "wrong_height"),
        ("swapped_notes", "PROOF_INVALID", "wrong_height"),
        ("bad_signature", "CHECKPOINT_INVALID", "bad_signature"),
        ("later_height", "PROOF_INVALID", "not_bracketing"),
        ("earlier_height", "PROOF_INVALID", "not_bracketing"),
        ("bad_consistency", "PROOF_INVALID", "not_consistent"),
        ("missing", "PROOF_INVALID", "height_unproven"),
    ],
)
def test_the_sdk_refuses_a_height_the_answer_does_not_prove(
    chain: tuple[Server, dict[str, int]], name: str, code: str, reason: str
) -> None:
    """A server lying about a transaction's height, with whatever genuine notes and proofs it has,
    is refused with a stable code; the same client then proves the true height."""
    server, heights = chain
    # a transaction of a block with blocks on both sides, and the block before it holding transactions
    txid = next(t for t, h in heights.items() if h == sorted(set(heights.values()))[2])
    liar = AnjuClient(server.url, server.vkey, transport=Tampering(server, _tampered(name)))
    with pytest.raises(VerificationError) as info:
        liar.tx(txid)
    assert (info.value.code, info.value.details.get("reason")) == (code, reason), info.value
    assert AnjuClient(server.url, server.vkey).tx(txid).height == heights[txid]


def test_a_note_of_another_log_is_refused(
    chain: tuple[Server, dict[str, int]], tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    """The node's key signed another ledger of the same chain id (the chain made again): its notes
    are genuine, of the right heights and sizes, but of another log, which the consistency proofs
    refuse."""
    server, heights = chain
    other = tmp_path / "again"
    other.mkdir()
    (other / KEY_NAME).write_bytes((server.data / KEY_NAME).read_bytes())
    init_ledger(other, chain_id=CHAIN, app="kv")
    twin = start_server(other)
    assert twin.vkey == server.vkey
    key = SigningKey(b"h" * 32)  # (the same signer, other values: the same sizes, other roots)
    batch = [env(key, i, f"k{i}", "other") for i in range(1, 4)]
    twin.http.post("/api/v1/txs/batch", content=orjson.dumps(batch), params={"wait": "commit"}, headers=JSON_BODY)
    for i in range(4, 9):
        post(twin, env(key, i, f"k{i}", "other"))
    txid = next(t for t, h in heights.items() if h == 2)

    def foreign(doc: dict[str, Any], http: httpx.Client) -> None:
        doc["height_proof"]["previous"] = note_of(twin.http, 1)

    with pytest.raises(VerificationError) as info:
        AnjuClient(server.url, server.vkey, transport=Tampering(server, foreign)).tx(txid)
    assert (info.value.code, info.value.details.get("reason")) == ("PROOF_INVALID", "not_consistent")


@dataclass
class Handover:
    """A kv ledger signed by key A up to block ``k`` and by key B from ``k`` + 1 (a consortium
    started from a node's ledger, faked on one node: :func:`_hand_over_keys` and B's node key),
    served by a real server; ``old``: receipts of transactions of A's blocks."""

    server: Server
    a_vkey: str
    b_vkey: str
    k: int
    old: list[dict[str, Any]]
    signer: SigningKey
    a_key: SigningKey  # (A's secret: what whoever kept the earlier key can sign)


def _handover(tmp_path: Path, start_server: Callable[..., Server]) -> Handover:
    data = init_ledger(tmp_path / "handed-over", chain_id=CHAIN, app="kv")
    a_key = read_node_key(data)
    key = SigningKey(b"s" * 32)
    with Node(data, verify_workers=0, block_interval=0.01) as node:
        old = [node.submit(orjson.dumps(env(key, i, f"k{i}"))).result(timeout=30) for i in (1, 2)]
        k = node.height
    a_vkey = node.verifier_key
    b = SigningKey(b"B" * 32)
    b_vkey = vkey_of(CHAIN, b.public)
    _hand_over_keys(data / DB_NAME, b_vkey, k + 1)
    write_node_key(data / KEY_NAME, b)
    server = start_server(data)
    assert server.vkey == b_vkey
    receipts = [{"txid": r.txid, "height": r.height} for r in old]
    return Handover(server, a_vkey, b_vkey, k, receipts, key, a_key)


def test_heights_before_a_change_of_signer_are_proven_with_the_key_of_their_height(
    tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    """A ledger signed by key A up to block k and by key B from k + 1 (a consortium started from a
    node's ledger): a client trusting B proves the heights of transactions of both stretches, and of
    the block k + 1 whose previous block A signed, once given the ledger's key schedule."""
    h = _handover(tmp_path, start_server)
    server, a_vkey, b_vkey, k = h.server, h.a_vkey, h.b_vkey, h.k
    new = [post(server, env(h.signer, i, f"k{i}")).json() for i in (3, 4)]
    schedule = [[0, a_vkey], [k + 1, b_vkey]]
    client = AnjuClient(server.url, b_vkey, key_history=schedule)
    for receipt in [*h.old, *new]:
        assert client.tx(receipt["txid"]).height == receipt["height"]
    assert new[0]["height"] == k + 1  # (its previous block was signed by A)
    # without the schedule, A's notes are signed by no trusted key: the error says which height,
    # who signed it and how to give the history
    with pytest.raises(VerificationError) as info:
        AnjuClient(server.url, b_vkey).tx(new[0]["txid"])
    assert (info.value.code, info.value.details.get("reason")) == ("CHECKPOINT_INVALID", "no_known_signature")
    assert info.value.details["height"] == k and info.value.details["signers"] == [CHAIN]
    assert info.value.details["key_history"] is False
    assert "key_history=" in info.value.message and "--consortium" in info.value.message, info.value.message
    # a schedule that has B sign from the start refuses A's notes; one that has A sign later, B's
    for wrong in ([[0, b_vkey]], [[0, a_vkey], [k + 2, b_vkey]]):
        with pytest.raises(VerificationError) as info:
            AnjuClient(server.url, b_vkey, key_history=wrong).tx(new[0]["txid"])
        assert (info.value.code, info.value.details.get("reason")) == ("CHECKPOINT_INVALID", "no_known_signature")
        assert info.value.details["key_history"] is (len(wrong) > 1)
    assert "check it against the ledger's" in info.value.message  # (a history given names another key)


def _bounded(h: Handover) -> list[list[Any]]:
    """The key history of ``h`` with A's hand-over, block k, as the ledger holds it."""
    block = h.server.http.get(f"/api/v1/blocks/{h.k}").json()
    record = {"height": h.k, "log_size": block["log_size"], "log_root": block["log_root"]}
    return [[0, h.a_vkey, record], [h.k + 1, h.b_vkey]]


def _forged_by_a(h: Handover, height: int, like: int) -> str:
    """A note of ``height`` signed by A over the log of block ``like`` (the current signer's):
    what whoever kept A's key can sign, consistent with every later checkpoint."""
    genuine = Checkpoint.from_text(note_of(h.server.http, height).split("\n\n")[0] + "\n")
    log = h.server.http.get(f"/api/v1/blocks/{like}").json()
    cp = forge.checkpoint(CHAIN, log["log_size"], base64.b64decode(log["log_root"]), height, genuine.state_root,
                          genuine.time)  # fmt: skip
    return forge.sign(cp, (h.a_key, CHAIN))


@pytest.mark.parametrize("move", ["later_into_old_heights", "old_across_the_hand_over"])
def test_an_earlier_key_cannot_move_a_transaction_across_its_hand_over(
    tmp_path: Path, start_server: Callable[..., Server], move: str
) -> None:
    """Whoever kept A's key signs a note of A's last height k over another prefix of the current log
    (consistent with the head): a longer one dates a transaction of block k + 1 (B's) into A's
    heights, a shorter one moves a transaction of block k (A's) into B's block k + 1. A client given
    the pairs alone (a consortium.json without hand-overs) cannot tell; one given A's hand-over (the
    size and root of block k) refuses both, reason ``beyond_handover``, and proves the true heights."""
    h = _handover(tmp_path, start_server)
    new = [post(h.server, env(h.signer, i, f"k{i}")).json() for i in (3, 4)]
    assert new[0]["height"] == h.k + 1 and h.old[-1]["height"] == h.k
    if move == "later_into_old_heights":
        txid, claimed = new[0]["txid"], h.k

        def edit(doc: dict[str, Any], http: httpx.Client) -> None:
            claim(h.k)(doc, http)  # (A's genuine note of k - 1 as the previous one)
            head = http.get("/api/v1/node").json()["tree_size"]
            doc["height_proof"]["block"] = _forged_by_a(h, h.k, h.k + 1)
            doc["height_proof"]["previous_to_block"] = consistency(http, size_of(http, h.k - 1), size_of(http, h.k + 1))
            doc["height_proof"]["block_to_head"] = consistency(http, size_of(http, h.k + 1), head)
    else:
        txid, claimed = h.old[-1]["txid"], h.k + 1

        def edit(doc: dict[str, Any], http: httpx.Client) -> None:
            claim(h.k + 1)(doc, http)  # (B's genuine note of k + 1)
            doc["height_proof"]["previous"] = _forged_by_a(h, h.k, h.k - 1)
            doc["height_proof"]["previous_to_block"] = consistency(http, size_of(http, h.k - 1), size_of(http, h.k + 1))

    pairs = [[0, h.a_vkey], [h.k + 1, h.b_vkey]]  # (no hand-over: the earlier key is unbounded)
    fooled = AnjuClient(h.server.url, h.b_vkey, key_history=pairs, transport=Tampering(h.server, edit)).tx(txid)
    assert fooled.height == claimed  # (the hole the hand-over closes)
    liar = AnjuClient(h.server.url, h.b_vkey, key_history=_bounded(h), transport=Tampering(h.server, edit))
    with pytest.raises(VerificationError) as info:
        liar.tx(txid)
    assert (info.value.code, info.value.details.get("reason")) == ("PROOF_INVALID", "beyond_handover"), info.value
    assert info.value.details["handover_height"] == h.k and info.value.details["height"] == h.k
    client = AnjuClient(h.server.url, h.b_vkey, key_history=_bounded(h))
    for receipt in [*h.old, *new]:
        assert client.tx(receipt["txid"]).height == receipt["height"]


def test_the_node_publishes_its_key_history(
    tmp_path: Path, kv_server: Server, start_server: Callable[..., Server]
) -> None:
    """``GET /node`` names which key signed which heights: one key from 0 for a node whose signer
    never changed, the ledger's ``meta.verifier_keys`` after a change, and the last block each
    earlier key signed (``handovers``)."""
    node = kv_server.http.get("/api/v1/node").json()
    assert node["verifier_keys"] == [[0, kv_server.vkey]] and node["handovers"] == []
    h = _handover(tmp_path, start_server)
    node = h.server.http.get("/api/v1/node").json()
    assert node["verifier_keys"] == [[0, h.a_vkey], [h.k + 1, h.b_vkey]]
    assert node["verifier_key"] == h.b_vkey
    assert merge_handovers(node["verifier_keys"], node["handovers"]) == _bounded(h)


def test_a_client_trusting_the_nodes_key_takes_its_key_history(
    tmp_path: Path, start_server: Callable[..., Server]
) -> None:
    """Trusting the key a node reports on first use, the client takes the key history from the
    same answer and proves the heights of both signers' blocks; given the key, it never does."""
    h = _handover(tmp_path, start_server)
    first = post(h.server, env(h.signer, 3, "k3")).json()
    assert first["height"] == h.k + 1
    client = AnjuClient.trusting_node(h.server.url)
    assert client.trust.since == h.k + 1
    assert [ho.height for ho in client.trust.handovers] == [h.k]  # (A's last block, bounding its notes)
    for receipt in [*h.old, first]:
        assert client.tx(receipt["txid"]).height == receipt["height"]
    with pytest.raises(VerificationError) as info:  # the node's key given: its history is not taken
        AnjuClient(h.server.url, h.b_vkey).tx(h.old[0]["txid"])
    assert (info.value.code, info.value.details.get("reason")) == ("CHECKPOINT_INVALID", "no_known_signature")
    with pytest.raises(TypeError):  # (the history is the node's, with its key, or none)
        AnjuClient.trusting_node(h.server.url, key_history=[[0, h.a_vkey], [h.k + 1, h.b_vkey]])


class NodeAnswer(httpx.HTTPTransport):
    """A real server whose ``GET /node`` answer is edited."""

    def __init__(self, edit: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self.edit = edit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = super().handle_request(request)
        if request.url.path != "/api/v1/node":
            return resp
        doc = orjson.loads(resp.read())
        self.edit(doc)
        return httpx.Response(resp.status_code, json=doc)


@pytest.mark.parametrize(
    "history",
    [
        "not a list",
        [[0, "OTHER"]],  # not ending with the node's key
        [[1, "KEY"]],  # not from height 0
        [[0, "OTHER"], [0, "KEY"]],
        [[0, "not a key"], [5, "KEY"]],
        [0, "KEY"],
        [{"0": "KEY"}],
    ],
)
def test_a_reported_key_history_that_is_not_one_is_a_bad_response(kv_server: Server, history: Any) -> None:
    other = vkey_of(CHAIN, SigningKey(b"o" * 32).public)

    def named(x: Any) -> Any:
        if isinstance(x, list):
            return [named(e) for e in x]
        return {"KEY": kv_server.vkey, "OTHER": other}.get(x, x) if isinstance(x, str) else x

    def edit(doc: dict[str, Any]) -> None:
        doc["verifier_keys"] = named(history)

    with pytest.raises(AnjuError) as info:
        AnjuClient.trusting_node(kv_server.url, transport=NodeAnswer(edit))
    assert info.value.code == "BAD_RESPONSE" and "verifier_keys" in info.value.message, info.value


@pytest.mark.parametrize(
    "records",
    [
        "not a list",
        [{"height": 0, "log_size": 0, "log_root": "EMPTY"}],  # of the node's own key, which signs on
        [{"height": "K+3", "log_size": 0, "log_root": "EMPTY"}],  # of no key's last block
        [{"height": "K", "log_size": 0, "log_root": "EMPTY"}, {"height": "K", "log_size": 0, "log_root": "EMPTY"}],
        [{"height": "K", "log_size": 1, "log_root": "EMPTY"}],  # not a root of that size
        [{"height": "K", "log_size": -1, "log_root": "EMPTY"}],
        [{"height": "K", "log_size": 2, "log_root": "AAAA"}],  # not 32 bytes
        [{"height": "K", "log_size": 2}],
        [["K", 2, "EMPTY"]],
    ],
)
def test_reported_hand_overs_that_are_not_the_nodes_are_a_bad_response(
    tmp_path: Path, start_server: Callable[..., Server], records: Any
) -> None:
    h = _handover(tmp_path, start_server)
    empty = base64.b64encode(merkle.EMPTY_ROOT).decode()

    def named(x: Any) -> Any:
        if isinstance(x, list):
            return [named(e) for e in x]
        if isinstance(x, dict):
            return {k: named(v) for k, v in x.items()}
        return {"K": h.k, "K+3": h.k + 3, "EMPTY": empty}.get(x, x) if isinstance(x, str) else x

    def edit(doc: dict[str, Any]) -> None:
        doc["handovers"] = named(records)

    with pytest.raises(AnjuError) as info:
        AnjuClient.trusting_node(h.server.url, transport=NodeAnswer(edit))
    assert info.value.code == "BAD_RESPONSE" and "verifier_keys" in info.value.message, info.value


def test_a_node_that_reports_no_key_history_is_trusted_as_before(kv_server: Server) -> None:
    """A node older than the key history (no ``verifier_keys``): its key alone, as before."""

    def edit(doc: dict[str, Any]) -> None:
        del doc["verifier_keys"]

    assert node_keys(kv_server.url, transport=NodeAnswer(edit)) == (kv_server.vkey, [])
    client = AnjuClient.trusting_node(kv_server.url, transport=NodeAnswer(edit))
    assert client.trust.earlier == () and client.checkpoint().height >= 0


@pytest.mark.parametrize(
    "schedule",
    [
        [[1, "KEY"]],  # not from height 0
        [[0, "OTHER"], [0, "KEY"]],  # heights not increasing
        [[0, "KEY"], [5, "OTHER"]],  # the last key not trusted
        [[0, "KEY", 1]],
        [["0", "KEY"]],
        [[0, "OTHER", 1], [5, "KEY"]],  # a hand-over that is not one
        [[0, "OTHER", {"height": 5, "log_size": 0, "log_root": "EMPTY"}], [5, "KEY"]],  # not block 4
        [[0, "OTHER", {"height": 4, "log_size": 0, "log_root": "AAAA"}], [5, "KEY"]],  # not 32 bytes
        [[0, "OTHER", {"height": 4, "log_size": 0, "log_root": "EMPTY", "more": 1}], [5, "KEY"]],
        [[0, "OTHER"], [5, "KEY", {"height": 9, "log_size": 0, "log_root": "EMPTY"}]],  # the last key's
        [[0, "OTHER", {"height": 0, "log_size": 3, "log_root": "ROOT"}], [1, "KEY"]],  # block 0 holds none
        [  # a later hand-over with a smaller log
            [0, "OTHER", {"height": 4, "log_size": 3, "log_root": "ROOT"}],
            [5, "OTHER2", {"height": 8, "log_size": 2, "log_root": "ROOT"}],
            [9, "KEY"],
        ],
        [  # the same log size, another root
            [0, "OTHER", {"height": 4, "log_size": 3, "log_root": "ROOT"}],
            [5, "OTHER2", {"height": 8, "log_size": 3, "log_root": "EMPTY"}],
            [9, "KEY"],
        ],
    ],
)
def test_a_key_schedule_that_is_not_one_is_refused(schedule: list[list[Any]]) -> None:
    vkey = vkey_of(CHAIN, SigningKey(b"k" * 32).public)
    other = vkey_of(CHAIN, SigningKey(b"o" * 32).public)
    other2 = vkey_of(CHAIN, SigningKey(b"p" * 32).public)
    words = {"KEY": vkey, "OTHER": other, "OTHER2": other2, "EMPTY": base64.b64encode(merkle.EMPTY_ROOT).decode(),
             "ROOT": base64.b64encode(b"r" * 32).decode()}  # fmt: skip

    def name(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: name(v) for k, v in x.items()}
        return words.get(x, x) if isinstance(x, str) else x

    named = [[name(x) for x in e] for e in schedule]
    with pytest.raises(ValueError):
        Trust.of(vkey).with_history(named)
    with pytest.raises(ValueError):
        AnjuClient("http://127.0.0.1:9", vkey, key_history=named)


def test_verify_height_offline(chain: tuple[Server, dict[str, int]]) -> None:
    """The height proof needs nothing but the answer and the trusted key (no network)."""
    server, heights = chain
    trust = Trust.of(server.vkey)
    for txid, height in heights.items():
        ans = server.http.get(f"/api/v1/txs/{txid}").json()
        head = trust.open(ans["checkpoint"])
        assert verify_height(ans["height"], ans["index"], ans["height_proof"], head, trust).height == height
