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

import contextlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import orjson

from anju.client.parts import MAX_LINE, PARTS_MEDIA_TYPE, HistoryParts, split_lines
from anju.client.remember import CheckpointFile, one_history
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
    verify_height,
    verify_state,
    verify_tx,
)
from anju.crypto import keystore
from anju.crypto.keys import SigningKey
from anju.crypto.tx import Tx, sign
from anju.errors import WELL_FORMED_CODE, AnjuError, Overloaded, TxRejected, VerificationError
from anju.files import sync_dir
from anju.ledger import merkle
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.handover import merge_handovers

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
    if not text:
        raise ValueError("not a key file: it is empty")
    if not text.startswith("{"):
        if text.strip("0123456789abcdefABCDEF"):
            raise ValueError("not a key file: neither a JSON object nor a hex seed")
        if len(text) != 64:
            raise ValueError(f"not a key file: a seed is 64 hex digits, this one {len(text)}")
        return SigningKey(bytes.fromhex(text))
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not a key file: not JSON ({exc})") from None
    except RecursionError:  # (json's parser recurses: a document nested deeper than the stack)
        raise ValueError("not a key file: not JSON (nested too deep)") from None
    if not isinstance(doc, dict):
        raise ValueError("not a key file")
    if "anju_keystore" in doc:
        if password is None:
            raise PasswordNeeded("the key file is a keystore: a password is needed")
        return keystore.decrypt(doc, password, max_opslimit=max_opslimit, max_memlimit=max_memlimit)
    seed = doc.get("ed25519_seed") or doc.get("seed")
    if not isinstance(seed, str):
        raise ValueError("not a key file: a JSON object without anju_keystore, ed25519_seed or seed")
    if len(seed) != 64 or seed.strip("0123456789abcdefABCDEF"):
        raise ValueError("not a key file: its seed is not 64 hex digits")
    return SigningKey(bytes.fromhex(seed))


def load_key(path: str | Path, password: str | None = None) -> SigningKey:
    """A signing key from a file: see :func:`parse_key_file`."""
    return parse_key_file(Path(path).read_text(), password)


REQUEST_CODES = frozenset({"NOT_FOUND", "BAD_REQUEST", "UNKNOWN_PARAM", "UNSUPPORTED_MEDIA_TYPE", "EVENT_ID_AHEAD"})
"""4xx codes that refuse the request, not a transaction: raised as AnjuError, not TxRejected."""


def _error_from(resp: httpx.Response) -> AnjuError:
    """The error a node answered with, as it answered: its code (any well-formed one, registered in
    this process or not: a client does not import the registry, whose codes are the node's all the
    same), message, details and HTTP status. Overloaded for 429/503, TxRejected for another 4xx but
    those refusing the request itself (:data:`REQUEST_CODES`), else AnjuError; BAD_RESPONSE when the
    answer is not the API's error body (a proxy's page, another server)."""
    err = _error_object(_loads(resp.content))
    if err is None:
        return _bad_response(resp, "an error answer that is not the API's")
    code, message, details = err
    if resp.status_code in (429, 503):
        retry = details.pop("retry_after", None)
        with contextlib.suppress(TypeError, ValueError):
            retry = float(resp.headers.get("Retry-After", retry))
        details["retry_after"] = retry if isinstance(retry, float) and 0 <= retry < 86_400 else 1.0
        return Overloaded.reported(code, message, details, status=resp.status_code)
    if 400 <= resp.status_code < 500 and code not in REQUEST_CODES:
        return TxRejected.reported(code, message, details, status=resp.status_code)
    return AnjuError.reported(code, message, details, status=resp.status_code)


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _error_object(doc: Any) -> tuple[str, str, dict[str, Any]] | None:
    """(code, message, details) of the API's ``{"error": {code, message, details}}`` (or of the
    error object of a rejected transaction, given as ``{"error": ...}``); None when ``doc`` is not
    one, or its code is not well formed."""
    err = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(err, dict):
        return None
    code, message, details = err.get("code"), err.get("message"), err.get("details", {})
    if not (isinstance(code, str) and WELL_FORMED_CODE.fullmatch(code) and isinstance(message, str)):
        return None
    return code, message, dict(details) if isinstance(details, dict) else {}


