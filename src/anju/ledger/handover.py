"""Hand-overs: where an earlier key of a node's key history stopped signing.

When a node's signer changes (a consortium started from a node's ledger), the last block the
earlier key signed, its height, log size and log root, bounds what that key's checkpoints may
claim (docs/PROTOCOL.md, "Keys by height"). Recorded in ``consortium.json`` and published by
``GET /node`` beside the key history; checked by :meth:`anju.client.verify.Trust.check_handovers`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from anju.ledger import merkle


@dataclass(frozen=True, slots=True)
class Handover:
    """The last block an earlier key of a node's key history signed (the block before the next
    key's first): its height, log size and log root, recorded when the signer changed
    (``consortium.json``'s ``handovers``, a node's ``GET /node``)."""

    height: int
    size: int
    root: bytes

    @classmethod
    def of(cls, record: Any, height: int) -> Handover:
        """The hand-over ``record`` = ``{"height", "log_size", "log_root"}`` of the key whose last
        height is ``height``; ValueError for one that is not one."""
        if not isinstance(record, Mapping) or set(record) != {"height", "log_size", "log_root"}:
            raise ValueError(f"a hand-over is an object of height, log_size and log_root, not {record!r:.200}")
        h, size, root = record["height"], record["log_size"], record["log_root"]
        if type(h) is not int or h != height:
            raise ValueError(f"the hand-over of the key signing up to block {height} names block {h!r:.40}")
        if type(size) is not int or not 0 <= size < 2**64:
            raise ValueError(f"the hand-over's log_size {size!r:.40} is not a log size")
        try:
            raw = base64.b64decode(root, validate=True) if isinstance(root, str) else b""
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ValueError(f"the hand-over's log_root {root!r:.80} is not the base64 of 32 bytes")
        if (h == 0 and size != 0) or ((size == 0) != (raw == merkle.EMPTY_ROOT)):
            raise ValueError(
                f"block {h}'s hand-over: a log of size {size} with that root cannot be "
                "(block 0's log is empty, and the empty log alone has the empty root)"
            )
        return cls(h, size, raw)

    def to_json(self) -> dict[str, Any]:
        return {"height": self.height, "log_size": self.size, "log_root": base64.b64encode(self.root).decode()}


def handovers_in(entries: Sequence[Sequence[Any]]) -> tuple[Handover, ...]:
    """The hand-overs a key schedule's entries carry (a third element, :meth:`Trust.with_history`),
    each the last block of its key, before the next entry's height; ValueError unless they can all
    be of one log (a later hand-over's log at least as large, the same size with the same root)."""
    found = tuple(Handover.of(e[2], int(nxt[0]) - 1) for e, nxt in pairwise(entries) if len(e) == 3)
    for a, b in pairwise(found):
        if b.size < a.size or (b.size == a.size and b.root != a.root):
            raise ValueError(f"the hand-overs of blocks {a.height} and {b.height} cannot be of one log")
    return found


def merge_handovers(history: Sequence[Sequence[Any]], records: Any) -> list[list[Any]]:
    """A key history (``[[from_height, vkey], ...]``) with its hand-over ``records`` (a list of
    ``{"height", "log_size", "log_root"}``, as ``consortium.json`` and ``GET /node`` give them
    beside it) put into the entries of the keys whose last block each is, as their third element:
    what :meth:`Trust.with_history` takes. ValueError for records that are not a list of such
    objects, each of the last height of one earlier key, once."""
    if not isinstance(records, list):
        raise ValueError("the hand-overs are not a list")
    merged = [list(e) for e in history]
    ends = {int(nxt[0]) - 1: i for i, nxt in enumerate(merged[1:]) if nxt and type(nxt[0]) is int}
    for r in records:
        h = r.get("height") if isinstance(r, Mapping) else None
        if type(h) is not int or h not in ends or len(merged[ends[h]]) != 2:
            raise ValueError(f"the hand-over {r!r:.200} is not of the last block of an earlier key, once")
        merged[ends[h]].append(r)
    return merged
