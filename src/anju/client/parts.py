"""Histories of any size: the multi-part history bundle (docs/PROTOCOL.md, "Bundles", format
``anju-history-parts-v1``), verified offline one part at a time.

A single ``anju-bundle-v1`` history holds every proof in one JSON document, which the server
caps (``BUNDLE_TOO_LARGE``). The parts format is JSON lines: a head (the checkpoint note and the
party's three records), parts of state entries and transactions, all proven against that one
checkpoint, and an end part. :class:`HistoryParts` checks each part as it comes, with the rules
of :func:`anju.client.verify.check_history`, and keeps only what later parts are checked against:
the credit entries' txids (to see each one proven once), per-factor sums, and the ids of the
party's tenancies and payments. A part's records, proofs and transactions are dropped once checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from anju.client.verify import (
    CREDIT_BASE,
    CREDIT_TXS,
    PAYMENT_TXS,
    Trust,
    VerifiedBundle,
    VerifiedHistory,
    _check_credit_txs,
    _check_landlord_side,
    _check_paid_leases,
    _check_payment,
    _check_renewals,
    _check_signed_lease,
    _disclosed,
    _need,
    _points,
    appointments,
    clamp_score,
    mandate_grants,
    new_id,
    verify_state,
    verify_tx,
)
from anju.crypto import jcs
from anju.crypto.tx import Tx
from anju.errors import AnjuError, VerificationError
from anju.ledger.checkpoint import Checkpoint

PARTS_FORMAT = "anju-history-parts-v1"
PARTS_MEDIA_TYPE = "application/x-ndjson"
MAX_LINE = 64 * 1024 * 1024
"""The longest line (part) a verifier reads, in bytes. A server writes parts of ~200 entries
(well under a megabyte); only the head can be larger, on a chain that keeps every credit entry in
the record (no ``credit_chunk``)."""

_HEAD_FIELDS = frozenset(
    {"format", "part", "kind", "subject", "chain_id", "checkpoint", "state", "claims", "disclosure"}
)
_PART_FIELDS = frozenset({"part", "note_sha256_hex", "state", "txs"})
_END_FIELDS = frozenset({"part", "note_sha256_hex", "end", "state", "txs"})


def _incomplete(reason: str, message: str, **details: Any) -> VerificationError:
    return VerificationError("BUNDLE_INCOMPLETE", message, reason=reason, **details)


def _malformed(reason: str, message: str, **details: Any) -> VerificationError:
    return VerificationError("BUNDLE_MALFORMED", message, reason=reason, **details)


def note_hash(note: str) -> str:
    """What every part after the head carries in ``note_sha256_hex``: SHA-256 of the head's
    checkpoint note (UTF-8), lowercase hex."""
    return hashlib.sha256(note.encode("utf-8")).hexdigest()


def split_lines(chunks: Iterable[bytes], limit: int = MAX_LINE) -> Iterator[bytes]:
    """The lines (without their LF) of a byte stream cut anywhere: BUNDLE_TOO_LARGE for a line
    longer than ``limit`` bytes (read no further), BUNDLE_INCOMPLETE for bytes after the last LF
    (a download cut short in the middle of a line)."""
    buf = bytearray()
    number = 0
    for chunk in chunks:
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            end = len(chunk) if nl < 0 else nl
            if len(buf) + end - start > limit:
                raise VerificationError(
                    "BUNDLE_TOO_LARGE",
                    f"line {number + 1} of the bundle is longer than {limit} bytes",
                    reason="line_too_long",
                    line=number + 1,
                    limit=limit,
                )
            buf += chunk[start:end]
            if nl < 0:
                break
            number += 1
            yield bytes(buf)
            buf.clear()
            start = nl + 1
    if buf:
        raise _incomplete("truncated", "the bundle ends in the middle of a line", line=number + 1)


def file_chunks(f: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """``f``'s bytes in chunks of ``size``, closing it at the end (or when the reader stops early:
    a dropped response)."""
    try:
        while chunk := f.read(size):
            yield chunk
    finally:
        f.close()


def is_parts(first: bytes) -> bool:
    """Whether a file beginning with the bytes ``first`` (its first line, or a prefix of it) is a
    multi-part history: its head names the parts format (the single bundle, ``anju-bundle-v1``,
    is one JSON document)."""
    line = first.split(b"\n", 1)[0]
    if PARTS_FORMAT.encode() not in line[:4096]:
        return False
    if b"\n" not in first:
        return True  # (a head longer than the prefix read: the format named near its start)
    try:
        doc = jcs.loads(line)
    except AnjuError:
        return False
    return isinstance(doc, dict) and doc.get("format") == PARTS_FORMAT


def is_parts_file(path: str | Path) -> bool:
    with Path(path).open("rb") as f:
        return is_parts(f.read(64 * 1024))


def _part(line: bytes, number: int) -> dict[str, Any]:
    """One line as a JSON object, read strictly (as :func:`load_bundle` reads a bundle)."""
    try:
        doc = jcs.loads(line)
    except AnjuError as exc:
        raise _malformed("not_json", f"line {number + 1} is not strict JSON: {exc.message}", line=number + 1) from None
    if not isinstance(doc, dict):
        raise _malformed("not_a_part", f"line {number + 1} is not a JSON object", line=number + 1)
    return doc


def _entries(doc: Mapping[str, Any], field: str, number: int) -> list[Any]:
    items = doc.get(field, [])
    if not isinstance(items, list):
        raise _malformed("not_a_part", f"part {number}'s {field} is not a list", part=number)
    return items


class HistoryParts:
    """Verifies a multi-part history line by line: :meth:`feed` each line (bytes, without its LF)
    in order, then :meth:`result`. Any failure raises a :class:`VerificationError`: the stream's
    own (``BUNDLE_INCOMPLETE``, ``BUNDLE_MALFORMED``, ``BUNDLE_TOO_LARGE`` from
    :func:`split_lines`), or what :func:`anju.client.verify.check_history` raises for the same
    records (``PROOF_INVALID``, ``CHECKPOINT_INVALID``)."""

    def __init__(self, trust: Trust | str) -> None:
        self.trust = Trust.of(trust) if isinstance(trust, str) else trust
        self.lines = 0
        self.ended = False
        self.note = ""  # the head's checkpoint note, once read
        self._cp: Checkpoint | None = None
        self._party = ""
        self._head: dict[str, Any] = {}  # meta/registry, party/<p>, credit/<p>
        self._authority = ""
        self._hash = ""
        self._identity: str | None = None
        # every credit entry's txid -> its entries [(factor, points)] while its transaction is awaited
        # (factor "": one a later edition added, whose transaction may come and is not read); None once
        # it came. One transaction has one entry per factor (a calling off may take back two factors'
        # credit: rules edition 8), none twice.
        self._credit: dict[str, list[tuple[str, int]] | None] = {}
        self._awaited = 0
        self._chunks: dict[str, list[int]] = {}  # factor -> [next chunk, its entries so far, their points]
        self._tenancies: set[str] = set()
        self._payment_ids: set[str] = set()
        self._leases: list[dict[str, Any]] = []
        self._payments: list[dict[str, Any]] = []
        self._counted = {"state": 0, "txs": 0}

    # -- reading --------------------------------------------------------------------------------
    def feed(self, line: bytes) -> None:
        number = self.lines
        if self.ended:
            raise _malformed("extra_part", f"line {number + 1} follows the end part", line=number + 1)
        doc = _part(line, number)
        self.lines += 1
        if number == 0:
            self._read_head(doc)
            return
        found = doc.get("part")
        if type(found) is not int or found != number:  # (not true for 1, nor 1.0)
            if type(found) is int and found > number:
                raise _incomplete("missing_part", f"part {number} is missing (part {found} follows)", expected=number)
            raise _malformed("out_of_order", f"part {found!r} where part {number} belongs", expected=number)
        if doc.get("note_sha256_hex") != self._hash:
            raise _malformed("other_checkpoint", f"part {number} is of another checkpoint than the head's", part=number)
        if doc.get("end") is True:
            self._read_end(doc, number)
        else:
            self._read_part(doc, number)

    def result(self) -> VerifiedHistory:
        """The verified history, once every line was fed (BUNDLE_INCOMPLETE before the end part)."""
        if not self.ended:
            raise _incomplete(
                "truncated",
                "the bundle ends before its end part" if self.lines else "the bundle is empty",
                parts=self.lines,
            )
        assert self._cp is not None
        credit = self._head[f"credit/{self._party}"]
        return VerifiedHistory(
            self._party,
            dict(self._head[f"party/{self._party}"]),
            None if credit is None else dict(credit),
            self._score(credit),
            self._leases,
            self._payments,
            self._cp,
            self._identity,
        )

    @property
    def checkpoint(self) -> Checkpoint:
        if self._cp is None:
            raise _incomplete("truncated", "no head read yet")
        return self._cp

    @property
    def subject(self) -> str:
        return self._party

    # -- the head ---------------------------------------------------------------------------------
    def _read_head(self, head: Mapping[str, Any]) -> None:
        if head.get("format") != PARTS_FORMAT or type(head.get("part")) is not int or head["part"] != 0:
            raise _malformed("not_a_head", f"the first line is not the head of an {PARTS_FORMAT} bundle")
        extra = sorted(set(head) - _HEAD_FIELDS)
        _need(head.get("kind") == "history", "a multi-part bundle is a history", kind=head.get("kind"))
        if extra:
            raise _malformed("unknown_field", "the head has fields a head has not", fields=extra)
        cp = self.trust.open(head.get("checkpoint"))
        _need(
            head.get("chain_id") == cp.origin,
            "the bundle's chain id is not the checkpoint's origin",
            chain_id=head.get("chain_id"),
            origin=cp.origin,
        )
        party = head.get("subject")
        _need(isinstance(party, str) and len(party) == 64, "the head names no party")
        assert isinstance(party, str)
        self._cp, self._party, self.note = cp, party, str(head["checkpoint"])
        self._hash = note_hash(self.note)
        wanted = {"meta/registry", f"party/{party}", f"credit/{party}"}
        for entry in _entries(head, "state", 0):
            key = entry.get("key") if isinstance(entry, Mapping) else None
            if not isinstance(key, str) or key not in wanted or key in self._head:
                raise _malformed("unexpected_key", "the head proves meta/registry, the party and its credit only")
            verify_state(key, entry.get("value"), entry.get("proof"), cp)
            self._head[key] = entry.get("value")
        self._counted["state"] += len(self._head)
        _need(set(self._head) == wanted, "the head leaves out a record", missing=sorted(wanted - set(self._head)))
        record = self._head[f"party/{party}"]
        _need(isinstance(record, Mapping), "the party is not registered", party=party)
        if "disclosure" in head:
            self._identity = _disclosed(record, head["disclosure"])
        credit = self._head[f"credit/{party}"]
        if credit is None:
            return
        _need(isinstance(credit, Mapping), "the credit record is not a record", party=party)
        factors = credit.get("factors")
        _need(isinstance(factors, Mapping), "the credit record has no factors", party=party)
        for name, f in factors.items():
            _need(
                isinstance(f, Mapping) and isinstance(f.get("entries"), list),
                "a credit factor is malformed",
                factor=name,
            )
        score = self._score(credit)
        _need(credit.get("score") == score, "the stored score does not follow from its factors", party=party)
        meta = self._head["meta/registry"]
        _need(isinstance(meta, Mapping) and isinstance(meta.get("authority"), str), "no proven housing authority key")
        self._authority = meta["authority"]
        for name, f in factors.items():
            self._chunks[str(name)] = [0, 0, 0]
            self._await(str(name), f["entries"])

    def _score(self, credit: Any) -> int:
        if credit is None:
            return CREDIT_BASE
        try:
            return clamp_score(sum(int(f["points"]) for f in credit["factors"].values()))
        except (KeyError, TypeError, ValueError):
            raise VerificationError("PROOF_INVALID", "a credit factor's points are not an integer") from None

    def _await(self, factor: str, entries: list[Any]) -> None:
        """The transactions behind ``entries`` must each come, once, in a later part."""
        _points(entries)  # (each entry is [txid, integer points])
        checked = factor in CREDIT_TXS
        for txid, points in entries:
            _need(isinstance(txid, str), "a credit entry is not [txid, points]", factor=factor)
            got = self._credit.setdefault(txid, [])
            _need(
                got is not None and all(f != factor for f, _ in got),
                "a transaction is counted twice in the credit record",
                party=self._party,
            )
            assert got is not None
            got.append((factor if checked else "", int(points)))
            self._awaited += checked

    # -- parts ------------------------------------------------------------------------------------
    def _read_part(self, doc: Mapping[str, Any], number: int) -> None:
        extra = sorted(set(doc) - _PART_FIELDS)
        if extra:
            raise _malformed("unknown_field", f"part {number} has fields a part has not", fields=extra, part=number)
        assert self._cp is not None
        cp, party = self._cp, self._party
        state: dict[str, Any] = dict(self._head)
        leases: list[Mapping[str, Any]] = []
        payments: list[Mapping[str, Any]] = []
        entries = _entries(doc, "state", number)
        for entry in entries:
            key = entry.get("key") if isinstance(entry, Mapping) else None
            if not isinstance(key, str) or key in state:
                raise _malformed("duplicate", f"a state entry of part {number} has no key, or one proven already")
            value = entry.get("value")
            verify_state(key, value, entry.get("proof"), cp)
            state[key] = value
            if key.startswith(f"credit/{party}/"):
                self._chunk(key, value)
            elif key.startswith(("lease/", "payment/")):
                kind = key.split("/", 1)[0]
                _need(
                    isinstance(value, Mapping) and key == f"{kind}/{value.get('id')}",
                    f"a {kind} is not its key's record",
                    key=key,
                )
                (leases if kind == "lease" else payments).append(value)
            else:
                raise _malformed("unexpected_key", "a history proves no such record", key=key[:200], part=number)
        txs: dict[str, Tx] = {}
        index: dict[str, int] = {}
        for entry in _entries(doc, "txs", number):
            if not isinstance(entry, Mapping):
                raise VerificationError("PROOF_INVALID", "a tx entry is not an object")
            tx = verify_tx(entry.get("leaf"), entry.get("index"), entry.get("hashes"), cp, entry.get("txid"))
            if tx.txid in txs:
                raise _malformed("duplicate", f"part {number} carries a transaction twice", txid=tx.txid)
            txs[tx.txid] = tx
            index[tx.txid] = entry["index"]  # (an int: verify_tx checked it)
        self._counted["state"] += len(entries)
        self._counted["txs"] += len(txs)
        vb = VerifiedBundle("history", party, cp, state, txs, index)
        # every transaction is one awaited: a credit entry's, or one a record of the part names (a
        # tenancy's signing and the mandate.grant of the mandate it is made through, a payment's
        # recording and answers, the appointment of an agent who answered: all checked below)
        tenancies = [lease for lease in leases if lease.get("tenant") == party]
        own: set[Any] = {lease.get("signed_tx") for lease in tenancies}
        mandates = {m for lease in tenancies if isinstance(m := lease.get("mandate"), str)}
        own.update(txid for txid, tx in txs.items() if tx.kind == "mandate.grant" and new_id(txid) in mandates)
        answered: set[tuple[str, str]] = set()
        for pay in payments:
            own.update(t for name in PAYMENT_TXS if isinstance(t := pay.get(name), str))
            for name in PAYMENT_TXS[1:]:
                answer = txs.get(t) if isinstance(t := pay.get(name), str) else None
                if answer is not None:
                    answered.add((str(pay.get("receiver")), answer.signer))
        own.update(
            txid
            for txid, tx in txs.items()
            if tx.kind == "agency.appoint_agent" and (tx.signer, tx.body.get("agent")) in answered
        )
        rows: dict[str, list[Any]] = {}
        for txid in txs:
            awaited = self._credit.get(txid)
            if awaited is not None:
                self._credit[txid] = None
                for factor, points in awaited:
                    if factor:
                        rows.setdefault(factor, []).append([txid, points])
                        self._awaited -= 1
                    # (else an entry of a factor a later edition added: its points summed, its tx not read)
            elif txid not in own:
                raise _malformed(
                    "unexpected_tx",
                    "a transaction no credit entry awaits and no record of its part names",
                    txid=txid,
                    part=number,
                )
        voided_here = _check_credit_txs(vb, party, self._authority, rows)  # (the leases a calling off voided)
        registered_here = {str(txs[txid].body.get("lease")) for txid, _ in rows.get("leases_registered", [])}
        registered_here |= voided_here
        grants = mandate_grants(vb)
        for lease in leases:
            if lease.get("tenant") != party:  # a lease the party registered as landlord or agency
                _need(
                    lease.get("id") in registered_here,
                    "a lease of the bundle is not the party's",
                    lease=lease.get("id"),
                )
                continue
            if lease.get("id") in self._tenancies:
                raise _malformed("duplicate", "a tenancy is in the bundle twice", lease=lease.get("id"))
            _check_signed_lease(vb, lease, party)
            _check_landlord_side(lease, grants)
            self._tenancies.add(str(lease["id"]))
            self._leases.append(dict(lease))
        appointed = appointments(vb)
        for pay in payments:
            if pay.get("id") in self._payment_ids:
                raise _malformed("duplicate", "a payment is in the bundle twice", payment=pay.get("id"))
            _check_payment(vb, pay, party, appointed)
            self._payment_ids.add(str(pay.get("id")))
            self._payments.append(dict(pay))

    def _chunk(self, key: str, chunk: Any) -> None:
        """A factor's archived chunk: the next one of its factor, named by its key, its points its
        entries'; its entries' transactions are awaited."""
        factor, _, k = key[len(f"credit/{self._party}/") :].rpartition("/")
        progress = self._chunks.get(factor)
        if progress is None or not k.isdigit() or int(k) != progress[0]:
            raise _malformed(
                "out_of_order",
                "a credit chunk of no factor of the record, or not the next chunk of its factor",
                key=key[:200],
                expected=None if progress is None else progress[0],
            )
        ident = (chunk.get("party"), chunk.get("factor"), chunk.get("chunk")) if isinstance(chunk, Mapping) else ()
        _need(
            ident == (self._party, factor, progress[0])
            and isinstance(chunk.get("entries"), list)
            and chunk.get("points") == _points(chunk["entries"]),
            "a credit chunk is not the one its key names, or its points are not its entries'",
            key=key,
        )
        self._await(factor, chunk["entries"])
        progress[0] += 1
        progress[1] += len(chunk["entries"])
        progress[2] += _points(chunk["entries"])

    # -- the end --------------------------------------------------------------------------------
    def _read_end(self, doc: Mapping[str, Any], number: int) -> None:
        extra = sorted(set(doc) - _END_FIELDS)
        if extra:
            raise _malformed("unknown_field", "the end part has fields an end part has not", fields=extra)
        counted = {"state": self._counted["state"], "txs": self._counted["txs"]}
        said = {"state": doc.get("state"), "txs": doc.get("txs")}
        if said != counted or any(type(n) is not int for n in said.values()):  # (not true for 1)
            raise _incomplete("count_mismatch", "the end part counts other entries than the parts hold", **said)
        credit = self._head[f"credit/{self._party}"]
        if isinstance(credit, Mapping):
            for name, f in credit["factors"].items():
                chunks, count, points = self._chunks[str(name)]
                _need(
                    count + len(f["entries"]) == f.get("count"),
                    "a credit factor's entries are incomplete",
                    factor=name,
                    chunks=chunks,
                )
                _need(
                    points + _points(f["entries"]) == f.get("points"),
                    "a credit factor's points are not its entries'",
                    factor=name,
                )
        if self._awaited:
            txid, factor = next((t, f) for t, a in self._credit.items() if a for f, _ in a if f)
            kind = CREDIT_TXS[factor][0]
            raise VerificationError("PROOF_INVALID", f"no inclusion proof for the {kind} transaction", txid=txid)
        tenancies = {str(lease["id"]): lease for lease in self._leases}
        _check_renewals(tenancies)
        _check_paid_leases(tenancies, self._payments)
        self.ended = True


def verify_history_parts(lines: Iterable[bytes], trust: Trust | str) -> VerifiedHistory:
    """Verify a multi-part history from its lines (see :func:`split_lines`), with no network."""
    check = HistoryParts(trust)
    for line in lines:
        check.feed(line)
    return check.result()


def verify_history_file(path: str | Path, trust: Trust | str, limit: int = MAX_LINE) -> VerifiedHistory:
    """Verify a multi-part history file (``anju check FILE``), reading it a megabyte at a time."""
    with Path(path).open("rb") as f:
        return verify_history_parts(split_lines(file_chunks(f), limit), trust)
