"""The embedded node end to end: submit, commit, checkpoints, bad input, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.conftest import CHAIN, alive, all_gone, children_of, kv_put, only_committed, stop_in_time

from anju.chain.node import DB_NAME, Node, read_node_key
from anju.chain.verify import verify_data
from anju.crypto.keys import SigningKey
from anju.crypto.tx import Tx
from anju.errors import TxRejected
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import Verifier, vkey_of
from anju.ledger.statemap import StateMap, verify_state_proof
from anju.ledger.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_commit_and_prove(kv_node: Node) -> None:
    alice = SigningKey(b"a" * 32)
    futs = kv_node.submit_many([kv_put(alice, i, k=f"k{i}", v=str(i)) for i in range(1, 51)])
    receipts = [f.result(timeout=30) for f in futs]
    assert [r.index for r in receipts] == list(range(50))
    last = kv_node.executor.last
    assert last.log_size == 50
    verifier = Verifier.from_vkey(kv_node.verifier_key)
    cp = Checkpoint.open(last.checkpoint, [verifier])
    assert (cp.size, cp.root, cp.state_root, cp.height) == (50, last.log_root, last.state_root, last.height)
    store = kv_node.store
    for r in receipts[::7]:
        found = store.tx_by_id(bytes.fromhex(r.txid))
        assert found is not None
        idx, _h, leaf = found
        proof = merkle.inclusion_proof(idx, cp.size, store.tlog_node)
        merkle.verify_inclusion(merkle.leaf_hash(leaf), idx, cp.size, proof, cp.root)
    smt = StateMap(store.smt_view(), cp.state_root)
    verify_state_proof(cp.state_root, "kv/k7", store.state_get("kv/k7"), smt.prove("kv/k7"))
    verify_state_proof(cp.state_root, "kv/absent", None, smt.prove("kv/absent"))
    assert store.state_get("seq/" + alice.public_hex) == b"50"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda k: kv_put(k, 1, chain="other-chain"), "WRONG_CHAIN"),
        (lambda k: kv_put(k, 1), "SEQ_REUSED"),
        (lambda k: kv_put(k, 3), "SEQ_SKIPPED"),
        (lambda k: kv_put(k, 2, k=""), "INVALID_FIELD"),
        (lambda k: kv_put(k, 2, color="red"), "UNKNOWN_FIELD"),
        (lambda k: kv_put(k, 2).replace(b'"kv.put"', b'"kv.nope"'), "BAD_SIGNATURE"),
        (lambda k: kv_put(k, 2).replace(b'"value":"b"', b'"value":1.5'), "NON_INTEGER_NUMBER"),
        (lambda k: b"{not json", "MALFORMED_JSON"),
    ],
)
def test_bad_transactions_change_nothing(kv_node: Node, make: object, code: str) -> None:
    k = SigningKey(b"b" * 32)
    kv_node.submit(kv_put(k, 1)).result(timeout=30)
    before = kv_node.executor.last
    with pytest.raises(TxRejected) as err:
        kv_node.submit(make(k)).result(timeout=30)  # type: ignore[operator]
    assert err.value.code == code
    # A valid follow-up proves the rejected one consumed nothing (seq 2 is still free).
    kv_node.submit(kv_put(k, 2, k="z")).result(timeout=30)
    after = kv_node.executor.last
    assert after.log_size == before.log_size + 1


@pytest.mark.parametrize("workers", [0, 1])
def test_parsed_submissions_get_their_signatures_checked(kv_data: Path, workers: int) -> None:
    """``submit_parsed`` (the HTTP API's way in): verifier processes check only the signatures of
    transactions parsed by the caller. A forged one is refused alone; the others commit in order."""
    from anju.crypto.tx import parse

    k, other = SigningKey(b"q" * 32), SigningKey(b"r" * 32)
    good = [parse(kv_put(k, i, k=f"q{i}")) for i in range(1, 6)]
    real = parse(kv_put(k, 6, k="q6"))
    # the signer's body and name, but signed by someone else's key
    fake = Tx(
        real.body, ((k.public_hex, other.sign(real.signed_bytes).hex()),), real.signed_bytes, real.txid, real.leaf
    )
    with Node(kv_data, verify_workers=workers, block_interval=0.01) as node:
        futs = node.submit_parsed([*good[:3], fake, *good[3:]])
        with pytest.raises(TxRejected) as err:
            futs[3].result(timeout=60)
        assert err.value.code == "BAD_SIGNATURE" and err.value.details["txid"] == fake.txid
        receipts = [f.result(timeout=60) for f in futs[:3] + futs[4:]]
        assert [r.txid for r in receipts] == [t.txid for t in good]
        assert [r.index for r in receipts] == sorted(r.index for r in receipts)
        node.submit_parsed([parse(kv_put(k, 6, k="q6"))])[0].result(timeout=60)  # seq 6 was still free
        assert node.store.state_get("seq/" + k.public_hex) == b"6"


class _RecordingSlot:
    """A caller's own slot (what the HTTP API hands over instead of a Future): records the calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.outcome: object = None
        self.done = threading.Event()

    def set_running_or_notify_cancel(self) -> bool:
        self.calls.append("running")
        return True

    def cancelled(self) -> bool:
        return False

    def set_result(self, result: object, /) -> None:
        self.calls.append("result")
        self.outcome = result
        self.done.set()

    def set_exception(self, exception: BaseException | None, /) -> None:
        self.calls.append("exception")
        self.outcome = exception
        self.done.set()


@pytest.mark.parametrize("workers", [0, 1])
def test_parsed_submissions_settle_the_callers_slots(kv_data: Path, workers: int) -> None:
    """``submit_parsed_to``: each outcome goes to the caller's slot, exactly once: a receipt for a
    committed transaction (after it ran), the refusal for a forged or out-of-order one (a refusal
    before execution never marks the slot running). A slot list of the wrong length queues nothing."""
    from anju.chain.node import Receipt
    from anju.crypto.tx import parse

    k, other = SigningKey(b"s" * 32), SigningKey(b"t" * 32)
    good = [parse(kv_put(k, i, k=f"s{i}")) for i in range(1, 4)]
    real = parse(kv_put(k, 4, k="s4"))
    forged = Tx(
        real.body, ((k.public_hex, other.sign(real.signed_bytes).hex()),), real.signed_bytes, real.txid, real.leaf
    )
    skipped = parse(kv_put(k, 9, k="s9"))
    with Node(kv_data, verify_workers=workers, block_interval=0.01) as node:
        with pytest.raises(ValueError):
            node.submit_parsed_to(good, [_RecordingSlot()])
        txs = [*good, forged, skipped]
        slots = [_RecordingSlot() for _ in txs]
        node.submit_parsed_to(txs, slots)
        for s in slots:
            assert s.done.wait(60)
        time.sleep(0.2)  # a second settlement, were there one, would show by now
        for tx, s in zip(good, slots[:3], strict=True):
            assert s.calls == ["running", "result"]
            assert isinstance(s.outcome, Receipt) and s.outcome.txid == tx.txid
        assert [s.outcome.index for s in slots[:3]] == sorted(s.outcome.index for s in slots[:3])  # type: ignore[attr-defined]
        assert slots[3].calls == ["exception"]
        assert isinstance(slots[3].outcome, TxRejected) and slots[3].outcome.code == "BAD_SIGNATURE"
        assert slots[4].calls == ["running", "exception"]  # refused by the sequencer, as it ran
        assert isinstance(slots[4].outcome, TxRejected) and slots[4].outcome.code == "SEQ_SKIPPED"
        assert node.store.state_get("seq/" + k.public_hex) == b"3"


def test_unknown_kind_rejected(kv_node: Node) -> None:
    import orjson

    from anju.crypto import tx as txmod

    k = SigningKey(b"c" * 32)
    raw = orjson.dumps(txmod.sign({"chain": CHAIN, "kind": "kv.nope", "signer": k.public_hex, "seq": 1}, [k]))
    with pytest.raises(TxRejected) as err:
        kv_node.submit(raw).result(timeout=30)
    assert err.value.code == "UNKNOWN_KIND"


def test_restart_resumes_with_identical_roots(kv_data: Path) -> None:
    k = SigningKey(b"d" * 32)
    with Node(kv_data, verify_workers=0, block_interval=0.01) as node:
        for f in node.submit_many([kv_put(k, i, k=f"x{i}") for i in range(1, 21)]):
            f.result(timeout=30)
        last = node.executor.last
    with Node(kv_data, verify_workers=0) as node:
        assert node.executor.last == last
        assert node.submit(kv_put(k, 21)).result(timeout=30).index == 20
        with pytest.raises(TxRejected):
            node.submit(kv_put(k, 5)).result(timeout=30)
    assert verify_data(kv_data, workers=1).ok


def test_commit_block_uses_given_time(kv_data: Path) -> None:
    from anju.crypto.tx import parse_and_verify

    node = Node(kv_data, verify_workers=0)
    k = SigningKey(b"e" * 32)
    rec, results = node.commit_block(
        "2026-03-01T08:00:00.000Z", [parse_and_verify(kv_put(k, 1)), parse_and_verify(kv_put(k, 1))]
    )
    assert rec.time == "2026-03-01T08:00:00.000Z"
    assert results[0] is None and results[1] is not None and results[1].code == "SEQ_REUSED"
    # time never goes backwards
    rec2, _ = node.commit_block("2025-01-01T00:00:00.000Z", [])
    assert rec2.time == rec.time
    node.store.close()


def test_verifier_key_published(kv_data: Path) -> None:
    store = Store(kv_data / DB_NAME)
    assert store.get_meta("verifier_key") == vkey_of(CHAIN, read_node_key(kv_data).public).encode()


def test_the_returned_futures_list_is_the_callers_own(kv_data: Path) -> None:
    """Extending or clearing the list ``submit_many`` returned must not touch the queued chunk."""
    a, b = SigningKey(b"m" * 32), SigningKey(b"n" * 32)
    for _round in range(5):
        with Node(kv_data, verify_workers=0, block_interval=0.01, max_block_txs=7) as node:
            base = node.executor.committed_seq(a.public_hex)
            futs = node.submit_many([kv_put(a, base + i, k=f"m{i}") for i in range(1, 31)])
            kept = list(futs)
            futs += node.submit_many([kv_put(b, node.executor.committed_seq(b.public_hex) + 1, k="n")])
            futs.clear()
            assert all(f.result(timeout=30).txid for f in kept)


def test_a_defect_in_the_application_refuses_that_tx_and_the_node_goes_on(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pure machine that raises (a bug in its rules) must not stop the sequencer: the tx is
    refused with APPLICATION_ERROR, nothing of it is written, and later txs commit (and replay)."""
    from anju.chain.kvstore import KvStore

    real = KvStore.apply

    def flawed(self: KvStore, tx: Tx, ctx: object, state: object) -> object:
        if tx.body.get("key") == "boom":
            state.put("kv/half-written", b'"x"')  # type: ignore[attr-defined]
            raise ValueError("a defect")
        return real(self, tx, ctx, state)  # type: ignore[arg-type]

    monkeypatch.setattr(KvStore, "apply", flawed)
    key = SigningKey(b"d" * 32)
    with Node(kv_data, verify_workers=0, block_interval=0.01) as node:
        bad = node.submit_many([kv_put(key, 1, k="boom")])[0]
        with pytest.raises(TxRejected) as err:
            bad.result(timeout=30)
        assert err.value.code == "APPLICATION_ERROR"
        good = node.submit_many([kv_put(key, 1, k="fine")])[0].result(timeout=30)  # seq 1 was not consumed
        assert good.height >= 1 and node.failure is None
        assert node.store.state_get("kv/half-written") is None and node.store.state_get("kv/fine") == b'"b"'
    assert verify_data(kv_data, workers=1).ok


@pytest.mark.parametrize("workers", [1, 2])
def test_a_dead_verifier_process_stops_the_node_cleanly(kv_data: Path, workers: int) -> None:
    """A verifier process killed (OOM killer, an operator's kill -9) breaks the pool: the node then
    refuses new work with SHUTTING_DOWN, as after a storage failure, without leaving the refused
    transactions counted in its mempool, commits nothing it did not acknowledge, and stops. The
    pool ends the verifiers left (they ignore SIGTERM: its terminate() must kill them, or it waits
    for them for ever)."""
    from anju.crypto.tx import parse
    from anju.errors import Overloaded

    alice = SigningKey(b"v" * 32)
    node = Node(kv_data, verify_workers=workers, mempool_limit=3).start()
    done = node.submit_parsed([parse(kv_put(alice, 1))])[0].result(timeout=30)
    pid, *others = list(node._pool._processes)  # type: ignore[union-attr]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    for seq in range(2, 7):  # more than the mempool holds: refusals must not stay counted
        try:
            fut = node.submit_parsed([parse(kv_put(alice, seq))])[0]
            with pytest.raises(Overloaded) as info:
                fut.result(timeout=30)
        except Overloaded as exc:
            code = exc.code
        else:
            code = info.value.code
        assert code == "SHUTTING_DOWN", seq
    assert node._inflight == 0 and node.failure is not None
    stop_in_time(node)  # (not hung on the broken pool)
    assert all_gone(others)
    only_committed(kv_data, done.txid)


def test_a_node_key_the_ledger_does_not_publish_is_refused(kv_data: Path) -> None:
    """A node.key replaced by another seed would sign blocks that `anju verify` rejects: refused."""
    from anju.chain.node import KEY_NAME
    from anju.errors import StorageCorrupt

    other = SigningKey(b"q" * 32)
    (kv_data / KEY_NAME).write_bytes(orjson.dumps({"ed25519_seed": other.seed.hex(), "public_key": other.public_hex}))
    with pytest.raises(StorageCorrupt) as err:
        Node(kv_data, verify_workers=0)
    assert err.value.code == "WRONG_NODE_KEY"
    assert vkey_of(CHAIN, other.public) in str(err.value)


def test_the_newest_key_of_a_key_history_is_accepted(kv_data: Path) -> None:
    """A ledger whose signer changed publishes meta.verifier_keys; its newest key may start a node."""
    store = Store(kv_data / DB_NAME)
    old = store.get_meta("verifier_key")
    assert old is not None
    new_key = SigningKey(b"r" * 32)
    new_vkey = vkey_of(CHAIN, new_key.public)
    store.set_meta({"verifier_keys": orjson.dumps([[0, old.decode()], [1, new_vkey]])})
    store.close()
    (kv_data / "node.key").write_bytes(
        orjson.dumps({"ed25519_seed": new_key.seed.hex(), "public_key": new_key.public_hex})
    )
    node = Node(kv_data, verify_workers=0)
    assert node.verifier_key == new_vkey
    node.store.close()


def test_an_interrupted_init_leaves_no_ledger_and_can_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Block 0 and the ledger's meta are written in one transaction, into a file renamed into place
    once complete: a failure (a kill) midway leaves nothing that blocks a second init."""
    from anju.chain.node import init_ledger

    real = Store.write_blocks

    def dying(self: Store, *args: object, **kw: object) -> None:
        raise KeyboardInterrupt  # stands for a kill inside the write

    monkeypatch.setattr(Store, "write_blocks", dying)
    with pytest.raises(KeyboardInterrupt):
        init_ledger(tmp_path / "n", chain_id=CHAIN, app="kv", genesis_time="2026-01-01T00:00:00.000Z")
    assert not (tmp_path / "n" / DB_NAME).exists()
    monkeypatch.setattr(Store, "write_blocks", real)
    (tmp_path / "n" / "node.key").chmod(0o644)  # whatever mode the leftover got: the new key is private
    data = init_ledger(tmp_path / "n", chain_id=CHAIN, app="kv", genesis_time="2026-01-01T00:00:00.000Z")
    Node(data, verify_workers=0).store.close()
    assert verify_data(data, workers=1).ok
    assert not [p.name for p in data.iterdir() if ".init" in p.name]
    assert (data / "node.key").stat().st_mode & 0o777 == 0o600


def test_init_writes_meta_and_block_0_in_one_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(Store, "set_meta", lambda self, items: calls.append("set_meta"))
    from anju.chain.node import init_ledger

    data = init_ledger(tmp_path / "n", chain_id=CHAIN, app="kv", genesis_time="2026-01-01T00:00:00.000Z")
    assert calls == []
    store = Store(data / DB_NAME, readonly=True)
    assert store.get_meta("verifier_key") and store.block(0) is not None
    store.close()


def test_init_syncs_its_files_and_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from anju.chain.node import init_ledger

    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    data = init_ledger(tmp_path / "n", chain_id=CHAIN, app="kv", genesis_time="2026-01-01T00:00:00.000Z")
    # genesis and the key are synced under temporary names, then renamed into place (and the directory synced)
    names = {os.path.basename(p) for p in synced if os.path.dirname(p) == str(data)}
    assert str(data) in synced and any(n.startswith(".node.key.") and n.endswith(".tmp") for n in names), synced
    assert any(n.startswith(".genesis.json.") and n.endswith(".tmp") for n in names), synced
    assert (data / "node.key").is_file() and (data / "genesis.json").is_file()
    assert not [p for p in data.iterdir() if p.name.endswith(".tmp")]


def test_one_node_per_data_directory(kv_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node of another process on a directory in use is refused at once with DATA_DIR_IN_USE,
    never left to race the first one's writes; the directory is free again once that process is
    gone (the lock is the process's, so a killed node's orphaned children do not keep it)."""
    from tests.conftest import node_in_another_process

    from anju.chain import node as node_mod
    from anju.errors import StorageCorrupt

    monkeypatch.setattr(node_mod, "LOCK_WAIT_S", 0.3)
    with node_in_another_process(kv_data, start=True), pytest.raises(StorageCorrupt) as err:
        Node(kv_data, verify_workers=0)
    assert err.value.code == "DATA_DIR_IN_USE" and "ledger.lock" in err.value.message
    # that process was killed (-9): its verifier and writer children may linger a moment; the lock does not
    with Node(kv_data, verify_workers=0) as node:
        node.submit(kv_put(SigningKey(b"\x05" * 32), 1, "k", "v")).result(timeout=30)


def test_a_second_node_object_of_the_same_process_does_not_drop_the_lock(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POSIX locks never conflict inside a process and closing any descriptor of the file drops them
    all: a second node object on the directory (allowed) shares the first's hold, and closing it
    leaves another process still refused until the last one lets go."""
    import subprocess
    import sys

    from anju.chain import node as node_mod

    monkeypatch.setattr(node_mod, "LOCK_WAIT_S", 0.2)
    probe = [
        sys.executable, "-c",
        "import sys\nfrom anju.chain.node import DataLock\nfrom anju.errors import StorageCorrupt\n"
        "try:\n    DataLock(sys.argv[1], wait=0.1)\nexcept StorageCorrupt as e:\n    print(e.code)\n"
        "else:\n    print('free')",
        str(kv_data),
    ]  # fmt: skip

    def other_process_sees() -> str:
        return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()

    first = Node(kv_data, verify_workers=0)
    second = Node(kv_data, verify_workers=0)
    assert other_process_sees() == "DATA_DIR_IN_USE"
    second.close()
    assert other_process_sees() == "DATA_DIR_IN_USE"  # the first still holds it
    first.close()
    assert other_process_sees() == "free"


def test_a_killed_nodes_children_exit_with_it(kv_data: Path) -> None:
    """kill -9 of the node alone (not its process group): its verifier, sealer and store children
    notice and exit, instead of lingering for ever (a verifier waits on its queue; a block writer
    could store a group nobody acknowledged after a restarted node had read the ledger)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    node = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from anju.chain.node import Node; "
         "Node(sys.argv[1], verify_workers=2).start(); print('running', flush=True); time.sleep(120)", str(kv_data)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert node.stdout is not None and node.stdout.readline().strip() == b"running"
    children: list[int] = []
    for task in os.listdir(f"/proc/{node.pid}/task"):
        with open(f"/proc/{node.pid}/task/{task}/children") as f:
            children += [int(p) for p in f.read().split()]
    assert len(children) >= 4, children  # two verifiers, the sealer, the store
    os.kill(node.pid, signal.SIGKILL)
    node.wait()

    deadline = time.monotonic() + 10
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if alive(p)]
    with Node(kv_data, verify_workers=0) as again:  # and a restarted node runs
        again.submit(kv_put(SigningKey(b"\x06" * 32), 1, "k", "v")).result(timeout=30)


def test_a_child_that_starts_watching_after_its_node_died_still_exits() -> None:
    """The node reads its pid before it forks: a child whose set-up runs only once the node is
    already gone (its parent is then init, or a subreaper) must not take that for the node. (The
    test above failed about once in 30 runs when a verifier's initializer ran after the kill.)"""
    import subprocess
    import sys
    import time

    script = (
        "import os, time\n"
        "from anju.chain import writer\n"
        "node = os.getpid()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    time.sleep(0.5)  # the node dies meanwhile\n"
        "    writer.child_signals(node)\n"
        "    time.sleep(60)\n"
        "    os._exit(3)\n"
        "print(child, flush=True)\n"
        "os._exit(0)\n"
    )
    node = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    child = int(node.stdout)

    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_to_the_process_group_commits_everything_accepted(kv_data: Path, sig: int) -> None:
    """A stop signal sent to the node's whole process group (systemd's KillMode=control-group,
    ``kill -TERM -PGID``, Ctrl-C, a terminal's hang-up) while transactions are being verified: the
    program stops its node, which verifies and commits every transaction it took, then exits with
    its children. (Verifiers died of SIGTERM and SIGHUP: what they held was refused SHUTTING_DOWN;
    block writers died of SIGHUP.)"""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
    errors = kv_data.parent / "child-stderr.txt"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/chain/stop_child.py"), str(kv_data), (b"\x51" * 32).hex()],
        stdout=subprocess.PIPE,
        stderr=errors.open("w"),
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,  # its own process group: the node, its verifiers and block writers
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready", errors.read_text()
        children = children_of(proc.pid)
        assert len(children) == 4, children  # two verifiers, the sealer, the store
        accepted: list[str] = []
        while len(accepted) < 3000:  # the verifiers (on shared cores) are then well behind
            line = proc.stdout.readline()
            assert line, f"the child ended: {errors.read_text()[-2000:]}"
            accepted.append(line.split()[1])
        os.killpg(proc.pid, sig)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    lines = rest.splitlines()
    assert proc.returncode == 0 and lines[-1] == "stopped", errors.read_text()[-2000:]
    accepted += [line.split()[1] for line in lines if line.startswith("accepted ")]
    assert all_gone(children)
    store = Store(kv_data / DB_NAME)
    try:
        missing = [t for t in accepted if store.tx_by_id(bytes.fromhex(t)) is None]
        assert not missing, f"{len(missing)} of {len(accepted)} accepted transactions were not committed"
        assert store.execute("SELECT count(*) FROM txs") == [(len(accepted),)]
    finally:
        store.close()


def test_no_verifier_holds_the_block_writers_pipes(kv_data: Path) -> None:
    """The verifiers are forked after the block writers: without closing their copies of the node's
    pipe ends, a writer would never see its input close while a verifier lives (the node's stop()
    worked only because it shuts the verifiers down first)."""
    with Node(kv_data, verify_workers=2) as node:
        assert node._writer is not None and node._pool is not None
        ends = (node._writer._out, node._writer._data, node._writer._in)  # the node's (node_ends)
        pipes = {f"pipe:[{os.fstat(end.fileno()).st_ino}]" for end in ends}
        verifiers = list(node._pool._processes)
        assert len(verifiers) == 2
        for pid in verifiers:
            held = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            assert not held & pipes, f"verifier {pid} holds {sorted(held & pipes)}"
        # and so closing the node's ends alone stops both writers, verifiers still running
        writers = node._writer.pids
        node._writer.close()
        node._writer = None
        assert all_gone(writers)
        assert all(alive(p) for p in verifiers)


def test_a_program_that_exits_without_stopping_its_node_ends(kv_data: Path) -> None:
    """A program that leaves without stop() (an uncaught KeyboardInterrupt, the end of a script)
    hung for ever: multiprocessing's exit handler sent SIGTERM to the block writers (which ignore it)
    and waited for them, while they waited for the node's pipe ends to close."""
    code = (
        "import sys\n"
        "from anju.chain.node import Node\n"
        "node = Node(sys.argv[1], verify_workers=2).start()\n"
        "print(*node._writer.pids, *node._pool._processes, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(kv_data)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        children = [int(p) for p in proc.stdout.readline().split()]
        assert len(children) == 4
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert all_gone(children)
    with Node(kv_data, verify_workers=0) as again:  # and the ledger is free
        again.submit(kv_put(SigningKey(b"\x07" * 32), 1, "k", "v")).result(timeout=30)


def test_a_submission_admitted_as_stop_begins_is_committed_not_left_hanging(
    kv_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stop() raced a submission between its admission and its hand-over to the forwarder: the
    forwarder had taken stop()'s end mark and gone, so the submission was queued behind it and its
    futures never settled (accepted, neither committed nor refused). stop() now waits for it."""
    import threading
    import time

    from anju.chain import node as node_mod

    inside = threading.Event()
    verify = node_mod.verify_chunk

    def slow_verify(raws: list[bytes]) -> list[object]:
        inside.set()  # admitted: the node took the transactions
        time.sleep(0.3)
        return verify(raws)  # type: ignore[return-value]

    monkeypatch.setattr(node_mod, "verify_chunk", slow_verify)
    alice = SigningKey(b"s" * 32)
    node = Node(kv_data, verify_workers=0, block_interval=0.01).start()
    futs: list[object] = []
    submitter = threading.Thread(target=lambda: futs.extend(node.submit_many([kv_put(alice, i) for i in (1, 2, 3)])))
    submitter.start()
    assert inside.wait(30)
    stopper = threading.Thread(target=node.stop)
    stopper.start()
    submitter.join(30)
    stopper.join(30)
    assert not stopper.is_alive()
    receipts = [f.result(timeout=5) for f in futs]  # type: ignore[attr-defined]
    with Node(kv_data, verify_workers=0) as again:
        for r in receipts:
            assert again.store.tx_by_id(bytes.fromhex(r.txid)) is not None


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "writer-processes"])
def test_a_sequencer_failure_answers_every_waiter(kv_data: Path, workers: int) -> None:
    """The sequencer meets an error that is not a transaction's fault (a read of the ledger fails
    with EIO): the node stops taking work, as on a storage failure, and every transaction it had
    accepted is answered SHUTTING_DOWN (the one it was executing, the rest of its open block, those
    queued behind): none was left waiting for ever, counted in the mempool, or listed as pending."""
    import sqlite3

    from anju.errors import Overloaded

    alice = SigningKey(b"q" * 32)
    node = Node(kv_data, verify_workers=workers, block_interval=0.05).start()
    apply = node.executor.machine.apply

    def failing_apply(tx: Tx, ctx: object, st: object) -> object:
        if tx.body.get("key") == "boom":
            raise sqlite3.OperationalError("disk I/O error")
        return apply(tx, ctx, st)  # type: ignore[arg-type]

    node.executor.machine.apply = failing_apply  # type: ignore[method-assign]
    try:
        first = node.submit(kv_put(alice, 1)).result(timeout=30)
        futs = node.submit_many([kv_put(alice, 2), kv_put(alice, 3, k="boom"), kv_put(alice, 4)])
        try:  # queued behind the failing one, or refused at once if the failure came first
            futs += node.submit_many([kv_put(alice, 5)])
        except Overloaded as exc:
            assert exc.code == "SHUTTING_DOWN"
        for f in futs:
            with pytest.raises(Overloaded) as info:
                f.result(timeout=30)
            assert info.value.code == "SHUTTING_DOWN"
        assert node.failure is not None and node._inflight == 0
        with pytest.raises(Overloaded):
            node.submit(kv_put(alice, 6))
    finally:
        node.stop()
    only_committed(kv_data, first.txid)


def test_a_transaction_cancelled_before_it_is_sequenced_is_not_committed(kv_data: Path) -> None:
    """Future.cancel() answering True means the work will not happen (the API's settlement says
    "the node dropped this transaction" of a cancelled future): a transaction whose future was
    cancelled before the sequencer took it was committed anyway, with no receipt for anyone."""
    from anju.crypto.tx import parse_and_verify

    alice, bob = SigningKey(b"c" * 32), SigningKey(b"d" * 32)
    node = Node(kv_data, verify_workers=0, block_interval=0.01)
    [dropped] = node.submit_verified([parse_and_verify(kv_put(alice, 1))])  # queued; not yet sequenced
    [kept] = node.submit_verified([parse_and_verify(kv_put(bob, 1))])
    assert dropped.cancel()
    node.start()
    try:
        receipt = kept.result(timeout=30)
        assert node._inflight == 0
    finally:
        node.stop()
    store = Store(kv_data / DB_NAME)
    try:
        assert store.tx_by_id(bytes.fromhex(receipt.txid)) is not None
        assert store.execute("SELECT count(*) FROM txs") == [(1,)]
        assert store.state_get("seq/" + alice.public_hex) is None
    finally:
        store.close()


def _hold_store_lock(data: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process holding DATA/ledger.store.lock for ``seconds``, as a killed node's store process
    finishing its last group does; it prints a line once it holds the lock."""
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(data / 'ledger.store.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
    proc.stdout.close()  # (it writes nothing more)
    return proc


def test_a_node_waits_for_the_store_process_of_a_node_that_died(kv_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node killed alone leaves its store process to notice; one in the middle of a group commits it
    first. A node started meanwhile read the ledger before that commit and then wrote the same heights
    again (its first block failed). It now waits for that process to exit (DATA/ledger.store.lock), and
    is refused with DATA_DIR_IN_USE if it does not within STORE_WAIT_S; a running node's own store
    process holds the lock until the node stops."""
    from anju.chain import node as node_mod
    from anju.errors import StorageCorrupt

    orphan = _hold_store_lock(kv_data, 1.0)
    with Node(kv_data, verify_workers=0) as node:
        assert orphan.poll() is not None, "the node opened the ledger while the store process still lived"
        orphan.wait()
        node.submit(kv_put(SigningKey(b"\x06" * 32), 1, "k", "v")).result(timeout=30)
    monkeypatch.setattr(node_mod, "STORE_WAIT_S", 0.3)
    stuck = _hold_store_lock(kv_data, 60)
    try:
        with pytest.raises(StorageCorrupt) as err:
            Node(kv_data, verify_workers=0)
        assert err.value.code == "DATA_DIR_IN_USE" and "ledger.store.lock" in err.value.message
    finally:
        stuck.kill()
        stuck.wait()
    node = Node(kv_data, verify_workers=1, writer_process=True)
    node.start()
    try:
        node.submit(kv_put(SigningKey(b"\x06" * 32), 2, "k", "w")).result(timeout=30)
        with pytest.raises(StorageCorrupt):  # its store process holds the lock
            node_mod.wait_for_store_process(kv_data, wait=0.2)
    finally:
        node.stop()
    node_mod.wait_for_store_process(kv_data, wait=5)  # stopped: its store process is gone


class _Interrupting:
    """The node's chunk condition, whose ``n``-th acquisition by the calling thread raises
    KeyboardInterrupt, as a Ctrl-C arriving while the main thread waits for the lock does (a lock's
    acquisition is interrupted by a signal, and the handler's exception raised from it)."""

    def __init__(self, cv: Any, n: int) -> None:
        self.cv, self.n, self.owner = cv, n, threading.get_ident()

    def __enter__(self) -> Any:
        if threading.get_ident() == self.owner:
            self.n -= 1
            if self.n == 0:
                raise KeyboardInterrupt
        return self.cv.__enter__()

    def __exit__(self, *exc: object) -> Any:
        return self.cv.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cv, name)


@pytest.mark.parametrize("at", [2, 3], ids=["queueing", "leaving"])
def test_an_interrupt_while_submitting_leaves_no_count_behind(kv_data: Path, at: int) -> None:
    """Ctrl-C in a program submitting transactions (KeyboardInterrupt in its main thread wherever it
    is): interrupted while queueing (the 2nd acquisition of the lock), the transactions were left
    counted in the mempool for ever; while leaving (the 3rd), the count of submissions under way,
    and stop() then waited for it for ever. Either way the node stops, with every transaction queued
    committed."""
    node = Node(kv_data, verify_workers=0, block_interval=0.01)
    node.start()
    key = SigningKey(b"\x53" * 32)
    node.submit_many([kv_put(key, 1)])[0].result(timeout=30)
    node._chunk_cv = _Interrupting(node._chunk_cv, at)  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        node.submit_many([kv_put(key, 2), kv_put(key, 3)])
    node._chunk_cv = node._chunk_cv.cv  # type: ignore[attr-defined]
    assert node._entering == 0
    deadline = time.monotonic() + 30
    while node._inflight and time.monotonic() < deadline:  # (queued ones leave it once committed)
        time.sleep(0.01)
    assert node._inflight == 0
    stop_in_time(node, 30)
    store = Store(kv_data / DB_NAME)
    try:
        assert store.execute("SELECT count(*) FROM txs") == [(3 if at == 3 else 1,)]
    finally:
        store.close()


def test_an_interrupt_inside_the_verifier_pool_s_submit_does_not_hang_stop(kv_data: Path) -> None:
    """Ctrl-C while ``submit_many`` is inside the verifier pool's ``submit``, between registering the
    work item and queueing its id (``queue.Queue.put`` is Python code: KeyboardInterrupt is raised at
    its entry): the pool then holds a work item no worker will ever run, and ``stop()``, shutting the
    pool down and waiting for its pending items, waited for ever (the group-SIGINT test hung so under
    the full suite). Every chunk the node queued is verified before its pool is shut down, so what
    is left pending then is such an orphan: cancelled."""
    node = Node(kv_data, verify_workers=1, block_interval=0.01)
    node.start()
    key = SigningKey(b"\x54" * 32)
    node.submit_many([kv_put(key, 1)])[0].result(timeout=30)
    pool = node._pool
    assert pool is not None
    work_ids = pool._work_ids  # type: ignore[attr-defined]
    real_put = work_ids.put

    def interrupted(*args: Any, **kwargs: Any) -> None:
        work_ids.put = real_put
        raise KeyboardInterrupt

    work_ids.put = interrupted
    with pytest.raises(KeyboardInterrupt):
        node.submit_many([kv_put(key, 2)])
    assert node._inflight == 0 and node._entering == 0
    stop_in_time(node, 30)
    only_committed_count = Store(kv_data / DB_NAME)
    try:
        assert only_committed_count.execute("SELECT count(*) FROM txs") == [(1,)]
    finally:
        only_committed_count.close()
