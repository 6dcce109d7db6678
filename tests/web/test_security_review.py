"""Found by a security review of the portal and the API (fourteenth session): each test failed before its fix."""

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
    """GET /api/v1/events matches every event it reads against every filter value, on the server's
    event loop (a page: up to events_scan rows; a stream: its whole catch-up). With no bound on the
    values, one ~53 KB URL of 9,000 kinds cost ~1.3 ms per event (measured), and 40 such streams
    held GET /api/v1/node for ~7.5 s on a 122-event ledger. A filter parameter names at most 100
    values (BAD_REQUEST past that, for a page and a stream alike); 100 are served."""
    too_many = ",".join(f"k{i}" for i in range(9000))
    with httpx.Client(base_url=server["base"], timeout=60) as client:
        resp = client.get("/api/v1/events?format=json&kind=" + too_many)  # (commas as they are: ~53 KB)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "BAD_REQUEST", resp.text[:200]
        assert resp.json()["error"]["details"] == {"parameter": "kind", "limit": 100}
        with client.stream("GET", "/api/v1/events?after=0&kind=" + too_many) as stream:
            assert stream.status_code == 400  # refused before the stream (and its catch-up) starts
        parties = [f"{i:064x}" for i in range(101)]
        resp = client.get("/api/v1/events", params={"format": "json", "party": parties})  # repeated, not commas
        assert resp.status_code == 400 and resp.json()["error"]["details"]["parameter"] == "party"
        resp = client.get("/api/v1/events", params={"format": "json", "unit": "u" * 101})
        assert resp.status_code == 400 and "longer than 100" in resp.json()["error"]["message"]
        most = ",".join([*(f"k{i}" for i in range(99)), "lease."])
        resp = client.get("/api/v1/events", params={"format": "json", "kind": most, "limit": "1000"})
        assert resp.status_code == 200
        events = resp.json()["events"]
        assert events and all(e["kind"].startswith("lease.") for e in events)  # the prefix still matches
