"""The embedded node: verifies, sequences, executes and commits blocks (with worker processes).

Pipeline (each stage keeps submission order):

    submit(raw) ─► verifier processes (parse, JCS, Ed25519; both cores) ─► sequencer thread
    (seq + application, block open ≤ ``block_interval``) ─► writer thread (groups the blocks
    waiting) ─► sealer process (state map, signed checkpoints) ─► store process (one SQLite
    transaction per group, fsync) ─► settle thread: futures resolved, the receipt means
    "durably committed". Without worker processes the writer thread signs and stores itself.

While the writer stores block *h*, the sequencer already executes block *h + 1* on top of it.
Blocks are cut every ``block_interval`` whatever the load; when the writer falls behind, it
stores the blocks waiting for it in one SQLite transaction (group commit): the state-map pages
and the fsync that dominate a small block's cost are then paid once per group.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import fcntl
import gc
import logging
import multiprocessing.context
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Semaphore as SemaphoreType
from pathlib import Path
from typing import Any, ClassVar, Protocol

import orjson

from anju.chain.apps import load_app
from anju.chain.executor import SMT_CACHE_TILES, Executor, Sealed, canonical_genesis, events_rows, genesis_writes
from anju.chain.writer import BlockWriter, Sealer, child_signals, stop_signals_blocked
from anju.crypto.keys import SigningKey
from anju.crypto.tx import MAX_TX_BYTES, Tx, check_sigs, parse_and_verify
from anju.errors import AnjuError, Overloaded, StorageCorrupt, TxRejected
from anju.files import sync_dir, write_whole
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint, is_block_time
from anju.ledger.note import vkey_of
from anju.ledger.statemap import MemoryNodeStore, StateMap
from anju.ledger.store import BlockRecord, BlockWrite, Store
from anju.registry.port import Event

DB_NAME = "ledger.db"
GENESIS_NAME = "genesis.json"
KEY_NAME = "node.key"
LOCK_NAME = "ledger.lock"
LOCK_WAIT_S = 2.0
"""How long a node waits for another process to let go of its data directory (one stopping)."""
log = logging.getLogger("anju.node")
WRITE_QUEUE = 16
"""Sealed blocks that may wait for the writer before the sequencer pauses."""
GROUP_MAX_TXS = 20_000
"""The writer stores waiting blocks together up to this many transactions (group commit)."""


def now_rfc3339() -> str:
    """Wall-clock time, RFC 3339 UTC with milliseconds (only the chain layer reads the clock)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of commit: where the transaction sits in the log and which block holds it."""

    txid: str
    height: int
    index: int
    events: tuple[Event, ...] = ()


class Slot(Protocol):
    """Where one submitted transaction's outcome goes: a :class:`~concurrent.futures.Future` (what
    :meth:`Node.submit_many` and the other public calls return), or a lighter object of the
    caller's (:meth:`Node.submit_parsed_to`: the HTTP API's, which needs no lock or condition per
    transaction). The node calls ``set_running_or_notify_cancel`` when it executes the transaction
    (False: cancelled, dropped), then exactly one of ``set_result`` / ``set_exception`` unless
    ``cancelled()``."""

    def set_running_or_notify_cancel(self) -> bool: ...

    def cancelled(self) -> bool: ...

    def set_result(self, result: Receipt, /) -> None: ...

    def set_exception(self, exception: BaseException | None, /) -> None: ...


class UncancelledSlot:
    """A base for a caller's own :class:`Slot` that is never cancelled (the node always runs its
    transaction): a subclass defines ``set_result`` and ``set_exception``."""

    __slots__ = ()

    def set_running_or_notify_cancel(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False


def verify_chunk(raws: Sequence[bytes]) -> list[Tx | AnjuError]:
    """Parse and verify each envelope (run in verifier processes); errors are returned, not raised."""
    out: list[Tx | AnjuError] = []
    for raw in raws:
        try:
            out.append(parse_and_verify(raw))
        except AnjuError as exc:
            out.append(exc)
    return out


def verify_sigs_chunk(items: Sequence[tuple[bytes, tuple[tuple[str, str], ...], str]]) -> list[AnjuError | None]:
    """Check the signatures of transactions parsed elsewhere (run in verifier processes): only
    ``(signed bytes, signatures, txid)`` cross the pipe each way, never the parsed transaction."""
    out: list[AnjuError | None] = []
    for signed, sigs, txid in items:
        try:
            check_sigs(signed, sigs, txid)
            out.append(None)
        except AnjuError as exc:
            out.append(exc)
    return out


class _Admission:
    """Transactions admitted for queueing (:meth:`Node._admitted`): ``queued`` once they are."""

    __slots__ = ("queued",)

    def __init__(self) -> None:
        self.queued = False


def _settle(fut: Slot, outcome: Receipt | BaseException) -> None:
    """Resolve a submission's future unless its waiter cancelled it before it ran."""
    if fut.cancelled():
        return
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)


class VerifierProcess(multiprocessing.context.ForkProcess):
    """A verifier process: ``terminate()`` kills it (SIGKILL). A verifier ignores SIGTERM
    (:func:`anju.chain.writer.child_signals`: a stop signal to the whole process group must not
    kill it while the node still needs it), but a broken pool terminates its remaining workers
    and waits for them: with SIGTERM it would wait for ever. Nothing a verifier holds is durable."""

    def terminate(self) -> None:
        self.kill()


class VerifierContext(multiprocessing.context.ForkContext):
    """The verifier pool's processes: forked (the node's modules and warmed caches are inherited,
    nothing is re-imported), as :class:`VerifierProcess`."""

    Process = VerifierProcess


