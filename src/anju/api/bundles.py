"""Self-contained proof bundles (docs/PROTOCOL.md, section "Bundles").

A bundle holds one signed checkpoint note, state entries ``{key, value, proof}`` proven against
its state root, and transactions ``{txid, index, leaf, hashes}`` proven against its log root;
all read in one snapshot. ``claims`` repeats what the server concludes; verifiers re-derive it.
"""

from __future__ import annotations

import base64
import bisect
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import IO, Any

import orjson

from anju.api.snapshot import Reader, Snapshot
from anju.client.parts import PARTS_FORMAT, note_hash
from anju.client.verify import CREDIT_TXS, MAX_CODE_CANDIDATES, PAYMENT_TXS, VOID_CREDIT, disclosure_of
from anju.errors import AnjuError, Overloaded
from anju.ledger.store import ref_key
from anju.registry import vcode
from anju.registry.credit import chunk_keys, chunk_of

FORMAT = "anju-bundle-v1"
MAX_TXS = 500
HISTORY_MAX_TXS = 5_000
"""A history proves a transaction for every credit entry (and each lease's and payment's): a tenant
of many years needs a few hundred. Past this the server answers BUNDLE_TOO_LARGE rather than a
bundle short of transactions, which the verifier would refuse: a larger history is served in
parts (:func:`write_history_parts`)."""
PART_ENTRIES = 200
PART_BYTES = 1 << 19
"""A part is closed once it holds this many state entries or transactions, or about this many bytes
of values and leaves (a part's records stay together, so one may hold a few more)."""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


class BundleBuilder:
    """Collects proven keys and transactions from one snapshot. The proofs are made by :meth:`build`
    (still in the snapshot): a history refused as too large for one bundle has made none."""

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
        self._keys[key] = {"key": key, "value": value}  # (its proof: at build)
        return value

    def txs(self, txids: Iterable[str | None]) -> None:
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
            self._txs[txid] = {"txid": txid, "index": idx, "leaf": _b64(leaf)}  # (its inclusion proof: at build)

    def build(self, claims: dict[str, Any]) -> dict[str, Any]:
        size = self.s.head.log_size
        for entry in self._keys.values():
            entry["proof"] = self.s.state_proof(entry["key"]).to_json()
        for tx in self._txs.values():
            tx["hashes"] = [_b64(h) for h in self.s.inclusion_proof(tx["index"], size)]
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


def tenancy_txs(snap: Snapshot, lease: Any) -> list[str]:
    """The transactions a history proves with a tenancy ``lease``: its ``lease.sign`` /
    ``lease.renew``, and for a lease made through a mandate that mandate's ``mandate.grant`` (which
    names the lease's agency: docs/PROTOCOL.md, "Bundles"). A renewal's sides are checked against
    the lease it continues, itself a tenancy of the history: no earlier transaction is needed."""
    if not isinstance(lease, dict):
        return []
    out = [t for t in (lease.get("signed_tx"),) if isinstance(t, str)]
    mid = lease.get("mandate")
    raw = snap.state_get(f"mandate/{mid}") if isinstance(mid, str) else None
    granted = None if raw is None else orjson.loads(raw).get("granted_tx")
    if isinstance(granted, str):
        out.append(granted)
    return out


def payment_txs(snap: Snapshot, pay: Any, appointments: Appointments | None = None) -> list[str]:
    """The transactions a history proves with payment ``pay``: the tenant's ``rent.pay`` /
    ``deposit.lodge``, the receiving side's ``payment.confirm`` / ``payment.refuse``, and for an
    answer an agent signed, the latest ``agency.appoint_agent`` of that agent by the receiver
    logged before it (docs/PROTOCOL.md, "Bundles"; ``appointments``: those read for earlier
    payments of the same history)."""
    if not isinstance(pay, dict):
        return []
    out = [t for name in PAYMENT_TXS if isinstance(t := pay.get(name), str)]
    for name in PAYMENT_TXS[1:]:
        txid = pay.get(name)
        found = snap.tx(txid) if isinstance(txid, str) else None
        if found is None:
            continue
        signer = orjson.loads(found[2])["body"].get("signer")  # (the index too: not tx_body)
        if signer == pay.get("receiver") or not isinstance(signer, str):
            continue
        appointed = (appointments or Appointments(snap)).latest(signer, str(pay.get("receiver")), found[0])
        if appointed is not None and appointed not in out:
            out.append(appointed)
    return out


