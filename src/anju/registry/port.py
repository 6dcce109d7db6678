"""The port between the chain layer and an application state machine.

The chain layer (embedded sequencer or CometBFT adapter) checks envelopes, signatures, chain id
and per-signer ``seq``; then it calls :meth:`Machine.apply` for each transaction of a block, in
order, on a :class:`State` overlay. If ``apply`` raises :class:`anju.errors.TxRejected`, every
write it made is discarded and the transaction is not committed. A ``Machine`` is pure: no clock
(use ``ctx.time``), no randomness, no I/O, no environment; the same transactions always give the
same writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from anju.crypto.tx import Tx


class StateReader(Protocol):
    def get(self, key: str) -> bytes | None:
        """The value stored under ``key`` (JCS JSON bytes by convention), or None when absent."""
        ...


class State(StateReader, Protocol):
    def put(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``; keys are printable ASCII, at most 256 bytes."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` (a no-op when absent)."""
        ...


@dataclass(frozen=True, slots=True)
class BlockContext:
    """What a transaction may know about its block. ``time`` is RFC 3339 UTC with milliseconds."""

    chain_id: str
    height: int
    time: str  # e.g. "2026-11-25T18:04:05.123Z"

    @property
    def date(self) -> str:
        """The block's UTC date, ``YYYY-MM-DD``: what mandates, listings and leases are judged by."""
        return self.time[:10]


@dataclass(frozen=True, slots=True)
class Event:
    """A committed fact worth telling someone about.

    ``parties``, ``units`` and ``listings`` are the ids the event concerns; live-event
    subscribers filter on them (an owner is always among ``parties`` of anything that touches
    their unit).
    """

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
    parties: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    listings: tuple[str, ...] = ()


class Machine(Protocol):
    """An application state machine (the rental registry, or the small key-value app)."""

    name: str

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise ValueError on genesis parameters this build cannot run (e.g. a rules edition newer
        than it implements); checked at genesis and whenever a ledger is opened."""
        ...

    def check_state(self, get: Callable[[str], bytes | None]) -> None:
        """Raise ValueError on a stored state this build cannot run on (e.g. a rules edition adopted
        after genesis that it does not implement); checked whenever a ledger is opened."""
        ...

    def genesis(self, params: Mapping[str, Any], state: State) -> list[Event]:
        """Write the initial state from the genesis parameters (e.g. the housing authority's key)."""
        ...

    def apply(self, tx: Tx, ctx: BlockContext, state: State) -> list[Event]:
        """Execute one verified transaction, or raise ``TxRejected`` (the chain discards its writes)."""
        ...
