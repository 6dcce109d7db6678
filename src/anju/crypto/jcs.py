"""RFC 8785 JSON Canonicalization Scheme (JCS) for Anju's JSON domain.

Anju's JSON holds only objects with ASCII keys, arrays, strings, booleans, null and integers in
the I-JSON safe range (|n| <= 2^53 - 1). On that domain JCS is exactly "UTF-8, no whitespace,
object members sorted by key, ECMAScript string escaping", which orjson produces natively and
fast. :func:`check_domain` enforces the domain, and the test-suite checks byte equality with the
reference ``rfc8785`` package (including Hypothesis-generated documents).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from anju.errors import AnjuError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32

_OPTS = orjson.OPT_SORT_KEYS


def check_domain(value: Any, depth: int = 0) -> None:
    """Raise unless ``value`` lies in Anju's JSON domain (no floats, safe integers, ASCII keys)."""
    if depth > MAX_DEPTH:
        raise AnjuError("MALFORMED_ENVELOPE", f"JSON nested deeper than {MAX_DEPTH} levels")
    t = type(value)
    if t is str or value is None or t is bool:
        return
    if t is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise AnjuError("INTEGER_OUT_OF_RANGE", f"integer {value} is outside ±(2^53-1)")
        return
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                raise AnjuError("MALFORMED_ENVELOPE", f"object key {k!r} is not an ASCII string")
            check_domain(v, depth + 1)
        return
    if t is list:
        for v in value:
            check_domain(v, depth + 1)
        return
    if t is float:
        raise AnjuError("NON_INTEGER_NUMBER", f"number {value!r} is not an integer")
    raise AnjuError("MALFORMED_ENVELOPE", f"value of type {t.__name__} is not JSON")


def trimmed(raw: bytes) -> bytes:
    """``raw`` copied into a bytes object of its own size. orjson (3.12 on) returns its output
    buffer without shrinking it: at least 4 KiB per result however short, ~16 KiB for 1.5 KB of
    JSON. A result kept (a state value in the node's caches, a transaction's canonical form in the
    mempool) would hold all of it: the node's cache of 2·10^6 state values, 8 GB instead of about 1."""
    return b"".join((raw, b""))  # (two parts: join copies; faster than bytes(memoryview(raw)))


def canonicalize(value: Any) -> bytes:
    """JCS bytes of ``value`` (of their own size: see :func:`trimmed`); the caller has checked the
    domain (see :func:`check_domain`)."""
    return trimmed(orjson.dumps(value, option=_OPTS))


def loads(raw: bytes | str) -> Any:
    """Parse JSON strictly (UTF-8, RFC 8259); raise ``MALFORMED_JSON`` on failure."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AnjuError("MALFORMED_JSON", f"not valid JSON: {exc}") from None


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