def tenancy_keys(snap: Snapshot, party: str) -> list[str]:
    """The state keys of the leases ``party`` is the tenant of, in key order."""
    sql = "SELECT key FROM state WHERE key LIKE 'lease/%' AND json_extract(value,'$.tenant')=? ORDER BY key"
    return [str(k) for (k,) in snap.query(sql, (party,))]


def payment_keys(snap: Snapshot, leases: Sequence[str], batch: int = 500) -> Iterator[str]:
    """The state keys of the payments of ``leases``, ``batch`` leases a query (in key order within one)."""
    for i in range(0, len(leases), batch):
        some = leases[i : i + batch]
        sql = (
            "SELECT key FROM state WHERE key LIKE 'payment/%' AND json_extract(value,'$.lease') IN "
            f"({','.join('?' * len(some))}) ORDER BY key"
        )
        yield from (str(k) for (k,) in snap.query(sql, some))


def void_subtree_keys(snap: Snapshot, txid: str) -> list[str]:
    """For a ``lease.terminate`` (``txid``): the state keys of the lease it names and of its subleases
    at any depth, which a history proves with a credit entry it took back from a lease called off
    before it began (docs/PROTOCOL.md, "Bundles"); none for another transaction."""
    body = snap.tx_body(txid) or {}
    if body.get("kind") != "lease.terminate":
        return []
    out, todo = [], [str(body.get("lease"))]
    while todo:
        key = f"lease/{todo.pop()}"
        if key in out:
            continue
        out.append(key)
        raw = snap.state_get(key)
        lease = {} if raw is None else orjson.loads(raw)
        todo.extend(str(sub) for sub in lease.get("subleases", []))
    return out


class Appointments:
    """Agents' ``agency.appoint_agent`` transactions, read once per (agent, agency) for a whole
    history (found through the events naming the agent)."""

    def __init__(self, snap: Snapshot) -> None:
        self.s = snap
        self._of: dict[tuple[str, str], list[tuple[int, str]]] = {}

    def latest(self, agent: str, agency: str, before: int) -> str | None:
        """The txid of the latest appointment of ``agent`` by ``agency`` at a log index below
        ``before``, or None."""
        rows = self._of.get((agent, agency))
        if rows is None:
            rows = self._of[(agent, agency)] = self._read(agent, agency)
        i = bisect.bisect_left(rows, (before, ""))
        return rows[i - 1][1] if i else None

    def _read(self, agent: str, agency: str) -> list[tuple[int, str]]:
        out = []
        for idx, txid in self.s.query(
            "SELECT e.idx, e.txid FROM event_refs r JOIN events e ON e.id = r.id "
            "WHERE r.ref = ? AND e.kind = 'agent.appointed' ORDER BY e.idx",
            (ref_key("p:" + agent),),
        ):
            body = self.s.tx_body(txid) or {}
            if (body.get("kind"), body.get("signer"), body.get("agent")) == ("agency.appoint_agent", agency, agent):
                out.append((int(idx), str(txid)))
        return out


def appointment_of_publisher(snap: Snapshot, listing: Any) -> str | None:
    """For a listing an agent published: the txid of the latest ``agency.appoint_agent`` of that
    agent by the publishing agency logged before its ``listing.publish`` (the appointment it
    published under, also once the agent was dismissed or appointed again since; None if there
    is none, and then the verifier refuses the listing)."""
    if not isinstance(listing, dict) or not isinstance(agent := listing.get("agent"), str):
        return None
    published = listing.get("published_tx")
    found = snap.tx(published) if isinstance(published, str) else None
    if found is None:
        return None
    return Appointments(snap).latest(agent, str(listing.get("publisher")), found[0])


