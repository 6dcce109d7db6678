"""Full verification of a data directory: replay the ledger from genesis and compare everything.

``verify_data`` re-checks every signature and ``seq`` (by re-executing every transaction), every
execution result, every root and every checkpoint signature; the replay writes its own copy of
every derived table into a scratch SQLite file and then compares the two files table by table,
so that an edit to any committed data — a transaction, a block, a checkpoint, a meta row, a state entry, a
state-map node, a log node, an event row or its index — is reported with the first height and record that is
wrong. Before replaying, the stored file must pass SQLite's full ``integrity_check`` (an index that no
longer matches its table) and hold exactly the schema of its stamped store format (plus the API's
known indexes): no other table, index, trigger or view. Everything is read in one read transaction,
so a live node's data directory is verified as of one moment.
"""

from __future__ import annotations

import collections
import itertools
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from anju.chain.abci.app import MEMBER_FILE, MemberConfig
from anju.chain.apps import load_app
from anju.chain.executor import Executor, canonical_genesis
from anju.chain.node import DB_NAME, GENESIS_NAME, read_genesis, verify_chunk, write_genesis
from anju.crypto.tx import Tx
from anju.errors import AnjuError
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import Verifier, parse_note
from anju.ledger.store import REGISTRY_INDEXES, BlockRecord, Store, schema_of

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
    no_ledger: bool = False  # DIR holds no ledger at all (nothing was verified)
    verifier_key: str = ""  # the key the newest checkpoints were checked against
    key_trusted: bool = False  # it was given (--key), not taken from the ledger itself

    @property
    def exit_code(self) -> int:
        """``anju verify``'s exit status: 0 verified, 1 something is wrong, 2 no ledger in DIR."""
        return 0 if self.ok else 2 if self.no_ledger else 1


class Failure(Exception):
    def __init__(self, height: int | None, message: str, **details: object) -> None:
        super().__init__(message)
        self.height = height
        self.details = details


class NoLedger(Failure):
    """The directory holds no ledger (no ``ledger.db``, or an empty file)."""


def _checked_blocks(
    conn: sqlite3.Connection, pool: ProcessPoolExecutor | None, batch: int = 64
) -> Iterator[tuple[BlockRecord, list[tuple[int, bytes, bytes]], list[Tx | AnjuError]]]:
    """Blocks from height 1 with their transactions, signatures verified ahead (in parallel). A
    block whose rows cannot be read as the store writes them raises its Failure when its turn
    comes (not when it is read ahead: the blocks before it are replayed first)."""
    pending: collections.deque[
        tuple[BlockRecord, list[tuple[int, bytes, bytes]], Future[list[Tx | AnjuError]]] | Failure
    ] = collections.deque()

    def next_ready() -> tuple[BlockRecord, list[tuple[int, bytes, bytes]], list[Tx | AnjuError]]:
        item = pending.popleft()
        if isinstance(item, Failure):
            raise item
        blk, rws, f = item
        return blk, rws, f.result()

    heights = conn.execute("SELECT height FROM main.blocks WHERE height >= 1 ORDER BY height")
    for (h,) in heights:
        try:
            b, rows = _stored_block(conn, h)
        except Failure as exc:
            pending.append(exc)
        else:
            leaves = [leaf for _, _, leaf in rows]
            if pool is not None:
                fut = pool.submit(verify_chunk, leaves)
            else:
                fut = Future()
                fut.set_result(verify_chunk(leaves))
            pending.append((b, rows, fut))
        if len(pending) >= batch:
            yield next_ready()
    while pending:
        yield next_ready()


# The SQLite type of each value the replay reads (what the store writes; SQLite keeps any type in
# any column, and would convert or compare some of them equal).
_BLOCK_COLUMNS = (
    ("time", "text"),
    ("first_index", "integer"),
    ("tx_count", "integer"),
    ("log_size", "integer"),
    ("log_root", "blob"),
    ("state_root", "blob"),
    ("checkpoint", "text"),
)


