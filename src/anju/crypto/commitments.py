"""Salted commitments: how personal data and other guessable facts appear on the ledger.

``commitment = hex(SHA-256(salt ‖ UTF-8(text)))`` with a fresh 16-byte salt. The ledger holds only
the commitment; the person keeps the text and the salt, and proves the fact later by showing
both to whom they choose (docs/REGISTRY.md, "Parties"). A plain hash of a name, an ID number or
an address could be found by trying them all; the salt makes that useless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SALT_BYTES = 16


def document_text(text: str) -> str:
    """A document's text as committed to: line breaks as ``\n`` (a browser sends a text area's as
    ``\r\n``, a file may hold either), no whitespace around it. The portal commits to a lease
    contract so, and ``anju keys commit --file`` reads a copy so: the same words give the same
    commitment whichever way they were typed or saved."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def commit(text: str, salt_hex: str | None = None) -> tuple[str, str]:
    """(salt hex, commitment hex) for ``text``; a fresh random salt unless one is given."""
    salt = bytes.fromhex(salt_hex) if salt_hex is not None else secrets.token_bytes(SALT_BYTES)
    if len(salt) != SALT_BYTES:
        raise ValueError(f"a salt is {SALT_BYTES} bytes")
    return salt.hex(), hashlib.sha256(salt + text.encode()).hexdigest()


def opens(commitment: str, text: str, salt_hex: str) -> bool:
    """Whether ``text`` with ``salt_hex`` (16 bytes) opens ``commitment``."""
    try:
        if len(bytes.fromhex(salt_hex)) != SALT_BYTES:
            return False
        _salt, expected = commit(text, salt_hex)
    except ValueError:  # not hex
        return False
    return hmac.compare_digest(expected.encode(), commitment.lower().encode())


def keyed_commit(secret: bytes, purpose: str, text: str) -> tuple[str, str]:
    """(salt hex, commitment hex) for ``text`` with a salt derived from ``secret``: the same text
    always gives the same commitment for this secret's holder (so a registry can refuse a second
    use of it) while nobody without the secret can test guesses against it. Used for title
    certificate numbers, salted by the housing authority's key."""
    salt = hmac.new(secret, f"anju-commitment\n{purpose}\n{text}".encode(), hashlib.sha256).digest()[:SALT_BYTES]
    return commit(text, salt.hex())
