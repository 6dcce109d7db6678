"""A lying checkpoint signer: notes and bundles signed by a trusted key over whatever state it likes.

The lying servers of test_lying_server.py alter answers after the node signed them; the SDK must
also hold against the signer itself (a node whose key is trusted, or a consortium's members),
which can sign any state root, heights and times, but cannot sign transactions for the parties.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from anju.crypto import jcs
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import add_signature
from anju.ledger.statemap import MemoryNodeStore, StateMap

ROOT = bytes(32)
TIME = "2026-03-01T08:00:00.000Z"


def checkpoint(
    origin: str = "anju-forge",
    size: int = 0,
    root: bytes = ROOT,
    height: int = 1,
    state_root: bytes = ROOT,
    time: str = TIME,
) -> Checkpoint:
    return Checkpoint(origin, size, root, height, state_root, time)


def sign(cp: Checkpoint, *signers: tuple[SigningKey, str]) -> str:
    """The checkpoint note signed by each (key, name) in turn."""
    (key, name), *more = signers
    note = cp.sign(key, name)
    for key, name in more:
        note = add_signature(note, name, key)
    return note


def state_map(state: Mapping[str, Any]) -> StateMap:
    """An in-memory state map holding ``state`` (values JCS-encoded; None: absent)."""
    store = MemoryNodeStore()
    smap = StateMap(store)
    _, changes = smap.apply({k: jcs.canonicalize(v) for k, v in state.items() if v is not None})
    store.write(changes)
    return smap


def bundle(
    kind: str, subject: str, state: Mapping[str, Any], note_of: Callable[[Checkpoint], str], cp: Checkpoint
) -> dict[str, Any]:
    """A bundle proving ``state`` (None: absent) under ``cp`` with that state's root, signed by ``note_of``."""
    smap = state_map(state)
    cp = Checkpoint(cp.origin, cp.size, cp.root, cp.height, smap.root, cp.time)
    entries = [{"key": k, "value": v, "proof": smap.prove(k).to_json()} for k, v in state.items()]
    return {"format": "anju-bundle-v1", "kind": kind, "subject": subject, "chain_id": cp.origin,
            "checkpoint": note_of(cp), "state": entries, "txs": []}  # fmt: skip


def resign(bundle: Mapping[str, Any], key: SigningKey, edit: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a genuine ``bundle`` whose state entries are changed by ``edit`` (key -> new value,
    None: proven absent; a key the bundle lacks is added), proven against a state root the signer
    re-signs with ``key`` (name = the chain id) in a checkpoint otherwise equal to the bundle's.
    Its transactions stay the genuine ones, proven in the same log."""
    old = Checkpoint.from_text(bundle["checkpoint"].split("\n\n")[0] + "\n")
    state = {e["key"]: e["value"] for e in bundle["state"]}
    state.update(edit)
    smap = state_map(state)
    cp = checkpoint(old.origin, old.size, old.root, old.height, smap.root, old.time)
    entries = [{"key": k, "value": v, "proof": smap.prove(k).to_json()} for k, v in state.items()]
    return {**bundle, "checkpoint": cp.sign(key, old.origin), "state": entries}


def relog(bundle: Mapping[str, Any], key: SigningKey, edit: Mapping[str, Any], log: Sequence[bytes]) -> dict[str, Any]:
    """A copy of a genuine ``bundle`` as its signer would sign it over a log of its own making: the
    state changed by ``edit`` (as :func:`resign`), the log exactly the leaves ``log`` (JCS envelopes,
    each validly signed by whoever it names: the signer cannot sign for the parties, only choose
    which of their transactions, and its own, the log holds and in what order), and the bundle's
    transactions every one of them, each proven in that log."""
    nodes: dict[tuple[int, int], bytes] = {}
    frontier = merkle.Frontier()
    for leaf in log:
        for level, index, h in frontier.append(merkle.leaf_hash(leaf)):
            nodes[(level, index)] = h
    size = len(log)
    txs = [
        {
            "txid": parse(leaf).txid,
            "index": i,
            "leaf": b64(leaf),
            "hashes": [b64(h) for h in merkle.inclusion_proof(i, size, lambda level, n: nodes[(level, n)])],
        }
        for i, leaf in enumerate(log)
    ]
    old = Checkpoint.from_text(bundle["checkpoint"].split("\n\n")[0] + "\n")
    state = {e["key"]: e["value"] for e in bundle["state"]}
    state.update(edit)
    smap = state_map(state)
    cp = checkpoint(old.origin, size, frontier.root(), old.height, smap.root, old.time)
    entries = [{"key": k, "value": v, "proof": smap.prove(k).to_json()} for k, v in state.items()]
    return {**bundle, "checkpoint": cp.sign(key, old.origin), "state": entries, "txs": txs}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
