"""One transaction being applied: its body, block, state access and the events it emits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from anju.crypto import jcs
from anju.crypto.tx import Tx
from anju.registry import layout
from anju.registry.codes import reject
from anju.registry.port import BlockContext, Event, State, StateReader

Record = dict[str, Any]


def read(state: StateReader, key: str) -> Record | None:
    """The JSON object stored under ``key``, or None."""
    raw = state.get(key)
    if raw is None:
        return None
    value: Record = orjson.loads(raw)
    return value


@dataclass(slots=True)
class Call:
    """Everything a rule needs; rules write only through :meth:`put`."""

    tx: Tx
    block: BlockContext
    state: State
    events: list[Event] = field(default_factory=list)

    @property
    def body(self) -> dict[str, Any]:
        return self.tx.body

    @property
    def signer(self) -> str:
        return self.tx.signer

    @property
    def txid(self) -> str:
        return self.tx.txid

    @property
    def date(self) -> str:
        return self.block.date

    @property
    def new_id(self) -> str:
        return layout.new_id(self.tx.txid)

    def get(self, key: str) -> Record | None:
        return read(self.state, key)

    def need(self, key: str, what: str) -> Record:
        """The record under ``key``; a transaction naming a missing record is refused."""
        value = read(self.state, key)
        if value is None:
            reject("UNKNOWN_REFERENCE", f"no such {what}: {key.split('/', 1)[1]}", key=key)
        return value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self.state.put(key, jcs.canonicalize(value))

    def emit(
        self,
        kind: str,
        data: Mapping[str, Any],
        parties: Iterable[str | None] = (),
        units: Iterable[str] = (),
        listings: Iterable[str] = (),
    ) -> None:
        """Record an event; parties are de-duplicated and sorted so events are deterministic."""
        named = sorted({p for p in parties if p})
        self.events.append(
            Event(
                kind=kind,
                data={"txid": self.txid, **data},
                parties=tuple(named),
                units=tuple(units),
                listings=tuple(listings),
            )
        )
