"""Benchmarks behind ``anju bench``: each prints one JSON object (see bench/README.md)."""