def verifier_setup(parent: int, writer_ends: Sequence[Connection], ready: SemaphoreType) -> None:
    """A verifier process's set-up (the pool's initializer): the children's signal handling, and
    its copies of the node's pipe ends to the block writers closed (a writer exits when the node
    closes its end: a copy left open here would keep it waiting); then ``ready`` is released
    (:meth:`Node.start` waits for every verifier's)."""
    child_signals(parent)
    for end in writer_ends:
        end.close()
    ready.release()


VERIFIER_SETUP_S = 60.0
"""How long :meth:`Node.start` waits for its verifier processes to be set up."""


# -- creating a ledger -----------------------------------------------------------------------------
def init_ledger(
    data: Path,
    *,
    chain_id: str,
    app: str,
    params: dict[str, Any] | None = None,
    genesis_time: str | None = None,
    node_key: SigningKey | None = None,
) -> Path:
    """Create a new ledger in ``data``: genesis document, node key, and block 0.

    A ``node.key`` already in ``data`` (an interrupted init's, or one made beforehand so that its
    public key could be published) is kept, made private (0600), and signs block 0; a new key is
    made only when there is none (``node_key``, or a fresh one). StorageCorrupt ``NODE_KEY_INVALID``,
    with nothing written, when the file there is not a valid node key file or is another key than
    ``node_key``; FileExistsError when ``data`` already holds a ledger. A ``genesis.json`` there is
    kept when it is an interrupted init's (:func:`_kept_genesis`), else StorageCorrupt
    ``LEDGER_EXISTS`` with nothing written."""
    data = Path(data)
    data.mkdir(parents=True, exist_ok=True)
    if (data / DB_NAME).exists():
        raise FileExistsError(f"{data / DB_NAME} already exists")
    kept = _kept_node_key(data / KEY_NAME)
    if kept is not None and node_key is not None and kept != node_key:
        raise StorageCorrupt(
            "NODE_KEY_INVALID",
            f"{data / KEY_NAME} holds another key (public key {kept.public_hex}) than the one given "
            f"({node_key.public_hex}): it is left as it is",
            path=str(data / KEY_NAME),
        )
    key = kept or node_key or SigningKey.generate()
    doc = {"chain_id": chain_id, "app": app, "time": genesis_time or now_rfc3339(), "params": params or {}}
    earlier = _kept_genesis(data / GENESIS_NAME, doc, genesis_time is not None)
    if earlier is None:
        write_whole(data / GENESIS_NAME, canonical_genesis(doc) + b"\n", mode=0o644)
    else:
        doc = earlier
    if kept is None:
        write_node_key(data / KEY_NAME, key)
    else:
        os.chmod(data / KEY_NAME, 0o600)
    # The ledger is built under another name and renamed into place once complete and durable: an
    # init killed at any point leaves no ledger.db (and can be run again), never a half-made one.
    building = data / (DB_NAME + ".init")
    for leftover in (building, *(building.with_name(building.name + s) for s in ("-wal", "-shm", "-journal"))):
        leftover.unlink(missing_ok=True)
    store = Store(building)
    write_genesis(store, doc, key)
    store.close()  # the last connection: SQLite copies the WAL back and removes it
    if building.with_name(building.name + "-wal").exists():
        raise StorageCorrupt("STORE_CORRUPT", f"{building}: SQLite kept its write-ahead log; not moved into place")
    os.replace(building, data / DB_NAME)
    sync_dir(data)
    return data


def _kept_file(path: Path, code: str, what: str) -> bytes | None:
    """The bytes of a file ``anju init`` finds where it would write ``what``, None when there is
    none; StorageCorrupt ``code`` for a link to nothing or a directory there (left as it is)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if path.is_symlink():
            raise StorageCorrupt(
                code, f"{path} is a symbolic link to nothing: it is left as it is", path=str(path)
            ) from None
        return None
    except IsADirectoryError:
        raise StorageCorrupt(code, f"{path} is a directory, not {what}: it is left as it is", path=str(path)) from None


def _kept_node_key(path: Path) -> SigningKey | None:
    """The key of the node key file at ``path``, None when there is none; StorageCorrupt
    ``NODE_KEY_INVALID`` when something else is there (never written over: it may be a key whose
    public key was published, damaged)."""
    raw = _kept_file(path, "NODE_KEY_INVALID", "a node key file")
    if raw is None:
        return None
    try:
        return parse_node_key(raw)
    except ValueError as exc:
        raise StorageCorrupt(
            "NODE_KEY_INVALID",
            f"{path} is not a valid node key file ({exc}): it is left as it is; move it away if no one relies "
            "on its key, then init again",
            path=str(path),
        ) from None


def _kept_genesis(path: Path, doc: dict[str, Any], timed: bool) -> dict[str, Any] | None:
    """The genesis document at ``path`` when it is the one ``doc`` asks for (an interrupted init's,
    byte for byte as init writes it, with the same chain id, application and parameters, a valid
    block time, and the same time when ``timed``): the ledger is made from it, its time kept. None
    when there is none. StorageCorrupt ``LEDGER_EXISTS`` for anything else, never written over: it
    may be another chain's genesis (copied there to be served) that a new chain under it would
    silently replace."""
    raw = _kept_file(path, "LEDGER_EXISTS", "a genesis document")
    if raw is None:
        return None
    try:
        found = orjson.loads(raw)
    except orjson.JSONDecodeError:
        found = None
    what = ("chain_id", "app", "params", *(("time",) if timed else ()))
    if isinstance(found, dict) and is_block_time(found.get("time")) and all(found.get(k) == doc[k] for k in what):
        kept = {**doc, "time": found["time"]}
        if raw == canonical_genesis(kept) + b"\n":  # (as init writes it: not one made by hand, to be checked)
            return kept
    if isinstance(found, dict) and found.get("chain_id") != doc["chain_id"]:
        why = f"the genesis of another chain ({str(found.get('chain_id'))[:80]!r})"
    elif isinstance(found, dict):
        why = "the genesis of another ledger (other application, parameters or time), or not one anju init wrote"
    else:
        why = "not a genesis document"
    raise StorageCorrupt(
        "LEDGER_EXISTS",
        f"{path} is {why}: it is left as it is; give another --data, or move it away if it is not needed",
        path=str(path),
    )


def parse_node_key(raw: bytes) -> SigningKey:
    """The key of a node key file's content (what :func:`write_node_key` writes: an object with
    ``ed25519_seed``, 64 hex digits, and ``public_key``, the seed's public key in hex); ValueError
    saying what is wrong otherwise."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("not JSON" if raw.strip() else "empty") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    seed, public = doc.get("ed25519_seed"), doc.get("public_key")
    if not isinstance(seed, str) or len(seed) != 64 or seed.strip("0123456789abcdefABCDEF"):
        raise ValueError("ed25519_seed is not 64 hex digits")
    key = SigningKey(bytes.fromhex(seed))
    if not isinstance(public, str) or public.lower() != key.public_hex:
        raise ValueError("public_key is not the public key of ed25519_seed")
    return key


