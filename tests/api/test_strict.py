"""What every API request must get right, against a real server: a body declared as JSON
(UNSUPPORTED_MEDIA_TYPE otherwise) and only the query parameters its endpoint defines
(UNKNOWN_PARAM otherwise; a single-valued one given once). Refused requests change nothing."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.api.conftest import JSON_BODY, Server
from tests.api.test_core import env, err, post

from anju.chain.node import init_ledger
from anju.client import AnjuClient
from anju.crypto.keys import SigningKey
from anju.crypto.tx import parse
from anju.registry.machine import genesis_params

REFUSED_TYPES: list[list[tuple[str, str]]] = [
    [],  # no Content-Type at all
    [("Content-Type", "text/plain")],
    [("Content-Type", "application/x-www-form-urlencoded")],
    [("Content-Type", "multipart/form-data; boundary=x")],
    [("Content-Type", "application/jsonx")],
    [("Content-Type", "application/merge-patch+json")],
    [("Content-Type", "application/json; charset=iso-8859-1")],
    [("Content-Type", "application/json; charset=utf-16")],
    [("Content-Type", "application/json, text/plain")],  # not one media type
    [("Content-Type", "json")],
    [("Content-Type", "")],
    [("Content-Type", "application/json"), ("Content-Type", "text/plain")],  # given twice
]
ACCEPTED_TYPES = [
    "application/json",
    "Application/JSON",
    "application/json; charset=utf-8",
    'application/json;charset="UTF-8"',
    "application/json ; profile=x",
]


def _height(s: Server) -> int:
    return int(s.http.get("/api/v1/node").json()["height"])


def _txid(envelope: dict[str, Any]) -> str:
    return parse(orjson.dumps(envelope)).txid


def test_a_body_must_be_declared_as_json(kv_server: Server) -> None:
    """POST /txs and /txs/batch read any body whatever its Content-Type: a form post or text/plain
    was taken as an envelope. Anything but application/json (with any parameters, a charset of
    utf-8) is 415 UNSUPPORTED_MEDIA_TYPE, on the fast path and off it, and queues nothing."""
    s = kv_server
    key = SigningKey.generate()
    first = env(key, 1)
    raw = orjson.dumps(first)
    targets = [
        ("/api/v1/txs", raw, {}),
        ("/api/v1/txs", raw, {"wait": "commit", "timeout": "5"}),
        ("/api/v1/txs/batch", b"[" + raw + b"]", {}),
        ("/api/v1/txs/batch", b"[" + raw + b"]", {"wait": "commit"}),
    ]
    for path, body, params in targets:
        for headers in REFUSED_TYPES:
            r = s.http.post(path, content=body, params=params, headers=headers)
            assert r.status_code == 415 and err(r) == "UNSUPPORTED_MEDIA_TYPE", (path, params, headers, r.text)
            assert r.headers["content-type"] == "application/json"
            error = r.json()["error"]
            assert error["details"]["expected"] == "application/json" and "application/json" in error["message"]
        # a chunked body (no Content-Length: never the fast path) is refused the same way
        r = s.http.post(path, content=iter([body]), params=params, headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and err(r) == "UNSUPPORTED_MEDIA_TYPE", r.text
    missing = s.http.post("/api/v1/txs", content=raw).json()["error"]
    assert missing["details"]["content_type"] is None and "no Content-Type" in missing["message"]
    form = s.http.post("/api/v1/txs", content=raw, headers={"Content-Type": "text/plain"}).json()["error"]
    assert form["details"]["content_type"] == "text/plain"
    # nothing was queued by any of them: the envelope is unknown, and commits as seq 1 now
    assert err(s.http.get(f"/api/v1/txs/{_txid(first)}")) == "NOT_FOUND"
    assert _height(s) == 0
    for seq, media in enumerate(ACCEPTED_TYPES, 1):
        e = env(key, seq, k=f"k{seq}")
        r = s.http.post(
            "/api/v1/txs", content=orjson.dumps(e), params={"wait": "commit"}, headers={"Content-Type": media}
        )
        assert r.status_code == 200 and r.json()["status"] == "committed", (media, r.text)
    n = len(ACCEPTED_TYPES)
    for i, media in enumerate(ACCEPTED_TYPES):
        e = env(key, n + 1 + i, k=f"b{i}")
        r = s.http.post(
            "/api/v1/txs/batch", content=orjson.dumps([e]), params={"wait": "commit"}, headers={"Content-Type": media}
        )
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "committed", (media, r.text)


def test_a_media_type_with_many_empty_parameters_is_refused_at_once(kv_server: Server) -> None:
    """A Content-Type of empty parameters separated by spaces ("application/json; ; ; …; ,") that
    is not a media type: its parse took 2^n steps to fail (a space between two ";" had two places
    in the pattern), holding the interpreter, so one such request stopped the whole server (the
    fast path parses it on the event loop). Refused at once, on the fast path and off it."""
    s = kv_server
    raw = orjson.dumps(env(SigningKey.generate(), 1))
    value = "application/json" + "; " * 40 + ","
    for path, body in (("/api/v1/txs", raw), ("/api/v1/txs/batch", b"[" + raw + b"]")):
        for content in (body, iter([body])):  # with a Content-Length (the fast path), chunked (the routes)
            r = s.http.post(path, content=content, headers={"Content-Type": value}, timeout=20)
            assert r.status_code == 415 and err(r) == "UNSUPPORTED_MEDIA_TYPE", r.text
            assert "not a media type" in r.json()["error"]["message"]
    assert s.http.get("/api/v1/node", timeout=20).status_code == 200
    assert _height(s) == 0


def test_the_media_type_is_checked_after_routing(kv_server: Server) -> None:
    """An unknown path stays NOT_FOUND, a wrong method METHOD_NOT_ALLOWED, an oversized body
    PAYLOAD_TOO_LARGE, and an unknown query parameter UNKNOWN_PARAM, whatever the Content-Type."""
    h = kv_server.http
    text = {"Content-Type": "text/plain"}
    assert err(h.post("/api/v1/nothing", content=b"{}", headers=text)) == "NOT_FOUND"
    r = h.post("/api/v1/node", content=b"{}", headers=text)
    assert r.status_code == 405 and err(r) == "METHOD_NOT_ALLOWED"
    assert err(h.post("/api/v1/txs", content=b"x" * (300 * 1024), headers=text)) == "PAYLOAD_TOO_LARGE"
    assert err(h.post("/api/v1/txs?wiat=commit", content=b"{}", headers=text)) == "UNKNOWN_PARAM"
    # ... and before the parameters' values (PROTOCOL.md, Requests: the order)
    assert err(h.post("/api/v1/txs?wait=maybe", content=b"{}", headers=text)) == "UNSUPPORTED_MEDIA_TYPE"
    assert err(h.post("/api/v1/txs?wait=maybe", content=b"{}", headers=JSON_BODY)) == "BAD_REQUEST"
    # a GET's Content-Type is not looked at (it has no body)
    assert h.get("/api/v1/node", headers=text).status_code == 200


def test_the_sdk_declares_its_bodies(kv_server: Server) -> None:
    client = AnjuClient(kv_server.url, kv_server.vkey)
    try:
        key = SigningKey.generate()
        assert client.submit(env(key, 1))["status"] == "committed"
        assert client.submit(env(key, 2), wait=False)["status"] == "pending"
    finally:
        client.close()


# -- query parameters ------------------------------------------------------------------------------

KV_ENDPOINTS: dict[str, set[str]] = {
    # path (as in /openapi.json) -> the query parameters docs/PROTOCOL.md documents for it
    "/api/v1/node": set(),
    "/api/v1/health": set(),
    "/api/v1/checkpoint": set(),
    "/api/v1/blocks/{height}": set(),
    "/api/v1/proofs/consistency": {"first", "second"},
    "/api/v1/txs": {"wait", "timeout"},
    "/api/v1/txs/batch": {"wait", "timeout"},
    "/api/v1/txs/{txid}": set(),
    "/api/v1/state/{key}": set(),
    "/api/v1/events": {"party", "unit", "listing", "kind", "after", "format", "limit"},
}
REGISTRY_ENDPOINTS: dict[str, set[str]] = {
    **KV_ENDPOINTS,
    "/api/v1/listings": {
        "district",
        "street",
        "neighbourhood",
        "min_rent",
        "max_rent",
        "rooms",
        "min_area",
        "max_area",
        "unit",
        "publisher",
        "include_inactive",
        "limit",
        "cursor",
    },
    "/api/v1/codes/{code}": set(),
    "/api/v1/listings/{listing_id}": set(),
    "/api/v1/units/{unit_id}": set(),
    "/api/v1/units/{unit_id}/leases": set(),
    "/api/v1/leases/{lease_id}": set(),
    "/api/v1/parties/{party}": set(),
    "/api/v1/parties/{party}/credit": set(),
    "/api/v1/parties/{party}/history": {"format"},
    "/api/v1/registrations/{number}": set(),
}
PATH_VALUES = {
    "height": "0",
    "txid": "ab" * 32,
    "key": "kv/a",
    "code": "7K3QD-9XH2B",
    "listing_id": "0123456789abcdef",
    "unit_id": "0123456789abcdef",
    "lease_id": "0123456789abcdef",
    "party": "cd" * 32,
    "number": "XH202600000001",
}


def _documented_and_declared(s: Server, documented: dict[str, set[str]]) -> Iterator[tuple[str, str, str]]:
    """Every operation of the server's API: (method, path template, a concrete path); checks that
    each operation's query parameters in /openapi.json are those the docs give it."""
    paths = s.http.get("/openapi.json").json()["paths"]
    assert set(paths) == set(documented), set(paths) ^ set(documented)
    for path, ops in paths.items():
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "query"}
            assert declared == documented[path], (method, path, declared)
            yield method.upper(), path, re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m[1]], path)


