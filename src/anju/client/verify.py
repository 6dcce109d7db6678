"""Offline verification of everything the API returns; no network, no trust in the server.

Trust starts from the node's published verifier key (C2SP signed-note ``vkey``), or several keys
and a threshold. From a checkpoint note signed by it, this module checks RFC 9162 inclusion
proofs of transactions, state proofs of keys, whole bundles, and what a listing or a rental
history claims. Any failure raises :class:`anju.errors.VerificationError` carrying its evidence.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from anju.client.remember import one_history
from anju.crypto import jcs
from anju.crypto.commitments import opens
from anju.crypto.tx import Tx, parse_and_verify
from anju.errors import AnjuError, VerificationError
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.handover import Handover, handovers_in
from anju.ledger.note import Verifier, parse_note, quorum
from anju.ledger.statemap import verify_state_proof

BUNDLE_FORMAT = "anju-bundle-v1"
CREDIT_BASE, CREDIT_FLOOR, CREDIT_CEILING = 600, 0, 1000  # docs/REGISTRY.md, section "Credit record"


def _fail(code: str, message: str, **evidence: Any) -> VerificationError:
    return VerificationError(code, message, **evidence)


def unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise _fail("PROOF_INVALID", f"{what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _fail("PROOF_INVALID", f"{what} is not valid base64") from None


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_date(text: Any) -> bool:
    """A real calendar date written YYYY-MM-DD (not 2026-02-30, not 1999, not 20260101)."""
    if not isinstance(text, str) or not _DAY.fullmatch(text):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _judged_on(at: str | None) -> str:
    """The date a verdict is for: ``at``, a YYYY-MM-DD date (BAD_REQUEST otherwise), or today (UTC)."""
    if at is None:
        return today()
    if not is_date(at):
        raise _fail("BAD_REQUEST", "not a date (YYYY-MM-DD)", date=str(at)[:40])
    return at


@dataclass(frozen=True, slots=True)
class Trust:
    """Whose checkpoint signatures are believed: verifier keys and how many must sign.

    A note's signers are counted by key name, so ``threshold`` is at most the number of distinct
    names, and no public key may be trusted twice (under two names it would count twice).
    ``origin``: the chain id the checkpoints must be of (None: any the keys sign); keys that sign
    for several chains (or a test chain) must not make one chain's proofs pass for another's."""

    verifiers: tuple[Verifier, ...]
    threshold: int
    origin: str | None = None
    since: int = 0
    """The first height these keys verify; a note of an earlier height is verified with the key of
    its height in ``earlier`` (:meth:`with_history`)."""
    earlier: tuple[tuple[int, Trust], ...] = ()
    """(from height, the trust of the heights from it up to the next entry's, or ``since``)."""
    handovers: tuple[Handover, ...] = ()
    """The recorded last blocks of earlier keys (:meth:`with_history`), which bound the log sizes
    the notes of every height may claim (:meth:`check_handovers`)."""
    # notes already verified with these keys (a note's text fixes its signature check's outcome)
    _opened: dict[str, Checkpoint] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _one_name_per_key(self.verifiers)
        names = len({v.name for v in self.verifiers})
        if not self.verifiers or not 1 <= self.threshold <= names:
            raise ValueError("need at least one verifier key and 1 <= threshold <= number of key names")

    def with_history(self, schedule: Iterable[Sequence[Any]]) -> Trust:
        """This trust, for a node whose signer changed: ``schedule`` lists the node's signers by
        height as its ledger's ``meta.verifier_keys`` does, ``[[from_height, vkey], ...]``, from
        height 0, heights increasing. Its last key must be one of this trust's keys, which verify
        the heights from that entry's on; each earlier key alone (one signature) verifies the
        heights from its entry's up to the next. An earlier key's entry may carry a third element,
        its hand-over: the last block it signed, ``{"height": <the next entry's height - 1>,
        "log_size": n, "log_root": <base64>}`` (:class:`Handover`), which bounds what its notes
        (and the later keys') may claim (:meth:`check_handovers`); an entry without it leaves its
        key's heights unbounded. ValueError for a schedule that is not one."""
        entries = [tuple(e) for e in schedule]
        if not entries:
            return self
        if any(len(e) not in (2, 3) or type(e[0]) is not int or not isinstance(e[1], str) for e in entries):
            raise ValueError("a key schedule is a list of [from_height, verifier key] pairs (or with a hand-over)")
        heights = [int(e[0]) for e in entries]
        if heights[0] != 0 or any(a >= b for a, b in pairwise(heights)):
            raise ValueError(f"a key schedule starts at height 0, heights increasing: {heights}")
        if len(entries[-1]) == 3:
            raise ValueError("the key schedule's last key signs on: its entry has no hand-over")
        handovers = handovers_in(entries)
        last = Trust.of(str(entries[-1][1])).verifiers[0]
        if last not in self.verifiers:
            raise ValueError(f"the key schedule's last key, {entries[-1][1]}, is not one of the trusted keys")
        earlier = tuple((int(e[0]), Trust.of(str(e[1]), origin=self.origin)) for e in entries[:-1])
        return Trust(self.verifiers, self.threshold, self.origin, heights[-1], earlier, handovers)

    def check_handovers(self, cp: Checkpoint) -> None:
        """Refuse a checkpoint that contradicts a recorded hand-over (h, n, root), the last block an
        earlier key signed: a note of a height before h claims a log of at most n entries, of h
        exactly n entries, of a later height at least n, and a log of n entries has that root. So
        an earlier key cannot date into its heights a transaction the log holds after its last
        block, nor a later key one before it. PROOF_INVALID, reason ``beyond_handover``."""
        for ho in self.handovers:
            if cp.size == ho.size and cp.root != ho.root:
                why = f"its log of {cp.size} entries has another root than block {ho.height}'s"
            elif cp.height == ho.height and cp.size != ho.size:
                why = f"its log (size {cp.size}) is not the recorded one of that block (size {ho.size})"
            elif cp.height < ho.height and cp.size > ho.size:
                why = f"it claims a log of {cp.size} entries, more than the {ho.size} of block {ho.height}"
            elif cp.height > ho.height and cp.size < ho.size:
                why = f"it claims a log of {cp.size} entries, fewer than the {ho.size} of block {ho.height}"
            else:
                continue
            raise _fail(
                "PROOF_INVALID",
                f"block {cp.height}'s checkpoint contradicts the recorded hand-over (block {ho.height}, "
                f"the last an earlier key signed): {why}",
                reason="beyond_handover",
                height=cp.height,
                size=cp.size,
                handover_height=ho.height,
                handover_size=ho.size,
            )

    def at(self, height: int) -> Trust:
        """The trust that verifies a checkpoint of ``height``."""
        if height >= self.since:
            return self
        return next((t for h, t in reversed(self.earlier) if h <= height), self)

    def open_any_height(self, note: Any) -> Checkpoint:
        """:meth:`open`, with the keys of the height the note names (:meth:`with_history`)."""
        if not self.earlier or not isinstance(note, str):
            return self.open(note)
        text = note.rpartition("\n\n")[0] + "\n"
        try:
            claimed = Checkpoint.from_text(text).height
        except AnjuError:
            return self.open(note)  # (malformed: refused as such)
        return self.at(claimed).open(note)

    @classmethod
    def of(cls, vkeys: str | Iterable[str], threshold: int | None = None, origin: str | None = None) -> Trust:
        """Trust the verifier keys ``vkeys``. ``threshold=None``: one signature for one key, and
        ⌊2n/3⌋ + 1 for n keys (a consortium's rule, docs/PROTOCOL.md §8): trusting a consortium's
        keys means trusting the consortium, not whichever one member signed."""
        keys = [vkeys] if isinstance(vkeys, str) else list(vkeys)
        try:
            verifiers = tuple(Verifier.from_vkey(k.strip()) for k in keys)
        except AnjuError as exc:
            raise _fail("CHECKPOINT_INVALID", f"bad verifier key: {exc.message}", **exc.details) from None
        if not verifiers:
            raise ValueError("need at least one verifier key")
        if threshold is None:
            threshold = quorum(len({v.name for v in verifiers}))
        return cls(verifiers, threshold, origin)

    def open(self, note: Any) -> Checkpoint:
        """The checkpoint in ``note`` if enough trusted keys signed it; else CHECKPOINT_INVALID."""
        if not isinstance(note, str):
            raise _fail("CHECKPOINT_INVALID", "the checkpoint note is missing", reason="malformed")
        cp = self._opened.get(note)
        if cp is None:
            try:
                cp = Checkpoint.open(note, self.verifiers, self.threshold)
            except VerificationError as exc:
                code = exc.code if exc.code in ("CHECKPOINT_INVALID", "PROOF_INVALID") else "CHECKPOINT_INVALID"
                raise _fail(code, f"checkpoint rejected: {exc.message}", **exc.details) from None
            if len(self._opened) >= 64:
                self._opened.clear()
            self._opened[note] = cp
        if self.origin is not None and cp.origin != self.origin:
            raise _fail(
                "CHECKPOINT_INVALID",
                "checkpoint of another chain",
                reason="wrong_origin",
                origin=cp.origin,
                expected=self.origin,
            )
        return cp


def _one_name_per_key(verifiers: Sequence[Verifier]) -> None:
    """Refuse a public key listed twice: the note counts signers by name, so one key under two
    names would meet a threshold of two with one holder's signatures (CHECKPOINT_INVALID,
    reason ``ambiguous_verifiers``)."""
    seen: dict[bytes, str] = {}
    for v in verifiers:
        if v.public in seen:
            raise _fail(
                "CHECKPOINT_INVALID",
                "one public key appears twice among the trusted verifier keys",
                reason="ambiguous_verifiers",
                names=[seen[v.public], v.name],
            )
        seen[v.public] = v.name


def check_fresh(cp: Checkpoint, max_age: float | None, now: float | None = None) -> None:
    """Refuse ``cp`` if its block time is more than ``max_age`` seconds before ``now`` (default: the
    clock): CHECKPOINT_INVALID, reason ``stale``. A genuine checkpoint stays valid forever, so a
    server (or a bundle's holder) can present an old state as current; a reader who needs a recent
    one says how old is too old (None: any age)."""
    if max_age is None:
        return
    made = datetime.fromisoformat(cp.time.replace("Z", "+00:00")).timestamp()
    at = time.time() if now is None else now
    if made < at - max_age:
        raise _fail(
            "CHECKPOINT_INVALID",
            f"the checkpoint is {at - made:.0f} s old, more than {max_age:g} s",
            reason="stale",
            time=cp.time,
            height=cp.height,
            max_age=max_age,
        )


def verify_tx(leaf_b64: Any, index: Any, hashes: Any, cp: Checkpoint, txid: str | None = None) -> Tx:
    """Check that the leaf sits at ``index`` in the checkpoint's log and is a validly signed envelope."""
    leaf = unb64(leaf_b64, "leaf")
    if type(index) is not int or not isinstance(hashes, list):
        raise _fail("PROOF_INVALID", "inclusion proof needs an integer index and a list of hashes")
    proof = [unb64(h, "proof hash") for h in hashes]
    merkle.verify_inclusion(merkle.leaf_hash(leaf), index, cp.size, proof, cp.root)
    try:
        tx = parse_and_verify(leaf)
    except AnjuError as exc:
        raise _fail("PROOF_INVALID", f"the proven leaf is not a valid envelope: {exc.message}", index=index) from None
    if jcs.canonicalize(tx.envelope()) != leaf:
        raise _fail("PROOF_INVALID", "the leaf is not JCS(envelope)", index=index)
    if txid is not None and tx.txid != txid:
        raise _fail("PROOF_INVALID", "the proven transaction has a different id", expected=txid, found=tx.txid)
    return tx


def _open_of_height(trust: Trust, note: Any, what: str) -> Checkpoint:
    """A height proof's note opened with the keys of its height; one signed by none of them is
    CHECKPOINT_INVALID, reason ``no_known_signature``, saying which height and names signed it
    and how to give the key history of a node whose signer changed."""
    try:
        return trust.open_any_height(note)
    except VerificationError as exc:
        if exc.details.get("reason") != "no_known_signature" or not isinstance(note, str):
            raise
        try:
            parsed = parse_note(note)
            claimed: int | None = Checkpoint.from_text(parsed.text).height
            names = list(dict.fromkeys(sig.name for sig in parsed.signatures))
        except AnjuError:
            claimed, names = None, []
        if trust.earlier:
            how = (
                "the key history given names another key for that height: check it against the "
                "ledger's (meta.verifier_keys, GET /node's verifier_keys)"
            )
        else:
            how = (
                "if the node's signer changed (a consortium started from a node's ledger), earlier "
                "blocks were signed by an earlier key: give its key history, "
                "AnjuClient(…, key_history=[[0, earlier vkey], [from_height, vkey], …]), as the "
                "consortium's consortium.json records it (anju.chain.consortium.key_history_of; "
                "--consortium DIR on the command line)"
            )
        raise _fail(
            "CHECKPOINT_INVALID",
            f"the height proof's {what} checkpoint (block {claimed}) is signed by none of the keys "
            f"trusted for that height (its signature lines name {', '.join(names) or 'no key'}); {how}",
            **{**exc.details, "height": claimed, "signers": names, "key_history": bool(trust.earlier)},
        ) from None


def verify_height(height: Any, index: int, proof: Any, head: Checkpoint, trust: Trust) -> Checkpoint:
    """Check that the transaction at log ``index`` of ``head``'s log (its inclusion already proven)
    was committed in block ``height``; the checkpoint of that block (docs/PROTOCOL.md, "Height
    proofs"). ``proof`` holds the signed notes of blocks ``height`` and ``height`` - 1, verified
    with the keys of their heights (:meth:`Trust.with_history`): their log sizes must bracket the
    index, size(h - 1) <= index < size(h), and consistency proofs must link the earlier log to the
    later and that to the head's (one log), and no note may contradict a recorded hand-over
    (:meth:`Trust.check_handovers`). A failure is PROOF_INVALID with ``details.reason``
    (``height_unproven``, ``wrong_height``, ``not_bracketing``, ``not_consistent``,
    ``beyond_handover``), or CHECKPOINT_INVALID for a note the keys did not sign."""
    if not isinstance(proof, Mapping):
        raise _fail(
            "PROOF_INVALID",
            "the answer does not prove the transaction's height (a node older than this client?)",
            reason="height_unproven",
            index=index,
        )
    if type(height) is not int or height < 1:
        raise _fail("PROOF_INVALID", "a transaction's height is an integer of at least 1", reason="wrong_height")
    block = _open_of_height(trust, proof.get("block"), "block")
    previous = _open_of_height(trust, proof.get("previous"), "previous")
    for cp in (previous, block, head):
        trust.check_handovers(cp)
    if block.height != height or previous.height != height - 1:
        raise _fail(
            "PROOF_INVALID",
            f"the height proof's checkpoints are of heights {block.height} and {previous.height}, "
            f"not of {height} and the one before",
            reason="wrong_height",
            height=height,
            block_height=block.height,
            previous_height=previous.height,
        )
    if not previous.size <= index < block.size:
        raise _fail(
            "PROOF_INVALID",
            f"log index {index} is not among block {height}'s transactions (from {previous.size} to {block.size - 1})",
            reason="not_bracketing",
            index=index,
            height=height,
            previous_size=previous.size,
            block_size=block.size,
        )
    if block.origin != head.origin or previous.origin != head.origin:
        raise _fail(
            "CHECKPOINT_INVALID", "a height proof's checkpoint of another chain", reason="wrong_origin", height=height
        )
    for (lo, hi), what in (((previous, block), "previous_to_block"), ((block, head), "block_to_head")):
        hashes = proof.get(what)
        if not isinstance(hashes, list):
            raise _fail("PROOF_INVALID", f"the height proof's {what} is not a list", reason="not_consistent")
        try:
            if lo.size > 0:
                merkle.verify_consistency(lo.size, hi.size, [unb64(h, what) for h in hashes], lo.root, hi.root)
            elif hashes or lo.root != merkle.EMPTY_ROOT:
                raise _fail("PROOF_INVALID", "an empty log has the empty root and needs no proof")
        except VerificationError as exc:
            raise _fail(
                "PROOF_INVALID",
                f"block {lo.height}'s log is not proven part of block {hi.height}'s: {exc.message}",
                reason="not_consistent",
                height=height,
                first=lo.height,
                second=hi.height,
            ) from None
    one_history(previous, block)
    one_history(block, head)
    return block


def verify_state(key: str, value: Any, proof: Any, cp: Checkpoint) -> None:
    """Check that under the checkpoint's state root ``key`` holds ``value`` (None: is absent).

    The value must lie in Anju's JSON domain (I-JSON: integers within ±(2^53-1), no floats):
    JCS of anything else is not what the ledger hashed (NaN is written as null, a float as 1.0), so
    a value parsed loosely could verify as another one."""
    try:
        jcs.check_domain(value)
    except AnjuError as exc:
        raise _fail("PROOF_INVALID", f"the value is not Anju JSON: {exc.message}", key=key) from None
    raw = None if value is None else jcs.canonicalize(value)
    if not isinstance(proof, Mapping):
        raise _fail("PROOF_INVALID", "state proof missing", key=key)
    verify_state_proof(cp.state_root, key, raw, proof)


@dataclass(frozen=True, slots=True)
class VerifiedBundle:
    """A bundle whose every entry verified against ``checkpoint``."""

    kind: str
    subject: str
    checkpoint: Checkpoint
    state: dict[str, Any]  # key -> value (None: proven absent)
    txs: dict[str, Tx]  # txid -> envelope proven in the log
    index: dict[str, int] = field(default_factory=dict)  # txid -> its proven index in the log

    def get(self, key: str) -> Any:
        if key not in self.state:
            raise _fail("PROOF_INVALID", f"the bundle has no proof for {key}", key=key)
        return self.state[key]


def _listed(bundle: Mapping[str, Any], field: str) -> list[Any]:
    """A bundle's ``state`` or ``txs``: a list (absent or null: none); PROOF_INVALID for anything else."""
    items = bundle.get(field)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _fail("PROOF_INVALID", f"the bundle's {field} is not a list", field=field)
    return items


def open_bundle(bundle: Any, trust: Trust | str) -> VerifiedBundle:
    """Verify every state entry and transaction of a bundle against its checkpoint (no semantics)."""
    t = Trust.of(trust) if isinstance(trust, str) else trust
    if not isinstance(bundle, Mapping) or bundle.get("format") != BUNDLE_FORMAT:
        raise _fail("PROOF_INVALID", f"not an {BUNDLE_FORMAT} bundle")
    cp = t.open(bundle.get("checkpoint"))
    if bundle.get("chain_id") != cp.origin:
        raise _fail(
            "PROOF_INVALID",
            "the bundle's chain id is not the checkpoint's origin",
            chain_id=bundle.get("chain_id"),
            origin=cp.origin,
        )
    state: dict[str, Any] = {}
    for entry in _listed(bundle, "state"):
        key = entry.get("key") if isinstance(entry, Mapping) else None
        if not isinstance(key, str) or key in state:
            raise _fail("PROOF_INVALID", "a state entry has no key, or a duplicate key")
        verify_state(key, entry.get("value"), entry.get("proof"), cp)
        state[key] = entry.get("value")
    txs: dict[str, Tx] = {}
    index: dict[str, int] = {}
    for entry in _listed(bundle, "txs"):
        if not isinstance(entry, Mapping):
            raise _fail("PROOF_INVALID", "a tx entry is not an object")
        tx = verify_tx(entry.get("leaf"), entry.get("index"), entry.get("hashes"), cp, entry.get("txid"))
        txs[tx.txid] = tx
        index[tx.txid] = entry["index"]  # (an int: verify_tx checked it)
    return VerifiedBundle(str(bundle.get("kind")), str(bundle.get("subject")), cp, state, txs, index)


# -- listings -------------------------------------------------------------------------------------
_CODE_ALPHABET_ORDER = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_CODE_ALPHABET = frozenset(_CODE_ALPHABET_ORDER)
_CODE_READS_AS = {"O": "0", "I": "1", "L": "1"}


def canonical_code(text: str) -> str | None:
    """The canonical listing code a person typed (any case, dashes and spaces, O for 0, I and L for
    1), or None: docs/REGISTRY.md, "Listings and codes" (the registry's ``vcode.normalize``)."""
    s = "".join(_CODE_READS_AS.get(ch, ch) for ch in text.upper() if ch not in "- ")
    return s if len(s) == 10 and all(ch in _CODE_ALPHABET for ch in s) else None


def listing_status(
    listing: Mapping[str, Any],
    mandate: Mapping[str, Any] | None,
    date: str,
    parties: Iterable[Mapping[str, Any] | None] = (),
) -> tuple[str, str | None]:
    """(live | expired | withdrawn | revoked | suspended, reason) at ``date``; docs/REGISTRY.md,
    "Listing status": a listing that would be live is ``suspended`` while the authority has
    suspended one of ``parties`` (its publisher, its unit's owner)."""
    status, reason = _stored_status(listing, mandate, date)
    if status == "live" and any(p is not None and p.get("status") == "suspended" for p in parties):
        return "suspended", "party_suspended"
    if status == "live" and any(p is not None and p.get("role") == "agency" and not p.get("licensed") for p in parties):
        return "suspended", "licence_revoked"  # (rules edition 6: authority.revoke_licence)
    return status, reason


def _stored_status(listing: Mapping[str, Any], mandate: Mapping[str, Any] | None, date: str) -> tuple[str, str | None]:
    if listing["status"] != "live":
        return str(listing["status"]), listing.get("status_reason")
    if mandate is not None and not (mandate["status"] == "active" and mandate["from"] <= date <= mandate["to"]):
        return "revoked", "mandate_revoked" if mandate["status"] == "revoked" else "mandate_ended"
    let_from = listing.get("let_from")  # (rules edition 8: the first day of the unit's next lease)
    if isinstance(let_from, str) and let_from <= date and let_from < listing["expires_on"]:
        return "revoked", "leased"
    if date >= listing["expires_on"]:
        return "expired", "code_expired"
    return "live", None


@dataclass(frozen=True, slots=True)
class VerifiedListing:
    """A listing proven against a trusted checkpoint, and what it means at ``date``."""

    code: str
    status: str
    reason: str | None
    date: str
    listing: dict[str, Any]
    unit: dict[str, Any]
    title: dict[str, Any]
    mandate: dict[str, Any] | None
    publisher: dict[str, Any]
    owner: dict[str, Any]
    authority: str
    checkpoint: Checkpoint
    txs: dict[str, Tx] = field(default_factory=dict)

    @property
    def genuine(self) -> bool:
        """The unit exists, its title is attested, and the publisher is entitled to publish."""
        return True  # a VerifiedListing only exists when all of that verified

    @property
    def live(self) -> bool:
        return self.status == "live"


def _need(cond: bool, message: str, **evidence: Any) -> None:
    if not cond:
        raise _fail("PROOF_INVALID", message, **evidence)


def _tx_of(vb: VerifiedBundle, txid: Any, kind: str, by: Sequence[str] | None, *, cosigned: bool = False) -> Tx:
    """The proven transaction ``txid``, of ``kind``, the act of one of ``by``: its body's
    ``signer``, the key the registry takes as the one acting (None: by anyone the registry accepted
    for it, checked by the caller if at all). A co-signature is not that party's act: the registry
    derives who acted from ``body.signer`` alone (a unit's owner, a title's attesting authority, a
    mandate's granting owner, a listing's publisher or agent, a payment's payer, the authority of a
    registration, a dispute's or a report's resolution and a suspension), so a transaction of
    someone else's that one of ``by`` merely co-signed proves nothing of the kind.

    ``cosigned``: one of ``by`` need only be among the envelope's signers (``sigs``), for the one
    party whose signature the registry requires wherever it stands: a lease's tenant, who signs a
    ``lease.sign`` / ``lease.renew`` beside the landlord side (usually that side's transaction)."""
    _need(isinstance(txid, str) and txid in vb.txs, f"no inclusion proof for the {kind} transaction", txid=txid)
    tx = vb.txs[txid]
    _need(tx.kind == kind, f"transaction {txid} is a {tx.kind}, not a {kind}", txid=txid)
    if by is not None and cosigned:
        _need(bool(set(by) & tx.signers), f"the {kind} transaction is not signed by the right party", txid=txid)
    elif by is not None:
        _need(
            tx.signer in by,
            f"the {kind} transaction is not the right party's: its signer is another key"
            + (" (the party only co-signed it)" if set(by) & tx.signers else ""),
            txid=txid,
            signer=tx.signer,
        )
    return tx


# A lying checkpoint signer can sign any state, but not the parties' transactions: every record is
# bound to the transaction that created it, by its id (docs/REGISTRY.md: an object's id is the
# first 16 hex digits of that txid) and by the fields that transaction set and nothing changes later.
UNIT_REGISTERED = ("district", "street", "neighbourhood", "address_commitment", "floor_area_m2", "rooms")
"""A unit's fields as its ``unit.register`` set them (no transaction changes them)."""
LISTING_PUBLISHED = ("unit", "mandate", "rent", "deposit", "available_from", "min_term_months", "description", "photos")
"""A listing's fields as its ``listing.publish`` set them (renewals and withdrawals change none)."""
LISTING_FROM_UNIT = ("district", "street", "neighbourhood", "rooms", "floor_area_m2")
"""A listing's copy of its unit's public place and size."""
MANDATE_GRANTED = ("unit", "agency", "exclusive", "from", "to", "may_sign", "min_rent")
"""A mandate's fields as its owner's ``mandate.grant`` set them (a revocation changes only its status)."""
LEASE_TERMS = ("end", "rent", "deposit", "payment_day", "notice_days", "collector", "document_hash")
"""The terms both sides sign in ``lease.sign`` and ``lease.renew`` (a termination moves
``ends_on``, never ``end``)."""
LEASE_SIGNED = ("unit", "landlord", "tenant", "mandate", "listing", "parent", "start", *LEASE_TERMS)
"""A ``lease.sign`` body's fields as the lease keeps them (a renewal's start, unit, sides and
parent come from the lease it continues instead)."""
MAX_CODE_CANDIDATES = 64
"""How far down a txid's code candidates a verifier follows (each one before the code must be
proven taken): 63 collisions of 50-bit codes in a row do not happen to a genuine listing."""


def new_id(txid: str) -> str:
    """The id of the object a transaction created (the registry's ``layout.new_id``)."""
    return txid[:16]


def _encode_code(n: int) -> str:
    return "".join(_CODE_ALPHABET_ORDER[(n >> (5 * (9 - i))) & 31] for i in range(10))


def code_candidates(txid: str) -> Iterator[str]:
    """The listing codes a ``listing.publish`` txid gives, in the registry's order of trying them
    (``vcode.candidates``; docs/REGISTRY.md, "Listings and codes"): its first 50 bits, then those
    of SHA-256("anju-listing-code" ‖ LF ‖ txid ‖ LF ‖ i) for i = 1, 2, ..."""
    yield _encode_code(int(txid[:13], 16) >> 2)
    i = 1
    while True:
        digest = hashlib.sha256(f"anju-listing-code\n{txid}\n{i}".encode()).hexdigest()
        yield _encode_code(int(digest[:13], 16) >> 2)
        i += 1


def _differing(record: Mapping[str, Any], body: Mapping[str, Any], fields: Iterable[str]) -> list[str]:
    """The ``fields`` on which a record differs from the transaction body that set them."""
    return [f for f in fields if record.get(f) != body.get(f)]


def _check_made_by(record: Mapping[str, Any], tx: Tx, fields: Iterable[str], what: str) -> None:
    """``record`` is the one ``tx`` created: its id is derived from the txid and ``fields`` are the body's."""
    _need(record.get("id") == new_id(tx.txid), f"the {what}'s id is not derived from its {tx.kind}", txid=tx.txid)
    differ = _differing(record, tx.body, fields)
    _need(not differ, f"the {what} does not say what its {tx.kind} said", fields=differ, txid=tx.txid)


def _check_unit(vb: VerifiedBundle, unit: Mapping[str, Any]) -> None:
    """The unit is the one its owner registered: id, place and size from the owner's ``unit.register``."""
    rtx = _tx_of(vb, unit.get("registered_tx"), "unit.register", [unit["owner"]])
    _check_made_by(unit, rtx, UNIT_REGISTERED, "unit")


def _check_code(vb: VerifiedBundle, code: str, lid: str, txid: str) -> None:
    """``code`` is the one the registry gave the listing published by ``txid``: the first of the
    txid's candidates that no listing held yet, so each candidate before it is proven taken (a
    code is never freed) by another listing."""
    for i, candidate in enumerate(code_candidates(txid)):
        if candidate == code:
            return
        _need(
            i + 1 < MAX_CODE_CANDIDATES,
            "the code is not derived from the listing.publish transaction",
            listing_code=code,
        )
        taken = vb.state.get(f"code/{candidate}")
        _need(
            isinstance(taken, Mapping) and taken.get("code") == candidate and taken.get("listing") != lid,
            "the code is not derived from the listing.publish transaction (an earlier candidate is not proven taken)",
            listing_code=code,
            candidate=candidate,
        )


def _check_appointed(vb: VerifiedBundle, listing: Mapping[str, Any], ptx: Tx) -> None:
    """The agent who signed a listing's ``listing.publish`` (``ptx``, the listing's ``agent``) acted
    for the publishing agency: ``party/<agent>`` is proven, a party of role ``agent``, and the bundle
    proves an ``agency.appoint_agent`` of that agent signed by the publisher (as the envelope's
    signer) at a lower log index than the ``listing.publish``. The agent's record need not name
    the agency still, nor its ``appointed_tx`` be that appointment: an agency dismisses an agent
    (``agency``, ``appointed_tx`` null) or appoints it again (``appointed_tx`` the newer one)
    without touching the listings it published; the server adds the latest appointment before the
    publication. (Not checked: that the agent was not dismissed between that appointment and the
    publication, which the registry refuses but only a proof of absence from that stretch of the
    log could show, nor whether the agent or its agency were suspended then.)"""
    agent, publisher = str(listing["agent"]), str(listing["publisher"])
    record = vb.get(f"party/{agent}")
    _need(
        isinstance(record, Mapping) and record.get("id") == agent and record.get("role") == "agent",
        "the listing's agent is not a registered agent",
        agent=agent,
    )
    since = appointments(vb).get((publisher, agent))
    _need(
        since is not None,
        "the listing.publish is signed by an agent the bundle does not prove its publisher appointed "
        "(no agency.appoint_agent of that agent by the publishing agency)",
        agent=agent,
        publisher=publisher,
        txid=ptx.txid,
    )
    published_at = vb.index.get(ptx.txid)
    _need(
        since is not None and published_at is not None and since < published_at,
        "the listing.publish is signed by an agent the bundle proves appointed by its publisher only after it",
        agent=agent,
        publisher=publisher,
        txid=ptx.txid,
    )


def check_listing(vb: VerifiedBundle, code: str, date: str | None = None) -> VerifiedListing:
    """Re-derive from proven records alone that the listing with ``code`` is genuine, and its status
    at ``date`` (YYYY-MM-DD; default today). The records are as of the proof's checkpoint and keep
    no earlier state, so a ``date`` before the checkpoint's day is refused (BAD_REQUEST, reason
    ``date_before_checkpoint``): the status then could differ, and the listing may not have existed."""
    at = _judged_on(date)
    entry = vb.get(f"code/{code}")
    _need(isinstance(entry, Mapping), "the code is proven absent: no listing has it", listing_code=code)
    _need(entry.get("code") == code, "the code record names another code", listing_code=code)
    lid = entry["listing"]
    listing = vb.get(f"listing/{lid}")
    _need(
        isinstance(listing, Mapping) and listing.get("id") == lid and listing.get("code") == code,
        "the listing record does not match the code",
        listing=lid,
    )
    meta = vb.get("meta/registry")
    _need(isinstance(meta, Mapping) and isinstance(meta.get("authority"), str), "no proven housing authority key")
    authority = meta["authority"]
    unit = vb.get(f"unit/{listing['unit']}")
    _need(
        isinstance(unit, Mapping) and unit.get("id") == listing["unit"], "the unit does not exist", unit=listing["unit"]
    )
    _need(unit.get("owner") == listing.get("owner"), "the listing's owner is not the unit's owner")
    _check_unit(vb, unit)
    differ = _differing(listing, unit, LISTING_FROM_UNIT)
    _need(not differ, "the listing does not describe its unit as registered", fields=differ)
    _need(unit.get("title") is not None and unit["title"] == listing.get("title"), "the unit's title is not attested")
    title = vb.get(f"title/{unit['title']}")
    _need(
        isinstance(title, Mapping)
        and title.get("unit") == unit["id"]
        and title.get("certificate_commitment") == unit["title"],
        "the title attestation does not match the unit",
    )
    ttx = _tx_of(vb, title.get("tx"), "title.attest", [authority])
    _need(
        ttx.body.get("unit") == unit["id"] and ttx.body.get("certificate_commitment") == unit["title"],
        "the title.attest transaction attests something else",
    )
    publisher = vb.get(f"party/{listing['publisher']}")
    owner = vb.get(f"party/{listing['owner']}")
    _need(isinstance(publisher, Mapping) and isinstance(owner, Mapping), "the publisher or owner is not registered")
    mandate = None
    if listing.get("publisher_role") == "owner":
        _need(
            listing["publisher"] == unit["owner"] and not listing.get("mandate") and listing.get("agent") is None,
            "an owner listing must be published by the owner, without a mandate or an agent",
        )
    else:
        mid = listing.get("mandate")
        _need(isinstance(mid, str), "an agency listing needs a mandate")
        mandate = vb.get(f"mandate/{mid}")
        _need(
            isinstance(mandate, Mapping)
            and mandate.get("id") == mid
            and mandate.get("unit") == unit["id"]
            and mandate.get("agency") == listing["publisher"]
            and mandate.get("owner") == unit["owner"],
            "the mandate does not authorise this publisher for this unit",
            mandate=mid,
        )
        gtx = _tx_of(vb, mandate.get("granted_tx"), "mandate.grant", [unit["owner"]])
        _need(
            gtx.body.get("unit") == unit["id"] and gtx.body.get("agency") == listing["publisher"],
            "the mandate.grant transaction grants something else",
        )
        _check_made_by(mandate, gtx, MANDATE_GRANTED, "mandate")  # (its term decides the listing's status)
    agent = listing.get("agent")
    ptx = _tx_of(vb, listing.get("published_tx"), "listing.publish", [listing["publisher"] if agent is None else agent])
    _need(ptx.body.get("unit") == unit["id"], "the listing.publish transaction is for another unit")
    if agent is not None:
        _check_appointed(vb, listing, ptx)
    _check_made_by(listing, ptx, LISTING_PUBLISHED, "listing")
    _check_code(vb, code, lid, ptx.txid)
    as_of = vb.checkpoint.time[:10]
    if date is not None and at < as_of:
        raise _fail(
            "BAD_REQUEST",
            f"a listing's status can be judged from {as_of} on: the proof shows its record as of that day's "
            "checkpoint, which keeps no earlier state",
            reason="date_before_checkpoint",
            date=at,
            as_of=vb.checkpoint.time,
        )
    status, reason = listing_status(listing, mandate, at, (publisher, owner))
    return VerifiedListing(
        code,
        status,
        reason,
        at,
        dict(listing),
        dict(unit),
        dict(title),
        None if mandate is None else dict(mandate),
        dict(publisher),
        dict(owner),
        authority,
        vb.checkpoint,
        vb.txs,
    )


# -- rental histories -----------------------------------------------------------------------------
def credit_score(vb: VerifiedBundle, party: str, record: Mapping[str, Any]) -> int:
    """Recompute a party's credit score from the entries behind it (docs/REGISTRY.md: clamp(600 +
    points, 0, 1000)): each factor's entries are its archived chunks ``credit/<party>/<factor>/<k>``
    (k = 0, 1, ... as long as the bundle proves one) then the record's own; every one must be there."""
    return _score_of(record, credit_entries(vb, party, record))


def _score_of(record: Mapping[str, Any], entries: Mapping[str, list[Any]]) -> int:
    """The score of a record whose factors :func:`credit_entries` checked (``entries``)."""
    return clamp_score(sum(int(record["factors"][name]["points"]) for name in entries))


def clamp_score(points: int) -> int:
    """The score of a credit record whose factors add up to ``points`` (docs/REGISTRY.md)."""
    return max(CREDIT_FLOOR, min(CREDIT_CEILING, CREDIT_BASE + points))


def credit_entries(vb: VerifiedBundle, party: str, record: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every ``[txid, points]`` entry of each factor of a party's credit record, its archived chunks
    first; PROOF_INVALID unless every chunk is proven and the counts and points add up."""
    out: dict[str, list[Any]] = {}
    factors = record.get("factors")
    if not isinstance(factors, Mapping):
        raise _fail("PROOF_INVALID", "the credit record has no factors", party=party)
    for name, f in factors.items():
        _need(
            isinstance(f, Mapping) and isinstance(f.get("entries"), list), "a credit factor is malformed", factor=name
        )
        entries: list[Any] = []
        k = 0
        while vb.state.get(key := f"credit/{party}/{name}/{k}") is not None:
            chunk = vb.state[key]
            ident = (chunk.get("party"), chunk.get("factor"), chunk.get("chunk")) if isinstance(chunk, Mapping) else ()
            named = ident == (party, name, k)
            _need(
                named and isinstance(chunk.get("entries"), list) and chunk.get("points") == _points(chunk["entries"]),
                "a credit chunk is not the one its key names, or its points are not its entries'",
                key=key,
            )
            entries += chunk["entries"]
            k += 1
        entries += f["entries"]
        _need(len(entries) == f.get("count"), "a credit factor's entries are incomplete", factor=name, chunks=k)
        _need(_points(entries) == f.get("points"), "a credit factor's points are not its entries'", factor=name)
        out[str(name)] = entries
    return out


# factor -> (the kind of transaction behind each entry, whether the authority signs it, its fixed
# points or None); docs/REGISTRY.md, "Credit record" (the client does not import the registry)
CREDIT_TXS: dict[str, tuple[str, bool, int | None]] = {
    "leases_registered": ("lease.register", True, 5),
    "rent_on_time": ("payment.confirm", False, 2),
    "rent_late": ("payment.confirm", False, -5),
    "deposit_settled": ("deposit.accept", False, 5),
    "disputes_lost": ("dispute.resolve", True, None),
    "fake_listings": ("report.resolve", True, -50),
    "reviews": ("review.write", False, None),
    "suspensions": ("authority.suspend", True, -100),
}


def _check_credit_txs(vb: VerifiedBundle, party: str, authority: str, entries: Mapping[str, list[Any]]) -> set[str]:
    """Each credit entry is backed by a proven transaction of its factor's kind (signed by the
    authority where the authority decides) that gives those points to this party, once in a factor;
    and the history's own records are all there: every registered lease the party is a side of,
    every rent payment confirmed for them. A holder cannot leave out a lease or a payment their
    credit counts. Returns the ids of the leases the callings off behind negative entries name, with
    their subleases (:func:`void_subtree`): records the bundle holds that need not be the party's."""
    for rows in entries.values():  # (one transaction may give one party an entry in two factors:
        # a calling off takes back both a registration's and the rent's credit, rules edition 8)
        txids = [str(txid) for txid, _ in rows]
        _need(len(set(txids)) == len(txids), "a transaction is counted twice in the credit record", party=party)
    walked: set[str] = set()  # the leases a calling off behind a negative entry names (and their subleases)
    for name, rows in entries.items():
        if name not in CREDIT_TXS:
            continue  # a factor of a later edition: its points are summed, its transactions not checked
        kind, by_authority, fixed = CREDIT_TXS[name]
        for txid, points in rows:
            if name in VOID_CREDIT and type(points) is int and points < 0:
                walked |= _check_void_credit(vb, party, str(txid), name, points)  # (editions 5 and 8)
                continue
            tx = _tx_of(vb, txid, kind, [authority] if by_authority else None)
            body = tx.body
            fixed_here = fixed if name != "rent_late" else None  # (checked against the payment below)
            _need(fixed_here is None or points == fixed, "a credit entry's points are not its factor's", factor=name)
            if name == "leases_registered":
                lease = vb.state.get(f"lease/{body.get('lease')}")
                _need(
                    isinstance(lease, Mapping)
                    and isinstance(lease.get("registration"), Mapping)
                    and lease["registration"].get("tx") == txid
                    and party in (lease.get("tenant"), lease.get("landlord"), lease.get("agency")),
                    "the bundle leaves out a registered lease the party's credit counts",
                    lease=body.get("lease"),
                )
            elif name in ("rent_on_time", "rent_late"):
                pay = vb.state.get(f"payment/{body.get('payment')}")
                _need(
                    isinstance(pay, Mapping)
                    and pay.get("payer") == party
                    and pay.get("confirmed_tx") == txid
                    and type(pay.get("late_days")) is int
                    and (pay["late_days"] > 0) == (name == "rent_late"),
                    "the bundle leaves out a rent payment the party's credit counts",
                    payment=body.get("payment"),
                )
                if name == "rent_late":  # -5 a month overdue when paid (edition 5: late_months; before, one)
                    months = pay.get("late_months", 1) if isinstance(pay, Mapping) else None
                    _need(
                        type(months) is int and months >= 1 and points == -5 * months,
                        "a credit entry's points are not its factor's",
                        factor=name,
                    )
            elif name == "reviews":
                rating = body.get("rating")
                _need(
                    body.get("subject") == party and type(rating) is int and points == (rating - 3) * 4,
                    "a review entry is not that review of the party",
                    txid=txid,
                )
            elif name == "suspensions":
                _need(body.get("party") == party, "a suspension entry suspends someone else", txid=txid)
            elif name == "disputes_lost":
                expected = {"upheld": -30, "rejected": -10}.get(str(body.get("outcome")))
                _need(points == expected, "a dispute entry's points do not follow from the decision", txid=txid)
            elif name == "fake_listings":
                _need(body.get("outcome") == "confirmed", "a fake-listing entry is not a confirmed report", txid=txid)
    return walked


VOID_CREDIT = ("leases_registered", "rent_on_time")
"""The factors a lease called off before it began (void) takes credit back from: its registration's
(edition 5: the lease ``lease.terminate`` names; edition 8: each sublease voided with it too) and the
rent confirmed on time before it began (edition 8); each such entry's transaction is that
``lease.terminate``."""


def void_subtree(vb: VerifiedBundle, txid: str) -> list[Mapping[str, Any]]:
    """The lease a ``lease.terminate`` (``txid``) names and its subleases at any depth, each proven
    in ``vb`` (PROOF_INVALID if one is left out: what it voided cannot be told without them)."""
    named = _tx_of(vb, txid, "lease.terminate", None).body.get("lease")
    out: list[Mapping[str, Any]] = []
    todo, seen = [str(named)], set()
    while todo:
        lid = todo.pop()
        if lid in seen:
            continue
        seen.add(lid)
        lease = vb.state.get(f"lease/{lid}")
        if not (isinstance(lease, Mapping) and isinstance(lease.get("subleases"), list)):
            raise _fail("PROOF_INVALID", "the bundle leaves out a lease that calling off voided", lease=lid)
        out.append(lease)
        todo.extend(str(sub) for sub in lease["subleases"])
    return out


def _voided(lease: Mapping[str, Any], txid: str) -> bool:
    """Whether ``lease`` was called off before it began by transaction ``txid`` (directly or with
    the lease it lies in)."""
    term, start, end = lease.get("termination"), lease.get("start"), lease.get("ends_on")
    if not (isinstance(term, Mapping) and isinstance(start, str) and isinstance(end, str)):
        return False
    return bool(term.get("tx") == txid and start > end)


def _check_void_credit(vb: VerifiedBundle, party: str, txid: str, factor: str, points: int) -> set[str]:
    """A negative ``leases_registered`` or ``rent_on_time`` entry: the ``lease.terminate`` that
    called off before they began the leases whose credit it takes back. ``leases_registered``: -5
    for each registered lease it voided of which the party is a side (edition 8; edition 5 counted
    the named lease alone); ``rent_on_time``: -2 for each on-time payment confirmed before one it
    voided of which the party is the tenant began (its ``rent_on_time_early``)."""
    subtree = void_subtree(vb, txid)
    named = subtree[0].get("id")  # (the lease the lease.terminate names comes first)
    leases = [lease for lease in subtree if _voided(lease, txid)]
    if factor == "leases_registered":
        mine = [
            lease
            for lease in leases
            if isinstance(lease.get("registration"), Mapping)
            and party in (lease.get("tenant"), lease.get("landlord"), lease.get("agency"))
        ]
        counts = {len(mine), sum(1 for lease in mine if lease.get("id") == named)}
        _need(
            points in {-5 * n for n in counts if n},
            "a registration taken back is not the calling off of registered leases of the party",
            lease=named,
        )
        return {str(lease.get("id")) for lease in subtree}
    early = [lease.get("rent_on_time_early", 0) for lease in leases if lease.get("tenant") == party]
    _need(
        all(type(n) is int and n >= 0 for n in early) and points == -2 * sum(early) != 0,
        "a rent credit taken back is not the calling off of a lease of the party paid on time before it began",
        lease=named,
    )
    return {str(lease.get("id")) for lease in subtree}


def _points(entries: list[Any]) -> int:
    try:
        return sum(int(p) for _, p in entries)
    except (TypeError, ValueError):
        raise _fail("PROOF_INVALID", "a credit entry is not [txid, points]") from None


@dataclass(frozen=True, slots=True)
class VerifiedHistory:
    party: str
    record: dict[str, Any]
    credit: dict[str, Any] | None
    score: int
    leases: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    checkpoint: Checkpoint
    identity: str | None = None  # disclosed by the party (see :func:`disclose`), proven to open its commitment

    @property
    def identity_attested(self) -> bool:
        """Whether the housing authority attested the party's identity: only then does the
        disclosed text name the person behind the key (a commitment alone is not unique: anyone
        shown a disclosure could register another key with the same commitment)."""
        return self.record.get("identity_attested") is True

    @property
    def payment_counts(self) -> dict[str, int]:
        """The proven payments by what their receiver said: ``confirmed``, ``refused`` (the money
        never arrived: rules edition 6) or ``waiting`` (recorded by the tenant, not answered yet)."""
        counts = {"confirmed": 0, "waiting": 0, "refused": 0}
        for pay in self.payments:
            state = "confirmed" if pay.get("confirmed") else "refused" if pay.get("refused_tx") else "waiting"
            counts[state] += 1
        return counts


def disclose(bundle: Mapping[str, Any], identity: str, salt: str) -> dict[str, Any]:
    """A copy of a history ``bundle`` carrying the party's own disclosure of who they are: the
    ``identity`` text and the ``salt`` its ledger commitment was made with. The ledger holds only
    the commitment; the party chooses whom to show the bundle to. ValueError if they do not open
    the commitment the bundle states (the verifier checks it again, against the proven record)."""
    if bundle.get("kind") != "history":
        raise ValueError("only a history bundle carries a disclosure")
    party = bundle.get("subject")
    record = next((e.get("value") for e in bundle.get("state") or [] if e.get("key") == f"party/{party}"), None)
    return {**bundle, "disclosure": disclosure_of(record, identity, salt)}


def disclosure_of(record: Any, identity: str, salt: str) -> dict[str, str]:
    """The disclosure ``{identity, salt}`` (the salt trimmed, lowercase) of a party ``record``'s
    identity commitment; ValueError if they do not open it."""
    salt = salt.strip().lower()
    if not _SALT.fullmatch(salt):
        raise ValueError("a salt is 32 hex characters (16 bytes)")
    commitment = record.get("commitment") if isinstance(record, Mapping) else None
    if not isinstance(commitment, str) or not opens(commitment, identity, salt):
        raise ValueError("this identity and salt do not open the party's commitment")
    return {"identity": identity, "salt": salt}


_SALT = re.compile(r"[0-9a-f]{32}")


def _disclosed(record: Mapping[str, Any], disclosure: Any) -> str:
    """The identity a disclosure proves, or PROOF_INVALID: it must open the party's commitment."""
    _need(
        isinstance(disclosure, Mapping)
        and set(disclosure) == {"identity", "salt"}
        and isinstance(disclosure["identity"], str)
        and isinstance(disclosure["salt"], str)
        and _SALT.fullmatch(disclosure["salt"]) is not None,
        "a disclosure is {identity, salt: 32 lowercase hex characters}",
    )
    commitment = record.get("commitment")
    _need(
        isinstance(commitment, str) and opens(commitment, disclosure["identity"], disclosure["salt"]),
        "the disclosed identity does not open the party's commitment",
    )
    return str(disclosure["identity"])


def _check_signed_lease(vb: VerifiedBundle, lease: Mapping[str, Any], tenant: str) -> Tx:
    """The lease is the one its sides signed: its ``lease.sign`` (or, for a renewal, the
    ``lease.renew`` naming the lease it continues) is proven, signed by its ``tenant`` (as the
    envelope's signer or a co-signer: the registry needs the tenant's signature in ``sigs``, and
    the transaction is usually the landlord side's), the lease's id is derived from it and its
    terms are the signed ones. A sublease's ``owner`` is among its signers (a co-signature too):
    the registry takes a sublease (or its renewal) only with the owner's consent signature."""
    if lease.get("previous"):
        tx = _tx_of(vb, lease.get("signed_tx"), "lease.renew", [tenant], cosigned=True)
        _need(tx.body.get("previous") == lease["previous"], "the renewal does not continue that lease")
        _check_made_by(lease, tx, LEASE_TERMS, "lease")
    else:
        tx = _tx_of(vb, lease.get("signed_tx"), "lease.sign", [tenant], cosigned=True)
        _check_made_by(lease, tx, LEASE_SIGNED, "lease")
    if lease.get("parent") is not None:
        _need(
            lease.get("owner") in tx.signers,
            "a sublease's owner did not sign its consent to it",
            lease=lease.get("id"),
            txid=tx.txid,
        )
    return tx


def mandate_grants(vb: VerifiedBundle) -> dict[str, Tx]:
    """Mandate id -> the proven ``mandate.grant`` that created it (a mandate's id is its txid's
    first 16 hex digits)."""
    return {new_id(txid): tx for txid, tx in vb.txs.items() if tx.kind == "mandate.grant"}


def _check_landlord_side(lease: Mapping[str, Any], grants: Mapping[str, Tx]) -> None:
    """The lease's landlord side and receiver are the ones the registry derived from signed
    transactions (docs/REGISTRY.md, ``lease.sign``): a lease that is no sublease is let by the
    unit's owner; a lease made through a mandate has the agency that mandate's ``mandate.grant``
    (proven, in ``grants``) names, granted by the lease's landlord for its unit, and a lease made
    through none (every sublease) has no agency; and the party collecting is the agency when
    ``collector`` is ``agency``, else the landlord. (The landlord itself is bound by the lease's
    ``lease.sign``, or for a renewal by the lease it continues: :func:`_check_renewals`.)"""
    lid = lease.get("id")
    if lease.get("parent") is None:
        _need(lease.get("owner") == lease.get("landlord"), "a lease's landlord is not the unit's owner", lease=lid)
    mid = lease.get("mandate")
    if mid is None:
        _need(lease.get("agency") is None, "a lease made through no mandate names an agency", lease=lid)
    else:
        grant = grants.get(mid) if isinstance(mid, str) else None
        _need(grant is not None, "no inclusion proof for the mandate.grant transaction", lease=lid, mandate=mid)
        assert grant is not None
        _need(
            lease.get("parent") is None
            and grant.signer == lease.get("landlord")
            and grant.body.get("unit") == lease.get("unit")
            and grant.body.get("agency") == lease.get("agency"),
            "the mandate.grant transaction does not give the lease's agency its unit for its landlord",
            lease=lid,
            txid=grant.txid,
        )
    collector = lease.get("collector")
    collecting = lease.get("agency") if collector == "agency" else lease.get("landlord")
    _need(
        collector in ("agency", "landlord") and collecting is not None and lease.get("collector_party") == collecting,
        "a lease's collecting party is not its agency or landlord, as its collector says",
        lease=lid,
    )


RENEWAL_KEEPS = ("unit", "owner", "landlord", "tenant", "parent")
"""A renewal's fields the registry takes from the lease it continues (``lease.renew``)."""


def _day_after(day: Any) -> str | None:
    """The date after ``day`` (YYYY-MM-DD), or None (not a date, or the last one a date can name)."""
    if not is_date(day):
        return None
    try:
        return (datetime.strptime(day, "%Y-%m-%d") + timedelta(days=1)).strftime("%Y-%m-%d")
    except OverflowError:
        return None


def _check_renewals(tenancies: Mapping[str, Mapping[str, Any]]) -> None:
    """Each renewal among the party's tenancies ``tenancies`` (id -> record, each bound to its
    signing transaction) continues one of them as the registry's ``lease.renew`` does: the lease
    its ``previous`` names (the lease its ``lease.renew`` says it continues) is a tenancy of the
    party, and the renewal keeps its unit, owner, landlord, tenant and parent, is made through
    its mandate or none, names no listing, and starts the day after its ``end`` (the lease was
    running when renewed, so it ended on its ``end`` then). By induction along ``previous``, down
    to the ``lease.sign`` that began the tenancy (every lease has an earlier start than its
    renewal, so the chain ends there), a renewal's sides are those its first lease was signed
    with: one step per renewal, no walk, no transaction beyond each lease's own."""
    for lid, lease in tenancies.items():
        previous = lease.get("previous")
        if previous is None:
            continue
        prev = tenancies.get(str(previous))
        _need(prev is not None, "the lease a renewal continues is not a tenancy of the bundle", lease=lid)
        assert prev is not None
        differ = [f for f in RENEWAL_KEEPS if lease.get(f) != prev.get(f)]
        _need(not differ, "a renewal does not keep the sides of the lease it continues", lease=lid, fields=differ)
        _need(
            lease.get("mandate") in (None, prev.get("mandate")) and lease.get("listing") is None,
            "a renewal is made through another mandate than the lease it continues, or names a listing",
            lease=lid,
        )
        _need(
            lease.get("start") == _day_after(prev.get("end")),
            "a renewal does not start the day after the lease it continues ends",
            lease=lid,
        )


PAYMENT_RECORDED = {
    "rent": ("rent.pay", ("lease", "amount", "period", "months")),
    "deposit": ("deposit.lodge", ("lease", "amount")),
}
"""A payment's kind -> (the kind of transaction that recorded it, the fields the record keeps from its body)."""
PAYMENT_ANSWERS = (("confirmed_tx", "payment.confirm"), ("refused_tx", "payment.refuse"))
"""A payment's fields naming the receiving side's answer, and that answer's kind."""
PAYMENT_TXS = ("recorded_tx", *(name for name, _kind in PAYMENT_ANSWERS))
"""A payment's fields naming the transactions a history proves with it."""
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def appointments(vb: VerifiedBundle) -> dict[tuple[str, str], int]:
    """(agency, agent) -> the log index of the earliest proven ``agency.appoint_agent`` of that
    agent by that agency in the bundle."""
    out: dict[tuple[str, str], int] = {}
    for txid, tx in vb.txs.items():
        at = vb.index.get(txid)
        if tx.kind == "agency.appoint_agent" and at is not None:
            pair = (tx.signer, str(tx.body.get("agent")))
            out[pair] = min(at, out.get(pair, at))
    return out


def _check_payment(
    vb: VerifiedBundle, pay: Mapping[str, Any], party: str, appointed: Mapping[tuple[str, str], int]
) -> None:
    """The payment is the one its payer recorded, and answered as its transactions say: its
    ``rent.pay`` / ``deposit.lodge`` is proven, signed by the party (its payer), its id derived from
    it and its lease, amount (and for rent period and months) the body's; it is confirmed exactly
    when a proven ``payment.confirm`` of it is named, and refused when a proven ``payment.refuse``
    of it is (never both); each answer is signed by the payment's receiver, or by an agent whose
    appointment by the receiver (``agency.appoint_agent``, in ``appointed``: :func:`appointments`)
    the bundle proves earlier in the log than the answer. (Not checked: that the agent was not
    dismissed in between, which only a proof of absence could show. ``due_on``, ``late_days``,
    ``late_months``, ``recorded_on``, ``confirmed_on``, ``refused_on`` come from block dates:
    state-proven only.)"""
    pid = pay.get("id")
    recorded = PAYMENT_RECORDED.get(str(pay.get("kind")))
    _need(recorded is not None, "a payment is neither rent nor a deposit", payment=pid)
    assert recorded is not None
    kind, fields = recorded
    tx = _tx_of(vb, pay.get("recorded_tx"), kind, [party])
    _need(tx.signer == party and pay.get("payer") == party, f"the {kind} is not the payer's", payment=pid)
    _check_made_by(pay, tx, fields, "payment")
    if kind == "rent.pay":
        _need(
            isinstance(pay.get("period"), str)
            and _MONTH.fullmatch(pay["period"]) is not None
            and type(pay.get("months")) is int
            and 1 <= pay["months"] <= 120,
            "a rent payment's period or months are malformed",
            payment=pid,
        )
    else:
        _need(pay.get("period") is None and pay.get("months") is None, "a deposit pays no months", payment=pid)
    confirmed = pay.get("confirmed")
    _need(type(confirmed) is bool, "a payment's confirmed is not true or false", payment=pid)
    _need(
        confirmed == (pay.get("confirmed_tx") is not None),
        "a payment says it is confirmed without a confirmation, or names one and says it is not",
        payment=pid,
    )
    _need(
        not (confirmed and pay.get("refused_tx") is not None),
        "a payment is both confirmed and refused",
        payment=pid,
    )
    for name, answer in PAYMENT_ANSWERS:
        txid = pay.get(name)
        if txid is None:
            _need(pay.get(name.replace("_tx", "_on")) is None, f"a payment dates a {answer} it does not name")
            continue
        atx = _tx_of(vb, txid, answer, None)
        _need(atx.body.get("payment") == pid, f"the {answer} transaction answers another payment", txid=txid)
        receiver = pay.get("receiver")
        if atx.signer == receiver:
            continue
        since = appointed.get((str(receiver), atx.signer))
        _need(
            since is not None,
            f"the {answer} transaction is signed by neither the payment's receiver nor an agent the bundle "
            "proves it appointed",
            txid=txid,
        )
        answered_at = vb.index.get(atx.txid)
        _need(
            since is not None and answered_at is not None and since < answered_at,
            f"the {answer} transaction was signed by an agent the bundle proves appointed only after it",
            txid=txid,
        )


def _next_months(period: str, months: int) -> str:
    """The month ``months`` after ``period`` (YYYY-MM)."""
    n = int(period[:4]) * 12 + int(period[5:7]) - 1 + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def _check_paid_leases(leases: Mapping[str, Mapping[str, Any]], payments: Iterable[Mapping[str, Any]]) -> None:
    """Each payment (checked by :func:`_check_payment`) is of one of the party's tenancies
    ``leases`` (id -> record, whose collecting side :func:`_check_landlord_side` checked), on its
    unit, paid by its tenant to its collecting side; and no two
    payments that were not refused claim the same month of a lease, or its deposit twice: the
    registry takes a month (or a deposit) again only once the receiver refused the claim on it, so
    a refusal left out of a payment whose months were paid again shows as a second claim."""
    claims: dict[str, list[tuple[str, str]]] = {}
    deposits: dict[str, int] = {}
    for pay in payments:
        lease = leases.get(str(pay.get("lease")))
        _need(
            lease is not None and pay.get("payer") == lease.get("tenant"),
            "a payment of the bundle is not for the party's leases",
            payment=pay.get("id"),
        )
        assert lease is not None
        _need(
            pay.get("unit") == lease.get("unit") and pay.get("receiver") == lease.get("collector_party"),
            "a payment's unit or receiver is not its lease's",
            payment=pay.get("id"),
        )
        if pay.get("refused_tx") is not None:
            continue
        if pay["kind"] == "deposit":
            deposits[lease["id"]] = deposits.get(lease["id"], 0) + 1
            _need(deposits[lease["id"]] == 1, "a lease's deposit is claimed twice, neither claim refused")
        else:
            last = _next_months(pay["period"], pay["months"] - 1)
            claims.setdefault(lease["id"], []).append((pay["period"], last))
    for lid, spans in claims.items():
        spans.sort()
        for (_, last), (first, _) in pairwise(spans):
            _need(first > last, "two rent payments claim the same month, neither refused", lease=lid, month=first)


def check_history(vb: VerifiedBundle) -> VerifiedHistory:
    """Re-derive a tenant's history from proven records: leases, payments and credit score."""
    party = vb.subject
    record = vb.get(f"party/{party}")
    _need(isinstance(record, Mapping), "the party is not registered", party=party)
    credit = vb.get(f"credit/{party}")
    score = CREDIT_BASE
    registered_elsewhere: set[str] = set()  # leases the party's credit names where it is not the tenant
    if credit is not None:
        entries = credit_entries(vb, party, credit)  # (every chunk checked once)
        score = _score_of(credit, entries)
        _need(credit.get("score") == score, "the stored score does not follow from its factors", party=party)
        meta = vb.get("meta/registry")
        _need(isinstance(meta, Mapping) and isinstance(meta.get("authority"), str), "no proven housing authority key")
        registered_elsewhere |= _check_credit_txs(
            vb, party, meta["authority"], entries
        )  # (leases a calling off voided)
        for txid, _ in entries.get("leases_registered", []):
            registered_elsewhere.add(str(vb.txs[txid].body.get("lease")))
    leases: dict[str, Mapping[str, Any]] = {}
    grants = mandate_grants(vb)
    for key, lease in vb.state.items():
        if not key.startswith("lease/"):
            continue
        _need(
            isinstance(lease, Mapping) and key == f"lease/{lease.get('id')}", "a lease is not its key's record", key=key
        )
        if lease.get("tenant") != party:  # a lease the party registered as landlord or agency: not its tenancy
            _need(lease.get("id") in registered_elsewhere, "a lease of the bundle is not the party's", key=key)
            continue
        _check_signed_lease(vb, lease, party)
        _check_landlord_side(lease, grants)
        _need(lease["id"] not in leases, "a tenancy is in the bundle twice", lease=lease["id"])
        leases[str(lease["id"])] = lease
    _check_renewals(leases)
    payments = []
    appointed = appointments(vb)
    for key, pay in vb.state.items():
        if not key.startswith("payment/"):
            continue
        _need(
            isinstance(pay, Mapping) and key == f"payment/{pay.get('id')}", "a payment is not its key's record", key=key
        )
        _check_payment(vb, pay, party, appointed)
        payments.append(pay)
    _check_paid_leases(leases, payments)
    return VerifiedHistory(
        party,
        dict(record),
        None if credit is None else dict(credit),
        score,
        [dict(x) for x in leases.values()],
        [dict(x) for x in payments],
        vb.checkpoint,
    )


# -- lease registrations ----------------------------------------------------------------------------
def lease_phase(lease: Mapping[str, Any], date: str) -> str:
    """upcoming / current / ended at ``date``, by the lease's effective last day (the registry's rule)."""
    if date < lease["start"]:
        return "upcoming" if lease["start"] <= lease["ends_on"] else "ended"
    return "current" if date <= lease["ends_on"] else "ended"


@dataclass(frozen=True, slots=True)
class VerifiedRegistration:
    """A registered lease proven against a trusted checkpoint: proof of residence at ``date``."""

    number: str
    phase: str
    date: str
    lease: dict[str, Any]
    unit: dict[str, Any]
    registered_on: str
    authority: str
    checkpoint: Checkpoint


def _ancestors(vb: VerifiedBundle, lease: Mapping[str, Any]) -> list[str]:
    """The ids of the leases ``lease`` lies in, nearest first, as far as the bundle proves them."""
    out: list[str] = []
    parent = lease.get("parent")
    while isinstance(parent, str) and parent not in out and len(out) < 8:
        out.append(parent)
        up = vb.state.get(f"lease/{parent}")  # a lease the bundle does not prove ends the chain
        parent = up.get("parent") if isinstance(up, Mapping) else None
    return out


def _check_tenancy_chain(vb: VerifiedBundle, lease: Mapping[str, Any]) -> None:
    """A registered lease's landlord side, as a history checks its tenancies: the lease and each
    lease it continues (proven in the bundle, each signed by the tenant) down to its ``lease.sign``,
    with :func:`_check_landlord_side` on each and :func:`_check_renewals` along the chain."""
    grants = mandate_grants(vb)
    chain: dict[str, Mapping[str, Any]] = {}
    earlier: Any = lease
    while True:
        lid = str(earlier.get("id"))
        _need(lid not in chain, "a renewal continues itself", lease=lid)
        _check_signed_lease(vb, earlier, lease["tenant"])
        _check_landlord_side(earlier, grants)
        chain[lid] = earlier
        previous = earlier.get("previous")
        if previous is None:
            break
        earlier = vb.get(f"lease/{previous}")
        _need(
            isinstance(earlier, Mapping) and earlier.get("id") == previous,
            "the lease a renewal continues is not proven",
            lease=previous,
        )
    _check_renewals(chain)


def check_registration(vb: VerifiedBundle, number: str, date: str | None = None) -> VerifiedRegistration:
    """Re-derive from proven records that lease registration ``number`` exists, who registered it
    (the housing authority), which lease it is (signed by its tenant and landlord side) and where,
    and its phase at ``date`` (YYYY-MM-DD; default today; any date, by the lease's dates)."""
    at = _judged_on(date)
    reg = vb.get(f"registration/{number}")
    _need(isinstance(reg, Mapping), "the number is proven absent: no lease is registered under it", number=number)
    _need(reg.get("number") == number, "the registration record names another number", number=number)
    lid = reg.get("lease")
    lease = vb.get(f"lease/{lid}")
    _need(isinstance(lease, Mapping) and lease.get("id") == lid, "the registered lease is not proven", lease=lid)
    registration = lease.get("registration")
    _need(
        isinstance(registration, Mapping) and registration.get("number") == number and reg.get("unit") == lease["unit"],
        "the lease does not carry this registration",
    )
    meta = vb.get("meta/registry")
    _need(isinstance(meta, Mapping) and isinstance(meta.get("authority"), str), "no proven housing authority key")
    rtx = _tx_of(vb, registration.get("tx"), "lease.register", [meta["authority"]])
    _need(rtx.body.get("lease") == lid, "the lease.register transaction registers another lease")
    _check_tenancy_chain(vb, lease)  # signed by its tenant, as each lease it continues; their landlord side
    unit = vb.get(f"unit/{lease['unit']}")
    _need(isinstance(unit, Mapping) and unit.get("id") == lease["unit"], "the unit is not proven", unit=lease["unit"])
    _check_unit(vb, unit)
    termination = lease.get("termination")
    if isinstance(termination, Mapping) and termination.get("tx"):
        ttx = _tx_of(vb, termination["tx"], "lease.terminate", None)
        if termination.get("mode") == "parent_ended":  # a sublease cut short with a lease it lies in
            _need(ttx.body.get("lease") in _ancestors(vb, lease), "the termination is not of a lease it lies in")
        else:
            _need(
                ttx.body.get("lease") == lid and ttx.body.get("on") == lease["ends_on"],
                "the termination does not match",
            )
    return VerifiedRegistration(
        number,
        lease_phase(lease, at),
        at,
        dict(lease),
        {k: unit.get(k) for k in ("id", "district", "street", "neighbourhood", "floor_area_m2", "rooms")},
        str(registration.get("on")),
        meta["authority"],
        vb.checkpoint,
    )


def verify_bundle(
    bundle: Any, trusted_vkey: str | Trust, date: str | None = None
) -> VerifiedListing | VerifiedHistory | VerifiedRegistration:
    """Verify an exported bundle with no network: the listing, history or registration it proves."""
    vb = open_bundle(bundle, trusted_vkey)
    _need(vb.kind == "history" or "disclosure" not in bundle, "only a history bundle carries a disclosure")
    if vb.kind == "listing":
        return check_listing(vb, vb.subject, date)
    if vb.kind == "history":
        history = check_history(vb)
        if "disclosure" in bundle:  # the party's own: it must open the proven record's commitment
            history = dataclasses.replace(history, identity=_disclosed(history.record, bundle["disclosure"]))
        return history
    if vb.kind == "registration":
        return check_registration(vb, vb.subject, date)
    raise _fail("PROOF_INVALID", f"unknown bundle kind {vb.kind!r}")


def load_bundle(data: bytes | str) -> Any:
    """A bundle file's JSON, read strictly (RFC 8259: no NaN or Infinity, which Python's json
    reads as floats that would then be hashed as something else); PROOF_INVALID if it is not."""
    try:
        return jcs.loads(data)
    except AnjuError as exc:
        raise _fail("PROOF_INVALID", f"the bundle is not strict JSON: {exc.message}") from None
