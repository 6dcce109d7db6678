"""Cosigned checkpoints: every member signs each height's checkpoint; more than 2/3 make it final.

After Commit a member signs the checkpoint note (C2SP signed-note, key name
``<chain id>/<member>``) and pushes its signature line to every other member over a small HTTP
side channel; members also pull signatures they miss (after a restart, a partition). A signature
is kept only if it verifies, with that member's published key, over *this* member's checkpoint
text for the height; one that does not is dropped (anyone can POST). A member sends its checkpoint
text with its signature: a signature that verifies over a *different* checkpoint text for the same
height is evidence that the member's state diverged, and is recorded. (A member that sends no text,
or a text its signature does not verify over, is never recorded as divergent.) Once ``threshold``
distinct members have signed, the note with all known signature lines (in member order) replaces
the block's stored note.

HTTP (JSON unless noted), served on the member's cosign address:

    POST /cosig              {"height", "name", "sig": base64(key id ‖ signature), "text"?: checkpoint text}
    GET  /cosig/{height}     this member's own signature for that height (and its "text")
    GET  /checkpoint[/{h}]   the stored note (text/plain), cosigned once it reaches the threshold
    GET  /status             height, app hash, cosigned height, divergent members
    GET  /blocks?from=h      recent heights: tx ids (committed; refused at execution, with their
                             error), committed and cosigned times (benchmarks)
    GET  /refused?from=h     recent heights with only their refused txs (the member API)

/blocks and /refused answer one page (at most PAGE_BLOCKS heights, and no more heights after one
that brings the tx ids to PAGE_TXIDS): ask again from the last height + 1 until a page is empty
(:func:`recent_rows`). A request body is at most MAX_BODY bytes; a request takes at most
REQUEST_TIMEOUT seconds.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from anju.chain.abci.app import AbciApp, Member, checkpoint_of
from anju.chain.executor import Sealed
from anju.errors import AnjuError
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import Note, Signature, Verifier, parse_note, quorum
from anju.ledger.store import BlockRecord

log = logging.getLogger("anju.cosign")

RECENT = 20_000
SCAN_BACK = 2_000
PULL_BATCH = 64
PULL_INTERVAL = 0.5
HTTP_TIMEOUT = 2.0
EARLY_AHEAD = 64  # signatures kept for heights this member has not stored yet: at most this far ahead
EARLY_CANDIDATES = 4  # early signatures kept per member and height (forged ones cannot crowd out one genuine)
MAX_BODY = 16 * 1024  # a request body past this is answered 413 unread
REQUEST_TIMEOUT = 5.0  # a whole request (head, body, answer) must be done within this
PAGE_BLOCKS = 500  # /blocks and /refused answer at most this many heights ...
PAGE_TXIDS = 20_000  # ... and stop after the height that reaches this many tx ids (always one height)
MAX_TEXT = 4096  # a checkpoint text sent with a signature (evidence): at most this long
MAX_REPLY = 1 << 20  # a member's answer (a signature, a checkpoint: a few hundred bytes) past this is dropped
MAX_HEIGHT = 2**63 - 1  # a height past this is not stored (SQLite integers are 64-bit)


def threshold_for(n: int) -> int:
    """More than two thirds of ``n`` members (the rule verifiers apply too: :func:`anju.ledger.note.quorum`)."""
    return quorum(n)


class Cosigner:
    """Collects members' signatures for one member's ledger."""

    def __init__(self, app: AbciApp) -> None:
        if app.config is None:
            raise ValueError("cosigning needs consortium.json in the data directory")
        self.app = app
        self.cfg = app.config
        self.me = app.key_name
        self.members: dict[str, Member] = {mb.name: mb for mb in self.cfg.members}
        self.verifiers: dict[str, Verifier] = {mb.name: Verifier.from_vkey(mb.vkey) for mb in self.cfg.members}
        self.order = [mb.name for mb in self.cfg.members]
        self.peers = [mb for mb in self.cfg.members if mb.name != self.me]
        self.threshold = self.cfg.threshold
        self._texts: dict[int, str] = {}  # heights below the threshold -> checkpoint text
        self._sigs: dict[int, dict[str, Signature]] = {}
        self._known: collections.OrderedDict[int, str] = collections.OrderedDict()  # recent texts, for evidence
        # height -> member -> up to EARLY_CANDIDATES (signature, the checkpoint text sent with it),
        # for heights not stored yet: checked once the height is stored
        self._early: dict[int, dict[str, list[tuple[Signature, str | None]]]] = collections.defaultdict(dict)
        self.divergent: dict[str, dict[str, Any]] = {}
        self.cosigned_height = 0
        self.recent: collections.OrderedDict[int, dict[str, Any]] = collections.OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._scan()
        app.on_commit = self.committed
        app.on_signed = self.signed

    # -- state ---------------------------------------------------------------------------------------
    def _scan(self) -> None:
        """Find recent stored notes still below the threshold (after a restart)."""
        tip = self.app.last.height
        for h in range(max(self.cfg.first_height, tip - SCAN_BACK), tip + 1):  # earlier: not cosigned
            b = self.app.store.block(h)
            if b is None:
                continue
            note = parse_note(b.checkpoint)
            sigs = {s.name: s for s in note.signatures if s.name in self.verifiers}
            if len(sigs) >= self.threshold:
                self.cosigned_height = max(self.cosigned_height, h)
            else:
                self._texts[h] = note.text
                self._sigs[h] = sigs

    def signed(self, h: int, note_text: str) -> None:
        """Called at Commit, before the block is stored: send our signature to the others now.

        (They keep a signature for a height they have not stored yet until they have.)"""
        note = parse_note(note_text)
        own = next(s for s in note.signatures if s.name == self.me)
        msg = orjson.dumps(_sig_json(h, own, note.text))
        for peer in self.peers:
            self._spawn(_post(peer.cosign_url + "/cosig", msg))

    def committed(self, record: BlockRecord, cp: Checkpoint, sealed: Sealed) -> None:
        """Called by the app right after Commit stored ``record`` (signed by this member)."""
        h = record.height
        note = parse_note(record.checkpoint)
        self._texts[h] = note.text
        self._sigs[h] = {s.name: s for s in note.signatures}
        self._known[h] = note.text
        while len(self._known) > RECENT:
            self._known.popitem(last=False)
        self.recent[h] = {
            "height": h,
            "txids": [o.tx.txid for o in sealed.outcomes],
            "refused": self.app.stored_refused,  # txid -> {code, message}: in the block, refused at execution
            "time": record.time,
            "committed_at": time.time(),
            "cosigned_at": None,
            **{k: round(v, 1) for k, v in self.app.stored_timing.items()},
        }
        while len(self.recent) > RECENT:
            self.recent.popitem(last=False)
        for candidates in self._early.pop(h, {}).values():
            for sig, text in candidates:  # the member's genuine one among any forged ones
                self._accept(h, sig, text, store=False)
        for old in [k for k in self._early if k < h]:  # (none normally: each height's are taken above)
            del self._early[old]
        self._maybe_store(h)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            with contextlib.suppress(Exception):  # a member that is down misses the push; it pulls later
                await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _accept(self, h: int, sig: Signature, their_text: str | None = None, *, store: bool = True) -> bool:
        """Keep ``sig`` for height ``h`` if it verifies over our text. One that does not is dropped;
        it is evidence of divergence only if it verifies over ``their_text``, the member's own
        checkpoint for ``h``, and that differs from ours (:meth:`_mismatch`)."""
        v = self.verifiers.get(sig.name)
        if v is None or sig.key_id != v.key_id:
            return False
        text = self._texts.get(h)
        if text is None:
            last = self.app.last.height
            if h > last:
                early = self._early
                # A few candidates per member and height, first come first kept: a forged one can
                # neither replace one held nor, alone, shut the genuine one out (it takes
                # EARLY_CANDIDATES forgeries sent first; the member's is then pulled once stored).
                if h <= last + EARLY_AHEAD and (h in early or len(early) < 2 * EARLY_AHEAD):
                    held = early[h].setdefault(sig.name, [])
                    if len(held) < EARLY_CANDIDATES and all(s.sig != sig.sig for s, _ in held):
                        held.append((sig, their_text))
                return False
            known = self._known.get(h)
            if known is not None and not v.verify(known.encode(), sig.sig):
                self._mismatch(v, h, sig, known, their_text)
            return False  # already cosigned (or too old to matter)
        if not v.verify(text.encode(), sig.sig):
            self._mismatch(v, h, sig, text, their_text)
            return False
        self._sigs[h][sig.name] = sig
        if store:
            self._maybe_store(h)
        return True

    def _mismatch(self, v: Verifier, h: int, sig: Signature, ours: str, theirs: str | None) -> None:
        """``sig`` does not verify over our text for ``h``: divergence if it verifies over the
        member's own checkpoint text for that height and chain (a different one), else dropped."""
        if (
            theirs is not None
            and theirs != ours
            and _checkpoint_at(theirs, self.cfg.chain_id, h)
            and v.verify(theirs.encode(), sig.sig)
        ):
            self._diverged(sig.name, h, ours, theirs)
            return
        log.debug("dropping a signature by %s for height %d: it does not verify over our checkpoint", sig.name, h)

    def _diverged(self, name: str, h: int, text: str, theirs: str) -> None:
        if name not in self.divergent:
            log.error("member %s signed a different checkpoint at height %d (app-hash mismatch)", name, h)
            self.divergent[name] = {"height": h, "our_text": text, "their_text": theirs}

    def _maybe_store(self, h: int) -> None:
        sigs = self._sigs[h]
        if len(sigs) < self.threshold:
            return
        text = self._texts.pop(h)
        del self._sigs[h]
        note = Note(text, tuple(sigs[n] for n in self.order if n in sigs)).format()
        app = self.app

        def stored() -> None:
            ex = app.executor
            if ex.last.height == h:
                ex.last = replace(ex.last, checkpoint=note)
            self.cosigned_height = max(self.cosigned_height, h)
            r = self.recent.get(h)
            if r is not None:
                r["cosigned_at"] = time.time()

        # After the current request is answered, in order with the blocks' writes.
        app.store_later(("note", (h, note)), stored)

    # -- pulling what we missed -------------------------------------------------------------------------
    async def pull_loop(self) -> None:
        while True:
            await asyncio.sleep(PULL_INTERVAL)
            try:
                await self._pull_once()
            except Exception as exc:
                log.warning("pull failed: %s", exc)

    async def _pull_once(self) -> None:
        tip = self.app.last.height
        heights = sorted(h for h in self._texts if h < tip or time.time() - self._committed_at(h) > 1.0)
        for h in heights[:PULL_BATCH]:
            missing = [p for p in self.peers if p.name not in self._sigs.get(h, {})]
            got = await asyncio.gather(
                *(_get_json(f"{p.cosign_url}/cosig/{h}") for p in missing), return_exceptions=True
            )
            for doc in got:  # a member's answer that is not one (a faulty member) is skipped, not fatal
                if isinstance(doc, dict) and type(doc.get("height")) is int and doc["height"] == h:
                    sig = _sig_from_json(doc)
                    if sig is not None:
                        self._accept(h, sig, _text_from_json(doc))

    def _committed_at(self, h: int) -> float:
        r = self.recent.get(h)
        return float(r["committed_at"]) if r else 0.0

    # -- the HTTP side channel ------------------------------------------------------------------------
    def own_signature(self, h: int) -> dict[str, Any] | None:
        b = self.app.store.block(h)
        if b is None:
            return None
        note = parse_note(b.checkpoint)
        for s in note.signatures:
            if s.name == self.me:
                return _sig_json(h, s, note.text)
        return None

    def status(self) -> dict[str, Any]:
        last = self.app.last
        return {
            "member": self.me,
            "height": last.height,
            "app_hash": self.app.app_hash_of(last).hex() if last.height else "",
            "cosigned_height": self.cosigned_height,
            "threshold": self.threshold,
            "below_threshold": len(self._texts),
            "divergent": sorted(self.divergent),
        }

    def page(self, start: int) -> list[dict[str, Any]]:
        """The recent rows from height ``start`` on, one page (PAGE_BLOCKS heights, PAGE_TXIDS tx ids)."""
        if not self.recent:
            return []
        first, last = next(iter(self.recent)), next(reversed(self.recent))
        rows: list[dict[str, Any]] = []
        txids = 0
        for h in range(max(start, first), last + 1):  # recent heights are consecutive
            r = self.recent.get(h)
            if r is None:
                continue
            rows.append(r)
            txids += len(r["txids"]) + len(r["refused"])
            if len(rows) >= PAGE_BLOCKS or txids >= PAGE_TXIDS:
                break
        return rows

    async def handle(self, method: str, target: str, body: bytes) -> tuple[int, str, bytes]:
        url = urlsplit(target)
        parts = [p for p in url.path.split("/") if p]
        if method == "POST" and parts == ["cosig"]:
            doc = orjson.loads(body)
            sig = _sig_from_json(doc)
            if sig is None:
                return 400, "application/json", b'{"error":"bad signature"}'
            ok = self._accept(int(doc["height"]), sig, _text_from_json(doc))
            return 200, "application/json", orjson.dumps({"accepted": ok})
        if method != "GET":
            return 405, "text/plain", b"method not allowed\n"
        if len(parts) == 2 and parts[0] == "cosig" and parts[1].isascii() and parts[1].isdigit():
            own = self.own_signature(int(parts[1])) if int(parts[1]) <= MAX_HEIGHT else None
            return (404, "application/json", b"{}") if own is None else (200, "application/json", orjson.dumps(own))
        if parts and parts[0] == "checkpoint":
            h = int(parts[1]) if len(parts) > 1 and parts[1].isascii() and parts[1].isdigit() else self.cosigned_height
            b = self.app.store.block(h) if h <= MAX_HEIGHT else None  # (SQLite holds no larger integer)
            return (404, "text/plain", b"no such height\n") if b is None else (200, "text/plain", b.checkpoint.encode())
        if parts == ["status"]:
            return 200, "application/json", orjson.dumps(self.status())
        if parts == ["blocks"]:
            rows = self.page(int(parse_qs(url.query).get("from", ["0"])[0]))
            return 200, "application/json", orjson.dumps(rows)
        if parts == ["refused"]:  # /blocks without the committed ids: what the member API polls
            rows = self.page(int(parse_qs(url.query).get("from", ["0"])[0]))
            return (
                200,
                "application/json",
                orjson.dumps([{"height": r["height"], "refused": r["refused"]} for r in rows]),
            )
        return 404, "text/plain", b"not found\n"