def _refuses_unknown_parameters(s: Server, documented: dict[str, set[str]]) -> None:
    seen = set()
    for method, template, path in _documented_and_declared(s, documented):
        body = {"content": b"{}", "headers": JSON_BODY} if method == "POST" else {}
        for query in ("limt=10", "prty=" + "ab" * 32, "after=1&aftr=2", "=x", "Format=json"):
            r = s.http.request(method, f"{path}?{query}", **body)
            assert r.status_code == 400 and err(r) == "UNKNOWN_PARAM", (method, path, query, r.text)
            error = r.json()["error"]
            name = error["details"]["param"]
            assert f"'{name}'" in error["message"] and name not in error["details"]["allowed"]
            assert set(error["details"]["allowed"]) == documented[template], (template, error)
        seen.add(template)
    assert seen == set(documented)
    # HEAD /health (no body to carry the error): the status says it
    assert s.http.head("/api/v1/health?x=1").status_code == 400


def test_unknown_query_parameters_are_refused_on_every_endpoint_kv(kv_server: Server) -> None:
    """A typo (?limt=10, ?prty=…) was ignored, and the answer was of another question (the first
    100 events of everyone). Every endpoint of /openapi.json refuses a parameter it does not define,
    with UNKNOWN_PARAM naming it; the parameters each one defines are those PROTOCOL.md documents."""
    _refuses_unknown_parameters(kv_server, KV_ENDPOINTS)
    h = kv_server.http
    r = h.get("/api/v1/events", params={"format": "json", "limt": "10"})
    error = r.json()["error"]
    assert error["details"] == {
        "param": "limt",
        "params": ["limt"],
        "allowed": ["after", "format", "kind", "limit", "listing", "party", "unit"],
    }
    assert "'limt'" in error["message"] and "/api/v1/events" in error["message"]
    both = h.get("/api/v1/node?b=1&a=2&b=3").json()["error"]["details"]
    assert both["param"] == "b" and both["params"] == ["b", "a"] and both["allowed"] == []
    # a repeated unknown one is unknown first; a repeated known one stays BAD_REQUEST
    assert err(h.get("/api/v1/events?format=json&limt=1&limt=2")) == "UNKNOWN_PARAM"
    assert err(h.get("/api/v1/events?format=json&limit=1&limit=2")) == "BAD_REQUEST"


