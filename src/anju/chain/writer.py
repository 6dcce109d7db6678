"""The block-writing processes: hashing the state, signing and storing blocks off the sequencer's core.

The node's Python work is bound by one interpreter lock. The sequencer (verify → ``seq`` →
execute → log leaves) stays in the node's process; everything that only depends on a sealed
block moves to two child processes, a pipeline beside it:

1. the **sealer** applies each block's state writes to the authenticated state map (it owns it,
   see :meth:`Executor.hand_off_state`) → the new state root and the node changes to store; it
   builds the block's checkpoint (log size and root from the sequencer, state root just computed)
   and signs it with the node's key;
2. the **store** writes a group of consecutive blocks in one SQLite transaction (``COMMIT`` with
   ``synchronous=FULL``) and answers the node.

While the store commits one group, the sealer already hashes the next. Until the store says a
group is stored (an acknowledgement back to the sealer), the sealer reads that group's state-map
nodes from memory (a :class:`PendingNodes` layer), never from SQLite.

Messages, per group of consecutive blocks (each pipe keeps the groups' order):

- node → sealer: pickled ``[(record, state writes)...]`` (records' state roots and notes still
  empty): only what sealing needs;
- node → store: pickled ``[(txs, log nodes, state writes, events)...]``: the rest of each block,
  sent after the sealer's part (the store reads the sealer's message first; in the other order a
  large group could fill the pipe and block the node while the store waits for the sealer). The
  sealer never unpickles or re-pickles transactions and events;
- sealer → store: ``b"G"`` + pickled ``[(completed record, state-map node changes)...]``, or
  ``b"E"`` + the error text;
- store → node, once ``COMMIT`` returned (all durable): ``b"ok"`` + the pickled list of (state
  root, signed note), or ``b"error "`` + the error text (then none of that group is stored, and
  both children stop);
- store → sealer: ``b"A"`` + the number of blocks just stored.

The node may send the next group before the previous one is answered. A child exits when its
input closes, so closing the node's ends stops both in turn.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import multiprocessing.util
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from anju.chain.executor import PendingNodes, warm_writer_map
from anju.crypto.keys import SigningKey
from anju.errors import StorageCorrupt
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.statemap import NodeChanges, StateMap
from anju.ledger.store import BlockRecord, BlockWrite, Store


class Sealer:
    """Completes a sealed block in the writer process: state root, node changes, signed checkpoint."""

    def __init__(self, smt: StateMap, key: SigningKey, key_name: str, origin: str, *, warm: int = 0) -> None:
        self.smt = smt
        self.key = key
        self.key_name = key_name
        self.origin = origin
        self.warm = warm
        self.pending: PendingNodes | None = None

    def bind(self, store: Store) -> None:
        """Read the state map through this process's own connection (never the parent's), under
        the node changes of the blocks completed but not yet stored."""
        self.pending = PendingNodes(store.smt_get)
        self.smt.rebind(self.pending)
        if self.warm:
            warm_writer_map(self.smt, store, self.warm)

    def stored(self, blocks: int) -> None:
        """The oldest ``blocks`` completed blocks are durably stored: read their nodes from SQLite."""
        if self.pending is not None:
            del self.pending.layers[:blocks]

    def complete(self, b: BlockRecord, state: dict[str, bytes | None]) -> tuple[BlockRecord, NodeChanges]:
        """Apply a block's state writes: its record with state root and signed note, and the
        state-map node changes to store with it."""
        root, changes = self.smt.apply(state)
        cp = Checkpoint(
            origin=self.origin, size=b.log_size, root=b.log_root, height=b.height, state_root=root, time=b.time
        )
        note = cp.sign(self.key, self.key_name)
        if self.pending is not None:
            self.pending.layers.append(changes)
        return BlockRecord(b.height, b.time, b.first_index, b.tx_count, b.log_size, b.log_root, root, note), changes


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""What a child of the node ignores: signals that reach the whole process group (Ctrl-C, a
terminal's hang-up, ``kill -TERM -PGID``, systemd's stop with ``KillMode=control-group``) are the
node's to act on."""


