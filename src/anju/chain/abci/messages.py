"""ABCI 2.0 messages (CometBFT v0.38, package ``tendermint.abci``), by field number.

Written from the ABCI specification; field numbers are the wire contract. Only the fields Anju
reads or writes are modelled; unknown fields are skipped, as protobuf requires.

Request oneof: echo 1, flush 2, info 3, init_chain 5, query 6, check_tx 8, commit 11,
list_snapshots 12, offer_snapshot 13, load_snapshot_chunk 14, apply_snapshot_chunk 15,
prepare_proposal 16, process_proposal 17, extend_vote 18, verify_vote_extension 19,
finalize_block 20. Response oneof: exception 1, then each request's number + 1 (echo 2, flush 3,
info 4, init_chain 6, query 7, check_tx 9, commit 12, …, finalize_block 21).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from anju.chain.abci.wire import (
    LEN,
    VARINT,
    Fields,
    WireError,
    f_bool,
    f_bytes,
    f_int,
    f_msg,
    f_str,
    iter_fields,
    read_bytes,
    read_uvarint,
    skip_field,
)

REQUESTS: dict[int, str] = {
    1: "echo",
    2: "flush",
    3: "info",
    5: "init_chain",
    6: "query",
    8: "check_tx",
    11: "commit",
    12: "list_snapshots",
    13: "offer_snapshot",
    14: "load_snapshot_chunk",
    15: "apply_snapshot_chunk",
    16: "prepare_proposal",
    17: "process_proposal",
    18: "extend_vote",
    19: "verify_vote_extension",
    20: "finalize_block",
}
RESPONSE_FIELD: dict[str, int] = {name: no + 1 for no, name in REQUESTS.items()} | {"exception": 1}

CHECK_TX_NEW, CHECK_TX_RECHECK = 0, 1
PROPOSAL_ACCEPT, PROPOSAL_REJECT = 1, 2
VOTE_EXTENSION_ACCEPT = 1
OFFER_SNAPSHOT_REJECT = 3
APPLY_CHUNK_REJECT_SNAPSHOT = 5


def parse_request(buf: bytes) -> tuple[str, bytes]:
    """The request's kind and its (still encoded) body."""
    for no, _, v in iter_fields(buf):
        name = REQUESTS.get(no)
        if name is None:
            raise WireError(f"unsupported ABCI request field {no}")
        if not isinstance(v, bytes):
            raise WireError("request body is not a message")
        return name, v
    raise WireError("empty ABCI request")


def timestamp_rfc3339(buf: bytes) -> str:
    """google.protobuf.Timestamp {seconds 1, nanos 2} as RFC 3339 UTC with milliseconds."""
    f = Fields(buf)
    seconds, nanos = f.num(1), f.num(2)
    dt = datetime.fromtimestamp(seconds, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1_000_000:03d}Z"


# -- requests -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InitChain:
    time: str  # 1
    chain_id: str  # 2
    app_state: bytes  # 5
    initial_height: int  # 6

    @classmethod
    def parse(cls, buf: bytes) -> InitChain:
        f = Fields(buf)
        return cls(timestamp_rfc3339(f.raw(1)), f.text(2), f.raw(5), f.num(6))


@dataclass(frozen=True, slots=True)
class Query:
    data: bytes  # 1
    path: str  # 2
    height: int  # 3
    prove: bool  # 4

    @classmethod
    def parse(cls, buf: bytes) -> Query:
        f = Fields(buf)
        return cls(f.raw(1), f.text(2), f.num(3), f.flag(4))


@dataclass(frozen=True, slots=True)
class CheckTx:
    tx: bytes  # 1
    type: int  # 2: NEW 0, RECHECK 1

    @classmethod
    def parse(cls, buf: bytes) -> CheckTx:
        tx, kind = b"", 0
        pos, end = 0, len(buf)
        while pos < end:  # hot path: one CheckTx per tx per member
            key, pos = read_uvarint(buf, pos)
            if key == (1 << 3 | LEN):
                tx, pos = read_bytes(buf, pos)
            elif key == (2 << 3 | VARINT):
                kind, pos = read_uvarint(buf, pos)
            else:
                pos = skip_field(buf, pos, key)
        return cls(tx, kind)


@dataclass(frozen=True, slots=True)
class PrepareProposal:
    max_tx_bytes: int  # 1
    txs: list[bytes]  # 2
    height: int  # 5
    time: str  # 6

    @classmethod
    def parse(cls, buf: bytes) -> PrepareProposal:
        f = Fields(buf)
        return cls(f.num(1), f.raws(2), f.num(5), timestamp_rfc3339(f.raw(6)))