def test_a_refused_submission_queues_nothing(kv_server: Server) -> None:
    s = kv_server
    key = SigningKey.generate()
    e = env(key, 1)
    for path, body in (("/api/v1/txs", orjson.dumps(e)), ("/api/v1/txs/batch", orjson.dumps([e]))):
        for query in ("wiat=commit", "wait=commit&timout=5", "wait=commit&wait=commit"):
            r = s.http.post(f"{path}?{query}", content=body, headers=JSON_BODY)
            assert r.status_code == 400 and err(r) in ("UNKNOWN_PARAM", "BAD_REQUEST"), (path, query, r.text)
    assert err(s.http.get(f"/api/v1/txs/{_txid(e)}")) == "NOT_FOUND" and _height(s) == 0
    assert post(s, e).status_code == 200  # seq 1 was never taken


def test_every_parameter_the_docs_sdk_and_portal_use_is_accepted(kv_server: Server) -> None:
    s = kv_server
    h = s.http
    key = SigningKey.generate()
    assert post(s, env(key, 1)).status_code == 200
    r = h.post(
        "/api/v1/txs", params={"wait": "commit", "timeout": "30"}, content=orjson.dumps(env(key, 2)), headers=JSON_BODY
    )
    assert r.status_code == 200, r.text
    r = h.post("/api/v1/txs/batch", params={"wait": "none", "timeout": "1"}, content=b"[]", headers=JSON_BODY)
    assert r.status_code == 200, r.text
    assert h.get("/api/v1/proofs/consistency", params={"first": 1, "second": 2}).status_code == 200
    full = {
        "format": "json",
        "after": 0,
        "limit": 10,
        "party": key.public_hex,
        "unit": "u",
        "listing": "l",
        "kind": "kv.",
    }
    assert h.get("/api/v1/events", params=full).status_code == 200
    many = h.get(f"/api/v1/events?format=json&kind=kv.&kind=x.&party={key.public_hex}&party={'ab' * 32}")
    assert many.status_code == 200 and many.json()["events"]
    # the portal's live notifications (static/live.js): the stream with ?party=&after=
    with h.stream("GET", "/api/v1/events", params={"party": key.public_hex, "after": "0"}) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    # the SDK: proofs of consistency, the event stream, submissions (wait and timeout)
    client = AnjuClient(s.url, s.vkey)
    try:
        client.checkpoint()
        assert client.submit(env(key, 3), wait=True, timeout=20)["status"] == "committed"
        client.checkpoint()  # (against the one it remembered: GET /proofs/consistency?first&second)
        events = client.events(after=0, party=key.public_hex, kind="kv.", give_up_after=10)
        assert next(events)["kind"].startswith("kv.")
        events.close()
    finally:
        client.close()


