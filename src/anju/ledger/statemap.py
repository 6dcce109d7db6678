"""The authenticated state map: a compressed binary sparse Merkle tree over SHA-256 paths.

Hashing (normative, see ``docs/PROTOCOL.md``, section "State map")::

    path(key)        = SHA-256(ASCII bytes of key)            256 bits, bit 0 = MSB of byte 0
    leaf(path, v)    = SHA-256(0x00 ‖ path ‖ SHA-256(v))
    node(l, r)       = SHA-256(0x01 ‖ l ‖ r)
    empty            = 32 zero bytes

The hash of the subtree at depth ``d`` holding the set ``S`` of leaves (all sharing the first ``d``
path bits) is ``empty`` if ``S`` is empty, ``leaf(...)`` of its only member if ``|S| = 1`` (a lone
leaf sits at the top of its subtree), else ``node(hash of S with bit d = 0, hash of S with bit d = 1)``
at depth ``d + 1``. The root is the hash at depth 0, so it depends only on the key/value set.

The tree maths does no I/O: :class:`StateMap` reads nodes through a :class:`NodeStore` and
:meth:`StateMap.apply` returns the :data:`NodeChanges` that the caller persists (in the block's
storage transaction). Stored nodes are the internal nodes of the current tree only, plus the root
reference under the fixed key ``b""``; each holds its two children's references (see
:func:`node_key` and :func:`_encode`). So a map is rebuilt from a store alone: ``StateMap(store, root)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from anju.errors import StorageCorrupt, VerificationError

__all__ = [
    "EMPTY_ROOT",
    "ROOT_KEY",
    "MemoryNodeStore",
    "NodeCache",
    "NodeChanges",
    "NodeStore",
    "StateMap",
    "StateProof",
    "key_path",
    "leaf_hash",
    "node_hash",
    "node_key",
    "verify_state_proof",
]

_sha256 = hashlib.sha256
EMPTY_ROOT = bytes(32)
"""The root (and the hash) of an empty tree or subtree."""
ROOT_KEY = b""
"""Node key of the root reference; fixed, so a map is found from its store alone."""

# A child reference: None = empty subtree, bytes = hash of a stored internal node,
# (path, value hash) = a leaf.
_Ref = bytes | tuple[bytes, bytes] | None
# A pending change: (path as int, path, value hash or None to delete), sorted by path.
_Change = tuple[int, bytes, bytes | None]

NodeChanges = dict[bytes, bytes | None]
"""Node key -> new encoded node, or None when the node must be deleted."""


class NodeStore(Protocol):
    """Read access to the stored nodes of the current tree version."""

    def get(self, node_key: bytes) -> bytes | None:
        """Return the bytes last written under ``node_key`` (via :data:`NodeChanges`), or None if absent/deleted."""
        ...


class MemoryNodeStore:
    """A dict-backed :class:`NodeStore`, for tests and benchmarks."""

    def __init__(self) -> None:
        self.nodes: dict[bytes, bytes] = {}

    def get(self, node_key: bytes) -> bytes | None:
        return self.nodes.get(node_key)

    def write(self, changes: NodeChanges) -> None:
        """Persist ``changes``: store each encoded node, delete each key mapped to None."""
        for k, v in changes.items():
            if v is None:
                self.nodes.pop(k, None)
            else:
                self.nodes[k] = v


_UNCACHED = object()


class NodeCache:
    """A bounded in-memory cache in front of a :class:`NodeStore`; caches absence too.

    Entries are evicted oldest-first-cached first, in chunks of 1/8 of the capacity. Neither a hit
    nor a rewrite reorders (reordering cost as much as the hit, and a tenth of the sealer's time
    for rewrites): a hot upper node evicted is read back from the store once and is young again.
    """

    def __init__(self, store: NodeStore, capacity: int = 1 << 18) -> None:
        self.store = store
        self.capacity = capacity
        self._d: dict[bytes, bytes | None] = {}

    def get(self, node_key: bytes) -> bytes | None:
        d = self._d
        if node_key in d:
            return d[node_key]
        v = self.store.get(node_key)
        if len(d) >= self.capacity:
            self._evict()
        d[node_key] = v
        return v

    def update(self, changes: NodeChanges, undo: dict[bytes, object] | None = None) -> None:
        """Make the cache reflect ``changes`` (which the caller persists to the store itself).

        With ``undo``, first record there what the cache held for each changed key (for
        :meth:`restore`)."""
        d = self._d
        if undo is not None:
            get = d.get
            for k in changes:
                undo[k] = get(k, _UNCACHED)
        d.update(changes)
        if len(d) > self.capacity:
            self._evict()

    def restore(self, undo: Mapping[bytes, object]) -> None:
        """Put back what :meth:`update` recorded in ``undo``: a key it had not cached is forgotten
        (read from the store again, which never held the undone changes)."""
        d = self._d
        for k, v in undo.items():
            if v is _UNCACHED:
                d.pop(k, None)
            else:
                d[k] = v  # type: ignore[assignment]

    def clear(self) -> None:
        self._d.clear()

    def _evict(self) -> None:
        d = self._d
        drop = max(len(d) - self.capacity, 0) + max(self.capacity // 8, 1)
        for k in list(d)[:drop]:  # dicts keep insertion order: the oldest come first
            del d[k]


def key_path(key: str) -> bytes:
    """The 256-bit path of ``key``: SHA-256 of its ASCII bytes (ValueError if not ASCII)."""
    try:
        return _sha256(key.encode("ascii")).digest()
    except UnicodeEncodeError:
        raise ValueError(f"state key is not ASCII: {key!r}") from None


def leaf_hash(path: bytes, value_hash: bytes) -> bytes:
    """``SHA-256(0x00 ‖ path ‖ value_hash)``, where ``value_hash = SHA-256(value)``."""
    return _sha256(b"\x00" + path + value_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 ‖ left ‖ right)``."""
    return _sha256(b"\x01" + left + right).digest()


