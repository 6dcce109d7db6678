"""A small key-value application: enough to exercise the ledger without the rental registry.

Kinds: ``kv.put`` {key, value} and ``kv.delete`` {key}; keys are 1–128 printable ASCII
characters, values strings up to 4 KiB. Anyone may write; every write is signed and sequenced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from anju.crypto import jcs
from anju.crypto.tx import Tx
from anju.errors import TxRejected
from anju.registry.port import BlockContext, Event, State

_BASE = {"chain", "kind", "signer", "seq"}
_FIELDS = {"kv.put": _BASE | {"key", "value"}, "kv.delete": _BASE | {"key"}}


class KvStore:
    name = "kv"

    def check_params(self, params: Mapping[str, Any]) -> None:
        if not isinstance(params.get("entries", {}), Mapping):
            raise ValueError("kv genesis entries must be an object")

    def check_state(self, get: Callable[[str], bytes | None]) -> None:
        """Any stored state will do: the key-value application has no editions."""

    def genesis(self, params: Mapping[str, Any], state: State) -> list[Event]:
        self.check_params(params)
        for k, v in sorted(dict(params.get("entries", {})).items()):
            state.put("kv/" + k, jcs.canonicalize(v))
        return []

    def apply(self, tx: Tx, ctx: BlockContext, state: State) -> list[Event]:
        body = tx.body
        kind = body["kind"]
        allowed = _FIELDS.get(kind)
        if allowed is None:
            raise TxRejected("UNKNOWN_KIND", f"unknown kind {kind!r}; this ledger runs the kv application")
        if len(body) != len(allowed) or not body.keys() <= allowed:
            extra = sorted(set(body) - allowed)
            if extra:
                raise TxRejected("UNKNOWN_FIELD", f"unknown field(s) {extra} for {kind}", fields=extra)
            raise TxRejected("MALFORMED_ENVELOPE", f"{kind} needs {sorted(allowed - _BASE)}")
        key = body["key"]
        if type(key) is not str or not 1 <= len(key) <= 128 or not key.isascii() or not key.isprintable():
            raise TxRejected("INVALID_FIELD", "key must be 1-128 printable ASCII characters", field="key")
        if kind == "kv.put":
            value = body["value"]
            if type(value) is not str or len(value) > 4096:
                raise TxRejected("INVALID_FIELD", "value must be a string of at most 4096 characters", field="value")
            state.put("kv/" + key, jcs.canonicalize(value))
        else:
            state.delete("kv/" + key)
        return [Event(kind, {"key": key}, parties=(tx.signer,))]
