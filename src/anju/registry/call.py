"""One transaction being applied: its body, block, state access and the events it emits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import orjson

from anju.crypto import jcs
from anju.crypto.tx import Tx
from anju.registry import layout
from anju.registry.codes import reject
from anju.registry.edition import edition_of
from anju.registry.port import BlockContext, Event, State, StateReader

Record = dict[str, Any]
View = Mapping[str, Any]  # a record to read, never to change (see Call.peek)
# state key -> (its JSON bytes, those bytes decoded); one tuple per key, so that a thread reading
# the cache while another replaces an entry never pairs one's bytes with the other's record.
Decoded = dict[str, tuple[bytes, View]]

# The records kept decoded between transactions: read again and again, and flat (no lists or
# objects in them). Only flat records are kept: a dict of plain values is not tracked by the
# garbage collector, while keeping records with lists (leases, units, credit) alive across
# transactions makes every full collection walk them and costs more than decoding them again.
SHARED = ("party/", "meta/", "mandate/", "payment/")

_loads = orjson.loads
_canonicalize = jcs.canonicalize


def read(state: StateReader, key: str) -> Record | None:
    """The JSON object stored under ``key``, or None."""
    raw = state.get(key)
    if raw is None:
        return None
    value: Record = _loads(raw)
    return value


class Call:
    """Everything a rule needs; rules write only through :meth:`put`.

    ``decoded`` (optional) is a cache of decoded records the machine keeps across transactions:
    the JSON bytes last decoded for a state key, and the record they decode to. :meth:`peek` uses
    an entry only when the state holds exactly those bytes now, so writes, block overlays and
    rejected transactions can never make it answer wrongly. Records from :meth:`peek` are shared:
    they are typed read-only (``View``) and must never be changed.
    """

    __slots__ = (
        "_edition",
        "block",
        "body",
        "date",
        "decoded",
        "events",
        "new_id",
        "signer",
        "signers",
        "state",
        "tx",
        "txid",
    )

    def __init__(
        self,
        tx: Tx,
        block: BlockContext,
        state: State,
        events: list[Event] | None = None,
        decoded: Decoded | None = None,
    ) -> None:
        self.tx = tx
        self.block = block
        self.state = state
        self.events: list[Event] = [] if events is None else events
        self.decoded = decoded
        self.body: dict[str, Any] = tx.body
        self.signer: str = tx.signer
        self.txid: str = tx.txid
        self.date: str = block.date
        self.new_id: str = layout.new_id(self.txid)
        self.signers: frozenset[str] = tx.signers  # every key that signed the envelope
        self._edition: int | None = None

    def edition(self) -> int:
        """The chain's rules edition (:mod:`anju.registry.edition`): a rule that changed keeps its
        old behaviour on chains of an older edition. Read once per transaction (genesis fixes it)."""
        if self._edition is None:
            self._edition = edition_of(self.peek(layout.META))
        return self._edition

    def get(self, key: str) -> Record | None:
        """The record under ``key``, freshly decoded: the caller may change it and :meth:`put` it."""
        return read(self.state, key)

    def need(self, key: str, what: str) -> Record:
        """The record under ``key``; a transaction naming a missing record is refused."""
        value = read(self.state, key)
        if value is None:
            reject("UNKNOWN_REFERENCE", f"no such {what}: {key.split('/', 1)[1]}", key=key)
        return value

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a record (nothing is decoded)."""
        return self.state.get(key) is not None

    def peek(self, key: str) -> View | None:
        """The record under ``key`` to read only (it may be shared with other transactions)."""
        raw = self.state.get(key)
        if raw is None:
            return None
        cache = self.decoded
        if cache is None or not key.startswith(SHARED):
            value: View = _loads(raw)
            return value
        hit = cache.get(key)
        if hit is not None and hit[0] == raw:
            return hit[1]
        view: View = _loads(raw)
        cache[key] = (raw, view)
        return view

    def peek_need(self, key: str, what: str) -> View:
        """:meth:`peek`, refusing the transaction when ``key`` is absent."""
        value = self.peek(key)
        if value is None:
            reject("UNKNOWN_REFERENCE", f"no such {what}: {key.split('/', 1)[1]}", key=key)
        return value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self.state.put(key, _canonicalize(value))

    def put_view(self, key: str, value: View) -> None:
        """:meth:`put` a record that is handed over: it (and everything in it) must never change again.

        Later :meth:`peek` calls that find exactly the bytes written get ``value`` back without
        decoding them, so it must be what those bytes decode to: JSON types only (lists, never
        tuples), as every record is."""
        raw = _canonicalize(value)
        self.state.put(key, raw)
        cache = self.decoded
        if cache is not None and key.startswith(SHARED):
            cache[key] = (raw, value)

    def emit(
        self,
        kind: str,
        data: Mapping[str, Any],
        parties: Iterable[str | None] = (),
        units: Iterable[str] = (),
        listings: Iterable[str] = (),
    ) -> None:
        """Record an event; parties are de-duplicated and sorted so events are deterministic."""
        named = set(parties)
        named.discard(None)  # parties are keys or None; "" is no key either
        named.discard("")
        keys = tuple(sorted(cast("set[str]", named)))
        self.events.append(Event(kind, {"txid": self.txid, **data}, keys, tuple(units), tuple(listings)))