def _sig_json(h: int, s: Signature, text: str) -> dict[str, Any]:
    """A member's signature for height ``h`` on the wire, with the checkpoint text it signed."""
    return {"height": h, "name": s.name, "sig": base64.b64encode(s.key_id + s.sig).decode(), "text": text}


def _text_from_json(doc: Any) -> str | None:
    """The checkpoint text sent with a signature, if any (members before it was added send none)."""
    text = doc.get("text") if isinstance(doc, dict) else None
    return text if isinstance(text, str) and len(text) <= MAX_TEXT else None


def _checkpoint_at(text: str, chain_id: str, h: int) -> bool:
    """``text`` is a checkpoint of this chain for height ``h`` (evidence must be about that height)."""
    try:
        cp = Checkpoint.from_text(text)
    except (AnjuError, ValueError):
        return False
    return cp.origin == chain_id and cp.height == h


def recent_rows(
    get: Callable[[int], list[dict[str, Any]]], start: int, stop: int | None = None
) -> list[dict[str, Any]]:
    """All rows of a paged /blocks or /refused from height ``start`` (up to ``stop``, if given):
    ``get(h)`` reads the page from ``h``; pages are read until one is empty or reaches ``stop``."""
    out: list[dict[str, Any]] = []
    while stop is None or start <= stop:
        rows = get(start)
        if not rows:
            break
        out.extend(rows)
        following = max(int(r["height"]) for r in rows) + 1
        if following <= start:  # a page that does not move on (not this API's): read no further
            break
        start = following
    return out


