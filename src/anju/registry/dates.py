"""Calendar arithmetic on ``YYYY-MM-DD`` dates and ``YYYY-MM`` months (proleptic Gregorian, UTC).

Only parsing and arithmetic: the registry never asks the machine for today's date, it uses the
block's date.
"""

from __future__ import annotations

import calendar
from datetime import date


def parse_date(text: object) -> date | None:
    """The date ``text`` names, or None unless it is a real ``YYYY-MM-DD`` date."""
    if type(text) is not str or len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_month(text: object, *, ascii_only: bool = True) -> tuple[int, int] | None:
    """``(year, month)`` for a ``YYYY-MM`` string, else None. ``ascii_only=False`` is rules edition
    1's reading: any decimal digits ``int`` reads, such as full-width ``２０２６-０２`` (the builds
    before editions took every ``str.isdigit`` character and crashed on ``int("0²")``; no ledger
    holds one, and it is no month here)."""
    if type(text) is not str or len(text) != 7 or text[4] != "-":
        return None
    digits = text[:4] + text[5:]
    if not digits.isdecimal() or (ascii_only and not digits.isascii()):  # "２" is decimal, "²" only a digit
        return None
    year, month = int(text[:4]), int(text[5:])
    return (year, month) if year >= 1 and 1 <= month <= 12 else None


def add_years(day: str, n: int) -> str:
    """The same month and day ``n`` years later (29 February becomes 28 February in a common year)."""
    d = date.fromisoformat(day)
    try:
        return d.replace(year=d.year + n).isoformat()
    except ValueError:
        return d.replace(year=d.year + n, day=28).isoformat()


def term_end(first: str, months: int) -> str:
    """The last day of a term of ``months`` months from ``first``: the day before the same day
    ``months`` later, or that month's last day when it has no such day (a month from 31 January
    ends on the last day of February)."""
    d = date.fromisoformat(first)
    index = d.year * 12 + (d.month - 1) + months
    year, month = index // 12, index % 12 + 1
    if year > 9999:  # past the calendar's end: the term runs to its last day
        return "9999-12-31"
    last_day = calendar.monthrange(year, month)[1]
    if d.day > last_day:  # no such day that month: the term runs to that month's end
        return date(year, month, last_day).isoformat()
    return add_days(date(year, month, d.day).isoformat(), -1)


def add_days(day: str, n: int) -> str:
    return date.fromordinal(date.fromisoformat(day).toordinal() + n).isoformat()


def days_between(a: str, b: str) -> int:
    """``b - a`` in days."""
    return date.fromisoformat(b).toordinal() - date.fromisoformat(a).toordinal()


def month_of(day: str) -> str:
    return day[:7]


def add_months(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:])
    index = year * 12 + (mon - 1) + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(a: str, b: str) -> int:
    """``b - a`` in whole months, for ``YYYY-MM`` strings."""
    return (int(b[:4]) * 12 + int(b[5:])) - (int(a[:4]) * 12 + int(a[5:]))


def due_date(month: str, payment_day: int) -> str:
    """The day rent for ``month`` falls due; payment days stop at 28 so every month has one."""
    return f"{month}-{payment_day:02d}"


def overlaps(a_start: str, a_end: str, b_start: str, b_end: str) -> bool:
    """Whether two inclusive date ranges share a day (ISO dates compare as strings). An empty range
    (start after end: a lease voided before it began) shares no day with anything. (Before edition
    3 the rules never compared an empty range: only subleases could be voided, and the sibling
    check skips them; mandates and new leases are refused when their start is after their end.)"""
    return a_start <= a_end and b_start <= b_end and a_start <= b_end and b_start <= a_end
