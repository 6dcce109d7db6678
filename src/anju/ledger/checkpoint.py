"""Anju checkpoints: C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint) bodies in C2SP signed notes.

C2SP "Note text": origin line; tree size in ASCII decimal without leading zeros; base64 RFC 9162
root; then optional non-empty extension lines. Anju's checkpoint has exactly three extension
lines, in this order, committing to the block and the authenticated state::

    <origin = chain id>
    <log size>
    <base64 log root, RFC 9162 §2.1.1>
    anju-height <block height, decimal, no leading zeros>
    anju-state <base64 32-byte state root>
    anju-time <block time, RFC 3339 UTC with milliseconds: YYYY-MM-DDTHH:MM:SS.mmmZ>

``app_hash`` (what CometBFT records) = SHA-256 of the body's first three lines and its
``anju-state`` line, as they appear in the body (UTF-8, each with its newline)::

    <origin>\n<log size>\n<base64 log root>\nanju-state <base64 state root>\n

It commits to the log and the state, not to the height and time: a block without transactions
leaves it unchanged, so a consortium's CometBFT waits for transactions instead of making a block
every ``timeout_commit`` (the height and time are in the checkpoint the members cosign).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
from anju.ledger.note import Verifier, open_note, sign_note, valid_name

MAX_UINT64 = (1 << 64) - 1
HASH_SIZE = 32
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _fail(message: str, **evidence: object) -> VerificationError:
    return VerificationError("CHECKPOINT_INVALID", message, reason="malformed", **evidence)


def _uint64(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_UINT64:
        raise _fail(f"{what} is not a decimal 0..2^64-1 without leading zeros", value=text[:40])
    return int(text)


def _root(text: str, what: str, hash_size: int | None) -> bytes:
    if not _B64.fullmatch(text) or len(text) % 4:
        raise _fail(f"{what} is not base64", value=text[:60])
    raw = base64.b64decode(text)
    if base64.b64encode(raw).decode() != text:
        raise _fail(f"{what} is not canonical base64", value=text[:60])
    if hash_size is not None and len(raw) != hash_size:
        raise _fail(f"{what} is not a {hash_size}-byte hash", length=len(raw))
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class CheckpointBody:
    """Any C2SP checkpoint body: origin, size, root hash and opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]


def parse_checkpoint_body(text: str, hash_size: int | None = HASH_SIZE) -> CheckpointBody:
    """Parse a C2SP checkpoint body (note text); ``hash_size=None`` accepts roots of any length."""
    if not text.endswith("\n"):
        raise _fail("checkpoint text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise _fail("checkpoint text contains a control character")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise _fail("checkpoint has fewer than three lines", lines=len(lines))
    if any(not line for line in lines):
        raise _fail("checkpoint has an empty line")
    origin, size, root = lines[0], _uint64(lines[1], "tree size"), _root(lines[2], "root hash", hash_size)
    return CheckpointBody(origin, size, root, tuple(lines[3:]))


def is_block_time(value: object) -> bool:
    """Whether ``value`` is a block time as a checkpoint's ``anju-time`` line takes it (RFC 3339
    UTC with milliseconds, a valid date and time)."""
    if not isinstance(value, str):
        return False
    try:
        _check_time(value)
    except VerificationError:
        return False
    return True


def _check_time(value: str) -> None:
    if not _TIME.fullmatch(value):
        raise _fail("time is not RFC 3339 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)", time=value[:40])
    try:
        datetime.fromisoformat(value[:-1])
    except ValueError:
        raise _fail("time is not a valid date and time", time=value) from None


@dataclass(frozen=True)
class Checkpoint:
    """A block's checkpoint: log (size, root), block height, state root and block time."""

    origin: str
    size: int
    root: bytes
    height: int
    state_root: bytes
    time: str

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not valid_name(self.origin):
            raise _fail("origin must be non-empty, without spaces, '+' or control characters")
        for what, n in (("size", self.size), ("height", self.height)):
            if type(n) is not int or not 0 <= n <= MAX_UINT64:
                raise _fail(f"{what} is not an integer 0..2^64-1", **{what: repr(n)})
        for what, h in (("root", self.root), ("state_root", self.state_root)):
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise _fail(f"{what} is not a {HASH_SIZE}-byte hash")
        if not isinstance(self.time, str):
            raise _fail("time is not a string")
        _check_time(self.time)

    def to_text(self) -> str:
        """The note text (C2SP checkpoint body) that is signed."""
        return f"{self._log_lines()}anju-height {self.height}\n{self._state_line()}anju-time {self.time}\n"

    def _log_lines(self) -> str:
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n"

    def _state_line(self) -> str:
        return f"anju-state {_b64(self.state_root)}\n"

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Strict parse: exactly the format :meth:`to_text` writes, nothing else."""
        body = parse_checkpoint_body(text)
        ext = body.extensions
        keys = ("anju-height ", "anju-state ", "anju-time ")
        if len(ext) != 3 or any(not line.startswith(k) for line, k in zip(ext, keys, strict=True)):
            raise _fail("checkpoint needs exactly the anju-height, anju-state, anju-time lines", extensions=len(ext))
        height = _uint64(ext[0][len(keys[0]) :], "height")
        state_root = _root(ext[1][len(keys[1]) :], "state root", HASH_SIZE)
        cp = cls(body.origin, body.size, body.root, height, state_root, ext[2][len(keys[2]) :])
        if cp.to_text() != text:
            raise _fail("checkpoint text is not in canonical form")
        return cp

    def sign(self, key: SigningKey, name: str) -> str:
        """The signed note: this body, a blank line, the signature line by ``name``."""
        return sign_note(self.to_text(), name, key)

    @classmethod
    def open(cls, note: str | bytes, verifiers: Iterable[Verifier], threshold: int = 1) -> Checkpoint:
        """Verify the note's signatures (``threshold`` distinct known names), then parse strictly."""
        text, _ = open_note(note, verifiers, threshold)
        return cls.from_text(text)

    def app_hash(self) -> bytes:
        """What CometBFT records as the app hash: SHA-256 of the log and state lines of the body
        (the height and time lines left out, so that a block without transactions keeps it)."""
        return hashlib.sha256((self._log_lines() + self._state_line()).encode()).digest()
