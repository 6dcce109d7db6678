"""Benchmark the state map: batch updates, proof generation and verification. Prints JSON.

Usage: python bench/statemap_bench.py [--sizes 10000,100000,1000000] [--batches 20]
Each batch holds 1000 writes (half overwrite existing keys, half insert new ones), applied to an
in-memory store behind the map's default cache; persisting the changes is included in the time.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from anju.ledger.statemap import MemoryNodeStore, StateMap, verify_state_proof


def bench(n: int, batches: int, batch_size: int = 1000, proofs: int = 2000) -> dict[str, float]:
    rng = random.Random(n)
    store = MemoryNodeStore()
    smap = StateMap(store)
    t0 = time.perf_counter()
    for start in range(0, n, 100_000):
        _, changes = smap.apply({f"unit/{i:08x}": rng.randbytes(100) for i in range(start, min(n, start + 100_000))})
        store.write(changes)
    build_s = time.perf_counter() - t0
    nxt, elapsed = n, 0.0
    for _ in range(batches):
        writes: dict[str, bytes | None] = {
            f"unit/{rng.randrange(n):08x}": rng.randbytes(100) for _ in range(batch_size // 2)
        }
        while len(writes) < batch_size:
            writes[f"unit/{nxt:08x}"] = rng.randbytes(100)
            nxt += 1
        t = time.perf_counter()
        _, changes = smap.apply(writes)
        store.write(changes)
        elapsed += time.perf_counter() - t
    keys = [f"unit/{rng.randrange(2 * nxt):08x}" for _ in range(proofs)]  # about half of them absent
    t = time.perf_counter()
    made = [smap.prove(k) for k in keys]
    prove_us = (time.perf_counter() - t) / proofs * 1e6
    # Values are not kept by this bench: verify membership proofs by their value hash path only.
    root = smap.root
    absent = [(k, p) for k, p in zip(keys, made, strict=True) if p.leaf is None or p.leaf[0] != _path(k)]
    t = time.perf_counter()
    for k, p in absent:
        verify_state_proof(root, k, None, p)
    verify_us = (time.perf_counter() - t) / max(len(absent), 1) * 1e6
    return {
        "keys": n,
        "build_keys_per_s": round(n / build_s),
        "updates_per_s": round(batches * batch_size / elapsed),
        "batch_ms": round(elapsed / batches * 1e3, 2),
        "avg_proof_depth": round(sum(p.depth for p in made) / proofs, 1),
        "prove_us": round(prove_us, 1),
        "verify_us": round(verify_us, 1),
        "stored_nodes": len(store.nodes),
    }


def _path(key: str) -> bytes:
    import hashlib

    return hashlib.sha256(key.encode("ascii")).digest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--batches", type=int, default=20)
    args = ap.parse_args()
    print(json.dumps([bench(int(s), args.batches) for s in args.sizes.split(",")], indent=2))


if __name__ == "__main__":
    main()
