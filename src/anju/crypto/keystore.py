"""Password-protected key files: argon2id (libsodium) + XSalsa20-Poly1305 (SecretBox).

File format (JSON): {"anju_keystore": 1, "kdf": "argon2id", "opslimit", "memlimit",
"salt" (base64), "nonce" (base64), "ciphertext" (base64), "public_key" (hex)}.
"""

from __future__ import annotations

import base64
import errno
import json
import os
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from anju.crypto.keys import SigningKey, is_hex_key
from anju.files import write_whole

_argon = nacl.pwhash.argon2id
OPSLIMIT = _argon.OPSLIMIT_MODERATE
MEMLIMIT = _argon.MEMLIMIT_MODERATE
# The most a keystore may ask of its reader: the file chooses its own argon2id cost, so without a
# bound a forged file of a few hundred bytes makes its reader allocate gigabytes (libsodium allows
# 4 TiB) before any check can fail. Files written here use OPSLIMIT/MEMLIMIT.
MAX_OPSLIMIT = _argon.OPSLIMIT_SENSITIVE
MAX_MEMLIMIT = _argon.MEMLIMIT_SENSITIVE


class KeystoreError(Exception):
    """A keystore that cannot be opened. ``code`` says why, as the command line reports it:
    ``KEYSTORE_PASSWORD`` (a wrong password, or a keystore altered), ``KEY_FILE_INVALID`` (not a
    keystore, a damaged one, one asking an argon2id cost outside the bounds read), ``FILE_UNREADABLE``."""

    def __init__(self, message: str, code: str = "KEY_FILE_INVALID") -> None:
        super().__init__(message)
        self.code = code


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
        if (
            type(ops) is not int
            or type(mem) is not int
            or not (_argon.OPSLIMIT_MIN <= ops <= max_opslimit and _argon.MEMLIMIT_MIN <= mem <= max_memlimit)
        ):  # (checked here: libsodium's own refusal of a cost below its minimum reads as a wrong password)
            raise KeystoreError(
                f"damaged keystore: its argon2id cost is out of bounds (opslimit {ops!r}, memlimit {mem!r}; "
                f"read: opslimit {_argon.OPSLIMIT_MIN}..{max_opslimit}, memlimit {_argon.MEMLIMIT_MIN}..{max_memlimit})"
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
        raise KeystoreError("wrong password, or the keystore was altered", "KEYSTORE_PASSWORD") from None
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
    or not at all (:func:`anju.files.write_whole`). FileExistsError when ``path`` exists, unless
    ``overwrite`` (then written over it); OSError when it cannot be written."""
    path = Path(path)
    if not overwrite and os.path.lexists(path):  # (before the password derivation it would waste)
        raise FileExistsError(errno.EEXIST, "file exists", str(path))
    doc = encrypt(key, password, **kw)
    write_whole(path, json.dumps(doc, indent=1).encode(), mode=0o600, overwrite=overwrite)


def load(path: Path, password: str) -> SigningKey:
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror or exc}", "FILE_UNREADABLE") from None
    except ValueError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc}") from None
    except RecursionError:  # (json's parser recurses: a document nested deeper than the stack)
        raise KeystoreError(f"cannot read keystore {path}: not JSON: nested too deep") from None
    if not isinstance(doc, dict):
        raise KeystoreError("damaged keystore: not a JSON object")
    return decrypt(doc, password)
