"""The ABCI socket server: CometBFT's consensus, mempool, info and snapshot connections.

Each connection carries ``Request`` messages framed with an unsigned-varint length and is
answered in order. All four share one :class:`AbciApp` on one event loop, so the app never sees
two calls at once. An unexpected failure answers ``ResponseException`` (CometBFT halts on it
for consensus calls: a ledger that cannot store a block must not go on).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from anju.chain.abci import messages as m
from anju.chain.abci.app import AbciApp
from anju.chain.abci.wire import Fields, Truncated, WireError, frame, read_uvarint

log = logging.getLogger("anju.abci")
MAX_FRAME = 64 * 1024 * 1024
PREFETCH_MIN = 8  # fewer new CheckTx in one read are verified inline (a process hop costs more)


def dispatch(app: AbciApp, buf: bytes) -> bytes:
    """Answer one encoded ``Request`` with one encoded ``Response``."""
    kind, body = m.parse_request(buf)
    return dispatch_parsed(app, kind, body)


def dispatch_parsed(app: AbciApp, kind: str, body: bytes) -> bytes:
    """Answer one request, already split into its kind and encoded body."""
    if kind == "flush":
        return m.response("flush")
    if kind == "echo":
        return m.echo(Fields(body).text(1))
    if kind == "info":
        return app.info()
    if kind == "check_tx":
        return app.check_tx(m.CheckTx.parse(body))
    if kind == "finalize_block":
        return app.finalize_block(m.Proposal.parse(body, txs=False), body)
    if kind == "commit":
        return app.commit()
    if kind == "prepare_proposal":
        return app.prepare_proposal(m.PrepareProposal.parse(body))
    if kind == "process_proposal":
        return app.process_proposal(m.Proposal.parse(body))
    if kind == "query":
        return app.query(m.Query.parse(body))
    if kind == "init_chain":
        return app.init_chain(m.InitChain.parse(body))
    if kind == "extend_vote":
        return m.extend_vote()
    if kind == "verify_vote_extension":
        return m.verify_vote_extension()
    if kind == "list_snapshots":
        return m.list_snapshots()
    if kind == "offer_snapshot":
        return m.offer_snapshot()
    if kind == "load_snapshot_chunk":
        return m.load_snapshot_chunk()
    if kind == "apply_snapshot_chunk":
        return m.apply_snapshot_chunk()
    raise WireError(f"unhandled request {kind}")


Request = tuple[str, bytes] | m.CheckTx | Exception


def _split(msg: bytes) -> Request:
    """A request's kind and body; a CheckTx parsed at once (the prefetch and the app both need it)."""
    try:
        kind, body = m.parse_request(msg)
        return m.CheckTx.parse(body) if kind == "check_tx" else (kind, body)
    except WireError as exc:
        return exc


async def _prefetch(app: AbciApp, pool: Verifier | None, reqs: list[Request]) -> None:
    """Verify the signatures of the new CheckTx requests in ``reqs`` in the verifier processes.

    The results wait in :attr:`AbciApp.prefetched` (by envelope hash) for the requests, which are
    then answered in order on the event loop, so the order CometBFT relies on is kept and the loop
    is free meanwhile; CheckTx caches only the envelopes it admits."""
    if pool is None:
        return
    raws: list[bytes] = []
    for req in reqs:
        if isinstance(req, m.CheckTx) and req.type == m.CHECK_TX_NEW and not app.is_verified(req.tx):
            raws.append(req.tx)
    if len(raws) >= PREFETCH_MIN:
        try:
            await pool.verify(app, raws)
        except Exception:  # a broken pool (a worker died): CheckTx verifies these inline; new workers
            log.exception("the verifier processes failed; verifying inline and starting new ones")
            app.prefetched.clear()
            pool.restart()


