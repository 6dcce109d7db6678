"""Transaction envelopes: parsing, signed bytes, ids and signatures (docs/PROTOCOL.md §Envelope).

    {"body": {"chain", "kind", "signer", "seq", ...}, "sigs": [{"key", "sig"}, ...]}

signed bytes = b"anju-tx-v1\\n" + JCS(body); txid = hex SHA-256(signed bytes);
log leaf = JCS(envelope).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from anju.crypto import jcs
from anju.crypto.keys import SigningKey, is_hex_key, verify
from anju.errors import TxRejected

TX_PREFIX = b"anju-tx-v1\n"
MAX_TX_BYTES = 64 * 1024
MAX_SIGS = 8
BODY_BASE_FIELDS = ("chain", "kind", "signer", "seq")


@dataclass(frozen=True, slots=True)
class Tx:
    """A parsed envelope. Signatures are checked by :func:`verify_sigs`, not by parsing."""

    body: dict[str, Any]
    sigs: tuple[tuple[str, str], ...]
    signed_bytes: bytes
    txid: str
    leaf: bytes

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def signer(self) -> str:
        return str(self.body["signer"])

    @property
    def seq(self) -> int:
        return int(self.body["seq"])

    @property
    def chain(self) -> str:
        return str(self.body["chain"])

    @property
    def signers(self) -> frozenset[str]:
        """Every key that signed (the signer and any co-signers)."""
        return frozenset(k for k, _ in self.sigs)

    def envelope(self) -> dict[str, Any]:
        return {"body": self.body, "sigs": [{"key": k, "sig": s} for k, s in self.sigs]}

    def __reduce__(self) -> tuple[type[Tx], tuple[Any, ...]]:
        # Verifier processes send every transaction back to the sequencer pickled. The pickling
        # that ``slots=True`` generates looks the fields up on every call: ~3x slower both ways.
        return Tx, (self.body, self.sigs, self.signed_bytes, self.txid, self.leaf)


def _reject(code: str, message: str, **details: Any) -> TxRejected:
    return TxRejected(code, message, **details)


def parse(raw: bytes | Mapping[str, Any], *, max_bytes: int = MAX_TX_BYTES) -> Tx:
    """Parse and structurally check an envelope (JSON bytes or an already-decoded object)."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        if len(raw) > max_bytes:
            raise _reject("TX_TOO_LARGE", f"envelope is {len(raw)} bytes; the limit is {max_bytes}")
        try:
            obj = jcs.loads(bytes(raw))
        except Exception as exc:  # AnjuError MALFORMED_JSON
            raise _reject("MALFORMED_JSON", str(exc).split(": ", 1)[-1]) from None
    else:
        obj = dict(raw)
    if type(obj) is not dict:
        raise _reject("MALFORMED_ENVELOPE", "the envelope must be a JSON object")
    extra = set(obj) - {"body", "sigs"}
    if extra:
        raise _reject("UNKNOWN_FIELD", f"unknown envelope field(s): {sorted(extra)}", fields=sorted(extra))
    body, sigs = obj.get("body"), obj.get("sigs")
    if type(body) is not dict:
        raise _reject("MALFORMED_ENVELOPE", "envelope.body must be an object")
    if type(sigs) is not list or not sigs:
        raise _reject("MISSING_SIGNATURE", "envelope.sigs must be a non-empty array")
    if len(sigs) > MAX_SIGS:
        raise _reject("MALFORMED_ENVELOPE", f"at most {MAX_SIGS} signatures")
    try:
        jcs.check_domain(body)
    except Exception as exc:
        code = getattr(exc, "code", "MALFORMED_ENVELOPE")
        raise _reject(code, getattr(exc, "message", str(exc))) from None
    for name in BODY_BASE_FIELDS:
        if name not in body:
            raise _reject("MALFORMED_ENVELOPE", f"body.{name} is required", field=name)
    if type(body["chain"]) is not str or type(body["kind"]) is not str or not body["kind"]:
        raise _reject("MALFORMED_ENVELOPE", "body.chain and body.kind must be strings")
    if not is_hex_key(body["signer"]):
        raise _reject("MALFORMED_ENVELOPE", "body.signer must be a lowercase hex Ed25519 key")
    seq = body["seq"]
    if type(seq) is not int or seq < 1:
        raise _reject("INVALID_FIELD", "body.seq must be an integer >= 1", field="seq")
    parsed: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in sigs:
        if type(entry) is not dict:
            raise _reject("MALFORMED_ENVELOPE", "each sigs entry must be {key, sig}")
        extra = set(entry) - {"key", "sig"}
        if extra:
            raise _reject("UNKNOWN_FIELD", f"unknown signature field(s): {sorted(extra)}", fields=sorted(extra))
        key, sig = entry.get("key"), entry.get("sig")
        if not is_hex_key(key):
            raise _reject("MALFORMED_ENVELOPE", "sigs[].key must be a lowercase hex Ed25519 key")
        if type(sig) is not str or len(sig) != 128:
            raise _reject("BAD_SIGNATURE", "sigs[].sig must be 128 lowercase hex characters")
        try:
            if bytes.fromhex(sig).hex() != sig:
                raise ValueError
        except ValueError:
            raise _reject("BAD_SIGNATURE", "sigs[].sig must be lowercase hex") from None
        if key in seen:
            raise _reject("DUPLICATE_SIGNATURE", f"key {key} signs twice", key=key)
        key = str(key)
        seen.add(key)
        parsed.append((key, sig))
    if body["signer"] not in seen:
        raise _reject("MISSING_SIGNATURE", "the signer's own signature is missing", key=body["signer"])
    signed = TX_PREFIX + jcs.canonicalize(body)
    envelope = {"body": body, "sigs": [{"key": k, "sig": s} for k, s in parsed]}
    return Tx(
        body=body,
        sigs=tuple(parsed),
        signed_bytes=signed,
        txid=hashlib.sha256(signed).hexdigest(),
        leaf=jcs.canonicalize(envelope),
    )