def _sig_from_json(doc: Any) -> Signature | None:
    try:
        raw = base64.b64decode(doc["sig"], validate=True)
        if len(raw) != 68:
            return None
        return Signature(str(doc["name"]), raw[:4], raw[4:])
    except (KeyError, TypeError, ValueError):
        return None


def verify_cosigned(note: str, members: list[str], threshold: int) -> Checkpoint:
    """Open a consortium note: at least ``threshold`` of the member verifier keys must have signed it."""
    return Checkpoint.open(note, [Verifier.from_vkey(v) for v in members], threshold)


def app_hash_matches(app: AbciApp, h: int, app_hash: bytes) -> bool:
    b = app.store.block(h)
    return b is not None and checkpoint_of(app.chain_id, b).app_hash() == app_hash


# -- a minimal HTTP/1.1 client and server (loopback side channel; one request per connection) -----------
async def _request(method: str, url: str, body: bytes = b"") -> tuple[int, bytes]:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), HTTP_TIMEOUT)
    try:
        head = (
            f"{method} {u.path or '/'}{'?' + u.query if u.query else ''} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        raw = await asyncio.wait_for(_read_capped(reader, MAX_REPLY), HTTP_TIMEOUT)
    finally:
        writer.close()
    head_end = raw.find(b"\r\n\r\n")
    status = int(raw.split(b" ", 2)[1])
    return status, raw[head_end + 4 :]


async def _read_capped(reader: asyncio.StreamReader, limit: int) -> bytes:
    """A peer's whole answer, to its end, if it is at most ``limit`` bytes; ValueError past that (a
    faulty or Byzantine member streaming an endless answer is dropped, not held in memory)."""
    chunks: list[bytes] = []
    n = 0
    while chunk := await reader.read(1 << 16):
        n += len(chunk)
        if n > limit:
            raise ValueError(f"an answer of more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _post(url: str, body: bytes) -> None:
    await _request("POST", url, body)


async def _get_json(url: str) -> Any:
    status, body = await _request("GET", url)
    return orjson.loads(body) if status == 200 else None


Handler = Callable[[str, str, bytes], Awaitable[tuple[int, str, bytes]]]


async def serve_http(handler: Handler, host: str, port: int) -> asyncio.Server:
    """Serve ``handler``: one request per connection, its body at most MAX_BODY bytes (else 413,
    unread), the whole exchange within REQUEST_TIMEOUT (else the connection is closed)."""

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")  # at most the reader's limit (64 KiB)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        if length < 0 or length > MAX_BODY:
            status, ctype, out = 413, "text/plain", f"a request body is at most {MAX_BODY} bytes\n".encode()
        else:
            body = await reader.readexactly(length) if length else b""
            try:
                status, ctype, out = await handler(method, target, body)
            except (AnjuError, ValueError, KeyError, TypeError) as exc:
                status, ctype, out = 400, "text/plain", f"{exc}\n".encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(out)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + out
        )
        await writer.drain()

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(exchange(reader, writer), REQUEST_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(on_conn, host, port)