TILE = 5
"""Levels per storage tile: a tile (one node at depth ``5t`` and its descendants down to depth
``5t + 4``, at most 31 nodes) is stored under one key prefix, so it fills at most a page or two."""
# node_key's parts per depth: tile byte, shift and byte length of the tile's path prefix, and the
# node's position inside its tile (breadth first: 1 << local depth, plus its local path bits).
_TILE_BYTE = tuple(bytes((d // TILE,)) for d in range(256))
_TILE_SHIFT = tuple(256 - d // TILE * TILE for d in range(256))
_TILE_LEN = tuple((d // TILE * TILE + 7) >> 3 for d in range(256))
_LOCAL_BASE = tuple(1 << (d % TILE) for d in range(256))
_LOCAL_MASK = tuple((1 << (d % TILE)) - 1 for d in range(256))


def node_key(depth: int, path: int) -> bytes:
    """Store key of the internal node at ``depth`` (0..255) on ``path`` (an int), tile by tile.

    ``t = depth // 5``: one byte ``t``, then the first ``5t`` path bits (right-aligned in
    ``ceil(5t / 8)`` bytes), then one byte ``(1 << l) | b`` where ``l = depth - 5t`` and ``b`` are
    the next ``l`` path bits. Every key update rewrites the nodes on its path; with this order they
    fall in one tile (one or two B-tree pages) per five levels, and the top tiles, which every
    block rewrites, sit together at the start of the store. (Keyed by full prefix instead, a block
    dirtied nearly every page of the table.)
    """
    return (
        _TILE_BYTE[depth]
        + (path >> _TILE_SHIFT[depth]).to_bytes(_TILE_LEN[depth], "big")
        + bytes((_LOCAL_BASE[depth] | (path >> (256 - depth)) & _LOCAL_MASK[depth],))
    )


def _hash(ref: _Ref) -> bytes:
    if ref is None:
        return EMPTY_ROOT
    if isinstance(ref, tuple):
        return _sha256(b"\x00" + ref[0] + ref[1]).digest()
    return ref


def _encode(ref: _Ref) -> bytes:
    """A reference as stored: 0x00 (empty) | 0x01 ‖ path ‖ value hash (leaf) | 0x02 ‖ hash (internal)."""
    if ref is None:
        return b"\x00"
    if isinstance(ref, tuple):
        return b"\x01" + ref[0] + ref[1]
    return b"\x02" + ref


def _decode(rec: bytes, i: int) -> tuple[_Ref, int]:
    """Decode the reference at offset ``i``; return it and the offset after it."""
    tag = rec[i] if i < len(rec) else -1
    if tag == 2 and len(rec) >= i + 33:
        return rec[i + 1 : i + 33], i + 33
    if tag == 1 and len(rec) >= i + 65:
        return (rec[i + 1 : i + 33], rec[i + 33 : i + 65]), i + 65
    if tag == 0:
        return None, i + 1
    raise StorageCorrupt("STORE_CORRUPT", "malformed state-map node", node=rec.hex(), offset=i)


def _children(rec: bytes) -> tuple[_Ref, _Ref]:
    """Decode an internal node record: left reference ‖ right reference, nothing after (hot path: inlined)."""
    n = len(rec)
    t = rec[0] if n else -1
    left: _Ref
    right: _Ref
    if t == 2:
        left, i = rec[1:33], 33
    elif t == 1:
        left, i = (rec[1:33], rec[33:65]), 65
    elif t == 0:
        left, i = None, 1
    else:
        i = n
    t = rec[i] if i < n else -1
    if t == 2 and n == i + 33:
        right = rec[i + 1 :]
    elif t == 1 and n == i + 65:
        right = (rec[i + 1 : i + 33], rec[i + 33 :])
    elif t == 0 and n == i + 1:
        right = None
    else:
        raise StorageCorrupt("STORE_CORRUPT", "malformed state-map node", node=rec.hex())
    return left, right


class StateMap:
    """The current version of the state tree, read through a :class:`NodeStore`; single writer.

    After :meth:`apply`, the caller MUST persist the returned changes to ``store`` before the next
    :meth:`apply` or :meth:`prove` (the internal cache may forget them). If they are not persisted
    (block aborted), call :meth:`reset` with the last persisted root.
    """

    def __init__(self, store: NodeStore, root: bytes | None = None, cache_size: int = 1 << 18) -> None:
        """Open the tree in ``store``; if ``root`` is given, check that the store holds that root."""
        self._nodes = NodeCache(store, cache_size)
        self._root: _Ref = None
        self._undo: tuple[_Ref, dict[bytes, object]] | None = None
        self.reset(root)

    @property
    def root(self) -> bytes:
        """The current root hash (32 zero bytes when empty)."""
        return _hash(self._root)

    def reset(self, root: bytes | None = None) -> None:
        """Drop the cache and reload the root reference from the store (StorageCorrupt if not ``root``)."""
        self._nodes.clear()
        self._undo = None
        rec = self._nodes.get(ROOT_KEY)
        ref, end = _decode(rec, 0) if rec is not None else (None, 0)
        if rec is not None and end != len(rec):
            raise StorageCorrupt("STORE_CORRUPT", "malformed state-map root record", node=rec.hex())
        if root is not None and _hash(ref) != root:
            raise StorageCorrupt("STORE_CORRUPT", "state-map store does not hold the expected root",
                                 expected=root.hex(), found=_hash(ref).hex())  # fmt: skip
        self._root = ref

    def apply(self, changes: Mapping[str, bytes | None], *, undoable: bool = False) -> tuple[bytes, NodeChanges]:
        """Set each key to its value (None deletes; deleting an absent key is a no-op) in one batch.

        Returns the new root and the node writes/deletes the caller must persist. Every touched node
        is read once and hashed once, so the cost is O(k log n) for k changes. With ``undoable``,
        :meth:`undo` can take this batch back as long as its changes have not been persisted.
        """
        out: NodeChanges = {}
        self._undo = None
        if not changes:
            if undoable:
                self._undo = (self._root, {})
            return self.root, out
        batch: list[_Change] = []
        for key, value in changes.items():
            path = key_path(key)
            batch.append((int.from_bytes(path, "big"), path, None if value is None else _sha256(value).digest()))
        batch.sort()
        before = self._root
        self._root = self._update(self._root, 0, batch, [c[0] for c in batch], 0, len(batch), out)
        out[ROOT_KEY] = None if self._root is None else _encode(self._root)
        if undoable:
            cached: dict[bytes, object] = {}
            self._nodes.update(out, cached)
            self._undo = (before, cached)
        else:
            self._nodes.update(out)
        return self.root, out

    def undo(self) -> None:
        """Take back the last :meth:`apply` (made ``undoable``), whose changes were never persisted:
        the root and the cache are as before it (a consortium member drops the block it executed
        for a proposal that was not decided, without reading the tree again)."""
        if self._undo is None:
            raise RuntimeError("nothing to undo: the last apply was not undoable")
        before, cached = self._undo
        self._undo = None
        self._nodes.restore(cached)
        self._root = before

    def rebind(self, store: NodeStore) -> None:
        """Read stored nodes through ``store`` from now on: the same tree seen through another
        connection (a child process must not use its parent's); the cache is kept."""
        self._nodes.store = store

    def warm(self, nodes: Mapping[bytes, bytes]) -> None:
        """Load stored nodes into the cache (a starting node reads its hot tree once, not node by node)."""
        self._nodes.update(dict(nodes))

    def prove(self, key: str) -> StateProof:
        """A proof that ``key`` holds its current value, or that it is absent."""
        path = key_path(key)
        p = int.from_bytes(path, "big")
        ref, depth, bits, sibs = self._root, 0, 0, []
        while type(ref) is bytes:
            left, right = _children(self._load(node_key(depth, p)))
            ref, sib = (right, left) if (p >> (255 - depth)) & 1 else (left, right)
            bits <<= 1
            if sib is not None:
                bits |= 1
                sibs.append(_hash(sib))
            depth += 1
        bitmap = (bits << (-depth & 7)).to_bytes((depth + 7) >> 3, "big")
        return StateProof(depth, bitmap, tuple(sibs), ref if type(ref) is tuple else None)

    def _load(self, key: bytes) -> bytes:
        rec = self._nodes.get(key)
        if rec is None:
            raise StorageCorrupt("STORE_CORRUPT", "state-map node missing", node_key=key.hex())
        return rec

    def _update(self, ref: _Ref, d: int, ch: list[_Change], ps: list[int], lo: int, hi: int, out: NodeChanges) -> _Ref:
        """Apply ``ch[lo:hi]`` (all under the subtree ``ref`` at depth ``d``) and return the new reference."""
        if hi - lo == 1:
            return self._update_one(ref, d, ch[lo], out)
        if type(ref) is not bytes:  # empty or a lone leaf: rebuild this subtree from its new leaf set
            items = [c for c in ch[lo:hi] if c[2] is not None]
            if type(ref) is tuple:
                lp = int.from_bytes(ref[0], "big")
                i = bisect_left(ps, lp, lo, hi)
                if i == hi or ps[i] != lp:  # the old leaf survives unless the batch overrides it
                    items.append((lp, ref[0], ref[1]))
                    items.sort()
            return self._build(d, items, [c[0] for c in items], 0, len(items), out)
        p = ps[lo]
        key = node_key(d, p)
        left, right = _children(self._load(key))
        shift = 255 - d
        mid = bisect_left(ps, ((p >> shift) | 1) << shift, lo, hi)
        if mid > lo:
            left = self._update(left, d + 1, ch, ps, lo, mid, out)
        if mid < hi:
            right = self._update(right, d + 1, ch, ps, mid, hi, out)
        return _join(key, left, right, out)

    def _update_one(self, ref: _Ref, d: int, c: _Change, out: NodeChanges) -> _Ref:
        """:meth:`_update` for a single change, iteratively: down to where its path ends, then back up."""
        p, path, vh = c
        down: list[tuple[bytes, _Ref, int]] = []  # (node key, sibling, direction bit) per internal node
        get = self._nodes.get
        tb, ts, tl, lb, lm = _TILE_BYTE, _TILE_SHIFT, _TILE_LEN, _LOCAL_BASE, _LOCAL_MASK
        while type(ref) is bytes:
            key = tb[d] + (p >> ts[d]).to_bytes(tl[d], "big") + bytes((lb[d] | (p >> (256 - d)) & lm[d],))  # node_key
            rec = get(key)
            if rec is None:
                rec = self._load(key)  # raises
            left, right = _children(rec)
            if (p >> (255 - d)) & 1:
                down.append((key, left, 1))
                ref = right
            else:
                down.append((key, right, 0))
                ref = left
            d += 1
        new: _Ref
        if type(ref) is not tuple or ref[0] == path:
            new = None if vh is None else (path, vh)
        elif vh is None:
            new = ref  # deleting an absent key
        else:
            items = sorted([(int.from_bytes(ref[0], "big"), ref[0], ref[1]), c])
            new = self._build(d, items, [x[0] for x in items], 0, 2, out)
        for key, sib, bit in reversed(down):
            new = _join(key, new, sib, out) if bit == 0 else _join(key, sib, new, out)
        return new

    def _build(self, d: int, items: list[_Change], ps: list[int], lo: int, hi: int, out: NodeChanges) -> _Ref:
        """The subtree at depth ``d`` holding exactly the leaves ``items[lo:hi]`` (none deleted)."""
        if hi - lo < 2:
            if hi == lo:
                return None
            _, path, vh = items[lo]
            assert vh is not None
            return path, vh
        p = ps[lo]
        shift = 255 - d
        mid = bisect_left(ps, ((p >> shift) | 1) << shift, lo, hi)
        left = self._build(d + 1, items, ps, lo, mid, out)
        right = self._build(d + 1, items, ps, mid, hi, out)
        return _join(node_key(d, p), left, right, out)


def _join(key: bytes, left: _Ref, right: _Ref, out: NodeChanges) -> _Ref:
    """The reference to the subtree with children ``left`` and ``right``, stored at ``key`` if internal.

    A subtree holding at most one leaf is that leaf (or empty): its node is deleted and the leaf moves up.
    (This is :func:`_encode` and :func:`_hash` inlined: it runs once per touched node.)
    """
    if (left is None and type(right) is not bytes) or (right is None and type(left) is not bytes):
        out[key] = None
        return right if left is None else left
    if type(left) is bytes:
        el, hl = b"\x02" + left, left
    elif type(left) is tuple:
        el = b"\x01" + left[0] + left[1]
        hl = _sha256(b"\x00" + el[1:]).digest()
    else:
        el, hl = b"\x00", EMPTY_ROOT
    if type(right) is bytes:
        er, hr = b"\x02" + right, right
    elif type(right) is tuple:
        er = b"\x01" + right[0] + right[1]
        hr = _sha256(b"\x00" + er[1:]).digest()
    else:
        er, hr = b"\x00", EMPTY_ROOT
    out[key] = el + er
    return _sha256(b"\x01" + hl + hr).digest()


@dataclass(frozen=True, slots=True)
class StateProof:
    """Where the search for a key's path ends, and the non-empty siblings on the way.

    ``depth``: depth of the terminal (0 = the root). ``bitmap``: ``ceil(depth/8)`` bytes; bit ``i``
    (MSB first) is 1 iff the sibling at depth ``i + 1`` is non-empty; padding bits are 0.
    ``siblings``: the non-empty sibling hashes, root side first. ``leaf``: ``(path, value_hash)`` of
    the leaf at the terminal, or None when the terminal is an empty subtree.
    """

    depth: int
    bitmap: bytes
    siblings: tuple[bytes, ...]
    leaf: tuple[bytes, bytes] | None

    def to_json(self) -> dict[str, Any]:
        """``{"depth", "bitmap", "siblings", "leaf": {"path", "value_hash"} | null}``, bytes in base64."""
        b64 = _b64
        leaf = None if self.leaf is None else {"path": b64(self.leaf[0]), "value_hash": b64(self.leaf[1])}
        return {"depth": self.depth, "bitmap": b64(self.bitmap), "siblings": [b64(s) for s in self.siblings],
                "leaf": leaf}  # fmt: skip

    @classmethod
    def from_json(cls, obj: Any) -> StateProof:
        """Parse :meth:`to_json`'s shape strictly; anything else raises VerificationError(PROOF_INVALID)."""
        try:
            if not isinstance(obj, Mapping) or set(obj) != {"depth", "bitmap", "siblings", "leaf"}:
                raise ValueError("expected exactly the fields depth, bitmap, siblings, leaf")
            depth, leaf, sibs = obj["depth"], obj["leaf"], obj["siblings"]
            if type(depth) is not int or not isinstance(sibs, list):
                raise ValueError("depth must be an integer and siblings a list")
            if leaf is not None and (not isinstance(leaf, Mapping) or set(leaf) != {"path", "value_hash"}):
                raise ValueError("leaf must be null or exactly {path, value_hash}")
            proof = cls(depth, _unb64(obj["bitmap"]), tuple(_unb64(s) for s in sibs),
                        None if leaf is None else (_unb64(leaf["path"]), _unb64(leaf["value_hash"])))  # fmt: skip
        except (ValueError, TypeError) as e:
            raise VerificationError("PROOF_INVALID", f"malformed state proof: {e}", proof=obj) from None
        proof.check_shape()
        return proof

    def check_shape(self) -> None:
        """Raise VerificationError(PROOF_INVALID) unless the proof is well-formed and canonical."""
        d, n = self.depth, len(self.bitmap)
        problem = ""
        if type(d) is not int or not 0 <= d <= 256:
            problem = "depth out of range 0..256"
        elif n != (d + 7) >> 3 or int.from_bytes(self.bitmap, "big") & ((1 << (-d & 7)) - 1):
            problem = "bitmap length or padding is wrong"
        elif len(self.siblings) != int.from_bytes(self.bitmap, "big").bit_count():
            problem = "number of siblings does not match the bitmap"
        elif any(len(s) != 32 or s == EMPTY_ROOT for s in self.siblings):
            problem = "a sibling is not a non-empty 32-byte hash"
        elif self.leaf is not None and (len(self.leaf) != 2 or any(len(h) != 32 for h in self.leaf)):
            problem = "leaf path and value_hash must be 32 bytes"
        elif d > 0 and not (self.bitmap[(d - 1) >> 3] >> (-d & 7)) & 1:
            problem = "the terminal's sibling is empty (a non-canonical, uncompressed position)"
        if problem:
            raise VerificationError("PROOF_INVALID", f"malformed state proof: {problem}", depth=d)


def verify_state_proof(root: bytes, key: str, value: bytes | None, proof: StateProof | Mapping[str, Any]) -> None:
    """Check that, under ``root``, ``key`` holds ``value`` (None: is absent); raise VerificationError if not.

    ``proof`` is a :class:`StateProof` or its JSON object.
    """
    pf = proof if isinstance(proof, StateProof) else StateProof.from_json(proof)
    pf.check_shape()
    try:
        path = key_path(key)
    except ValueError as e:
        raise VerificationError("PROOF_INVALID", str(e), key=key) from None
    d, leaf = pf.depth, pf.leaf
    p = int.from_bytes(path, "big")
    if leaf is not None and d and int.from_bytes(leaf[0], "big") >> (256 - d) != p >> (256 - d):
        _fail("the proof's leaf is not on the key's path", key, root)
    if value is not None:
        if leaf is None or leaf[0] != path:
            _fail("the key is absent according to the proof", key, root)
        elif leaf[1] != _sha256(value).digest():
            _fail("the proof commits to a different value", key, root)
    elif leaf is not None and leaf[0] == path:
        _fail("the key is present according to the proof", key, root)
    h = EMPTY_ROOT if leaf is None else leaf_hash(*leaf)
    bits = int.from_bytes(pf.bitmap, "big") >> (-d & 7)
    j = len(pf.siblings)
    for depth in range(d - 1, -1, -1):
        if bits & 1:
            j -= 1
            s = pf.siblings[j]
        else:
            s = EMPTY_ROOT
        bits >>= 1
        h = _sha256(b"\x01" + s + h if (p >> (255 - depth)) & 1 else b"\x01" + h + s).digest()
    if h != root:
        _fail("the proof does not lead to the root", key, root, computed=h.hex())


def _fail(msg: str, key: str, root: bytes, **evidence: str) -> None:
    raise VerificationError("PROOF_INVALID", f"state proof for {key!r}: {msg}", key=key, root=root.hex(), **evidence)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: Any) -> bytes:
    if not isinstance(s, str):
        raise TypeError("expected a base64 string")
    try:
        return base64.b64decode(s, validate=True)
    except binascii.Error as e:
        raise ValueError(f"bad base64: {e}") from None
