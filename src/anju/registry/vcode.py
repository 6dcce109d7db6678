"""Listing verification codes (房源核验码): 10 Crockford base32 characters, derived from the txid.

Ten characters carry 50 bits: short enough to type from a poster, and derived (not drawn) so
that a replay gives the same code. On the rare collision the next candidate hashes the txid with
a counter; the chosen code is stored under ``code/<CODE>`` so the choice is itself provable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
LENGTH = 10
_READS_AS = {"O": "0", "I": "1", "L": "1"}


def _encode(n: int) -> str:
    return "".join(ALPHABET[(n >> (5 * (LENGTH - 1 - i))) & 31] for i in range(LENGTH))


def candidates(txid: str) -> Iterator[str]:
    """Codes to try, in order: the txid's first 50 bits, then hashes of txid and a counter."""
    yield _encode(int(txid[:13], 16) >> 2)
    i = 1
    while True:
        digest = hashlib.sha256(f"anju-listing-code\n{txid}\n{i}".encode()).hexdigest()
        yield _encode(int(digest[:13], 16) >> 2)
        i += 1


def normalize(text: str) -> str | None:
    """The canonical code a human typed (any case, dashes/spaces, O for 0, I/L for 1), else None."""
    s = "".join(ch for ch in text.upper() if ch not in "- ")
    s = "".join(_READS_AS.get(ch, ch) for ch in s)
    if len(s) != LENGTH or any(ch not in ALPHABET for ch in s):
        return None
    return s


def display(code: str) -> str:
    """How a code is printed for people: two groups of five."""
    return f"{code[:5]}-{code[5:]}"
