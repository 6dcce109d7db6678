"""The ABCI codec and application in-process: framing, handshake, replay after a crash."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.consortium.http_stub import http_stub
from tests.consortium.member_dir import CHAIN, kv_member

from anju.chain.abci import messages as m
from anju.chain.abci.app import AbciApp
from anju.chain.abci.codes import ABCI_CODES
from anju.chain.abci.server import dispatch
from anju.chain.abci.wire import Fields, f_bytes, f_int, f_msg, f_str, frame, iter_fields, read_uvarint, uvarint
from anju.chain.executor import canonical_genesis
from anju.chain.node import DB_NAME
from anju.crypto import jcs
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse, sign
from anju.errors import CODES
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import parse_note
from anju.ledger.statemap import StateProof, verify_state_proof


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 2**31, 2**63 - 1])
def test_uvarint_roundtrip(n: int) -> None:
    assert read_uvarint(uvarint(n), 0) == (n, len(uvarint(n)))


def test_negative_int64_is_twos_complement() -> None:
    assert Fields(f_int(3, -2)).num(3) == -2
    assert len(uvarint(-1)) == 10


def test_every_core_tx_code_has_a_distinct_abci_code() -> None:
    assert len(set(ABCI_CODES.values())) == len(ABCI_CODES)
    assert 0 not in ABCI_CODES.values() and 1 not in ABCI_CODES.values()
    for code in ABCI_CODES:
        assert code in CODES


def _req(no: int, body: bytes = b"") -> bytes:
    return f_msg(no, body)


def _resp(raw: bytes) -> tuple[int, Fields]:
    ((no, _, body),) = list(iter_fields(raw))
    assert isinstance(body, bytes)
    return no, Fields(body)


def _ts(seconds: int, nanos: int = 0) -> bytes:
    return f_int(1, seconds) + f_int(2, nanos)


@pytest.fixture()
def member(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    return kv_member(tmp_path)


def _tx(k: SigningKey, seq: int, key: str = "a") -> bytes:
    return jcs.canonicalize(
        sign({"chain": CHAIN, "kind": "kv.put", "signer": k.public_hex, "seq": seq, "key": key, "value": "v"}, [k])
    )


def test_handshake_blocks_and_replay_after_crash(member: tuple[Path, dict[str, object]]) -> None:
    data, doc = member
    app = AbciApp(data)
    no, info = _resp(dispatch(app, _req(3)))
    assert no == 4 and info.num(4) == 0
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    no, res = _resp(dispatch(app, _req(5, init)))
    assert no == 6 and len(res.raw(3)) == 32

    k = SigningKey.generate()
    no, res = _resp(dispatch(app, _req(8, f_bytes(1, _tx(k, 1)))))
    assert no == 9 and res.num(1) == 0
    no, res = _resp(dispatch(app, _req(8, f_bytes(1, _tx(k, 3)))))
    assert res.num(1) == ABCI_CODES["SEQ_SKIPPED"] and res.text(8) == "SEQ_SKIPPED"

    block = f_msg(1, _tx(k, 1)) + f_msg(1, _tx(k, 1)) + f_int(5, 1) + f_msg(6, _ts(1767225601, 5_000_000))
    no, fin = _resp(dispatch(app, _req(20, block)))
    assert no == 21
    results = [Fields(r) for r in fin.raws(2)]
    assert [r.num(1) for r in results] == [0, ABCI_CODES["SEQ_REUSED"]]
    app_hash = fin.raw(5)

    # crash between FinalizeBlock and Commit: a new process reports height 0 and replays the block
    app.store.close()
    app2 = AbciApp(data)
    _, info = _resp(dispatch(app2, _req(3)))
    assert info.num(4) == 0
    _, fin2 = _resp(dispatch(app2, _req(20, block)))
    assert fin2.raw(5) == app_hash
    no, _ = _resp(dispatch(app2, _req(11)))
    assert no == 12
    _, info = _resp(dispatch(app2, _req(3)))
    assert info.num(4) == 1 and info.raw(5) == app_hash
    assert app2.last.time == "2026-01-01T00:00:01.005Z"

    # proposals: ours is the mempool cut at max_tx_bytes; theirs is rejected for a bad envelope or seq
    prep = f_int(1, 2 * (len(_tx(k, 2)) + 3)) + f_msg(2, _tx(k, 2)) + f_msg(2, _tx(k, 3)) + f_msg(2, _tx(k, 4))
    _, pp = _resp(dispatch(app2, _req(16, prep + f_int(5, 2) + f_msg(6, _ts(1767225602)))))
    assert pp.raws(1) == [_tx(k, 2), _tx(k, 3)]
    dup = f_msg(1, _tx(k, 2)) + f_msg(1, _tx(k, 2)) + f_int(5, 2) + f_msg(6, _ts(1767225602))
    _, pr = _resp(dispatch(app2, _req(17, dup + f_bytes(4, b"h" * 32))))
    assert pr.num(1) == m.PROPOSAL_REJECT  # seq 2 twice
    # decided all the same (more than 2/3 accepted it), it is executed: the second tx fails
    _, fin3 = _resp(dispatch(app2, _req(20, dup + f_bytes(4, b"h" * 32))))
    assert [Fields(r).num(1) for r in fin3.raws(2)] == [0, ABCI_CODES["SEQ_REUSED"]]
    forged = bytearray(_tx(k, 2))  # in sequence (block 2 was not committed): its signature fails
    forged[forged.index(b'"sig":"') + 8] ^= 1
    bad = f_msg(1, bytes(forged)) + f_int(5, 3) + f_msg(6, _ts(1767225603))
    _, pr = _resp(dispatch(app2, _req(17, bad)))
    assert pr.num(1) == m.PROPOSAL_REJECT
    # snapshots: safe answers
    _, snap = _resp(dispatch(app2, _req(13)))
    assert snap.num(1) == m.OFFER_SNAPSHOT_REJECT
    assert frame(b"x") == b"\x01x"
    app2.store.close()


@pytest.mark.parametrize("sizes", [[], [1], [5, 127, 128, 300, 20_000], [0, 2**14, 2**14 + 1]])
def test_proposal_and_check_tx_parsers_agree_with_the_generic_decoder(sizes: list[int]) -> None:
    txs = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    body = (
        b"".join(f_msg(1, tx) for tx in txs)
        + f_msg(2, f_int(1, 3))  # decided_last_commit / proposed_last_commit: skipped
        + f_bytes(4, b"h" * 32)
        + f_int(5, 2**40)
        + f_msg(6, _ts(1767225601, 7_000_000))
        + f_bytes(7, b"n" * 32)
        + f_bytes(8, b"p" * 20)
    )
    f = Fields(body)
    p = m.Proposal.parse(body)
    assert (p.txs, p.hash, p.height, p.time) == (f.raws(1), f.raw(4), f.num(5), "2026-01-01T00:00:01.007Z")
    assert m.Proposal.parse(body, txs=False) == m.Proposal([], p.hash, p.height, p.time)
    for tx in txs:
        for kind in (0, 1):
            ct = m.CheckTx.parse(f_bytes(1, tx) + f_int(2, kind) + f_bytes(3, b"unknown"))
            assert (ct.tx, ct.type) == (tx, kind)
    ok = m.TxResult(0, data=b"t" * 64)
    assert ok.encode() == f_bytes(2, b"t" * 64)
    assert m.TxResult(0).encode() == b""


def test_a_tx_refused_at_execution_is_listed_with_its_error(member: tuple[Path, dict[str, object]]) -> None:
    """It passed CheckTx (not its signer's next: no rules run) and failed in its block."""
    data, doc = member
    app = AbciApp(data)
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    dispatch(app, _req(5, init))
    k = SigningKey.generate()
    bad = _tx(k, 2, key="x" * 200)
    for raw in (_tx(k, 1), bad):
        _, res = _resp(dispatch(app, _req(8, f_bytes(1, raw))))
        assert res.num(1) == 0  # admitted to the mempool
    block = f_msg(1, _tx(k, 1)) + f_msg(1, bad) + f_int(5, 1) + f_msg(6, _ts(1767225601))
    _, fin = _resp(dispatch(app, _req(20, block)))
    assert [Fields(r).num(1) for r in fin.raws(2)] == [0, ABCI_CODES["INVALID_FIELD"]]
    dispatch(app, _req(11))
    app.settle()
    txid = parse(bad).txid
    assert app.stored_refused == {txid: {"code": "INVALID_FIELD", "message": app.stored_refused[txid]["message"]}}
    assert "key" in app.stored_refused[txid]["message"]
    app.close()


def test_the_member_api_fails_a_waiting_tx_its_block_refused(member: tuple[Path, dict[str, object]]) -> None:
    """MemberNode reads the refusal from its cosigner's /refused rows (a real HTTP server here)."""
    from concurrent.futures import Future

    from anju.chain.abci.app import MEMBER_FILE
    from anju.chain.node import Receipt
    from anju.cli.member_api import MemberNode
    from anju.errors import TxRejected

    data, _ = member
    rows = [{"height": 0, "refused": {"ab" * 32: {"code": "INVALID_FIELD", "message": "key must be"}}}]

    def answer(_method: str, path: str) -> bytes:
        return orjson.dumps(rows if path.startswith("/refused?from=0") else [])

    with http_stub(answer) as cosign:
        me = f"{CHAIN}/member0"
        member_doc = {"chain_id": CHAIN, "member": "member0", "threshold": 1, "members": [
            {"name": me, "vkey": "x", "cosign_url": cosign}]}  # fmt: skip
        (data / MEMBER_FILE).write_bytes(orjson.dumps(member_doc))
        node = MemberNode(data, "http://127.0.0.1:9")
        try:
            fut: Future[Receipt] = Future()
            node._pending["ab" * 32] = fut
            other: Future[Receipt] = Future()
            node._pending["cd" * 32] = other
            node._committed(0)
            node._read_refusals(0)
            exc = fut.exception(timeout=1)
            assert isinstance(exc, TxRejected) and exc.code == "INVALID_FIELD"
            assert not other.done() and "cd" * 32 in node._pending  # not in that block: still waiting
        finally:
            node.stop()


def test_the_member_api_answers_timeout_for_a_tx_no_block_carried(
    member: tuple[Path, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CometBFT's mempool can drop a transaction that passed CheckTx: past PENDING_TTL_S its waiter
    is answered TIMEOUT (and its txid may be submitted again), while a younger one keeps waiting; and
    a batch past MAX_PENDING is refused whole with MEMPOOL_FULL."""
    import time
    from concurrent.futures import Future

    from anju.chain.node import Receipt
    from anju.cli import member_api
    from anju.errors import AnjuError, Overloaded

    data, _ = member
    node = member_api.MemberNode(data, "http://127.0.0.1:9")
    try:
        old: Future[Receipt] = Future()
        young: Future[Receipt] = Future()
        node._pending.update({"ab" * 32: old, "cd" * 32: young})
        node._since.update({"ab" * 32: time.monotonic() - 200, "cd" * 32: time.monotonic()})
        node._expire_pending(ttl=120)
        exc = old.exception(timeout=1)
        assert isinstance(exc, AnjuError) and exc.code == "TIMEOUT"
        assert "ab" * 32 not in node._pending and not young.done() and "cd" * 32 in node._pending
        from anju.crypto.tx import parse

        monkeypatch.setattr(member_api, "MAX_PENDING", 2)  # one waits already: a batch of two is refused whole
        with pytest.raises(Overloaded) as info:
            node.submit_parsed([parse(_tx(SigningKey.generate(), 1)), parse(_tx(SigningKey.generate(), 1))])
        assert info.value.code == "MEMPOOL_FULL" and list(node._pending) == ["cd" * 32]
    finally:
        node.stop()


def test_check_tx_forgets_a_seq_the_mempool_dropped(member: tuple[Path, dict[str, object]]) -> None:
    """After admitting seq 1, CheckTx expects seq 2; if no block carries seq 1 within
    MEMPOOL_SEQ_TTL_S (CometBFT's mempool dropped it), the signer may submit seq 1 again."""
    import time

    from anju.chain.abci import app as abci_app

    data, doc = member
    app = AbciApp(data)
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    dispatch(app, _req(5, init))
    k = SigningKey.generate()
    assert _resp(dispatch(app, _req(8, f_bytes(1, _tx(k, 1, "a")))))[1].num(1) == 0
    again = _resp(dispatch(app, _req(8, f_bytes(1, _tx(k, 1, "b")))))[1]
    assert again.text(8) == "SEQ_REUSED"  # seq 1 is admitted: the next must be 2
    seq, _, h = app._mempool_seq[k.public_hex]
    app._mempool_seq[k.public_hex] = (seq, time.monotonic() - abci_app.MEMPOOL_SEQ_TTL_S - 1, h)
    assert _resp(dispatch(app, _req(8, f_bytes(1, _tx(k, 1, "b")))))[1].num(1) == 0
    app.store.close()


def test_check_tx_admits_the_same_envelope_again(member: tuple[Path, dict[str, object]]) -> None:
    """CometBFT's /check_tx RPC (a dry run) calls CheckTx without adding the tx to its mempool: the
    same bytes broadcast afterwards must be admitted, not refused as a reused seq for two minutes.
    Another envelope of that seq is still refused, and the next seq still follows on."""
    data, doc = member
    app = AbciApp(data)
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    dispatch(app, _req(5, init))
    k = SigningKey.generate()
    one = _tx(k, 1, "a")
    for _ in range(3):  # the dry run, the broadcast, a peer gossiping it after the mempool dropped it
        assert _resp(dispatch(app, _req(8, f_bytes(1, one))))[1].num(1) == 0
    assert _resp(dispatch(app, _req(8, f_bytes(1, _tx(k, 1, "b")))))[1].text(8) == "SEQ_REUSED"
    assert _resp(dispatch(app, _req(8, f_bytes(1, _tx(k, 2, "c")))))[1].num(1) == 0
    assert _resp(dispatch(app, _req(8, f_bytes(1, one))))[1].text(8) == "SEQ_REUSED"  # seq 2 came after it
    app.store.close()


def test_init_chain_accepts_only_the_consortium_first_height(member: tuple[Path, dict[str, object]]) -> None:
    """``first_height`` (consortium.json) must be CometBFT's initial_height; Info reports 0 until then."""
    from anju.chain.abci.app import MEMBER_FILE
    from anju.errors import StorageCorrupt

    data, doc = member
    cfg = {"chain_id": CHAIN, "member": "member0", "threshold": 1, "members": [], "first_height": 1}
    (data / MEMBER_FILE).write_bytes(orjson.dumps(cfg))
    app = AbciApp(data)
    for initial in (2, 5):
        init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, initial)
        with pytest.raises(StorageCorrupt, match="initial_height must be 1"):
            app.init_chain(m.InitChain.parse(init))
    app.close()
    # a member whose consortium starts at height 2 on a ledger at height 0 is refused too
    (data / MEMBER_FILE).write_bytes(orjson.dumps({**cfg, "first_height": 2}))
    app = AbciApp(data)
    _, info = _resp(dispatch(app, _req(3)))
    assert info.num(4) == 0  # not started: CometBFT must call InitChain
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 2)
    with pytest.raises(StorageCorrupt, match="not at height 1"):
        app.init_chain(m.InitChain.parse(init))
    app.close()


def test_a_new_round_drops_the_undecided_block_in_memory(member: tuple[Path, dict[str, object]]) -> None:
    """ProcessProposal ran block A; round 1 proposes B at the same height and B is decided. A is
    taken back in memory (the executor is not reopened), and B gives the app hash a member that
    never saw A computes. A block proposed again (same hash) is accepted without running it again."""
    data, doc = member
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    k = SigningKey(b"r" * 32)
    block_a = f_msg(1, _tx(k, 1, "a")) + f_msg(1, _tx(k, 2, "b")) + f_int(5, 1) + f_msg(6, _ts(1767225601))
    block_b = f_msg(1, _tx(k, 1, "c")) + f_int(5, 1) + f_msg(6, _ts(1767225602))
    hash_a, hash_b = f_bytes(4, b"a" * 32), f_bytes(4, b"b" * 32)

    twin_dir = data.parent / "twin"
    import shutil

    shutil.copytree(data, twin_dir)
    twin = AbciApp(twin_dir)
    dispatch(twin, _req(5, init))
    _, expected = _resp(dispatch(twin, _req(20, block_b + hash_b)))
    twin.store.close()

    app = AbciApp(data)
    dispatch(app, _req(5, init))
    app.warm()
    executor = app.executor
    _, pr = _resp(dispatch(app, _req(17, block_a + hash_a)))
    assert pr.num(1) == m.PROPOSAL_ACCEPT
    assert executor.get("kv/a") is not None  # A was executed
    calls: list[int] = []
    real = executor.deliver
    executor.deliver = lambda tx: calls.append(1) or real(tx)  # type: ignore[method-assign]
    _, pr = _resp(dispatch(app, _req(17, block_a + hash_a)))  # A again (a later round): not run again
    assert pr.num(1) == m.PROPOSAL_ACCEPT and calls == []
    _, pr = _resp(dispatch(app, _req(17, block_b + hash_b)))
    assert pr.num(1) == m.PROPOSAL_ACCEPT and len(calls) == 1
    assert app.executor is executor  # not reopened
    assert executor.get("kv/a") is None and executor.get("kv/c") is not None
    _, fin = _resp(dispatch(app, _req(20, block_b + hash_b)))
    assert fin.raw(5) == expected.raw(5)
    dispatch(app, _req(11))
    app.settle()
    assert app.last.height == 1 and app.app_hash_of(app.last) == expected.raw(5)
    # And FinalizeBlock of a block other than the one executed: dropped the same way.
    block_c = f_msg(1, _tx(k, 2, "d")) + f_int(5, 2) + f_msg(6, _ts(1767225603))
    block_d = f_msg(1, _tx(k, 2, "e")) + f_int(5, 2) + f_msg(6, _ts(1767225604))
    dispatch(app, _req(17, block_c + f_bytes(4, b"c" * 32)))
    _, fin = _resp(dispatch(app, _req(20, block_d + f_bytes(4, b"d" * 32))))
    assert [Fields(r).num(1) for r in fin.raws(2)] == [0]
    dispatch(app, _req(11))
    app.settle()
    assert app.executor is executor and executor.get("kv/d") is None and executor.get("kv/e") is not None
    app.store.close()
    reopened = AbciApp(data)
    assert reopened.last.state_root == app.last.state_root and reopened.last.height == 2
    reopened.store.close()


def test_writes_waiting_together_are_one_transaction_and_a_failed_one_halts(
    member: tuple[Path, dict[str, object]],
) -> None:
    data, doc = member
    app = AbciApp(data)
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    dispatch(app, _req(5, init))
    k = SigningKey(b"w" * 32)
    calls: list[tuple[int, int]] = []
    real = app.store.write_blocks
    app.store.write_blocks = lambda ws, notes=(): (calls.append((len(ws), len(notes))), real(ws, notes))[1]  # type: ignore[method-assign]
    dispatch(app, _req(20, f_msg(1, _tx(k, 1)) + f_int(5, 1) + f_msg(6, _ts(1767225601))))
    dispatch(app, _req(11))
    followed: list[int] = []
    app.store_later(("note", (1, "cosigned note 1\n")), lambda: followed.append(1))
    app.settle()
    assert calls == [(1, 1)] and followed == [1]  # the block and the note: one transaction
    assert app.store.block(1).checkpoint == "cosigned note 1\n"  # type: ignore[union-attr]
    assert app.last.height == 1 and "store_ms" in app.stored_timing  # the follow-up ran and timed the write

    def broken(ws: object, notes: object = ()) -> None:
        raise OSError("disk full")

    app.store.write_blocks = broken  # type: ignore[method-assign,assignment]
    dispatch(app, _req(20, f_msg(1, _tx(k, 2)) + f_int(5, 2) + f_msg(6, _ts(1767225602))))
    dispatch(app, _req(11))
    with pytest.raises(OSError, match="disk full"):
        app.settle()
    assert app.last.height == 1  # not stored: its follow-up did not run
    app.store.write_blocks = real  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        app.settle()  # remembered: the member does not go on
    dispatch(app, _req(20, f_msg(1, _tx(k, 3)) + f_int(5, 3) + f_msg(6, _ts(1767225603))))
    with pytest.raises(OSError, match="disk full"):  # the server answers it as an exception: CometBFT halts
        dispatch(app, _req(11))
    app.store.close()


def _query_state(app: AbciApp, key: str) -> dict[str, object]:
    _, res = _resp(dispatch(app, _req(6, f_bytes(1, key.encode()) + f_str(2, "/state") + f_int(4, 1))))
    doc: dict[str, object] = orjson.loads(res.raw(7))
    return doc


def test_a_state_query_answers_the_committed_state_not_an_undecided_proposal(
    member: tuple[Path, dict[str, object]],
) -> None:
    """ProcessProposal executes a proposal before it is decided; until Commit, /state answers the
    value (and proof) of the last committed block, which its checkpoint can verify."""
    data, doc = member
    app = AbciApp(data)
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    dispatch(app, _req(5, init))
    app.warm()
    k = SigningKey(b"q" * 32)
    block = f_msg(1, _tx(k, 1, "q")) + f_int(5, 1) + f_msg(6, _ts(1767225601)) + f_bytes(4, b"q" * 32)
    _, pr = _resp(dispatch(app, _req(17, block)))
    assert pr.num(1) == m.PROPOSAL_ACCEPT and app.executor.get("kv/q") is not None  # executed, undecided

    def checked(doc: dict[str, object]) -> object:
        cp = Checkpoint.from_text(parse_note(str(doc["checkpoint"])).text)
        value = doc["value"]
        verify_state_proof(
            cp.state_root, "kv/q", None if value is None else str(value).encode(), StateProof.from_json(doc["proof"])
        )
        return value

    assert checked(_query_state(app, "kv/q")) is None
    dispatch(app, _req(20, block))
    dispatch(app, _req(11))
    assert checked(_query_state(app, "kv/q")) is not None
    app.store.close()


def test_a_query_that_cannot_be_answered_gets_an_error_code_not_an_exception(
    member: tuple[Path, dict[str, object]],
) -> None:
    """CometBFT's socket client stops the node on an exception response; anyone who reaches its RPC
    can send abci_query, so every query is answered, bad bytes included."""
    data, doc = member
    app = AbciApp(data)
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    dispatch(app, _req(5, init))
    app.warm()
    no, res = _resp(dispatch(app, _req(6, f_bytes(1, b"\xff\xfe") + f_str(2, "/state") + f_int(4, 1))))
    assert no != 1 and res.num(1) != 0 and res.raw(7) == b""  # a Query answer (1 is an exception), failing
    assert "UTF-8" in res.raw(3).decode()
    app.store.close()


def test_a_member_portal_prints_its_public_address(member: tuple[Path, dict[str, object]]) -> None:
    from anju.cli.member_api import build_app

    data, _ = member
    app = build_app(data, "http://127.0.0.1:9", web_dir=data.parent / "web", public_url="https://anju.example.org/")
    try:
        assert app.state.anju_web.public_url == "https://anju.example.org"
    finally:
        app.state.anju_web.node.stop()


def _init(app: AbciApp, doc: dict[str, object]) -> None:
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    dispatch(app, _req(5, init))


def test_info_between_finalize_block_and_commit_keeps_the_finalized_block(
    member: tuple[Path, dict[str, object]],
) -> None:
    """CometBFT's public RPC ``/abci_info`` sends Info on the query connection at any time: landing
    between FinalizeBlock and Commit it reports the stored height and the block still commits (an
    exception answer to Commit would stop CometBFT)."""
    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    k = SigningKey.generate()
    block = f_msg(1, _tx(k, 1)) + f_int(5, 1) + f_msg(6, _ts(1767225601)) + f_bytes(4, b"h" * 32)
    _, pr = _resp(dispatch(app, _req(17, block)))
    assert pr.num(1) == m.PROPOSAL_ACCEPT
    _, fin = _resp(dispatch(app, _req(20, block)))
    _, info = _resp(dispatch(app, _req(3)))
    assert info.num(4) == 0  # block 1 is finalized, not committed: the stored height
    no, _ = _resp(dispatch(app, _req(11)))
    assert no == 12  # a Commit answer (1 would be an exception)
    _, info = _resp(dispatch(app, _req(3)))
    assert info.num(4) == 1 and info.raw(5) == fin.raw(5)
    app.close()


def _check(app: AbciApp, raw: bytes) -> Fields:
    no, res = _resp(dispatch(app, _req(8, f_bytes(1, raw))))
    assert no == 9
    return res


def _signed(k: SigningKey, seq: int, chain: str = CHAIN, **extra: object) -> bytes:
    body = {"chain": chain, "kind": "kv.put", "signer": k.public_hex, "seq": seq, "key": "a", "value": "v", **extra}
    return jcs.canonicalize(sign(body, [k]))


def test_check_tx_caches_only_what_it_admits_and_checks_chain_and_seq_before_signatures(
    member: tuple[Path, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Padded envelopes from fresh keys with a skipped seq or another chain are refused without
    verifying a signature and leave nothing in the verified cache (they once stayed there, ~260 KB
    each, up to 200,000 of them); the cache is bounded by bytes as well as count."""
    from anju.chain.abci import app as abci_app
    from anju.crypto import tx as tx_mod

    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    verified: list[str] = []
    real = tx_mod.verify_sigs
    monkeypatch.setattr(abci_app, "verify_sigs", lambda t: (verified.append(t.txid), real(t))[1])
    pad = "x" * 30_000
    for _ in range(5):
        assert _check(app, _signed(SigningKey.generate(), 7, pad=pad)).text(8) == "SEQ_SKIPPED"
        assert _check(app, _signed(SigningKey.generate(), 1, chain="other", pad=pad)).text(8) == "WRONG_CHAIN"
    assert verified == [] and len(app._verified) == 0
    forged = bytearray(_signed(SigningKey.generate(), 1))
    forged[forged.index(b'"sig":"') + 8] ^= 1
    assert _check(app, bytes(forged)).text(8) == "BAD_SIGNATURE" and len(app._verified) == 0
    # the verifier processes' results wait only for their batch; a refused one is not cached either
    k = SigningKey.generate()
    skipped, refused_by_rules = _signed(k, 3), _signed(k, 1, key="x" * 200)
    app.remember([skipped, refused_by_rules], [parse(skipped), parse(refused_by_rules)])
    assert _check(app, skipped).text(8) == "SEQ_SKIPPED"
    assert _check(app, refused_by_rules).text(8) == "INVALID_FIELD"
    assert app.prefetched == {} and len(app._verified) == 0
    # admitted envelopes are cached, the oldest dropped past the byte bound
    raws = [_signed(k, seq, value="p" * 1000) for seq in range(1, 6)]
    monkeypatch.setattr(abci_app, "VERIFIED_CACHE_BYTES", 3 * len(raws[0]) + 10)
    for raw in raws:
        assert _check(app, raw).num(1) == 0
    assert [t for t, _ in app._verified.values()] == [parse(r) for r in raws[2:]]
    assert app._verified_bytes == sum(map(len, raws[2:]))
    assert app.is_verified(raws[4]) and not app.is_verified(raws[0])
    app.close()


def test_check_tx_caps_how_far_a_signer_runs_ahead_of_its_committed_seq(
    member: tuple[Path, dict[str, object]],
) -> None:
    """Only a signer's next tx runs through the rules: one key could otherwise queue any number of
    (64 KB) txs that all fail in their blocks. Past MAX_SEQ_AHEAD it is refused MEMPOOL_FULL until
    a block carries the earlier ones."""
    from anju.chain.abci.app import MAX_SEQ_AHEAD

    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    k = SigningKey.generate()
    raws = [_signed(k, seq, value=str(seq)) for seq in range(1, MAX_SEQ_AHEAD + 3)]
    for raw in raws[:MAX_SEQ_AHEAD]:
        assert _check(app, raw).num(1) == 0
    over = _check(app, raws[MAX_SEQ_AHEAD])
    assert over.text(8) == "MEMPOOL_FULL" and over.num(1) == ABCI_CODES["MEMPOOL_FULL"]
    assert f"{MAX_SEQ_AHEAD} transactions waiting" in over.text(3)
    # a block carrying seq 1 and 2 makes room for two more
    block = f_msg(1, raws[0]) + f_msg(1, raws[1]) + f_int(5, 1) + f_msg(6, _ts(1767225601))
    dispatch(app, _req(20, block))
    dispatch(app, _req(11))
    assert _check(app, raws[MAX_SEQ_AHEAD]).num(1) == 0
    assert _check(app, raws[MAX_SEQ_AHEAD + 1]).num(1) == 0
    app.close()


def test_a_broken_verifier_pool_falls_back_inline_and_is_replaced(member: tuple[Path, dict[str, object]]) -> None:
    """A verifier process that dies breaks its pool (BrokenProcessPool): the batch is verified
    inline by CheckTx and a new pool serves the next one (the error once closed CometBFT's mempool
    connection, and the pool stayed broken)."""
    import asyncio
    import os
    from concurrent.futures.process import BrokenProcessPool

    from anju.chain.abci.server import PREFETCH_MIN, Verifier, _prefetch, _split

    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    pool = Verifier(1)
    try:
        with pytest.raises(BrokenProcessPool):  # the worker exits
            pool.pool.submit(os._exit, 1).result(timeout=30)
        broken = pool.pool
        raws = [_signed(SigningKey.generate(), 1) for _ in range(PREFETCH_MIN)]
        reqs = [_split(_req(8, f_bytes(1, raw))) for raw in raws]
        asyncio.run(_prefetch(app, pool, reqs))
        assert pool.pool is not broken and app.prefetched == {}
        assert all(_check(app, raw).num(1) == 0 for raw in raws)  # verified inline
        more = [_signed(SigningKey.generate(), 1) for _ in range(PREFETCH_MIN)]
        asyncio.run(_prefetch(app, pool, [_split(_req(8, f_bytes(1, raw))) for raw in more]))
        assert len(app.prefetched) == PREFETCH_MIN  # the new pool verified them
    finally:
        pool.close()
        app.close()


def test_a_registry_member_makes_the_api_indexes_itself_before_consensus_starts(tmp_path: Path) -> None:
    """The ABCI application, the member's one writer, creates the member API's query indexes when it
    opens (the API then finds them made); a kv member gets none. ``anju verify`` accepts them."""
    import sqlite3

    from anju.chain.node import init_ledger
    from anju.chain.verify import verify_data
    from anju.ledger.store import REGISTRY_INDEXES
    from anju.registry.machine import genesis_params

    data = init_ledger(
        tmp_path / "reg", chain_id=CHAIN, app="anju-registry", params=genesis_params(SigningKey.generate().public_hex)
    )
    names = {sql.split(" IF NOT EXISTS ")[1].split()[0] for sql in REGISTRY_INDEXES}

    def indexes(path: Path) -> set[str]:
        db = sqlite3.connect(path / DB_NAME)
        try:
            return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        finally:
            db.close()

    assert not names & indexes(data)
    app = AbciApp(data)
    app.close()
    assert names <= indexes(data)
    assert verify_data(data, workers=1).ok
    kv = init_ledger(tmp_path / "kv", chain_id=CHAIN, app="kv")
    AbciApp(kv).close()
    assert not names & indexes(kv)


def test_a_frame_length_that_is_no_varint_closes_the_connection(member: tuple[Path, dict[str, object]]) -> None:
    """A frame whose length prefix runs past ten bytes (no varint ends there) was taken for a length
    not complete yet: the connection waited for ever, keeping everything sent after it in memory.
    It is malformed: the connection is closed (a length cut short still waits for its end)."""
    import asyncio

    from anju.chain.abci.server import _connection

    data, _ = member
    app = AbciApp(data)

    class Sink:
        def __init__(self) -> None:
            self.out = b""
            self.closed = False

        def write(self, b: bytes) -> None:
            self.out += b

        async def drain(self) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    async def run(sent: bytes) -> Sink:
        reader = asyncio.StreamReader()
        reader.feed_data(sent)  # and no EOF: the peer keeps the connection open
        sink = Sink()
        task = asyncio.ensure_future(_connection(app, reader, sink))  # type: ignore[arg-type]
        await asyncio.sleep(0.2)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            sink.closed = False  # cancelled by the test, not closed by the server
        return sink

    try:
        echo = frame(_req(1, f_str(1, "hi")))
        bad = asyncio.run(run(b"\xff" * 11 + b"x" * 1000))
        assert bad.closed and bad.out == b""
        cut = asyncio.run(run(echo + b"\x80\x80"))  # a length prefix still arriving: answered up to it, waits
        assert not cut.closed and cut.out == frame(m.echo("hi"))
    finally:
        app.close()


# -- proposals: a tx out of seq -------------------------------------------------------------------


def _block(raws: list[bytes], height: int, block_hash: bytes = b"") -> bytes:
    body = b"".join(f_msg(1, raw) for raw in raws) + f_int(5, height) + f_msg(6, _ts(1767225600 + height))
    return body + (f_bytes(4, block_hash) if block_hash else b"")


def _process(app: AbciApp, raws: list[bytes], height: int) -> int:
    _, pr = _resp(dispatch(app, _req(17, _block(raws, height, bytes([height]) * 32))))
    return pr.num(1)


def _commit(app: AbciApp, raws: list[bytes], height: int) -> list[int]:
    """FinalizeBlock and Commit a decided block; its txs' result codes."""
    _, fin = _resp(dispatch(app, _req(20, _block(raws, height))))
    dispatch(app, _req(11))
    app.settle()
    return [Fields(r).num(1) for r in fin.raws(2)]


def _prepare(app: AbciApp, raws: list[bytes], height: int, max_tx_bytes: int = 1 << 20) -> list[bytes]:
    body = f_int(1, max_tx_bytes) + b"".join(f_msg(2, raw) for raw in raws) + f_int(5, height)
    _, pp = _resp(dispatch(app, _req(16, body + f_msg(6, _ts(1767225600 + height)))))
    return pp.raws(1)


def test_process_proposal_rejects_a_replay_of_a_committed_tx(
    member: tuple[Path, dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    """A Byzantine proposer's block of committed txs (or other envelopes of their seqs) was accepted
    and every one recorded as failed: one member could fill the consortium's blocks and ledger."""
    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    k, other = SigningKey.generate(), SigningKey.generate()
    assert _commit(app, [_tx(k, 1), _tx(k, 2)], 1) == [0, 0]
    for replay in ([_tx(k, 1)], [_tx(k, 3), _tx(k, 2)], [_tx(other, 1), _tx(k, 2, key="b")]):
        caplog.clear()
        assert _process(app, replay, 2) == m.PROPOSAL_REJECT
        assert "used by a committed block (the signer's committed seq is 2)" in caplog.text
    assert app.executor.get("kv/b") is None and app._optimistic is None  # nothing was executed
    assert _process(app, [_tx(other, 1), _tx(k, 3)], 2) == m.PROPOSAL_ACCEPT
    app.close()


def test_process_proposal_rejects_one_seq_twice_and_a_gap(
    member: tuple[Path, dict[str, object]], caplog: pytest.LogCaptureFixture
) -> None:
    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    k, other = SigningKey.generate(), SigningKey.generate()
    twice = [_tx(k, 1, "a"), _tx(other, 1), _tx(k, 1, "b")]  # two envelopes of seq 1
    assert _process(app, twice, 1) == m.PROPOSAL_REJECT
    assert "seq 1 is taken by an earlier tx of this block" in caplog.text
    assert _process(app, [_tx(k, 1), _tx(k, 1)], 1) == m.PROPOSAL_REJECT  # the same tx twice
    caplog.clear()
    for gap in ([_tx(k, 2)], [_tx(k, 1), _tx(k, 3)], [_tx(k, 2), _tx(k, 1)]):
        assert _process(app, gap, 1) == m.PROPOSAL_REJECT
    assert caplog.text.count("skips ahead; the signer's next is") == 3
    assert _process(app, [_tx(k, 1), _tx(other, 1), _tx(k, 2)], 1) == m.PROPOSAL_ACCEPT
    app.close()


def test_a_block_in_seq_whose_tx_fails_the_rules_is_accepted(member: tuple[Path, dict[str, object]]) -> None:
    """The seq check reads the block, not its outcome: seq 1 fails the rules (its seq stays
    unused), so seq 2 fails at execution too, and the block is still valid on every member."""
    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    k, other = SigningKey.generate(), SigningKey.generate()
    raws = [_tx(k, 1, key="x" * 200), _tx(other, 1), _tx(k, 2)]
    assert _process(app, raws, 1) == m.PROPOSAL_ACCEPT
    assert _commit(app, raws, 1) == [ABCI_CODES["INVALID_FIELD"], 0, ABCI_CODES["SEQ_SKIPPED"]]
    assert app.executor.committed_seq(k.public_hex) == 0
    assert _process(app, [_tx(k, 1)], 2) == m.PROPOSAL_ACCEPT  # seq 1 is still k's next
    app.close()


def test_prepare_proposal_leaves_out_txs_out_of_seq(member: tuple[Path, dict[str, object]]) -> None:
    """The proposer's own block must pass ProcessProposal: a mempool holding a committed tx, another
    envelope of a used seq, a second envelope of a seq taken earlier, or a gap, proposes the rest."""
    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    k, other = SigningKey.generate(), SigningKey.generate()
    assert _commit(app, [_tx(k, 1)], 1) == [0]
    mempool = [_tx(k, 1), _tx(k, 1, "b"), _tx(k, 2), _tx(k, 2, "c"), _tx(other, 1), _tx(k, 4), _tx(k, 3)]
    kept = [_tx(k, 2), _tx(other, 1), _tx(k, 3)]
    executor = app.executor
    ran: list[str] = []
    real_deliver, real_simulate = executor.deliver, executor.simulate
    executor.deliver = lambda tx: ran.append("deliver") or real_deliver(tx)  # type: ignore[method-assign]
    executor.simulate = lambda *a: ran.append("simulate") or real_simulate(*a)  # type: ignore[method-assign]
    assert _prepare(app, mempool, 2) == kept
    # the size limit counts only the txs kept
    room = sum(len(raw) + 3 for raw in kept[:2])
    assert _prepare(app, mempool, 2, max_tx_bytes=room) == kept[:2]
    assert ran == []  # no rules run
    assert _process(app, kept, 2) == m.PROPOSAL_ACCEPT
    app.close()


def test_recheck_evicts_what_no_proposal_can_carry(member: tuple[Path, dict[str, object]]) -> None:
    """PrepareProposal cannot remove a tx from CometBFT's mempool: recheck (in mempool order, after
    each block) evicts a used seq and a gap, and keeps a signer's txs in sequence."""
    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    k, other = SigningKey.generate(), SigningKey.generate()
    # another member's proposal carries other's seq 1; executed here, it is not decided, but CheckTx
    # admitted other's seq 2 meanwhile (after the undecided block's state)
    assert _process(app, [_tx(other, 1, "a")], 1) == m.PROPOSAL_ACCEPT
    assert _check(app, _tx(other, 2)).num(1) == 0
    assert _commit(app, [_tx(k, 1)], 1) == [0]

    def recheck(raw: bytes) -> str:
        _, res = _resp(dispatch(app, _req(8, f_bytes(1, raw) + f_int(2, m.CHECK_TX_RECHECK))))
        return res.text(8) or "OK"

    bad = _tx(k, 2, key="x" * 200)  # admitted as k's second tx (the rules run only for a signer's next)
    third = SigningKey.generate()
    mempool = [_tx(k, 1, "b"), bad, _tx(k, 3), _tx(other, 2), _tx(third, 1), _tx(third, 1, "c"), _tx(k, 5)]
    answers = [recheck(raw) for raw in mempool]
    # a used seq and gaps out; two envelopes of a pending seq both stay (the second is proposed if
    # the first fails)
    assert answers == ["SEQ_REUSED", "OK", "OK", "SEQ_SKIPPED", "OK", "OK", "SEQ_SKIPPED"]
    # other's chain of admitted seqs is broken: seq 1 may be submitted again (not SEQ_REUSED)
    assert _check(app, _tx(other, 1, "again")).num(1) == 0
    # the next block's pass starts again from the committed state: seq 2 failed, so 3 follows nothing
    assert _commit(app, [bad], 2) == [ABCI_CODES["INVALID_FIELD"]]
    assert [recheck(raw) for raw in (_tx(k, 3), _tx(third, 1), _tx(third, 1, "c"))] == ["SEQ_SKIPPED", "OK", "OK"]
    app.close()


def test_a_tx_recheck_evicts_is_reported_with_the_next_block(member: tuple[Path, dict[str, object]]) -> None:
    """A tx evicted by recheck is in no block: it is listed, with its code, among the refused txs of
    this member's next stored block, where the member API fails its client's wait (it waited for
    TIMEOUT, 150 s, before)."""
    data, doc = member
    app = AbciApp(data)
    _init(app, doc)
    k = SigningKey.generate()
    assert _check(app, _tx(k, 1)).num(1) == 0
    assert _check(app, _tx(k, 2)).num(1) == 0  # admitted after seq 1, which then fails in its block
    bad = _tx(k, 1, key="x" * 200)
    assert _commit(app, [bad], 1) == [ABCI_CODES["INVALID_FIELD"]]
    app.settle()
    assert set(app.stored_refused) == {parse(bad).txid}
    gap = _tx(k, 2)
    _, res = _resp(dispatch(app, _req(8, f_bytes(1, gap) + f_int(2, m.CHECK_TX_RECHECK))))
    assert res.text(8) == "SEQ_SKIPPED"
    other = SigningKey.generate()
    assert _commit(app, [_tx(other, 1)], 2) == [0]
    app.settle()
    assert list(app.stored_refused) == [parse(gap).txid]
    assert app.stored_refused[parse(gap).txid]["code"] == "SEQ_SKIPPED"
    assert _commit(app, [_tx(other, 2)], 3) == [0]  # reported once
    app.settle()
    assert app.stored_refused == {}
    app.close()


def test_an_evicted_tx_admitted_again_or_carried_by_the_next_block_is_not_reported_refused(
    member: tuple[Path, dict[str, object]],
) -> None:
    """A tx recheck evicted is reported refused with this member's next block, where the member
    API fails its client's wait. Unless, meanwhile, it was admitted again (submitted anew once its
    predecessor was: it is in the mempool, and commits) or that next block carries it (another
    member still held it and its predecessor): both were reported refused, so a client was told
    SEQ_SKIPPED of a transaction that then committed."""
    data, doc = member
    app = AbciApp(data)
    _init(app, doc)

    def recheck(raw: bytes) -> str:
        _, res = _resp(dispatch(app, _req(8, f_bytes(1, raw) + f_int(2, m.CHECK_TX_RECHECK))))
        return res.text(8) or "OK"

    k, j, other = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    for raw in (_tx(k, 1), _tx(k, 2), _tx(j, 1), _tx(j, 2)):
        assert _check(app, raw).num(1) == 0
    # both signers' seq 1 fail in block 1: their seq 2 follow a gap, and recheck evicts them
    assert _commit(app, [_tx(k, 1, key="x" * 200), _tx(j, 1, key="x" * 200)], 1) == [ABCI_CODES["INVALID_FIELD"]] * 2
    assert [recheck(_tx(k, 2)), recheck(_tx(j, 2))] == ["SEQ_SKIPPED", "SEQ_SKIPPED"]
    # k submits seq 1 again, then the same seq 2: admitted again, before the next block
    assert _check(app, _tx(k, 1)).num(1) == 0
    assert _check(app, _tx(k, 2)).num(1) == 0
    # the next block carries j's (another member held a good seq 1 and the seq 2)
    assert _commit(app, [_tx(other, 1), _tx(j, 1, key="b"), _tx(j, 2)], 2) == [0, 0, 0]
    assert app.stored_refused == {}
    assert _commit(app, [_tx(k, 1), _tx(k, 2)], 3) == [0, 0]
    assert app.stored_refused == {}
    app.close()


def test_a_stop_signal_to_the_app_s_process_group_is_the_app_s_alone(
    member: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    """The ABCI app's verifier processes ignore stop signals (as the embedded node's do): SIGTERM to
    one of them leaves it, its pool and the app running; SIGTERM to the whole process group (what
    systemd and ``kill -TERM -PGID`` send) stops the app, which ends its pool: everything exits,
    without a traceback. (A verifier died of SIGTERM, breaking the pool; and they were started
    only at the first CheckTx batch.)"""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from tests.api.conftest import ROOT, free_port
    from tests.conftest import alive, all_gone, children_of

    data, _ = member
    port = free_port()
    log = tmp_path / "abci.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "anju.chain.abci", "--data", str(data), "--abci", f"tcp://127.0.0.1:{port}"],
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.1)
        workers = children_of(proc.pid)
        assert len(workers) == 2, workers  # started with the app, not at its first CheckTx
        os.kill(workers[0], signal.SIGTERM)
        time.sleep(1.0)  # (time for a signal to act: nothing here may change)
        assert alive(workers[0]) and proc.poll() is None, log.read_text(errors="replace")
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # still serving
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(60) == 0
        assert all_gone(workers)
        assert "Traceback" not in log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
