"""A client that remembers the newest checkpoint it verified (``remember=FILE``) catches, in a
later run, a node that rolled its ledger back or forked it; the file only ever moves forward."""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.api.conftest import CHAIN, Server
from tests.api.test_core import env, post
from tests.client import forge

from anju.client import AnjuClient
from anju.client.remember import CheckpointFile
from anju.crypto.keys import SigningKey
from anju.errors import VerificationError
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import vkey_of


def _body(note: str) -> Checkpoint:
    """The checkpoint a note carries (its signatures not checked)."""
    return Checkpoint.from_text(note.split("\n\n", 1)[0] + "\n")


def _held(memory: Path) -> Checkpoint:
    return _body(memory.read_text())


def test_a_later_run_starts_from_the_remembered_checkpoint_and_advances_it(
    tmp_path: Path, kv_ledger: Path, start_server: Callable[..., Server]
) -> None:
    server = start_server(kv_ledger)
    memory = tmp_path / "seen.note"
    key = SigningKey.generate()
    post(server, env(key, 1, "k1", "one"), wait=True)
    with AnjuClient(server.url, server.vkey, remember=memory) as first:
        assert first.state("kv/k1").value == "one"
        size1 = first.latest.size if first.latest else 0
    assert _held(memory).size == size1 == 1
    post(server, env(key, 2, "k2", "two"), wait=True)
    with AnjuClient(server.url, server.vkey, remember=memory) as second:
        assert second.latest is not None and second.latest.size == 1  # before any request
        assert second.state("kv/k2").value == "two"  # (a consistency proof from size 1 was checked)
    assert _held(memory).size == 2
    assert not list(tmp_path.glob(".seen.note.*"))  # no temporary file left beside it


def test_a_node_rolled_back_or_forked_since_an_earlier_run_is_refused(
    tmp_path: Path, kv_ledger: Path, start_server: Callable[..., Server]
) -> None:
    """The operator restores an old copy of the ledger (same key): the node's answers are genuinely
    signed, but of a smaller log (stale), and once it commits again, of another history (a fork)."""
    before = tmp_path / "copy-before"
    shutil.copytree(kv_ledger, before)  # the ledger as init made it, node key included
    memory = tmp_path / "seen.note"
    server = start_server(kv_ledger)
    key = SigningKey.generate()
    post(server, env(key, 1, "k1", "paid"), wait=True)
    vkey = server.vkey
    AnjuClient(server.url, vkey, remember=memory).state("kv/k1")
    remembered = memory.read_text()
    server.stop()

    restored = start_server(before)
    assert restored.vkey == vkey
    assert AnjuClient(restored.url, vkey).state("kv/k0").value is None  # a client that forgot: fooled
    with pytest.raises(VerificationError) as info:
        AnjuClient(restored.url, vkey, remember=memory).state("kv/k0")
    assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "stale"
    post(restored, env(key, 1, "k1", "never paid"), wait=True)  # the rewritten history
    with pytest.raises(VerificationError) as info:
        AnjuClient(restored.url, vkey, remember=memory).state("kv/k1")
    assert info.value.code == "PROOF_INVALID"  # same height and size, another root: a fork
    assert memory.read_text() == remembered  # the evidence is kept, not replaced


_KEY = SigningKey(b"r" * 32)
_VKEY = vkey_of("anju-forge", _KEY.public)


def _note(size: int, height: int, root: bytes = forge.ROOT) -> str:
    return forge.sign(forge.checkpoint(size=size, height=height, root=root), (_KEY, "anju-forge"))


def _offline(memory: Path, vkey: str = _VKEY) -> AnjuClient:
    return AnjuClient("http://127.0.0.1:9", vkey, remember=memory)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("foreign", "another chain or set of keys"),  # a genuine note, of a key the client does not trust
        (b"not a checkpoint note", "checkpoint rejected"),
        (b"\xff\xfe", "not UTF-8"),
        (b"x" * (64 * 1024 + 1), "larger than a checkpoint note"),
    ],
)
def test_an_unusable_file_is_refused_and_left_as_it_is(tmp_path: Path, content: str | bytes, why: str) -> None:
    memory = tmp_path / "seen.note"
    if content == "foreign":
        content = forge.sign(forge.checkpoint(size=3, height=2), (SigningKey(b"o" * 32), "anju-forge")).encode()
    memory.write_bytes(content)
    with pytest.raises(VerificationError) as info:
        _offline(memory)
    assert info.value.code == "CHECKPOINT_INVALID" and info.value.details["reason"] == "remembered"
    assert why in info.value.message and str(memory) in info.value.message
    assert memory.read_bytes() == content


def test_a_file_of_another_chain_is_refused(tmp_path: Path) -> None:
    memory = tmp_path / "seen.note"
    memory.write_text(_note(3, 2))
    with pytest.raises(VerificationError) as info:
        AnjuClient("http://127.0.0.1:9", _VKEY, remember=memory, chain_id=CHAIN)
    assert info.value.details["reason"] == "remembered"


def test_the_file_never_moves_back_nor_takes_another_history(tmp_path: Path) -> None:
    """Clients sharing one file: one that saw less does not overwrite what another saw later;
    one that saw another history at the same size is refused and changes nothing."""
    memory = tmp_path / "seen.note"
    ahead, behind = _offline(memory), _offline(memory)
    behind.see(_note(3, 2))
    ahead.see(_note(3, 2))
    ahead.see(_note(3, 5))  # an empty block later: same log, another height
    assert _held(memory).height == 5
    behind.see(_note(3, 4))  # newer than what *it* saw, older than the file
    assert _held(memory).height == 5
    with pytest.raises(VerificationError) as info:
        behind.see(_note(3, 6, root=b"\x07" * 32))
    assert info.value.code == "PROOF_INVALID"
    assert _held(memory).height == 5


def test_writers_in_parallel_leave_the_newest(tmp_path: Path) -> None:
    memory = tmp_path / "seen.note"
    file = CheckpointFile(memory)
    notes = [_note(3, h) for h in range(1, 41)]
    random.Random(7).shuffle(notes)  # the newest is not written last
    opened = {n: _body(n) for n in notes}
    threads = [threading.Thread(target=file.advance, args=(n, opened[n], opened.__getitem__)) for n in notes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _held(memory).height == 40


def test_an_unwritable_place_is_a_clear_refusal(tmp_path: Path) -> None:
    memory = tmp_path / "no-such-dir" / "seen.note"
    client = _offline(memory)
    with pytest.raises(VerificationError) as info:
        client.see(_note(3, 2))
    assert info.value.details["reason"] == "remembered" and "cannot" in info.value.message
