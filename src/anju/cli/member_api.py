"""The Anju HTTP API and web portal of one consortium member, over CometBFT.

``create_app`` (``anju.api.app``) and ``mount_web`` serve an embedded ``Node``; a member has no
sequencer of its own, so :class:`MemberNode` offers what they use with consortium semantics:

- ``submit(raw)`` sends the envelope to *this member's* CometBFT RPC (``broadcast_tx_sync``): a
  CheckTx refusal fails the future at once with the Anju error code (from ``codespace``);
  otherwise the future is resolved when the tx appears in this member's own ledger, or fails with
  the Anju error of its block's execution (this member's cosigner lists each height's refusals);
- reads (``store``, ``executor.machine``, ``height``) come from the member's ledger, which the
  ABCI app process writes (SQLite WAL: readers never block it);
- ``on_commit`` listeners are called for each new stored block (a poller thread).

Run: ``python -m anju.cli.member_api --data D/node<i>/anju --rpc http://… --port P``
(``anju consortium up`` starts one per member).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import httpx
import orjson

from anju.chain.abci.app import MEMBER_FILE, MemberConfig
from anju.chain.abci.cosign import recent_rows
from anju.chain.apps import load_app
from anju.chain.node import DB_NAME, GENESIS_NAME, Receipt, handovers, key_history, now_rfc3339, read_genesis
from anju.crypto.tx import MAX_TX_BYTES, Tx, parse
from anju.errors import AnjuError, Overloaded, TxRejected
from anju.ledger.store import BlockRecord, Store
from anju.registry.port import Event, Machine

log = logging.getLogger("anju.member_api")
POLL_S = 0.05
PENDING_TTL_S = 150.0
"""A transaction CometBFT accepted but no block carried this long after it accepted it is answered
TIMEOUT (a little longer than CheckTx holds its seq, ``abci.app.MEMPOOL_SEQ_TTL_S``, so that a client
resubmitting then is not answered SEQ_REUSED): its
mempool can drop a transaction that passed CheckTx (full on insert, or a restart), and nothing
else would ever settle it (a later commit still shows in GET /txs, which reads the ledger first)."""
MAX_PENDING = 50_000
"""Transactions waiting for their block, at most (then MEMPOOL_FULL)."""


class _MachineView:
    """``node.executor`` as the API reads it: only ``machine``."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine


FOLLOW_RETRIES = 20
"""Polls a block that cannot be read is tried before the follower gives it up (logged)."""


