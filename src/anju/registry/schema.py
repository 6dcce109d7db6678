"""Field types for transaction bodies: each checks a value and says what it accepts.

A wrong JSON type or an impossible value is INVALID_FIELD; an integer outside the field's own
range (negative money, a payment day of 31) is INTEGER_OUT_OF_RANGE; a field the kind does not
define is UNKNOWN_FIELD.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from anju.crypto.keys import is_hex_key
from anju.registry.codes import reject
from anju.registry.dates import parse_date, parse_month
from anju.registry.personal import check_personal

MAX_MONEY = 10**13  # fen; RMB 100 billion, far above any rent, still exact in JSON
BASE_FIELDS = frozenset({"chain", "kind", "signer", "seq"})


_HEX = "0123456789abcdef"


def _is_hex(value: object, length: int) -> bool:
    """``value`` is a string of ``length`` lowercase hex digits (``strip`` leaves nothing of such a string)."""
    return type(value) is str and len(value) == length and not value.strip(_HEX)


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


def _check_int(f: Field, name: str, value: Any) -> None:
    if type(value) is not int:
        reject("INVALID_FIELD", f"{name} must be an integer", field=name)
    if not f.lo <= value <= f.hi:
        reject("INTEGER_OUT_OF_RANGE", f"{name} must lie in {f.lo}..{f.hi}", field=name)


def _check_bool(f: Field, name: str, value: Any) -> None:
    if type(value) is not bool:
        reject("INVALID_FIELD", f"{name} must be true or false", field=name)


def _check_key(f: Field, name: str, value: Any) -> None:
    if not is_hex_key(value):
        reject("INVALID_FIELD", f"{name} must be a lowercase hex Ed25519 public key", field=name)


def _check_hash(f: Field, name: str, value: Any) -> None:
    if not _is_hex(value, 64):
        reject("INVALID_FIELD", f"{name} must be 64 lowercase hex characters (SHA-256)", field=name)


def _check_id(f: Field, name: str, value: Any) -> None:
    if not _is_hex(value, 16):
        reject("INVALID_FIELD", f"{name} must be 16 lowercase hex characters", field=name)


def _check_date(f: Field, name: str, value: Any) -> None:
    if parse_date(value) is None:
        reject("INVALID_FIELD", f"{name} must be a real date YYYY-MM-DD", field=name)


def _check_month(f: Field, name: str, value: Any) -> None:
    if parse_month(value) is None:
        reject("INVALID_FIELD", f"{name} must be a month YYYY-MM", field=name)


def _check_enum(f: Field, name: str, value: Any) -> None:
    if type(value) is not str or value not in f.choices:
        reject("INVALID_FIELD", f"{name} must be one of {list(f.choices)}", field=name)


def _check_text(f: Field, name: str, value: Any) -> None:
    if type(value) is not str or not value.strip() or len(value) > f.max_len:
        reject("INVALID_FIELD", f"{name} must be a non-blank string, at most {f.max_len} chars", field=name)


# Rules edition 3: characters no registry text may hold. A fixed list, not Unicode categories: those
# change with the Python build's Unicode version, and nodes on two builds would then disagree.
# C0 controls but tab and line feed, DEL, C1 controls; the bidirectional controls (which make text
# read otherwise than it is stored: ALM, LRM, RLM, LRE..RLO, LRI..PDI); the zero-width space, word
# joiner, BOM and interlinear annotation marks.
_FORBIDDEN_TEXT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
# What does not count as visible: whitespace (Python's str.isspace set, written out: it changes
# with the Unicode version), joiners, fillers, variation selectors, invisible operators and tags.
_BLANK = re.compile(
    "[\t\n\x0b-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    "\u200c\u200d\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2061-\u2064\u2800\u3164\ufe00-\ufe0f\uffa0"
    "\U000e0000-\U000e007f]"
)


def check_text_chars(name: str, value: str) -> None:
    """Edition 3's rule for any text field: none of :data:`_FORBIDDEN_TEXT`, and something visible
    (not only the whitespace, joiners and fillers of :data:`_BLANK`). Both are fixed lists of code
    points: the rule must not change with the Python build's Unicode version."""
    found = _FORBIDDEN_TEXT.search(value)
    if found is not None:
        reject(
            "INVALID_FIELD",
            f"{name} holds a control, bidirectional or zero-width character (U+{ord(found.group()):04X})",
            field=name,
        )
    if not _BLANK.sub("", value):
        reject("INVALID_FIELD", f"{name} must hold something visible", field=name)


