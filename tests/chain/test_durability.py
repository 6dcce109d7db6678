"""kill -9 at random moments under load loses nothing acknowledged; restarts resume exactly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from anju.chain.node import DB_NAME, Node
from anju.chain.verify import verify_data
from anju.crypto.keys import SigningKey
from anju.ledger.store import Store

ROOT = Path(__file__).resolve().parents[2]
SEED = bytes(range(32))


def _run_and_kill(data: Path, start_seq: int, delay: float) -> set[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    errors = data.parent / "child-stderr.txt"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/chain/load_child.py"), str(data), SEED.hex(), str(start_seq)],
        stdout=subprocess.PIPE,
        stderr=errors.open("w"),
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,  # its own process group: the node, its verifiers and its writer
    )
    acked: set[str] = set()
    assert proc.stdout is not None
    stdout = proc.stdout

    def reader() -> None:
        for line in stdout:
            if line.startswith("ack "):
                acked.add(line.split()[1])

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(delay)
    assert proc.poll() is None, f"the loaded node died by itself: {errors.read_text()[-2000:]}"
    # The node and its verifier processes die together, as in a machine or container crash.
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    t.join(timeout=10)
    return acked


def test_kill_9_loses_nothing_acknowledged(kv_data: Path) -> None:
    rng = random.Random(2026)
    key = SigningKey(SEED)
    total_acked = 0
    for round_ in range(6):
        store = Store(kv_data / DB_NAME)
        last_seq = int(store.state_get("seq/" + key.public_hex) or b"0")
        before = store.block(store.height())
        store.close()
        acked = _run_and_kill(kv_data, last_seq + 1, delay=rng.uniform(1.5, 3.5))
        store = Store(kv_data / DB_NAME)
        missing = [t for t in acked if store.tx_by_id(bytes.fromhex(t)) is None]
        assert not missing, f"round {round_}: {len(missing)} acknowledged transactions lost"
        after = store.block(store.height())
        store.close()
        assert before is not None and after is not None and after.height >= before.height
        total_acked += len(acked)
        # The restarted node opens (roots on disk match their block) and keeps going.
        node = Node(kv_data, verify_workers=0)
        assert node.executor.last == after
        node.stop()  # lets go of the data directory for the next round's process
    assert total_acked > 0, "the load never got a transaction committed"
    summary = verify_data(kv_data, workers=1)
    assert summary.ok, summary.error
