"""One error model for all of Anju.

    AnjuError                 root: a stable ``code``, a human ``message`` and ``details``
    ├── TxRejected            a transaction refused; nothing changed (HTTP 4xx, ABCI code > 0)
    ├── VerificationError     a proof, signature or stored record failed to verify
    ├── Overloaded            the node is saturated; retry later (HTTP 429/503 + Retry-After)
    └── StorageCorrupt        on-disk data is inconsistent; the node stops loudly

Every code used anywhere is listed in :data:`CODES` with a one-line meaning, and a test checks
that each one is documented in ``docs/PROTOCOL.md``.
"""

from __future__ import annotations

import re
from typing import Any, Self

# code -> (HTTP status, meaning)
CODES: dict[str, tuple[int, str]] = {
    # envelope and transport
    "MALFORMED_JSON": (400, "the request body is not valid JSON (UTF-8, RFC 8259)"),
    "MALFORMED_ENVELOPE": (400, "the envelope is not {body, sigs} with the required fields and types"),
    "UNKNOWN_FIELD": (400, "a field that the schema does not define is present"),
    "NON_INTEGER_NUMBER": (400, "a number is not an integer (money is in fen; no floats anywhere)"),
    "INTEGER_OUT_OF_RANGE": (400, "an integer lies outside -(2^53-1)..2^53-1 or a field's own range"),
    "TX_TOO_LARGE": (413, "the envelope exceeds the maximum transaction size"),
    "PAYLOAD_TOO_LARGE": (413, "the HTTP request body exceeds the maximum request size"),
    "WRONG_CHAIN": (400, "body.chain is not this ledger's chain id"),
    "BAD_SIGNATURE": (400, "a signature does not verify over the signed bytes"),
    "MISSING_SIGNATURE": (400, "a required signature (the signer's, or a co-signer's) is absent"),
    "DUPLICATE_SIGNATURE": (400, "the same key signs twice"),
    "UNKNOWN_SIGNER": (403, "the signer is not a registered party of the application"),
    "SEQ_REUSED": (409, "seq is not greater than the signer's last committed seq (replay)"),
    "SEQ_SKIPPED": (409, "seq is more than one above the signer's last seq (out of order)"),
    "DUPLICATE_TX": (409, "a transaction with this id is already pending or committed"),
    "UNKNOWN_KIND": (400, "body.kind names no transaction kind of the application"),
    "INVALID_FIELD": (400, "a field has the wrong type or an impossible value"),
    "APPLICATION_ERROR": (422, "the application failed on this transaction (a defect in its rules); nothing changed"),
    "NOT_FOUND": (404, "no such transaction, block, key or record"),
    "BAD_REQUEST": (400, "the query parameters are invalid"),
    "EVENT_ID_AHEAD": (
        400,
        "Last-Event-ID or ?after= names an event id past this node's newest event: a position from another "
        "ledger (or from a consortium member further ahead); details.newest is this node's newest event id",
    ),
    "RATE_LIMITED": (429, "this client sent too many requests; retry after the given delay"),
    "MEMPOOL_FULL": (503, "the node's queue of pending transactions is full; retry later"),
    "SHUTTING_DOWN": (503, "the node is stopping, or stopped after a storage failure, and accepts nothing new"),
    "BUSY": (503, "the node is building as many large exports (histories in parts) as it builds at once; retry later"),
    "TIMEOUT": (504, "the transaction was accepted but not committed within the wait limit"),
    # verification
    "PROOF_INVALID": (422, "a Merkle inclusion, consistency or state proof does not verify"),
    "CHECKPOINT_INVALID": (422, "a checkpoint note is malformed or its signature does not verify"),
    "BUNDLE_TOO_LARGE": (
        422,
        "the proof bundle asked for would need more transactions than a bundle carries (ask for its parts: "
        "?format=parts), or a line of a multi-part bundle is longer than the verifier reads",
    ),
    "BUNDLE_INCOMPLETE": (
        422,
        "a multi-part bundle is cut short: it ends before its end part, a part is missing, or its last line "
        "lacks its newline (details.reason)",
    ),
    "BUNDLE_MALFORMED": (
        422,
        "a multi-part bundle is not one: a part out of order, repeated or after the end part, a part of "
        "another checkpoint, an entry or transaction it has no place for (details.reason)",
    ),
    "STORE_CORRUPT": (500, "stored ledger data does not match what replaying the ledger gives"),
    "WRONG_NODE_KEY": (
        500,
        "the node's signing key (node.key) is not the key its ledger publishes (meta verifier_key): "
        "the node refuses to start rather than sign blocks no verifier accepts",
    ),
    "DATA_DIR_IN_USE": (
        500,
        "another process runs a node on this data directory (it holds DATA/ledger.lock), or the store process "
        "of a node that died still writes it (DATA/ledger.store.lock): one writer per directory",
    ),
    "STORE_FORMAT": (
        500,
        "the data directory was written in a storage format, or with genesis parameters (such as a rules edition), "
        "that this version cannot run",
    ),
    "LEDGER_EXISTS": (
        409,
        "the data directory already holds a ledger (ledger.db), or the genesis.json of another one: "
        "`anju init` never writes over either",
    ),
    "NODE_KEY_INVALID": (
        500,
        "the data directory's node.key is not a valid node key file (a node refuses to start), or is another key "
        "than the one a ledger is to be made with: `anju init` keeps a node key it finds, never writes over it",
    ),
    "STORAGE_UNAVAILABLE": (
        500,
        "the data directory cannot be written: no permission, a full disk, a path through a file",
    ),
    # the SDK's own: no node answers with them
    "NODE_UNREACHABLE": (
        503,
        "(client) the node could not be reached: connection refused or reset, no answer in time, "
        "a name that does not resolve",
    ),
    "BAD_RESPONSE": (
        502,
        "(client) the server's answer is not the Anju API's: not JSON, or not the shape the API answers with",
    ),
    "TX_PENDING": (202, "(client) the transaction is accepted and waits for a block: not committed yet"),
    "FILE_UNREADABLE": (
        400,
        "(command line) a file the command was given cannot be read: missing, a directory, no permission",
    ),
    "FILE_UNWRITABLE": (
        500,
        "(command line) a file the command is to write cannot be written: no permission, a full disk, "
        "a directory removed meanwhile",
    ),
    "KEY_FILE_INVALID": (
        400,
        "(command line) a key file that is not one: not a keystore, a node key file or a hex seed, a damaged "
        "keystore, or one asking an argon2id cost outside the bounds read",
    ),
    "KEYSTORE_PASSWORD": (401, "(command line) a keystore's password is wrong (or the keystore was altered)"),
    "INPUT_ABORTED": (
        400,
        "(command line) a secret asked for was not given: the input ended, or the two entries of a new one differ",
    ),
}

