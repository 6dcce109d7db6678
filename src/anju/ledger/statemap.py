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

The tree maths does no I/O: :class:`StateMap` reads tiles through a :class:`NodeStore` and
:meth:`StateMap.apply` returns the :data:`NodeChanges` that the caller persists (in the block's
storage transaction). Stored are the internal nodes of the current tree only, each holding its two
children's references (:func:`_encode`), grouped five levels to a **tile** (:func:`node_place`):
one stored record per tile, plus the root reference under the fixed tile id
:data:`ROOT_TILE` (0). So a map is rebuilt from a store alone: ``StateMap(store, root)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from anju.errors import StorageCorrupt, VerificationError

__all__ = [
    "EMPTY_ROOT",
    "ROOT_TILE",
    "TILE",
    "MemoryNodeStore",
    "NodeCache",
    "NodeChanges",
    "NodeReader",
    "NodeStore",
    "StateMap",
    "StateProof",
    "key_path",
    "leaf_hash",
    "node_hash",
    "node_place",
    "tile_ids",
    "verify_state_proof",
]

_sha256 = hashlib.sha256
EMPTY_ROOT = bytes(32)
"""The root (and the hash) of an empty tree or subtree."""
ROOT_TILE = 0
"""Tile id of the root reference's record; fixed, so a map is found from its store alone."""

# A child reference: None = empty subtree, bytes = hash of a stored internal node,
# (path, value hash) = a leaf.
_Ref = bytes | tuple[bytes, bytes] | None
# A pending change: (path as int, path, value hash or None to delete), sorted by path.
_Change = tuple[int, bytes, bytes | None]

Tile = list[bytes]
"""A decoded tile: 32 slots, slot ``i`` (1..31) holds the node at that place (its place byte, then
its two references, exactly as stored) or b"" if there is none; slot 0 is always b"". So the
record is ``b"".join(tile)``."""

_Work = dict[int, Tile]  # the working copies of the tiles a batch rewrites

NodeChanges = dict[int, bytes | None]
"""Tile id -> the tile's new record, or None when the tile (all its nodes) must be deleted."""


class NodeStore(Protocol):
    """Read access to the stored tiles of the current tree version."""

    def get(self, tile_id: int) -> bytes | None:
        """Return the record last written under ``tile_id`` (via :data:`NodeChanges`), or None if absent/deleted."""
        ...


class NodeReader:
    """A :class:`NodeStore` over a function that reads a tile's record (a store's, a snapshot's)."""

    __slots__ = ("get",)

    def __init__(self, get: Callable[[int], bytes | None]) -> None:
        self.get = get


class MemoryNodeStore:
    """A dict-backed :class:`NodeStore`, for tests and benchmarks."""

    def __init__(self) -> None:
        self.nodes: dict[int, bytes] = {}

    def get(self, tile_id: int) -> bytes | None:
        return self.nodes.get(tile_id)

    def write(self, changes: NodeChanges) -> None:
        """Persist ``changes``: store each record, delete each tile mapped to None."""
        for k, v in changes.items():
            if v is None:
                self.nodes.pop(k, None)
            else:
                self.nodes[k] = v


_UNCACHED = object()


