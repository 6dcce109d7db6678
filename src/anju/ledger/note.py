"""C2SP signed-note (c2sp.org/signed-note) with Ed25519 signatures (signature type 0x01).

A note is UTF-8 text ending in a newline, a blank line, then one or more signature lines
``— <name> <base64(key id ‖ signature)>`` (em dash U+2014, space). No ASCII control characters
other than newline. The text is split from the signatures at the last blank line ("Format").

- key id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4] ("Ed25519 signatures");
- verifier key ``<name>+<hex8 key id>+<base64(0x01 ‖ public key)>`` (the Go sumdb/note format that
  C2SP's examples use), signer key ``PRIVATE+KEY+<name>+<hex8 key id>+<base64(0x01 ‖ seed)>``;
- opening follows "Signatures": lines whose (name, key id) match no known verifier are ignored;
  a known key's signature must verify or the note is rejected; at least one known key (or
  ``threshold`` distinct known names) must have signed. Identical repeated signature lines count
  once. More than :data:`MAX_SIGNATURES` lines is refused (C2SP: accept at least 16).

Every failure raises ``VerificationError("CHECKPOINT_INVALID", ..., reason=...)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from anju.crypto.keys import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, SigningKey, verify
from anju.errors import VerificationError

ALG_ED25519 = 0x01
ASSIGNED_OTHER_ALGS = frozenset({0x02, 0x04, 0x05})  # C2SP-assigned types we do not implement
MAX_SIGNATURES = 100
SIG_PREFIX = "\u2014 "


def _fail(reason: str, message: str, **evidence: object) -> VerificationError:
    return VerificationError("CHECKPOINT_INVALID", message, reason=reason, **evidence)


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4): canonical padding and bits, nothing else."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise ValueError("not canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def valid_name(name: str) -> bool:
    """C2SP key names: non-empty, no Unicode spaces, no '+', no control characters."""
    return bool(name) and not any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name)


def key_id(name: str, public: bytes) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()[:4]


def vkey_of(name: str, public: bytes) -> str:
    """The verifier key text ``name+hex8+base64(0x01 ‖ public)``."""
    if not valid_name(name) or len(public) != PUBLIC_KEY_BYTES:
        raise ValueError("invalid key name or public key")
    return f"{name}+{key_id(name, public).hex()}+{_b64(bytes([ALG_ED25519]) + public)}"


def skey_of(name: str, key: SigningKey) -> str:
    """The signer key text ``PRIVATE+KEY+name+hex8+base64(0x01 ‖ seed)`` (keep it secret)."""
    if not valid_name(name):
        raise ValueError("invalid key name")
    return f"PRIVATE+KEY+{name}+{key_id(name, key.public).hex()}+{_b64(bytes([ALG_ED25519]) + key.seed)}"


def _split_key(text: str) -> tuple[str, bytes, int, bytes]:
    """Parse ``name+hex8+base64(alg ‖ key)`` (the base64 may hold '+'): (name, key id, alg, key)."""
    fields = text.split("+", 2)
    if len(fields) != 3:
        raise _fail("malformed_key", "key text is not name+keyid+key")
    name, hexid, b64 = fields
    if not valid_name(name) or len(hexid) != 8:
        raise _fail("malformed_key", "bad key name or key id", name=name)
    try:
        kid = bytes.fromhex(hexid)
        raw = _b64decode(b64)
    except ValueError:
        raise _fail("malformed_key", "key id is not hex or key is not base64", name=name) from None
    if not raw:
        raise _fail("malformed_key", "empty key", name=name)
    if raw[0] in ASSIGNED_OTHER_ALGS:
        raise _fail("unsupported_key", f"signature type 0x{raw[0]:02x} is not supported (Ed25519 only)", name=name)
    if raw[0] != ALG_ED25519 or len(raw) != 1 + PUBLIC_KEY_BYTES:
        raise _fail("malformed_key", "not an Ed25519 (0x01) key of 32 bytes", name=name)
    return name, kid, raw[0], raw[1:]


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 note verifier: key name, 4-byte key id, public key."""

    name: str
    key_id: bytes
    public: bytes

    @classmethod
    def from_vkey(cls, text: str) -> Verifier:
        name, kid, _, public = _split_key(text)
        if key_id(name, public) != kid:
            raise _fail("malformed_key", "key id does not match name and public key", name=name)
        return cls(name, kid, public)

    @classmethod
    def of(cls, name: str, public: bytes) -> Verifier:
        return cls.from_vkey(vkey_of(name, public))

    @property
    def vkey(self) -> str:
        return vkey_of(self.name, self.public)

    def verify(self, text: bytes, signature: bytes) -> bool:
        return len(signature) == SIGNATURE_BYTES and verify(self.public, text, signature)


