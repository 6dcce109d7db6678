"""Self-contained proof bundles (docs/PROTOCOL.md, section "Bundles").

A bundle holds one signed checkpoint note, state entries ``{key, value, proof}`` proven against
its state root, and transactions ``{txid, index, leaf, hashes}`` proven against its log root;
all read in one snapshot. ``claims`` repeats what the server concludes; verifiers re-derive it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from itertools import islice
from typing import Any

import orjson

import anju.api.errors  # noqa: F401  (registers BUNDLE_TOO_LARGE)
from anju.api.snapshot import Snapshot
from anju.client.verify import MAX_CODE_CANDIDATES
from anju.errors import AnjuError
from anju.registry import vcode
from anju.registry.credit import chunk_keys, chunk_of

FORMAT = "anju-bundle-v1"
MAX_TXS = 500
HISTORY_MAX_TXS = 5_000
"""A history proves a transaction for every credit entry (and each lease's and payment's): a tenant
of many years needs a few hundred. Past this the server answers BUNDLE_TOO_LARGE rather than a
bundle short of transactions, which the verifier would refuse."""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


class BundleBuilder:
    """Collects proven keys and transactions from one snapshot."""

    def __init__(self, snap: Snapshot, kind: str, subject: str, chain_id: str, max_txs: int = MAX_TXS) -> None:
        self.s = snap
        self.max_txs = max_txs
        self.truncated = False  # a transaction was left out: the bundle holds max_txs
        self.kind = kind
        self.subject = subject
        self.chain_id = chain_id
        self._keys: dict[str, dict[str, Any]] = {}
        self._txs: dict[str, dict[str, Any]] = {}

    def key(self, key: str | None) -> Any:
        """Add ``key`` (with its value, or its absence) and return the decoded value."""
        if key is None:
            return None
        if key in self._keys:
            return self._keys[key]["value"]
        raw = self.s.state_get(key)
        value = None if raw is None else orjson.loads(raw)
        self._keys[key] = {"key": key, "value": value, "proof": self.s.state_proof(key).to_json()}
        return value

    def txs(self, txids: Iterable[str | None]) -> None:
        size = self.s.head.log_size
        for txid in txids:
            if not txid or txid in self._txs:
                continue
            if len(self._txs) >= self.max_txs:
                self.truncated = True
                continue
            found = self.s.tx(txid)
            if found is None:
                continue
            idx, _height, leaf = found
            proof = self.s.inclusion_proof(idx, size)
            self._txs[txid] = {"txid": txid, "index": idx, "leaf": _b64(leaf), "hashes": [_b64(h) for h in proof]}

    def tx_body(self, txid: str) -> dict[str, Any] | None:
        """The body of committed transaction ``txid`` (None if there is none): from the leaf the
        bundle already holds when it has it, else read."""
        held = self._txs.get(txid)
        if held is not None:
            leaf = base64.b64decode(held["leaf"])
        else:
            found = self.s.tx(txid)
            if found is None:
                return None
            leaf = found[2]
        body: dict[str, Any] = orjson.loads(leaf)["body"]
        return body

    def build(self, claims: dict[str, Any]) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "subject": self.subject,
            "chain_id": self.chain_id,
            "checkpoint": self.s.head.checkpoint,
            "state": list(self._keys.values()),
            "txs": list(self._txs.values()),
            "claims": claims,
        }


def listing_bundle(snap: Snapshot, chain_id: str, code: str, listing_id: str) -> dict[str, Any]:
    """Everything needed to verify a listing offline: code, listing, unit, title, mandate, parties, txs."""
    b = BundleBuilder(snap, "listing", code, chain_id)
    b.key("meta/registry")  # the housing authority's key: who may attest titles
    b.key(f"code/{code}")
    listing = b.key(f"listing/{listing_id}")
    for taken in islice(vcode.candidates(listing["published_tx"]), MAX_CODE_CANDIDATES):
        if taken == code:
            break
        b.key(f"code/{taken}")  # a code tried before this one, held by another listing (verifiers check)
    unit = b.key(f"unit/{listing['unit']}")
    title = b.key(f"title/{listing['title']}") if listing.get("title") else None
    mandate = b.key(f"mandate/{listing['mandate']}") if listing.get("mandate") else None
    b.key(f"party/{listing['publisher']}")
    b.key(f"party/{listing['owner']}")
    if listing.get("agent"):
        b.key(f"party/{listing['agent']}")
    b.txs([listing.get("published_tx"), listing.get("status_tx")])
    if unit is not None:
        b.txs([unit.get("registered_tx"), unit.get("title_tx")])
    if title is not None:
        b.txs([title.get("tx")])
    if mandate is not None:
        b.txs([mandate.get("granted_tx"), mandate.get("status_tx")])
    return b.build({"listing": listing_id, "code": code})


def history_bundle(snap: Snapshot, chain_id: str, party: str) -> dict[str, Any]:
    """A tenant's rental history: party, credit record, leases as tenant and their payments."""
    b = BundleBuilder(snap, "history", party, chain_id, max_txs=HISTORY_MAX_TXS)
    meta = b.key("meta/registry")  # the authority's key, and the chain's credit_chunk
    b.key(f"party/{party}")
    credit = b.key(f"credit/{party}")
    lease_keys = [
        r[0]
        for r in snap.query(
            "SELECT key FROM state WHERE key LIKE 'lease/%' AND json_extract(value,'$.tenant')=? ORDER BY key", (party,)
        )
    ]
    leases = []
    for k in lease_keys:
        lease = b.key(k)
        leases.append(lease["id"])
        b.txs([lease.get("signed_tx")])
        reg = lease.get("registration")
        if isinstance(reg, dict):
            b.txs([reg.get("tx")])
    payments: list[str] = []
    if leases:
        marks = ",".join("?" * len(leases))
        for (k,) in snap.query(
            f"SELECT key FROM state WHERE key LIKE 'payment/%' AND json_extract(value,'$.lease') IN ({marks}) "
            "ORDER BY key",
            leases,
        ):
            pay = b.key(k)
            payments.append(pay["id"])
            b.txs([pay.get("recorded_tx"), pay.get("confirmed_tx")])
    if isinstance(credit, dict):
        chunk = chunk_of(meta)
        for name, f in credit.get("factors", {}).items():
            entries = []
            for key in chunk_keys(party, name, f, chunk):  # the entries the record no longer holds
                archived = b.key(key)
                if isinstance(archived, dict):  # (else proven absent: the verifier refuses the bundle)
                    entries += archived.get("entries", [])
            entries += f.get("entries", [])
            b.txs(txid for txid, _pts in entries)
            if name == "leases_registered":  # every lease the credit counts, also where the party is not the tenant
                for txid, _pts in entries:
                    body = b.tx_body(txid)
                    if body is not None:
                        b.key(f"lease/{body.get('lease')}")
    if b.truncated:
        raise AnjuError(
            "BUNDLE_TOO_LARGE",
            f"this history needs more than {b.max_txs} proven transactions, more than a bundle carries",
            party=party,
            limit=b.max_txs,
        )
    return b.build(
        {
            "party": party,
            "leases": leases,
            "payments": payments,
            "score": None if credit is None else credit.get("score"),
        }
    )


def registration_bundle(snap: Snapshot, chain_id: str, number: str) -> dict[str, Any]:
    """A lease registration (备案) as proof of residence: the registration, its lease, the unit's
    approximate place, the parties' records, and the transactions that signed, registered and
    (if so) terminated the lease."""
    b = BundleBuilder(snap, "registration", number, chain_id)
    b.key("meta/registry")  # the housing authority's key: who registers leases
    reg = b.key(f"registration/{number}")
    lease = b.key(f"lease/{reg['lease']}")
    unit = b.key(f"unit/{lease['unit']}")
    for who in (lease["tenant"], lease["landlord"], lease.get("agency")):
        if who:
            b.key(f"party/{who}")
    termination = lease.get("termination")
    b.txs(
        [
            lease.get("signed_tx"),
            lease["registration"]["tx"],
            termination.get("tx") if isinstance(termination, dict) else None,
            unit.get("registered_tx") if isinstance(unit, dict) else None,
        ]
    )
    parent, depth = lease.get("parent"), 0
    while parent and depth < 8:  # a sublease ended with the lease it lies in: prove that lease's chain
        up = b.key(f"lease/{parent}")
        parent, depth = (up or {}).get("parent"), depth + 1
    return b.build({"number": number, "lease": lease["id"]})
