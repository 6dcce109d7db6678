"""Wire shapes of the HTTP API, for the OpenAPI document (docs/PROTOCOL.md, section "HTTP API").

Handlers serialise plain dicts with orjson for speed; these models describe exactly what they
write, and the schemathesis test checks every answer against them. Bytes are base64 unless the
field name says hex.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


def _ascii_digits(value: object) -> object:
    """A query integer must be written in plain decimal digits: pydantic alone would also take
    ``1_0``, `` 10``, ``+10`` and ``10.0`` (the range is still checked by the parameter's bounds)."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 16):
        raise ValueError("must be an integer in decimal digits")
    return value


Digits = Annotated[int, BeforeValidator(_ascii_digits)]
"""An integer query parameter (decimal digits only, at most 16 of them)."""


class ErrorDetail(BaseModel):
    code: str = Field(description="stable error code (docs/PROTOCOL.md, section Errors)")
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


class NodeInfo(BaseModel):
    chain_id: str
    origin: str = Field(description="checkpoint origin line")
    verifier_key: str = Field(description="C2SP signed-note verifier key of the node")
    verifier_keys: list[list[int | str]] = Field(
        description="which key signed which heights, [[from_height, verifier key], ...] from 0, ending with "
        "verifier_key ([[0, verifier_key]]: one signer throughout; more after a change of signer, such as a "
        "consortium started from a node's ledger; [] when the ledger's record of it is not one); the node's "
        "word, as verifier_key is (docs/PROTOCOL.md, 'Keys by height')"
    )
    handovers: list[dict[str, int | str]] = Field(
        default_factory=list,
        description="for each earlier key of verifier_keys, the last block it signed, {height, log_size, "
        "log_root (base64)}: what its checkpoints may claim (docs/PROTOCOL.md, 'Keys by height'); [] for one "
        "signer throughout; the node's word, as verifier_keys is",
    )
    app: str
    version: str
    height: int
    tree_size: int
    log_root: str
    state_root: str
    time: str
    checkpoint: str = Field(description="latest signed checkpoint note")
    accepting: bool = Field(
        description="false once the node has stopped taking transactions after a failure (a verifier or "
        "block-writer process died, storage failed): submissions get SHUTTING_DOWN; restart it"
    )


class Health(BaseModel):
    status: Literal["ok"] = Field(description="the node takes transactions and its ledger reads")
    height: int
    tree_size: int
    time: str = Field(description="the newest block's time")


class EventBody(BaseModel):
    kind: str
    data: dict[str, Any]
    parties: list[str]
    units: list[str]
    listings: list[str]


class SubmitResult(BaseModel):
    txid: str = Field(description="hex SHA-256 of the signed bytes")
    status: Literal["pending", "committed"]
    height: int | None = None
    index: int | None = None
    events: list[EventBody] | None = None


class BatchItem(BaseModel):
    txid: str | None = Field(description="hex transaction id; null when the item could not be parsed")
    status: Literal["pending", "committed", "rejected"]
    height: int | None = None
    index: int | None = None
    events: list[EventBody] | None = None
    error: ErrorDetail | None = Field(default=None, description="with status rejected: the item's error")


class BatchResult(BaseModel):
    results: list[BatchItem] = Field(description="one per envelope of the request, in the same order")


class InclusionProof(BaseModel):
    index: int
    tree_size: int
    hashes: list[str] = Field(description="RFC 9162 PATH(index, D[0:tree_size]), leaf to root, base64")


class HeightProof(BaseModel):
    block: str = Field(description="the signed checkpoint note of the transaction's block")
    previous: str = Field(description="the signed checkpoint note of the block before it")
    previous_to_block: list[str] = Field(
        description="RFC 9162 PROOF(size(previous), D[0:size(block)]), base64; empty when size(previous) is 0"
    )
    block_to_head: list[str] = Field(
        description="RFC 9162 PROOF(size(block), D[0:tree_size]), base64; empty when the sizes are equal"
    )


class TxStatus(BaseModel):
    txid: str
    status: Literal["pending", "committed", "rejected"]
    height: int | None = None
    index: int | None = None
    envelope: dict[str, Any] | None = None
    leaf: str | None = Field(None, description="base64 JCS(envelope): the log leaf")
    inclusion: InclusionProof | None = None
    checkpoint: str | None = Field(None, description="signed checkpoint note the proof is against")
    height_proof: HeightProof | None = Field(None, description="proves that the transaction is of block `height`")
    error: ErrorDetail | None = None


class Block(BaseModel):
    height: int
    time: str
    first_index: int
    tx_count: int
    txids: list[str]
    log_size: int
    log_root: str
    state_root: str
    checkpoint: str


class ConsistencyProof(BaseModel):
    first: int
    second: int
    hashes: list[str] = Field(description="RFC 9162 PROOF(first, D[0:second]), base64")
    checkpoint: str = Field(description="latest signed checkpoint note when the request was answered")


class StateLeaf(BaseModel):
    path: str
    value_hash: str


class StateProofModel(BaseModel):
    depth: int
    bitmap: str
    siblings: list[str]
    leaf: StateLeaf | None


class StateAnswer(BaseModel):
    key: str
    value: Any = Field(description="the JSON value, or null when the key is absent")
    proof: StateProofModel
    height: int
    checkpoint: str


class Event(BaseModel):
    id: int
    height: int
    index: int
    txid: str
    kind: str
    data: dict[str, Any]
    parties: list[str]
    units: list[str]
    listings: list[str]
    time: str


class EventsPage(BaseModel):
    events: list[Event]
    last_id: int = Field(description="continue with after=last_id")
    more: bool = Field(
        default=False,
        description="true when the page is full or the request read its limit of events (10,000) before the "
        "end; false when it reached the newest event",
    )


class ListingItem(BaseModel):
    id: str
    listing: dict[str, Any]
    unit: dict[str, Any] | None
    status: str


class ListingsPage(BaseModel):
    listings: list[ListingItem]
    next: str | None = Field(description="cursor for the next page, or null")
    height: int


class StateEntry(BaseModel):
    key: str
    value: Any
    proof: StateProofModel


class TxEntry(BaseModel):
    txid: str
    index: int
    leaf: str = Field(description="base64 JCS(envelope)")
    hashes: list[str] = Field(description="inclusion proof against the bundle's checkpoint, base64")


class Disclosure(BaseModel):
    """A party's own disclosure of the text behind its identity commitment."""

    model_config = ConfigDict(extra="forbid")
    identity: str
    salt: str = Field(pattern="^[0-9a-f]{32}$", description="16 bytes, hex: SHA-256(salt ‖ identity) = commitment")


class Bundle(BaseModel):
    format: Literal["anju-bundle-v1"]
    kind: Literal["listing", "history", "registration"]
    subject: str
    chain_id: str
    checkpoint: str
    state: list[StateEntry]
    txs: list[TxEntry]
    claims: dict[str, Any] = Field(description="what the server says the proofs show; re-derived by verifiers")
    disclosure: Disclosure | SkipJsonSchema[None] = Field(
        None, description="history bundles only: added at the party's own request (PROTOCOL.md); never null"
    )


class Record(BaseModel):
    key: str
    value: Any
    proof: StateProofModel
    height: int
    checkpoint: str
    related: dict[str, Any] = Field(description="derived, unproven convenience data (e.g. current status)")


class LeaseHistory(BaseModel):
    unit: str
    leases: list[dict[str, Any]]
    height: int


class CreditAnswer(BaseModel):
    party: str
    credit: Any
    proof: StateProofModel
    height: int
    checkpoint: str
    explanation: dict[str, Any]
    archived: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per factor, the state keys of its archived credit chunks, oldest first (the entries the "
        "record no longer holds; each key is provable with GET /state/{key})",
    )


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad request"},
    404: {"model": ErrorBody, "description": "not found"},
    413: {"model": ErrorBody, "description": "request too large"},
    429: {"model": ErrorBody, "description": "rate limited (Retry-After)"},
    503: {"model": ErrorBody, "description": "overloaded or shutting down (Retry-After)"},
}