def _stored_block(conn: sqlite3.Connection, height: int) -> tuple[BlockRecord, list[tuple[int, bytes, bytes]]]:
    """Block ``height``'s stored row and its transactions' rows (idx, txid, leaf), each value of
    the type the store writes; Failure at ``height`` naming the first value that is not (text is
    read as bytes and decoded here: SQLite keeps text that is not UTF-8 as it was given)."""
    cols = ", ".join(
        f"CASE typeof({c}) WHEN 'text' THEN CAST({c} AS BLOB) ELSE {c} END, typeof({c})" for c, _ in _BLOCK_COLUMNS
    )
    row = conn.execute(f"SELECT {cols} FROM main.blocks WHERE height=?", (height,)).fetchone()
    if row is None:
        raise Failure(height, f"block {height} is missing")
    values: list[object] = []
    for n, (column, want) in enumerate(_BLOCK_COLUMNS):
        value, found = row[2 * n], row[2 * n + 1]
        if found != want:
            raise Failure(height, f"stored block {height}'s {column} is {_a(found)}, not {_a(want)}", column=column)
        if want == "text":
            try:
                value = bytes(value).decode()
            except UnicodeDecodeError:
                raise Failure(
                    height, f"stored block {height}'s {column} is text that is not UTF-8", column=column
                ) from None
        values.append(value)
    time, first, count, size, log_root, state_root, checkpoint = values
    assert isinstance(time, str) and isinstance(checkpoint, str)
    assert isinstance(first, int) and isinstance(count, int) and isinstance(size, int)
    assert isinstance(log_root, bytes) and isinstance(state_root, bytes)
    record = BlockRecord(height, time, first, count, size, log_root, state_root, checkpoint)
    txs = []
    for idx, txid, leaf, txid_type, leaf_type in conn.execute(
        "SELECT idx, CAST(txid AS BLOB), CAST(leaf AS BLOB), typeof(txid), typeof(leaf) FROM main.txs "
        "WHERE height=? ORDER BY idx",
        (height,),
    ):
        for column, found in (("txid", txid_type), ("leaf", leaf_type)):
            if found != "blob":
                raise Failure(
                    height, f"stored log leaf {idx}'s {column} is {_a(found)}, not a blob", index=idx, column=column
                )
        txs.append((idx, bytes(txid), bytes(leaf)))
    return record, txs


def _a(sqlite_type: str) -> str:
    return {"integer": "an integer", "text": "text", "blob": "a blob", "real": "a real", "null": "null"}.get(
        sqlite_type, sqlite_type
    )


