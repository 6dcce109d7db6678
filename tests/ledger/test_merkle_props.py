"""Hypothesis properties of the RFC 9162 §2.1 tree: proofs from stored nodes verify, tampering fails,
and every proof, root and frontier costs O(log n) node reads of complete subtrees only."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anju.errors import VerificationError
from anju.ledger import merkle

MAX = 3000
LEAVES = [merkle.leaf_hash(b"leaf-%d" % i) for i in range(MAX)]
NODES: dict[tuple[int, int], bytes] = {}
ROOTS: list[bytes] = [merkle.EMPTY_ROOT]
_fr = merkle.Frontier()
for _lh in LEAVES:
    NODES.update({(lv, ix): h for lv, ix, h in _fr.append(_lh)})
    ROOTS.append(_fr.root())

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, straight from the definition (the reference for small trees)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH, from the definition."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], known: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF, from the definition."""
    if m == len(leaves):
        return [] if known else [_mth(leaves)]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], known), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


class Reads:
    """A get_node that counts reads and insists on complete subtrees of a tree of ``size``."""

    def __init__(self, size: int) -> None:
        self.size, self.count = size, 0

    def __call__(self, level: int, index: int) -> bytes:
        assert (index + 1) << level <= self.size, f"read of incomplete node ({level}, {index})"
        self.count += 1
        return NODES[(level, index)]


def _log2(n: int) -> int:
    return max(1, (n - 1).bit_length())


def _tampered(proof: list[bytes], pos: int, bit: int) -> list[bytes]:
    out = list(proof)
    h = bytearray(out[pos])
    h[bit // 8] ^= 1 << (bit % 8)
    out[pos] = bytes(h)
    return out


@st.composite
def size_and_index(draw: st.DrawFn, lo: int = 1) -> tuple[int, int]:
    size = draw(st.integers(lo, MAX))
    return size, draw(st.integers(0, size - 1))


@SETTINGS
@given(size_and_index())
def test_inclusion_proof_verifies_and_reads_log_n(si: tuple[int, int]) -> None:
    size, index = si
    reads = Reads(size)
    proof = merkle.inclusion_proof(index, size, reads)
    assert reads.count <= 2 * _log2(size)
    merkle.verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])
    assert merkle.root_from_inclusion(LEAVES[index], index, size, proof) == ROOTS[size]


@SETTINGS
@given(size_and_index())
def test_inclusion_nodes_are_exactly_what_the_proof_reads(si: tuple[int, int]) -> None:
    """A reader that fetches ``inclusion_nodes`` first finds every node the proof then reads."""
    size, index = si
    read: list[tuple[int, int]] = []

    def record(level: int, idx: int) -> bytes:
        read.append((level, idx))
        return NODES[(level, idx)]

    merkle.inclusion_proof(index, size, record)
    assert merkle.inclusion_nodes(index, size) == read


@SETTINGS
@given(st.integers(1, MAX), st.integers(1, MAX))
def test_consistency_proof_verifies_and_reads_log_n(a: int, b: int) -> None:
    size1, size2 = min(a, b), max(a, b)
    reads = Reads(size2)
    proof = merkle.consistency_proof(size1, size2, reads)
    assert reads.count <= 2 * _log2(size2) + 1
    merkle.verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])


@SETTINGS
@given(st.integers(0, MAX))
def test_root_and_frontier_load_read_popcount(size: int) -> None:
    reads = Reads(size)
    assert merkle.root_at(size, reads) == ROOTS[size]
    assert reads.count == size.bit_count()
    reads = Reads(size)
    fr = merkle.Frontier.load(size, reads)
    assert reads.count == size.bit_count() and fr.size == size and fr.root() == ROOTS[size]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1), st.integers(1, n))))
def test_proofs_equal_the_rfc_definitions(case: tuple[int, int, int]) -> None:
    size, index, size1 = case
    leaves = LEAVES[:size]
    get = Reads(size)
    assert merkle.root_at(size, get) == _mth(leaves)
    assert merkle.inclusion_proof(index, size, get) == _path(index, leaves)
    assert merkle.consistency_proof(size1, size, get) == (_subproof(size1, leaves, True) if size1 < size else [])


