"""The credit record (信用背书): a documented, deterministic score with every point traceable.

``credit/<party>`` holds, per factor, its total ``points``, its ``count`` of entries and the
``[txid, points]`` entries behind it; the score is ``clamp(BASE + sum of points, 0, 1000)``.

A party's history only grows (an agency or a rental business registers thousands of leases), so
on a chain whose genesis sets ``credit_chunk`` (every chain ``anju`` creates: :data:`CHUNK`) the
record keeps only a factor's latest entries: when a factor holds ``credit_chunk`` of them, they
move, as they are, to ``credit/<party>/<factor>/<k>`` (chunk ``k`` = entries ``k·c`` to
``k·c + c - 1``) and the record starts that factor's list again. Every entry stays provable from
state, and a credit change writes a record of bounded size (without chunks, the whole history
was rewritten by every change). A chain without ``credit_chunk`` (created before it existed)
keeps every entry in the record, as it always did: the rule is part of the chain's history.

Each change is also emitted as a ``credit.changed`` event, so the records (and chunks) can be
recomputed from the ledger by folding those events (:func:`fold`). docs/REGISTRY.md lists the
factors and their points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from anju.registry import layout
from anju.registry.call import Call, Record, View
from anju.registry.port import Event

BASE = 600
FLOOR, CEILING = 0, 1000
CHUNK = 32
"""Entries per factor kept in the record before they move to a chunk (genesis ``credit_chunk``)."""
CHUNK_LIMITS = (2, 10_000)

# factor -> (points per entry, or None when the entry carries its own points; what it counts)
FACTORS: dict[str, tuple[int | None, str]] = {
    "leases_registered": (
        5,
        "a lease the party is a side of was registered (备案) by the authority (from edition 5, -5 when a "
        "registered lease is called off before it began; from edition 8 also for a registered sublease voided "
        "with it)",
    ),
    "rent_on_time": (
        2,
        "a rent payment confirmed by the collector, paid on or before its due day (tenant; from edition 5 only "
        "on a registered lease, for a month of its tenancy; from edition 8 -2 for each one confirmed before the "
        "lease began when it is called off before it began)",
    ),
    "rent_late": (
        -5,
        "a rent payment confirmed by the collector, paid after its due day (tenant; from edition 5 -5 for each "
        "month the payment covers that was overdue when paid)",
    ),
    "deposit_settled": (
        5,
        "the tenant accepted the collector's deposit settlement (collector; from edition 3 only on a registered "
        "lease, from edition 8 not on one called off before it began)",
    ),
    "disputes_lost": (None, "a dispute decided against the party: -30 respondent if upheld, -10 opener if rejected"),
    "fake_listings": (-50, "a listing the party published was confirmed fake by the authority"),
    "reviews": (None, "a review received: (rating - 3) x 4 points"),
    "suspensions": (-100, "the authority suspended the party"),
}


def empty(party: str) -> Record:
    return {"party": party, "base": BASE, "score": BASE, "factors": {}}


def score_of(factors: Mapping[str, Any]) -> int:
    """The score the factors' totals give; anyone can recompute the totals from the entries."""
    return max(FLOOR, min(CEILING, BASE + sum(int(f["points"]) for f in factors.values())))


def chunk_of(meta: View | None) -> int:
    """The chain's ``credit_chunk`` (0: every entry stays in the record), from ``meta/registry``."""
    return 0 if meta is None else int(meta.get("credit_chunk", 0))


def chunk_keys(party: str, factor: str, entry: View, chunk: int) -> list[str]:
    """The keys of a factor's archived chunks, oldest first (none without chunking)."""
    if not chunk:
        return []
    return [
        layout.credit_chunk(party, factor, k) for k in range((int(entry["count"]) - len(entry["entries"])) // chunk)
    ]


def with_change(record: View, factor: str, txid: str, points: int, chunk: int = 0) -> tuple[Record, Record | None]:
    """``record`` with one more entry, without changing ``record`` (the new one shares what did not
    change); and the chunk to store when the factor's entries reach ``chunk`` (else None).

    A factor's ``points`` is the sum of its entries' points (both only ever grow together), so the
    score follows from the factors' totals without reading every entry again."""
    factors = dict(record["factors"])
    entry = factors.get(factor)
    if entry is None:
        entry = {"points": points, "count": 1, "entries": [[txid, points]]}
    else:
        entry = {
            "points": entry["points"] + points,
            "count": entry["count"] + 1,
            "entries": [*entry["entries"], [txid, points]],
        }
    archived: Record | None = None
    if chunk and len(entry["entries"]) >= chunk:
        entries = entry["entries"]
        archived = {
            "party": record["party"],
            "factor": factor,
            "chunk": (entry["count"] - len(entries)) // chunk,
            "points": sum(int(p) for _, p in entries),
            "entries": entries,
        }
        entry = {**entry, "entries": []}
    factors[factor] = entry
    return {**record, "factors": factors, "score": score_of(factors)}, archived


def award(call: Call, party: str, factor: str, points: int | None = None) -> None:
    """Add one entry (this transaction) to ``party``'s factor and store the new record (and the
    chunk it fills, on a chain that archives them)."""
    fixed, _ = FACTORS[factor]
    value = fixed if points is None else points
    if value is None:  # pragma: no cover - a rule forgot the points of a variable factor
        raise AssertionError(f"factor {factor} needs explicit points")
    key = layout.credit(party)
    chunk = chunk_of(call.peek(layout.META))
    record, archived = with_change(call.peek(key) or empty(party), factor, call.txid, value, chunk)
    call.put_view(key, record)  # shares the unchanged parts of the record it was made from
    if archived is not None:
        call.put_view(layout.credit_chunk(party, factor, archived["chunk"]), archived)
    call.emit(
        "credit.changed",
        {"party": party, "factor": factor, "points": value, "score": record["score"]},
        parties=[party],
    )


def fold(events: Iterable[Event], chunk: int = 0) -> dict[str, Record]:
    """Recompute every credit record and chunk from the ``credit.changed`` events of the ledger, in
    order (``chunk``: the chain's ``credit_chunk``): state key -> value."""
    out: dict[str, Record] = {}
    for ev in events:
        if ev.kind != "credit.changed":
            continue
        party = str(ev.data["party"])
        key = layout.credit(party)
        record, archived = with_change(
            out.get(key) or empty(party), str(ev.data["factor"]), str(ev.data["txid"]), int(ev.data["points"]), chunk
        )
        out[key] = record
        if archived is not None:
            out[layout.credit_chunk(party, archived["factor"], archived["chunk"])] = archived
    return out
