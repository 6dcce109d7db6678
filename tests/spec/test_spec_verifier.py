"""docs/PROTOCOL.md is enough to verify a node: tests/spec/verifier.py, written from that file alone
(it imports nothing from ``anju``), checks a real server's answers, and refuses each of them once a
byte of it is changed."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.api.conftest import Server
from tests.spec import verifier as v
from tests.web.ledger import Builder, build, key

from anju.chain.node import Node

pytestmark = pytest.mark.xdist_group("spec-verifier")  # (one worker, one shared server for the module)


class World:
    def __init__(self, server: Server, ids: dict[str, Any]) -> None:
        self.server, self.ids = server, ids
        self.node = v.verify_node(self.get("/node"))
        self.keys = [self.node.key]

    def get(self, path: str, **params: Any) -> Any:
        r = self.server.http.get("/api/v1" + path, params=params)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("spec") / "node"
    ids = build(data)
    node = Node(data, verify_workers=0)
    b = Builder(node)  # an agency listing too, published by the agency's agent under its mandate
    agent = hashlib.sha256(b"agent").hexdigest()
    b.do("agent", "party.register", role="agent", commitment=agent)
    b.do("authority", "authority.attest_identity", party=key("agent").public_hex, commitment=agent)
    b.do("agency_a", "agency.appoint_agent", agent=key("agent").public_hex)
    today = ids["today"]
    ids["mandate"] = b.do(
        "landlord", "mandate.grant", unit=ids["unit1"], agency=key("agency_a").public_hex, exclusive=False,
        to="2099-12-31", may_sign=True, min_rent=100_000, **{"from": today},
    )  # fmt: skip
    ids["agency_listing"] = b.do(
        "agent", "listing.publish", unit=ids["unit1"], mandate=ids["mandate"], rent=700_000, deposit=700_000,
        available_from=today, min_term_months=6, description="近地铁", photos=[hashlib.sha256(b"p").hexdigest()],
    )  # fmt: skip
    node.stop()
    server = Server(data)
    try:
        yield World(server, ids)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def flip_b64(text: str, at: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def refuses(f: Callable[[], object]) -> str:
    with pytest.raises(v.Refused) as e:
        f()
    return str(e.value)


# --- documentation test vectors (section 5) -------------------------------------------------------


def test_the_state_maps_documented_vectors() -> None:
    assert v.state_root_of({}) == bytes(32)
    one = {"unit/1": b"1"}
    assert hashlib.sha256(b"unit/1").hexdigest() == "e5ee9e7f615a2e7797a0f65e9d9577cbf54cc64262f4da14d5797e22bc4327d7"
    assert v.state_root_of(one).hex() == "d0537391a36b4aa2e0b314d4d7b5e614df4ec952f27aac17f59f36d9c6326b47"
    four = {"party/a": b'{"name":"A"}', "unit/1": b"1", "unit/2": b"", "lease/x": b"\x00\xff"}
    root = v.state_root_of(four)
    assert base64.b64encode(root).decode() == "7YyT4tlk9DgWcvPDEpIvxPfL7O52z3SQ3Diu5MbAmX0="
    member: dict[str, Any] = {
        "depth": 2,
        "bitmap": "wA==",
        "siblings": ["F2Uqn90RIR+Xz3Iwp83tQzghBU4XI1iY7XtpY0tKnkE=", "RaCfr0fpTiOycnkLlYoSTpnNuJ1Hd91k9Xc8p2CxYf4="],
        "leaf": {
            "path": "5e6ef2FaLneXoPZenZV3y/VMxkJi9NoU1Xl+IrxDJ9c=",
            "value_hash": "a4ayc/80/OGda4BO/1o/V0etpOqiLx1JwB5S3beHW0s=",
        },
    }
    v.verify_state_proof(root, "unit/1", b"1", member)
    absent = {
        "depth": 1,
        "bitmap": "gA==",
        "siblings": ["KqAYGuK7H/eC9+74+1e3XW6NTk9lDke1OHq7PLzZLSI="],
        "leaf": {
            "path": "AWBt6lNV16C+uUczYN1WttQKasqFCh5LWZ9qdKDXOPg=",
            "value_hash": "But9amnuGeX733SQGNPSq/oEvL0TZdsxLrhtxxaTibg=",
        },
    }
    v.verify_state_proof(root, "unit/9", None, absent)
    empty = {"depth": 0, "bitmap": "", "siblings": [], "leaf": None}
    v.verify_state_proof(bytes(32), "anything", None, empty)
    refuses(lambda: v.verify_state_proof(root, "unit/1", b"2", member))  # another value
    refuses(lambda: v.verify_state_proof(root, "unit/1", None, member))  # present, claimed absent
    refuses(lambda: v.verify_state_proof(root, "unit/9", b"1", absent))  # absent, claimed present
    bad = copy.deepcopy(member)
    bad["siblings"][1] = flip_b64(bad["siblings"][1])
    refuses(lambda: v.verify_state_proof(root, "unit/1", b"1", bad))


# --- 1. the checkpoint note and the node's verifier key ---------------------------------------------


def test_the_checkpoint_note_verifies_against_the_nodes_key(world: World) -> None:
    r = world.server.http.get("/api/v1/checkpoint")
    assert r.headers["content-type"].startswith("text/plain")
    cp = v.verify_checkpoint_text(r.text, world.keys, world.node.chain_id)
    assert cp.height >= 1 and cp.size >= 1 and cp.origin == world.node.chain_id
    blk = world.get(f"/blocks/{cp.height}")
    assert v.b64(blk["log_root"]) == cp.root and v.b64(blk["state_root"]) == cp.state_root
    assert blk["log_size"] == cp.size and blk["time"] == cp.time
    text, sigs = r.text.rsplit("\n\n", 1)
    name, sig = sigs.rstrip("\n")[2:].split(" ")
    # a flipped byte of the signature, of the key id, of the root; a line added; another key
    assert "bad signature" in refuses(lambda: v.open_note(f"{text}\n\n— {name} {flip_b64(sig, 10)}\n", world.keys))
    assert "too few" in refuses(lambda: v.open_note(f"{text}\n\n— {name} {flip_b64(sig, 0)}\n", world.keys))
    lines = text.split("\n")
    lines[2] = flip_b64(lines[2])
    assert "bad signature" in refuses(lambda: v.open_note("\n".join(lines) + f"\n\n— {name} {sig}\n", world.keys))
    lines = text.split("\n")
    lines[4] = "anju-state " + flip_b64(lines[4][len("anju-state ") :])
    refuses(lambda: v.open_note("\n".join(lines) + f"\n\n— {name} {sig}\n", world.keys))
    refuses(lambda: v.open_checkpoint(f"{text}\nanju-extra 1\n\n— {name} {sig}\n", world.keys))
    other = v.parse_vkey(_other_vkey(world.node.chain_id))
    assert "too few" in refuses(lambda: v.open_note(r.text, [other]))
    # the verifier key itself: its key id must be the hash of its name and key
    vk = world.get("/node")["verifier_key"]
    n, kid, k = vk.split("+", 2)
    refuses(lambda: v.parse_vkey(f"{n}+{'0' * 8}+{k}"))
    refuses(lambda: v.parse_vkey(f"{n}+{kid}+{flip_b64(k, 5)}"))


def _other_vkey(name: str) -> str:
    from nacl.signing import SigningKey

    pub = bytes(SigningKey(b"x" * 32).verify_key)
    data = base64.b64encode(b"\x01" + pub).decode()
    return f"{name}+{v.key_id(name, pub).hex()}+{data}"


# --- 2. a transaction: txid, signatures, leaf, inclusion, height ------------------------------------


def _lease_txid(world: World) -> str:
    lease = world.get(f"/state/lease/{world.ids['lease3']}")["value"]
    txid: str = lease["signed_tx"]
    return txid


def test_a_transaction_verifies_with_its_inclusion_and_height_proofs(world: World) -> None:
    txid = _lease_txid(world)
    answer = world.get(f"/txs/{txid}")
    proven = v.verify_tx_answer(answer, world.keys, txid)
    assert proven.tx.body["kind"] == "lease.sign" and len(proven.tx.signers) == 2
    assert proven.block.height == proven.height == answer["height"]
    assert world.get(f"/blocks/{proven.height}")["txids"] == [txid]
    # the first transaction of the chain: block 1, the previous note is genesis (the empty log)
    first = world.get(f"/blocks/{1}")["txids"][0]
    assert v.verify_tx_answer(world.get(f"/txs/{first}"), world.keys, first).height == 1

    def altered(change: Callable[[dict[str, Any]], None]) -> str:
        doc = copy.deepcopy(answer)
        change(doc)
        return refuses(lambda: v.verify_tx_answer(doc, world.keys, txid))

    def set_leaf(doc: dict[str, Any], env: dict[str, Any]) -> None:
        doc["envelope"] = env
        doc["leaf"] = base64.b64encode(v.jcs(env)).decode()

    def forge_sig(doc: dict[str, Any]) -> None:
        env = doc["envelope"]
        sig = bytearray.fromhex(env["sigs"][1]["sig"])
        sig[3] ^= 1
        env["sigs"][1]["sig"] = sig.hex()
        set_leaf(doc, env)

    def forge_body(doc: dict[str, Any]) -> None:
        env = doc["envelope"]
        env["body"]["rent"] += 1
        set_leaf(doc, env)

    assert "inclusion" in altered(
        lambda d: d["inclusion"]["hashes"].__setitem__(0, flip_b64(d["inclusion"]["hashes"][0]))
    )
    assert "inclusion" in altered(forge_sig)
    assert "inclusion" in altered(forge_body)
    assert "inclusion" in altered(
        lambda d: d.update(index=d["index"] + 1, inclusion={**d["inclusion"], "index": d["index"] + 1})
    )
    refuses(lambda: v.verify_tx_answer(answer, world.keys, "0" * 64))
    assert "bad signature" in altered(lambda d: d.update(checkpoint=_flip_root_line(d["checkpoint"])))
    hp = answer["height_proof"]
    assert hp["block_to_head"], "a proof to test"
    assert "consistency" in altered(
        lambda d: d["height_proof"]["block_to_head"].__setitem__(0, flip_b64(hp["block_to_head"][0]))
    )
    assert "consistency" in altered(
        lambda d: d["height_proof"]["previous_to_block"].__setitem__(0, flip_b64(hp["previous_to_block"][0]))
    )
    assert "wrong_height" in altered(lambda d: d.update(height=d["height"] + 1))
    assert "wrong_height" in altered(lambda d: d["height_proof"].update(previous=hp["block"]))
    # the envelope checks themselves, on a leaf whose inclusion is not in question
    leaf = base64.b64decode(answer["leaf"])
    env = json.loads(leaf)
    bad = copy.deepcopy(env)
    bad["sigs"][1]["sig"] = bad["sigs"][1]["sig"][:-2] + ("00" if bad["sigs"][1]["sig"][-2:] != "00" else "01")
    assert "does not verify" in refuses(lambda: v.check_envelope(v.jcs(bad), world.node.chain_id))
    assert "canonical" in refuses(lambda: v.check_envelope(json.dumps(env).encode(), world.node.chain_id))
    assert "another chain" in refuses(lambda: v.check_envelope(leaf, "another-chain"))
    alone = {**env, "sigs": env["sigs"][1:]}  # the tenant's signature alone: the signer's is missing
    assert "signer" in refuses(lambda: v.check_envelope(v.jcs(alone), world.node.chain_id))


# --- 3. a consistency proof between two signed checkpoints -----------------------------------------


def test_a_consistency_proof_between_two_block_checkpoints(world: World) -> None:
    head = v.open_checkpoint(world.get("/node")["checkpoint"], world.keys)
    pairs = [(3, 5), (4, 16), (7, head.height - 2), (1, head.height)]
    for a, b in pairs:
        first = v.open_checkpoint(world.get(f"/blocks/{a}")["checkpoint"], world.keys)
        second = v.open_checkpoint(world.get(f"/blocks/{b}")["checkpoint"], world.keys)
        answer = world.get("/proofs/consistency", first=first.size, second=second.size)
        v.verify_consistency_answer(answer, first, second)
        if first.size < second.size:
            for i in range(len(answer["hashes"])):
                bad = copy.deepcopy(answer)
                bad["hashes"][i] = flip_b64(bad["hashes"][i], i % 32)
                assert "consistency" in refuses(
                    lambda bad=bad, f=first, s=second: v.verify_consistency_answer(bad, f, s)
                )
            short = {**answer, "hashes": answer["hashes"][:-1]}
            refuses(lambda short=short, f=first, s=second: v.verify_consistency_answer(short, f, s))
    first = v.open_checkpoint(world.get("/blocks/4")["checkpoint"], world.keys)
    second = v.open_checkpoint(world.get("/blocks/9")["checkpoint"], world.keys)
    answer = world.get("/proofs/consistency", first=first.size, second=second.size)
    other = v.open_checkpoint(world.get("/blocks/8")["checkpoint"], world.keys)
    assert "root" in refuses(
        lambda: v.verify_consistency(first.size, second.size, v.hashes(answer["hashes"]), first.root, other.root)
    )
    assert "root" in refuses(
        lambda: v.verify_consistency(first.size, second.size, v.hashes(answer["hashes"]), other.root, second.root)
    )
    refuses(lambda: v.verify_consistency_answer(answer, first, other))


# --- 4. state proofs: membership and absence ---------------------------------------------------------


@pytest.mark.parametrize("which", ["listing", "unit", "party", "seq", "absent", "absent_near"])
def test_state_proofs_of_presence_and_absence(world: World, which: str) -> None:
    skey = {
        "listing": f"listing/{world.ids['listing']}",
        "unit": f"unit/{world.ids['unit2']}",
        "party": f"party/{key('landlord').public_hex}",
        "seq": f"seq/{key('authority').public_hex}",
        "absent": "unit/NOPE",
        "absent_near": "listing/0000000000000000",
    }[which]
    answer = world.get(f"/state/{skey}")
    cp, value = v.verify_state_answer(answer, skey, world.keys)
    assert (value is None) == which.startswith("absent")
    if which == "seq":
        assert isinstance(value, int) and value > 30
    proof = answer["proof"]

    def altered(change: Callable[[dict[str, Any]], None]) -> str:
        doc = copy.deepcopy(answer)
        change(doc)
        return refuses(lambda: v.verify_state_answer(doc, skey, world.keys))

    if value is not None:
        assert "not this key and value" in altered(lambda d: d.update(value=_other_value(value)))
        assert "present" in altered(lambda d: d.update(value=None))  # claimed absent
        assert "not this key and value" in altered(
            lambda d: d["proof"]["leaf"].update(value_hash=flip_b64(proof["leaf"]["value_hash"]))
        )
    else:
        assert "not this key" in altered(lambda d: d.update(value="forged"))
    if proof["siblings"]:
        for i in range(len(proof["siblings"])):
            assert "root" in altered(
                lambda d, i=i: d["proof"]["siblings"].__setitem__(i, flip_b64(proof["siblings"][i], 31))
            )
        assert "count" in altered(lambda d: d["proof"]["siblings"].pop())
    if proof["depth"] > 0:
        assert refuses(
            lambda: v.verify_state_answer({**answer, "proof": {**proof, "depth": proof["depth"] + 8}}, skey, world.keys)
        )
    if proof["leaf"] is not None:
        altered(lambda d: d["proof"]["leaf"].update(path=flip_b64(proof["leaf"]["path"], 31)))
    assert "another key" in altered(lambda d: d.update(key=skey + "x"))
    # the root the proof is checked against comes from the signed note
    assert "bad signature" in altered(lambda d: d.update(checkpoint=_flip_state_line(d["checkpoint"])))
    assert cp.height == answer["height"]


def _other_value(value: Any) -> Any:
    if isinstance(value, int):
        return value + 1
    if isinstance(value, dict):
        return {**value, "status": "forged"}
    return "forged"


def _flip_root_line(note: str) -> str:
    lines = note.split("\n")
    lines[2] = flip_b64(lines[2])
    return "\n".join(lines)


def _flip_state_line(note: str) -> str:
    lines = note.split("\n")
    lines[4] = "anju-state " + flip_b64(lines[4][len("anju-state ") :])
    return "\n".join(lines)


# --- 5. a listing by its verification code -----------------------------------------------------------


@pytest.mark.parametrize("which", ["owner", "agency"])
def test_a_listing_bundle_by_its_verification_code(world: World, which: str) -> None:
    lid = world.ids["listing"] if which == "owner" else world.ids["agency_listing"]
    code = world.get(f"/state/listing/{lid}")["value"]["code"]
    asked = f"{code[:5]}-{code[5:]}".lower()
    bundle = world.get(f"/codes/{asked}")
    got = v.verify_listing_bundle(bundle, world.keys, asked)
    assert got.listing["id"] == lid and got.status == "live"
    assert got.listing["publisher_role"] == which
    if which == "agency":  # published by the agency's agent: the bundle proves the agency appointed it
        assert got.listing["agent"] == key("agent").public_hex
        appointment = [t for t in bundle["txs"] if b"agency.appoint_agent" in base64.b64decode(t["leaf"])]
        assert len(appointment) == 1
        without = {**bundle, "txs": [t for t in bundle["txs"] if t is not appointment[0]]}
        assert "no appointment" in refuses(lambda: v.verify_listing_bundle(without, world.keys, asked))
    keys = {e["key"] for e in bundle["state"]}

    def altered(change: Callable[[dict[str, Any]], None]) -> str:
        doc = copy.deepcopy(bundle)
        change(doc)
        return refuses(lambda: v.verify_listing_bundle(doc, world.keys, asked))

    def entry(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
        e: dict[str, Any] = next(e for e in doc["state"] if e["key"].startswith(prefix))
        return e

    # a halved rent, another unit's street, a flipped proof hash, a flipped tx leaf and proof
    assert "state" in altered(
        lambda d: entry(d, "listing/")["value"].update(rent=entry(d, "listing/")["value"]["rent"] // 2)
    )
    assert "state" in altered(lambda d: entry(d, "unit/")["value"].update(street="南京路"))
    assert "state" in altered(
        lambda d: entry(d, "code/")["proof"]["siblings"].__setitem__(
            0, flip_b64(entry(d, "code/")["proof"]["siblings"][0])
        )
    )
    assert "inclusion" in altered(lambda d: d["txs"][0].update(leaf=flip_b64(d["txs"][0]["leaf"], 20)))
    assert "inclusion" in altered(lambda d: d["txs"][-1]["hashes"].__setitem__(0, flip_b64(d["txs"][-1]["hashes"][0])))
    assert "txid" in altered(lambda d: d["txs"][0].update(txid="0" * 64))
    # an entry or a transaction left out
    for k in sorted(keys):
        assert refuses(
            lambda k=k: v.verify_listing_bundle(
                {**bundle, "state": [e for e in bundle["state"] if e["key"] != k]}, world.keys, asked
            )
        )
    for t in bundle["txs"]:
        refuses(
            lambda t=t: v.verify_listing_bundle(
                {**bundle, "txs": [x for x in bundle["txs"] if x is not t]}, world.keys, asked
            )
        )
    assert "another code" in refuses(lambda: v.verify_listing_bundle(bundle, world.keys, "0000000000"))
    assert "bad signature" in altered(lambda d: d.update(checkpoint=_flip_state_line(d["checkpoint"])))
    # the status a verifier judges from the proven records, at later dates and with a licence revoked
    rec = {e["key"]: e["value"] for e in bundle["state"]}
    listing, day = got.listing, got.checkpoint.time[:10]
    mandate = rec.get(f"mandate/{listing['mandate']}")
    publisher, owner = rec[f"party/{listing['publisher']}"], rec[f"party/{listing['owner']}"]
    assert v.listing_status(listing, mandate, day, publisher, owner) == "live"
    assert v.listing_status(listing, mandate, listing["expires_on"], publisher, owner) == "expired"
    assert v.listing_status({**listing, "let_from": day}, mandate, day, publisher, owner) == "revoked"
    assert v.listing_status(listing, mandate, day, publisher, {**owner, "status": "suspended"}) == "suspended"
    if which == "agency":
        assert mandate is not None
        assert v.listing_status(listing, {**mandate, "to": day}, listing["expires_on"], publisher, owner) == "revoked"
        assert v.listing_status(listing, mandate, day, {**publisher, "licensed": False}, owner) == "suspended"


def test_the_documented_checkpoint_example_verifies() -> None:
    """PROTOCOL.md's example note opens with its example verifier key (whose base64 holds a "+")."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()
    section = doc[doc.index("Example (key name `") :]
    vkey = section.split("`")[3]
    note = section.split("```\n")[1]
    assert "+" in vkey.split("+", 2)[2]
    cp = v.open_checkpoint(note, [v.parse_vkey(vkey)])
    assert (cp.origin, cp.size, cp.height, cp.time) == ("anju-xuhui-1", 1234, 56, "2026-11-25T18:04:05.123Z")
    refuses(lambda: v.open_checkpoint(note.replace("1234", "1235"), [v.parse_vkey(vkey)]))


def test_the_verifier_imports_nothing_from_anju() -> None:
    """Written from the documents alone: the standard library, PyNaCl and rfc8785, nothing else."""
    import ast
    import sys

    tree = ast.parse((Path(__file__).parent / "verifier.py").read_text())
    found = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    found |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    roots = {m.split(".")[0] for m in found}
    assert roots - sys.stdlib_module_names <= {"nacl", "rfc8785"}, roots