LEDGER_CODES = frozenset(CODES)  # the codes above; applications register theirs after

WELL_FORMED_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
"""What a code looks like: a client keeps any such code a node answers with, registered in its own
process or not (a registry code in a process that never imports the registry)."""


class AnjuError(Exception):
    """Root of every error Anju raises on purpose."""

    code: str = "BAD_REQUEST"
    _status: int | None = None  # (an error a node answered with: the HTTP status it answered with)

    def __init__(self, code: str, message: str, **details: Any) -> None:
        if code not in CODES:
            raise ValueError(f"unregistered error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (signature checks run in worker processes).
        return (_rebuild, (type(self), self.args), self.__dict__)

    @classmethod
    def reported(
        cls, code: str, message: str, details: dict[str, Any] | None = None, *, status: int | None = None
    ) -> Self:
        """An error a node reported (an HTTP error answer, a rejected transaction's status): its
        ``code`` kept as it is, registered in this process or not (an application registers its
        codes only where it is imported: a client never imports the registry), provided it is well
        formed (:data:`WELL_FORMED_CODE`; ValueError otherwise); ``status``: the HTTP status the node
        answered with (None: the code table's, or 400 for a code this process does not know)."""
        if code not in CODES and not WELL_FORMED_CODE.fullmatch(code):
            raise ValueError(f"ill-formed error code {code[:80]!r}")
        err = cls.__new__(cls)
        Exception.__init__(err, f"{code}: {message}")
        err.code, err.message, err.details, err._status = code, message, dict(details or {}), status
        return err

    @property
    def http_status(self) -> int:
        if self._status is not None:
            return self._status
        return CODES[self.code][0] if self.code in CODES else 400

    def to_json(self) -> dict[str, Any]:
        """The contract's error body: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def diagnostics(self) -> str:
        """Text a user can act on."""
        extra = "".join(f"\n  {k}: {v}" for k, v in self.details.items())
        return f"{self.code}: {self.message}{extra}"


def _rebuild(cls: type[AnjuError], args: tuple[Any, ...]) -> AnjuError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    return err


class TxRejected(AnjuError):
    """A transaction was refused; it changed nothing."""


class VerificationError(AnjuError):
    """Something that should verify did not; ``details`` carries the evidence."""


class Overloaded(AnjuError):
    """The node cannot take more now; ``retry_after`` seconds is a fair wait."""

    def __init__(self, code: str, message: str, retry_after: float = 1.0, **details: Any) -> None:
        super().__init__(code, message, retry_after=retry_after, **details)
        self.retry_after = retry_after

    @classmethod
    def reported(
        cls, code: str, message: str, details: dict[str, Any] | None = None, *, status: int | None = None
    ) -> Self:
        err = super().reported(code, message, details, status=status)
        retry = err.details.get("retry_after")
        err.retry_after = float(retry) if isinstance(retry, int | float) and not isinstance(retry, bool) else 1.0
        return err


class StorageCorrupt(AnjuError):
    """On-disk data is inconsistent with the ledger; never silently repaired."""


def register_codes(codes: dict[str, tuple[int, str]]) -> None:
    """Let an application (the registry) add its own stable codes to the one table."""
    for code, spec in codes.items():
        existing = CODES.get(code)
        if existing is not None and existing != spec:
            raise ValueError(f"error code {code!r} registered twice with different meanings")
        CODES[code] = spec