def write_node_key(path: Path, key: SigningKey) -> None:
    """A node's (or the consortium authority's) key file: its seed and public key, 0600, whole or not
    at all (:func:`anju.files.write_whole`): an interrupted write leaves either no key file or a
    whole one (an init run again keeps a key it finds, and refuses a damaged one)."""
    write_whole(path, orjson.dumps({"ed25519_seed": key.seed.hex(), "public_key": key.public_hex}), mode=0o600)


def write_genesis(store: Store, doc: dict[str, Any], key: SigningKey | None, name: str | None = None) -> Checkpoint:
    """Block 0: the application's genesis state, an empty log, and its checkpoint."""
    machine = load_app(doc["app"])
    writes, events = genesis_writes(machine, doc["chain_id"], doc["time"], doc["params"])
    state_root, changes = StateMap(MemoryNodeStore()).apply(writes)
    cp = Checkpoint(
        origin=doc["chain_id"], size=0, root=merkle.EMPTY_ROOT, height=0, state_root=state_root, time=doc["time"]
    )
    note = cp.sign(key, name or doc["chain_id"]) if key is not None else cp.to_text()
    record = BlockRecord(0, doc["time"], 0, 0, 0, cp.root, state_root, note)
    meta = {"chain_id": doc["chain_id"].encode(), "genesis": canonical_genesis(doc)}
    if key is not None:
        meta["verifier_key"] = vkey_of(name or doc["chain_id"], key.public).encode()
    store.write_blocks([BlockWrite(record, [], [], writes, changes, events_rows(-1, "", events))], meta=meta)
    return cp


def key_history(store: Store, vkey: str) -> list[list[Any]]:
    """Which key signed which heights of the ledger, ending with ``vkey`` (the node's): its
    ``meta.verifier_keys`` = [[from_height, vkey], ...] when its signer changed, else [[0, vkey]]
    (one signer throughout); [] when that record is not such a list ending with ``vkey`` (no
    history to offer). What ``GET /node`` publishes."""
    raw = store.get_meta("verifier_keys")
    if not raw:
        return [[0, vkey]]
    try:
        history = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    if (
        isinstance(history, list)
        and history
        and all(isinstance(e, list) and len(e) == 2 and type(e[0]) is int and isinstance(e[1], str) for e in history)
        and history[-1][1] == vkey
    ):
        return [[e[0], e[1]] for e in history]
    return []


def handovers(store: Store, history: list[list[Any]]) -> list[dict[str, Any]]:
    """The hand-overs of a key ``history`` (:func:`key_history`): for each earlier key, the last
    block it signed (the block before the next key's first), ``{"height", "log_size",
    "log_root"}`` (base64), as the ledger holds it; a block the ledger lacks is left out. What
    ``consortium.json`` records and ``GET /node`` publishes beside the history (docs/PROTOCOL.md,
    "Keys by height")."""
    found: list[dict[str, Any]] = []
    for entry in history[1:]:
        block = store.block(int(entry[0]) - 1)
        if block is not None:
            root = base64.b64encode(block.log_root).decode()
            found.append({"height": block.height, "log_size": block.log_size, "log_root": root})
    return found


def read_genesis(data: Path) -> dict[str, Any]:
    doc = orjson.loads((Path(data) / GENESIS_NAME).read_bytes())
    if not isinstance(doc, dict):
        raise StorageCorrupt("STORE_CORRUPT", "genesis.json is not an object")
    return doc


def read_node_key(data: Path) -> SigningKey:
    """``data``'s node key; StorageCorrupt ``NODE_KEY_INVALID`` when the file is not a node key file
    (OSError when it cannot be read)."""
    path = Path(data) / KEY_NAME
    try:
        return parse_node_key(path.read_bytes())
    except ValueError as exc:
        raise StorageCorrupt(
            "NODE_KEY_INVALID", f"{path} is not a valid node key file ({exc})", path=str(path)
        ) from None


def open_executor(data: Path, store: Store | None = None) -> Executor:
    doc = read_genesis(data)
    store = store or Store(Path(data) / DB_NAME)
    stored = store.get_meta("genesis")
    if stored != canonical_genesis(doc):
        raise StorageCorrupt("STORE_CORRUPT", "genesis.json does not match the ledger's genesis")
    machine = load_app(doc["app"], doc["params"])
    try:
        machine.check_state(store.state_get)
    except ValueError as exc:
        raise StorageCorrupt("STORE_FORMAT", f"this build cannot run this ledger's state: {exc}") from None
    return Executor(store, machine, doc["chain_id"])


