"""Keys, JCS, envelopes and keystores, with the RFC 8032 and RFC 8785 published examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from anju.crypto import jcs, keystore
from anju.crypto import tx as txmod
from anju.crypto.keys import SigningKey, is_hex_key, verify
from anju.errors import AnjuError, TxRejected

# RFC 8032 §7.1, TEST 1-3: (secret seed, public key, message, signature)
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("seed", "public", "msg", "sig"), RFC8032)
def test_rfc8032_vectors(seed: str, public: str, msg: str, sig: str) -> None:
    key = SigningKey(bytes.fromhex(seed))
    assert key.public_hex == public
    assert key.sign(bytes.fromhex(msg)).hex() == sig
    assert verify(bytes.fromhex(public), bytes.fromhex(msg), bytes.fromhex(sig))
    bad = bytearray(bytes.fromhex(sig))
    bad[0] ^= 1
    assert not verify(bytes.fromhex(public), bytes.fromhex(msg), bytes(bad))
    assert not verify(bytes.fromhex(public), bytes.fromhex(msg) + b"x", bytes.fromhex(sig))


def test_verify_rejects_wrong_lengths() -> None:
    k = SigningKey.generate()
    assert not verify(k.public[:31], b"m", k.sign(b"m"))
    assert not verify(k.public, b"m", k.sign(b"m")[:63])


def test_rfc8785_example_without_floats() -> None:
    # RFC 8785 §3.2.2's example, minus the "numbers" member (Anju forbids floats).
    doc = json.loads(
        '{"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}'
    )
    assert jcs.canonicalize(doc) == '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'.encode()


json_scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20)


def _containers(c: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function, not a lambda: Hypothesis describes a lambda by parsing this file's source,
    # and CPython 3.11.7's ast.parse, called deep in a recursive draw, failed once with
    # "SystemError: AST constructor recursion depth mismatch" (a flaky failure of this test).
    return st.lists(c, max_size=5) | st.dictionaries(
        st.text(st.characters(max_codepoint=127), max_size=8), c, max_size=5
    )


json_docs = st.recursive(json_scalars, _containers, max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(json_docs)
def test_jcs_matches_reference(doc: Any) -> None:
    jcs.check_domain(doc)
    assert jcs.canonicalize(doc) == rfc8785.dumps(doc)


@pytest.mark.parametrize(
    ("doc", "code"),
    [(1.5, "NON_INTEGER_NUMBER"), (2**53, "INTEGER_OUT_OF_RANGE"), ({"é": 1}, "MALFORMED_ENVELOPE"), ([[[[]]]], None)],
)
def test_domain(doc: Any, code: str | None) -> None:
    if code is None:
        jcs.check_domain(doc)
        return
    with pytest.raises(AnjuError) as err:
        jcs.check_domain(doc)
    assert err.value.code == code


def _body(key: SigningKey, **extra: Any) -> dict[str, Any]:
    return {"chain": "c1", "kind": "kv.put", "signer": key.public_hex, "seq": 1, "key": "a", "value": "b", **extra}


def test_envelope_round_trip_and_ids() -> None:
    k = SigningKey(bytes(range(32)))
    env = txmod.sign(_body(k), [k])
    t = txmod.parse_and_verify(orjson.dumps(env))
    assert t.signed_bytes == b"anju-tx-v1\n" + rfc8785.dumps(env["body"])
    import hashlib

    assert t.txid == hashlib.sha256(t.signed_bytes).hexdigest()
    assert t.leaf == rfc8785.dumps(env)
    assert t.signers == {k.public_hex}


def test_cosigned_envelope() -> None:
    a, b = SigningKey.generate(), SigningKey.generate()
    env = txmod.cosign(txmod.sign(_body(a), [a]), b)
    t = txmod.parse_and_verify(env)
    assert t.signers == {a.public_hex, b.public_hex}


def _mutate(env: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    e = json.loads(json.dumps(env))
    node = e
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = parts[-1]
    if value is KeyError:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return e


K = SigningKey(bytes(32))
GOOD = txmod.sign(_body(K), [K])


@pytest.mark.parametrize(
    ("mutation", "code"),
    [
        (lambda e: _mutate(e, "extra", 1), "UNKNOWN_FIELD"),
        (lambda e: _mutate(e, "body", KeyError), "MALFORMED_ENVELOPE"),
        (lambda e: _mutate(e, "sigs", []), "MISSING_SIGNATURE"),
        (lambda e: _mutate(e, "sigs.0.extra", 1), "UNKNOWN_FIELD"),
        (lambda e: _mutate(e, "sigs.0.sig", "00" * 64), "BAD_SIGNATURE"),
        (lambda e: _mutate(e, "sigs.0.sig", "zz"), "BAD_SIGNATURE"),
        (lambda e: _mutate(e, "body.value", "changed"), "BAD_SIGNATURE"),
        (lambda e: _mutate(e, "body.seq", 0), "INVALID_FIELD"),
        (lambda e: _mutate(e, "body.seq", 1.0), "NON_INTEGER_NUMBER"),
        (lambda e: _mutate(e, "body.rent", 2**60), "INTEGER_OUT_OF_RANGE"),
        (lambda e: _mutate(e, "body.signer", "ab"), "MALFORMED_ENVELOPE"),
        (lambda e: _mutate(e, "body.kind", 7), "MALFORMED_ENVELOPE"),
        (lambda e: {**e, "sigs": e["sigs"] * 2}, "DUPLICATE_SIGNATURE"),
        (
            lambda e: {**e, "sigs": [{"key": SigningKey.generate().public_hex, "sig": e["sigs"][0]["sig"]}]},
            "MISSING_SIGNATURE",
        ),
        (lambda e: [e], "MALFORMED_ENVELOPE"),
        (lambda e: _mutate(e, "sigs", KeyError), "MISSING_SIGNATURE"),
        (lambda e: _mutate(e, "sigs", {}), "MISSING_SIGNATURE"),
        (lambda e: {**e, "sigs": e["sigs"] * 9}, "MALFORMED_ENVELOPE"),
        (lambda e: _mutate(e, "body.seq", KeyError), "MALFORMED_ENVELOPE"),
        (lambda e: _mutate(e, "body.seq", -1), "INVALID_FIELD"),
        (lambda e: _mutate(e, "body.seq", True), "INVALID_FIELD"),
        (lambda e: _mutate(e, "body.signer", e["body"]["signer"].upper()), "MALFORMED_ENVELOPE"),
        (lambda e: _mutate(e, "sigs.0.key", e["sigs"][0]["key"].upper()), "MALFORMED_ENVELOPE"),
        (lambda e: _mutate(e, "sigs.0.sig", e["sigs"][0]["sig"].upper()), "BAD_SIGNATURE"),
        (lambda e: _mutate(e, "sigs.0", "x"), "MALFORMED_ENVELOPE"),
    ],
)
def test_bad_envelopes(mutation: Any, code: str) -> None:
    """Each refusal of the envelope's own checks (docs/PROTOCOL.md section 2) with its documented code."""
    with pytest.raises(TxRejected) as err:
        txmod.parse_and_verify(orjson.dumps(mutation(GOOD)))
    assert err.value.code == code


