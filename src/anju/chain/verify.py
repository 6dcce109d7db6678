"""Full verification of a data directory: replay the ledger from genesis and compare everything.

``verify_data`` re-checks every signature and ``seq`` (by re-executing every transaction), every
execution result, every root and every checkpoint signature; the replay writes its own copy of
every derived table into a scratch SQLite file and then compares the two files table by table,
so that an edit to any committed data — a transaction, a block, a checkpoint, a state entry, a
state-map node, a log node, an event row or its index — is reported with the first height and record that is
wrong.
"""

from __future__ import annotations

import collections
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from anju.chain.apps import load_app
from anju.chain.executor import Executor, canonical_genesis
from anju.chain.node import DB_NAME, read_genesis, verify_chunk, write_genesis
from anju.crypto.tx import Tx
from anju.errors import AnjuError
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import Verifier
from anju.ledger.store import BlockRecord, Store

# table -> (columns compared, order, how to name a row)
TABLES: dict[str, tuple[str, str]] = {
    "blocks": ("height, time, first_index, tx_count, log_size, log_root, state_root", "height"),
    "txs": ("idx, txid, height, leaf", "idx"),
    "tlog_nodes": ("level, idx, hash", "level, idx"),
    "state": ("key, value", "key"),
    "smt_tiles": ("id, v", "id"),
    "smt_deep": ("id, v", "id"),
    "events": ("id, height, idx, txid, kind, data, parties, units, listings", "id"),
    "event_refs": ("ref, id", "ref, id"),  # store format 6
}


@dataclass
class Summary:
    ok: bool
    chain_id: str = ""
    height: int = -1
    transactions: int = 0
    log_root: str = ""
    state_root: str = ""
    seconds: float = 0.0
    error: str | None = None
    error_height: int | None = None
    details: dict[str, object] = field(default_factory=dict)


class Failure(Exception):
    def __init__(self, height: int | None, message: str, **details: object) -> None:
        super().__init__(message)
        self.height = height
        self.details = details


def _checked_blocks(
    store: Store, pool: ProcessPoolExecutor | None, batch: int = 64
) -> Iterator[tuple[BlockRecord, list[tuple[int, bytes, bytes]], list[Tx | AnjuError]]]:
    """Blocks from height 1 with their transactions, signatures verified ahead (in parallel)."""
    pending: collections.deque[tuple[BlockRecord, list[tuple[int, bytes, bytes]], Future[list[Tx | AnjuError]]]]
    pending = collections.deque()
    for b in store.blocks(1):
        rows = store.block_txs(b.height)
        leaves = [leaf for _, _, leaf in rows]
        if pool is not None:
            fut = pool.submit(verify_chunk, leaves)
        else:
            fut = Future()
            fut.set_result(verify_chunk(leaves))
        pending.append((b, rows, fut))
        if len(pending) >= batch:
            blk, rws, f = pending.popleft()
            yield blk, rws, f.result()
    while pending:
        blk, rws, f = pending.popleft()
        yield blk, rws, f.result()


