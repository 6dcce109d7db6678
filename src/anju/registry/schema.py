"""Field types for transaction bodies: each checks a value and says what it accepts.

A wrong JSON type or an impossible value is INVALID_FIELD; an integer outside the field's own
range (negative money, a payment day of 31) is INTEGER_OUT_OF_RANGE; a field the kind does not
define is UNKNOWN_FIELD.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from anju.crypto.keys import is_hex_key
from anju.registry.codes import reject
from anju.registry.dates import parse_date, parse_month

MAX_MONEY = 10**13  # fen; RMB 100 billion, far above any rent, still exact in JSON
BASE_FIELDS = frozenset({"chain", "kind", "signer", "seq"})


def _is_hex(value: object, length: int) -> bool:
    if type(value) is not str or len(value) != length:
        return False
    return all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True, slots=True)
class Field:
    """One body field: its type name (as documented), a description, and whether it may be absent."""

    type: str
    doc: str
    optional: bool = False
    lo: int = 0
    hi: int = MAX_MONEY
    choices: tuple[str, ...] = ()
    max_len: int = 0

    def check(self, name: str, value: Any) -> None:
        t = self.type
        if t in ("int", "money"):
            if type(value) is not int:
                reject("INVALID_FIELD", f"{name} must be an integer", field=name)
            if not self.lo <= value <= self.hi:
                reject("INTEGER_OUT_OF_RANGE", f"{name} must lie in {self.lo}..{self.hi}", field=name)
        elif t == "bool":
            if type(value) is not bool:
                reject("INVALID_FIELD", f"{name} must be true or false", field=name)
        elif t == "key":
            if not is_hex_key(value):
                reject("INVALID_FIELD", f"{name} must be a lowercase hex Ed25519 public key", field=name)
        elif t == "hash":
            if not _is_hex(value, 64):
                reject("INVALID_FIELD", f"{name} must be 64 lowercase hex characters (SHA-256)", field=name)
        elif t == "id":
            if not _is_hex(value, 16):
                reject("INVALID_FIELD", f"{name} must be 16 lowercase hex characters", field=name)
        elif t == "date":
            if parse_date(value) is None:
                reject("INVALID_FIELD", f"{name} must be a real date YYYY-MM-DD", field=name)
        elif t == "month":
            if parse_month(value) is None:
                reject("INVALID_FIELD", f"{name} must be a month YYYY-MM", field=name)
        elif t == "enum":
            if value not in self.choices or type(value) is not str:
                reject("INVALID_FIELD", f"{name} must be one of {list(self.choices)}", field=name)
        elif t == "text":
            if type(value) is not str or not value.strip() or len(value) > self.max_len:
                reject("INVALID_FIELD", f"{name} must be a non-blank string, at most {self.max_len} chars", field=name)
        elif t == "hashes":
            if type(value) is not list or len(value) > self.max_len:
                reject("INVALID_FIELD", f"{name} must be a list of at most {self.max_len} hashes", field=name)
            for item in value:
                if not _is_hex(item, 64):
                    reject("INVALID_FIELD", f"{name} holds a value that is not a SHA-256 hex hash", field=name)
            if len(set(value)) != len(value):
                reject("INVALID_FIELD", f"{name} lists a hash twice", field=name)
        elif t == "deductions":
            _check_deductions(name, value, self.max_len)
        else:  # pragma: no cover - a typo in the kind table, caught by tests
            raise AssertionError(f"unknown field type {t}")


def _check_deductions(name: str, value: Any, max_len: int) -> None:
    if type(value) is not list or len(value) > max_len:
        reject("INVALID_FIELD", f"{name} must be a list of at most {max_len} items", field=name)
    for item in value:
        if type(item) is not dict or set(item) != {"reason", "amount"}:
            reject("INVALID_FIELD", f"each {name} item is exactly {{reason, amount}}", field=name)
        reason, amount = item["reason"], item["amount"]
        if type(reason) is not str or not reason.strip() or len(reason) > 200:
            reject("INVALID_FIELD", f"{name}[].reason must be a non-blank string of at most 200 chars", field=name)
        if type(amount) is not int:
            reject("INVALID_FIELD", f"{name}[].amount must be an integer (fen)", field=name)
        if not 1 <= amount <= MAX_MONEY:
            reject("INTEGER_OUT_OF_RANGE", f"{name}[].amount must lie in 1..{MAX_MONEY}", field=name)


def check_body(body: Mapping[str, Any], fields: Mapping[str, Field]) -> None:
    """Check ``body`` against a kind's fields (the envelope's base fields are checked upstream)."""
    unknown = sorted(set(body) - BASE_FIELDS - set(fields))
    if unknown:
        reject("UNKNOWN_FIELD", f"unknown field(s) for {body.get('kind')}: {unknown}", fields=unknown)
    for name, spec in fields.items():
        if name not in body:
            if spec.optional:
                continue
            reject("INVALID_FIELD", f"{name} is required", field=name)
        value = body[name]
        if value is None and spec.optional:
            continue
        spec.check(name, value)


# Shorthands used by the kind table.
def money(doc: str, *, optional: bool = False, lo: int = 0) -> Field:
    return Field("money", doc, optional, lo=lo)


def integer(doc: str, lo: int, hi: int, *, optional: bool = False) -> Field:
    return Field("int", doc, optional, lo=lo, hi=hi)


def enum(doc: str, *choices: str, optional: bool = False) -> Field:
    return Field("enum", doc, optional, choices=choices)


def text(doc: str, max_len: int, *, optional: bool = False) -> Field:
    return Field("text", doc, optional, max_len=max_len)


def hashes(doc: str, max_len: int, *, optional: bool = False) -> Field:
    return Field("hashes", doc, optional, max_len=max_len)