@pytest.mark.parametrize("path", ["extra", "sigs.0.extra"])
def test_an_unknown_field_is_named_in_the_details(path: str) -> None:
    """The envelope's and a signature entry's unknown fields alike: ``details.fields`` names them."""
    with pytest.raises(TxRejected) as err:
        txmod.parse(orjson.dumps(_mutate(GOOD, path, 1)))
    assert err.value.code == "UNKNOWN_FIELD" and err.value.details["fields"] == ["extra"]


@pytest.mark.parametrize(
    ("raw", "code"), [(b"{", "MALFORMED_JSON"), (b"\xff", "MALFORMED_JSON"), (b" " * (64 * 1024 + 1), "TX_TOO_LARGE")]
)
def test_bad_bytes(raw: bytes, code: str) -> None:
    with pytest.raises(TxRejected) as err:
        txmod.parse(raw)
    assert err.value.code == code


def test_is_hex_key() -> None:
    assert is_hex_key("ab" * 32)
    assert not is_hex_key("AB" * 32)
    assert not is_hex_key("ab" * 31)
    assert not is_hex_key(None)


def test_keystore_round_trip(tmp_path: Path) -> None:
    k = SigningKey.generate()
    path = tmp_path / "k.json"
    keystore.save(path, k, "correct horse", opslimit=2, memlimit=8 * 1024 * 1024)
    assert keystore.load(path, "correct horse") == k
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(keystore.KeystoreError):
        keystore.load(path, "wrong")
    doc = json.loads(path.read_text())
    doc["public_key"] = SigningKey.generate().public_hex
    path.write_text(json.dumps(doc))
    with pytest.raises(keystore.KeystoreError):
        keystore.load(path, "correct horse")
    path.write_text("not json")
    with pytest.raises(keystore.KeystoreError):
        keystore.load(path, "correct horse")


def test_a_keystore_that_cannot_be_opened_says_why_with_a_code(tmp_path: Path) -> None:
    """A cost below libsodium's minimum was refused by libsodium with a CryptoError and read as a
    wrong password; each reason now has its own code (the command line reports it with --json)."""
    k = SigningKey.generate()
    path = tmp_path / "k.json"
    keystore.save(path, k, "pw", opslimit=2, memlimit=8 * 1024 * 1024)
    with pytest.raises(keystore.KeystoreError) as wrong:
        keystore.load(path, "not the password")
    assert wrong.value.code == "KEYSTORE_PASSWORD"
    doc = json.loads(path.read_text())
    for field, value in (("memlimit", 1024), ("opslimit", 0), ("memlimit", 1 << 40)):
        path.write_text(json.dumps({**doc, field: value}))
        with pytest.raises(keystore.KeystoreError, match="out of bounds") as low:
            keystore.load(path, "pw")
        assert low.value.code == "KEY_FILE_INVALID", field
    path.write_bytes(b"\xff\xfe not text")
    with pytest.raises(keystore.KeystoreError) as damaged:
        keystore.load(path, "pw")
    assert damaged.value.code == "KEY_FILE_INVALID"
    with pytest.raises(keystore.KeystoreError) as missing:
        keystore.load(tmp_path / "absent.json", "pw")
    assert missing.value.code == "FILE_UNREADABLE"
    assert "No such file" in str(missing.value)