def signer_from_skey(text: str) -> tuple[str, SigningKey]:
    """Parse a ``PRIVATE+KEY+...`` signer key into (name, key); the key id must match."""
    if not text.startswith("PRIVATE+KEY+"):
        raise _fail("malformed_key", "signer key does not start with PRIVATE+KEY+")
    name, kid, _, seed = _split_key(text.removeprefix("PRIVATE+KEY+"))
    key = SigningKey(seed)
    if key_id(name, key.public) != kid:
        raise _fail("malformed_key", "key id does not match name and public key", name=name)
    return name, key


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, key id, signature bytes (after the key id)."""

    name: str
    key_id: bytes
    sig: bytes

    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} {_b64(self.key_id + self.sig)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed, not yet verified, signed note."""

    text: str
    signatures: tuple[Signature, ...]

    def format(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise _fail("malformed", "note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise _fail("malformed", "note contains a control character")


def parse_note(note: str | bytes) -> Note:
    """Split a note into text and signature lines; check syntax only (no signature is verified)."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail("malformed", "note is not valid UTF-8") from None
    _check_text(note)
    cut = note.rfind("\n\n")
    if cut < 0:
        raise _fail("malformed", "note has no blank line before its signatures")
    text, lines = note[: cut + 1], note[cut + 2 :].split("\n")[:-1]
    if not lines:
        raise _fail("malformed", "note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise _fail("malformed", f"note has more than {MAX_SIGNATURES} signatures", count=len(lines))
    sigs: list[Signature] = []
    for n, line in enumerate(lines):
        fields = line[len(SIG_PREFIX) :].split(" ") if line.startswith(SIG_PREFIX) else []
        if len(fields) != 2 or not valid_name(fields[0]):
            raise _fail("malformed", "bad signature line", line_number=n)
        try:
            raw = _b64decode(fields[1])
        except ValueError:
            raise _fail("malformed", "signature is not base64", line_number=n) from None
        if len(raw) < 5:
            raise _fail("malformed", "signature is too short", line_number=n)
        sigs.append(Signature(fields[0], raw[:4], raw[4:]))
    return Note(text, tuple(sigs))


def signature_for(text: str, name: str, key: SigningKey) -> Signature:
    """Sign ``text`` (which must end in a newline) as ``name``."""
    _check_text(text)
    if not valid_name(name):
        raise ValueError(f"invalid key name {name!r}")
    return Signature(name, key_id(name, key.public), key.sign(text.encode()))


def sign_note(text: str, name: str, key: SigningKey) -> str:
    """The signed note: text, a blank line, one signature line."""
    return Note(text, (signature_for(text, name, key),)).format()


def add_signature(note: str, name: str, key: SigningKey) -> str:
    """Cosign: append ``name``'s signature of the same text (no-op if that exact line is there)."""
    parsed = parse_note(note)
    sig = signature_for(parsed.text, name, key)
    if sig in parsed.signatures:
        return note
    return Note(parsed.text, (*parsed.signatures, sig)).format()


def open_note(note: str | bytes, verifiers: Iterable[Verifier], threshold: int = 1) -> tuple[str, list[str]]:
    """Verify a note: (text, distinct names of the known verifiers that signed it, in note order).

    Unknown (name, key id) pairs are ignored; a known key's bad signature rejects the note; fewer
    than ``threshold`` distinct known names rejects it (``threshold=0``: only check what is there).
    """
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        if known.setdefault((v.name, v.key_id), v) != v:
            raise _fail("ambiguous_verifiers", "two verifiers share a name and key id", name=v.name)
    parsed = parse_note(note)
    body = parsed.text.encode()
    names: list[str] = []
    for sig in dict.fromkeys(parsed.signatures):  # identical repeated lines count once
        signer = known.get((sig.name, sig.key_id))
        if signer is None:
            continue
        if not signer.verify(body, sig.sig):
            raise _fail("bad_signature", "a signature by a known key does not verify", name=sig.name)
        if sig.name not in names:
            names.append(sig.name)
    if len(names) < threshold:
        reason = "no_known_signature" if not names else "below_threshold"
        raise _fail(reason, "not enough known verifiers signed the note", signed=names, threshold=threshold)
    return parsed.text, names


def quorum(n: int) -> int:
    """⌊2n/3⌋ + 1: more than two thirds of ``n`` signers (docs/PROTOCOL.md §8, a consortium's
    cosigned checkpoint); 1 for a single key. What a verifier trusting ``n`` keys should require
    unless told otherwise: one signature of a consortium's ``n`` is one member's word, not the
    consortium's."""
    if n < 1:
        raise ValueError("need at least one signer")
    return 2 * n // 3 + 1


def open_note_threshold(note: str | bytes, verifiers: Iterable[Verifier], threshold: int) -> tuple[str, list[str]]:
    """As :func:`open_note`, requiring signatures of at least ``threshold`` distinct known names."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    return open_note(note, verifiers, threshold)