def _check_hashes(f: Field, name: str, value: Any) -> None:
    if type(value) is not list or len(value) > f.max_len:
        reject("INVALID_FIELD", f"{name} must be a list of at most {f.max_len} hashes", field=name)
    for item in value:
        if not _is_hex(item, 64):
            reject("INVALID_FIELD", f"{name} holds a value that is not a SHA-256 hex hash", field=name)
    if len(set(value)) != len(value):
        reject("INVALID_FIELD", f"{name} lists a hash twice", field=name)


def _check_deductions(f: Field, name: str, value: Any) -> None:
    max_len = f.max_len
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


_Check = Callable[[Field, str, Any], None]

_CHECKS: dict[str, _Check] = {
    "int": _check_int,
    "money": _check_int,
    "bool": _check_bool,
    "key": _check_key,
    "hash": _check_hash,
    "id": _check_id,
    "date": _check_date,
    "month": _check_month,
    "enum": _check_enum,
    "text": _check_text,
    "hashes": _check_hashes,
    "deductions": _check_deductions,
}

_MISSING: Any = object()


class BodyCheck:
    """A kind's fields compiled once: :meth:`__call__` checks a body as :func:`check_body` does."""

    __slots__ = ("_allowed", "_steps", "has_months", "has_text")

    def __init__(self, fields: Mapping[str, Field]) -> None:
        self._allowed = BASE_FIELDS | frozenset(fields)
        steps: list[tuple[str, bool, _Check, Field]] = []
        for name, spec in fields.items():
            checker = _CHECKS.get(spec.type)
            if checker is None:  # pragma: no cover - a typo in the kind table, caught by tests
                raise AssertionError(f"unknown field type {spec.type}")
            steps.append((name, spec.optional, checker, spec))
        self._steps = tuple(steps)
        self.has_months = any(spec.type == "month" for spec in fields.values())
        self.has_text = any(spec.type in ("text", "deductions") for spec in fields.values())

    def __call__(
        self, body: Mapping[str, Any], *, legacy_months: bool = False, legacy_text: bool = False, personal: bool = False
    ) -> None:
        """``legacy_months``: read months as rules edition 1 did (any digits ``str.isdigit`` takes).
        ``legacy_text``: accept any characters in text, as editions 1 and 2 did (see
        :func:`check_text_chars`). ``personal``: refuse text that looks like personal data, as
        editions from 9 do (:func:`anju.registry.personal.check_personal`)."""
        extra = body.keys() - self._allowed
        if extra:
            unknown = sorted(extra)
            reject("UNKNOWN_FIELD", f"unknown field(s) for {body.get('kind')}: {unknown}", fields=unknown)
        get = body.get
        for name, optional, checker, spec in self._steps:
            value = get(name, _MISSING)
            if value is _MISSING:
                if optional:
                    continue
                reject("INVALID_FIELD", f"{name} is required", field=name)
            if value is None and optional:
                continue
            if legacy_months and spec.type == "month":
                if parse_month(value, ascii_only=False) is None:
                    reject("INVALID_FIELD", f"{name} must be a month YYYY-MM", field=name)
                continue
            checker(spec, name, value)
            if not legacy_text and spec.type == "text":
                check_text_chars(name, value)
                if personal:
                    check_personal(name, value)
            elif not legacy_text and spec.type == "deductions":
                for item in value:
                    check_text_chars(f"{name}[].reason", item["reason"])
                    if personal:
                        check_personal(f"{name}[].reason", item["reason"])


def check_body(body: Mapping[str, Any], fields: Mapping[str, Field]) -> None:
    """Check ``body`` against a kind's fields (the envelope's base fields are checked upstream)."""
    BodyCheck(fields)(body)


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
