"""Group commit: blocks waiting for the writer are stored together, whole or not at all."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import kv_put, only_committed, stop_in_time

from anju.chain.node import DB_NAME, Node, open_executor, read_node_key
from anju.chain.verify import verify_data
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse_and_verify
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import Verifier
from anju.ledger.store import BlockWrite, Store


def _seal_two(data: Path) -> tuple[Store, list[BlockWrite], SigningKey]:
    """Two consecutive sealed, signed, unstored blocks of kv puts."""
    store = Store(data / DB_NAME)
    ex = open_executor(data, store)
    key = read_node_key(data)
    k = SigningKey(b"g" * 32)
    writes = []
    for first in (1, 4):
        ex.begin("2026-02-01T00:00:00.000Z")
        for seq in range(first, first + 3):
            ex.deliver(parse_and_verify(kv_put(k, seq, k=f"g{seq}", v=str(seq))))
        sealed = ex.seal()
        ex.attach_note(sealed, sealed.checkpoint.sign(key, ex.chain_id))
        writes.append(sealed.write)
    return store, writes, k


def test_a_failing_block_leaves_its_whole_group_unstored(kv_data: Path) -> None:
    store, (b1, b2), k = _seal_two(kv_data)
    height = store.height()
    b2.txs = [b1.txs[0], *b2.txs[1:]]  # a txid the group already holds: the second block cannot be stored
    with pytest.raises(sqlite3.IntegrityError):
        store.write_blocks([b1, b2])
    assert store.height() == height
    assert store.state_get("kv/g1") is None and store.state_get("seq/" + k.public_hex) is None
    assert store.block(b1.block.height) is None
    assert verify_data(kv_data, workers=1).ok


def test_a_group_stores_every_block_with_its_own_checkpoint(kv_data: Path) -> None:
    store, (b1, b2), k = _seal_two(kv_data)
    store.write_blocks([b1, b2])
    verifier = Verifier.from_vkey(store.get_meta("verifier_key").decode())  # type: ignore[union-attr]
    for w, size in ((b1, 3), (b2, 6)):
        rec = store.block(w.block.height)
        assert rec is not None and rec.tx_count == 3 and rec.log_size == size
        cp = Checkpoint.open(rec.checkpoint, [verifier])
        assert (cp.height, cp.size, cp.state_root) == (rec.height, size, rec.state_root)
    assert b1.block.state_root != b2.block.state_root
    assert [store.state_get(f"kv/g{i}") for i in (1, 6)] == [b'"1"', b'"6"']
    assert store.state_get("seq/" + k.public_hex) == b"6"  # the later block's value wins
    assert verify_data(kv_data, workers=1).ok


def test_notes_in_a_group_replace_checkpoints_with_its_blocks_or_not_at_all(kv_data: Path) -> None:
    """A consortium member's store process writes blocks and cosigned notes in one transaction."""
    store, (b1, b2), _ = _seal_two(kv_data)
    h1, h2 = b1.block.height, b2.block.height
    bad = BlockWrite(b2.block, [b1.txs[0]], [], {}, {}, [])  # its txid is b1's: the group fails
    with pytest.raises(sqlite3.IntegrityError):
        store.write_blocks([b1, bad], notes=[(h1, "cosigned 1")])
    assert store.block(h1) is None
    store.write_blocks([b1], notes=[(h1, b1.block.checkpoint + "extra\n")])
    assert store.block(h1).checkpoint.endswith("extra\n")  # type: ignore[union-attr]
    store.write_blocks([b2], notes=[(h1, b1.block.checkpoint), (h2, b2.block.checkpoint + "more\n")])
    assert store.block(h1).checkpoint == b1.block.checkpoint  # type: ignore[union-attr]
    assert store.block(h2).checkpoint.endswith("more\n")  # type: ignore[union-attr]
    store.write_blocks([], notes=[(h2, b2.block.checkpoint)])  # notes alone
    assert store.block(h2).checkpoint == b2.block.checkpoint  # type: ignore[union-attr]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_slow_writer_stores_blocks_in_groups_and_loses_none(kv_data: Path, workers: int) -> None:
    """Blocks are still cut every interval; the writer takes all those waiting in one transaction."""
    groups: list[int] = []
    n = 120
    k = SigningKey(b"h" * 32)
    with Node(kv_data, verify_workers=workers, block_interval=0.002, max_block_txs=4) as node:
        if node._writer is not None:  # the block-writer process (with verifier processes)
            writer = node._writer
            send, receive = writer.send, writer.receive

            def counted_send(blocks: list[BlockWrite]) -> None:
                groups.append(len(blocks))
                send(blocks)

            def slow_receive(blocks: list[BlockWrite]) -> list[tuple[bytes, str]]:
                time.sleep(0.03)
                return receive(blocks)

            writer.send = counted_send  # type: ignore[method-assign]
            writer.receive = slow_receive  # type: ignore[method-assign]
        else:
            inner_store = node.store.write_blocks

            def slow_store(ws: Sequence[BlockWrite]) -> None:
                groups.append(len(ws))
                time.sleep(0.03)
                inner_store(ws)

            node.store.write_blocks = slow_store  # type: ignore[method-assign]
        receipts = [f.result(timeout=60) for f in node.submit_many([kv_put(k, i, k=f"h{i}") for i in range(1, n + 1)])]
    assert [r.index for r in receipts] == list(range(n))
    assert sum(groups) >= n // 4  # every block of at most 4 transactions was stored...
    assert max(groups) > 1  # ...and some were stored together
    store = Store(kv_data / DB_NAME)
    for r in receipts:
        found = store.tx_by_id(bytes.fromhex(r.txid))
        assert found is not None and found[:2] == (r.index, r.height)
        rec = store.block(r.height)
        assert rec is not None and rec.tx_count <= 4
    assert store.state_get("seq/" + k.public_hex) == str(n).encode()
    assert verify_data(kv_data, workers=1).ok


