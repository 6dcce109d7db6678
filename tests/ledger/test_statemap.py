"""The state map against a from-scratch reference, its proofs, and every way a proof can lie."""

from __future__ import annotations

import base64
import hashlib
import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anju.errors import StorageCorrupt, VerificationError
from anju.ledger.statemap import (
    EMPTY_ROOT,
    ROOT_TILE,
    MemoryNodeStore,
    StateMap,
    StateProof,
    decode_tile,
    encode_tile,
    key_path,
    node_place,
    tile_ids,
    verify_state_proof,
)

State = dict[str, bytes]


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def reference_root(state: State) -> bytes:
    """The root straight from the definition in docs/PROTOCOL.md, over bit strings."""

    def bits(b: bytes) -> str:
        return "".join(f"{x:08b}" for x in b)

    def subtree(leaves: list[tuple[str, bytes, bytes]], depth: int) -> bytes:
        if not leaves:
            return bytes(32)
        if len(leaves) == 1:
            _, path, value = leaves[0]
            return sha(b"\x00" + path + sha(value))
        left = [x for x in leaves if x[0][depth] == "0"]
        right = [x for x in leaves if x[0][depth] == "1"]
        return sha(b"\x01" + subtree(left, depth + 1) + subtree(right, depth + 1))

    return subtree([(bits(sha(k.encode())), sha(k.encode()), v) for k, v in state.items()], 0)


def fresh(state: State, cache_size: int = 1 << 18) -> tuple[StateMap, MemoryNodeStore]:
    store = MemoryNodeStore()
    smap = StateMap(store, cache_size=cache_size)
    store.write(smap.apply(state)[1])
    return smap, store


def apply(smap: StateMap, store: MemoryNodeStore, changes: dict[str, bytes | None]) -> bytes:
    root, nodes = smap.apply(changes)
    store.write(nodes)
    return root


def merged(state: State, changes: dict[str, bytes | None]) -> State:
    """``state`` after ``changes`` (None deletes), as a new dict."""
    out = dict(state)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def shared_prefix_keys(bits: int) -> tuple[str, str]:
    """Two keys whose paths agree on at least the first ``bits`` bits (birthday search)."""
    seen: dict[int, str] = {}
    i = 0
    while True:
        key = f"deep/{i}"
        top = int.from_bytes(key_path(key), "big") >> (256 - bits)
        if top in seen:
            return seen[top], key
        seen[top] = key
        i += 1


# --- the hashing scheme, pinned -------------------------------------------------------------------

GOLDEN = {"party/a": b'{"name":"A"}', "unit/1": b"1", "unit/2": b"", "lease/x": b"\x00\xff"}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({}, bytes(32)),
        ({"unit/1": b"1"}, sha(b"\x00" + sha(b"unit/1") + sha(b"1"))),
        ({"unit/1": b"1", "unit/2": b""}, reference_root({"unit/1": b"1", "unit/2": b""})),
        (GOLDEN, bytes.fromhex("ed8c93e2d964f4381672f3c312922fc4f7cbecee76cf7490dc38aee4c6c0997d")),
    ],
    ids=["empty", "one-leaf", "two-leaves", "golden"],
)
def test_root_matches_the_specification(state: State, expected: bytes) -> None:
    assert reference_root(state) == expected
    assert fresh(state)[0].root == expected


@pytest.mark.parametrize(
    ("depth", "path_hex_prefix", "expected"),
    [
        (0, "ff", (1, 1)),
        (1, "ff", (1, 3)),
        (4, "ff", (1, 31)),
        (5, "ab", (32 | 0b10101, 1)),
        (9, "abff", (32 | 0b10101, 16 | 0b0111)),
        (12, "abcd", (1024 | 0b1010101111, 4 | 0b00)),
        (255, "ff" * 32, (2**256 - 1, 1)),
    ],
)
def test_node_place_is_tile_id_then_place_in_tile(depth: int, path_hex_prefix: str, expected: tuple[int, int]) -> None:
    path = int.from_bytes(bytes.fromhex(path_hex_prefix).ljust(32, b"\x00"), "big")
    assert node_place(depth, path) == expected


