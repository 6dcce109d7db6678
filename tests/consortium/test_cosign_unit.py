"""The cosigner in-process: what the unauthenticated side channel may and may not change."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from tests.consortium.http_stub import http_stub

from anju.chain.abci import cosign
from anju.chain.abci.app import MEMBER_FILE, AbciApp
from anju.chain.abci.cosign import Cosigner
from anju.chain.abci.server import dispatch
from anju.chain.abci.wire import f_bytes, f_int, f_msg, f_str
from anju.chain.executor import canonical_genesis
from anju.chain.node import DB_NAME, GENESIS_NAME, KEY_NAME, write_genesis
from anju.crypto import jcs
from anju.crypto.keys import SigningKey
from anju.crypto.tx import sign
from anju.ledger.checkpoint import Checkpoint
from anju.ledger.note import Signature, Verifier, signature_for, vkey_of
from anju.ledger.store import Store

CHAIN = "unit-chain"
NAMES = [f"{CHAIN}/member{i}" for i in range(4)]


def _ts(seconds: int) -> bytes:
    return f_int(1, seconds)


def _tx(k: SigningKey, seq: int) -> bytes:
    body = {"chain": CHAIN, "kind": "kv.put", "signer": k.public_hex, "seq": seq, "key": "a", "value": str(seq)}
    return jcs.canonicalize(sign(body, [k]))


def _member0(tmp: Path, keys: list[SigningKey]) -> AbciApp:
    """Member 0 of four (threshold 3), at height 0 after InitChain."""
    data = tmp / "anju"
    data.mkdir()
    doc: dict[str, object] = {"chain_id": CHAIN, "app": "kv", "time": "2026-01-01T00:00:00.000Z", "params": {}}
    (data / GENESIS_NAME).write_bytes(canonical_genesis(doc) + b"\n")
    (data / KEY_NAME).write_bytes(orjson.dumps({"ed25519_seed": keys[0].seed.hex(), "public_key": keys[0].public_hex}))
    store = Store(data / DB_NAME)
    write_genesis(store, doc, keys[0])
    store.close()
    members = [
        {"name": n, "vkey": vkey_of(n, k.public), "cosign_url": f"http://127.0.0.1:9/{i}"}
        for i, (n, k) in enumerate(zip(NAMES, keys, strict=True))
    ]
    cfg = {"chain_id": CHAIN, "member": "member0", "threshold": 3, "members": members}
    (data / MEMBER_FILE).write_bytes(orjson.dumps(cfg))
    app = AbciApp(data)
    init = f_msg(1, _ts(1767225600)) + f_str(2, CHAIN) + f_bytes(5, canonical_genesis(doc)) + f_int(6, 1)
    dispatch(app, f_msg(5, init))
    return app


def _finalize(app: AbciApp, k: SigningKey, h: int) -> str:
    """FinalizeBlock of height ``h``; the checkpoint text every honest member signs for it."""
    dispatch(app, f_msg(20, f_msg(1, _tx(k, h)) + f_int(5, h) + f_msg(6, _ts(1767225600 + h))))
    assert app._pending is not None
    return app._pending.checkpoint.to_text()


def _commit(app: AbciApp) -> None:
    dispatch(app, f_msg(11, b""))
    app.settle()


async def _handle(cos: Cosigner, h: int, sig: Signature, text: str | None = None) -> bytes:
    doc: dict[str, object] = {"height": h, "name": sig.name, "sig": base64.b64encode(sig.key_id + sig.sig).decode()}
    if text is not None:
        doc["text"] = text
    status, _, body = await cos.handle("POST", "/cosig", orjson.dumps(doc))
    assert status == 200
    return body


def test_unverifiable_signatures_are_dropped_never_divergence(tmp_path: Path) -> None:
    """Anyone can POST /cosig: garbage signatures in members' names (for a stored height and for
    one not stored yet) mark nobody divergent, and a garbage early signature does not replace the
    member's real one. Divergence needs a signature that verifies over the member's own, different,
    checkpoint text for that height."""
    keys = [SigningKey.generate() for _ in range(4)]
    vs = [Verifier.from_vkey(vkey_of(n, k.public)) for n, k in zip(NAMES, keys, strict=True)]

    async def main() -> None:
        app = _member0(tmp_path, keys)
        cos = Cosigner(app)
        k = SigningKey.generate()
        try:
            text1 = _finalize(app, k, 1)
            _commit(app)
            garbage1 = Signature(NAMES[1], vs[1].key_id, b"\0" * 64)
            assert orjson.loads(await _handle(cos, 1, garbage1)) == {"accepted": False}
            # garbage with a "text" it does not verify over: still nothing
            await _handle(cos, 1, garbage1, text1.replace("anju-height 1", "anju-height 1 "))
            # height 2, not stored yet: member2's real signature arrives early, then a forged one
            text2 = _finalize(app, k, 2)
            real2 = signature_for(text2, NAMES[2], keys[2])
            await _handle(cos, 2, real2, text2)
            await _handle(cos, 2, Signature(NAMES[2], vs[2].key_id, b"\1" * 64))
            # member3's forged early signature comes first, then its real one: the forgery does not
            # shut the real one out (a few candidates are kept per member), and is dropped at commit
            await _handle(cos, 2, Signature(NAMES[3], vs[3].key_id, b"\2" * 64))
            real3 = signature_for(text2, NAMES[3], keys[3])
            await _handle(cos, 2, real3, text2)
            _commit(app)
            assert cos.status()["divergent"] == [] and cos.divergent == {}
            assert set(cos._sigs.get(2, {})) <= {NAMES[0], NAMES[2], NAMES[3]}
            assert cos.cosigned_height == 2  # ours, member2's and member3's real ones: the threshold
            # a real signature of member1's over its height-1 checkpoint, replayed as height 2: not evidence
            await _handle(cos, 2, signature_for(text1, NAMES[1], keys[1]), text1)
            assert cos.divergent == {}
            # real evidence: member1 signed a different checkpoint for height 2 and sends it
            cp2 = Checkpoint.from_text(text2)
            other = replace(cp2, state_root=b"\7" * 32).to_text()
            await _handle(cos, 2, signature_for(other, NAMES[1], keys[1]), other)
            assert cos.status()["divergent"] == [NAMES[1]]
            assert cos.divergent[NAMES[1]]["their_text"] == other
            # what a member sends and serves carries its checkpoint text
            own = cos.own_signature(2)
            assert own is not None and own["text"] == text2
        finally:
            for t in list(cos._tasks):
                t.cancel()
            await asyncio.gather(*cos._tasks, return_exceptions=True)
            app.close()

    asyncio.run(main())


def test_the_side_channel_caps_bodies_and_bounds_a_request_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A declared 4 GB body is answered 413 at once (it was read into memory as it came); a body
    trickled slower than REQUEST_TIMEOUT gets the connection closed."""
    from anju.chain.abci import cosign

    monkeypatch.setattr(cosign, "REQUEST_TIMEOUT", 0.5, raising=False)
    seen: list[bytes] = []

    async def handler(method: str, target: str, body: bytes) -> tuple[int, str, bytes]:
        seen.append(body)
        return 200, "text/plain", b"ok"

    async def main() -> None:
        srv = await cosign.serve_http(handler, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"POST /cosig HTTP/1.1\r\nContent-Length: 4000000000\r\n\r\n" + b"x" * 1000)
            await w.drain()
            answer = await asyncio.wait_for(r.read(), 2)
            assert answer.startswith(b"HTTP/1.1 413 ")
            w.close()
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"POST /cosig HTTP/1.1\r\nContent-Length: 100\r\n\r\nx")
            await w.drain()
            t0 = asyncio.get_running_loop().time()
            assert await asyncio.wait_for(r.read(), 3) == b""  # closed, unanswered
            assert asyncio.get_running_loop().time() - t0 < 2
            w.close()
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nok")
            await w.drain()
            assert (await asyncio.wait_for(r.read(), 2)).endswith(b"\r\n\r\nok") and seen == [b"ok"]
            w.close()
        finally:
            srv.close()

    asyncio.run(main())


