"""Applications a ledger can run, by the name written in its genesis document."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from anju.chain.kvstore import KvStore
from anju.errors import StorageCorrupt
from anju.registry.port import Machine


def _registry() -> Machine:
    from anju.registry.machine import Registry

    return Registry()


APPS: dict[str, Callable[[], Machine]] = {"kv": KvStore, "anju-registry": _registry}


def load_app(name: str, params: Mapping[str, Any] | None = None) -> Machine:
    """The application ``name``; with ``params`` (an existing ledger's genesis parameters), only if
    this build can run them, else ``STORE_FORMAT`` (e.g. a rules edition newer than it implements)."""
    try:
        machine = APPS[name]()
    except KeyError:
        raise ValueError(f"unknown application {name!r}; known: {sorted(APPS)}") from None
    if params is not None:
        try:
            machine.check_params(params)
        except ValueError as exc:
            raise StorageCorrupt("STORE_FORMAT", f"this build cannot run this ledger's genesis: {exc}") from None
    return machine