def listing_bundle(snap: Snapshot, chain_id: str, code: str, listing_id: str) -> dict[str, Any]:
    """Everything needed to verify a listing offline: code, listing, unit, title, mandate, parties,
    txs, and for a listing an agent published the agency's appointment of that agent."""
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
    b.txs([listing.get("published_tx"), listing.get("status_tx"), appointment_of_publisher(snap, listing)])
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
    leases = []
    for k in tenancy_keys(snap, party):
        lease = b.key(k)
        leases.append(lease["id"])
        b.txs(tenancy_txs(snap, lease))
        reg = lease.get("registration")
        if isinstance(reg, dict):
            b.txs([reg.get("tx")])
    payments: list[str] = []
    appointments = Appointments(snap)
    for k in payment_keys(snap, leases):
        pay = b.key(k)
        payments.append(pay["id"])
        b.txs(payment_txs(snap, pay, appointments))
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
                    body = snap.tx_body(txid)
                    if body is not None:
                        b.key(f"lease/{body.get('lease')}")
            if name in VOID_CREDIT:  # credit taken back: the leases the calling off voided (edition 8)
                for txid, pts in entries:
                    if pts < 0:
                        for key in void_subtree_keys(snap, txid):
                            b.key(key)
    if b.truncated:
        raise AnjuError(
            "BUNDLE_TOO_LARGE",
            f"this history needs more than {b.max_txs} proven transactions, more than a bundle carries: "
            "ask for it in parts (?format=parts)",
            party=party,
            limit=b.max_txs,
            parts=f"/api/v1/parties/{party}/history?format=parts",
        )
    return b.build(
        {
            "party": party,
            "leases": leases,
            "payments": payments,
            "score": None if credit is None else credit.get("score"),
        }
    )


RENEWALS_PROVEN = 100
"""How far back a registration bundle follows a renewed lease (a renewal a year: a century)."""


def registration_bundle(snap: Snapshot, chain_id: str, number: str) -> dict[str, Any]:
    """A lease registration (备案) as proof of residence: the registration, its lease, the unit's
    approximate place, the parties' records, and the transactions that signed, registered and
    (if so) terminated the lease; for a lease made through a mandate the owner's ``mandate.grant``
    (it names the agency), and for a renewal the leases it continues, each with its signing
    transactions, down to the ``lease.sign`` (they bind its landlord side: docs/PROTOCOL.md)."""
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
            lease["registration"]["tx"],
            termination.get("tx") if isinstance(termination, dict) else None,
            unit.get("registered_tx") if isinstance(unit, dict) else None,
        ]
    )
    earlier: Any = lease
    for _ in range(RENEWALS_PROVEN):  # the lease, then each lease it continues (a renewal's sides are theirs)
        b.txs(tenancy_txs(snap, earlier))
        previous = earlier.get("previous") if isinstance(earlier, dict) else None
        if not previous:
            break
        earlier = b.key(f"lease/{previous}")
    parent, depth = lease.get("parent"), 0
    while parent and depth < 8:  # a sublease ended with the lease it lies in: prove that lease's chain
        up = b.key(f"lease/{parent}")
        parent, depth = (up or {}).get("parent"), depth + 1
    return b.build({"number": number, "lease": lease["id"]})