class DataLock:
    """The one writing process of a data directory: an exclusive POSIX record lock (``lockf``) on
    ``DATA/ledger.lock`` held while a node (or a consortium member's ABCI application) runs on it.
    A node of another process on the same directory is refused at start (``DATA_DIR_IN_USE``)
    instead of racing the first one's writes. The lock belongs to the process: forked children
    (verifier pools, which outlive a killed parent) do not inherit it, and it is gone the moment the
    process dies, so a node restarted after ``kill -9`` starts at once.

    Within one process the lock is counted: POSIX locks never conflict inside a process, and closing
    *any* descriptor of the file drops them all, so every holder in this process shares one
    descriptor, closed when the last one lets go (a second node object of the same process on the
    directory is allowed, as before; it no longer drops the first one's lock when it closes).
    A killed node's children notice within half a second and exit without storing anything more
    (:func:`anju.chain.writer.exit_with_parent`)."""

    _held: ClassVar[dict[tuple[int, int], list[int]]] = {}  # (device, inode) -> [descriptor, holders]
    _table_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, data: Path, wait: float | None = None) -> None:
        self.path = Path(data) / LOCK_NAME
        self._key: tuple[int, int] | None = None
        # All under the table's lock: no thread of this process may open (and so, on closing, drop)
        # another descriptor of a lock file this process holds.
        with DataLock._table_lock:
            try:
                st = os.stat(self.path)
                entry = DataLock._held.get((st.st_dev, st.st_ino))
            except FileNotFoundError:
                entry = None
            if entry is not None:  # this process holds it already: one more holder of its descriptor
                entry[1] += 1
                self._key = (st.st_dev, st.st_ino)
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            deadline = time.monotonic() + (LOCK_WAIT_S if wait is None else wait)
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:  # EAGAIN / EACCES: another process holds it
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        raise StorageCorrupt(
                            "DATA_DIR_IN_USE",
                            f"another process runs a node on {Path(data)} (it holds {self.path}); stop it first",
                        ) from None
                    time.sleep(0.1)
            try:
                wait_for_store_process(Path(data))
            except BaseException:
                os.close(fd)
                raise
            st = os.fstat(fd)
            self._key = (st.st_dev, st.st_ino)
            DataLock._held[self._key] = [fd, 1]

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        with DataLock._table_lock:
            entry = DataLock._held.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                del DataLock._held[key]
                os.close(entry[0])  # the last holder in this process: the lock goes


STORE_LOCK_NAME = "ledger.store.lock"
"""Held (``lockf``) by a node's store process while it lives (:func:`anju.chain.writer.hold_store_lock`)."""
STORE_WAIT_S = 30.0
"""How long a starting node waits for the store process of a node that died to finish and exit."""


