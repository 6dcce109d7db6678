"""The transaction log's Merkle tree, exactly as RFC 9162 §2.1 defines it. Pure: no I/O.

- §2.1.1 hashing: ``leaf_hash(d) = SHA-256(0x00 ‖ d)``, ``node_hash(l, r) = SHA-256(0x01 ‖ l ‖ r)``,
  the empty tree's root is ``SHA-256("")``; a tree of n > 1 leaves splits at k, the largest power
  of two smaller than n.
- §2.1.3.1 / §2.1.4.1 proof generation (PATH and PROOF), §2.1.3.2 / §2.1.4.2 verification.

Storage convention: node ``(level, index)`` is the root of the perfect subtree over the leaves
``[index·2^level, (index+1)·2^level)``; level 0 holds the leaf hashes. Only complete subtrees are
stored; any other hash the RFC needs (the incomplete subtrees on the right edge) is folded from
at most log2(n) stored nodes, so every proof and root costs O(log n) reads of ``get_node``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence

from anju.errors import VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

GetNode = Callable[[int, int], bytes]
"""``get_node(level, index)``: the stored hash of a complete subtree (see the module docstring)."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x00 ‖ data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x01 ‖ left ‖ right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_nodes(lo: int, hi: int) -> list[tuple[int, int]]:
    """The stored nodes (level, index) whose hashes make MTH of leaves [lo, hi), where [lo, hi) is
    a subtree of the RFC tree (lo aligned, hi = its end): a run of perfect subtrees, largest first."""
    nodes: list[tuple[int, int]] = []
    pos = lo
    for level in range((hi - lo).bit_length() - 1, -1, -1):
        if (hi - lo) >> level & 1:
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def _range_hash(lo: int, hi: int, get_node: GetNode) -> bytes:
    """MTH of leaves [lo, hi) (see :func:`_range_nodes`): the perfect subtrees folded from the right."""
    parts = [get_node(level, idx) for level, idx in _range_nodes(lo, hi)]
    h = parts.pop()
    while parts:
        h = node_hash(parts.pop(), h)
    return h


def _check_size(name: str, value: int) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