class NodeCache:
    """A bounded in-memory cache of decoded tiles in front of a :class:`NodeStore`; caches absence too.

    Entries are evicted oldest-first-cached first, in chunks of 1/8 of the capacity. Neither a hit
    nor a rewrite reorders (reordering cost as much as the hit, and a tenth of the sealer's time
    for rewrites): a hot upper tile evicted is read back from the store once and is young again.
    A cached tile is never changed in place: :meth:`StateMap.apply` writes copies.
    """

    def __init__(self, store: NodeStore, capacity: int = 1 << 16, tiles: dict[int, Tile | None] | None = None) -> None:
        """``tiles``: a dict to cache in, e.g. one several maps of the same tree version share
        (the API's readers, from several threads: every operation here is safe against another
        thread's eviction)."""
        self.store = store
        self.capacity = capacity
        self._d: dict[int, Tile | None] = {} if tiles is None else tiles
        # Every stored tile is cached (set by StateMap.warm when the whole map fitted): a tile the
        # cache lacks is absent, with no store read (most of them: the new tiles a new key's path
        # opens). Only the map's one writer may rely on this; evicting or clearing ends it.
        self.complete = False

    def get(self, tile_id: int) -> Tile | None:
        d = self._d
        tile = d.get(tile_id, _UNCACHED)
        if tile is not _UNCACHED:
            return tile  # type: ignore[return-value]
        if self.complete:
            return None
        rec = self.store.get(tile_id)
        tile = None if rec is None else decode_tile(rec, tile_id)
        if len(d) >= self.capacity:
            self._evict()
        d[tile_id] = tile
        return tile

    def update(self, tiles: Mapping[int, Tile | None], undo: dict[int, object] | None = None) -> None:
        """Make the cache hold ``tiles`` (whose records the caller persists to the store itself).

        With ``undo``, first record there what the cache held for each changed tile (for
        :meth:`restore`)."""
        d = self._d
        if undo is not None:
            get = d.get
            for k in tiles:
                undo[k] = get(k, _UNCACHED)
        d.update(tiles)
        if len(d) > self.capacity:
            self._evict()

    def restore(self, undo: Mapping[int, object]) -> None:
        """Put back what :meth:`update` recorded in ``undo``: a tile it had not cached is forgotten
        (read from the store again, which never held the undone changes)."""
        d = self._d
        for k, v in undo.items():
            if v is _UNCACHED:
                d.pop(k, None)
            else:
                d[k] = v  # type: ignore[assignment]

    def clear(self) -> None:
        self._d.clear()
        self.complete = False

    def _evict(self) -> None:
        self.complete = False
        d = self._d
        drop = max(len(d) - self.capacity, 0) + max(self.capacity // 8, 1)
        for k in list(d)[:drop]:  # dicts keep insertion order: the oldest come first
            d.pop(k, None)


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
"""Levels per tile: a tile is one node at depth ``5t`` and its descendants down to depth
``5t + 4`` (at most 31 nodes), stored as one record."""
# node_place's parts per depth: the tile's leading bit and path shift, and the node's place inside
# its tile (breadth first: 1 << local depth, plus its local path bits).
_TILE_BIT = tuple(1 << (d // TILE * TILE) for d in range(256))
_TILE_SHIFT = tuple(256 - d // TILE * TILE for d in range(256))
_LOCAL_BASE = tuple(1 << (d % TILE) for d in range(256))
_LOCAL_MASK = tuple((1 << (d % TILE)) - 1 for d in range(256))
_PLACE = tuple(bytes((i,)) for i in range(32))


def node_place(depth: int, path: int) -> tuple[int, int]:
    """Where the internal node at ``depth`` (0..255) on ``path`` (an int) is stored: (tile id, place).

    With ``t = depth // 5``, the tile id is ``(1 << 5t) | (first 5t path bits)`` (a heap numbering:
    ids grow with depth, tile 1 holds the root node, 0 is :data:`ROOT_TILE`) and the place is
    ``(1 << l) | (the next l path bits)`` with ``l = depth - 5t``, in 1..31. A key update rewrites
    the nodes on its path: one record per five levels. (One row per node cost five times the rows;
    keyed by full prefix, a block dirtied nearly every page of the table.)
    """
    return (
        _TILE_BIT[depth] | path >> _TILE_SHIFT[depth],
        _LOCAL_BASE[depth] | (path >> (256 - depth)) & _LOCAL_MASK[depth],
    )


def tile_ids(path: int, depth: int = 256) -> list[int]:
    """The ids of the tiles holding the nodes on ``path`` from the root down to ``depth`` (exclusive)."""
    return [_TILE_BIT[d] | path >> _TILE_SHIFT[d] for d in range(0, min(depth, 256), TILE)]


_REF_LEN = (1, 65, 33)  # by tag: empty, leaf, internal


def decode_tile(rec: bytes, tile_id: int = -1) -> Tile:
    """Parse a stored tile record (place byte ‖ left reference ‖ right reference, places strictly
    increasing, at least one node); StorageCorrupt if malformed."""
    tile: Tile = [b""] * 32
    i, n, last = 0, len(rec), 0
    lens = _REF_LEN
    while i < n:
        place = rec[i]
        if not last < place < 32 or i + 2 >= n:
            break
        j = i + 1
        tag = rec[j]
        if tag > 2:
            break
        j += lens[tag]
        tag = rec[j] if j < n else 3
        if tag > 2:
            break
        j += lens[tag]
        if j > n:
            break
        tile[place] = rec[i:j]
        last, i = place, j
    if i != n or not last:
        raise StorageCorrupt("STORE_CORRUPT", "malformed state-map tile", tile=tile_id, record=rec.hex())
    return tile


def encode_tile(tile: Tile) -> bytes:
    """A tile as stored: its nodes in place order (b"" when it holds none)."""
    return b"".join(tile)


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
    """Decode a tile slot: place byte ‖ left reference ‖ right reference, nothing after (hot path: inlined)."""
    n = len(rec)
    t = rec[1] if n > 1 else -1
    left: _Ref
    right: _Ref
    if t == 2:
        left, i = rec[2:34], 34
    elif t == 1:
        left, i = (rec[2:34], rec[34:66]), 66
    elif t == 0:
        left, i = None, 2
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

    def __init__(
        self,
        store: NodeStore,
        root: bytes | None = None,
        cache_size: int = 1 << 16,
        tiles: dict[int, Tile | None] | None = None,
    ) -> None:
        """Open the tree in ``store``; if ``root`` is given, check that the store holds that root.
        ``cache_size`` counts tiles; ``tiles`` is a cache of decoded tiles of this same tree
        version to use (see :class:`NodeCache`)."""
        self._nodes = NodeCache(store, cache_size, tiles)
        self._root: _Ref = None
        self._undo: tuple[_Ref, dict[int, object]] | None = None
        self._load_root(root)

    @property
    def root(self) -> bytes:
        """The current root hash (32 zero bytes when empty)."""
        return _hash(self._root)

    def reset(self, root: bytes | None = None) -> None:
        """Drop the cache and reload the root reference from the store (StorageCorrupt if not ``root``)."""
        self._nodes.clear()
        self._undo = None
        self._load_root(root)

    def _load_root(self, root: bytes | None) -> None:
        rec = self._nodes.store.get(ROOT_TILE)
        ref, end = _decode(rec, 0) if rec is not None else (None, 0)
        if rec is not None and end != len(rec):
            raise StorageCorrupt("STORE_CORRUPT", "malformed state-map root record", node=rec.hex())
        if root is not None and _hash(ref) != root:
            raise StorageCorrupt("STORE_CORRUPT", "state-map store does not hold the expected root",
                                 expected=root.hex(), found=_hash(ref).hex())  # fmt: skip
        self._root = ref

    def apply(self, changes: Mapping[str, bytes | None], *, undoable: bool = False) -> tuple[bytes, NodeChanges]:
        """Set each key to its value (None deletes; deleting an absent key is a no-op) in one batch.

        Returns the new root and the tile records the caller must persist. Every touched node is
        read once and hashed once, and every touched tile encoded once, so the cost is O(k log n)
        for k changes. With ``undoable``, :meth:`undo` can take this batch back as long as its
        changes have not been persisted.
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
        # Copies of the tiles this batch rewrites (the cached ones are never changed in place:
        # nodes not yet visited are read from them, and undo restores them).
        tiles: _Work = {}
        self._root = self._update(self._root, 0, batch, [c[0] for c in batch], 0, len(batch), tiles)
        new: dict[int, Tile | None] = {}
        for tid, tile in tiles.items():
            rec = encode_tile(tile)
            out[tid] = rec or None
            new[tid] = tile if rec else None
        out[ROOT_TILE] = None if self._root is None else _encode(self._root)
        if undoable:
            cached: dict[int, object] = {}
            self._nodes.update(new, cached)
            self._undo = (before, cached)
        else:
            self._nodes.update(new)
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
        """Read stored tiles through ``store`` from now on: the same tree seen through another
        connection (a child process must not use its parent's); the cache is kept."""
        self._nodes.store = store

    def warm(self, records: Mapping[int, bytes], *, complete: bool = False) -> None:
        """Load stored tile records into the cache (a starting node reads its hot tree once, not tile by tile).

        ``complete``: ``records`` are all the tiles stored, and this map is their only writer
        (every later change goes through :meth:`apply`): from then on a tile the cache lacks is
        known to be absent, until the cache evicts."""
        self._nodes.complete = complete  # until an eviction, by this update or later, ends it
        self._nodes.update({tid: decode_tile(rec, tid) for tid, rec in records.items() if tid != ROOT_TILE})

    def prove(self, key: str) -> StateProof:
        """A proof that ``key`` holds its current value, or that it is absent."""
        path = key_path(key)
        p = int.from_bytes(path, "big")
        ref, depth, bits, sibs = self._root, 0, 0, []
        while type(ref) is bytes:
            left, right = _children(self._load(depth, p))
            ref, sib = (right, left) if (p >> (255 - depth)) & 1 else (left, right)
            bits <<= 1
            if sib is not None:
                bits |= 1
                sibs.append(_hash(sib))
            depth += 1
        bitmap = (bits << (-depth & 7)).to_bytes((depth + 7) >> 3, "big")
        return StateProof(depth, bitmap, tuple(sibs), ref if type(ref) is tuple else None)

    def _load(self, depth: int, p: int) -> bytes:
        tid, place = node_place(depth, p)
        tile = self._nodes.get(tid)
        rec = b"" if tile is None else tile[place]
        if not rec:
            raise StorageCorrupt("STORE_CORRUPT", "state-map node missing", tile=tid, place=place, depth=depth)
        return rec

    def _tile(self, tid: int, tiles: _Work) -> Tile:
        """The working copy of tile ``tid`` for this batch (made on its first write)."""
        base = self._nodes.get(tid)
        tile = tiles[tid] = [b""] * 32 if base is None else base.copy()
        return tile

    def _update(self, ref: _Ref, d: int, ch: list[_Change], ps: list[int], lo: int, hi: int, tiles: _Work) -> _Ref:
        """Apply ``ch[lo:hi]`` (all under the subtree ``ref`` at depth ``d``) and return the new reference."""
        if hi - lo == 1:
            return self._update_one(ref, d, ch[lo], tiles)
        if type(ref) is not bytes:  # empty or a lone leaf: rebuild this subtree from its new leaf set
            items = [c for c in ch[lo:hi] if c[2] is not None]
            if type(ref) is tuple:
                lp = int.from_bytes(ref[0], "big")
                i = bisect_left(ps, lp, lo, hi)
                if i == hi or ps[i] != lp:  # the old leaf survives unless the batch overrides it
                    items.append((lp, ref[0], ref[1]))
                    items.sort()
            return self._build(d, items, [c[0] for c in items], 0, len(items), tiles)
        p = ps[lo]
        left, right = _children(self._load(d, p))
        shift = 255 - d
        mid = bisect_left(ps, ((p >> shift) | 1) << shift, lo, hi)
        if mid > lo:
            left = self._update(left, d + 1, ch, ps, lo, mid, tiles)
        if mid < hi:
            right = self._update(right, d + 1, ch, ps, mid, hi, tiles)
        tid, place = node_place(d, p)
        return _join(tiles.get(tid) or self._tile(tid, tiles), place, left, right)

    def _update_one(self, ref: _Ref, d: int, c: _Change, tiles: _Work) -> _Ref:
        """:meth:`_update` for a single change, iteratively: down to where its path ends, then back up."""
        p, path, vh = c
        down: list[tuple[int, int, _Ref, int]] = []  # (tile id, place, sibling, direction bit) per internal node
        get = self._nodes.get
        tb, ts, lb, lm = _TILE_BIT, _TILE_SHIFT, _LOCAL_BASE, _LOCAL_MASK
        while type(ref) is bytes:
            tid = tb[d] | p >> ts[d]  # node_place
            place = lb[d] | (p >> (256 - d)) & lm[d]
            tile = get(tid)
            rec = b"" if tile is None else tile[place]
            if not rec:
                rec = self._load(d, p)  # raises
            left, right = _children(rec)
            if (p >> (255 - d)) & 1:
                down.append((tid, place, left, 1))
                ref = right
            else:
                down.append((tid, place, right, 0))
                ref = left
            d += 1
        new: _Ref
        if type(ref) is not tuple or ref[0] == path:
            new = None if vh is None else (path, vh)
        elif vh is None:
            new = ref  # deleting an absent key
        else:
            items = sorted([(int.from_bytes(ref[0], "big"), ref[0], ref[1]), c])
            new = self._build(d, items, [x[0] for x in items], 0, 2, tiles)
        for tid, place, sib, bit in reversed(down):
            work = tiles.get(tid) or self._tile(tid, tiles)
            new = _join(work, place, new, sib) if bit == 0 else _join(work, place, sib, new)
        return new

    def _build(self, d: int, items: list[_Change], ps: list[int], lo: int, hi: int, tiles: _Work) -> _Ref:
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
        left = self._build(d + 1, items, ps, lo, mid, tiles)
        right = self._build(d + 1, items, ps, mid, hi, tiles)
        tid, place = node_place(d, p)
        return _join(tiles.get(tid) or self._tile(tid, tiles), place, left, right)


def _join(tile: Tile, place: int, left: _Ref, right: _Ref) -> _Ref:
    """The reference to the subtree with children ``left`` and ``right``, stored at ``place`` of
    ``tile`` (a working copy) if internal.

    A subtree holding at most one leaf is that leaf (or empty): its node is deleted and the leaf moves up.
    (This is :func:`_encode` and :func:`_hash` inlined: it runs once per touched node.)
    """
    if (left is None and type(right) is not bytes) or (right is None and type(left) is not bytes):
        tile[place] = b""
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
    tile[place] = _PLACE[place] + el + er
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
    if not isinstance(key, str) or not (value is None or isinstance(value, bytes)):
        raise VerificationError("PROOF_INVALID", "the key must be a string and the value bytes or None")
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
        raw = base64.b64decode(s, validate=True)
    except binascii.Error as e:
        raise ValueError(f"bad base64: {e}") from None
    if _b64(raw) != s:  # one encoding per value: no stray padding bits or missing padding
        raise ValueError("not canonical base64")
    return raw