@SETTINGS
@given(size_and_index(lo=2), st.data())
def test_tampered_inclusion_fails(si: tuple[int, int], data: st.DataObject) -> None:
    size, index = si
    proof = merkle.inclusion_proof(index, size, Reads(size))
    root = ROOTS[size]
    change = data.draw(st.sampled_from(["bit", "index", "size", "drop", "extra", "leaf", "root"]))
    leaf, i, n, p, r = LEAVES[index], index, size, proof, root
    if change == "bit":
        p = _tampered(proof, data.draw(st.integers(0, len(proof) - 1)), data.draw(st.integers(0, 255)))
    elif change == "index":
        i = data.draw(st.integers(0, size - 1).filter(lambda x: x != index))
    elif change == "size":
        # A proof does not bind the size by itself (only a checkpoint's (size, root) pair does):
        # present it against another size *with that size's root*.
        n = data.draw(st.integers(index + 1, MAX).filter(lambda x: x != size))
        r = ROOTS[n]
    elif change == "drop":
        p = proof[:-1]
    elif change == "extra":
        p = [*proof, root]
    elif change == "leaf":
        leaf = LEAVES[(index + 1) % size]
    else:
        r = ROOTS[size - 1]
    with pytest.raises(VerificationError) as err:
        merkle.verify_inclusion(leaf, i, n, p, r)
    assert err.value.code == "PROOF_INVALID"


@SETTINGS
@given(st.integers(1, MAX - 1), st.integers(1, MAX), st.data())
def test_tampered_consistency_fails(a: int, b: int, data: st.DataObject) -> None:
    size1, size2 = min(a, b), max(a, b)
    if size1 == size2:
        size2 += 1
    proof = merkle.consistency_proof(size1, size2, Reads(size2))
    change = data.draw(st.sampled_from(["bit", "size1", "size2", "drop", "extra", "root1", "root2"]))
    s1, s2, p, r1, r2 = size1, size2, proof, ROOTS[size1], ROOTS[size2]
    if change == "bit":
        p = _tampered(proof, data.draw(st.integers(0, len(proof) - 1)), data.draw(st.integers(0, 255)))
    elif change == "size1":
        s1 = data.draw(st.integers(1, size2).filter(lambda x: x != size1))
        r1 = ROOTS[s1]
    elif change == "size2":
        s2 = data.draw(st.integers(size1, MAX).filter(lambda x: x != size2))
        r2 = ROOTS[s2]
    elif change == "drop":
        p = proof[:-1]
    elif change == "extra":
        p = [*proof, r2]
    elif change == "root1":
        r1 = ROOTS[size1 - 1]
    else:
        r2 = ROOTS[size2 - 1]
    with pytest.raises(VerificationError):
        merkle.verify_consistency(s1, s2, p, r1, r2)


def test_frontier_append_reports_exactly_the_completed_nodes() -> None:
    fr = merkle.Frontier()
    seen: dict[tuple[int, int], bytes] = {}
    for i, lh in enumerate(LEAVES[:1024]):
        done = fr.append(lh)
        assert done[0] == (0, i, lh) and len(done) == 1 + ((i + 1) & -(i + 1)).bit_length() - 1
        for level, index, h in done:
            assert (level, index) not in seen and NODES[(level, index)] == h
            seen[(level, index)] = h
    assert len(seen) == 2 * 1024 - 1
    assert merkle.Frontier(fr.size, fr.hashes).root() == ROOTS[1024]


@pytest.mark.parametrize(
    "bad",
    [
        lambda: merkle.verify_inclusion(LEAVES[0][:31], 0, 1, [], LEAVES[0][:31]),
        lambda: merkle.verify_inclusion(LEAVES[0], 0, 2, [LEAVES[1] + b"\0"], ROOTS[2]),
        lambda: merkle.verify_inclusion(LEAVES[0], -1, 2, [LEAVES[1]], ROOTS[2]),
        lambda: merkle.verify_consistency(1, 2, [LEAVES[1]], ROOTS[1], ROOTS[2][:16]),
    ],
    ids=["short-leaf-and-root", "long-proof-element", "negative-index", "short-root2"],
)
def test_insists_on_32_byte_hashes_and_sane_numbers(bad: Callable[[], None]) -> None:
    with pytest.raises(VerificationError) as err:
        bad()
    assert err.value.code == "PROOF_INVALID"