class Frontier:
    """The compact range of the log's right edge: one hash per set bit of ``size``, largest first.

    Appending a leaf returns every node that became complete, which is what the store persists.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        _check_size("size", size)
        if len(hashes) != size.bit_count() or any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError(f"a frontier of size {size} holds {size.bit_count()} hashes of {HASH_SIZE} bytes")
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def load(cls, size: int, get_node: GetNode) -> Frontier:
        """Rebuild the frontier of a tree of ``size`` leaves from popcount(size) stored nodes."""
        _check_size("size", size)
        hashes: list[bytes] = []
        pos = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                hashes.append(get_node(level, pos >> level))
                pos += 1 << level
        return cls(size, hashes)

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return (level, index, hash) of every node completed, the leaf first."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")
        i = self._size
        done = [(0, i, leaf)]
        h, level = leaf, 0
        while i >> level & 1:  # the node at this level is a right child: merge with its left sibling
            h = node_hash(self._hashes.pop(), h)
            level += 1
            done.append((level, i >> level, h))
        self._hashes.append(h)
        self._size = i + 1
        return done

    def root(self) -> bytes:
        """RFC 9162 §2.1.1 MTH of the whole tree."""
        if not self._hashes:
            return EMPTY_ROOT
        h = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            h = node_hash(left, h)
        return h


def root_at(size: int, get_node: GetNode) -> bytes:
    """MTH of the first ``size`` leaves, from popcount(size) stored nodes."""
    _check_size("size", size)
    return EMPTY_ROOT if size == 0 else _range_hash(0, size, get_node)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [lo, hi) whose MTHs make PATH(index, D[0:size]), leaf to root order."""
    _check_size("size", size)
    if type(index) is not int or not 0 <= index < size:
        raise ValueError(f"leaf index {index!r} is not below the tree size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def inclusion_nodes(index: int, size: int) -> list[tuple[int, int]]:
    """Every stored node (level, index) :func:`inclusion_proof` reads: a reader can fetch them at once."""
    return [node for lo, hi in _inclusion_ranges(index, size) for node in _range_nodes(lo, hi)]


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf to root order."""
    return [_range_hash(lo, hi, get_node) for lo, hi in _inclusion_ranges(index, size)]


def consistency_proof(size1: int, size2: int, get_node: GetNode) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(size1, D[0:size2]); empty when size1 == size2.

    RFC 9162 defines the proof for 0 < size1 < size2 only; size1 == 0 < size2 is refused, since
    every tree extends the empty one (whose root is ``EMPTY_ROOT``) and there is nothing to prove.
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2 or (size1 == 0 and size2 > 0):
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    proof: list[bytes] = []
    lo, hi, m, known = 0, size2, size1, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_range_hash(lo + k, hi, get_node))
            hi = lo + k
        else:
            proof.append(_range_hash(lo, lo + k, get_node))
            lo, m, known = lo + k, m - k, False
    if not known:
        proof.append(_range_hash(lo, hi, get_node))
    proof.reverse()
    return proof


# --- offline verification -----------------------------------------------------------------------


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def _fail(message: str, **evidence: object) -> VerificationError:
    return VerificationError("PROOF_INVALID", message, **evidence)


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            size = len(h) if isinstance(h, bytes) else None
            raise _fail(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash", item=what, position=i, length=size)


def _check_int(name: str, value: int) -> None:
    if type(value) is not int or value < 0:
        raise _fail(f"{name} is not a non-negative integer", **{name: repr(value)})


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-5 without the final root comparison: the root the proof implies."""
    _check_hashes("leaf hash", [leaf])
    _check_hashes("proof element", proof)
    _check_int("index", index)
    _check_int("size", size)
    if index >= size:
        raise _fail("leaf index is not below the tree size", index=index, size=size)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise _fail("inclusion proof is too long", index=index, size=size, proof_length=len(proof))
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise _fail("inclusion proof is too short", index=index, size=size, proof_length=len(proof))
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2: prove the leaf hash sits at ``index`` in the tree (size, root)."""
    _check_hashes("root", [root])
    computed = root_from_inclusion(leaf, index, size, proof)
    if computed != root:
        raise _fail(
            "inclusion proof does not lead to the root",
            index=index,
            size=size,
            expected_root=_b64(root),
            computed_root=_b64(computed),
        )


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """RFC 9162 §2.1.4.2: prove the tree (size2, root2) extends the tree (size1, root1).

    Beyond the RFC's 0 < size1 < size2: equal sizes need an empty proof and equal roots;
    size1 == 0 < size2 is refused (see :func:`consistency_proof`).
    """
    _check_hashes("root1", [root1])
    _check_hashes("root2", [root2])
    _check_hashes("proof element", proof)
    _check_int("size1", size1)
    _check_int("size2", size2)
    ev: dict[str, object] = {"size1": size1, "size2": size2, "proof_length": len(proof)}
    if size1 > size2:
        raise _fail("size1 is greater than size2", **ev)
    if size1 == size2:
        if proof:
            raise _fail("equal sizes need an empty proof", **ev)
        if root1 != root2 or (size1 == 0 and root1 != EMPTY_ROOT):
            raise _fail("equal sizes but different roots", root1=_b64(root1), root2=_b64(root2), **ev)
        return
    if size1 == 0:
        raise _fail("no consistency proof from the empty tree (RFC 9162: 0 < first)", **ev)
    if not proof:  # step 1
        raise _fail("empty consistency proof", **ev)
    path = list(proof)
    if (size1 & (size1 - 1)) == 0:  # step 2
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise _fail("consistency proof is too long", **ev)
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise _fail("consistency proof is too short", **ev)
    if fr != root1:
        raise _fail("consistency proof does not lead to root1", expected=_b64(root1), computed=_b64(fr), **ev)
    if sr != root2:
        raise _fail("consistency proof does not lead to root2", expected=_b64(root2), computed=_b64(sr), **ev)