class MemberNode:
    """A consortium member seen as a ``Node`` by the API and the portal."""

    def __init__(self, data: Path, rpc: str, *, workers: int = 16) -> None:
        self.data = Path(data)
        self.rpc = rpc.rstrip("/")
        genesis = read_genesis(self.data)
        self.chain_id: str = genesis["chain_id"]
        self.store = Store(self.data / DB_NAME)
        self.executor = _MachineView(load_app(genesis["app"], genesis["params"]))
        cfg = MemberConfig.load(self.data) if (self.data / MEMBER_FILE).exists() else None
        self.key_name = cfg.key_name if cfg else self.chain_id
        vkey = self.store.get_meta("verifier_key")
        self.verifier_key = vkey.decode() if vkey else ""
        self.verifier_keys = key_history(self.store, self.verifier_key) if vkey else []
        self.handovers = handovers(self.store, self.verifier_keys)
        # The consortium's keys and threshold, for clients that verify cosigned checkpoints.
        self.members = [m.vkey for m in cfg.members] if cfg else []
        self.threshold = cfg.threshold if cfg else 1
        # This member's cosigner lists, per height, the txs refused at execution (a tx can pass
        # CheckTx and still fail in its block): a client waiting for one gets its error.
        own = [mb.cosign_url for mb in cfg.members if mb.name == cfg.key_name] if cfg else []
        self._cosign = own[0].rstrip("/") if own else None
        self._unexplained: list[int] = []  # stored heights whose refusals were not read yet
        self.clock: Callable[[], str] = now_rfc3339
        self._listeners: list[Callable[[BlockRecord], None]] = []
        self._pending: dict[str, Future[Receipt]] = {}
        self._since: dict[str, float] = {}  # txid -> when it was handed to CometBFT (monotonic)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="anju-member-submit")
        self._client = httpx.Client(timeout=15, limits=httpx.Limits(max_connections=workers))
        # The follower's own connection to the cosigner: never queued behind slow broadcasts.
        self._follow_client = httpx.Client(timeout=5, limits=httpx.Limits(max_connections=1))
        self._thread: threading.Thread | None = None
        self._seen = self.store.height()

    @property
    def height(self) -> int:
        return self.store.height()

    # -- lifecycle (create_app's manage_node) ------------------------------------------------------
    def start(self) -> MemberNode:
        if self._thread is None:
            self._thread = threading.Thread(target=self._follow, name="anju-member-follow", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._pool.shutdown(cancel_futures=True)
        self._client.close()
        self._follow_client.close()

    def on_commit(self, listener: Callable[[BlockRecord], None]) -> None:
        self._listeners.append(listener)

    # -- submission ---------------------------------------------------------------------------------
    def check_accepting(self) -> None:
        """A member forwards every submission to its CometBFT node, which answers for itself."""

    def submit(self, raw: bytes) -> Future[Receipt]:
        if len(raw) > MAX_TX_BYTES:
            raise TxRejected("TX_TOO_LARGE", f"envelope is {len(raw)} bytes; the limit is {MAX_TX_BYTES}")
        return self._submit([(parse(raw), raw)])[0]

    def _submit(self, items: Sequence[tuple[Tx, bytes]]) -> list[Future[Receipt]]:
        """Admit ``items`` all or none (MEMPOOL_FULL past MAX_PENDING, checked and counted under one
        lock, as the embedded node admits a batch), then broadcast each."""
        if self._stop.is_set():
            raise Overloaded("SHUTTING_DOWN", "the member is shutting down", retry_after=5)
        futs: list[Future[Receipt]] = [Future() for _ in items]
        with self._lock:
            waiting = len(self._pending)
            if waiting + len(items) > MAX_PENDING:
                raise Overloaded("MEMPOOL_FULL", f"{waiting} transactions are waiting; retry shortly", retry_after=1)
            for (tx, _), fut in zip(items, futs, strict=True):
                self._pending[tx.txid] = fut
        for (tx, raw), fut in zip(items, futs, strict=True):
            self._pool.submit(self._broadcast, tx.txid, raw, fut)
        return futs

    def submit_many(self, raws: list[bytes]) -> list[Future[Receipt]]:
        return [self.submit(r) for r in raws]

    def submit_parsed(self, txs: Sequence[Tx]) -> list[Future[Receipt]]:
        """Transactions the API parsed: broadcast as their canonical envelopes (CheckTx verifies them)."""
        return self._submit([(tx, tx.leaf) for tx in txs])

    def _broadcast(self, txid: str, raw: bytes, fut: Future[Receipt]) -> None:
        try:
            self._send(txid, raw, fut)
        except Exception as exc:  # whatever happens, the waiting client gets an answer
            log.exception("broadcasting %s failed", txid)
            self._fail(txid, fut, Overloaded("SHUTTING_DOWN", f"broadcasting failed: {type(exc).__name__}"))

    def _send(self, txid: str, raw: bytes, fut: Future[Receipt]) -> None:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "broadcast_tx_sync",
            "params": {"tx": base64.b64encode(raw).decode()},
        }
        try:
            reply = self._client.post(self.rpc, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
            # never sent (refused, no route, a name that does not resolve, an --rpc that is not http(s))
            self._fail(txid, fut, Overloaded("SHUTTING_DOWN", f"this member's CometBFT is unreachable: {exc}"))
            return
        except httpx.HTTPError as exc:
            # Sent, answer lost (a read timeout under load): CometBFT may have admitted it. It stays
            # pending: its block settles it, or TIMEOUT after PENDING_TTL_S (a retry meanwhile
            # would get DUPLICATE_TX while it commits).
            log.warning("no answer from CometBFT for %s (%s); waiting for its block", txid, type(exc).__name__)
            self._mark_sent(txid, fut)
            return
        try:
            doc = reply.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            msg = f"this member's CometBFT answered HTTP {reply.status_code} without a JSON-RPC reply"
            self._fail(txid, fut, Overloaded("SHUTTING_DOWN", msg))
            return
        if "error" in doc:
            err = doc["error"]
            data = str(err.get("data", "") if isinstance(err, dict) else err)
            if "already exists in cache" in data:
                self._fail(txid, fut, TxRejected("DUPLICATE_TX", "this transaction was already submitted", txid=txid))
            elif "mempool is full" in data:
                self._fail(txid, fut, Overloaded("MEMPOOL_FULL", "the mempool is full; retry shortly", retry_after=1))
            else:
                self._fail(txid, fut, TxRejected("MALFORMED_ENVELOPE", data or "refused by CometBFT"))
            return
        res = doc.get("result", {})
        code_num = res.get("code", 0) if isinstance(res, dict) else None
        if not isinstance(code_num, int) or isinstance(code_num, bool):
            msg = f"this member's CometBFT answered HTTP {reply.status_code} with a JSON-RPC reply it does not make"
            self._fail(txid, fut, Overloaded("SHUTTING_DOWN", msg))
            return
        if code_num != 0:
            code = str(res.get("codespace") or "MALFORMED_ENVELOPE")
            self._fail(txid, fut, _rejected(code, str(res.get("log", ""))))
            return
        self._mark_sent(txid, fut)

    def _mark_sent(self, txid: str, fut: Future[Receipt]) -> None:
        with self._lock:  # in CometBFT's mempool from now: the TIMEOUT clock starts (not while queued here)
            if self._pending.get(txid) is fut:
                self._since[txid] = time.monotonic()

    def _fail(self, txid: str, fut: Future[Receipt], exc: BaseException) -> None:
        with self._lock:
            if self._pending.get(txid) is fut:
                del self._pending[txid]
                self._since.pop(txid, None)
        if not fut.done():
            fut.set_exception(exc)

    # -- following the member's ledger -----------------------------------------------------------
    def _follow(self) -> None:
        failures = 0  # of the height being read, in a row
        while not self._stop.wait(POLL_S):
            try:
                tip = self.store.height()
                while self._seen < tip:
                    try:
                        self._committed(self._seen + 1)
                    except Exception:
                        failures += 1
                        if failures < FOLLOW_RETRIES:
                            raise  # read again at the next poll (the ledger is another process's)
                        # never readable: go on; its waiters get TIMEOUT, ask GET /txs/{id} and see it
                        log.exception("block %d could not be read %d times: skipped", self._seen + 1, failures)
                    failures = 0
                    self._seen += 1  # only once it is done (or given up): a failed height is read again
                if self._unexplained:
                    self._read_refusals(tip)
            except Exception:  # the ledger is written by another process; try again
                log.exception("following the ledger failed")
            with contextlib.suppress(Exception):
                self._expire_pending()  # whatever happened above: TIMEOUT still answers the waiting

    def _expire_pending(self, ttl: float = PENDING_TTL_S) -> None:
        """Answer TIMEOUT for transactions no block carried within ``ttl`` seconds (see PENDING_TTL_S)."""
        cutoff = time.monotonic() - ttl
        with self._lock:
            old = [txid for txid, t in self._since.items() if t < cutoff]
            lapsed = [(txid, self._pending.pop(txid, None)) for txid in old]
            for txid in old:
                del self._since[txid]
        for txid, fut in lapsed:
            if fut is not None and not fut.done():
                fut.set_exception(
                    AnjuError(
                        "TIMEOUT",
                        f"not in a block after {ttl:.0f} s: the consortium's mempool may have dropped it; "
                        "ask GET /txs/{txid}, and submit it again if it is not committed",
                        txid=txid,
                    )
                )

    def _events(self, h: int) -> dict[str, list[Event]]:
        """The events of block ``h`` by txid, as the embedded node's receipts carry them."""
        out: dict[str, list[Event]] = {}
        rows = self.store.execute(
            "SELECT txid, kind, data, parties, units, listings FROM events WHERE height=? ORDER BY id", (h,)
        )
        for txid, kind, data, parties, units, listings in rows:
            ev = Event(kind, orjson.loads(data), *(tuple(orjson.loads(x)) for x in (parties, units, listings)))
            out.setdefault(str(txid), []).append(ev)
        return out

    def _read_refusals(self, tip: int) -> None:
        """Fail the waiting futures of txs their block refused (from the cosigner's recent rows)."""
        if self._cosign is None:
            self._unexplained.clear()
            return
        url = f"{self._cosign}/refused"
        try:  # the cosigner answers a page at a time: read pages up to the last height waited for
            rows = recent_rows(
                lambda h: self._follow_client.get(url, params={"from": h}).json(),
                self._unexplained[0],
                self._unexplained[-1],
            )
            found = {int(r["height"]): r for r in rows}
        except (httpx.HTTPError, ValueError, KeyError, TypeError):  # unreachable, or not its pages: next poll
            return
        left = []
        for h in self._unexplained:
            row = found.get(h)
            if row is None:  # not listed yet (the app lists a block just after storing it)
                if h > tip - 20:
                    left.append(h)
                continue
            refused = row.get("refused") if isinstance(row, dict) else None
            for txid, err in (refused if isinstance(refused, dict) else {}).items():
                with self._lock:
                    fut = self._pending.pop(txid, None)
                    self._since.pop(txid, None)
                if fut is not None and not fut.done():
                    why = err if isinstance(err, dict) else {}
                    fut.set_exception(_rejected(str(why.get("code")), str(why.get("message", ""))))
        self._unexplained = left

    def _committed(self, h: int) -> None:
        b = self.store.block(h)
        if b is None:
            return
        rows = list(self.store.block_txs(h))
        with self._lock:
            waited = [txid_b.hex() for _idx, txid_b, _leaf in rows if txid_b.hex() in self._pending]
        events = self._events(h) if waited else {}  # read before any future leaves _pending
        for idx, txid_b, _leaf in rows:
            txid = txid_b.hex()
            with self._lock:
                fut = self._pending.pop(txid, None)
                self._since.pop(txid, None)
            if fut is not None and not fut.done():
                fut.set_result(Receipt(txid, h, idx, tuple(events.get(txid, ()))))
        with self._lock:
            waiting = bool(self._pending)
        if waiting:
            self._unexplained.append(h)
        for listener in self._listeners:
            with contextlib.suppress(Exception):
                listener(b)


def _rejected(code: str, message: str) -> AnjuError:
    try:
        return TxRejected(code, message)
    except (KeyError, ValueError):
        return TxRejected("MALFORMED_ENVELOPE", f"{code}: {message}")


def build_app(data: Path, rpc: str, web_dir: Path | None = None, public_url: str | None = None) -> Any:
    """The API (and the portal) of one member (``public_url``: as for ``anju serve --public-url``)."""
    from anju.api.app import create_app
    from anju.web.portal import mount_web

    node = MemberNode(data, rpc)
    app = create_app(node, None)  # type: ignore[arg-type]  # a Node look-alike: see the module doc
    if getattr(app.state, "anju_web", None) is None:
        wd = web_dir or data.parent / "web"
        wd.mkdir(parents=True, exist_ok=True)
        mount_web(app, node, data_dir=wd, public_url=public_url)
    return app


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit 2), as the ``anju`` command gives them."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _port(text: str) -> int:
    """A TCP port, 1-65535 (as ``anju serve --port``)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (1-65535)")
    return port


def _rpc_url(text: str) -> str:
    """CometBFT's RPC address: http(s)://host:port."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        good = parts.scheme in ("http", "https") and bool(parts.hostname) and 1 <= (parts.port or 0) <= 65535
    except ValueError:  # a port that is not a number or out of range, a bad IPv6 address
        good = False
    if not good:
        raise argparse.ArgumentTypeError(f"{text!r} is not http(s)://host:port with a port 1-65535")
    return text


