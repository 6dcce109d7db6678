"""Seeded, deterministic demo and benchmark data: a Xuhui district run through real signed transactions."""

from anju.demo.generate import Demo, DemoParty, generate

__all__ = ["Demo", "DemoParty", "generate"]