def wait_for_store_process(data: Path, wait: float | None = None) -> None:
    """Wait until no store process of an earlier node on ``data`` lives (DATA_DIR_IN_USE after
    :data:`STORE_WAIT_S`). A node killed alone (say by the out-of-memory killer) leaves its store
    process to notice within half a second, but one in the middle of a group's transaction commits
    it first: a node started meanwhile would read the ledger before that commit and then write the
    same heights again. The store process holds :data:`STORE_LOCK_NAME` until it exits."""
    fd = os.open(Path(data) / STORE_LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + (STORE_WAIT_S if wait is None else wait)
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return  # (closing the descriptor below lets it go at once)
            except OSError:
                if time.monotonic() >= deadline:
                    raise StorageCorrupt(
                        "DATA_DIR_IN_USE",
                        f"the store process of an earlier node still writes {Path(data)} (it holds "
                        f"{STORE_LOCK_NAME}); wait for it to exit, or stop it",
                    ) from None
                time.sleep(0.05)
    finally:
        os.close(fd)


# -- the running node --------------------------------------------------------------------------------
class Node:
    """A running embedded node over one data directory."""

    def __init__(
        self,
        data: Path,
        *,
        verify_workers: int = 2,
        block_interval: float = 0.1,
        max_block_txs: int = 4000,
        mempool_limit: int = 100_000,
        clock: Callable[[], str] = now_rfc3339,
        writer_process: bool | None = None,
    ) -> None:
        self.data = Path(data)
        self._lock = DataLock(self.data)
        try:
            self.store = Store(self.data / DB_NAME)
            self.executor = open_executor(self.data, self.store)
            self.key = read_node_key(self.data)
            self.chain_id = self.executor.chain_id
            self.key_name = self.chain_id
            self.verifier_key = vkey_of(self.key_name, self.key.public)
            self._check_key()
            self.verifier_keys = key_history(self.store, self.verifier_key)
            self.handovers = handovers(self.store, self.verifier_keys)
        except BaseException:
            self._lock.release()
            raise
        self.block_interval = block_interval
        self.max_block_txs = max_block_txs
        self.mempool_limit = mempool_limit
        self.clock = clock
        # The node's ends of its pipes to the block writers, once forked (start()): the verifiers,
        # forked after them, close their inherited copies (see verifier_setup).
        self._writer_ends: list[Connection] = []
        self._verifier_count = verify_workers
        self._pool: ProcessPoolExecutor | None = None
        if verify_workers > 0:
            context = VerifierContext()
            self._verifiers_ready = context.Semaphore(0)  # released by each verifier once set up
            self._pool = ProcessPoolExecutor(
                verify_workers,
                mp_context=context,
                initializer=verifier_setup,
                initargs=(os.getpid(), self._writer_ends, self._verifiers_ready),
            )
        # With verifier processes, blocks are stored by a writer process too (see chain/writer.py).
        self._writer_wanted = verify_workers > 0 if writer_process is None else writer_process
        self._writer: BlockWriter | None = None
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._chunks: collections.deque[tuple[Future[list[Tx | AnjuError]], list[Slot]]] = collections.deque()
        chunks_lock = threading.Lock()
        self._chunk_cv = threading.Condition(chunks_lock)
        # Submissions admitted and not yet queued for the forwarder: stop() waits for them before it
        # queues its end mark (one queued behind it would never be forwarded, nor answered).
        self._entering = 0
        self._entered_cv = threading.Condition(chunks_lock)
        self._seq_q: queue.Queue[list[tuple[Tx, Slot]] | None] = queue.Queue()
        # Sealed blocks wait here for the writer, which stores all those waiting in one transaction:
        # under load blocks are still cut every ``block_interval``, and stored in groups.
        self._write_q: queue.Queue[tuple[Sealed, list[Slot]] | None] = queue.Queue(maxsize=WRITE_QUEUE)
        # Groups sent to the block-writer process and not yet answered (one stored, one sealed there).
        self._sent_q: queue.Queue[list[tuple[Sealed, list[Slot]]] | None] = queue.Queue(maxsize=1)
        self._listeners: list[Callable[[BlockRecord], None]] = []
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self.failure: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def _check_key(self) -> None:
        """Refuse a node key whose verifier key the ledger does not publish (``meta.verifier_key``, or
        the newest entry of ``meta.verifier_keys`` after a change of signer): its blocks would be
        signed by a key no verifier of this ledger trusts, and ``anju verify`` would reject them."""
        published = self.store.get_meta("verifier_key")
        history = self.store.get_meta("verifier_keys")
        latest = None
        if history:
            with contextlib.suppress(ValueError, TypeError, IndexError):
                latest = str(orjson.loads(history)[-1][1])
        accepted = {k for k in (published.decode() if published else None, latest) if k}
        if not accepted or self.verifier_key in accepted:
            return  # (no published key: its checkpoints are checked against `anju verify --key`)
        self.store.close()
        expected = " or ".join(sorted(accepted))
        raise StorageCorrupt(
            "WRONG_NODE_KEY",
            f"{self.data / KEY_NAME} is not the key of this ledger: it would sign as {self.verifier_key}; "
            f"the ledger's checkpoints are verified with {expected}",
            node_key=self.verifier_key,
            verifier_key=expected,
        )

    def start(self) -> Node:
        # Child processes are forked now, before a server accepts connections they would inherit (its
        # listening socket, if bound already, is closed in them: anju.api.http.listen). The block
        # writer takes the state map with it (it hashes the state and signs checkpoints).
        sealing = self._writer_wanted and self._writer is None
        self.executor.warm(state_map=not sealing)
        # Every transaction allocates a few dozen objects that live until its block is stored; with
        # the default thresholds the collector runs thousands of times a second under load, each
        # young collection walking them all. Collect young objects less often (children forked
        # below inherit this), and never walk the warmed caches again.
        gc.freeze()
        gc.set_threshold(max(gc.get_threshold()[0], 50_000), 20, 100)
        if sealing:
            smt = self.executor.hand_off_state()
            sealer = Sealer(smt, self.key, self.key_name, self.chain_id, warm=SMT_CACHE_TILES // 2)
            with stop_signals_blocked():
                self._writer = BlockWriter(self.data / DB_NAME, sealer)
            self._writer_ends[:] = self._writer.node_ends
        # The verifiers are forked after the block writers (while this process runs no other thread
        # of its own: the pool starts its threads with its workers), and close the writers' pipes.
        if self._pool is not None:
            with stop_signals_blocked():
                first = self._pool.submit(int)  # with fork, the pool starts all its workers now
            first.result()
            self._wait_for_verifiers()
        for target, name in (
            (self._forward_loop, "anju-forward"),
            (self._sequence_loop, "anju-sequencer"),
            (self._write_loop, "anju-writer"),
            *([(self._settle_loop, "anju-settle")] if self._writer is not None else []),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _wait_for_verifiers(self) -> None:
        """Wait until every verifier process has run its set-up (:func:`verifier_setup`): from then
        on none holds the block writers' pipes, and a stop signal to the group leaves them be. One
        that died before is the broken pool's (the node then refuses work: SHUTTING_DOWN)."""
        deadline = time.monotonic() + VERIFIER_SETUP_S
        for _ in range(self._verifier_count):
            if not self._verifiers_ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
                log.warning("a verifier process did not finish its set-up within %.0f s", VERIFIER_SETUP_S)
                return

    def stop(self) -> None:
        """Stop accepting, commit everything already accepted, then shut down."""
        with self._chunk_cv:
            self._stopping = True  # under the lock: a submission is admitted before this, or refused
            while self._entering:
                self._entered_cv.wait(0.1)  # (polled: a notification lost to an interrupt is no hang)
            self._chunks.append((None, []))  # type: ignore[arg-type]
            self._chunk_cv.notify()
        for t in self._threads:
            t.join()
        self._threads = []
        if self._pool is not None:
            # Every chunk queued was verified before the forwarder ended: a work item still pending
            # is an orphan, registered by a submit() an interrupt cut short (Ctrl-C raises
            # KeyboardInterrupt in the main thread wherever it is: inside the pool's submit, before
            # the item's id was queued for a worker). Waiting for it would be waiting for ever.
            self._pool.shutdown(cancel_futures=True)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.close()

    def close(self) -> None:
        """Close the store and let go of the data directory: what :meth:`stop` ends with, and all a
        node that was never started needs (a builder that only calls :meth:`commit_block`)."""
        self.store.close()
        self._lock.release()

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on_commit(self, listener: Callable[[BlockRecord], None]) -> None:
        """Call ``listener`` (from the writer thread) after each block is durably stored."""
        self._listeners.append(listener)

    def seq_taken(self, signer: str) -> int:
        """The highest seq of ``signer`` this node has sealed or stored (0: none): no transaction of
        theirs with a higher one is in the ledger. Safe from any thread (the executor's state
        reads are), and a dict read unless the state cache overflowed."""
        return self.executor.committed_seq(signer)

    @property
    def height(self) -> int:
        return self.executor.last.height

    # -- submission --------------------------------------------------------------------------------
    def check_accepting(self) -> None:
        """SHUTTING_DOWN unless the node takes transactions: it is stopping, or stopped after a
        failure (restart it). What every submission checks first, and ``GET /health`` answers."""
        if self._stopping:
            raise Overloaded("SHUTTING_DOWN", "the node is shutting down", retry_after=5)
        if self.failure is not None:
            raise Overloaded("SHUTTING_DOWN", f"the node stopped after a failure: {self.failure}", retry_after=30)

    @contextlib.contextmanager
    def _admitted(self, n: int) -> Iterator[_Admission]:
        """Admit ``n`` transactions (SHUTTING_DOWN, MEMPOOL_FULL) for the block of code that queues
        them (:meth:`_enqueue`): :meth:`stop` waits until it is done. Should that block end without
        queueing them (a broken pool, or an interrupt: Ctrl-C raises KeyboardInterrupt in the main
        thread wherever it is, a lock's acquisition included), they are released again."""
        admission = _Admission()
        entered = False
        try:
            with self._chunk_cv:
                self.check_accepting()
                with self._inflight_lock:
                    if self._inflight + n > self.mempool_limit:
                        raise Overloaded(
                            "MEMPOOL_FULL",
                            f"{self._inflight} transactions are waiting; retry shortly",
                            retry_after=1,
                            pending=self._inflight,
                        )
                    self._inflight += n
                    self._entering += 1
                    entered = True  # (no call between these three: no signal handler runs in between)
            yield admission
        finally:
            if entered:
                if not admission.queued:
                    self._release(n)
                self._leave()

    def _leave(self) -> None:
        """One submission fewer between admission and queueing; done even if an interrupt arrives
        while waiting for the lock (then raised once done): a count left behind would make
        :meth:`stop` wait for ever."""
        interrupted: BaseException | None = None
        done = False
        while not done:
            try:
                with self._chunk_cv:
                    self._entering -= 1
                    done = True
                    if not self._entering:
                        self._entered_cv.notify_all()
            except BaseException as exc:  # KeyboardInterrupt: finish first
                interrupted = exc
        if interrupted is not None:
            raise interrupted

    def _release(self, n: int) -> None:
        with self._inflight_lock:
            self._inflight -= n

    def _verify_in_pool(self, pool: ProcessPoolExecutor, fn: Callable[[Any], Any], arg: Any, n: int) -> Future[Any]:
        """Hand ``n`` admitted transactions to the verifier processes. If the pool is broken (a
        verifier process died), the node stops taking work, as on a storage failure: the ``n`` are
        refused with SHUTTING_DOWN (and released by their admission, never left counted in the
        mempool)."""
        try:
            return pool.submit(fn, arg)
        except Exception as exc:  # (the caller's admission releases the n)
            if self._stopping:  # the pool shut down by a normal stop(): no failure
                raise Overloaded("SHUTTING_DOWN", "the node is shutting down", retry_after=5) from None
            self._verifiers_failed(exc)
            raise Overloaded("SHUTTING_DOWN", f"the node stopped: {self.failure}", retry_after=30) from None

    def _verifiers_failed(self, exc: BaseException) -> None:
        if self.failure is None:
            log.error("a verifier process failed (%s); the node accepts nothing new", exc)
            self.failure = RuntimeError(f"a verifier process failed: {type(exc).__name__}: {exc}")

    def submit_many(self, raws: Sequence[bytes]) -> list[Future[Receipt]]:
        """Queue envelopes (JSON bytes) for verification and commit, keeping their order."""
        futs: list[Future[Receipt]] = [Future() for _ in raws]
        self.submit_many_to(raws, futs)
        return futs

    def submit_many_to(self, raws: Sequence[bytes], slots: Sequence[Slot]) -> None:
        """:meth:`submit_many`, each outcome going to the caller's ``slots[i]`` (see :class:`Slot`)."""
        if len(slots) != len(raws):
            raise ValueError("one slot per transaction")
        for raw in raws:
            if len(raw) > MAX_TX_BYTES:
                raise TxRejected("TX_TOO_LARGE", f"envelope is {len(raw)} bytes; the limit is {MAX_TX_BYTES}")
        with self._admitted(len(raws)) as admission:
            if self._pool is None:
                chunk: Future[list[Tx | AnjuError]] = Future()
                chunk.set_result(verify_chunk(raws))
            else:
                chunk = self._verify_in_pool(self._pool, verify_chunk, list(raws), len(raws))
            self._enqueue(chunk, list(slots), admission)

    def submit(self, raw: bytes) -> Future[Receipt]:
        return self.submit_many([raw])[0]

    def submit_parsed(self, txs: Sequence[Tx]) -> list[Future[Receipt]]:
        """Queue transactions the caller has parsed (the HTTP API does, to answer duplicates and
        malformed items itself); the verifier processes check only their signatures."""
        futs: list[Future[Receipt]] = [Future() for _ in txs]
        self.submit_parsed_to(txs, futs)
        return futs

    def submit_parsed_to(self, txs: Sequence[Tx], slots: Sequence[Slot]) -> None:
        """:meth:`submit_parsed`, each outcome going to the caller's ``slots[i]`` (see :class:`Slot`)."""
        txs = list(txs)
        if len(slots) != len(txs):
            raise ValueError("one slot per transaction")
        for tx in txs:
            if len(tx.leaf) > MAX_TX_BYTES:
                raise TxRejected("TX_TOO_LARGE", f"envelope is {len(tx.leaf)} bytes; the limit is {MAX_TX_BYTES}")
        with self._admitted(len(txs)) as admission:
            items = [(tx.signed_bytes, tx.sigs, tx.txid) for tx in txs]
            checks: Future[list[AnjuError | None]]
            if self._pool is None:
                checks = Future()
                checks.set_result(verify_sigs_chunk(items))
            else:
                checks = self._verify_in_pool(self._pool, verify_sigs_chunk, items, len(txs))
            chunk: Future[list[Tx | AnjuError]] = Future()

            def checked(f: Future[list[AnjuError | None]]) -> None:
                try:
                    chunk.set_result([tx if err is None else err for tx, err in zip(txs, f.result(), strict=True)])
                except BaseException as exc:  # a crashed verifier process: the forwarder answers it
                    chunk.set_exception(exc)

            checks.add_done_callback(checked)
            self._enqueue(chunk, list(slots), admission)

    def submit_verified(self, txs: Iterable[Tx]) -> list[Future[Receipt]]:
        """Queue already-verified transactions (the demo builder, tests), in order with other submissions."""
        txs = list(txs)
        futs: list[Future[Receipt]] = [Future() for _ in txs]
        with self._admitted(len(txs)) as admission:
            done: Future[list[Tx | AnjuError]] = Future()
            done.set_result(list(txs))
            self._enqueue(done, list(futs), admission)
        return futs

    def _enqueue(self, chunk: Future[list[Tx | AnjuError]], slots: list[Slot], admission: _Admission) -> None:
        """Queue ``chunk`` (its verification under way) with its transactions' slots (a list of the
        node's own: the caller's list may change after)."""
        with self._chunk_cv:
            self._chunks.append((chunk, slots))
            admission.queued = True  # (no call in between: no signal handler runs between these)
            self._chunk_cv.notify()

    # -- stages ------------------------------------------------------------------------------------
    def _forward_loop(self) -> None:
        """Hand verified chunks to the sequencer in submission order."""
        while True:
            with self._chunk_cv:
                while not self._chunks:
                    self._chunk_cv.wait()
                chunk, futs = self._chunks.popleft()
            if chunk is None:
                self._seq_q.put(None)
                return
            try:
                results = chunk.result()
            except BaseException as exc:  # a crashed verifier process: not the transactions' fault
                self._verifiers_failed(exc)
                refusal = Overloaded("SHUTTING_DOWN", f"the node stopped: {self.failure}", retry_after=30)
                results = [refusal] * len(futs)
            batch: list[tuple[Tx, Slot]] = []
            for res, fut in zip(results, futs, strict=True):
                if isinstance(res, Tx):
                    batch.append((res, fut))
                else:
                    self._release(1)
                    _settle(fut, res)
            if batch:
                self._seq_q.put(batch)

    def _sequence_loop(self) -> None:
        """Execute arriving transactions into blocks; a block closes 100 ms after it opens, or when full."""
        ex = self.executor
        q = self._seq_q
        carry: collections.deque[tuple[Tx, Slot]] = collections.deque()
        stop = False
        futs: list[Slot] = []  # the open block's
        current: Slot | None = None  # the transaction being executed
        rejected = 0
        try:
            while not stop or carry:
                if not carry:
                    batch = q.get()
                    if batch is None:
                        break
                    carry.extend(batch)
                ex.begin(self.clock())
                deadline = time.monotonic() + self.block_interval
                futs = []
                rejected = 0
                while True:
                    while carry and len(futs) < self.max_block_txs:
                        tx, current = carry.popleft()
                        # From here a waiter giving up no longer cancels the tx; one cancelled before
                        # (cancel() answered True: it will not happen) is dropped.
                        if not current.set_running_or_notify_cancel():
                            rejected += 1
                            current = None
                            continue
                        try:
                            ex.deliver(tx)
                            futs.append(current)
                        except TxRejected as exc:
                            rejected += 1
                            _settle(current, exc)
                        current = None
                    left = deadline - time.monotonic()
                    if stop or len(futs) >= self.max_block_txs or left <= 0:
                        break
                    try:
                        batch = q.get(timeout=left)
                    except queue.Empty:
                        break
                    if batch is None:
                        stop = True
                    else:
                        carry.extend(batch)
                if rejected:
                    self._release(rejected)
                    rejected = 0
                if futs:
                    self._write_q.put((ex.seal(), futs))
                else:
                    ex.abort()
                futs = []
        except BaseException as exc:
            # Not a transaction's fault (a read of the ledger failed, say): stop taking work, as on a
            # storage failure, and answer every transaction accepted and not yet sealed, now and
            # until stop(), rather than leave it waiting for ever and counted in the mempool.
            if self.failure is None:
                self.failure = exc
                log.error("the sequencer failed; the node refuses new work until restarted: %s", exc, exc_info=exc)
            refusal = Overloaded("SHUTTING_DOWN", f"the node stopped: {self.failure}", retry_after=30)
            waiting = [*futs, *([current] if current is not None else []), *(f for _, f in carry)]
            self._release(rejected + len(waiting))
            for f in waiting:
                _settle(f, refusal)
            while (batch := q.get()) is not None:
                self._release(len(batch))
                for _, f in batch:
                    _settle(f, refusal)
        finally:
            self._write_q.put(None)

    def _write_loop(self) -> None:
        """Take the sealed blocks waiting as one group (group commit); store it here, or send it to
        the block-writer process and let :meth:`_settle_loop` wait for its answer."""
        ex = self.executor
        writer = self._writer
        stop = False
        while not stop:
            item = self._write_q.get()
            if item is None:
                break
            group = [item]
            txs = len(item[1])
            while txs < GROUP_MAX_TXS:  # take every block already waiting
                try:
                    item = self._write_q.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
                txs += len(item[1])
            if self.failure is not None:
                self._fail_group(group, self.failure)
            elif writer is None:
                self._store_here(ex, group)
            else:
                self._sent_q.put(group)  # bounded: the child holds at most two groups
                try:
                    writer.send([sealed.write for sealed, _ in group])
                except (BrokenPipeError, ConnectionResetError):
                    # A child is gone. Why, the settle thread reads next: the store child's last
                    # answer ("database or disk is full") or the end of its pipe. Claiming the
                    # failure here would report a broken pipe instead of the cause.
                    pass
                except BaseException as exc:  # nothing was sent (a pickling error, no memory left)
                    # The settle thread may already wait for this group's answer: the children
                    # answer it as failed (after the groups before it) and stop.
                    self._failed(exc)
                    writer.abort()
        if writer is not None:
            self._sent_q.put(None)

    def _settle_loop(self) -> None:
        """Wait for the block-writer processes to answer each group sent, in order; then settle it."""
        ex = self.executor
        writer = self._writer
        assert writer is not None

        def received(group: list[tuple[Sealed, list[Slot]]]) -> None:
            made = writer.receive([sealed.write for sealed, _ in group])
            if len(made) != len(group):
                raise StorageCorrupt("STORE_CORRUPT", "the block writer returned the wrong number of notes")
            for (sealed, _), (root, note) in zip(group, made, strict=True):
                ex.attach_note(sealed, note, state_root=root)

        while True:
            group = self._sent_q.get()
            if group is None:
                return
            if self.failure is not None:
                self._fail_group(group, self.failure)
            else:
                self._finish(ex, group, received)

    def _store_here(self, ex: Executor, group: list[tuple[Sealed, list[Slot]]]) -> None:
        """Sign and store a group in this process (no block-writer processes), then settle it."""

        def stored(group: list[tuple[Sealed, list[Slot]]]) -> None:
            for sealed, _ in group:
                ex.attach_note(sealed, sealed.checkpoint.sign(self.key, self.key_name))
            self.store.write_blocks([sealed.write for sealed, _ in group])

        self._finish(ex, group, stored)

    def _finish(
        self,
        ex: Executor,
        group: list[tuple[Sealed, list[Slot]]],
        durable: Callable[[list[tuple[Sealed, list[Slot]]]], None],
    ) -> None:
        """Make ``group`` durable with ``durable``, then settle its receipts; on failure, fail it
        and stop the node's writing."""
        try:
            durable(group)
            records = [ex.stored(sealed) for sealed, _ in group]
        except BaseException as exc:
            self._failed(exc)
            self._fail_group(group, exc)
            return
        self._settle_group(group, records)

    def _settle_group(self, group: list[tuple[Sealed, list[Slot]]], records: list[BlockRecord]) -> None:
        """The group is durable: resolve its receipts, then tell the listeners, block by block."""
        for (sealed, futs), record in zip(group, records, strict=True):
            self._release(len(futs))
            first = record.first_index
            for i, (f, out) in enumerate(zip(futs, sealed.outcomes, strict=True)):
                _settle(f, Receipt(out.tx.txid, record.height, first + i, tuple(out.events)))
            for listener in self._listeners:
                with contextlib.suppress(Exception):  # a listener never stops the ledger
                    listener(record)

    def _failed(self, exc: BaseException) -> None:
        """Storing failed: from now on the node refuses new work and stores nothing more."""
        if self.failure is None:
            self.failure = exc
            log.error("storing blocks failed; the node refuses new work until restarted: %s", exc, exc_info=exc)

    def _fail_group(self, group: list[tuple[Sealed, list[Slot]]], exc: BaseException) -> None:
        """Storing failed: the group was not acknowledged; every waiter gets SHUTTING_DOWN (if the
        writer died after its COMMIT, the group is stored after all: a restarted node shows it)."""
        for _, futs in group:
            self._release(len(futs))
            for f in futs:
                _settle(f, Overloaded("SHUTTING_DOWN", f"storage failure: {exc}", retry_after=30))

    # -- synchronous block building (demo data, tests) ----------------------------------------------
    def commit_block(self, time_: str, txs: Sequence[Tx]) -> tuple[BlockRecord, list[TxRejected | None]]:
        """Execute and durably commit one block at ``time_`` now, on the caller's thread.

        Only for a node that is not started (building demo data, tests)."""
        if self._threads:
            raise RuntimeError("commit_block is for a node that is not running")
        ex = self.executor
        ex.begin(time_)
        results: list[TxRejected | None] = []
        for tx in txs:
            try:
                ex.deliver(tx)
                results.append(None)
            except TxRejected as exc:
                results.append(exc)
        sealed = ex.seal()
        record = ex.commit(sealed, sealed.checkpoint.sign(self.key, self.key_name))
        return record, results