@pytest.fixture
def registry_server(tmp_path: Path, start_server: Callable[..., Server]) -> Server:
    authority = SigningKey.generate()
    data = init_ledger(
        tmp_path / "reg", chain_id="anju-strict", app="anju-registry", params=genesis_params(authority.public_hex)
    )
    return start_server(data, "--web")


def test_unknown_query_parameters_are_refused_on_every_endpoint_registry(registry_server: Server) -> None:
    """The registry's endpoints too; its documented parameters are accepted; the portal's own
    HTML pages (not /api) keep ignoring what they do not read."""
    s = registry_server
    _refuses_unknown_parameters(s, REGISTRY_ENDPOINTS)
    h = s.http
    everything: dict[str, Any] = {
        "district": "徐汇区",
        "street": "衡山路",
        "neighbourhood": "x",
        "min_rent": 1,
        "max_rent": 2_000_000,
        "rooms": 2,
        "min_area": 10,
        "max_area": 200,
        "unit": "0123456789abcdef",
        "publisher": "ab" * 32,
        "include_inactive": "true",
        "limit": 5,
        "cursor": "0123456789abcdef",
    }
    r = h.get("/api/v1/listings", params=everything)
    assert r.status_code == 200 and r.json()["listings"] == [], r.text
    assert err(h.get("/api/v1/listings", params={"max_rnet": 1})) == "UNKNOWN_PARAM"
    authority = h.get("/api/v1/events", params={"format": "json", "after": 0}).json()["events"][0]["data"]["party"]
    for fmt in ("bundle", "parts"):
        assert h.get(f"/api/v1/parties/{authority}/history", params={"format": fmt}).status_code == 200, fmt
    assert err(h.get(f"/api/v1/parties/{authority}/history", params={"fromat": "parts"})) == "UNKNOWN_PARAM"
    # the portal's pages are not the API: a tracking parameter does not break a shared link
    for page in ("/", "/check", "/signin"):
        r = h.get(page, params={"utm_source": "poster"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), (page, r.status_code)
