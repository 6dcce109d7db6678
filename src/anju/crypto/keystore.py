"""Password-protected key files: argon2id (libsodium) + XSalsa20-Poly1305 (SecretBox).

File format (JSON): {"anju_keystore": 1, "kdf": "argon2id", "opslimit", "memlimit",
"salt" (base64), "nonce" (base64), "ciphertext" (base64), "public_key" (hex)}.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from anju.crypto.keys import SigningKey, is_hex_key

OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
# The most a keystore may ask of its reader: the file chooses its own argon2id cost, so without a
# bound a forged file of a few hundred bytes makes its reader allocate gigabytes (libsodium allows
# 4 TiB) before any check can fail. Files written here use OPSLIMIT/MEMLIMIT.
MAX_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE
MAX_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE


class KeystoreError(Exception):
    """Wrong password or a damaged keystore file."""


def encrypt(key: SigningKey, password: str, *, opslimit: int = OPSLIMIT, memlimit: int = MEMLIMIT) -> dict[str, Any]:
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    secret = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, password.encode(), salt, opslimit=opslimit, memlimit=memlimit
    )
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(secret)
    ct = box.encrypt(key.seed, nonce).ciphertext
    b64 = base64.b64encode
    return {
        "anju_keystore": 1,
        "kdf": "argon2id",
        "opslimit": opslimit,
        "memlimit": memlimit,
        "salt": b64(salt).decode(),
        "nonce": b64(nonce).decode(),
        "ciphertext": b64(ct).decode(),
        "public_key": key.public_hex,
    }


def decrypt(
    doc: dict[str, Any], password: str, *, max_opslimit: int = MAX_OPSLIMIT, max_memlimit: int = MAX_MEMLIMIT
) -> SigningKey:
    """The key in ``doc``; KeystoreError for a wrong password, a damaged file, or one asking more
    argon2id work than ``max_opslimit`` / ``max_memlimit`` (checked before any work is done)."""
    try:
        if doc.get("anju_keystore") != 1 or doc.get("kdf") != "argon2id":
            raise KeystoreError("not an Anju keystore (version 1, argon2id)")
        ops, mem = doc["opslimit"], doc["memlimit"]
        if type(ops) is not int or type(mem) is not int or not (0 < ops <= max_opslimit and 0 < mem <= max_memlimit):
            raise KeystoreError(
                f"damaged keystore: its argon2id cost is out of bounds (opslimit {ops!r}, memlimit {mem!r})"
            )
        if not is_hex_key(doc.get("public_key")):
            raise KeystoreError("damaged keystore: public_key is not a hex Ed25519 key")
        salt = base64.b64decode(doc["salt"], validate=True)
        nonce = base64.b64decode(doc["nonce"], validate=True)
        ct = base64.b64decode(doc["ciphertext"], validate=True)
        secret = nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE, password.encode(), salt, opslimit=ops, memlimit=mem
        )
        seed = nacl.secret.SecretBox(secret).decrypt(ct, nonce)
    except nacl.exceptions.CryptoError:
        raise KeystoreError("wrong password, or the keystore was altered") from None
    except KeyError as exc:
        raise KeystoreError(f"damaged keystore: it has no {exc.args[0]}") from None
    except (ValueError, TypeError) as exc:
        raise KeystoreError(f"damaged keystore: {exc}") from None
    key = SigningKey(seed)
    if key.public_hex != doc.get("public_key"):
        raise KeystoreError("the keystore's public key does not match its private key")
    return key


def save(path: Path, key: SigningKey, password: str, *, overwrite: bool = False, **kw: int) -> None:
    """Write ``key`` sealed with ``password`` to ``path``, readable by its owner only (0600), whole
    or not at all: written to a new temporary file beside it (created exclusively, mode 0600 set on
    the open file), synced, then linked into place. FileExistsError when ``path`` exists, unless
    ``overwrite`` (then renamed over it); OSError when it cannot be written."""
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, "file exists", str(path))
    doc = encrypt(key, password, **kw)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            json.dump(doc, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # (unlike a rename, never over a file made meanwhile)
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                _write_new(path, Path(tmp).read_bytes())  # a file system without hard links (FAT, some shares)
        _sync_dir(path.parent)  # the name too is on disk before "saved"
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def _write_new(path: Path, content: bytes) -> None:
    """Create ``path`` (never over a file) with ``content``, 0600, synced; removed again if that fails."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _sync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # (not every platform opens directories)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load(path: Path, password: str) -> SigningKey:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise KeystoreError("damaged keystore: not a JSON object")
    return decrypt(doc, password)
