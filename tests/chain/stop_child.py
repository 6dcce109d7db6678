"""Child process for the stop-signal tests: a program embedding a node, under load, until a stop signal.

Usage: python stop_child.py DATA SIGNER_SEED_HEX
Prints ``ready``, then a line ``accepted <txid>`` for each transaction once ``submit_many`` returned
its future (the node took it), and ``stopped`` once ``Node.stop()`` returned. SIGTERM and SIGHUP
raise KeyboardInterrupt, as SIGINT does: what a program embedding a node does to stop it gracefully.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from tests.conftest import kv_put

from anju.chain.node import Node
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse
from anju.errors import Overloaded


def main() -> None:
    data, seed = Path(sys.argv[1]), bytes.fromhex(sys.argv[2])
    # (SIGINT too: a process started with SIGINT ignored, as by a parent that ignored it, keeps it
    # ignored, and Python then does not raise KeyboardInterrupt on it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    key = SigningKey(seed)
    out = sys.stdout
    seq = 1
    try:
        with Node(data, verify_workers=2, block_interval=0.01, mempool_limit=20_000) as node:
            print("ready", flush=True)
            while True:
                raws = [kv_put(key, s, k=f"k{s % 97}", v=str(s)) for s in range(seq, seq + 500)]
                txids = [parse(raw).txid for raw in raws]
                try:
                    node.submit_many(raws)
                except Overloaded as exc:  # MEMPOOL_FULL: the verifiers are behind, as wanted
                    assert exc.code == "MEMPOOL_FULL", exc.code
                    time.sleep(0.02)
                    continue
                seq += 500
                out.write("".join(f"accepted {txid}\n" for txid in txids))
                out.flush()
    except KeyboardInterrupt:
        pass
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