def verify_data(
    data: Path,
    *,
    trusted_vkey: str | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Replay ``data`` from genesis; return a summary naming the first error, if any."""
    t0 = time.perf_counter()
    data = Path(data)
    store = Store(data / DB_NAME, readonly=True)
    summary = Summary(ok=False)
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        with tempfile.TemporaryDirectory(prefix="anju-verify-") as tmp:
            _replay(data, store, Path(tmp), summary, trusted_vkey, pool, progress)
        summary.ok = True
    except Failure as exc:
        summary.error = str(exc)
        summary.error_height = exc.height
        summary.details = dict(exc.details)
    except AnjuError as exc:
        summary.error = exc.message
        summary.details = dict(exc.details)
    except (TypeError, ValueError, KeyError, UnicodeError, sqlite3.DatabaseError) as exc:
        # A record of the wrong type or shape: the data was edited outside Anju.
        summary.error = f"malformed record after height {summary.height}: {type(exc).__name__}: {exc}"
        summary.error_height = summary.height + 1
    finally:
        if pool is not None:
            pool.shutdown()
        store.close()
        summary.seconds = time.perf_counter() - t0
    return summary


def _replay(
    data: Path,
    store: Store,
    tmp: Path,
    summary: Summary,
    trusted_vkey: str | None,
    pool: ProcessPoolExecutor | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    doc = read_genesis(data)
    if store.get_meta("genesis") != canonical_genesis(doc):
        raise Failure(0, "the stored genesis document differs from genesis.json")
    chain_id = str(doc["chain_id"])
    summary.chain_id = chain_id
    vkey_raw = store.get_meta("verifier_key")
    vkey = trusted_vkey or (vkey_raw.decode() if vkey_raw else None)
    if vkey is None:
        raise Failure(0, "no verifier key: pass --key or keep meta.verifier_key")
    if trusted_vkey and vkey_raw and vkey_raw.decode() != trusted_vkey:
        raise Failure(
            0,
            "the ledger's published verifier key is not the trusted key",
            stored=vkey_raw.decode(),
            trusted=trusted_vkey,
        )
    verifier = Verifier.from_vkey(vkey)
    # A ledger whose signing key changed at some height (a consortium started from it): with no
    # trusted key given, each block's note is checked against the key of its height.
    history_raw = store.get_meta("verifier_keys")
    schedule = [(0, verifier)]
    if history_raw and not trusted_vkey:
        schedule = [(int(h), Verifier.from_vkey(str(v))) for h, v in orjson.loads(history_raw)]

    def verifier_at(h: int) -> Verifier:
        return [v for start, v in schedule if start <= h][-1]

    tip = store.height()
    if tip < 0:
        raise Failure(None, "the ledger has no genesis block")

    replay = Store(tmp / DB_NAME)
    replay._conn().execute("PRAGMA synchronous=OFF")
    write_genesis(replay, doc, None)
    g0 = store.block(0)
    r0 = replay.block(0)
    assert r0 is not None
    if g0 is None or (g0.log_root, g0.state_root, g0.log_size, g0.time) != (r0.log_root, r0.state_root, 0, r0.time):
        raise Failure(0, "block 0 does not match the genesis state")
    _check_note(g0, verifier_at(0), Checkpoint(chain_id, 0, r0.log_root, 0, r0.state_root, r0.time))
    replay._conn().execute("UPDATE blocks SET checkpoint=? WHERE height=0", (g0.checkpoint,))
    ex = Executor(replay, load_app(str(doc["app"])), chain_id)

    expected_height = 1
    for block, rows, verified in _checked_blocks(store, pool):
        h = block.height
        if h != expected_height:
            raise Failure(h, f"block heights jump from {expected_height - 1} to {h}")
        expected_height += 1
        if block.first_index != ex.sealed_tip.log_size or block.tx_count != len(rows):
            raise Failure(
                h,
                "the block's transaction range does not follow the log",
                first_index=block.first_index,
                tx_count=block.tx_count,
                txs_found=len(rows),
            )
        ex.begin(block.time)
        for (idx, txid, leaf), tx in zip(rows, verified, strict=True):
            if isinstance(tx, AnjuError):
                raise Failure(h, f"transaction at log index {idx}: {tx.code}: {tx.message}", index=idx)
            if tx.leaf != leaf:
                raise Failure(h, f"log leaf {idx} is not the canonical JSON of its envelope", index=idx)
            if bytes.fromhex(tx.txid) != txid:
                raise Failure(h, f"stored id of log leaf {idx} is not its transaction id", index=idx, txid=tx.txid)
            try:
                ex.deliver(tx)
            except AnjuError as exc:
                raise Failure(
                    h,
                    f"transaction {tx.txid} (log index {idx}) is rejected on replay: {exc.code}: {exc.message}",
                    index=idx,
                    txid=tx.txid,
                ) from None
        sealed = ex.seal()
        cp = sealed.checkpoint
        if (cp.size, cp.root, cp.state_root) != (block.log_size, block.log_root, block.state_root):
            raise Failure(
                h,
                "the block's roots differ from the replayed roots",
                stored_state_root=block.state_root.hex(),
                replayed_state_root=cp.state_root.hex(),
                stored_log_root=block.log_root.hex(),
                replayed_log_root=cp.root.hex(),
            )
        _check_note(block, verifier_at(h), cp)
        ex.commit(sealed, block.checkpoint)
        summary.transactions += len(rows)
        summary.height = h
        if progress is not None:
            progress(h, tip)
    if summary.height < 0:
        summary.height = 0
    if expected_height - 1 != tip:
        raise Failure(tip, "the blocks table has gaps")
    last = store.block(tip)
    assert last is not None
    summary.log_root = last.log_root.hex()
    summary.state_root = last.state_root.hex()
    replay.close()
    _compare_tables(store, tmp / DB_NAME)


def _check_note(block: BlockRecord, verifier: Verifier, expected: Checkpoint) -> None:
    try:
        got = Checkpoint.open(block.checkpoint, [verifier])
    except AnjuError as exc:
        raise Failure(block.height, f"checkpoint of block {block.height} does not verify: {exc.message}") from None
    if got != expected:
        raise Failure(
            block.height,
            f"checkpoint of block {block.height} does not commit to the replayed block",
            stored=block.checkpoint,
            expected=expected.to_text(),
        )


def _compare_tables(store: Store, replay_path: Path) -> None:
    conn = store._conn()
    conn.execute("ATTACH DATABASE ? AS replay", (f"file:{replay_path}?mode=ro",))
    try:
        for table, (cols, order) in TABLES.items():
            if not _has_table(conn, table):
                if table == "event_refs" and not store.event_index:
                    continue  # format 5 or older: moved when a node opens it
                raise Failure(None, f"stored table {table!r} is missing", table=table)
            for a, b, what in (("main", "replay", "changed or added"), ("replay", "main", "missing")):
                row = conn.execute(
                    f"SELECT {cols} FROM {a}.{table} EXCEPT SELECT {cols} FROM {b}.{table} ORDER BY {order} LIMIT 1"
                ).fetchone()
                if row is not None:
                    height = _row_height(table, row)
                    raise Failure(height, f"stored table {table!r} has a {what} row: {_show(row)}", table=table)
    finally:
        conn.execute("DETACH DATABASE replay")


def _has_table(conn: sqlite3.Connection, table: str) -> bool:
    """``table`` exists in the stored file (whatever its format stamp says)."""
    return (
        conn.execute("SELECT 1 FROM main.sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is not None
    )


def _row_height(table: str, row: tuple[object, ...]) -> int | None:
    col = {"blocks": 0, "txs": 2, "events": 1}.get(table)
    value = None if col is None else row[col]
    return value if isinstance(value, int) else None


def _show(row: tuple[object, ...]) -> str:
    parts = []
    for v in row:
        if isinstance(v, bytes):
            parts.append(v.hex()[:24] + ("…" if len(v) > 12 else ""))
        else:
            s = str(v)
            parts.append(s[:60] + ("…" if len(s) > 60 else ""))
    return "(" + ", ".join(parts) + ")"