def _bad_response(resp: httpx.Response, what: str) -> AnjuError:
    """BAD_RESPONSE: ``what`` is wrong with the answer to the request ``resp`` answers."""
    url = resp.request.url.copy_with(userinfo=b"")  # never echo a password given in the URL
    kind = resp.headers.get("content-type", "").split(";")[0].strip()[:60]
    hint = (
        "give the node's base URL, without /api/v1"
        if url.path.startswith(API + API)
        else "is this an Anju node's base URL?"
    )
    return AnjuError(
        "BAD_RESPONSE",
        f"{resp.request.method} {url}: {what} (HTTP {resp.status_code}" + (f", {kind}" if kind else "") + f"); {hint}",
    )


def _unreachable(request: httpx.Request, exc: httpx.TransportError) -> AnjuError:
    """A transport failure as NODE_UNREACHABLE (BAD_RESPONSE when what answered does not speak HTTP),
    ``details.cause`` saying which: ``closed``, ``timeout``, ``refused`` or ``network``."""
    where = f"{request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.RemoteProtocolError) and "disconnected" in reason.lower():
        # closed without an answer (a node restarting, a proxy timing out), not a stranger to HTTP
        reason = "the connection closed before an answer"
        if request.method == "POST":
            reason += " (what was sent may still have been accepted)"
        return AnjuError("NODE_UNREACHABLE", f"cannot reach {where}: {reason}", cause="closed")
    if isinstance(exc, httpx.ProtocolError):
        return AnjuError("BAD_RESPONSE", f"{where} does not answer in HTTP: {exc}")
    cause = "network"
    if isinstance(exc, httpx.TimeoutException):
        reason, cause = "no answer in time", "timeout"
        if request.method == "POST":
            reason += " (what was sent may still have been accepted)"
    elif "refused" in reason.lower():
        reason, cause = "connection refused", "refused"
    elif m := re.fullmatch(r"\[Errno -?\d+\] (.*)", reason):
        reason = m[1]
    return AnjuError("NODE_UNREACHABLE", f"cannot reach {where}: {reason}", cause=cause)


def _send(http: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
    """One request; a transport failure is an AnjuError (NODE_UNREACHABLE, BAD_RESPONSE)."""
    request = http.build_request(method, path, **kw)
    try:
        return http.send(request)
    except httpx.TransportError as exc:
        raise _unreachable(request, exc) from exc


def _answer(resp: httpx.Response) -> dict[str, Any]:
    """A successful answer's JSON object (BAD_RESPONSE if it is not one)."""
    doc = _loads(resp.content)
    if not isinstance(doc, dict):
        raise _bad_response(resp, "the answer is not a JSON object")
    return doc


@contextlib.contextmanager
def _reading(what: str) -> Iterator[None]:
    """An answer without the fields (or of other types than) the API answers with is BAD_RESPONSE."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise AnjuError("BAD_RESPONSE", f"the answer to {what} is not the API's ({type(exc).__name__}: {exc})") from exc


def node_base_url(url: str) -> str:
    """A node's base URL (``http(s)://host[:port][/path]``, without ``/api/v1``), or ValueError."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or not url.isascii()
        or not url.isprintable()
        or " " in url
    ):
        raise ValueError(f"not an http(s)://host[:port] URL: {url[:200]!r}")
    return url.rstrip("/")


def node_keys(
    url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
) -> tuple[str, list[list[Any]]]:
    """The verifier key the node at ``url`` reports about itself (``GET /node``), and the key
    history it reports beside it (``verifier_keys``, ``[[from_height, vkey], ...]``: which key
    signed which heights; [] from a node that reports none), each earlier key's entry with the
    last block it signed (``handovers``) as its third element when the node reports it: all to be
    trusted on first use only, when no published key is at hand, and together, as one answer;
    everything proven later rests on them. ValueError for a URL that is not one;
    NODE_UNREACHABLE, BAD_RESPONSE (not an Anju node, or a key history that is not one ending
    with its key, or hand-overs that are not its)."""
    with httpx.Client(base_url=node_base_url(url), timeout=timeout, transport=transport) as http:
        resp = _send(http, "GET", API + "/node")
        if resp.status_code == 404:
            raise _bad_response(resp, "no Anju API there")
        if resp.status_code >= 400:
            raise _error_from(resp)
        ans = _answer(resp)
        key = ans.get("verifier_key")
        if not isinstance(key, str):
            raise _bad_response(resp, "the answer names no verifier key")
        history = ans.get("verifier_keys", [])
        records = ans.get("handovers", [])
        trust = Trust.of(key)  # (a key that is not one: CHECKPOINT_INVALID, as AnjuClient says of it)
        try:
            if not isinstance(history, list) or not all(isinstance(e, list) for e in history):
                raise ValueError("not a list of entries")
            history = merge_handovers(history, records)
            trust.with_history(history)
        except (ValueError, TypeError) as exc:
            raise _bad_response(resp, f"the node's key history (verifier_keys) is not one: {exc}") from None
        except VerificationError as exc:  # (an earlier key that is not one)
            raise _bad_response(resp, f"the node's key history (verifier_keys) is not one: {exc.message}") from None
        return key, [list(e) for e in history]