@given(st.integers(0, 2**256 - 1), st.integers(0, 2**256 - 1), st.integers(0, 255), st.integers(0, 255))
def test_node_places_are_unique_and_a_tile_is_five_levels_of_one_prefix(p: int, q: int, d: int, e: int) -> None:
    """Two nodes get the same place iff they are the same node (depth and path prefix); two nodes
    share a tile iff they are in the same five levels (depth // 5) under the same first 5 * (depth // 5) bits."""
    same_node = d == e and p >> (256 - d) == q >> (256 - e)
    assert (node_place(d, p) == node_place(e, q)) == same_node
    t = d // 5 * 5
    same_tile = d // 5 == e // 5 and p >> (256 - t) == q >> (256 - t)
    assert (node_place(d, p)[0] == node_place(e, q)[0]) == same_tile
    tid, place = node_place(d, p)
    assert tid != ROOT_TILE and 1 <= place <= 31
    assert tile_ids(p, d + 1)[-1] == tid and len(tile_ids(p, d + 1)) == d // 5 + 1


def test_tile_records_round_trip_and_malformed_ones_are_refused() -> None:
    _smap, store = fresh({f"k/{i}": b"x" for i in range(300)})
    for tid, rec in store.nodes.items():
        if tid != ROOT_TILE:
            tile = decode_tile(rec, tid)
            assert encode_tile(tile) == rec and sum(e != b"" for e in tile) >= 1 and tile[0] == b""
    rec = store.nodes[1]  # the top tile of 300 keys: full
    first = decode_tile(rec)
    n1 = len(next(e for e in first if e))
    bad = {
        "empty": b"",
        "place 0": b"\x00" + rec[1:],
        "place 32": b"\x20" + rec[1:],
        "out of order": rec[n1:] + rec[:n1],
        "repeated": rec[:n1] + rec,
        "truncated": rec[:-1],
        "trailing byte": rec + b"\x1f",
        "bad reference tag": rec[:1] + b"\x07" + rec[2:],
    }
    for why, damaged in bad.items():
        with pytest.raises(StorageCorrupt):
            decode_tile(damaged, 1)
            pytest.fail(why)


def test_deep_shared_prefix_builds_and_collapses() -> None:
    a, b = shared_prefix_keys(20)
    smap, store = fresh({})
    root = apply(smap, store, {a: b"a", b: b"b"})
    assert root == reference_root({a: b"a", b: b"b"})
    nodes = sum(e != b"" for t, rec in store.nodes.items() if t != ROOT_TILE for e in decode_tile(rec))
    assert smap.prove(a).depth >= 21 and nodes >= 21  # a chain of single-child nodes
    assert len(store.nodes) >= 1 + 5  # the root reference and one tile per five levels
    verify_state_proof(root, a, b"a", smap.prove(a))
    root = apply(smap, store, {b: None})
    assert root == reference_root({a: b"a"})
    assert set(store.nodes) == {ROOT_TILE}  # the chain is gone; the lone leaf sits at the root
    assert apply(smap, store, {a: None}) == EMPTY_ROOT and store.nodes == {}


def test_non_ascii_key_is_refused() -> None:
    with pytest.raises(ValueError):
        fresh({"unit/é": b"x"})


# --- batches: order and split independence, canonical storage ------------------------------------

KEYS = [f"k/{i}" for i in range(40)]
changes_st = st.dictionaries(st.sampled_from(KEYS), st.none() | st.binary(max_size=3), max_size=25)


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(changes_st, max_size=8), cache_size=st.sampled_from([2, 16, 1 << 18]))
def test_batches_match_the_reference(batches: list[dict[str, bytes | None]], cache_size: int) -> None:
    smap, store = fresh({}, cache_size)
    state: State = {}
    for changes in batches:
        root = apply(smap, store, changes)
        state = merged(state, changes)
        assert root == reference_root(state)
    assert store.nodes == fresh(state)[1].nodes  # no stale nodes: storage depends on the state only
    reopened = StateMap(store, smap.root, cache_size=cache_size)
    for key in KEYS:
        proof = StateProof.from_json(reopened.prove(key).to_json())
        verify_state_proof(smap.root, key, state.get(key), proof)