def main(argv: list[str] | None = None) -> None:
    from anju.api.http import cannot_listen, listen, serve

    p = _Parser(prog="python -m anju.cli.member_api", description=__doc__)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--rpc", type=_rpc_url, required=True, help="this member's CometBFT RPC, http://host:port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8080, help="TCP port (1-65535)")
    p.add_argument("--public-url", help="the portal's public address (listings' QR codes and links point there)")
    p.add_argument(
        "--forwarded-allow-ips",
        help="the reverse proxies whose X-Forwarded-For is believed (rate limits and sessions count clients by it)",
    )
    a = p.parse_args(argv)
    if not (a.data / DB_NAME).is_file() or not (a.data / GENESIS_NAME).is_file():
        p.exit(1, f"{p.prog}: no member ledger in {a.data} ({DB_NAME}, {GENESIS_NAME}): see `anju consortium init`\n")
    logging.basicConfig(level="INFO")
    try:
        api = build_app(a.data, a.rpc, public_url=a.public_url)
    except (AnjuError, OSError, ValueError, KeyError, sqlite3.Error) as exc:  # a damaged ledger or member file
        p.exit(1, f"{p.prog}: cannot serve the member ledger in {a.data}: {exc}\n")
    try:
        sockets = listen(a.host, a.port)
    except OSError as exc:  # in use, not an address of this machine, a name that does not resolve
        p.exit(1, f"{p.prog}: {cannot_listen(a.host, a.port, exc)}\n")
    serve(
        api,
        sockets,
        host=a.host,
        port=a.port,
        log_level="warning",
        access_log=False,
        proxy_headers=a.forwarded_allow_ips is not None,
        forwarded_allow_ips=a.forwarded_allow_ips or "",
    )


if __name__ == "__main__":
    main()
