"""The WAL is copied back into the database by the checkpointer thread, not inside a COMMIT;
past a hard limit the writer does it itself. Nothing is lost either way."""

from __future__ import annotations

import sqlite3
import struct
import time
from pathlib import Path

import pytest
from tests.conftest import kv_put

from anju.chain.node import Node
from anju.chain.verify import verify_data
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse_and_verify
from anju.ledger import store as store_mod


def _commit(node: Node, key: SigningKey, seq: int) -> None:
    txs = [parse_and_verify(kv_put(key, s, k=f"k{s}", v="x" * 200)) for s in range(seq, seq + 20)]
    node.commit_block(f"2026-01-01T00:00:{seq // 20:02d}.000Z", txs)


def _frames_written(ck: store_mod._Checkpointer) -> int:
    """mxFrame of the wal-index header: frames in the WAL, copied back or not."""
    return int(struct.unpack_from("=I", ck._read_shm(), 16)[0])  # (never a descriptor closed: see _shm_fd)


def _wait(cond: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_the_checkpointer_copies_the_wal_back_off_the_writers_path(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threshold = 256 * 1024  # several blocks (one writes ~85 KB): the restarted WAL holds less
    monkeypatch.setattr(store_mod, "WAL_CHECKPOINT_BYTES", threshold)
    key = SigningKey(b"w" * 32)
    node = Node(kv_data, verify_workers=0)
    store = node.store
    wal = Path(str(store.path) + "-wal")
    _commit(node, key, 1)
    ck = store._checkpointer
    assert ck is not None
    seq = 21
    # Stop writing once the frames *written* pass the threshold. (Pending frames, wal_bytes(), fall
    # while the thread copies them back: a loop on those could commit one more block during the
    # copy, and that block's frames, under the threshold, would then wait in the WAL for good.)
    while ck.runs == 0 and _frames_written(ck) * (4096 + 24) <= threshold:
        _commit(node, key, seq)
        seq += 20
    assert _wait(lambda: ck.runs >= 1)  # the thread checkpointed a WAL past its threshold
    assert _wait(lambda: ck.wal_bytes() == 0)  # every frame is copied back
    kept = wal.stat().st_size
    _commit(node, key, seq)  # the WAL restarts: it holds only this block's frames ...
    assert 0 < ck.wal_bytes() < threshold
    assert wal.stat().st_size == kept  # ... written over the blocks the file had (not cut to nothing)
    store.close()
    assert not ck._thread.is_alive()  # close() stops it
    assert verify_data(kv_data, workers=1).ok
    reopened = Node(kv_data, verify_workers=0)
    assert reopened.executor.get(f"kv/k{seq + 19}") == b'"' + b"x" * 200 + b'"'
    reopened.store.close()


def test_the_pending_wal_bytes_are_those_sqlite_reports(kv_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """wal_bytes reads the wal-index header: frames written minus frames copied back, as
    ``PRAGMA wal_checkpoint`` counts them, before and after a checkpoint and a restart."""
    monkeypatch.setattr(store_mod, "WAL_CHECKPOINT_BYTES", 1 << 40)  # only this test checkpoints
    key = SigningKey(b"p" * 32)
    node = Node(kv_data, verify_workers=0)
    for i in range(3):
        _commit(node, key, 1 + 20 * i)
    ck = node.store._checkpointer
    assert ck is not None
    frame = 4096 + 24
    written = ck.wal_bytes()
    conn = sqlite3.connect(node.store.path, isolation_level=None)
    _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert written == frames * frame and frames == copied > 0
    assert ck.wal_bytes() == 0
    _commit(node, key, 61)
    again = ck.wal_bytes()
    _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert again == frames * frame and 0 < frames < written // frame
    conn.close()
    node.store.close()


@pytest.mark.parametrize("hard", [32 * 1024, 1 << 40])
def test_past_the_hard_limit_the_writer_checkpoints_itself(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch, hard: int
) -> None:
    """The checkpointer never runs here; with a hard limit the WAL restarts after every block
    that crossed it (nothing is left waiting in it), without one it only grows."""
    monkeypatch.setattr(store_mod, "WAL_CHECKPOINT_BYTES", 1 << 40)
    monkeypatch.setattr(store_mod, "WAL_HARD_BYTES", hard)
    key = SigningKey(b"h" * 32)
    node = Node(kv_data, verify_workers=0)
    sizes = []
    for i in range(12):
        _commit(node, key, 1 + 20 * i)
        ck = node.store._checkpointer
        assert ck is not None
        sizes.append(ck.wal_bytes())
    assert ck.runs == 0
    if hard < 1 << 40:
        assert sizes == [0] * 12  # each block crossed it: the writer copied all of it back
    else:
        assert sizes == sorted(sizes) and sizes[-1] > 400 * 1024
    node.store.close()
    assert verify_data(kv_data, workers=1).ok


def test_a_checkpoint_that_fails_is_logged_and_the_checkpointer_carries_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A ledger whose directory went away (a test's, a replay's): no exception escapes the thread."""
    monkeypatch.setattr(store_mod, "WAL_CHECKPOINT_BYTES", 0)
    ck = store_mod._Checkpointer(tmp_path / "gone" / "ledger.db")
    ck.shm = tmp_path / "some-shm"  # a wal-index saying 10 frames wait
    head = bytearray(100)
    struct.pack_into("=HI", head, 14, 4096, 10)
    ck.shm.write_bytes(bytes(head))
    with caplog.at_level("WARNING", logger="anju.store"):
        for i in range(1, 3):  # a second poke fails (and is logged) again: the thread is still there
            ck.poke()
            assert _wait(lambda: caplog.text.count("WAL checkpoint of") >= i)  # noqa: B023 - waited on now
        assert ck._thread.is_alive() and ck.runs == 0
    ck.stop()
    assert not ck._thread.is_alive()


def test_a_fork_waits_for_a_checkpoint_in_progress() -> None:
    """The node forks its writer processes: a child must not inherit SQLite's locks mid-checkpoint."""
    import os
    import threading

    held = threading.Event()

    def checkpointing() -> None:
        with store_mod._FORK_LOCK:  # what the checkpointer holds while it copies the WAL
            held.set()
            time.sleep(0.4)

    t = threading.Thread(target=checkpointing)
    t.start()
    assert held.wait(5)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os._exit(0 if store_mod._FORK_LOCK.acquire(timeout=1) else 1)  # the child's lock is free
    waited = time.monotonic() - started
    _, status = os.waitpid(pid, 0)
    t.join()
    assert waited >= 0.3 and os.WEXITSTATUS(status) == 0


def test_the_pending_bytes_of_a_wal_index_in_every_page_size_and_without_one(tmp_path: Path) -> None:
    """The wal-index writes a 65536-byte page size as 1 (walformat.html); with no wal-index yet the
    WAL file's size stands in; SQLite keeps both beside the real file of a linked ledger."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "ledger.db").symlink_to(real / "ledger.db")
    ck = store_mod._Checkpointer(tmp_path / "ledger.db")
    try:
        assert (ck.wal, ck.shm) == (real / "ledger.db-wal", real / "ledger.db-shm")
        assert ck.wal_bytes() == 0  # neither file
        ck.wal.write_bytes(b"w" * 5000)
        assert ck.wal_bytes() == 5000  # a WAL without its index (yet)
        for field, page in ((512, 512), (4096, 4096), (32768, 32768), (1, 65536)):
            head = bytearray(100)
            struct.pack_into("=HI", head, 14, field, 10)
            struct.pack_into("=I", head, 96, 4)  # 4 of the 10 frames copied back
            ck.shm.write_bytes(bytes(head))
            assert ck.wal_bytes() == 6 * (page + 24)
    finally:
        ck.stop()


def test_the_pending_bytes_of_a_real_wal_with_64k_pages(tmp_path: Path) -> None:
    db = tmp_path / "big-pages.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA page_size=65536")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute("INSERT INTO t VALUES (randomblob(200000))")
    ck = store_mod._Checkpointer(db)
    try:
        pending = ck.wal_bytes()
        _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert frames == copied > 0 and pending == frames * (65536 + 24)
    finally:
        ck.stop()
        conn.close()


def test_reading_the_wal_index_keeps_sqlites_locks(kv_data: Path) -> None:
    """The checkpointer reads the wal-index while the store writes (every second, and after each
    commit). Opening and closing the -shm file for it dropped every POSIX lock of the process on
    that file, SQLite's WAL write lock among them: another process could then begin writing beside
    the store's open transaction (two writers in one WAL)."""
    import subprocess
    import sys

    node = Node(kv_data, verify_workers=0)
    try:
        _commit(node, SigningKey(b"w" * 32), 1)  # the checkpointer starts with the first block
        ck = node.store._checkpointer
        assert ck is not None
        conn = node.store._conn()
        conn.execute("BEGIN IMMEDIATE")  # the store's write transaction is open
        try:
            ck.wal_bytes()
            ck.wal_bytes()
            other = (
                "import sqlite3, sys\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)\n"
                "try:\n    c.execute('BEGIN IMMEDIATE')\n    print('wrote')\n"
                "except sqlite3.OperationalError as exc:\n    print(exc)\n"
            )
            out = subprocess.run(
                [sys.executable, "-c", other, str(node.store.path)], capture_output=True, text=True, timeout=60
            )
            assert out.stdout.strip() == "database is locked", out
        finally:
            conn.execute("ROLLBACK")
    finally:
        node.close()
