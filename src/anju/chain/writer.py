"""A block-writing process: SQLite writes of the embedded node off the sequencer's core.

The node's Python work is bound by one interpreter lock, while signature verification leaves
part of the second core idle; storing blocks (a few dozen SQLite rows per transaction) in a
process of its own lets that work run beside the sequencer. The protocol is one pickled
:class:`BlockWrite` per message, answered by ``b"ok"`` once ``COMMIT`` has returned (durable), or by
the error text. The process exits when its pipe closes (its parent is gone).
"""

from __future__ import annotations

import multiprocessing
import pickle
from multiprocessing.connection import Connection
from pathlib import Path

from anju.errors import StorageCorrupt
from anju.ledger.store import BlockWrite, Store


def _serve(path: str, conn: Connection, parent_end: Connection) -> None:
    parent_end.close()  # the forked copy of the parent's end: without this, EOF never arrives
    store = Store(Path(path))
    try:
        while True:
            try:
                msg = conn.recv_bytes()
            except EOFError:
                return
            try:
                store.write_block(pickle.loads(msg))
            except BaseException as exc:  # reported to the parent, which stops the node
                conn.send_bytes(f"{type(exc).__name__}: {exc}".encode())
                return
            conn.send_bytes(b"ok")
    finally:
        store.close()


class BlockWriter:
    """Writes blocks to ``path`` in a child process; :meth:`write` returns once the block is durable."""

    def __init__(self, path: Path) -> None:
        # fork: the child runs only this module's loop over a fresh SQLite connection (spawn would
        # re-import the parent's main module, which scripts and tests do not guard).
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve, args=(str(path), child, self._conn), name="anju-block-writer", daemon=True
        )
        self._proc.start()
        child.close()

    def write(self, block: BlockWrite) -> None:
        self._conn.send_bytes(pickle.dumps(block, protocol=pickle.HIGHEST_PROTOCOL))
        try:
            answer = self._conn.recv_bytes()
        except EOFError:
            raise StorageCorrupt("STORE_CORRUPT", "the block-writer process died") from None
        if answer != b"ok":
            raise StorageCorrupt("STORE_CORRUPT", f"storing block {block.block.height} failed: {answer.decode()}")

    def close(self) -> None:
        self._conn.close()
        self._proc.join(timeout=30)