@pytest.mark.parametrize("child", [0, 1], ids=["sealer", "store"])
def test_a_dead_block_writer_fails_waiting_transactions_and_keeps_what_was_acknowledged(
    kv_data: Path, caplog: pytest.LogCaptureFixture, child: int
) -> None:
    """A block-writer child (the sealer or the store) is killed mid-run: every waiter gets an answer (no hang), the node
    refuses new work, and after a restart every acknowledged transaction is there."""
    import os
    import signal

    from anju.errors import Overloaded

    k = SigningKey(b"j" * 32)
    node = Node(kv_data, verify_workers=1, block_interval=0.005, max_block_txs=10).start()
    writer = node._writer
    assert writer is not None
    first = [f.result(timeout=60) for f in node.submit_many([kv_put(k, i, k=f"j{i}") for i in range(1, 21)])]
    os.kill(writer.pids[child], signal.SIGKILL)
    futs = node.submit_many([kv_put(k, i, k=f"j{i}") for i in range(21, 221)])
    outcomes = []
    for f in futs:
        try:
            outcomes.append(f.result(timeout=60))
        except Overloaded as exc:
            outcomes.append(exc)
    failed = [o for o in outcomes if isinstance(o, Overloaded)]
    assert failed and all(o.code == "SHUTTING_DOWN" for o in failed)
    assert node.failure is not None
    assert "storing blocks failed" in caplog.text  # said once, in the node's log
    with pytest.raises(Overloaded):
        node.submit(kv_put(k, 300))
    node.stop()
    acknowledged = first + [o for o in outcomes if not isinstance(o, Overloaded)]
    with Node(kv_data, verify_workers=0) as again:
        for r in acknowledged:
            found = again.store.tx_by_id(bytes.fromhex(r.txid))
            assert found is not None and found[:2] == (r.index, r.height)
    assert verify_data(kv_data, workers=1).ok


