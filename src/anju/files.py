"""Writing a small file whole or not at all: key files, keystores, genesis, a remembered checkpoint.

Every layer may use it (like :mod:`anju.errors`): the content goes to a new temporary file beside
``path`` (created exclusively, its mode set on the open file before anything is written), is
synced, then takes ``path``'s name (renamed over an existing file, or linked, never over one made
meanwhile); the directory is synced so that the name too is on disk. An interrupted write leaves
the old file or the new one; a temporary file left by a process killed midway (it may hold a key)
is removed by the next write to the same name. Writers of one name take turns (a lock of their own:
the remembered checkpoint's), or the last one's content wins.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import tempfile
from pathlib import Path

_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def write_whole(path: Path, content: bytes, *, mode: int = 0o600, overwrite: bool = True) -> None:
    """Write ``content`` to ``path`` whole, synced, with ``mode`` (0600: only its owner reads it).

    With ``overwrite`` false, FileExistsError when ``path`` exists, also when another process
    creates it while this one writes. OSError when it cannot be written (nothing is left behind)."""
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, "file exists", str(path))
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # left by a write killed midway (a key, maybe)
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _fill(fd, content, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # (unlike a rename, never over a file made meanwhile)
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                _write_new(path, content, mode)  # a file system without hard links (FAT, some shares)
        sync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _write_new(path: Path, content: bytes, mode: int) -> None:
    """Create ``path`` (never over a file) with ``content`` and ``mode``, synced; removed again if that fails."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        _fill(fd, content, mode)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _fill(fd: int, content: bytes, mode: int) -> None:
    """Give the new file open on ``fd`` its mode, then ``content``, synced; closes ``fd``."""
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)
        f.write(content)
        f.flush()
        os.fsync(f.fileno())


def sync_dir(directory: Path) -> None:
    """Sync a directory, so that names created or renamed in it are on disk (where it can be opened)."""
    with contextlib.suppress(OSError):  # (not every platform opens directories)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
