"""Protection at the HTTP edge: a request-size cap and a per-client token bucket.

Both are plain ASGI middleware so that they act before any routing or body parsing.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anju.api.errors import error_body
from anju.errors import Overloaded

MAX_CLIENTS = 100_000


async def _send_error(send: Send, status: int, body: bytes, retry_after: int | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Answer 413 PAYLOAD_TOO_LARGE to a body above ``max_bytes`` (declared or streamed).

    ``larger`` gives some paths (the batch submission) a higher cap. The error bodies are built once."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})
        self._bodies = {
            n: error_body("PAYLOAD_TOO_LARGE", f"the request body exceeds {n} bytes", {"limit": n})
            for n in {max_bytes, *self.larger.values()}
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.max_bytes) if self.larger else self.max_bytes
        body = self._bodies[limit]
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _send_error(send, 413, body)
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked:  # the server delivers at most the declared length (none: no body)
            await self.app(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_error(send, 413, body)


@functools.lru_cache(maxsize=4096)
def client_group(address: str) -> str:
    """The address a client is counted under (rate limits, the portal's sessions): an IPv6 client
    by its /64 (one host usually holds a whole /64, and could otherwise take a fresh share with
    each of its addresses), an IPv4 one (or an IPv4-mapped IPv6 one) by itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class TokenBucket:
    """``rate`` tokens per second up to ``burst``, per client (:func:`client_group`); the least
    recently seen are forgotten."""

    def __init__(self, rate: float, burst: float, clock: Any = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, cost: float = 1.0) -> float:
        """0 if allowed, else the seconds to wait before ``cost`` tokens are available."""
        now = self.clock()
        client = client_group(client)
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= cost:
            self._buckets[client] = (tokens - cost, now)
            wait = 0.0
        else:
            self._buckets[client] = (tokens, now)
            wait = (cost - tokens) / self.rate
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


def rate_limited(who: str, wait: float) -> Overloaded:
    retry = max(1, int(wait + 0.999))
    return Overloaded("RATE_LIMITED", f"too many requests from {who}; retry in {retry} s", retry_after=retry)


class RateLimit:
    """Answer 429 RATE_LIMITED with ``Retry-After`` when a client's bucket is empty."""

    def __init__(self, app: ASGIApp, bucket: TokenBucket) -> None:
        self.app = app
        self.bucket = bucket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        who = client[0] if client else "unknown"
        wait = self.bucket.take(who)
        if wait > 0:
            exc = rate_limited(who, wait)
            retry = max(1, int(wait + 0.999))
            body = error_body(exc.code, exc.message, {"retry_after": retry})
            await _send_error(send, 429, body, retry)
            return
        await self.app(scope, receive, send)