# -- histories in parts ----------------------------------------------------------------------------
class _Parts:
    """Writes a multi-part history (docs/PROTOCOL.md, "Bundles"), one line per part, holding one
    part at a time: a part is written once it holds :data:`PART_ENTRIES` entries or transactions."""

    def __init__(self, snap: Snapshot, out: IO[bytes]) -> None:
        self.s = snap
        self.out = out
        self.size = snap.head.log_size
        self.hash = note_hash(snap.head.checkpoint)
        self.number = 1
        self.state: list[dict[str, Any]] = []
        self.txs: list[dict[str, Any]] = []
        self.held: set[str] = set()  # the txids of the part's transactions
        self.keys: dict[str, Any] = {}  # the part's state keys, with their values
        self.counts = {"state": 0, "txs": 0}
        self.bytes = 0

    def key(self, key: str) -> Any:
        """Add ``key`` with its proof to the part (once); its value."""
        if key in self.keys:
            return self.keys[key]
        raw = self.s.state_get(key)
        value = None if raw is None else orjson.loads(raw)
        self.keys[key] = value
        self.state.append({"key": key, "value": value, "proof": self.s.state_proof(key).to_json()})
        self.bytes += 1500 + (0 if raw is None else len(raw))
        return value

    def tx(self, txid: Any) -> None:
        """Add committed transaction ``txid`` with its inclusion proof (nothing for one not committed:
        the verifier then says which is missing; nothing for one the part holds already)."""
        found = self.s.tx(txid) if isinstance(txid, str) and txid not in self.held else None
        if found is None:
            return
        self.held.add(txid)
        idx, _height, leaf = found
        proof = self.s.inclusion_proof(idx, self.size)
        self.txs.append({"txid": txid, "index": idx, "leaf": _b64(leaf), "hashes": [_b64(h) for h in proof]})
        self.bytes += 200 + len(leaf) * 4 // 3 + 48 * len(proof)

    def done(self) -> None:
        """A group of entries that belong together is complete: the part may end here."""
        if len(self.state) >= PART_ENTRIES or len(self.txs) >= PART_ENTRIES or self.bytes >= PART_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.state and not self.txs:
            return
        part = {"part": self.number, "note_sha256_hex": self.hash, "state": self.state, "txs": self.txs}
        self.out.write(orjson.dumps(part) + b"\n")
        self.counts["state"] += len(self.state)
        self.counts["txs"] += len(self.txs)
        self.number += 1
        self.state, self.txs, self.bytes = [], [], 0
        self.held, self.keys = set(), {}

    def end(self) -> None:
        self.flush()
        end = {"part": self.number, "note_sha256_hex": self.hash, "end": True, **self.counts}
        self.out.write(orjson.dumps(end) + b"\n")


