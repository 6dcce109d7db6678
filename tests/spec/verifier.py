"""An independent Anju verifier, written from docs/PROTOCOL.md (and the founders' contract) alone.

It imports nothing from ``anju``: only the standard library, PyNaCl (Ed25519, RFC 8032) and
rfc8785 (JCS). Its purpose is to show that PROTOCOL.md is enough to check a node's answers:
signed checkpoint notes, transactions and their inclusion and height proofs, consistency proofs,
state proofs, and a listing's verification-code bundle. Every check raises ``Refused`` with a
short reason; a genuine answer passes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import rfc8785
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

EMPTY_LOG_ROOT = hashlib.sha256(b"").digest()
EMPTY_STATE = bytes(32)
TX_PREFIX = b"anju-tx-v1\n"
MAX_SAFE = 2**53 - 1


class Refused(Exception):
    """The answer does not verify (PROTOCOL.md: PROOF_INVALID or CHECKPOINT_INVALID)."""


def check(cond: bool, reason: str) -> None:
    if not cond:
        raise Refused(reason)


# --- section 1: JSON, canonical bytes, encodings -------------------------------------------------


def _no_float(text: str) -> Any:
    raise Refused(f"not an integer: {text}")


def strict_json(raw: bytes | str) -> Any:
    """RFC 8259 JSON in Anju's domain: integers only (no floats, NaN or Infinity)."""
    try:
        return json.loads(raw, parse_float=_no_float, parse_constant=_no_float)
    except ValueError as e:
        raise Refused(f"not JSON: {e}") from None


