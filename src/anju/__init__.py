"""Anju (安居): a housing-rental service platform on a verifiable ledger."""

__version__ = "0.1.0"