def write_history_parts(
    snap: Snapshot, chain_id: str, party: str, out: IO[bytes], disclosure: tuple[str, str] | None = None
) -> int:
    """Write a party's history of any size as a multi-part bundle to ``out``; the number of lines.

    What it proves is what :func:`history_bundle` proves, grouped so that the verifier checks each
    part with what the part and the head carry: the head (checkpoint, ``meta/registry``, the party,
    its credit record), the credit record's archived chunks, each tenancy with its transactions
    (:func:`tenancy_txs`) and the credit transactions that read it (its registration, its calling off), each
    of its payments with its transactions (:func:`payment_txs`), each lease the party registered as
    another side with those transactions, then the remaining credit transactions. Memory: one part,
    and the txids of the credit entries (whose transactions are written once, with what they need).
    ``disclosure``: the party's own (identity, salt), which must open its commitment (ValueError)."""
    w = _Parts(snap, out)
    head_keys = ["meta/registry", f"party/{party}", f"credit/{party}"]
    meta, record, credit = (w.key(k) for k in head_keys)
    head: dict[str, Any] = {
        "format": PARTS_FORMAT,
        "part": 0,
        "kind": "history",
        "subject": party,
        "chain_id": chain_id,
        "checkpoint": snap.head.checkpoint,
        "state": w.state,
        "claims": {"party": party, "score": None if credit is None else credit.get("score")},
    }
    if disclosure is not None:
        head["disclosure"] = disclosure_of(record, *disclosure)
    out.write(orjson.dumps(head) + b"\n")
    w.counts["state"] += len(w.state)
    w.state, w.bytes = [], 0
    # the archived chunks; every credit entry's txid, with its factor, until its transaction is written
    awaited: dict[str, str] = {}
    if isinstance(credit, dict):
        chunk = chunk_of(meta)
        for name, f in credit.get("factors", {}).items():
            for key in chunk_keys(party, name, f, chunk):
                archived = w.key(key)
                for txid, _pts in archived.get("entries", []) if isinstance(archived, dict) else []:
                    awaited.setdefault(txid, name)
                w.done()
            for txid, _pts in f.get("entries", []):
                awaited.setdefault(txid, name)
        awaited = {txid: name for txid, name in awaited.items() if name in CREDIT_TXS}

    def with_voided(txid: str) -> None:  # a transaction a credit entry awaits, with what it voided
        for key in void_subtree_keys(snap, txid):
            w.key(key)
        w.tx(txid)

    def credited(txid: Any) -> None:
        if isinstance(txid, str) and awaited.pop(txid, None) is not None:
            with_voided(txid)

    def lease_txs(lease: dict[str, Any]) -> None:
        reg, term = lease.get("registration"), lease.get("termination")
        credited(reg.get("tx") if isinstance(reg, dict) else None)
        credited(term.get("tx") if isinstance(term, dict) else None)

    def paid(pay: Any) -> None:  # a payment's transactions, in its part (one a credit entry awaits included)
        for txid in payment_txs(snap, pay, appointments):
            awaited.pop(txid, None)
            w.tx(txid)

    appointments = Appointments(snap)
    tenancies: list[str] = []
    for k in tenancy_keys(snap, party):
        lease = w.key(k)
        tenancies.append(lease["id"])
        for txid in tenancy_txs(snap, lease):  # (a mandate's grant again in each part whose tenancies need it)
            w.tx(txid)
        lease_txs(lease)
        w.done()
    for k in payment_keys(snap, tenancies):
        paid(w.key(k))
        w.done()
    for txid in list(awaited):  # (a copy: those written with an earlier record leave the dict)
        name = awaited.pop(txid, None)
        if name is None:
            continue
        body = snap.tx_body(txid) or {}
        if body.get("kind") == "lease.terminate":  # credit taken back from leases it voided (edition 8)
            with_voided(txid)
        elif name == "leases_registered":  # a lease registered with the party as landlord or agency
            lease = w.key(f"lease/{body.get('lease')}")
            w.tx(txid)
            if isinstance(lease, dict):
                lease_txs(lease)
        elif name in ("rent_on_time", "rent_late"):  # (a payment of no tenancy: the verifier says so)
            paid(w.key(f"payment/{body.get('payment')}"))
            w.tx(txid)
        else:
            w.tx(txid)
        w.done()
    w.end()
    return w.number + 1


PARTS_AT_ONCE = 2
"""Histories in parts built at the same time, at most: each takes a core while it is built and a
temporary file of about 3.7 KB per transaction; past it the server answers ``BUSY`` (503, Retry-After)."""
_parts_builds = threading.BoundedSemaphore(PARTS_AT_ONCE)


def history_parts_file(
    reader: Reader, chain_id: str, party: str, disclosure: tuple[str, str] | None = None
) -> IO[bytes] | None:
    """A party's multi-part history in an anonymous temporary file, rewound (None for an unknown
    party), built in one snapshot that closes before anything is sent: a slow download never holds
    a read transaction open. Call it off the event loop. At most :data:`PARTS_AT_ONCE` are built
    at once (``BUSY`` otherwise)."""
    if not _parts_builds.acquire(blocking=False):
        raise Overloaded("BUSY", "the node is building other large histories; retry later", retry_after=10)
    try:
        out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
        try:
            with reader.snapshot() as snap:
                if snap.state_get(f"party/{party}") is None:
                    out.close()
                    return None
                write_history_parts(snap, chain_id, party, out, disclosure)
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return out
    finally:
        _parts_builds.release()