class Verifier:
    """A small process pool verifying envelopes (parse + Ed25519) off the event loop.

    Its processes are the embedded node's kind (:class:`anju.chain.node.VerifierContext`): forked
    with the stop signals blocked, then ignoring them (:func:`anju.chain.writer.child_signals`), and
    ending with the app (when it shuts the pool down, or soon after it died). A stop signal to the
    whole process group (``kill -TERM -PGID``, Ctrl-C) is the app's alone to handle: the pool's
    processes died of it, breaking the pool under CheckTx (which then verified inline, and the
    pool was replaced). All are started at once, before the app serves (they were started at the
    first CheckTx batch, inside the event loop)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        from anju.chain.node import VerifierContext
        from anju.chain.writer import child_signals, stop_signals_blocked

        pool = ProcessPoolExecutor(
            self.workers, mp_context=VerifierContext(), initializer=child_signals, initargs=(os.getpid(),)
        )
        with stop_signals_blocked():
            started = pool.submit(int)  # with fork, the pool starts all its workers now
        started.result()
        return pool

    async def verify(self, app: AbciApp, raws: list[bytes]) -> None:
        from anju.chain.node import verify_chunk

        loop = asyncio.get_running_loop()
        n = max(1, -(-len(raws) // self.workers))
        chunks = [raws[i : i + n] for i in range(0, len(raws), n)]
        results = await asyncio.gather(*(loop.run_in_executor(self.pool, verify_chunk, ch) for ch in chunks))
        for ch, res in zip(chunks, results, strict=True):
            app.remember(ch, res)

    def restart(self) -> None:
        """Replace the pool (after one of its processes died: a broken pool stays broken)."""
        old = self.pool
        self.pool = self._start()
        old.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


async def _connection(
    app: AbciApp, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pool: Verifier | None = None
) -> None:
    buf = b""
    try:
        while True:
            chunk = await reader.read(1 << 20)
            if not chunk:
                return
            buf += chunk
            pos = 0
            msgs: list[bytes] = []
            while True:
                try:
                    n, start = read_uvarint(buf, pos)
                except Truncated:
                    break  # length not complete yet (a length that is no varint: WireError, closed)
                if n > MAX_FRAME:
                    raise WireError(f"frame of {n} bytes")
                if start + n > len(buf):
                    break
                msgs.append(buf[start : start + n])
                pos = start + n
            buf = buf[pos:]
            if not msgs:
                continue
            reqs = [_split(msg) for msg in msgs]
            await _prefetch(app, pool, reqs)
            out: list[bytes] = []
            for req in reqs:
                try:
                    if isinstance(req, Exception):
                        raise req
                    if isinstance(req, m.CheckTx):
                        out.append(frame(app.check_tx(req)))
                    else:
                        out.append(frame(dispatch_parsed(app, *req)))
                except Exception as exc:
                    log.exception("ABCI request failed")
                    out.append(frame(m.exception(f"{type(exc).__name__}: {exc}")))
            app.prefetched.clear()  # each CheckTx took its own; nothing outlives the batch
            writer.write(b"".join(out))
            await writer.drain()
    except (ConnectionError, WireError) as exc:
        log.warning("ABCI connection closed: %s", exc)
    finally:
        writer.close()


async def serve(data: Path, abci: str, cosign: str | None, verify_workers: int = 2) -> None:
    """Run the app for ``data``: ABCI on ``abci`` (tcp://host:port or unix://path), cosigning on ``cosign``."""
    from anju.chain.abci.cosign import Cosigner, serve_http

    app = AbciApp(data)
    app.defer = asyncio.get_running_loop().call_soon
    # As the embedded node does (Node.start): state and state map in memory (a cold member pays an
    # SQLite read per key and tree node it touches), young objects collected less often, and the
    # warmed caches never walked by the collector again.
    app.warm()
    gc.freeze()
    gc.set_threshold(max(gc.get_threshold()[0], 50_000), 20, 100)
    pool = Verifier(verify_workers) if verify_workers > 0 else None
    servers: list[asyncio.Server] = []
    cosigner = Cosigner(app) if app.config is not None else None
    if cosign and cosigner is not None:
        host, _, port = cosign.removeprefix("http://").rpartition(":")
        servers.append(await serve_http(cosigner.handle, host, int(port)))
        asyncio.get_running_loop().create_task(cosigner.pull_loop())

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _connection(app, r, w, pool)

    if abci.startswith("unix://"):
        path = abci.removeprefix("unix://")
        if os.path.exists(path):
            os.unlink(path)
        servers.append(await asyncio.start_unix_server(on_conn, path))
    else:
        host, _, port = abci.removeprefix("tcp://").rpartition(":")
        servers.append(await asyncio.start_server(on_conn, host, int(port)))
    log.info("anju ABCI app for %s listening on %s (cosign %s)", data, abci, cosign)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    if pool is not None:
        pool.close()
    app.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m anju.chain.abci", description="Anju's CometBFT ABCI 2.0 application")
    p.add_argument("--data", required=True, type=Path, help="this member's Anju data directory")
    p.add_argument("--abci", default="tcp://127.0.0.1:26658", help="tcp://host:port or unix://path")
    p.add_argument("--cosign", default=None, help="http://host:port for the cosigning side channel")
    p.add_argument("--verify-workers", type=int, default=2, help="signature-verifying processes (0: inline)")
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    prof_path = os.environ.get("ANJU_ABCI_PROFILE")  # developers: cProfile stats of the app process
    if not prof_path:
        asyncio.run(serve(a.data, a.abci, a.cosign, a.verify_workers))
        return
    import cProfile

    prof = cProfile.Profile()
    prof.enable()
    try:
        asyncio.run(serve(a.data, a.abci, a.cosign, a.verify_workers))
    finally:
        prof.disable()
        prof.dump_stats(f"{prof_path}.{os.getpid()}")


if __name__ == "__main__":
    main()