@settings(max_examples=100, deadline=None)
@given(changes=changes_st, data=st.data())
def test_root_ignores_order_and_batch_split(changes: dict[str, bytes | None], data: st.DataObject) -> None:
    base: State = {k: b"old" for k in data.draw(st.lists(st.sampled_from(KEYS), unique=True))}
    smap, store = fresh(base)
    one_batch = apply(smap, store, changes)
    items = data.draw(st.permutations(list(changes.items())))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(items)), max_size=4)))
    smap2, store2 = fresh(base)
    for lo, hi in zip([0, *cuts], [*cuts, len(items)], strict=True):
        apply(smap2, store2, dict(items[lo:hi]))
    assert smap2.root == one_batch
    assert store2.nodes == store.nodes


def test_large_random_batches_match_the_reference() -> None:
    rng = random.Random(7)
    smap, store = fresh({})
    state: State = {}
    for _ in range(5):
        changes: dict[str, bytes | None] = {f"u/{rng.randrange(3000)}": rng.randbytes(8) for _ in range(1000)}
        changes.update({k: None for k in rng.sample(sorted(state), min(300, len(state)))})
        apply(smap, store, changes)
        state.update({k: v for k, v in changes.items() if v is not None})
        for k in [k for k, v in changes.items() if v is None]:
            del state[k]
    assert smap.root == reference_root(state)


def test_empty_batch_changes_nothing() -> None:
    smap, _store = fresh({"a": b"1"})
    assert smap.apply({}) == (smap.root, {})


# --- restart and corrupt storage ------------------------------------------------------------------


def test_restart_from_store_alone() -> None:
    smap, store = fresh({f"k/{i}": b"%d" % i for i in range(100)})
    again = StateMap(store, smap.root)
    assert again.root == smap.root
    assert apply(again, store, {"k/1": None, "new": b"n"}) == apply(smap, MemoryNodeStore(), {"k/1": None, "new": b"n"})
    with pytest.raises(StorageCorrupt):
        StateMap(store, bytes(32))


def test_reset_discards_unpersisted_batch() -> None:
    smap, _store = fresh({"a": b"1", "b": b"2"})
    committed = smap.root
    smap.apply({"a": None, "c": b"3"})  # computed but never persisted: block aborted
    smap.reset(committed)
    assert smap.root == committed
    verify_state_proof(committed, "a", b"1", smap.prove("a"))


@pytest.mark.parametrize("damage", ["delete", "truncate", "bad-tag", "bad-place", "drop-a-node"])
def test_corrupt_store_fails_loudly(damage: str) -> None:
    smap, store = fresh({f"k/{i}": b"x" for i in range(50)})
    victim = max(store.nodes)  # the deepest tile
    rec = store.nodes[victim]
    if damage == "delete":
        del store.nodes[victim]
    elif damage == "truncate":
        store.nodes[victim] = rec[:-1]
    elif damage == "bad-tag":
        store.nodes[victim] = rec[:1] + b"\x07" + rec[2:]
    elif damage == "bad-place":
        store.nodes[victim] = b"\x00" + rec[1:]
    else:  # a well-formed tile that lacks one of its nodes
        tile = decode_tile(rec)
        tile[max(i for i, e in enumerate(tile) if e)] = b""
        store.nodes[victim] = encode_tile(tile) or b"\x00"
    smap = StateMap(store, smap.root)
    with pytest.raises(StorageCorrupt):
        for i in range(50):
            smap.prove(f"k/{i}")
            smap.apply({f"k/{i}": b"y"})


# --- proofs: honest ones verify, every lie is rejected --------------------------------------------

STATE: State = {f"k/{i}": b"v%d" % i for i in range(64)}


@pytest.fixture(scope="module")
def tree() -> StateMap:
    return fresh(STATE)[0]


def test_empty_tree_proves_absence() -> None:
    smap, _ = fresh({})
    proof = smap.prove("any")
    assert proof.to_json() == {"depth": 0, "bitmap": "", "siblings": [], "leaf": None}
    verify_state_proof(EMPTY_ROOT, "any", None, proof)
    with pytest.raises(VerificationError):
        verify_state_proof(EMPTY_ROOT, "any", b"", proof)


def test_both_kinds_of_absence_occur_and_verify(tree: StateMap) -> None:
    kinds = set()
    for i in range(200):
        key = f"absent/{i}"
        proof = tree.prove(key)
        kinds.add(proof.leaf is None)
        verify_state_proof(tree.root, key, None, proof.to_json())
    assert kinds == {True, False}  # an empty branch, and another key's leaf on the path


