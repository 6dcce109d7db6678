"""RFC 9162 §2.1 Merkle tree against published vectors (transparency-dev/merkle, RFC 9162 §2.1.5)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from anju.errors import VerificationError
from anju.ledger import merkle

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "tlog"
PROBES = VECTORS / "transparency-dev-merkle"
CONSTANTS: dict[str, Any] = json.loads((VECTORS / "merkle_constants.json").read_text())
# The one happy-path probe whose "roots" are 12-byte placeholders: a verifier insisting on
# 32-byte SHA-256 hashes rightly rejects it.
SHORT_ROOT_PROBES = {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}


def _b(s: str | None) -> bytes:
    return base64.b64decode(s or "")


def _probes(kind: str) -> list[Any]:
    files = sorted((PROBES / kind).rglob("*.json"))
    assert len(files) > 40, f"vectors missing under {PROBES / kind}"
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(PROBES))) for f in files]


def _leaves() -> list[bytes]:
    return [merkle.leaf_hash(bytes.fromhex(h)) for h in CONSTANTS["leaf_inputs_hex"]]


def _store(leaves: list[bytes]) -> tuple[dict[tuple[int, int], bytes], list[bytes]]:
    """Append every leaf to a Frontier; return all stored nodes and the root after each size."""
    fr, nodes, roots = merkle.Frontier(), {}, [merkle.Frontier().root()]
    for lh in leaves:
        for level, index, h in fr.append(lh):
            nodes[(level, index)] = h
        roots.append(fr.root())
    return nodes, roots


@pytest.mark.parametrize("probe", _probes("inclusion"))
def test_inclusion_probe(probe: dict[str, Any]) -> None:
    args = (_b(probe["leafHash"]), probe["leafIdx"], probe["treeSize"], [_b(p) for p in probe["proof"] or []])
    if probe["wantErr"]:
        with pytest.raises(VerificationError) as err:
            merkle.verify_inclusion(*args, _b(probe["root"]))
        assert err.value.code == "PROOF_INVALID"
    else:
        merkle.verify_inclusion(*args, _b(probe["root"]))


@pytest.mark.parametrize("probe", _probes("consistency"))
def test_consistency_probe(probe: dict[str, Any], request: pytest.FixtureRequest) -> None:
    args = (probe["size1"], probe["size2"], [_b(p) for p in probe["proof"] or []], _b(probe["root1"]))
    probe_id = request.node.callspec.id
    if probe["wantErr"] or probe_id in SHORT_ROOT_PROBES:
        if probe_id in SHORT_ROOT_PROBES:
            assert len(_b(probe["root1"])) == 12 and not probe["wantErr"]
        with pytest.raises(VerificationError) as err:
            merkle.verify_consistency(*args, _b(probe["root2"]))
        assert err.value.code == "PROOF_INVALID"
    else:
        merkle.verify_consistency(*args, _b(probe["root2"]))


def test_generated_proofs_equal_the_happy_path_probes() -> None:
    nodes, _ = _store(_leaves())
    get = lambda level, index: nodes[(level, index)]  # noqa: E731
    seen = 0
    for f in PROBES.glob("inclusion/[0-9]/happy-path.json"):
        p = json.loads(f.read_text())
        assert merkle.inclusion_proof(p["leafIdx"], p["treeSize"], get) == [_b(x) for x in p["proof"] or []]
        seen += 1
    for f in PROBES.glob("consistency/[0-9]/happy-path.json"):
        p = json.loads(f.read_text())
        assert merkle.consistency_proof(p["size1"], p["size2"], get) == [_b(x) for x in p["proof"] or []]
        seen += 1
    assert seen == 10


def test_constants_roots_nodes_and_all_proofs() -> None:
    leaves = _leaves()
    nodes, roots = _store(leaves)
    want_roots = [bytes.fromhex(h) for h in CONSTANTS["root_hashes_by_size_hex"]]
    assert roots == want_roots
    assert merkle.EMPTY_ROOT == bytes.fromhex(CONSTANTS["empty_root_hex"]) == want_roots[0]
    for level, row in enumerate(CONSTANTS["node_hashes_by_level_hex"]):
        for index, h in enumerate(row):
            assert nodes[(level, index)] == bytes.fromhex(h)
    get = lambda level, index: nodes[(level, index)]  # noqa: E731
    n = len(leaves)
    for size in range(n + 1):
        assert merkle.root_at(size, get) == want_roots[size]
        assert merkle.Frontier.load(size, get).root() == want_roots[size]
        for i in range(size):
            proof = merkle.inclusion_proof(i, size, get)
            merkle.verify_inclusion(leaves[i], i, size, proof, want_roots[size])
            with pytest.raises(VerificationError):
                merkle.verify_inclusion(leaves[(i + 1) % n], i, size, proof, want_roots[size])
        for size1 in range(1, size + 1):
            proof = merkle.consistency_proof(size1, size, get)
            merkle.verify_consistency(size1, size, proof, want_roots[size1], want_roots[size])
            if size1 < size:
                with pytest.raises(VerificationError):
                    merkle.verify_consistency(size1, size, proof, want_roots[size1 - 1], want_roots[size])


def test_rfc9162_section_2_1_5_example() -> None:
    ex = CONSTANTS["rfc9162_example"]
    data = [bytes.fromhex(h) for h in CONSTANTS["leaf_inputs_hex"][: ex["size"]]]
    named: dict[str, bytes] = {}

    def value(name: str) -> bytes:
        if name not in named:
            spec = ex["nodes"][name]
            if isinstance(spec, str):  # a leaf: "d<i>"
                named[name] = merkle.leaf_hash(data[int(spec[1:])])
            else:
                named[name] = merkle.node_hash(value(spec[0]), value(spec[1]))
        return named[name]

    nodes, roots = _store([merkle.leaf_hash(d) for d in data])
    get = lambda level, index: nodes[(level, index)]  # noqa: E731
    assert value("hash") == roots[ex["size"]] == merkle.root_at(ex["size"], get)
    for m, names in ex["inclusion"].items():
        proof = merkle.inclusion_proof(int(m), ex["size"], get)
        assert proof == [value(x) for x in names]
        merkle.verify_inclusion(merkle.leaf_hash(data[int(m)]), int(m), ex["size"], proof, value("hash"))
    for m, names in ex["consistency"].items():
        proof = merkle.consistency_proof(int(m), ex["size"], get)
        assert proof == [value(x) for x in names]
        merkle.verify_consistency(int(m), ex["size"], proof, roots[int(m)], value("hash"))
    assert len(ex["inclusion"]) == 4 and len(ex["consistency"]) == 3


def test_sumdb_record_hash() -> None:
    rec = CONSTANTS["sumdb_record_hash"]
    assert merkle.leaf_hash(rec["data"].encode()) == _b(rec["hash_b64"])


@pytest.mark.parametrize(
    ("size1", "size2"), [(0, 0), (0, 5), (6, 5)], ids=["empty-to-empty", "from-empty", "shrinking"]
)
def test_consistency_edge_cases(size1: int, size2: int) -> None:
    nodes, roots = _store(_leaves())
    get = lambda level, index: nodes[(level, index)]  # noqa: E731
    if (size1, size2) == (0, 0):
        assert merkle.consistency_proof(0, 0, get) == []
        merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
        with pytest.raises(VerificationError):
            merkle.verify_consistency(0, 0, [], roots[1], roots[1])
        return
    with pytest.raises(ValueError):
        merkle.consistency_proof(size1, size2, get)
    with pytest.raises(VerificationError):
        merkle.verify_consistency(size1, size2, [], roots[size1], roots[size2])
