"""Applications a ledger can run, by the name written in its genesis document."""

from __future__ import annotations

from collections.abc import Callable

from anju.chain.kvstore import KvStore
from anju.registry.port import Machine


def _registry() -> Machine:
    from anju.registry.machine import Registry

    return Registry()


APPS: dict[str, Callable[[], Machine]] = {"kv": KvStore, "anju-registry": _registry}


def load_app(name: str) -> Machine:
    try:
        return APPS[name]()
    except KeyError:
        raise ValueError(f"unknown application {name!r}; known: {sorted(APPS)}") from None