def edit(proof: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**proof, **fields}


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def flip(s: str) -> str:
    raw = bytearray(base64.b64decode(s))
    raw[5] ^= 1
    return b64(bytes(raw))


# (description, why it fails, key, claimed value, how to spoil the honest JSON proof of that key)
Spoil = Callable[[dict[str, Any]], Any]


def cut_last_level(p: dict[str, Any]) -> dict[str, Any]:
    """A well-formed proof one level shorter: drops the deepest sibling and fixes the bitmap."""
    d = p["depth"]
    bits = int.from_bytes(base64.b64decode(p["bitmap"]), "big") >> (-d & 7)
    sibs = p["siblings"][:-1] if bits & 1 else p["siblings"]
    bitmap = ((bits >> 1) << (-(d - 1) & 7)).to_bytes((d + 6) >> 3, "big")
    return edit(p, depth=d - 1, bitmap=b64(bitmap), siblings=sibs)


def sibs(p: dict[str, Any], first: str | None = None, last: str | None = None, extra: list[str] | None = None) -> Any:
    """The proof with its first or last sibling replaced, or siblings appended."""
    s = list(p["siblings"])
    if first is not None:
        s[0] = first
    if last is not None:
        s[-1] = last
    return edit(p, siblings=s + (extra or []))


def leaf(p: dict[str, Any], **fields: str) -> dict[str, Any]:
    return edit(p, leaf={**(p["leaf"] or {"value_hash": b64(sha(b""))}), **fields})


def bitmap(p: dict[str, Any], f: Callable[[bytes], bytes]) -> dict[str, Any]:
    return edit(p, bitmap=b64(f(base64.b64decode(p["bitmap"]))))


def extra_empty_level(p: dict[str, Any]) -> dict[str, Any]:
    """A proof one level deeper, with an empty sibling at the new level (a non-compressed position)."""
    d = p["depth"]
    bits = int.from_bytes(base64.b64decode(p["bitmap"]), "big") >> (-d & 7)
    return edit(p, depth=d + 1, bitmap=b64(((bits << 1) << (-(d + 1) & 7)).to_bytes((d + 8) >> 3, "big")))


A, P = "k/1", b"v1"  # a present key and its value
LIES: list[tuple[str, str, str, bytes | None, Spoil]] = [
    ("wrong value", "different value", A, b"v2", lambda p: p),
    ("absence of a present key", "is present", A, None, lambda p: p),
    ("presence of an absent key", "is absent", "nope", P, lambda p: p),
    ("presence, forged leaf", "root", "nope", P, lambda p: leaf(p, path=b64(key_path("nope")), value_hash=b64(sha(P)))),
    ("tampered first sibling", "root", A, P, lambda p: sibs(p, first=flip(p["siblings"][0]))),
    ("tampered last sibling", "root", A, P, lambda p: sibs(p, last=flip(p["siblings"][-1]))),
    ("tampered value hash", "different value", A, P, lambda p: leaf(p, value_hash=flip(p["leaf"]["value_hash"]))),
    ("leaf moved off the path", "not on the key's path", "nope", None, lambda p: leaf(p, path=b64(bytes(32)))),
    ("not an object", "exactly the fields", A, P, lambda p: [p]),
    ("missing field", "exactly the fields", A, P, lambda p: {k: v for k, v in p.items() if k != "bitmap"}),
    ("unknown field", "exactly the fields", A, P, lambda p: edit(p, root="x")),
    ("depth not an integer", "must be an integer", A, P, lambda p: edit(p, depth=str(p["depth"]))),
    ("depth is a boolean", "must be an integer", A, P, lambda p: edit(p, depth=True)),
    ("depth too large", "out of range", A, P, lambda p: edit(p, depth=257)),
    ("depth negative", "out of range", A, P, lambda p: edit(p, depth=-1)),
    ("truncated", "bitmap", A, P, lambda p: edit(p, depth=p["depth"] - 1)),
    ("well-formed truncation", "root", A, P, cut_last_level),
    ("bitmap too long", "bitmap", A, P, lambda p: bitmap(p, lambda b: b + b"\x00")),
    ("bitmap padding set", "bitmap", A, P, lambda p: bitmap(p, lambda b: b[:-1] + b"\xff")),
    ("sibling dropped", "number of siblings", A, P, lambda p: edit(p, siblings=p["siblings"][1:])),
    ("sibling added", "number of siblings", A, P, lambda p: sibs(p, extra=[p["siblings"][0]])),
    ("explicit empty sibling", "non-empty 32-byte", A, P, lambda p: sibs(p, first=b64(bytes(32)))),
    ("short sibling", "non-empty 32-byte", A, P, lambda p: sibs(p, first=b64(b"x"))),
    ("sibling not base64", "base64", A, P, lambda p: sibs(p, first="@@@@")),
    ("sibling not a string", "base64", A, P, lambda p: edit(p, siblings=[7, *p["siblings"][1:]])),
    ("siblings not a list", "must be an integer and siblings a list", A, P, lambda p: edit(p, siblings="abc")),
    ("leaf not an object", "leaf must be", A, P, lambda p: edit(p, leaf="x")),
    ("leaf with extra field", "leaf must be", A, P, lambda p: leaf(p, key=A)),
    ("leaf path too short", "32 bytes", A, P, lambda p: leaf(p, path=b64(b"short"))),
    ("uncompressed: extra empty level", "non-canonical", A, P, extra_empty_level),
    ("non-ASCII key", "not ASCII", "k/é", None, lambda p: p),
]


