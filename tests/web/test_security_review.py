"""Security review (sec-review branch): each test asserts the secure behaviour and fails today."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
from nacl.pwhash import argon2id

from anju.crypto import keystore

from .conftest import devserver
from .ledger import build, key


def test_one_address_registering_cannot_take_every_password_derivation(tmp_path: Path) -> None:
    """POST /register costs an argon2id derivation (256 MiB, ~1.3 s here) like a keystore sign-in,
    but it has no per-address limit (only the keystore sign-in bucket exists). One address firing
    a dozen registrations at once fills the shared Derivations pool (2 running + 8 waiting), and
    every other visitor's keystore sign-in is answered 503 'busy' until the flood drains; the flood
    can be kept up indefinitely (and each request also puts a new party on the ledger)."""
    build(tmp_path)
    victim = keystore.encrypt(
        key("tenant"), "the right one", opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN
    )
    upload = {"keyfile": ("k.json", json.dumps(victim).encode(), "application/json")}
    form = {"role": "tenant", "identity": "x", "password": "a long password", "password2": "a long password"}
    with devserver(tmp_path) as base:
        flood: list[int] = []

        def register() -> None:
            with httpx.Client(base_url=base, timeout=120) as c:  # no cookie: a fresh visitor each time
                flood.append(c.post("/register?lang=en", data=form).status_code)

        threads = [threading.Thread(target=register) for _ in range(14)]
        for t in threads:
            t.start()
        time.sleep(0.6)  # all 14 are queued for a derivation (each takes over a second)
        with httpx.Client(base_url=base, timeout=120) as client:
            resp = client.post("/signin?lang=en", data={"password": "the right one"}, files=upload)
        for t in threads:
            t.join()
    # Secure: one address's registrations are limited per address (429 past its share), so the
    # password derivations are never all held by one client and nobody is told 'busy' (503).
    assert resp.status_code != 503, (resp.status_code, sorted(flood))
    assert 503 not in flood, flood


def test_an_event_filter_of_thousands_of_kinds_is_refused(server: dict) -> None:
    """GET /api/v1/events?format=json matches every scanned row against every ``kind`` value in
    Python, on the event loop (app.get_events: ``out.extend(row for row in rows if flt.match(row))``;
    EventFilter.match is ``any(...)`` over the kinds). The number of values is unbounded: one
    ~53 KB URL with 9,000 kinds costs ~1.3 ms per event (measured), so on a ledger of 10,000+
    events (the scan bound, events_scan) one request blocks the whole server (API and portal) for
    ~13 s, and the rate limit allows 2,000 such requests a second. Secure: a bounded number of
    filter values; past it, 422."""
    kinds = ",".join(f"k{i}" for i in range(9000))
    with httpx.Client(base_url=server["base"], timeout=60) as client:
        resp = client.get("/api/v1/events?format=json&kind=" + kinds)
    assert resp.status_code in (400, 413, 414, 422), (resp.status_code, resp.text[:200])


def test_event_streams_with_thousands_of_kinds_do_not_stall_the_server(server: dict) -> None:
    """The SSE catch-up (events.Broadcaster._catch_up) walks every event after ``after`` (no
    events_scan bound there) and runs ``sub.filter.match(row)`` on the event loop for each, against
    every kind value. 40 streams (a client may hold 256) with 9,000 kinds each and after=0 stall
    the whole server: on this 122-event ledger GET /api/v1/node took ~7.5 s instead of ~0.1 s
    (measured); on a ledger of a million events one such stream blocks for ~20 minutes. Secure:
    such a filter is refused up front (or matched cheaply), and /node answers promptly."""
    import socket
    from urllib.parse import urlsplit

    kinds = ",".join(f"k{i}" for i in range(9000))
    url = urlsplit(server["base"])
    req = f"GET /api/v1/events?after=0&kind={kinds} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode()
    socks = []
    try:
        for _ in range(40):
            s = socket.create_connection((url.hostname, url.port))
            s.sendall(req)
            socks.append(s)
        time.sleep(0.05)
        t = time.monotonic()
        resp = httpx.get(server["base"] + "/api/v1/node", timeout=120)
        took = time.monotonic() - t
    finally:
        for s in socks:
            s.close()
    assert resp.status_code == 200
    assert took < 2.0, f"GET /api/v1/node took {took:.1f} s while 40 event streams caught up"
