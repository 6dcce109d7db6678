"""Child process for the kill -9 tests: runs a node under load and prints every acknowledged txid.

Usage: python load_child.py DATA SIGNER_SEED_HEX START_SEQ
A line ``ack <txid> <index>`` is printed (and flushed) only after the receipt says "durably committed".
"""

from __future__ import annotations

import sys
from concurrent.futures import Future
from pathlib import Path

from tests.conftest import kv_put

from anju.chain.node import Node, Receipt
from anju.crypto.keys import SigningKey


def main() -> None:
    data, seed, start = Path(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3])
    key = SigningKey(seed)
    node = Node(data, verify_workers=1, block_interval=0.01, max_block_txs=300).start()
    out = sys.stdout

    def ack(f: Future[Receipt]) -> None:
        r = f.result()
        out.write(f"ack {r.txid} {r.index}\n")
        out.flush()

    seq = start
    print("ready", flush=True)
    while True:
        futs = node.submit_many([kv_put(key, s, k=f"k{s % 97}", v=str(s)) for s in range(seq, seq + 200)])
        seq += 200
        for f in futs:
            f.add_done_callback(ack)
        futs[-1].result()


if __name__ == "__main__":
    main()