def node_verifier_key(url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> str:
    """The verifier key the node at ``url`` reports about itself (``GET /node``): to be trusted on
    first use only, when no published key is at hand; everything proven later rests on it.
    ValueError for a URL that is not one; NODE_UNREACHABLE, BAD_RESPONSE (not an Anju node).
    :func:`node_keys` gives the key history reported with it."""
    return node_keys(url, timeout=timeout, transport=transport)[0]


def _rejection(ans: Mapping[str, Any]) -> TxRejected:
    """A rejected transaction's own error, as the node reports it (``GET /txs/{txid}``)."""
    err = _error_object(ans)
    if err is None:
        raise AnjuError("BAD_RESPONSE", "a rejected transaction's status without its error", txid=ans.get("txid"))
    return TxRejected.reported(*err)


@dataclass(frozen=True, slots=True)
class ProvenTx:
    """A committed transaction: its log ``index`` and envelope proven against ``checkpoint`` (the
    node's head), and its ``height`` proven by ``block``, the checkpoint of the block it was
    committed in (whose ``time`` is the block's time)."""

    txid: str
    index: int
    height: int
    envelope: dict[str, Any]
    checkpoint: Checkpoint
    block: Checkpoint


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


def state_path(key: str) -> str:
    """``key`` as the path segments of ``GET /state/{key}``: percent-encoded (a state key is any
    printable ASCII: ``?``, ``#`` and ``%`` are its own characters), and a ``.`` or ``..`` segment
    encoded too, so that no URL resolution takes it for a step up the path."""
    return "/".join("%2E" * len(part) if part in (".", "..") else quote(part, safe="") for part in key.split("/"))


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
    origin of the first checkpoint seen, and no other one after it.
    ``remember``: a file that keeps the newest checkpoint verified, from one run to the next (see
    :mod:`anju.client.remember`): the client starts from it, so a node that rolled its ledger back
    or forked it since is refused; one file per chain and set of trusted keys.
    ``key_history``: for a node whose signer changed (a consortium started from a node's ledger),
    its signers by height as its ``meta.verifier_keys`` lists them, ``[[from_height, vkey], ...]``
    (the last key one of the trusted keys): a transaction's height is proven with the checkpoints
    of its block, each verified with the key of its height (:meth:`Trust.with_history`); an
    earlier key's entry may carry the last block it signed, ``{"height", "log_size",
    "log_root"}``, as a third element, which bounds what its checkpoints may claim. Take it
    from where the keys come from: a consortium's ``consortium.json``
    (:func:`anju.chain.consortium.key_history_of`), or the node's ``GET /node`` when trusting the
    key it reports (:meth:`trusting_node`).

    ``base_url`` is the node's ``http(s)://host[:port]`` (ValueError otherwise). Every error is an
    :class:`~anju.errors.AnjuError` with a stable code: the node's own (any application's too,
    such as the registry's ``WRONG_ROLE``), ``NODE_UNREACHABLE`` when the node cannot be reached,
    ``BAD_RESPONSE`` when what answers is not the Anju API."""

    def __init__(
        self,
        base_url: str,
        verifier_key: str | None = None,
        *,
        verifier_keys: Sequence[str] = (),
        threshold: int | None = None,
        max_age: float | None = None,
        chain_id: str | None = None,
        remember: str | Path | None = None,
        key_history: Sequence[Sequence[Any]] = (),
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        keys = ([verifier_key] if verifier_key else []) + list(verifier_keys)
        if not keys:
            raise ValueError("give the node's published verifier key (verifier_key=...) or verifier_keys")
        if max_age is not None and not max_age >= 0:
            raise ValueError("max_age is a number of seconds, at least 0")
        self.trust = Trust.of(keys, threshold, origin=chain_id).with_history(key_history)
        self.max_age = max_age
        self.http = httpx.Client(base_url=node_base_url(base_url), timeout=timeout, transport=transport)
        self.retries = retries
        self.latest: Checkpoint | None = None
        self._seq: dict[str, int] = {}
        self._chain_id: str | None = chain_id  # (None: the first checkpoint's origin, then only that)
        self.remembered = None if remember is None else CheckpointFile(remember)
        if self.remembered is not None:
            self.latest = self.remembered.read(self._open_remembered)  # (no max_age: old by design)
            if self.latest is not None:
                self._chain_id = self.latest.origin

    @classmethod
    def trusting_node(cls, base_url: str, **options: Any) -> AnjuClient:
        """A client of the node at ``base_url`` trusting, on first use, the verifier key that node
        reports about itself and the key history reported in the same answer (:func:`node_keys`):
        the history is believed exactly as far as the key is, since both are the node's word. For
        when no published key is at hand; a client given its keys (``verifier_key``,
        ``verifier_keys``) never takes a node's word for their history (``key_history``).
        ``options``: the constructor's other keyword arguments (not ``key_history``: TypeError)."""
        if "key_history" in options:
            raise TypeError("trusting_node takes the key history the node reports: give no key_history")
        key, history = node_keys(base_url, timeout=options.get("timeout", 10.0), transport=options.get("transport"))
        return cls(base_url, key, key_history=history, **options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AnjuClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_remembered(self, note: str) -> Checkpoint:
        cp = self.trust.open(note)
        if self._chain_id is not None and cp.origin != self._chain_id:
            raise VerificationError(
                "CHECKPOINT_INVALID", f"a checkpoint of chain {cp.origin!r}, not {self._chain_id!r}", origin=cp.origin
            )
        return cp

    # -- transport ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        attempt = 0
        while True:
            resp = _send(self.http, method, API + path, **kw)
            if resp.status_code < 400:
                return resp
            err = _error_from(resp)
            attempt += 1
            time.sleep(self._retry_after(err, attempt))

    def _retry_after(self, err: AnjuError, attempt: int) -> float:
        """The seconds to wait before asking again after ``err`` (``attempt`` counts the answers so
        far): an overloaded node's Retry-After, at most 5 s, for up to ``retries`` attempts; any
        other error, SHUTTING_DOWN, or one attempt more is raised."""
        if isinstance(err, Overloaded) and err.code != "SHUTTING_DOWN" and attempt <= self.retries:
            return min(err.retry_after, 5.0)
        raise err

    def _json(self, path: str, **kw: Any) -> dict[str, Any]:
        return _answer(self._request("GET", path, **kw))

    # -- checkpoints ---------------------------------------------------------------------------------
    def see(self, note: str) -> Checkpoint:
        """Open a checkpoint note with the trusted keys and check it against the latest one seen:
        it must tell the same history (:func:`one_history`), must not be older (a server
        replaying an old answer: CHECKPOINT_INVALID, reason ``stale``), and a larger log must
        extend the smaller (RFC 9162 consistency). The trusted keys themselves must have signed it,
        never a key of the history (:meth:`Trust.with_history`: only a height proof's notes, tied to
        such a checkpoint, are opened with those)."""
        try:
            cp = self.trust.open(note)
        except VerificationError as exc:
            self._signed_by_an_earlier_key(note, exc)
            raise
        old = self.latest
        if self._chain_id is not None and cp.origin != self._chain_id:
            raise VerificationError(
                "CHECKPOINT_INVALID", "checkpoint of another chain", reason="wrong_origin", origin=cp.origin
            )
        check_fresh(cp, self.max_age)
        self._chain_id = cp.origin  # (a client follows one chain: the first checkpoint's, if not told)
        if old is not None:
            self._extends(old, cp)
            if (cp.size, cp.height) <= (old.size, old.height):
                return cp  # (the same checkpoint, or the same log at an earlier height)
        self.latest = cp
        if self.remembered is not None:
            self.remembered.advance(note, cp, self._open_remembered)
        return cp

    def _signed_by_an_earlier_key(self, note: str, exc: VerificationError) -> None:
        """Say so when a checkpoint the trusted keys did not sign is one an earlier signer of the
        node's history signed for its height: the node has no block of the current signer yet
        (a consortium started from a ledger, before its first block)."""
        if exc.details.get("reason") != "no_known_signature" or not self.trust.earlier:
            return
        try:
            cp = self.trust.open_any_height(note)
        except VerificationError:
            return
        raise VerificationError(
            "CHECKPOINT_INVALID",
            f"the node answers from block {cp.height}, which an earlier key signed (the trusted keys sign "
            f"from height {self.trust.since} on): an answer is proven against a checkpoint of the trusted "
            "keys; ask again once the node has a block of them",
            **{**exc.details, "height": cp.height, "since": self.trust.since},
        ) from None

    def _extends(self, old: Checkpoint, cp: Checkpoint) -> None:
        """``cp`` tells ``old``'s history (:func:`one_history`), of a log at least as large, and a
        larger one is proven to extend it (RFC 9162 consistency)."""
        one_history(old, cp)
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
            with _reading("a consistency proof request"):
                proof = [unb64(h, "consistency hash") for h in ans.get("hashes", [])]
            merkle.verify_consistency(old.size, cp.size, proof, old.root, cp.root)

    def checkpoint(self) -> Checkpoint:
        """The node's latest checkpoint, verified (signature and consistency with earlier ones)."""
        return self.see(self._request("GET", "/checkpoint").text)

    def node(self) -> dict[str, Any]:
        return self._json("/node")

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
        """POST the envelope; with ``wait`` answer once committed (raises the rejection otherwise, or
        the node's TIMEOUT after ``timeout`` seconds: the client waits for that answer 10 s longer)."""
        params = {"wait": "commit", "timeout": timeout} if wait else {}
        t = self.http.timeout
        longer = httpx.Timeout(connect=t.connect, read=max(t.read or 0.0, timeout + 10.0), write=t.write, pool=t.pool)
        patience = {"timeout": longer} if wait else {}
        try:
            resp = self._request(
                "POST",
                "/txs",
                content=orjson.dumps(envelope),
                params=params,
                headers={"content-type": "application/json"},
                **patience,
            )
        except TxRejected:
            self._seq.pop(str(envelope["body"]["signer"]), None)  # re-read seq from the ledger next time
            raise
        return _answer(resp)

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
            ans = self._tx_status(txid)
            if ans["status"] == "committed":
                return self._prove_tx(txid, ans)
            if ans["status"] == "rejected":
                raise _rejection(ans)
            if time.monotonic() > deadline:
                raise AnjuError("TIMEOUT", f"{txid} not committed within {timeout} s", txid=txid)
            time.sleep(poll)

    def _tx_status(self, txid: str) -> dict[str, Any]:
        ans = self._json(f"/txs/{txid}")
        if ans.get("status") not in ("committed", "pending", "rejected"):
            raise AnjuError(
                "BAD_RESPONSE", "a transaction status that is none of committed, pending, rejected", txid=txid
            )
        return ans

    # -- proven reads ----------------------------------------------------------------------------------
    def _prove_tx(self, txid: str, ans: Mapping[str, Any]) -> ProvenTx:
        with _reading(f"GET /txs/{txid}"):
            cp = self.see(ans["checkpoint"])
            inc = ans["inclusion"]
            if inc.get("tree_size") != cp.size or inc.get("index") != ans.get("index"):
                raise VerificationError(
                    "PROOF_INVALID", "the inclusion proof is not for the checkpoint's tree", txid=txid
                )
            tx: Tx = verify_tx(ans["leaf"], ans["index"], inc["hashes"], cp, txid)
            block = verify_height(ans.get("height"), ans["index"], ans.get("height_proof"), cp, self.trust)
            return ProvenTx(txid, int(ans["index"]), block.height, tx.envelope(), cp, block)

    def tx(self, txid: str) -> ProvenTx:
        """A committed transaction with its inclusion proof verified against a trusted checkpoint.

        One not committed raises what the node says of it: a rejected one its rejection
        (TxRejected with the node's own code, e.g. ``SEQ_REUSED``, ``BAD_SIGNATURE``, an
        application's ``WRONG_ROLE``); a pending one ``TX_PENDING`` (ask again, or :meth:`wait`);
        one the node does not know (never seen, or rejected long ago) ``NOT_FOUND``."""
        ans = self._tx_status(txid)
        if ans["status"] == "rejected":
            raise _rejection(ans)
        if ans["status"] == "pending":
            raise AnjuError("TX_PENDING", f"transaction {txid} is pending: accepted, not in a block yet", txid=txid)
        return self._prove_tx(txid, ans)

    def state(self, key: str) -> ProvenState:
        """A state key's value (None: proven absent), verified against a trusted checkpoint."""
        ans = self._json("/state/" + state_path(key))
        if ans.get("key") != key:
            raise VerificationError("PROOF_INVALID", "the answer is for another key", key=key)
        with _reading(f"GET /state/{key}"):
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
        with _reading(f"GET {path}"):
            cp = self.see(ans["checkpoint"])
            verify_state(key, ans["value"], ans["proof"], cp)
        return ProvenState(key, ans["value"], cp)

    def listing_bundle(self, code: str) -> dict[str, Any]:
        return self._json(f"/codes/{code}")

    def verify_listing(self, code: str, date: str | None = None) -> VerifiedListing:
        """Fetch a listing's bundle by verification code and re-derive everything from its proofs.

        The bundle must be about the code asked for: a server answering with another listing's
        (genuine) bundle is refused."""
        canonical = canonical_code(code)
        if canonical is None:
            raise VerificationError("BAD_REQUEST", "not a listing verification code", listing_code=code)
        return check_listing(self._open_about(self.listing_bundle(canonical), canonical), canonical, date)

    def registration_bundle(self, number: str) -> dict[str, Any]:
        return self._json(f"/registrations/{number}")

    def verify_registration(self, number: str, date: str | None = None) -> VerifiedRegistration:
        """Fetch a lease registration's bundle (备案号, e.g. ``XH202600000001``) and re-derive the
        registered lease, its place and its phase at ``date`` from the proofs alone."""
        if not REGISTRATION_NUMBER.fullmatch(number):
            raise VerificationError("BAD_REQUEST", "not a lease registration number (XH + 12 digits)", number=number)
        return check_registration(self._open_about(self.registration_bundle(number), number), number, date)

    def history(self, party: str) -> dict[str, Any]:
        """A party's rental-history bundle (to hand to a landlord; verify with :func:`verify_bundle`)."""
        return self._json(f"/parties/{party}/history")

    def verify_history(self, party: str) -> VerifiedHistory:
        """Fetch a party's history and re-derive it from its proofs: the single bundle, or, for a
        history larger than one carries (the node answers BUNDLE_TOO_LARGE), its parts, verified
        as they arrive (no file, and no part kept once checked)."""
        try:
            bundle = self.history(party)
        except AnjuError as exc:
            if exc.code != "BUNDLE_TOO_LARGE":
                raise
            return self._history_parts(party, None)
        vb = self._open(bundle)
        if vb.subject != party:
            raise VerificationError("PROOF_INVALID", "the bundle is about another party", party=party)
        return check_history(vb)

    def export_history(self, party: str, path: str | Path) -> VerifiedHistory:
        """Download a party's history of any size as a multi-part bundle (``anju-history-parts-v1``,
        JSON lines) into the file ``path``, verifying each part as it arrives; the verified history.
        The file appears at ``path`` only once all of it verified (it replaces one there); a
        failure leaves nothing behind. Anyone checks it offline: ``anju check FILE --key VKEY``."""
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        try:
            with partial.open("wb") as out:
                result = self._history_parts(party, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
            sync_dir(target.parent)  # the new name too is on disk
        finally:
            partial.unlink(missing_ok=True)
        return result

    def _history_parts(self, party: str, out: IO[bytes] | None) -> VerifiedHistory:
        """GET the history in parts and verify them as they come (writing each line to ``out``)."""
        check = HistoryParts(self.trust)
        path = API + f"/parties/{party}/history"
        request = self.http.build_request(
            "GET", path, params={"format": "parts"}, headers={"Accept": PARTS_MEDIA_TYPE}, timeout=self._patient()
        )
        attempt = 0
        while True:  # a busy node (BUSY, 503) is asked again, as _request does
            try:
                resp = self.http.send(request, stream=True)
            except httpx.TransportError as exc:
                raise _unreachable(request, exc) from exc
            if resp.status_code < 400:
                break
            resp.read()
            resp.close()
            attempt += 1
            time.sleep(self._retry_after(_error_from(resp), attempt))
        try:
            try:
                for line in split_lines(resp.iter_bytes(), MAX_LINE):
                    check.feed(line)
                    if check.lines == 1:  # the head: its checkpoint must agree with those seen before
                        self.see(check.note)
                        if check.subject != party:
                            raise VerificationError("PROOF_INVALID", "the bundle is about another party", party=party)
                    if out is not None:
                        out.write(line + b"\n")
            except httpx.TransportError as exc:
                raise _unreachable(request, exc) from exc
        finally:
            resp.close()
        return check.result()

    def _patient(self) -> httpx.Timeout:
        """The client's timeouts, with a read timeout of at least five minutes: a node builds a large
        history in full before it sends the first byte."""
        t = self.http.timeout
        return httpx.Timeout(connect=t.connect, read=max(t.read or 0.0, 300.0), write=t.write, pool=t.pool)

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
        with _reading("a bundle request"):
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
        give_up_after: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Follow the live event stream (reconnecting with Last-Event-ID); yields event objects.

        A lost connection is made again every half second, for ever by default (a subscriber that
        outlives a node's restart misses nothing, and so does one the node dropped for taking
        nothing for a while); with ``give_up_after`` seconds, a node that cannot be reached for
        that long raises NODE_UNREACHABLE. A node at its limit of streams (429, or 503 but
        SHUTTING_DOWN) is asked again after its Retry-After (at most 5 s), up to ``retries`` times
        in a row, as any other call is. EVENT_ID_AHEAD (``after``, or the position reached, is past
        the node's newest event) is asked again every second, up to ``retries`` times in a row:
        behind a load balancer over consortium members, a reconnection may reach a member a block
        behind the one that sent the last event, and a moment cures that; past that it is raised (a
        position from another ledger). Any other error answer is raised at once."""
        params = {k: v for k, v in {"party": party, "unit": unit, "listing": listing, "kind": kind}.items() if v}
        last = after
        failing_since: float | None = None
        overloaded = 0  # 429/503 answers in a row
        ahead = 0  # EVENT_ID_AHEAD answers in a row
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            wait = 0.0
            try:
                with self.http.stream(
                    "GET", API + "/events", params=params, headers=headers, timeout=httpx.Timeout(10.0, read=60.0)
                ) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        err = _error_from(resp)
                        if err.code == "EVENT_ID_AHEAD" and ahead < self.retries:
                            ahead += 1  # (a member behind the one that served the last event)
                            wait = 1.0
                        else:
                            # a node at its limit of streams (often still counting the one just lost,
                            # not yet noticed closed) is asked again after Retry-After, as any call is
                            overloaded += 1
                            wait = max(self._retry_after(err, overloaded), 0.5)
                    elif resp.headers.get("content-type", "").split(";")[0].strip() != "text/event-stream":
                        # (a page that is not a stream ends at once: reconnecting would spin for ever)
                        raise _bad_response(resp, "the answer is not an event stream")
                    else:
                        failing_since = None  # connected
                        overloaded = ahead = 0
                        for frame in iter_sse(resp.iter_lines()):
                            if "data" in frame:
                                ev = _event(resp, frame["data"])
                                last = ev["id"]
                                yield ev
                            elif last is None and _is_position(frame.get("id")):
                                # the stream's start ("from now"): a reconnection before any event
                                # resumes from it, not from a later "now"
                                last = int(frame["id"])
            except httpx.TransportError as exc:
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                if give_up_after is not None and now - failing_since >= give_up_after:
                    raise _unreachable(exc.request, exc) from exc
                time.sleep(0.5)
            if wait:
                time.sleep(wait)


def _is_position(text: str | None) -> bool:
    """An event id as the API writes it (1-16 ASCII digits)."""
    return text is not None and 0 < len(text) <= 16 and text.isascii() and text.isdigit()


def _event(resp: httpx.Response, data: str) -> dict[str, Any]:
    """An event frame's data: a JSON object with an integer ``id`` (BAD_RESPONSE otherwise)."""
    ev = _loads(data.encode())
    if not isinstance(ev, dict) or type(ev.get("id")) is not int:
        raise _bad_response(resp, "an event that is not a JSON object with an integer id")
    return ev


def iter_sse(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """Parse Server-Sent Events frames from text lines (fields id, event, data). A frame the lines
    end in, before its blank line, is dropped, as the SSE standard says: a connection cut in the
    middle of a frame (a stream the node dropped) ends with part of it, perhaps half a data line."""
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