def test_keystore_save_is_private_whole_and_never_over_another_file(tmp_path: Path) -> None:
    """A leftover ``k.json.tmp`` of mode 0644 once made the new keystore 0644 (O_TRUNC keeps a
    file's mode); a keystore is written to a new private file, and over nothing unless asked."""
    import os
    import stat

    fast = {"opslimit": 2, "memlimit": 8 * 1024 * 1024}
    path = tmp_path / "k.json"
    leftover = tmp_path / "k.json.tmp"
    leftover.write_text("someone's")
    os.chmod(leftover, 0o644)
    old = os.umask(0o022)
    try:
        keystore.save(path, SigningKey(b"1" * 32), "pw", **fast)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert leftover.read_text() == "someone's"  # (not the keystore's temporary file any more)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json", "k.json.tmp"]  # no temporary file left
    with pytest.raises(FileExistsError):
        keystore.save(path, SigningKey(b"2" * 32), "pw", **fast)
    assert keystore.load(path, "pw") == SigningKey(b"1" * 32)
    keystore.save(path, SigningKey(b"2" * 32), "pw", overwrite=True, **fast)
    assert keystore.load(path, "pw") == SigningKey(b"2" * 32) and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileNotFoundError):
        keystore.save(tmp_path / "nodir" / "k.json", SigningKey(b"3" * 32), "pw", **fast)
    with pytest.raises(FileExistsError):
        keystore.save(tmp_path, SigningKey(b"3" * 32), "pw", **fast)  # a directory is never replaced either


def test_keystore_save_on_a_file_system_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FAT and some network shares refuse link(2) (EPERM): the keystore is then created in place,
    exclusively and 0600, still never over another file and with no temporary file left."""
    import errno
    import os
    import stat

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    fast = {"opslimit": 2, "memlimit": 8 * 1024 * 1024}
    path = tmp_path / "k.json"
    keystore.save(path, SigningKey(b"1" * 32), "pw", **fast)
    assert keystore.load(path, "pw") == SigningKey(b"1" * 32) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]
    with pytest.raises(FileExistsError):
        keystore.save(path, SigningKey(b"2" * 32), "pw", **fast)
    assert keystore.load(path, "pw") == SigningKey(b"1" * 32)


def test_errors_survive_pickling() -> None:
    import pickle

    from anju.errors import Overloaded

    err = pickle.loads(pickle.dumps(TxRejected("SEQ_SKIPPED", "seq 3 skips ahead", seq=3)))
    assert isinstance(err, TxRejected) and (err.code, err.message, err.details) == (
        "SEQ_SKIPPED",
        "seq 3 skips ahead",
        {"seq": 3},
    )
    o = pickle.loads(pickle.dumps(Overloaded("MEMPOOL_FULL", "full", retry_after=2)))
    assert o.retry_after == 2 and o.http_status == 503


def test_tx_survives_pickling() -> None:
    """Verifier processes hand parsed transactions back pickled: every field must come through."""
    import pickle

    a, b = SigningKey(b"\x01" * 32), SigningKey(b"\x02" * 32)
    body = {"chain": "t", "kind": "kv.put", "signer": a.public_hex, "seq": 7, "key": "k", "value": "v"}
    tx = txmod.parse(orjson.dumps(txmod.sign(body, [a, b])))
    back = pickle.loads(pickle.dumps([tx, tx], protocol=pickle.HIGHEST_PROTOCOL))
    assert back[0] == tx and back[0] is back[1]
    assert (back[0].body, back[0].sigs, back[0].signed_bytes, back[0].txid, back[0].leaf) == (
        tx.body,
        tx.sigs,
        tx.signed_bytes,
        tx.txid,
        tx.leaf,
    )
    txmod.verify_sigs(back[0])
    with pytest.raises(AttributeError):
        back[0].txid = "x"  # type: ignore[misc]


def test_canonical_bytes_kept_by_the_node_take_their_own_size_in_memory() -> None:
    """State values and canonical transactions live for long in the node's caches and mempool;
    orjson's results are over-allocated (4 KiB at least), so canonicalize hands back a copy of
    their own size: 1,000 of them allocate less than twice their length."""
    import tracemalloc

    values = [{"id": f"{i:016x}", "rent": 900_000 + i, "street": "衡山路", "rooms": 2} for i in range(1000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [jcs.canonicalize(v) for v in values]
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    length = sum(len(k) for k in kept)
    assert used < 2 * length + 64 * len(kept), f"{used} bytes allocated for {length} bytes of JSON"
    tx = txmod.sign({"kind": "kv.put", "chain": "c", "signer": SigningKey.generate().public_hex, "seq": 1}, [])
    assert jcs.trimmed(orjson.dumps(tx)) == orjson.dumps(tx)