def verify_data(
    data: Path,
    *,
    trusted_vkey: str | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Replay ``data`` from genesis; return a summary naming the first error, if any (never raises
    for bad data: every failure is in the summary)."""
    t0 = time.perf_counter()
    data = Path(data)
    summary = Summary(ok=False)
    store: Store | None = None
    pool: ProcessPoolExecutor | None = None
    try:
        store = _open_store(data)
        pool = ProcessPoolExecutor(workers) if workers > 1 else None
        with tempfile.TemporaryDirectory(prefix="anju-verify-") as tmp:
            _replay(data, store, Path(tmp), summary, trusted_vkey, pool, progress)
        summary.ok = True
    except NoLedger as exc:
        summary.no_ledger = True
        summary.error = str(exc)
    except Failure as exc:
        summary.error = str(exc)
        summary.error_height = exc.height
        summary.details = dict(exc.details)
    except AnjuError as exc:
        summary.error = f"{exc.code}: {exc.message}"
        summary.details = {"code": exc.code, **exc.details}
    except (TypeError, ValueError, KeyError, IndexError, UnicodeError, sqlite3.DatabaseError, OSError) as exc:
        damaged = _damaged(data / DB_NAME, exc) if isinstance(exc, sqlite3.DatabaseError) else None
        if damaged is not None:  # SQLite cannot read the file itself (met while reading it)
            summary.error = str(damaged)
            summary.details = dict(damaged.details)
        else:  # a record of the wrong type or shape: the data was edited outside Anju
            summary.error = f"malformed record after height {summary.height}: {type(exc).__name__}: {exc}"
            summary.error_height = summary.height + 1
    finally:
        if pool is not None:
            pool.shutdown()
        if store is not None:
            store.close()
        summary.seconds = time.perf_counter() - t0
    return summary


def _damaged(db: Path, exc: sqlite3.DatabaseError) -> Failure | None:
    """The report of ``db`` when ``exc`` says SQLite cannot read it as a database (not one at all,
    or a damaged one: truncated, overwritten); None for any other SQLite error."""
    code = getattr(exc, "sqlite_errorcode", None)
    what = {sqlite3.SQLITE_NOTADB: "is not a SQLite database", sqlite3.SQLITE_CORRUPT: "is damaged"}.get(
        code & 0xFF if isinstance(code, int) else -1
    )
    if what is None:
        return None
    return Failure(None, f"{db} {what} (SQLite: {exc})", file=str(db), sqlite_error=exc.sqlite_errorname)


def _open_store(data: Path) -> Store:
    """The ledger in ``data``, read-only; NoLedger if there is none, Failure if it is no SQLite file."""
    db = data / DB_NAME
    if not db.is_file():
        raise NoLedger(
            None, f"no ledger in {data}: {DB_NAME} does not exist (give --data the directory that holds one)"
        )
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise _damaged(db, exc) or Failure(None, f"{db} cannot be read: {exc}", file=str(db)) from None
    if not objects:
        raise NoLedger(None, f"no ledger in {data}: {DB_NAME} is empty")
    try:
        return Store(db, readonly=True)
    except sqlite3.DatabaseError as exc:
        raise _damaged(db, exc) or Failure(None, f"{db} is not an Anju ledger: {exc}", file=str(db)) from None


def _replay(
    data: Path,
    store: Store,
    tmp: Path,
    summary: Summary,
    trusted_vkey: str | None,
    pool: ProcessPoolExecutor | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Everything read from ``store`` in one read transaction (one WAL snapshot): a node writing
    meanwhile changes nothing this sees. The replay is attached first (ATTACH is not allowed inside
    a transaction); its rows are read only after it is complete."""
    replay = Store(tmp / DB_NAME)
    replay._conn().execute("PRAGMA synchronous=OFF")
    conn = store._conn()
    conn.execute("ATTACH DATABASE ? AS replay", (f"file:{tmp / DB_NAME}?mode=ro",))
    try:
        conn.execute("BEGIN")
        try:
            _check_file(conn, data / DB_NAME)
            _replay_snapshot(data, store, replay, summary, trusted_vkey, pool, progress)
            _compare_tables(conn)
        finally:
            conn.execute("COMMIT")  # a read transaction: nothing to keep or undo
    finally:
        replay.close()
        conn.execute("DETACH DATABASE replay")


def _check_file(conn: sqlite3.Connection, db: Path) -> None:
    """The stored file ``db`` is a sound SQLite database (every index agrees with its table) holding
    exactly the schema of its store format: the tables, indexes and (only) the API's known indexes."""
    problems = [" ".join(str(r[0]).split()) for r in conn.execute("PRAGMA main.integrity_check")]  # one line each
    if problems != ["ok"]:
        raise Failure(
            None,
            f"{db} is damaged: it fails SQLite's integrity check: {'; '.join(problems[:3])}",
            file=str(db),
            problems=problems[:20],
        )
    row = conn.execute("SELECT value, typeof(value) FROM main.meta WHERE key='store_format'").fetchone()
    stamp = b"" if row is None else bytes(row[0]) if row[1] == "blob" else str(row[0]).encode()
    try:
        if row is None or row[1] != "blob":
            raise ValueError("not stamped as the store stamps it")
        ddl = schema_of(stamp)
    except ValueError:
        raise Failure(None, f"meta.store_format is {stamp!r}: not a store format this build verifies") from None
    expected = _schema(ddl)
    optional = _schema(ddl, REGISTRY_INDEXES) - expected
    found = set(conn.execute("SELECT type, name, tbl_name, sql FROM main.sqlite_master"))
    for kind, name, _tbl, sql in sorted(expected - found, key=str):
        changed = [f for f in found if f[1] == name]
        what = "is changed" if changed else "is missing"
        raise Failure(
            None,
            f"the stored schema differs from store format {stamp.decode()}: {kind} {name!r} {what}",
            expected=sql,
            found=changed[0][3] if changed else None,
        )
    for kind, name, _tbl, sql in sorted(found - expected - optional, key=str):
        raise Failure(
            None,
            f"the stored schema differs from store format {stamp.decode()}: unexpected {kind} {name!r}",
            found=sql,
        )


def _schema(ddl: str, extra: tuple[str, ...] = ()) -> set[tuple[str, str, str, str | None]]:
    """(type, name, tbl_name, sql) of every object ``ddl`` and ``extra`` create, as SQLite records them."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(ddl)
        for sql in extra:
            conn.execute(sql)
        return set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    finally:
        conn.close()


def _key_schedule(store: Store, trusted_vkey: str | None) -> list[tuple[int, Verifier]]:
    """Which key signs the ledger's checkpoints from which height on."""
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
    # A ledger whose signing key changed at some height (a consortium started from it): with no
    # trusted key given, each block's note is checked against the key of its height.
    history_raw = store.get_meta("verifier_keys")
    if not history_raw or trusted_vkey:
        return [(0, Verifier.from_vkey(vkey))]
    try:
        history = orjson.loads(history_raw)
        schedule = [(h, Verifier.from_vkey(v)) for h, v in history if type(h) is int and isinstance(v, str)]
        if len(schedule) != len(history) or len(history) == 0:
            raise ValueError("not a list of [height, verifier key]")
    except (ValueError, TypeError, AnjuError) as exc:
        raise Failure(0, f"meta.verifier_keys is malformed: {exc}") from None
    heights = [h for h, _ in schedule]
    if heights[0] != 0 or any(b <= a for a, b in itertools.pairwise(heights)):
        raise Failure(0, "meta.verifier_keys does not start at height 0 with heights increasing", heights=heights)
    if schedule[-1][1].vkey != vkey:
        raise Failure(0, "meta.verifier_keys does not end with meta.verifier_key", last=schedule[-1][1].vkey)
    return schedule


# The rows of ``meta``: those every ledger has (written with its block 0, the format stamp by the
# store), and the signer's history of a ledger whose signing key changed (a consortium started from it).
_META_KEYS = ("chain_id", "genesis", "store_format", "verifier_key")
_META_OPTIONAL = ("verifier_keys",)


def _check_meta(conn: sqlite3.Connection) -> None:
    """``meta`` holds exactly the rows the store writes there, each value a blob (their values are
    checked where they are used: the genesis, the chain id, the keys, the format)."""
    keys = set()
    for key, key_type, value_type in conn.execute(
        "SELECT CAST(key AS BLOB), typeof(key), typeof(value) FROM main.meta ORDER BY key"
    ):
        name = bytes(key).decode(errors="backslashreplace")
        if key_type != "text" or name not in _META_KEYS + _META_OPTIONAL:
            raise Failure(0, f"meta holds a row the store never writes: {name!r}", key=name)
        if value_type != "blob":
            raise Failure(0, f"meta.{name} is {_a(value_type)}, not a blob as the store writes it", key=name)
        keys.add(name)
    for name in _META_KEYS:
        if name not in keys:
            raise Failure(0, f"meta.{name} is missing", key=name)


@dataclass(frozen=True)
class _Cosigners:
    """A consortium member's ledger (``consortium.json`` in DIR): from ``first_height`` on, a note
    may carry the other members' cosignatures; a member stores its own note at once and replaces
    it by the cosigned one when ``threshold`` members have signed."""

    first_height: int
    members: tuple[Verifier, ...]
    threshold: int


def _cosigners(data: Path) -> _Cosigners | None:
    if not (data / MEMBER_FILE).exists():
        return None
    try:
        cfg = MemberConfig.load(data)
        members = tuple(Verifier.from_vkey(m.vkey) for m in cfg.members)
    except (OSError, ValueError, TypeError, KeyError, AnjuError) as exc:
        raise Failure(None, f"{data / MEMBER_FILE} is malformed: {exc}") from None
    if len({(v.name, v.key_id) for v in members}) != len(members) or not 1 <= cfg.threshold <= len(members):
        raise Failure(None, f"{data / MEMBER_FILE} lists a member twice or a threshold that is not 1..{len(members)}")
    return _Cosigners(cfg.first_height, members, cfg.threshold)


def _replay_snapshot(
    data: Path,
    store: Store,
    replay: Store,
    summary: Summary,
    trusted_vkey: str | None,
    pool: ProcessPoolExecutor | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    try:
        doc = read_genesis(data)
    except (OSError, ValueError) as exc:
        raise Failure(0, f"{GENESIS_NAME} is missing or unreadable: {exc}") from None
    _check_meta(store._conn())
    if store.get_meta("genesis") != canonical_genesis(doc):
        raise Failure(0, "the stored genesis document differs from genesis.json")
    chain_id = str(doc["chain_id"])
    if store.get_meta("chain_id") != chain_id.encode():
        raise Failure(0, "meta.chain_id is not the chain id of genesis.json", chain_id=chain_id)
    summary.chain_id = chain_id
    schedule = _key_schedule(store, trusted_vkey)
    summary.verifier_key = schedule[-1][1].vkey
    summary.key_trusted = trusted_vkey is not None
    cosigners = _cosigners(data)
    below_quorum = 0

    def check_note(block: BlockRecord, expected: Checkpoint) -> None:
        nonlocal below_quorum
        own = [v for start, v in schedule if start <= block.height][-1]
        if cosigners is None or block.height < cosigners.first_height:
            _check_note(block, expected, own, (own,), 1)
        elif _check_note(block, expected, own, cosigners.members, cosigners.threshold) < cosigners.threshold:
            below_quorum += 1

    tip = store.height()
    if tip < 0:
        raise Failure(None, "the ledger has no genesis block")

    write_genesis(replay, doc, None)
    g0, _ = _stored_block(store._conn(), 0)
    r0 = replay.block(0)
    assert r0 is not None
    differ = [
        name
        for name, stored, replayed in (
            ("time", g0.time, r0.time),
            ("first_index", g0.first_index, 0),
            ("tx_count", g0.tx_count, 0),
            ("log_size", g0.log_size, 0),
            ("log_root", g0.log_root, r0.log_root),
            ("state_root", g0.state_root, r0.state_root),
        )
        if stored != replayed
    ]
    if differ:
        raise Failure(0, f"block 0 does not match the genesis state: its {', '.join(differ)} differ", columns=differ)
    check_note(g0, Checkpoint(chain_id, 0, r0.log_root, 0, r0.state_root, r0.time))
    replay._conn().execute("UPDATE blocks SET checkpoint=? WHERE height=0", (g0.checkpoint,))
    ex = Executor(replay, load_app(str(doc["app"])), chain_id)

    expected_height = 1
    for block, rows, verified in _checked_blocks(store._conn(), pool):
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
        try:
            sealed = ex.seal()
        except AnjuError as exc:  # (the block's time is not a checkpoint's)
            raise Failure(
                h, f"block {h} cannot be sealed on replay: {exc.code}: {exc.message}", time=block.time
            ) from None
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
        check_note(block, cp)
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
    if cosigners is not None:
        summary.details["cosigned_below_threshold"] = below_quorum
    replay.close()


def _check_note(
    block: BlockRecord, expected: Checkpoint, own: Verifier, signers: tuple[Verifier, ...], threshold: int
) -> int:
    """The stored note must be exactly ``expected``'s text in canonical form with signature lines
    only by ``signers``, each once and each valid, one of them ``own`` (the key of this height).
    With ``threshold`` 1 that is the single line the node signs; a consortium member's note holds
    its own line alone (until the cosignatures arrive) or at least ``threshold`` lines. Returns
    the number of signatures."""
    h = block.height
    try:
        note = parse_note(block.checkpoint)
    except AnjuError as exc:
        raise Failure(h, f"checkpoint of block {h} does not verify: {exc.message}") from None
    if note.text != expected.to_text():
        raise Failure(
            h,
            f"checkpoint of block {h} does not commit to the replayed block",
            stored=block.checkpoint,
            expected=expected.to_text(),
        )
    if note.format() != block.checkpoint:
        raise Failure(h, f"checkpoint of block {h} is not in canonical form", stored=block.checkpoint)
    known = {(v.name, v.key_id): v for v in signers}
    seen: set[tuple[str, bytes]] = set()
    body = note.text.encode()
    for sig in note.signatures:
        who = (sig.name, sig.key_id)
        signer = known.get(who)
        if signer is None:
            hint = (
                " (a consortium member's notes carry the other members' cosignatures: put the member's "
                f"{MEMBER_FILE} in the data directory so that they are checked too)"
                if len(signers) == 1
                else ""
            )
            raise Failure(
                h, f"checkpoint of block {h} does not verify: a signature line by an unknown key {sig.name!r}{hint}"
            )
        if who in seen:
            raise Failure(h, f"checkpoint of block {h} does not verify: it repeats a signature by {sig.name!r}")
        seen.add(who)
        if not signer.verify(body, sig.sig):
            raise Failure(h, f"checkpoint of block {h} does not verify: a signature by {sig.name!r} is wrong")
    if (own.name, own.key_id) not in seen:
        raise Failure(h, f"checkpoint of block {h} does not verify: it is not signed by the ledger's key {own.vkey}")
    if 1 < len(seen) < threshold or (threshold == 1 and len(seen) != 1):
        raise Failure(h, f"checkpoint of block {h} has {len(seen)} signatures: expected 1 or at least {threshold}")
    return len(seen)


# Columns that give a differing row's place in the ledger, looked up in the replay (a stored row's
# own height column is what may have been edited): table -> SQL giving the height for the row's key.
_HEIGHT_OF = {
    "blocks": ("SELECT height FROM replay.blocks WHERE height=?", (0,)),
    "txs": ("SELECT height FROM replay.blocks WHERE first_index <= ?1 AND ?1 < first_index + tx_count", (0,)),
    "tlog_nodes": ("SELECT MIN(height) FROM replay.blocks WHERE log_size >= ((?2 + 1) << ?1)", (0, 1)),
    "events": ("SELECT height FROM replay.events WHERE id=?", (0,)),
    "event_refs": ("SELECT height FROM replay.events WHERE id=?", (1,)),
    # The current state and its map are the state after the last block (whose root they must give).
    **dict.fromkeys(("state", "smt_tiles", "smt_deep"), ("SELECT MAX(height) FROM replay.blocks", ())),
}


def _compare_tables(conn: sqlite3.Connection) -> None:
    """Every derived table, row for row and value type for value type, against the replay."""
    for table, (cols, order) in TABLES.items():
        if not _has_table(conn, table):
            continue  # event_refs of a format-5 ledger (the schema check caught any other absence)
        # typeof: 40 and 40.0 compare equal in SQL; a value of the wrong type is an edit too.
        types = "||','||".join(f"typeof({c.strip()})" for c in cols.split(","))
        for a, b, what in (("main", "replay", "changed or added"), ("replay", "main", "missing")):
            row = conn.execute(
                f"SELECT {cols}, {types} FROM {a}.{table} EXCEPT SELECT {cols}, {types} FROM {b}.{table} "
                f"ORDER BY {order} LIMIT 1"
            ).fetchone()
            if row is not None:
                height = _row_height(conn, table, row)
                raise Failure(height, f"stored table {table!r} has a {what} row: {_show(row)}", table=table)


def _has_table(conn: sqlite3.Connection, table: str) -> bool:
    """``table`` exists in the stored file (whatever its format stamp says)."""
    return (
        conn.execute("SELECT 1 FROM main.sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is not None
    )


def _row_height(conn: sqlite3.Connection, table: str, row: tuple[object, ...]) -> int | None:
    """The height of the replayed block a differing row belongs to (None: the final state, or a row
    the replay has no place for)."""
    spec = _HEIGHT_OF.get(table)
    if spec is None:
        return None
    sql, cols = spec
    found = conn.execute(sql, tuple(row[c] for c in cols)).fetchone()
    return found[0] if found is not None and isinstance(found[0], int) else None


def _show(row: tuple[object, ...]) -> str:
    parts = []
    for v in row:
        if isinstance(v, bytes):
            parts.append(v.hex()[:24] + ("…" if len(v) > 12 else ""))
        else:
            s = str(v)
            parts.append(s[:60] + ("…" if len(s) > 60 else ""))
    return "(" + ", ".join(parts) + ")"