@pytest.mark.parametrize(("reason", "key", "value", "spoil"), [x[1:] for x in LIES], ids=[x[0] for x in LIES])
def test_lies_are_rejected(tree: StateMap, reason: str, key: str, value: bytes | None, spoil: Spoil) -> None:
    honest = tree.prove(key if key.isascii() else "k/1").to_json()
    verify_state_proof(tree.root, "k/1", b"v1", tree.prove("k/1"))  # the untouched proof is fine
    with pytest.raises(VerificationError, match=re.escape(reason)) as err:
        verify_state_proof(tree.root, key, value, spoil(honest))
    assert err.value.code == "PROOF_INVALID"


@pytest.mark.parametrize("key", ["k/1", "nope"])
def test_wrong_root_is_rejected(tree: StateMap, key: str) -> None:
    for root in (EMPTY_ROOT, sha(tree.root), fresh({**STATE, "k/1": b"other"})[0].root):
        with pytest.raises(VerificationError, match="root"):
            verify_state_proof(root, key, STATE.get(key), tree.prove(key))


def test_proof_json_round_trip(tree: StateMap) -> None:
    for key in ["k/3", "nope"]:
        proof = tree.prove(key)
        assert StateProof.from_json(proof.to_json()) == proof
        assert isinstance(proof.to_json()["bitmap"], str)


# The vectors printed in docs/PROTOCOL.md, section "State map".
DOC_ROOT = "7YyT4tlk9DgWcvPDEpIvxPfL7O52z3SQ3Diu5MbAmX0="
DOC_PROOFS = [
    ("unit/1", b"1", {
        "depth": 2, "bitmap": "wA==",
        "siblings": ["F2Uqn90RIR+Xz3Iwp83tQzghBU4XI1iY7XtpY0tKnkE=", "RaCfr0fpTiOycnkLlYoSTpnNuJ1Hd91k9Xc8p2CxYf4="],
        "leaf": {"path": "5e6ef2FaLneXoPZenZV3y/VMxkJi9NoU1Xl+IrxDJ9c=",
                 "value_hash": "a4ayc/80/OGda4BO/1o/V0etpOqiLx1JwB5S3beHW0s="}}),
    ("unit/9", None, {
        "depth": 1, "bitmap": "gA==", "siblings": ["KqAYGuK7H/eC9+74+1e3XW6NTk9lDke1OHq7PLzZLSI="],
        "leaf": {"path": "AWBt6lNV16C+uUczYN1WttQKasqFCh5LWZ9qdKDXOPg=",
                 "value_hash": "But9amnuGeX733SQGNPSq/oEvL0TZdsxLrhtxxaTibg="}}),
]  # fmt: skip


@pytest.mark.parametrize(("key", "value", "proof"), DOC_PROOFS, ids=[p[0] for p in DOC_PROOFS])
def test_documented_vectors(key: str, value: bytes | None, proof: dict[str, Any]) -> None:
    smap, _ = fresh(GOLDEN)
    assert b64(smap.root) == DOC_ROOT
    assert smap.prove(key).to_json() == proof
    verify_state_proof(base64.b64decode(DOC_ROOT), key, value, proof)