@dataclass(frozen=True, slots=True)
class Proposal:
    """ProcessProposal and FinalizeBlock share their layout: txs 1, hash 4, height 5, time 6."""

    txs: list[bytes]
    hash: bytes
    height: int
    time: str

    @classmethod
    def parse(cls, buf: bytes, *, txs: bool = True) -> Proposal:
        """``txs=False``: skip the transactions (FinalizeBlock of the block ProcessProposal ran)."""
        out: list[bytes] = []
        block_hash, height, ts = b"", 0, b""
        pos, end = 0, len(buf)
        tx_key = 1 << 3 | LEN
        while pos < end:  # hot path: thousands of txs per block; no dict of fields
            key = buf[pos]
            if key == tx_key:
                b = buf[pos + 1] if pos + 1 < end else 0x80
                if b < 0x80:
                    n, pos = b, pos + 2
                else:
                    n, pos = read_uvarint(buf, pos + 1)
                if pos + n > end:
                    raise WireError("truncated length-delimited field")
                if txs:
                    out.append(buf[pos : pos + n])
                pos += n
                continue
            key, pos = read_uvarint(buf, pos)
            if key == (4 << 3 | LEN):
                block_hash, pos = read_bytes(buf, pos)
            elif key == (6 << 3 | LEN):
                ts, pos = read_bytes(buf, pos)
            elif key == (5 << 3 | VARINT):
                height, pos = read_uvarint(buf, pos)
            else:
                pos = skip_field(buf, pos, key)
        return cls(out, block_hash, height, timestamp_rfc3339(ts))


# -- responses ----------------------------------------------------------------------------------
def response(kind: str, body: bytes = b"") -> bytes:
    return f_msg(RESPONSE_FIELD[kind], body)


def exception(error: str) -> bytes:
    return response("exception", f_str(1, error))


def echo(message: str) -> bytes:
    return response("echo", f_str(1, message))


def info(data: str, version: str, app_version: int, last_height: int, last_app_hash: bytes) -> bytes:
    return response(
        "info",
        f_str(1, data) + f_str(2, version) + f_int(3, app_version) + f_int(4, last_height) + f_bytes(5, last_app_hash),
    )


def init_chain(app_hash: bytes) -> bytes:
    return response("init_chain", f_bytes(3, app_hash))


def query(code: int, log: str, key: bytes, value: bytes, height: int, codespace: str = "", info: str = "") -> bytes:
    return response(
        "query",
        f_int(1, code)
        + f_str(3, log)
        + f_str(4, info)
        + f_bytes(6, key)
        + f_bytes(7, value)
        + f_int(9, height)
        + f_str(10, codespace),
    )


@dataclass(frozen=True, slots=True)
class Event:
    """abci.Event {type 1, attributes 2: EventAttribute {key 1, value 2, index 3}}."""

    type: str
    attributes: Sequence[tuple[str, str]] = ()

    def encode(self) -> bytes:
        attrs = b"".join(f_msg(2, f_str(1, k) + f_str(2, v) + f_bool(3, True)) for k, v in self.attributes)
        return f_str(1, self.type) + attrs


@dataclass(frozen=True, slots=True)
class TxResult:
    """ResponseCheckTx and ExecTxResult share: code 1, data 2, log 3, info 4, events 7, codespace 8."""

    code: int = 0
    data: bytes = b""
    log: str = ""
    codespace: str = ""
    events: Sequence[Event] = field(default_factory=tuple)

    def encode(self) -> bytes:
        if not self.code and not self.log and not self.codespace and not self.events and len(self.data) < 0x80:
            return b"\x12" + bytes((len(self.data),)) + self.data if self.data else b""  # hot path: OK + txid
        return (
            f_int(1, self.code)
            + f_bytes(2, self.data)
            + f_str(3, self.log)
            + b"".join(f_msg(7, e.encode()) for e in self.events)
            + f_str(8, self.codespace)
        )


def check_tx(result: TxResult) -> bytes:
    return response("check_tx", result.encode())


def commit(retain_height: int = 0) -> bytes:
    return response("commit", f_int(3, retain_height))


def prepare_proposal(txs: Sequence[bytes]) -> bytes:
    return response("prepare_proposal", b"".join(f_msg(1, tx) for tx in txs))


def process_proposal(status: int) -> bytes:
    return response("process_proposal", f_int(1, status))


def finalize_block(events: Sequence[Event], results: Sequence[TxResult], app_hash: bytes) -> bytes:
    return response(
        "finalize_block",
        b"".join(f_msg(1, e.encode()) for e in events)
        + b"".join(f_msg(2, r.encode()) for r in results)
        + f_bytes(5, app_hash),
    )


def extend_vote() -> bytes:
    return response("extend_vote")


def verify_vote_extension(status: int = VOTE_EXTENSION_ACCEPT) -> bytes:
    return response("verify_vote_extension", f_int(1, status))


def list_snapshots() -> bytes:
    return response("list_snapshots")


def offer_snapshot(result: int = OFFER_SNAPSHOT_REJECT) -> bytes:
    return response("offer_snapshot", f_int(1, result))


def load_snapshot_chunk() -> bytes:
    return response("load_snapshot_chunk")


def apply_snapshot_chunk(result: int = APPLY_CHUNK_REJECT_SNAPSHOT) -> bytes:
    return response("apply_snapshot_chunk", f_int(1, result))
