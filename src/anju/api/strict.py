"""What every API request must get right before an endpoint reads it (docs/PROTOCOL.md, section
"HTTP API", Requests): its query parameters and, for a request with a body, its media type.

:func:`api_request` is a dependency of the API's routers, so every endpoint under ``/api/v1``
(those added later too) runs it after routing (an unknown path stays ``NOT_FOUND``, a wrong method
``METHOD_NOT_ALLOWED``) and before its own parameters are read:

1. every query parameter must be one the endpoint declares (read from the route's own signature,
   so the check cannot drift from the code): else ``UNKNOWN_PARAM``, naming it;
2. a parameter is given at most once, except those the endpoint declares as lists (the event
   filters): else ``BAD_REQUEST`` (FastAPI alone would keep the last copy);
3. a ``POST``, ``PUT`` or ``PATCH`` must declare ``Content-Type: application/json`` (parameters
   allowed; a ``charset`` must be ``utf-8``): else ``UNSUPPORTED_MEDIA_TYPE`` (415), a missing
   Content-Type included. The body is then not read.

The submission fast path (:mod:`anju.api.submit`) takes only requests that pass these checks
(:func:`json_media_type`); it hands any other to the routes, which answer it here.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Request

import anju.api.errors  # noqa: F401  (registers UNKNOWN_PARAM and UNSUPPORTED_MEDIA_TYPE)
from anju.errors import AnjuError

JSON = "application/json"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*"'
_PARAM = rf"({_TOKEN})=({_TOKEN}|{_QUOTED})"
# Every run of spaces has one place in the pattern (after the type, after a ";", after a parameter):
# with two (a space between ";"s matched by the end of one repetition or the start of the next),
# a value such as "a/b; ; ; …;," that does not match cost 2^n steps to refuse, with the
# interpreter held (one request stopped the whole server).
_MEDIA_TYPE = re.compile(rf"[ \t]*({_TOKEN}/{_TOKEN})[ \t]*((?:;[ \t]*(?:{_PARAM}[ \t]*)?)*)")
_PARAMS = re.compile(rf";[ \t]*(?:{_PARAM})?")  # (from each ";": a run of spaces is not searched again)


def parse_media_type(value: str) -> tuple[str, dict[str, str]] | None:
    """``type/subtype`` (lower case) and its parameters (names lower case, quoted values unquoted)
    from a Content-Type value (RFC 9110 §8.3.1); None when it is not one. A parameter given twice
    keeps its values joined with a NUL, so that no reading picks one of them."""
    m = _MEDIA_TYPE.fullmatch(value)
    if m is None:
        return None
    params: dict[str, str] = {}
    for p in _PARAMS.finditer(m[2]):
        if p[1] is None:
            continue  # an empty parameter (";;"), which RFC 9110 allows
        name, raw = p[1].lower(), p[2]
        val = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
        params[name] = params[name] + "\x00" + val if name in params else val
    return m[1].lower(), params


def json_media_type(values: Sequence[str]) -> str | None:
    """Why the Content-Type header lines ``values`` do not declare a JSON body; None when they do:
    exactly one line, ``application/json`` in any case, with any parameters but a ``charset`` other
    than ``utf-8``."""
    if not values:
        return "no Content-Type was given"
    if len(values) > 1:
        return "Content-Type is given more than once"
    if values[0] == JSON:  # what our SDK sends: no parsing
        return None
    parsed = parse_media_type(values[0])
    if parsed is None:
        return "Content-Type is not a media type"
    media, params = parsed
    if media != JSON:
        return f"the body is declared as {media}"
    charset = params.get("charset")
    if charset is not None and charset.lower() != "utf-8":
        return f"the body is declared in charset {charset.split(chr(0))[0][:40]}; JSON is UTF-8"
    return None


def _is_list(annotation: Any) -> bool:
    """Whether a query parameter's annotation takes several values (``list[str] | None``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    return origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset)


class Declared:
    """The query parameters one route declares: their names, and those that take several values."""

    __slots__ = ("lists", "names")

    def __init__(self, dependants: Iterable[Any]) -> None:
        names: set[str] = set()
        lists: set[str] = set()
        todo = list(dependants)
        while todo:
            d = todo.pop()
            for field in d.query_params:
                names.add(field.alias)
                if _is_list(field.field_info.annotation):
                    lists.add(field.alias)
            todo.extend(d.dependencies)
        self.names = frozenset(names)
        self.lists = frozenset(lists)


def declared(route: Any) -> Declared:
    """The route's declared query parameters (none for a route that is not a FastAPI route); read
    once per route, and kept on it."""
    found = getattr(route, "_anju_declared", None)
    if not isinstance(found, Declared):
        dependant = getattr(route, "dependant", None)
        found = Declared([] if dependant is None else [dependant])
        if route is not None:
            setattr(route, "_anju_declared", found)  # noqa: B010  (a route is not ours to subclass)
    return found


def check_query(request: Request) -> None:
    """UNKNOWN_PARAM for a query parameter the route does not declare; BAD_REQUEST for a
    single-valued one given twice."""
    items = request.query_params.multi_items()
    if not items:
        return
    d = declared(request.scope.get("route"))
    unknown = list(dict.fromkeys(name for name, _ in items if name not in d.names))
    if unknown:
        allowed = sorted(d.names)
        takes = ", ".join(allowed) if allowed else "none"
        raise AnjuError(
            "UNKNOWN_PARAM",
            f"unknown query parameter {unknown[0]!r}; {request.url.path} takes: {takes}",
            param=unknown[0],
            params=unknown,
            allowed=allowed,
        )
    seen: set[str] = set()
    for name, _ in items:
        if name in seen and name not in d.lists:
            raise AnjuError("BAD_REQUEST", f"query parameter {name!r} is given more than once", param=name)
        seen.add(name)


def check_json_body(request: Request) -> None:
    """UNSUPPORTED_MEDIA_TYPE unless the request declares a JSON body."""
    values = request.headers.getlist("content-type")
    why = json_media_type(values)
    if why is not None:
        raise AnjuError(
            "UNSUPPORTED_MEDIA_TYPE",
            f"{why}: {request.method} {request.url.path} takes Content-Type: {JSON}",
            content_type=[v[:100] for v in values[:4]] if len(values) > 1 else (values[0][:100] if values else None),
            expected=JSON,
        )


def api_request(request: Request) -> None:
    """The API routers' dependency: the query's names first, then a body's media type."""
    check_query(request)
    if request.method in BODY_METHODS:
        check_json_body(request)
