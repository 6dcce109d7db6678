"""The rental registry: Anju's pure, deterministic housing-rental state machine (see README.md)."""

from anju.registry.machine import Registry

__all__ = ["Registry"]
