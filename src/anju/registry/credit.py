"""The credit record (信用背书): a documented, deterministic score with every point traceable.

``credit/<party>`` holds, per factor, the list of ``[txid, points]`` entries behind it; the score
is ``clamp(BASE + sum of points, 0, 1000)``. Each change is also emitted as a ``credit.changed``
event, so the record can be recomputed from the ledger by folding those events
(:func:`fold`). docs/REGISTRY.md lists the factors and their points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from anju.registry import layout
from anju.registry.call import Call, Record, View
from anju.registry.port import Event

BASE = 600
FLOOR, CEILING = 0, 1000

# factor -> (points per entry, or None when the entry carries its own points; what it counts)
FACTORS: dict[str, tuple[int | None, str]] = {
    "leases_registered": (5, "a lease the party is a side of was registered (备案) by the authority"),
    "rent_on_time": (2, "a rent payment confirmed by the collector, paid on or before its due day (tenant)"),
    "rent_late": (-5, "a rent payment confirmed by the collector, paid after its due day (tenant)"),
    "deposit_settled": (5, "the tenant accepted the collector's deposit settlement (collector)"),
    "disputes_lost": (None, "a dispute decided against the party: -30 respondent if upheld, -10 opener if rejected"),
    "fake_listings": (-50, "a listing the party published was confirmed fake by the authority"),
    "reviews": (None, "a review received: (rating - 3) x 4 points"),
    "suspensions": (-100, "the authority suspended the party"),
}


def empty(party: str) -> Record:
    return {"party": party, "base": BASE, "score": BASE, "factors": {}}


def score_of(factors: Mapping[str, Any]) -> int:
    """The score the factors give; anyone can recompute it from the stored record."""
    total = BASE + sum(int(points) for f in factors.values() for _, points in f["entries"])
    return max(FLOOR, min(CEILING, total))


def apply_change(record: Record, factor: str, txid: str, points: int) -> Record:
    factors = record["factors"]
    entry = factors.setdefault(factor, {"points": 0, "count": 0, "entries": []})
    entry["entries"].append([txid, points])
    entry["count"] += 1
    entry["points"] += points
    record["score"] = score_of(factors)
    return record


def with_change(record: View, factor: str, txid: str, points: int) -> Record:
    """:func:`apply_change` without changing ``record``: a new record sharing what did not change.

    A factor's ``points`` is the sum of its entries' points (both only ever grow together), so the
    score follows from the factors' totals without reading every entry again."""
    factors = dict(record["factors"])
    entry = factors.get(factor)
    if entry is None:
        factors[factor] = {"points": points, "count": 1, "entries": [[txid, points]]}
    else:
        factors[factor] = {
            "points": entry["points"] + points,
            "count": entry["count"] + 1,
            "entries": [*entry["entries"], [txid, points]],
        }
    total = BASE + sum(f["points"] for f in factors.values())
    return {**record, "factors": factors, "score": max(FLOOR, min(CEILING, total))}


def award(call: Call, party: str, factor: str, points: int | None = None) -> None:
    """Add one entry (this transaction) to ``party``'s factor and store the new record."""
    fixed, _ = FACTORS[factor]
    value = fixed if points is None else points
    if value is None:  # pragma: no cover - a rule forgot the points of a variable factor
        raise AssertionError(f"factor {factor} needs explicit points")
    key = layout.credit(party)
    record = with_change(call.peek(key) or empty(party), factor, call.txid, value)
    call.put_view(key, record)  # shares the unchanged parts of the record it was made from
    call.emit(
        "credit.changed",
        {"party": party, "factor": factor, "points": value, "score": record["score"]},
        parties=[party],
    )


def fold(events: Iterable[Event]) -> dict[str, Record]:
    """Recompute every credit record from the ``credit.changed`` events of the ledger, in order."""
    records: dict[str, Record] = {}
    for ev in events:
        if ev.kind != "credit.changed":
            continue
        party = str(ev.data["party"])
        record = records.setdefault(party, empty(party))
        apply_change(record, str(ev.data["factor"]), str(ev.data["txid"]), int(ev.data["points"]))
    return records