def test_blocks_and_refused_answer_a_page_and_readers_follow_the_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/blocks?from=0 once listed up to 20,000 heights at once, on the consensus event loop."""
    from anju.chain.abci import cosign

    keys = [SigningKey.generate() for _ in range(4)]
    app = _member0(tmp_path, keys)
    cos = Cosigner(app)
    try:
        for h in range(1, 8):
            cos.recent[h] = {"height": h, "txids": ["t"] * h, "refused": {}, "cosigned_at": None}
        monkeypatch.setattr(cosign, "PAGE_BLOCKS", 3)

        async def get(path: str) -> list[dict[str, object]]:
            status, _, body = await cos.handle("GET", path, b"")
            assert status == 200
            rows: list[dict[str, object]] = orjson.loads(body)
            return rows

        def heights(rows: list[dict[str, object]]) -> list[object]:
            return [r["height"] for r in rows]

        assert heights(asyncio.run(get("/blocks?from=0"))) == [1, 2, 3]
        assert heights(asyncio.run(get("/refused?from=6"))) == [6, 7]
        assert asyncio.run(get("/blocks?from=8")) == []
        monkeypatch.setattr(cosign, "PAGE_TXIDS", 5)  # at least one height, then stop past the tx ids
        assert heights(asyncio.run(get("/blocks?from=6"))) == [6]
        assert heights(asyncio.run(get("/blocks?from=2"))) == [2, 3]
        monkeypatch.setattr(cosign, "PAGE_TXIDS", 1000)
        every = cosign.recent_rows(lambda h: asyncio.run(get(f"/blocks?from={h}")), 0)
        assert heights(every) == list(range(1, 8))
        assert heights(cosign.recent_rows(lambda h: asyncio.run(get(f"/refused?from={h}")), 2, 4)) == [2, 3, 4]
    finally:
        app.close()


def test_one_members_malformed_answer_does_not_stop_pulling_the_others(tmp_path: Path) -> None:
    """Pulling signatures a member missed (after a restart, a partition) asks every other member for
    each height. One member answering /cosig/{h} with a signature but a height that is not a number
    (a faulty or Byzantine member) made the whole pull round fail, every round, at the first height:
    the honest members' signatures were never pulled and nothing was cosigned again."""
    from anju.chain.abci.app import Member

    keys = [SigningKey.generate() for _ in range(4)]
    texts: dict[int, str] = {}

    def honest(i: int) -> Callable[[str, str], bytes]:
        def answer(method: str, path: str) -> bytes:
            if method == "POST":  # member0's own pushes
                return b'{"accepted": false}'
            h = int(path.rsplit("/", 1)[1])
            sig = signature_for(texts[h], NAMES[i], keys[i])
            return orjson.dumps({"height": h, "name": sig.name, "sig": base64.b64encode(sig.key_id + sig.sig).decode()})

        return answer

    def faulty(method: str, path: str) -> bytes:
        sig = Signature(NAMES[1], Verifier.from_vkey(vkey_of(NAMES[1], keys[1].public)).key_id, b"\0" * 64)
        return orjson.dumps({"height": None, "name": sig.name, "sig": base64.b64encode(sig.key_id + sig.sig).decode()})

    async def main(urls: list[str]) -> None:
        app = _member0(tmp_path, keys)
        cos = Cosigner(app)
        cos.peers = [Member(p.name, p.vkey, u) for p, u in zip(cos.peers, urls, strict=True)]
        k = SigningKey.generate()
        try:
            for h in (1, 2):
                texts[h] = _finalize(app, k, h)
                _commit(app)
            await asyncio.gather(*cos._tasks, return_exceptions=True)  # member0's pushes, answered
            for row in cos.recent.values():  # the tip is pulled for once it is a second old
                row["committed_at"] -= 10
            await cos._pull_once()
            app.settle()
            assert cos.cosigned_height == 2 and cos.status()["below_threshold"] == 0
        finally:
            await asyncio.gather(*cos._tasks, return_exceptions=True)
            app.close()

    with http_stub(faulty) as u1, http_stub(honest(2)) as u2, http_stub(honest(3)) as u3:
        asyncio.run(main([u1, u2, u3]))