def in_domain(value: Any, depth: int = 0) -> bool:
    """Section 1's JSON domain (depth limit aside)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -MAX_SAFE <= value <= MAX_SAFE
    if isinstance(value, list):
        return all(in_domain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and in_domain(v, depth + 1) for k, v in value.items())
    return False


def jcs(value: Any) -> bytes:
    check(in_domain(value), "value outside Anju's JSON domain")
    return rfc8785.dumps(value)


def b64(text: Any, length: int | None = 32) -> bytes:
    """Standard base64 with padding (RFC 4648 §4), canonical; ``length`` bytes unless None."""
    check(isinstance(text, str), "base64 field is not a string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"invalid base64: {text!r}") from None
    check(base64.b64encode(raw).decode() == text, f"non-canonical base64: {text!r}")
    if length is not None:
        check(len(raw) == length, f"hash of {len(raw)} bytes, not {length}")
    return raw


def lower_hex(text: Any, chars: int) -> bytes:
    check(isinstance(text, str) and re.fullmatch(f"[0-9a-f]{{{chars}}}", text) is not None, f"not {chars} hex")
    return bytes.fromhex(text)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ed25519_ok(public: bytes, sig: bytes, message: bytes) -> bool:
    try:
        VerifyKey(public).verify(message, sig)
        return True
    except (BadSignatureError, ValueError):
        return False


# --- section 4: signed notes and checkpoints ------------------------------------------------------


@dataclass(frozen=True)
class NoteKey:
    name: str
    key_id: bytes
    public: bytes


def key_id(name: str, public: bytes) -> bytes:
    return sha256(name.encode() + b"\x0a\x01" + public)[:4]


def _valid_key_name(name: str) -> bool:
    return name != "" and "+" not in name and not any(c.isspace() for c in name)


def parse_vkey(vkey: str) -> NoteKey:
    """``<name>+<8 hex key id>+<base64(0x01 ‖ public key)>``."""
    parts = vkey.split("+", 2)  # the base64 key may itself hold "+"
    check(len(parts) == 3, "verifier key: not name+id+key")
    name, hid, data = parts
    check(_valid_key_name(name), "verifier key: bad name")
    kid = lower_hex(hid, 8)
    raw = b64(data, 33)
    check(raw[0] == 0x01, "verifier key: not Ed25519")
    public = raw[1:]
    check(key_id(name, public) == kid, "verifier key: key id does not match")
    return NoteKey(name, kid, public)


def open_note(note: str, keys: list[NoteKey], threshold: int = 1) -> str:
    """C2SP signed-note: returns the verified text (ending in its newline)."""
    check(isinstance(note, str), "note is not text")
    check(all(c == "\n" or (ord(c) >= 0x20 and ord(c) != 0x7F) for c in note), "note: control character")
    cut = note.rfind("\n\n")
    check(cut >= 0, "note: no blank line")
    text, sigblock = note[: cut + 1], note[cut + 2 :]
    check(sigblock.endswith("\n") and sigblock != "", "note: no signature lines")
    lines = sigblock[:-1].split("\n")
    check(len(lines) <= 100, "note: more than 100 signatures")
    signed_by: set[str] = set()
    for line in dict.fromkeys(lines):  # identical repeated lines count once
        check(line.startswith("\u2014 "), "note: signature line without em dash")
        fields = line[2:].split(" ")
        check(len(fields) == 2, "note: malformed signature line")
        name, sig64 = fields
        check(_valid_key_name(name), "note: bad key name")
        raw = b64(sig64, None)
        check(len(raw) >= 5, "note: signature too short")
        kid, sig = raw[:4], raw[4:]
        matching = [k for k in keys if k.name == name and k.key_id == kid]
        if not matching:
            continue  # an unknown signer is ignored
        check(len(sig) == 64, "note: Ed25519 signature not 64 bytes")
        check(ed25519_ok(matching[0].public, sig, text.encode()), "note: bad signature")
        signed_by.add(name)
    check(len(signed_by) >= max(threshold, 1), "note: too few trusted signatures")
    return text


_DEC = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    height: int
    state_root: bytes
    time: str
    text: str


def parse_checkpoint(text: str) -> Checkpoint:
    """The six lines of section 4, "Checkpoints"."""
    check(text.endswith("\n"), "checkpoint: no final newline")
    lines = text[:-1].split("\n")
    check(len(lines) == 6, "checkpoint: not six lines")
    origin, size, root, height, state, when = lines
    check(origin != "", "checkpoint: empty origin")
    check(_DEC.fullmatch(size) is not None and int(size) <= 2**64 - 1, "checkpoint: bad size")
    check(height.startswith("anju-height "), "checkpoint: no anju-height line")
    h = height[len("anju-height ") :]
    check(_DEC.fullmatch(h) is not None, "checkpoint: bad height")
    check(state.startswith("anju-state "), "checkpoint: no anju-state line")
    check(when.startswith("anju-time "), "checkpoint: no anju-time line")
    t = when[len("anju-time ") :]
    check(_TIME.fullmatch(t) is not None, "checkpoint: bad time")
    return Checkpoint(origin, int(size), b64(root), int(h), b64(state[len("anju-state ") :]), t, text)


def open_checkpoint(note: str, keys: list[NoteKey], threshold: int = 1) -> Checkpoint:
    return parse_checkpoint(open_note(note, keys, threshold))


# --- section 4: the RFC 9162 log ------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def verify_inclusion(lh: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2, as PROTOCOL.md words it."""
    check(0 <= index < size, "inclusion: index outside the tree")
    fn, sn, r = index, size - 1, lh
    for p in proof:
        check(sn != 0, "inclusion: proof too long")
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    check(sn == 0, "inclusion: proof too short")
    check(r == root, "inclusion: root does not match")


