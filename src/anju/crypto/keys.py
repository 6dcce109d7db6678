"""Ed25519 (RFC 8032) keys through libsodium (PyNaCl). Public keys travel as lowercase hex."""

from __future__ import annotations

from typing import NewType

import nacl.bindings
import nacl.exceptions
import nacl.signing

HexKey = NewType("HexKey", str)

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class SigningKey:
    """An Ed25519 private key (32-byte seed)."""

    __slots__ = ("_sk", "public", "seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self.seed = bytes(seed)
        self._sk = nacl.signing.SigningKey(self.seed)
        self.public: bytes = bytes(self._sk.verify_key)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        return cls(seed)

    @property
    def public_hex(self) -> HexKey:
        return HexKey(self.public.hex())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SigningKey) and other.seed == self.seed

    def __hash__(self) -> int:
        return hash(self.public)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of ``message``."""
        return self._sk.sign(message).signature

    def __repr__(self) -> str:  # never print the seed
        return f"SigningKey(public={self.public_hex})"


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public``."""
    if len(public) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    # libsodium's crypto_sign_open rejects small-order points and non-canonical encodings,
    # as RFC 8032's strict verification asks.
    try:
        nacl.bindings.crypto_sign_open(signature + message, public)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def is_hex_key(value: object) -> bool:
    """True for a lowercase-hex 32-byte public key (``strip`` leaves nothing of 64 lowercase hex digits)."""
    return type(value) is str and len(value) == 64 and not value.strip("0123456789abcdef")