def test_a_height_past_sqlite_integers_is_not_found(tmp_path: Path) -> None:
    """GET /cosig/{h} and /checkpoint/{h} with a height SQLite cannot hold (past 2**63 - 1) raised
    OverflowError out of the handler: the connection was closed unanswered and a traceback logged.
    Such a height is not stored: 404, like any other."""
    from anju.chain.abci import cosign

    keys = [SigningKey.generate() for _ in range(4)]

    async def main() -> None:
        app = _member0(tmp_path, keys)
        cos = Cosigner(app)
        srv = await cosign.serve_http(cos.handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        try:
            huge = ("/cosig/99999999999999999999", "/checkpoint/99999999999999999999", "/cosig/9223372036854775808")
            for path in huge:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(f"GET {path} HTTP/1.1\r\nContent-Length: 0\r\n\r\n".encode())
                await w.drain()
                answer = await asyncio.wait_for(r.read(), 3)
                w.close()
                assert answer.startswith(b"HTTP/1.1 404 "), (path, answer)
            status, _, _ = await cos.handle("GET", "/checkpoint/9223372036854775807", b"")
            assert status == 404
        finally:
            srv.close()
            app.close()

    asyncio.run(main())


def test_a_members_endless_answer_is_dropped_not_held(tmp_path: Path) -> None:
    """A faulty or Byzantine member answering a signature request with an endless body was read to
    its end into memory (bounded only by the request's timeout): past MAX_REPLY the answer is
    dropped (the pull skips that member), and an answer within it is still read whole."""

    async def main() -> None:
        async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                for _ in range(cosign.MAX_REPLY // (1 << 16) + 2):
                    writer.write(b" " * (1 << 16))
                    await writer.drain()
            writer.close()

        async def small(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + b" " * 70_000 + b'{"height": 3}'
            )
            await writer.drain()
            writer.close()

        big_srv = await asyncio.start_server(endless, "127.0.0.1", 0)
        small_srv = await asyncio.start_server(small, "127.0.0.1", 0)
        try:
            big_port = big_srv.sockets[0].getsockname()[1]
            small_port = small_srv.sockets[0].getsockname()[1]
            with pytest.raises(ValueError, match="an answer of more than"):
                await cosign._get_json(f"http://127.0.0.1:{big_port}/cosig/3")
            assert await cosign._get_json(f"http://127.0.0.1:{small_port}/cosig/3") == {"height": 3}
        finally:
            big_srv.close()
            small_srv.close()

    asyncio.run(main())