def verify_consistency(m: int, n: int, proof: list[bytes], root1: bytes, root2: bytes) -> None:
    """RFC 9162 §2.1.4.2, with PROTOCOL.md's cases for m == n and m == 0."""
    check(0 <= m <= n, "consistency: first size above second")
    if m == n:
        check(proof == [] and root1 == root2, "consistency: equal sizes need an empty proof and equal roots")
        return
    if m == 0:
        check(proof == [] and root1 == EMPTY_LOG_ROOT, "consistency: from the empty tree")
        return
    check(proof != [], "consistency: empty proof")
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two
        path.insert(0, root1)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        check(sn != 0, "consistency: proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    check(sn == 0, "consistency: proof too short")
    check(fr == root1, "consistency: first root does not match")
    check(sr == root2, "consistency: second root does not match")


def hashes(items: Any) -> list[bytes]:
    check(isinstance(items, list), "proof is not a list")
    return [b64(h) for h in items]


# --- section 2: envelopes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Tx:
    txid: str
    envelope: dict[str, Any]
    body: dict[str, Any]
    signers: list[str]  # the keys of ``sigs``, in order
    index: int


def check_envelope(leaf: bytes, chain: str) -> tuple[str, dict[str, Any], list[str]]:
    """The leaf is JCS(envelope); every signature verifies; returns (txid, envelope, signer keys)."""
    env = strict_json(leaf)
    check(isinstance(env, dict) and set(env) == {"body", "sigs"}, "envelope: not {body, sigs}")
    check(jcs(env) == leaf, "leaf is not the canonical form of its envelope")
    body, sigs = env["body"], env["sigs"]
    check(isinstance(body, dict), "envelope: body not an object")
    check(isinstance(body.get("chain"), str) and isinstance(body.get("kind"), str), "envelope: chain/kind")
    seq = body.get("seq")
    check(isinstance(seq, int) and not isinstance(seq, bool) and seq >= 1, "envelope: seq")
    lower_hex(body.get("signer"), 64)
    check(body["chain"] == chain, "envelope: another chain")
    check(isinstance(sigs, list) and 1 <= len(sigs) <= 8, "envelope: sigs")
    signed = TX_PREFIX + jcs(body)
    keys: list[str] = []
    for s in sigs:
        check(isinstance(s, dict) and set(s) == {"key", "sig"}, "envelope: signature entry")
        pub = lower_hex(s["key"], 64)
        sig = lower_hex(s["sig"], 128)
        check(s["key"] not in keys, "envelope: a key signs twice")
        check(ed25519_ok(pub, sig, signed), "envelope: a signature does not verify")
        keys.append(s["key"])
    check(body["signer"] in keys, "envelope: the signer's own signature is missing")
    return hashlib.sha256(signed).hexdigest(), env, keys


def proven_tx(leaf64: Any, index: Any, proof: Any, txid: Any, cp: Checkpoint) -> Tx:
    """A transaction proven included in ``cp``'s log, its signatures and txid checked."""
    check(isinstance(index, int) and not isinstance(index, bool), "index is not an integer")
    leaf = b64(leaf64, None)
    verify_inclusion(leaf_hash(leaf), index, cp.size, hashes(proof), cp.root)
    tid, env, keys = check_envelope(leaf, cp.origin)
    check(tid == txid, "txid is not SHA-256 of the signed bytes")
    return Tx(tid, env, env["body"], keys, index)


# --- the node and its answers --------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    chain_id: str
    key: NoteKey
    checkpoint: Checkpoint


def verify_node(node: dict[str, Any]) -> Node:
    """``GET /node``: the verifier key is well formed, named after the chain, signs its checkpoint."""
    key = parse_vkey(node["verifier_key"])
    check(node["origin"] == node["chain_id"] == key.name, "node: origin, chain id and key name differ")
    vks = node.get("verifier_keys")
    check(isinstance(vks, list) and len(vks) >= 1 and vks[-1][1] == node["verifier_key"], "node: verifier_keys")
    cp = open_checkpoint(node["checkpoint"], [key])
    check(cp.origin == node["chain_id"], "node: checkpoint of another chain")
    return Node(node["chain_id"], key, cp)


def verify_checkpoint_text(note: str, keys: list[NoteKey], chain: str) -> Checkpoint:
    """``GET /checkpoint``: the latest note, signed, of this chain."""
    cp = open_checkpoint(note, keys)
    check(cp.origin == chain, "checkpoint: another origin")
    return cp


@dataclass(frozen=True)
class ProvenTx:
    tx: Tx
    head: Checkpoint
    height: int
    block: Checkpoint


def verify_tx_answer(answer: dict[str, Any], keys: list[NoteKey], txid: str) -> ProvenTx:
    """``GET /txs/{txid}`` of a committed transaction: inclusion, signatures, txid, height proof."""
    check(answer.get("txid") == txid and answer.get("status") == "committed", "tx: not the committed tx asked for")
    head = open_checkpoint(answer["checkpoint"], keys)
    inc = answer["inclusion"]
    check(inc["index"] == answer["index"] and inc["tree_size"] == head.size, "tx: inclusion of another size/index")
    tx = proven_tx(answer["leaf"], answer["index"], inc["hashes"], txid, head)
    check(answer["envelope"] == tx.envelope, "tx: envelope is not the leaf's")
    height = answer["height"]
    block = verify_height_proof(answer["height_proof"], height, tx.index, head, keys)
    return ProvenTx(tx, head, height, block)


def verify_height_proof(
    hp: dict[str, Any], height: int, index: int, head: Checkpoint, keys: list[NoteKey]
) -> Checkpoint:
    """Section 4, "Height proofs" (one signer at every height)."""
    check(isinstance(height, int) and height >= 1, "height: a transaction's block is at least 1")
    block = open_checkpoint(hp["block"], keys)
    prev = open_checkpoint(hp["previous"], keys)
    check(block.height == height and prev.height == height - 1, "height: wrong_height")
    check(block.origin == prev.origin == head.origin, "height: another origin")
    check(prev.size <= index < block.size, "height: not_bracketing")
    if prev.height == 0:
        check(prev.size == 0 and prev.root == EMPTY_LOG_ROOT, "height: genesis is not the empty log")
    verify_consistency(prev.size, block.size, hashes(hp["previous_to_block"]), prev.root, block.root)
    verify_consistency(block.size, head.size, hashes(hp["block_to_head"]), block.root, head.root)
    check(head.height >= block.height, "height: block above the head")
    for a, b in ((prev, block), (block, head)):
        check(a.size <= b.size and a.time <= b.time, "height: not one history")
    return block


def verify_consistency_answer(answer: dict[str, Any], first: Checkpoint, second: Checkpoint) -> None:
    """``GET /proofs/consistency?first=&second=``: the proof between two signed checkpoints."""
    check(answer["first"] == first.size and answer["second"] == second.size, "consistency: other sizes")
    check(first.origin == second.origin, "consistency: notes of two chains")
    verify_consistency(first.size, second.size, hashes(answer["hashes"]), first.root, second.root)


# --- section 5: the state map ----------------------------------------------------------------------


def smt_leaf(path: bytes, value_hash: bytes) -> bytes:
    return sha256(b"\x00" + path + value_hash)


def smt_node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def bit(data: bytes, i: int) -> int:
    return (data[i // 8] >> (7 - i % 8)) & 1


def state_root_of(entries: dict[str, bytes]) -> bytes:
    """T(S, 0) of section 5, straight from its definition (for the test vectors)."""

    def t(items: list[tuple[bytes, bytes]], d: int) -> bytes:
        if not items:
            return EMPTY_STATE
        if len(items) == 1:
            return smt_leaf(*items[0])
        return smt_node(t([x for x in items if not bit(x[0], d)], d + 1), t([x for x in items if bit(x[0], d)], d + 1))

    return t([(sha256(k.encode()), sha256(v)) for k, v in entries.items()], 0)


def verify_state_proof(root: bytes, key: str, value: bytes | None, proof: Any) -> None:
    """Section 5, "Verifying a state proof"; ``value`` None claims the key absent."""
    check(isinstance(proof, dict) and set(proof) == {"depth", "bitmap", "siblings", "leaf"}, "state: proof fields")
    depth = proof["depth"]
    check(isinstance(depth, int) and not isinstance(depth, bool) and 0 <= depth <= 256, "state: depth")
    bitmap = b64(proof["bitmap"], (depth + 7) // 8)
    for i in range(depth, len(bitmap) * 8):
        check(bit(bitmap, i) == 0, "state: padding bit set")
    siblings = hashes(proof["siblings"])
    ones = sum(bit(bitmap, i) for i in range(depth))
    check(len(siblings) == ones, "state: sibling count")
    check(all(s != EMPTY_STATE for s in siblings), "state: an EMPTY sibling")
    check(depth == 0 or bit(bitmap, depth - 1) == 1, "state: terminal's sibling empty")
    leaf = proof["leaf"]
    path = sha256(key.encode("ascii"))
    if leaf is not None:
        check(isinstance(leaf, dict) and set(leaf) == {"path", "value_hash"}, "state: leaf fields")
        lpath, lvalue = b64(leaf["path"]), b64(leaf["value_hash"])
        check(all(bit(lpath, i) == bit(path, i) for i in range(depth)), "state: leaf off the key's path")
    if value is not None:
        check(leaf is not None and lpath == path and lvalue == sha256(value), "state: not this key and value")
    else:
        check(leaf is None or lpath != path, "state: the key is present")
    h = EMPTY_STATE if leaf is None else smt_leaf(lpath, lvalue)
    j = len(siblings)
    for i in range(depth - 1, -1, -1):
        if bit(bitmap, i):
            j -= 1
            s = siblings[j]
        else:
            s = EMPTY_STATE
        h = smt_node(s, h) if bit(path, i) else smt_node(h, s)
    check(h == root, "state: root does not match")


def verify_state_answer(answer: dict[str, Any], key: str, keys: list[NoteKey]) -> tuple[Checkpoint, Any]:
    """``GET /state/{key}``: the value (or absence) proven against the note's ``anju-state`` root."""
    check(answer.get("key") == key, "state: an answer about another key")
    cp = open_checkpoint(answer["checkpoint"], keys)
    check(answer.get("height") == cp.height, "state: height is not the checkpoint's")
    value = answer["value"]
    verify_state_proof(cp.state_root, key, None if value is None else jcs(value), answer["proof"])
    return cp, value


# --- section 7: the listing bundle (GET /codes/{code}) ----------------------------------------------

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def code_of(digest: bytes) -> str:
    """The first 50 bits, most significant first, five bits a character (REGISTRY.md)."""
    n = int.from_bytes(digest[:7], "big") >> 6
    return "".join(CROCKFORD[(n >> (45 - 5 * i)) & 31] for i in range(10))


def code_candidates(txid: str) -> list[str]:
    out = [code_of(bytes.fromhex(txid))]
    for i in range(1, 64):
        out.append(code_of(sha256(f"anju-listing-code\n{txid}\n{i}".encode())))
    return out


def normalise_code(code: str) -> str:
    c = code.upper().replace("-", "").replace(" ", "")
    return c.replace("O", "0").replace("I", "1").replace("L", "1")


def listing_status(
    listing: dict[str, Any], mandate: dict[str, Any] | None, day: str, publisher: dict[str, Any], owner: dict[str, Any]
) -> str:
    """The listing's status at ``day`` (section 7, "Bundles", listing), from its proven records."""
    if listing["status"] != "live":
        return str(listing["status"])
    if mandate is not None and not (mandate["status"] == "active" and mandate["from"] <= day <= mandate["to"]):
        return "revoked"
    let_from = listing.get("let_from")
    if let_from is not None and let_from < listing["expires_on"] and day >= let_from:
        return "revoked"
    if day >= listing["expires_on"]:
        return "expired"
    if "suspended" in (publisher["status"], owner["status"]):
        return "suspended"
    if publisher["role"] == "agency" and not publisher["licensed"]:
        return "suspended"
    return "live"


@dataclass(frozen=True)
class VerifiedListing:
    listing: dict[str, Any]
    unit: dict[str, Any]
    checkpoint: Checkpoint
    status: str


def verify_listing_bundle(bundle: dict[str, Any], keys: list[NoteKey], code: str) -> VerifiedListing:
    """Section 7, "Bundles": a listing bundle, every entry proven, then the listing rules."""
    check(bundle.get("format") == "anju-bundle-v1" and bundle.get("kind") == "listing", "bundle: not a listing bundle")
    check(normalise_code(str(bundle.get("subject"))) == normalise_code(code), "bundle: about another code")
    cp = open_checkpoint(bundle["checkpoint"], keys)
    check(bundle["chain_id"] == cp.origin, "bundle: chain_id is not the origin")
    state: dict[str, Any] = {}
    for e in bundle["state"]:
        verify_state_proof(cp.state_root, e["key"], None if e["value"] is None else jcs(e["value"]), e["proof"])
        check(e["key"] not in state, "bundle: a key twice")
        state[e["key"]] = e["value"]
    txs: dict[str, Tx] = {}
    for t in bundle["txs"]:
        tx = proven_tx(t["leaf"], t["index"], t["hashes"], t["txid"], cp)
        txs[tx.txid] = tx

    def record(key: str) -> dict[str, Any]:
        v = state.get(key)
        check(isinstance(v, dict), f"bundle: {key} not proven present")
        assert isinstance(v, dict)
        return v

    def tx_of(txid: Any, kind: str) -> Tx:
        check(isinstance(txid, str) and txid in txs, f"bundle: no proven {kind} tx")
        t = txs[txid]
        check(t.body["kind"] == kind, f"bundle: {txid} is not a {kind}")
        return t

    meta = record("meta/registry")
    c = normalise_code(code)
    code_rec = record(f"code/{c}")
    check(code_rec["code"] == c, "bundle: code record of another code")
    listing = record(f"listing/{code_rec['listing']}")
    check(listing["code"] == c and listing["id"] == code_rec["listing"], "bundle: listing has another code")
    pub = tx_of(listing["published_tx"], "listing.publish")
    check(listing["id"] == pub.txid[:16], "bundle: listing id is not its publish txid's")
    for f in ("unit", "mandate", "rent", "deposit", "available_from", "min_term_months", "description", "photos"):
        check(listing[f] == pub.body.get(f), f"bundle: listing {f} is not the signed one")
    cands = code_candidates(pub.txid)
    check(c in cands, "bundle: code is none of the txid's candidates")
    for earlier in cands[: cands.index(c)]:
        taken = record(f"code/{earlier}")
        check(taken["listing"] != listing["id"], "bundle: an earlier candidate is this listing's")
    unit = record(f"unit/{listing['unit']}")
    check(unit["id"] == listing["unit"] and unit["owner"] == listing["owner"], "bundle: unit/owner")
    reg = tx_of(unit["registered_tx"], "unit.register")
    check(reg.body["signer"] == unit["owner"] and unit["id"] == reg.txid[:16], "bundle: unit not its owner's")
    for f in ("district", "street", "neighbourhood", "address_commitment", "floor_area_m2", "rooms"):
        check(unit[f] == reg.body[f], f"bundle: unit {f} is not the signed one")
    for f in ("district", "street", "neighbourhood", "floor_area_m2", "rooms"):
        check(listing[f] == unit[f], f"bundle: listing {f} is not the unit's")
    check(unit["title"] is not None and listing["title"] == unit["title"], "bundle: title")
    title = record(f"title/{unit['title']}")
    check(title["unit"] == unit["id"], "bundle: title of another unit")
    att = tx_of(title["tx"], "title.attest")
    check(att.body["signer"] == meta["authority"], "bundle: title not attested by the authority")
    check(att.body["unit"] == unit["id"] and att.body["certificate_commitment"] == unit["title"], "bundle: title tx")
    check(pub.body["unit"] == unit["id"], "bundle: publish tx of another unit")
    record(f"party/{listing['publisher']}")
    owner = record(f"party/{listing['owner']}")
    publisher = state[f"party/{listing['publisher']}"]
    if listing["publisher_role"] == "owner":
        check(
            listing["publisher"] == listing["owner"] and listing["mandate"] is None and listing.get("agent") is None,
            "bundle: owner listing",
        )
    else:
        mandate = record(f"mandate/{listing['mandate']}")
        grant = tx_of(mandate["granted_tx"], "mandate.grant")
        check(mandate["id"] == grant.txid[:16] and grant.body["signer"] == unit["owner"], "bundle: mandate grant")
        check(
            grant.body["unit"] == unit["id"] == mandate["unit"]
            and grant.body["agency"] == listing["publisher"] == mandate["agency"]
            and mandate["owner"] == unit["owner"],
            "bundle: mandate of another unit or agency",
        )
        granted = ("exclusive", "from", "to", "may_sign", "min_rent")
        check(all(mandate.get(f) == grant.body.get(f) for f in granted), "bundle: mandate differs from its grant")
    # "signed by" is the envelope's signer: the publisher when the listing names no agent, else that agent,
    # whose appointment by the publisher the bundle proves earlier in the log
    agent_key = listing.get("agent")
    signer = pub.body["signer"]
    check(signer == (listing["publisher"] if agent_key is None else agent_key), "bundle: publish tx of another signer")
    if agent_key is not None:
        check(record(f"party/{agent_key}")["role"] == "agent", "bundle: the listing's agent is no agent")
        appointed = [
            t
            for t in txs.values()
            if t.body["kind"] == "agency.appoint_agent"
            and t.body["signer"] == listing["publisher"]
            and t.body.get("agent") == agent_key
            and t.index < pub.index
        ]
        check(appointed != [], "bundle: no appointment of the agent by the publisher before the listing.publish")
    status = listing_status(listing, state.get(f"mandate/{listing['mandate']}"), cp.time[:10], publisher, owner)
    return VerifiedListing(listing, unit, cp, status)