def child_signals(parent: int | None = None) -> None:
    """Signal handling for a child the node forks (verifier or block writer), which would otherwise
    inherit the parent's (under ``anju serve``, uvicorn's, which only sets a flag in the child's copy
    of the server: SIGTERM would never stop it) or the default (SIGTERM and SIGHUP kill at once).
    The :data:`STOP_SIGNALS` are ignored: a stop signal to the whole group must not cut the node's
    graceful stop short. The node stops its children in order once everything it accepted is
    verified and committed: a verifier when the node shuts its pool down, a block writer when the
    node closes its pipe (after storing what the node sent). A broken verifier pool is abandoned
    with SIGKILL (``anju.chain.node.VerifierContext``), and a child whose node died exits by itself
    (``parent``: see :func:`exit_with_parent`).

    The node forks its children with these signals blocked (:func:`stop_signals_blocked`): one
    arriving before this set-up stays pending, and is dropped here once ignored."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    exit_with_parent(parent)


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Block the :data:`STOP_SIGNALS` in the calling thread, the one that forks children: a child
    forked meanwhile starts with them blocked and unblocks them once it ignores them
    (:func:`child_signals`). Otherwise a stop signal to the group in the moment between the fork
    and that set-up would reach it with the node's handling (uvicorn's, a program's own, or the
    default: killed). In this process, one arriving meanwhile is handled when they are unblocked."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


ORPHAN_CHECK_S = 0.5
"""How often a child looks whether the node that forked it is still alive."""
_parent: int | None = None


def exit_with_parent(parent: int | None = None) -> None:
    """End this child soon after the node that forked it dies (``kill -9``): an orphaned verifier
    would wait on its queue for ever, and an orphaned block writer could store a group the dead node
    never acknowledged after a restarted node had read the ledger (its first block would then
    fail). A daemon thread polls the parent pid; :func:`orphaned` lets a writer check just before
    it commits.

    ``parent``: the node's pid, read by the node before it forked. Read here instead (None), a node
    killed between the fork and this call would go unnoticed: the child would take its new parent
    (init, or a subreaper) for the node, and live on."""
    global _parent
    _parent = os.getppid() if parent is None else parent

    def watch() -> None:
        while not orphaned():
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)  # the node is gone: nothing this child holds was acknowledged

    threading.Thread(target=watch, name="anju-orphan-watch", daemon=True).start()


def orphaned() -> bool:
    """The node that forked this child has died (the child was handed to another parent)."""
    return _parent is not None and os.getppid() != _parent


def _seal_serve(
    path: str, inbox: Connection, hand: Connection, sealer: Sealer, others: list[Connection], parent: int
) -> None:
    """The sealer child: hash and sign each group from the node, hand it to the store child."""
    child_signals(parent)
    for c in others:
        c.close()  # forked copies of ends this process does not use: without this, EOF never arrives
    store = Store(Path(path))  # read only: state-map nodes missing from memory
    try:
        sealer.bind(store)
        while True:
            try:
                msg = inbox.recv_bytes()
            except EOFError:
                return
            while hand.poll():  # acknowledgements: those blocks are stored, forget their layers
                sealer.stored(int(hand.recv_bytes()[1:]))
            if not msg:  # BlockWriter.abort: the node could not send a group
                hand.send_bytes(b"Ethe node could not send this group")
                return
            try:
                jobs: list[tuple[BlockRecord, dict[str, bytes | None]]] = pickle.loads(msg)
                made = [sealer.complete(record, state) for record, state in jobs]
                out = b"G" + pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # reported (after the groups before it) by the store child
                hand.send_bytes(f"E{type(exc).__name__}: {exc}".encode())
                return
            hand.send_bytes(out)
    except (EOFError, OSError):  # the store child is gone; the node hears it from its own pipe
        return
    finally:
        store.close()


def hold_store_lock(data: Path) -> None:
    """The store process holds ``DATA/ledger.store.lock`` (``lockf``, this process's until it exits;
    its descriptor is left open): a node starting on ``data`` waits for it
    (:func:`anju.chain.node.wait_for_store_process`). Not had at once (a second node object of the
    node's own process on the directory has its store process too), it goes on without it."""
    fd = os.open(data / "ledger.store.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)


def _store_serve(
    path: str, inbox: Connection, data: Connection, answers: Connection, others: list[Connection], parent: int
) -> None:
    """The store child: one SQLite transaction per group, then the answer to the node."""
    child_signals(parent)
    for c in others:
        c.close()
    hold_store_lock(Path(path).parent)
    store = Store(Path(path))
    try:
        while True:
            try:
                msg = inbox.recv_bytes()
                payload = data.recv_bytes() if msg[:1] == b"G" else b""
            except (EOFError, OSError):  # the sister process or the node is gone
                return
            try:
                if msg[:1] != b"G":
                    raise StorageCorrupt("STORE_CORRUPT", msg[1:].decode(errors="replace"))
                made: list[tuple[BlockRecord, NodeChanges]] = pickle.loads(msg[1:])
                rest: list[tuple[Any, Any, dict[str, bytes | None], Any]] = pickle.loads(payload)
                if len(rest) != len(made):
                    raise StorageCorrupt("STORE_CORRUPT", "the sealer and the node sent groups of different sizes")
                blocks = [
                    BlockWrite(record, txs, tlog, state, changes, events)
                    for (record, changes), (txs, tlog, state, events) in zip(made, rest, strict=True)
                ]
                if orphaned():  # the node died: nobody will be told, and a restarted one may run
                    return
                store.write_blocks(blocks)
            except BaseException as exc:  # reported to the node, which stops
                answers.send_bytes(f"error {type(exc).__name__}: {exc}".encode())
                return
            roots = [(record.state_root, record.checkpoint) for record, _ in made]
            answers.send_bytes(b"ok" + pickle.dumps(roots, protocol=pickle.HIGHEST_PROTOCOL))
            with contextlib.suppress(OSError):  # the sealer may be gone; the node hears it anyway
                inbox.send_bytes(b"A%d" % len(blocks))
    finally:
        store.close()


def _close_all(*conns: Connection) -> None:
    for c in conns:
        c.close()


class BlockWriter:
    """Seals and stores blocks in two child processes (see the module doc); :meth:`write` returns
    once they are durable."""

    def __init__(self, path: Path, sealer: Sealer) -> None:
        # fork: a child runs only this module's loop over a fresh SQLite connection (spawn would
        # re-import the parent's main module, which scripts and tests do not guard) and the sealer
        # inherits the state map without copying it through a pipe.
        ctx = multiprocessing.get_context("fork")
        inbox, self._out = ctx.Pipe(duplex=False)  # node → sealer
        data, self._data = ctx.Pipe(duplex=False)  # node → store
        self._in, answers = ctx.Pipe(duplex=False)  # store → node
        hand, store_in = ctx.Pipe()  # sealer ⇄ store
        mine = (self._out, self._data, self._in)
        ends = [*mine, inbox, data, answers, hand, store_in]
        children: list[tuple[str, Callable[..., None], tuple[Any, ...], tuple[Connection, ...]]] = [
            ("anju-block-sealer", _seal_serve, (str(path), inbox, hand, sealer), (inbox, hand)),
            ("anju-block-store", _store_serve, (str(path), store_in, data, answers), (store_in, data, answers)),
        ]
        self._procs: list[multiprocessing.process.BaseProcess] = []
        for name, target, args, keeps in children:
            others = [e for e in ends if all(e is not k for k in keeps)]  # each child closes the rest
            self._procs.append(ctx.Process(target=target, name=name, daemon=True, args=(*args, others, os.getpid())))
        for proc in self._procs:
            proc.start()
        for e in ends:
            if all(e is not m for m in mine):
                e.close()
        # A program that exits without stopping its node (an uncaught KeyboardInterrupt) would hang:
        # multiprocessing's exit handler terminates its daemonic children (SIGTERM, ignored here)
        # and then waits for them, while they wait for the node's ends to close. Those ends are
        # closed first (the children store what was sent, then exit).
        multiprocessing.util.Finalize(self, _close_all, args=(self._out, self._data), exitpriority=0)

    @property
    def node_ends(self) -> tuple[Connection, ...]:
        """The node's ends of its pipes to the children: no other process may hold them (a child
        exits when its input closes; a copy held elsewhere would keep it open)."""
        return (self._out, self._data, self._in)

    @property
    def pids(self) -> list[int]:
        """The children's process ids: the sealer's, then the store's."""
        return [p.pid or 0 for p in self._procs]

    def send(self, blocks: list[BlockWrite]) -> None:
        """Send consecutive ``blocks`` to be stored in one transaction (answered by :meth:`receive`):
        what sealing needs to the sealer, then the rest to the store (see the module doc)."""
        # Both parts are pickled before either is sent: a group that cannot be (no memory) is not
        # sent at all, never the sealer's part alone (the store child would wait for the rest).
        top = pickle.HIGHEST_PROTOCOL
        jobs = pickle.dumps([(w.block, w.state) for w in blocks], protocol=top)
        rest = pickle.dumps([(w.txs, w.tlog_nodes, w.state, w.events) for w in blocks], protocol=top)
        self._out.send_bytes(jobs)
        self._data.send_bytes(rest)

    def receive(self, blocks: list[BlockWrite]) -> list[tuple[bytes, str]]:
        """Wait until the oldest group sent, ``blocks``, is durable; return each block's state root
        and signed note, as the sealer made them."""
        try:
            answer = self._in.recv_bytes()
        except (EOFError, OSError):
            raise StorageCorrupt("STORE_CORRUPT", "a block-writer process died") from None
        if not answer.startswith(b"ok"):
            heights = f"{blocks[0].block.height}..{blocks[-1].block.height}" if blocks else "(none)"
            raise StorageCorrupt("STORE_CORRUPT", f"storing blocks {heights} failed: {answer.decode()[6:]}")
        made: list[tuple[bytes, str]] = pickle.loads(answer[2:])
        return made

    def write(self, blocks: list[BlockWrite]) -> list[tuple[bytes, str]]:
        """:meth:`send` then :meth:`receive`: store ``blocks`` and wait until they are durable."""
        self.send(blocks)
        return self.receive(blocks)

    def abort(self) -> None:
        """A group could not be sent (nothing of it was: see :meth:`send`): the children store and
        answer the groups before it, then answer this one as failed, and exit."""
        with contextlib.suppress(OSError):
            self._out.send_bytes(b"")

    def close(self) -> None:
        """Close the pipes to the children (each exits once its input closes) and wait for them."""
        self._out.close()
        self._data.close()
        for proc in self._procs:
            proc.join(timeout=30)
        self._in.close()
