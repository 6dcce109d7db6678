"""The HTTP/1.1 protocol uvicorn speaks for Anju: httptools, with our error body on unreadable requests.

A request the HTTP parser cannot read (a malformed request line or header, an invalid chunk) never
reaches the application: uvicorn answers it itself, in plain text. Every answer of the API is the
contract's JSON error body instead, here ``BAD_REQUEST`` with the parser's reason.

:func:`listen` and :func:`serve` run uvicorn on sockets bound beforehand, so that an address that
cannot be listened on is one line of the caller's (:func:`cannot_listen`) before anything starts,
not uvicorn's log and exit status after the node started.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Generator
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from anju.api.events import ABORT_CONNECTION, END_STREAM


def unreadable_request_body(reason: str) -> bytes:
    """The JSON error body for a request the HTTP parser refused."""
    return orjson.dumps(
        {
            "error": {
                "code": "BAD_REQUEST",
                "message": f"the HTTP request could not be read: {reason}",
                "details": {"reason": reason},
            }
        }
    )


class AnjuHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; the answer to an unreadable request differs, and a server
    shutting down ends the event streams it serves cleanly (uvicorn only waits for a response
    to end: an event stream never does, so every shutdown with one open waited out the graceful
    timeout, then cancelled it mid-frame with an error and a traceback in the log). Each request's
    scope carries a callable closing its connection at once (``scope[ABORT_CONNECTION]``): an event
    stream whose client takes nothing is dropped with it (closing it the usual way waits for the
    unsent data to leave, which a client that does not read never lets happen)."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[ABORT_CONNECTION] = self.transport.abort  # type: ignore[literal-required]

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            end = cycle.scope.get(END_STREAM)
            if callable(end):
                end()  # the stream sends its last chunk; the connection then closes (keep-alive off)
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        body = unreadable_request_body(msg)
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self.transport.close()


UVICORN_HTTP: dict[str, Any] = {"http": AnjuHttpProtocol}
"""Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` that select this protocol."""


def listen(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to ``host``:``port``, as uvicorn (asyncio's ``create_server``) would bind them:
    one per address the host resolves to (``""``: every interface), ``SO_REUSEADDR``, IPv6 sockets
    IPv6 only. OSError when one cannot be bound (the others are closed). A process forked afterwards
    (the node's verifiers and block writers) closes its copies: it never holds the server's socket."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, addr in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
    except OSError:
        for sock in sockets:
            sock.close()
        raise

    def close_in_child() -> None:
        for sock in sockets:
            sock.close()

    os.register_at_fork(after_in_child=close_in_child)
    return sockets


def cannot_listen(host: str, port: int, exc: OSError) -> str:
    """The one line saying why :func:`listen` failed: the address, and what is wrong with it."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    why = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        why += " (something else listens there: give another --port)"
    return f"cannot listen on {where}: {why}"


class Server(uvicorn.Server):
    """uvicorn's server, whose second Ctrl-C does not skip the application's shutdown.

    uvicorn takes a second SIGINT during its graceful shutdown as "force quit": it stops waiting for
    open connections (an event stream, a slow client) and also skips the application's shutdown,
    which for Anju is the node's stop (committing what it accepted): that then ran only because
    asyncio cancelled the lifespan task as the process exited, with a KeyboardInterrupt and
    CancelledError traceback in the log. Here the forced quit still skips the waiting, then runs the
    shutdown it skipped, saying so (acknowledged commits are durable in any case).

    After a graceful stop uvicorn raises again the signal that asked for it, "the expected
    behaviour" of each: for SIGTERM the default action, so the process ended killed by SIGTERM
    (status 143 in a shell, "Error" to a container runtime) although everything it accepted was
    committed, while a Ctrl-C (KeyboardInterrupt, caught) or a SIGHUP (handled) ended with 0. Here
    every graceful stop ends with 0; a failure to start still exits 3."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()  # stopped gracefully: nothing to raise again

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        lifespan = getattr(self, "lifespan", None)
        done = getattr(lifespan, "shutdown_event", None)
        if self.force_exit and lifespan is not None and done is not None and not done.is_set():
            logging.getLogger("uvicorn.error").warning(
                "forced quit: still committing the transactions accepted (kill -9 abandons them)"
            )
            await lifespan.shutdown()


def serve(app: Any, sockets: list[socket.socket], **config: Any) -> None:
    """Run uvicorn (with this protocol and ``config``) on ``sockets`` from :func:`listen` until it
    is stopped: what ``uvicorn.run`` does in one process (a Ctrl-C ends it quietly; exit status 3
    if the application did not start). SIGINT, SIGTERM and SIGHUP (a terminal's hang-up, which
    uvicorn leaves at its default: the process killed at once) all stop it gracefully: the
    application's shutdown (the node's stop, which commits everything accepted) runs first, even
    after a second Ctrl-C (:class:`Server`)."""
    server = Server(uvicorn.Config(app, **UVICORN_HTTP, **config))
    main = threading.current_thread() is threading.main_thread()  # (only it may set handlers)
    hangup = signal.signal(signal.SIGHUP, server.handle_exit) if main else None
    try:
        with contextlib.suppress(KeyboardInterrupt):  # re-raised by uvicorn once it stopped on SIGINT
            server.run(sockets=sockets)
    finally:
        if main:
            signal.signal(signal.SIGHUP, hangup)
    if not server.started:
        sys.exit(3)  # (uvicorn's STARTUP_FAILURE)
