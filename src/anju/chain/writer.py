"""The block-writing process: hashing the state, signing and storing blocks off the sequencer's core.

The node's Python work is bound by one interpreter lock. The sequencer (verify → ``seq`` →
execute → log leaves) stays in the node's process; everything that only depends on a sealed
block moves to this child process, which runs beside it on the other core:

1. apply the block's state writes to the authenticated state map (the child owns it, see
   :meth:`Executor.hand_off_state`) → the new state root and the node changes to store;
2. build the block's checkpoint (log size and root from the sequencer, state root from step 1)
   and sign it with the node's key;
3. store the block in one SQLite transaction (``COMMIT`` with ``synchronous=FULL``) — with the
   blocks sent along with it: a group of consecutive blocks is stored in one transaction.

The protocol is one pickled list of consecutive :class:`BlockWrite` per message (their records'
state roots and notes still empty), answered in order once ``COMMIT`` has returned (all durable)
by ``b"ok"`` + a pickled list of (state root, signed note), one per block, or by ``b"error "`` +
the error text (then none of them is stored, and the child stops). The parent may send the next
group before the answer to the previous one arrives: the child starts on it at once. The process
exits when its pipe closes (its parent is gone). Without a :class:`Sealer`, the blocks arrive
complete and are only stored.
"""

from __future__ import annotations

import multiprocessing
import pickle
from multiprocessing.connection import Connection
from pathlib import Path

from anju.crypto.keys import SigningKey
from anju.errors import StorageCorrupt
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.statemap import StateMap
from anju.ledger.store import BlockRecord, BlockWrite, Store


class Sealer:
    """Completes a sealed block in the writer process: state root, node changes, signed checkpoint."""

    def __init__(self, smt: StateMap, key: SigningKey, key_name: str, origin: str, *, warm: int = 0) -> None:
        self.smt = smt
        self.key = key
        self.key_name = key_name
        self.origin = origin
        self.warm = warm

    def bind(self, store: Store) -> None:
        """Read the state map through this process's own connection (never the parent's)."""
        self.smt.rebind(store.smt_view())
        if self.warm:
            self.smt.warm(dict(store.smt_rows(self.warm)))

    def complete(self, w: BlockWrite) -> tuple[bytes, str]:
        root, changes = self.smt.apply(w.state)
        b = w.block
        cp = Checkpoint(
            origin=self.origin, size=b.log_size, root=b.log_root, height=b.height, state_root=root, time=b.time
        )
        note = cp.sign(self.key, self.key_name)
        w.block = BlockRecord(b.height, b.time, b.first_index, b.tx_count, b.log_size, b.log_root, root, note)
        w.smt = changes
        return root, note


def _serve(path: str, conn: Connection, parent_end: Connection, sealer: Sealer | None) -> None:
    parent_end.close()  # the forked copy of the parent's end: without this, EOF never arrives
    store = Store(Path(path))
    try:
        if sealer is not None:
            sealer.bind(store)
        while True:
            try:
                msg = conn.recv_bytes()
            except EOFError:
                return
            try:
                blocks: list[BlockWrite] = pickle.loads(msg)
                made = [sealer.complete(block) for block in blocks] if sealer is not None else []
                store.write_blocks(blocks)
                answer = b"ok" + pickle.dumps(made, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # reported to the parent, which stops the node
                conn.send_bytes(f"error {type(exc).__name__}: {exc}".encode())
                return
            conn.send_bytes(answer)
    finally:
        store.close()


class BlockWriter:
    """Stores blocks to ``path`` from a child process; :meth:`write` returns once they are durable.

    With a ``sealer``, the child also hashes the state and signs the checkpoint (see the module doc).
    """

    def __init__(self, path: Path, sealer: Sealer | None = None) -> None:
        # fork: the child runs only this module's loop over a fresh SQLite connection (spawn would
        # re-import the parent's main module, which scripts and tests do not guard) and inherits
        # the state map without copying it through a pipe.
        ctx = multiprocessing.get_context("fork")
        self.seals = sealer is not None
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(str(path), child, self._conn, sealer), name="anju-block-writer", daemon=True
        )
        self._proc.start()
        child.close()

    def send(self, blocks: list[BlockWrite]) -> None:
        """Send consecutive ``blocks`` to be stored in one transaction (answered by :meth:`receive`)."""
        self._conn.send_bytes(pickle.dumps(blocks, protocol=pickle.HIGHEST_PROTOCOL))

    def receive(self, blocks: list[BlockWrite]) -> list[tuple[bytes, str]]:
        """Wait until the oldest group sent, ``blocks``, is durable; with a sealer, return each block's
        state root and signed note as the child made them (without, an empty list)."""
        try:
            answer = self._conn.recv_bytes()
        except (EOFError, OSError):
            raise StorageCorrupt("STORE_CORRUPT", "the block-writer process died") from None
        if not answer.startswith(b"ok"):
            heights = f"{blocks[0].block.height}..{blocks[-1].block.height}" if blocks else "(none)"
            raise StorageCorrupt("STORE_CORRUPT", f"storing blocks {heights} failed: {answer.decode()[6:]}")
        made: list[tuple[bytes, str]] = pickle.loads(answer[2:])
        return made

    def write(self, blocks: list[BlockWrite]) -> list[tuple[bytes, str]]:
        """:meth:`send` then :meth:`receive`: store ``blocks`` and wait until they are durable."""
        self.send(blocks)
        return self.receive(blocks)

    def close(self) -> None:
        self._conn.close()
        self._proc.join(timeout=30)
