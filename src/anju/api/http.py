"""The HTTP/1.1 protocol uvicorn speaks for Anju: httptools, with our error body on unreadable requests.

A request the HTTP parser cannot read (a malformed request line or header, an invalid chunk) never
reaches the application: uvicorn answers it itself, in plain text. Every answer of the API is the
contract's JSON error body instead, here ``BAD_REQUEST`` with the parser's reason.
"""

from __future__ import annotations

from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


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
    """uvicorn's httptools protocol; only the answer to an unreadable request differs."""

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
