"""A small in-memory chain for registry tests: dict state, per-tx overlay, seq check, block times.

It does what the chain layer promises the registry: parse and verify the envelope, check chain id
and the signer's seq, apply on an overlay, and keep the writes only if the registry accepts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from anju.crypto import jcs
from anju.crypto.keys import SigningKey
from anju.crypto.tx import Tx, parse_and_verify, sign
from anju.errors import TxRejected
from anju.registry import Registry
from anju.registry.call import read
from anju.registry.credit import CHUNK
from anju.registry.edition import RULES
from anju.registry.port import BlockContext, Event

CHAIN = "anju-test"


class Overlay:
    """Writes on top of a base dict, kept only when :meth:`commit` is called."""

    def __init__(self, base: dict[str, bytes]) -> None:
        self.base = base
        self.writes: dict[str, bytes | None] = {}

    def get(self, key: str) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.base.get(key)

    def put(self, key: str, value: bytes) -> None:
        assert isinstance(value, bytes) and key.isascii() and len(key) <= 256
        self.writes[key] = value

    def delete(self, key: str) -> None:
        self.writes[key] = None

    def commit(self) -> None:
        for k, v in self.writes.items():
            if v is None:
                self.base.pop(k, None)
            else:
                self.base[k] = v


def key_for(name: str, seed: bytes = b"test") -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(seed + name.encode()).digest())


@dataclass
class Chain:
    """Registry + state + clock. ``day`` (YYYY-MM-DD) sets the block date of the next transactions."""

    authority: SigningKey = field(default_factory=lambda: key_for("authority"))
    banks: tuple[SigningKey, ...] = ()
    credit_chunk: int | None = CHUNK  # None: a chain from before credit chunks (every entry in the record)
    rules: int | None = RULES  # None: a chain from before rule editions (edition 1)
    day: str = "2026-01-05"
    state: dict[str, bytes] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    height: int = 0
    events: list[Event] = field(default_factory=list)
    log: list[tuple[Tx, BlockContext]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.registry = Registry()
        overlay = Overlay(self.state)
        genesis: dict[str, Any] = {"authority": self.authority.public_hex, "banks": [b.public_hex for b in self.banks]}
        if self.credit_chunk is not None:
            genesis["credit_chunk"] = self.credit_chunk
        if self.rules is not None:
            genesis["rules"] = self.rules
        self.events.extend(self.registry.genesis(genesis, overlay))
        overlay.commit()

    # -- building and submitting -------------------------------------------------------------
    def body(self, key: SigningKey, kind: str, **fields: Any) -> dict[str, Any]:
        seq = self.seqs.get(key.public_hex, 0) + 1
        return {"chain": CHAIN, "kind": kind, "signer": key.public_hex, "seq": seq, **fields}

    def envelope(
        self, key: SigningKey, kind: str, cosigners: Iterable[SigningKey] = (), /, **fields: Any
    ) -> dict[str, Any]:
        return sign(self.body(key, kind, **fields), [key, *cosigners])

    def submit(self, envelope: Mapping[str, Any], time: str | None = None) -> Tx:
        """Apply one envelope in its own block; raise TxRejected (state untouched) if refused."""
        tx = parse_and_verify(dict(envelope))
        if tx.chain != CHAIN:
            raise TxRejected("WRONG_CHAIN", "wrong chain")
        last = self.seqs.get(tx.signer, 0)
        if tx.seq <= last:
            raise TxRejected("SEQ_REUSED", "replay")
        if tx.seq > last + 1:
            raise TxRejected("SEQ_SKIPPED", "gap")
        self.height += 1
        ctx = BlockContext(CHAIN, self.height, time or f"{self.day}T09:00:00.000Z")
        overlay = Overlay(self.state)
        events = self.registry.apply(tx, ctx, overlay)
        overlay.commit()
        self.seqs[tx.signer] = tx.seq
        self.events.extend(events)
        self.log.append((tx, ctx))
        return tx

    def do(self, key: SigningKey, kind: str, cosigners: Iterable[SigningKey] = (), /, **fields: Any) -> Tx:
        return self.submit(self.envelope(key, kind, cosigners, **fields))

    def get(self, key: str) -> dict[str, Any] | None:
        return read(self.state, key)

    def root(self) -> str:
        """A digest of the whole state, to show a rejected transaction changed nothing."""
        return hashlib.sha256(jcs.canonicalize({k: v.decode() for k, v in self.state.items()})).hexdigest()

    # -- people --------------------------------------------------------------------------------
    def party(self, name: str, role: str, *, attest: bool = True, license: bool = True) -> SigningKey:
        """Register (and by default attest / license) a party called ``name``."""
        key = key_for(name)
        commitment = hashlib.sha256(b"salt" + name.encode()).hexdigest()
        extra = {"name": name} if role in ("agency", "bank") else {}
        self.do(key, "party.register", role=role, commitment=commitment, **extra)
        if attest and role in ("tenant", "landlord", "agent"):
            self.do(self.authority, "authority.attest_identity", party=key.public_hex, commitment=commitment)
        if license and role == "agency":
            self.do(self.authority, "authority.license_agency", party=key.public_hex, licence=commitment)
        if license and role == "bank":
            self.do(self.authority, "authority.license_bank", party=key.public_hex, licence=commitment)
        return key

    def unit(self, owner: SigningKey, *, attest: bool = True, street: str = "衡山路", area: int = 68) -> str:
        tx = self.do(
            owner,
            "unit.register",
            district="徐汇区",
            street=street,
            neighbourhood="衡山坊",
            address_commitment=hashlib.sha256(b"addr" + str(self.height).encode()).hexdigest(),
            floor_area_m2=area,
            rooms=2,
        )
        uid = tx.txid[:16]
        if attest:
            cert = hashlib.sha256(b"cert" + uid.encode()).hexdigest()
            self.do(self.authority, "title.attest", unit=uid, certificate_commitment=cert)
        return uid


H = "ab" * 32
H2 = "cd" * 32


def lease_terms(**over: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "start": "2026-02-01",
        "end": "2027-01-31",
        "rent": 900_000,
        "deposit": 900_000,
        "payment_day": 5,
        "notice_days": 30,
        "collector": "landlord",
        "document_hash": H,
    }
    terms.update(over)
    return terms


def listing_terms(**over: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "rent": 900_000,
        "deposit": 900_000,
        "available_from": "2026-02-01",
        "min_term_months": 12,
        "description": "两居室",
        "photos": [H],
    }
    terms.update(over)
    return terms
