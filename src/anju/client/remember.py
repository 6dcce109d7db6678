"""A client's memory of the newest checkpoint it verified, kept in a file between sessions.

Within one :class:`~anju.client.AnjuClient` every checkpoint must extend the last one seen. A
node that rolls its ledger back (restored from an old copy) or forks it between two *runs* of a
client is only caught if the client remembers: with ``remember=FILE`` the client starts from the
checkpoint in FILE, so the node's next answer must be of a log at least as large and, when larger,
come with a consistency proof from it (RFC 9162). The file holds one signed checkpoint note, as
the node served it; it is replaced atomically, and only by a newer checkpoint of the same history.

Use one file per chain and set of trusted keys: a note the trusted keys did not sign is refused
(CHECKPOINT_INVALID, reason ``remembered``), never silently replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from anju.errors import VerificationError
from anju.files import write_whole
from anju.ledger.checkpoint import Checkpoint

MAX_NOTE_BYTES = 64 * 1024
"""A checkpoint note is a few hundred bytes (a consortium's, a few kilobytes): more is not one."""


class CheckpointFile:
    """The file ``path``: read at start, advanced after each newer checkpoint (see the module doc)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self, open_note: Callable[[str], Checkpoint]) -> Checkpoint | None:
        """The remembered checkpoint, opened (signature checked) by ``open_note``; None when the
        file does not exist yet. Unreadable, malformed or not signed by the trusted keys:
        CHECKPOINT_INVALID with reason ``remembered``."""
        note = self._note()
        return None if note is None else self._open(note, open_note)

    def advance(self, note: str, cp: Checkpoint, open_note: Callable[[str], Checkpoint]) -> None:
        """Remember ``cp`` (whose note is ``note``) unless the file already holds a checkpoint at
        least as new: another client sharing the file may have gone further. Both must tell one
        history (:func:`one_history` raises otherwise, and the file is left as it is)."""
        with self._locked():
            held = self._note()
            if held is not None:
                old = self._open(held, open_note)
                one_history(old, cp)
                if (cp.size, cp.height) <= (old.size, old.height):
                    return
            self._write(note)

    # -- the file ------------------------------------------------------------------------------
    def _note(self) -> str | None:
        try:
            with open(self.path, "rb") as f:
                raw = f.read(MAX_NOTE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._refused(f"cannot read it: {exc.strerror or exc}") from None
        if len(raw) > MAX_NOTE_BYTES:
            raise self._refused(f"it is larger than a checkpoint note ({MAX_NOTE_BYTES} bytes)")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._refused("it is not UTF-8 text") from None

    def _open(self, note: str, open_note: Callable[[str], Checkpoint]) -> Checkpoint:
        try:
            return open_note(note)
        except VerificationError as exc:
            raise self._refused(f"{exc.message} (a file of another chain or set of keys?)") from None

    def _refused(self, why: str) -> VerificationError:
        return VerificationError(
            "CHECKPOINT_INVALID",
            f"the remembered checkpoint in {self.path} is unusable: {why}",
            reason="remembered",
            file=str(self.path),
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise writers (several clients may share one file): a lock file beside it."""
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._refused(f"cannot lock it: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # (closing releases the lock)

    def _write(self, note: str) -> None:
        """Replace the file whole (:func:`anju.files.write_whole`)."""
        try:
            write_whole(self.path, note.encode("utf-8"), mode=0o644)  # (a public checkpoint)
        except OSError as exc:
            raise self._refused(f"cannot write it: {exc.strerror or exc}") from None


def one_history(a: Checkpoint, b: Checkpoint) -> None:
    """Two checkpoints the trusted keys signed must describe one history, or the signers
    equivocated (PROOF_INVALID, both notes' texts as evidence): one height is one block; a later
    block has a log at least as large and a time no earlier; and one log size is one log root
    and one state (a block without transactions changes neither)."""
    lo, hi = (a, b) if (a.height, a.size) <= (b.height, b.size) else (b, a)
    if lo.height == hi.height and lo != hi:
        problem = "two checkpoints of the same height differ"
    elif lo.size > hi.size or lo.time > hi.time:
        problem = "a later block has a smaller log or an earlier time"
    elif lo.size == hi.size and lo.root != hi.root:
        problem = "two checkpoints of the same size with different roots"
    elif lo.size == hi.size and lo.state_root != hi.state_root:
        problem = "two checkpoints of the same log with different state roots"
    else:
        return
    raise VerificationError("PROOF_INVALID", problem, size=lo.size, first=a.to_text(), second=b.to_text())
