"""Every HTTP error answer is the contract's body ``{"error": {"code", "message", "details"}}``.

The status comes from :data:`anju.errors.CODES`; overload answers carry ``Retry-After``.
FastAPI's own validation errors and Starlette's 404/405 are translated into the same shape.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from anju.errors import CODES, AnjuError, Overloaded, register_codes

# Codes only the HTTP edge uses; registered into the one table.
API_CODES: dict[str, tuple[int, str]] = {
    "METHOD_NOT_ALLOWED": (405, "the path exists but not with this HTTP method"),
    "UNKNOWN_PARAM": (
        400,
        "a query parameter that the endpoint does not define is present (details.param); nothing was done",
    ),
    "UNSUPPORTED_MEDIA_TYPE": (
        415,
        "a request with a body (POST) lacks Content-Type: application/json (a charset, if given, must be utf-8); "
        "its body was not read and nothing changed",
    ),
    "STREAMS_FULL": (503, "the server holds its maximum of open event streams; retry later"),
    "INTERNAL_ERROR": (
        500,
        "the server failed on this request (a defect, logged); the answer says nothing of the ledger",
    ),
}
register_codes(API_CODES)
log = logging.getLogger("anju.api")


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps(
        {"error": {"code": code, "message": message, "details": details or {}}},
        option=orjson.OPT_NON_STR_KEYS,
        default=str,
    )


def error_response(
    code: str, message: str, details: dict[str, Any] | None = None, retry_after: float | None = None
) -> Response:
    headers = {} if retry_after is None else {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return Response(
        error_body(code, message, details), status_code=CODES[code][0], media_type="application/json", headers=headers
    )


def from_anju_error(exc: AnjuError) -> Response:
    retry = exc.retry_after if isinstance(exc, Overloaded) else None
    details = {k: v for k, v in exc.details.items() if k != "retry_after"}
    if retry is not None:
        details["retry_after"] = max(1, math.ceil(retry))
    return error_response(exc.code, exc.message, details, retry)


def _clean(errors: Any) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        out.append(
            {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        )
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the contract's error body."""

    async def on_anju(_req: Request, exc: Exception) -> Response:
        assert isinstance(exc, AnjuError)
        return from_anju_error(exc)

    async def on_validation(_req: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errs = _clean(exc.errors())
        first = errs[0] if errs else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"])
        return error_response("BAD_REQUEST", f"{where}: {first['msg']}", {"errors": errs})

    async def on_http(_req: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response("NOT_FOUND", str(exc.detail) if exc.detail != "Not Found" else "no such resource")
        if exc.status_code == 405:
            resp = error_response("METHOD_NOT_ALLOWED", "method not allowed on this path")
            allow = (exc.headers or {}).get("Allow")
            if allow:  # RFC 9110: a 405 names the methods the path has
                resp.headers["Allow"] = allow
            return resp
        return error_response("BAD_REQUEST", str(exc.detail))

    async def on_defect(_req: Request, exc: Exception) -> Response:
        log.error("request failed", exc_info=exc)
        return error_response("INTERNAL_ERROR", f"the server failed on this request: {type(exc).__name__}")

    app.add_exception_handler(AnjuError, on_anju)
    app.add_exception_handler(Exception, on_defect)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