def verify_sigs(tx: Tx) -> None:
    """Raise ``BAD_SIGNATURE`` unless every signature verifies over the signed bytes."""
    check_sigs(tx.signed_bytes, tx.sigs, tx.txid)


def check_sigs(signed: bytes, sigs: Iterable[tuple[str, str]], txid: str) -> None:
    """:func:`verify_sigs` on a parsed transaction's parts (what a verifier process is sent)."""
    for key, sig in sigs:
        if not verify(bytes.fromhex(key), signed, bytes.fromhex(sig)):
            raise _reject("BAD_SIGNATURE", f"signature by {key} does not verify", key=key, txid=txid)


def parse_and_verify(raw: bytes | Mapping[str, Any], *, max_bytes: int = MAX_TX_BYTES) -> Tx:
    """:func:`parse` then :func:`verify_sigs`; the work a verifier process does ahead of sequencing."""
    tx = parse(raw, max_bytes=max_bytes)
    verify_sigs(tx)
    return tx


def signed_bytes(body: Mapping[str, Any]) -> bytes:
    jcs.check_domain(dict(body))
    return TX_PREFIX + jcs.canonicalize(dict(body))


def sign(body: Mapping[str, Any], keys: Iterable[SigningKey]) -> dict[str, Any]:
    """Build an envelope: ``body`` signed by every key in ``keys`` (the signer's first)."""
    msg = signed_bytes(body)
    return {"body": dict(body), "sigs": [{"key": k.public_hex, "sig": k.sign(msg).hex()} for k in keys]}


def cosign(envelope: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """Add ``key``'s signature to an envelope (e.g. the tenant countersigning a lease)."""
    msg = signed_bytes(envelope["body"])
    sigs = [dict(s) for s in envelope["sigs"] if s["key"] != key.public_hex]
    sigs.append({"key": key.public_hex, "sig": key.sign(msg).hex()})
    return {"body": dict(envelope["body"]), "sigs": sigs}


def txid_of(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(signed_bytes(body)).hexdigest()