def test_the_sealer_reads_unstored_nodes_from_memory_until_the_store_acknowledges_them(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sealer runs ahead of a slow store with a state-map cache of 16 nodes: nearly every node it
    reads comes from the layers of groups not yet stored, or from SQLite once acknowledged. A layer
    dropped too early would give wrong roots (caught by verify) or a missing node (a failed node)."""
    import random

    slow = Store.write_blocks

    def slow_write(self: Store, ws: Sequence[BlockWrite], *args: Any, **kw: Any) -> None:
        time.sleep(0.01)
        slow(self, ws, *args, **kw)

    monkeypatch.setattr(Store, "write_blocks", slow_write)  # the forked store child inherits it
    rng = random.Random(7)
    keys = [SigningKey(bytes([i]) * 32) for i in range(1, 9)]
    node = Node(kv_data, verify_workers=1, block_interval=0.002, max_block_txs=6)
    node.executor.smt._nodes.capacity = 16  # inherited by the sealer
    with node:
        raws = [kv_put(keys[i % 8], i // 8 + 1, k=f"r{rng.randrange(400)}", v=str(i)) for i in range(400)]
        receipts = [f.result(timeout=120) for f in node.submit_many(raws)]
        assert node.failure is None
    assert len({r.height for r in receipts}) > 20
    report = verify_data(kv_data, workers=1)
    assert report.ok, report


def test_the_block_writer_seals_and_stores_a_group_and_reports_a_refused_one(kv_data: Path) -> None:
    """The two children end to end: roots and notes come back for every block of a group; a block
    the store refuses (a height already stored) is reported as an error, and nothing of it lands."""
    from anju.chain.writer import BlockWriter, Sealer
    from anju.errors import StorageCorrupt

    store = Store(kv_data / DB_NAME)
    ex = open_executor(kv_data, store)
    key = read_node_key(kv_data)
    writer = BlockWriter(kv_data / DB_NAME, Sealer(ex.hand_off_state(), key, ex.chain_id, ex.chain_id))
    k = SigningKey(b"p" * 32)
    try:
        sealed = []
        for seq in (1, 2):
            ex.begin("2026-02-01T00:00:00.000Z")
            ex.deliver(parse_and_verify(kv_put(k, seq, k=f"p{seq}")))
            sealed.append(ex.seal())
        made = writer.write([s.write for s in sealed])
        verifier = Verifier.from_vkey(store.get_meta("verifier_key").decode())  # type: ignore[union-attr]
        for s, (root, note) in zip(sealed, made, strict=True):
            cp = Checkpoint.open(note, [verifier])
            assert (cp.height, cp.state_root) == (s.write.block.height, root)
            ex.attach_note(s, note, state_root=root)
            ex.stored(s)
        again = BlockWrite(sealed[1].write.block, [], [], {}, {}, [])  # that height again
        with pytest.raises(StorageCorrupt, match="storing blocks"):
            writer.write([again])
    finally:
        writer.close()
    assert store.height() == sealed[1].write.block.height
    assert verify_data(kv_data, workers=1).ok


def test_a_group_that_cannot_be_sent_to_the_block_writer_is_answered(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pickling a group for the block-writer processes fails (a huge group, no memory left) after
    the sealer's part went: the settle thread, already waiting for that group's answer, waited for
    ever (the store child waited for the rest of it), and so did the group's transactions and
    stop(). Now the node stops taking work and answers them SHUTTING_DOWN."""
    import pickle
    import types

    from anju.chain import writer as writer_mod
    from anju.errors import Overloaded

    k = SigningKey(b"m" * 32)
    node = Node(kv_data, verify_workers=1, block_interval=0.005).start()
    first = node.submit(kv_put(k, 1)).result(timeout=60)

    def dumps(obj: Any, protocol: int | None = None) -> bytes:
        if isinstance(obj, list) and obj and isinstance(obj[0], tuple) and len(obj[0]) == 4:  # the store's part
            time.sleep(0.3)  # (the settle thread meanwhile waits for this group's answer)
            raise MemoryError
        return pickle.dumps(obj, protocol=protocol)

    fake = types.SimpleNamespace(dumps=dumps, loads=pickle.loads, HIGHEST_PROTOCOL=pickle.HIGHEST_PROTOCOL)
    monkeypatch.setattr(writer_mod, "pickle", fake)
    fut = node.submit(kv_put(k, 2))
    with pytest.raises(Overloaded) as info:
        fut.result(timeout=30)
    assert info.value.code == "SHUTTING_DOWN" and isinstance(node.failure, MemoryError)
    stop_in_time(node)
    only_committed(kv_data, first.txid)
