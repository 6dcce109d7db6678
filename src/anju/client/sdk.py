"""The Python SDK: build, sign and submit transactions; fetch answers and verify them offline.

    client = AnjuClient("http://127.0.0.1:8080", verifier_key="anju-xuhui-1+a939e26f+AZ…")
    receipt = client.send("kv.put", me, {"key": "greeting", "value": "你好"})
    proven = client.tx(receipt["txid"])            # inclusion proof checked against a signed checkpoint
    listing = client.verify_listing("7K3QD-9XH2B")  # every claim re-derived from proofs

Nothing the server says is believed unless it verifies against a checkpoint signed by the
trusted key(s); every checkpoint seen is also checked to extend the previous one (RFC 9162
consistency), so a server cannot fork its history between two answers.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from anju.client.verify import (
    Trust,
    VerifiedBundle,
    VerifiedHistory,
    VerifiedListing,
    VerifiedRegistration,
    canonical_code,
    check_fresh,
    check_history,
    check_listing,
    check_registration,
    open_bundle,
    unb64,
    verify_state,
    verify_tx,
)
from anju.crypto import keystore
from anju.crypto.keys import SigningKey
from anju.crypto.tx import Tx, sign
from anju.errors import CODES, AnjuError, Overloaded, TxRejected, VerificationError
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint

API = "/api/v1"


class PasswordNeeded(ValueError):
    """The key file is a keystore and no password was given."""


def parse_key_file(
    text: str,
    password: str | None = None,
    *,
    max_opslimit: int = keystore.MAX_OPSLIMIT,
    max_memlimit: int = keystore.MAX_MEMLIMIT,
) -> SigningKey:
    """A signing key from a key file's text: a keystore (needs ``password``; its argon2id cost at
    most ``max_opslimit``/``max_memlimit``), a node key file (``ed25519_seed``, or ``seed``), or a
    hex seed. ValueError (PasswordNeeded) or KeystoreError when it cannot."""
    text = text.strip()
    if not text.startswith("{"):
        return SigningKey(bytes.fromhex(text))
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("not a key file")
    if "anju_keystore" in doc:
        if password is None:
            raise PasswordNeeded("the key file is a keystore: a password is needed")
        return keystore.decrypt(doc, password, max_opslimit=max_opslimit, max_memlimit=max_memlimit)
    seed = doc.get("ed25519_seed") or doc.get("seed")
    if not isinstance(seed, str):
        raise ValueError("unknown key file format")
    return SigningKey(bytes.fromhex(seed))


def load_key(path: str | Path, password: str | None = None) -> SigningKey:
    """A signing key from a file: see :func:`parse_key_file`."""
    return parse_key_file(Path(path).read_text(), password)


def _error_from(resp: httpx.Response) -> AnjuError:
    try:
        err = resp.json()["error"]
        code, message, details = str(err["code"]), str(err["message"]), dict(err.get("details") or {})
    except Exception:
        return AnjuError("BAD_REQUEST", f"HTTP {resp.status_code}: {resp.text[:200]}")
    if code not in CODES:
        code, message = "BAD_REQUEST", f"{err['code']}: {message}"
    if resp.status_code in (429, 503):
        retry = float(resp.headers.get("Retry-After", details.pop("retry_after", 1)) or 1)
        details.pop("retry_after", None)
        return Overloaded(code, message, retry_after=retry, **details)
    if 400 <= resp.status_code < 500 and code not in ("NOT_FOUND", "BAD_REQUEST"):
        return TxRejected(code, message, **details)
    return AnjuError(code, message, **details)


@dataclass(frozen=True, slots=True)
class ProvenTx:
    txid: str
    index: int
    height: int
    envelope: dict[str, Any]
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class ProvenState:
    key: str
    value: Any  # None: proven absent
    checkpoint: Checkpoint


REGISTRATION_NUMBER = re.compile(r"XH[0-9]{12}")
"""A lease registration number: XH, the year, then an eight-digit counter."""

RECORD_PATHS: Mapping[str, str] = {"listings": "listing", "units": "unit", "leases": "lease", "parties": "party"}
"""The API's record routes ``/<collection>/<id>`` and the state key prefix each one proves,
``<prefix>/<id>`` (docs/PROTOCOL.md, "Registry queries"; the registry's key layout)."""

_RECORD_PATH = re.compile(rf"/({'|'.join(RECORD_PATHS)})/([0-9A-Za-z]+)")


def record_key(path: str) -> str:
    """The state key a record path must be answered about (``/units/<id>`` → ``unit/<id>``):
    a server answering with another key's (valid) proof, say an absence proof of a key that
    never existed, would otherwise pass for the record asked for. BAD_REQUEST for another path."""
    m = _RECORD_PATH.fullmatch(path)
    if m is None:
        raise VerificationError(
            "BAD_REQUEST", f"not a record path (/{{{', '.join(RECORD_PATHS)}}}/<id>)", path=path[:200]
        )
    return f"{RECORD_PATHS[m[1]]}/{m[2]}"


class AnjuClient:
    """A client of one Anju node that trusts only the given verifier key(s).

    ``threshold``: how many of the keys must have signed a checkpoint; None (the default) is one
    for a single key and ⌊2n/3⌋ + 1 for n keys, as a consortium cosigns (see :meth:`Trust.of`).
    ``max_age``: refuse answers proven against a checkpoint whose block time is more than that many
    seconds ago (a server can keep answering from an old, genuinely signed snapshot; only the
    client knows how old is too old). Whatever ``max_age``, once a checkpoint of log size N has
    been seen, an answer proven against a smaller log is refused (reason ``stale``).
    ``chain_id``: the chain the node must be of (reason ``wrong_origin`` otherwise); None: the
    origin of the first checkpoint seen, and no other one after it."""

    def __init__(
        self,
        base_url: str,
        verifier_key: str | None = None,
        *,
        verifier_keys: Sequence[str] = (),
        threshold: int | None = None,
        max_age: float | None = None,
        chain_id: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        keys = ([verifier_key] if verifier_key else []) + list(verifier_keys)
        if not keys:
            raise ValueError("give the node's published verifier key (verifier_key=...) or verifier_keys")
        if max_age is not None and not max_age >= 0:
            raise ValueError("max_age is a number of seconds, at least 0")
        self.trust = Trust.of(keys, threshold, origin=chain_id)
        self.max_age = max_age
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self.retries = retries
        self.latest: Checkpoint | None = None
        self._seq: dict[str, int] = {}
        self._chain_id: str | None = chain_id  # (None: the first checkpoint's origin, then only that)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AnjuClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        attempt = 0
        while True:
            resp = self.http.request(method, API + path, **kw)
            if resp.status_code < 400:
                return resp
            err = _error_from(resp)
            if isinstance(err, Overloaded) and err.code != "SHUTTING_DOWN" and attempt < self.retries:
                attempt += 1
                time.sleep(min(err.retry_after, 5.0))
                continue
            raise err

    def _json(self, path: str, **kw: Any) -> Any:
        return orjson.loads(self._request("GET", path, **kw).content)

    # -- checkpoints ---------------------------------------------------------------------------------
    def see(self, note: str) -> Checkpoint:
        """Open a checkpoint note with the trusted keys and check it against the latest one seen:
        it must tell the same history (:func:`_one_history`), must not be older (a server
        replaying an old answer: CHECKPOINT_INVALID, reason ``stale``), and a larger log must
        extend the smaller (RFC 9162 consistency)."""
        cp = self.trust.open(note)
        old = self.latest
        if self._chain_id is not None and cp.origin != self._chain_id:
            raise VerificationError(
                "CHECKPOINT_INVALID", "checkpoint of another chain", reason="wrong_origin", origin=cp.origin
            )
        check_fresh(cp, self.max_age)
        self._chain_id = cp.origin  # (a client follows one chain: the first checkpoint's, if not told)
        if old is None:
            self.latest = cp
            return cp
        _one_history(old, cp)
        if cp.size < old.size:
            raise VerificationError(
                "CHECKPOINT_INVALID",
                "the answer is proven against an older checkpoint than one already seen",
                reason="stale",
                size=cp.size,
                seen_size=old.size,
                height=cp.height,
                seen_height=old.height,
            )
        if 0 < old.size < cp.size:
            ans = self._json("/proofs/consistency", params={"first": old.size, "second": cp.size})
            proof = [unb64(h, "consistency hash") for h in ans.get("hashes", [])]
            merkle.verify_consistency(old.size, cp.size, proof, old.root, cp.root)
        if (cp.size, cp.height) >= (old.size, old.height):
            self.latest = cp
        return cp

    def checkpoint(self) -> Checkpoint:
        """The node's latest checkpoint, verified (signature and consistency with earlier ones)."""
        return self.see(self._request("GET", "/checkpoint").text)

    def node(self) -> dict[str, Any]:
        info: dict[str, Any] = self._json("/node")
        return info

    # -- building and submitting ----------------------------------------------------------------------
    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = self.checkpoint().origin
        return self._chain_id

    def next_seq(self, signer: str) -> int:
        """The signer's next ``seq``: the proven committed one + 1, or one past what this client last used."""
        local = self._seq.get(signer)
        if local is not None:
            return local + 1
        proven = self.state(f"seq/{signer}").value
        return (0 if proven is None else int(proven)) + 1

    def build(
        self,
        kind: str,
        key: SigningKey,
        fields: Mapping[str, Any],
        *,
        cosigners: Iterable[SigningKey] = (),
        seq: int | None = None,
    ) -> dict[str, Any]:
        """A signed envelope of ``kind`` by ``key`` (and co-signers, e.g. a lease's tenant)."""
        signer = key.public_hex
        n = self.next_seq(signer) if seq is None else seq
        body = {**fields, "chain": self.chain_id, "kind": kind, "signer": signer, "seq": n}
        env = sign(body, [key, *cosigners])
        self._seq[signer] = n
        return env

    def submit(self, envelope: Mapping[str, Any], *, wait: bool = True, timeout: float = 30.0) -> dict[str, Any]:
        """POST the envelope; with ``wait`` answer once committed (raises the rejection otherwise)."""
        params = {"wait": "commit", "timeout": timeout} if wait else {}
        try:
            resp = self._request(
                "POST",
                "/txs",
                content=orjson.dumps(envelope),
                params=params,
                headers={"content-type": "application/json"},
            )
        except TxRejected:
            self._seq.pop(str(envelope["body"]["signer"]), None)  # re-read seq from the ledger next time
            raise
        out: dict[str, Any] = resp.json()
        return out

    def send(
        self,
        kind: str,
        signer: SigningKey,
        /,
        fields: Mapping[str, Any] | None = None,
        *,
        cosigners: Iterable[SigningKey] = (),
        wait: bool = True,
        **more: Any,
    ) -> dict[str, Any]:
        """Build, sign and submit one transaction (fields as a mapping and/or keywords); the commit receipt."""
        body = {**(fields or {}), **more}
        return self.submit(self.build(kind, signer, body, cosigners=cosigners), wait=wait)

    def wait(self, txid: str, timeout: float = 30.0, poll: float = 0.1) -> ProvenTx:
        """Poll until ``txid`` is committed; return it proven (raises its rejection, or TIMEOUT)."""
        deadline = time.monotonic() + timeout
        while True:
            ans = self._json(f"/txs/{txid}")
            if ans["status"] == "committed":
                return self._prove_tx(txid, ans)
            if ans["status"] == "rejected":
                e = ans["error"]
                raise TxRejected(e["code"], e["message"], **e.get("details", {}))
            if time.monotonic() > deadline:
                raise AnjuError("TIMEOUT", f"{txid} not committed within {timeout} s", txid=txid)
            time.sleep(poll)

    # -- proven reads ----------------------------------------------------------------------------------
    def _prove_tx(self, txid: str, ans: Mapping[str, Any]) -> ProvenTx:
        cp = self.see(ans["checkpoint"])
        inc = ans["inclusion"]
        if inc.get("tree_size") != cp.size or inc.get("index") != ans.get("index"):
            raise VerificationError("PROOF_INVALID", "the inclusion proof is not for the checkpoint's tree", txid=txid)
        tx: Tx = verify_tx(ans["leaf"], ans["index"], inc["hashes"], cp, txid)
        return ProvenTx(txid, int(ans["index"]), int(ans["height"]), tx.envelope(), cp)

    def tx(self, txid: str) -> ProvenTx:
        """A committed transaction with its inclusion proof verified against a trusted checkpoint."""
        ans = self._json(f"/txs/{txid}")
        if ans["status"] != "committed":
            raise AnjuError("NOT_FOUND", f"transaction {txid} is {ans['status']}", txid=txid)
        return self._prove_tx(txid, ans)

    def state(self, key: str) -> ProvenState:
        """A state key's value (None: proven absent), verified against a trusted checkpoint."""
        ans = self._json(f"/state/{key}")
        if ans.get("key") != key:
            raise VerificationError("PROOF_INVALID", "the answer is for another key", key=key)
        cp = self.see(ans["checkpoint"])
        verify_state(key, ans["value"], ans["proof"], cp)
        return ProvenState(key, ans["value"], cp)

    def record(self, path: str) -> ProvenState:
        """A registry record (``/units/<id>``, ``/parties/<key>``, ...) with its proof verified; the
        answer must be about the key the path names (:func:`record_key`), as for :meth:`state`."""
        key = record_key(path)
        ans = self._json(path)
        if ans.get("key") != key:
            raise VerificationError("PROOF_INVALID", "the answer is for another key", key=key, got=ans.get("key"))
        cp = self.see(ans["checkpoint"])
        verify_state(key, ans["value"], ans["proof"], cp)
        return ProvenState(key, ans["value"], cp)

    def listing_bundle(self, code: str) -> dict[str, Any]:
        bundle: dict[str, Any] = self._json(f"/codes/{code}")
        return bundle

    def verify_listing(self, code: str, date: str | None = None) -> VerifiedListing:
        """Fetch a listing's bundle by verification code and re-derive everything from its proofs.

        The bundle must be about the code asked for: a server answering with another listing's
        (genuine) bundle is refused."""
        canonical = canonical_code(code)
        if canonical is None:
            raise VerificationError("BAD_REQUEST", "not a listing verification code", listing_code=code)
        return check_listing(self._open_about(self.listing_bundle(canonical), canonical), canonical, date)

    def registration_bundle(self, number: str) -> dict[str, Any]:
        bundle: dict[str, Any] = self._json(f"/registrations/{number}")
        return bundle

    def verify_registration(self, number: str, date: str | None = None) -> VerifiedRegistration:
        """Fetch a lease registration's bundle (备案号, e.g. ``XH202600000001``) and re-derive the
        registered lease, its place and its phase at ``date`` from the proofs alone."""
        if not REGISTRATION_NUMBER.fullmatch(number):
            raise VerificationError("BAD_REQUEST", "not a lease registration number (XH + 12 digits)", number=number)
        return check_registration(self._open_about(self.registration_bundle(number), number), number, date)

    def history(self, party: str) -> dict[str, Any]:
        """A party's rental-history bundle (to hand to a landlord; verify with :func:`verify_bundle`)."""
        bundle: dict[str, Any] = self._json(f"/parties/{party}/history")
        return bundle

    def verify_history(self, party: str) -> VerifiedHistory:
        vb = self._open(self.history(party))
        if vb.subject != party:
            raise VerificationError("PROOF_INVALID", "the bundle is about another party", party=party)
        return check_history(vb)

    def _open_about(self, bundle: Any, subject: str) -> VerifiedBundle:
        """Open ``bundle`` and require it to be about ``subject``: a server answering with another
        code's or number's genuine bundle is refused."""
        vb = self._open(bundle)
        if vb.subject != subject:
            raise VerificationError(
                "PROOF_INVALID", "the server answered with a bundle about something else", asked=subject, got=vb.subject
            )
        return vb

    def _open(self, bundle: Any) -> VerifiedBundle:
        vb = open_bundle(bundle, self.trust)
        self.see(bundle["checkpoint"])
        return vb

    def events(
        self,
        *,
        after: int | None = None,
        party: str | None = None,
        unit: str | None = None,
        listing: str | None = None,
        kind: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Follow the live event stream (reconnecting with Last-Event-ID); yields event objects."""
        params = {k: v for k, v in {"party": party, "unit": unit, "listing": listing, "kind": kind}.items() if v}
        last = after
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                with self.http.stream(
                    "GET", API + "/events", params=params, headers=headers, timeout=httpx.Timeout(10.0, read=60.0)
                ) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        raise _error_from(resp)
                    for frame in iter_sse(resp.iter_lines()):
                        if "data" in frame:
                            ev: dict[str, Any] = orjson.loads(frame["data"])
                            last = int(ev["id"])
                            yield ev
            except (httpx.TransportError, httpx.RemoteProtocolError):
                time.sleep(0.5)


def _one_history(a: Checkpoint, b: Checkpoint) -> None:
    """Two checkpoints the trusted keys signed must describe one history, or the signers
    equivocated (PROOF_INVALID, both notes' texts as evidence): one height is one block; a later
    block has a log at least as large and a time no earlier; and one log size is one log root
    and one state (a block without transactions changes neither)."""
    lo, hi = (a, b) if (a.height, a.size) <= (b.height, b.size) else (b, a)
    if lo.height == hi.height and lo != hi:
        problem = "two checkpoints of the same height differ"
    elif lo.size > hi.size or lo.time > hi.time:
        problem = "a later block has a smaller log or an earlier time"
    elif lo.size == hi.size and lo.root != hi.root:
        problem = "two checkpoints of the same size with different roots"
    elif lo.size == hi.size and lo.state_root != hi.state_root:
        problem = "two checkpoints of the same log with different state roots"
    else:
        return
    raise VerificationError("PROOF_INVALID", problem, size=lo.size, first=a.to_text(), second=b.to_text())


def iter_sse(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """Parse Server-Sent Events frames from text lines (fields id, event, data)."""
    frame: dict[str, str] = {}
    for line in lines:
        if line == "":
            if frame:
                yield frame
            frame = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        frame[name] = frame[name] + "\n" + value if name in frame else value
    if frame:
        yield frame