# --- a complete cache: the map's one writer, warmed with every stored tile -----------------------


class CountingStore(MemoryNodeStore):
    def __init__(self, nodes: dict[int, bytes]) -> None:
        super().__init__()
        self.nodes = dict(nodes)
        self.reads = 0

    def get(self, tile_id: int) -> bytes | None:
        self.reads += tile_id != ROOT_TILE  # the root reference is always read from the store
        return super().get(tile_id)


def _warmed(state: State, *, complete: bool, cache_size: int = 1 << 18) -> tuple[StateMap, CountingStore]:
    _, built = fresh(state)
    store = CountingStore(built.nodes)
    smap = StateMap(store, reference_root(state), cache_size=cache_size)
    smap.warm(store.nodes, complete=complete)
    store.reads = 0
    return smap, store


def test_a_complete_cache_reads_no_tile_from_the_store() -> None:
    rng = random.Random(7)
    state: State = {f"unit/{i}": b"v%d" % i for i in range(3_000)}
    for complete in (False, True):
        smap, store = _warmed(state, complete=complete)
        mine = dict(state)
        for _ in range(5):
            changes: dict[str, bytes | None] = {f"new/{rng.randrange(10**9)}": b"n" for _ in range(200)}
            changes.update({f"unit/{rng.randrange(3_000)}": None for _ in range(50)})
            root = apply(smap, store, changes)
            mine = merged(mine, changes)
            assert root == reference_root(mine)
        # new keys open new tiles: a cache that is not known complete asks the store about each
        assert (store.reads == 0) is complete, store.reads
        assert store.nodes == fresh(mine)[1].nodes


def test_eviction_ends_completeness() -> None:
    state: State = {f"k/{i}": b"x" for i in range(2_000)}
    smap, store = _warmed(state, complete=True, cache_size=64)  # the tiles do not fit
    assert not smap._nodes.complete
    smap, store = _warmed(state, complete=True)
    assert smap._nodes.complete
    smap._nodes.capacity = len(smap._nodes._d)  # full: the next new tile evicts
    mine = dict(state)
    for changes in ({f"more/{i}": b"y" for i in range(500)}, {"k/1": None, "k/2": b"z"}):
        root = apply(smap, store, changes)
        assert not smap._nodes.complete
        mine = merged(mine, changes)
        assert root == reference_root(mine)
    assert store.reads > 0  # evicted tiles came back from the store


def _flip_padding_bit(b64: str) -> str:
    """The same bytes with a non-zero padding bit: decodes alike, but is not the canonical text."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = b64.rstrip("=")[-1]
    return b64.rstrip("=")[:-1] + alphabet[alphabet.index(last) ^ 1] + "=" * (len(b64) - len(b64.rstrip("=")))


def test_non_canonical_base64_in_a_proof_is_refused() -> None:
    one = StateMap(MemoryNodeStore())
    root, _ = one.apply({"a": b"1", "b": b"2"})
    good = one.prove("a").to_json()
    verify_state_proof(root, "a", b"1", good)
    for field in ("siblings", "bitmap", "path"):
        bad = {**good, "siblings": list(good["siblings"]), "leaf": dict(good["leaf"])}
        if field == "siblings":
            bad["siblings"][0] = _flip_padding_bit(bad["siblings"][0])
        elif field == "bitmap":
            bad["bitmap"] = _flip_padding_bit(bad["bitmap"])
        else:
            bad["leaf"]["path"] = _flip_padding_bit(bad["leaf"]["path"])
        assert base64.b64decode(bad["siblings"][0]) == base64.b64decode(good["siblings"][0])
        with pytest.raises(VerificationError) as err:
            verify_state_proof(root, "a", b"1", bad)
        assert err.value.code == "PROOF_INVALID"


@pytest.mark.parametrize("key, value", [("a", "1"), ("a", 1), (b"a", b"1")])
def test_a_value_or_key_of_the_wrong_type_is_a_verification_error(key: Any, value: Any) -> None:
    one = StateMap(MemoryNodeStore())
    root, _ = one.apply({"a": b"1"})
    with pytest.raises(VerificationError) as err:
        verify_state_proof(root, key, value, one.prove("a").to_json())
    assert err.value.code == "PROOF_INVALID"
