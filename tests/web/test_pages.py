"""The portal in-process (no browser): pages, sign-in, sessions, and refusals shown as sentences."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from anju.crypto import keystore
from anju.crypto.keys import SigningKey
from anju.registry.credit import CHUNK
from anju.registry.dates import add_days, add_months
from anju.web import demo

from .conftest import devserver
from .ledger import build, key, lease_under_sublease

Client = httpx.Client


@pytest.fixture(scope="module")
def world(server: dict[str, Any]) -> Iterator[tuple[Client, dict[str, Any]]]:
    with httpx.Client(base_url=server["base"], follow_redirects=False, timeout=30) as client:
        yield client, server


def _client(world: tuple[Client, dict[str, Any]]) -> tuple[Client, dict[str, Any]]:
    client, ids = world
    client.cookies.clear()
    return client, ids


def sign_in(client: Client, name: str) -> str:
    resp = client.post("/signin/demo", data={"party": key(name).public_hex})
    assert resp.status_code == 303, resp.text
    return form_token(client)


def form_token(client: Client) -> str:
    page = client.get("/me").text
    m = re.search(r'name="form_token" value="([^"]+)"', page)
    assert m, "no form token on /me"
    return m.group(1)


def test_public_pages_in_both_languages(world: Any) -> None:
    client, ids = _client(world)
    for lang, tag, word in (("en", "en", "Find a home"), ("zh", "zh-Hans", "找房")):
        for path in ("/", "/check", "/registration", "/district", f"/listing/{ids['listing']}", "/signin"):
            resp = client.get(path, params={"lang": lang})
            assert resp.status_code == 200, path
            assert f'<html lang="{tag}">' in resp.text and word in resp.text, path
        assert client.cookies.get("lang") == lang
    assert client.get("/listing/0000000000000000").status_code == 404


def test_search_filters(world: Any) -> None:
    client, ids = _client(world)
    hit = client.get("/", params={"lang": "en", "street": "田林", "rent_max": "10000", "rooms": "2"}).text
    assert f"/listing/{ids['listing']}" in hit
    miss = client.get("/", params={"lang": "en", "rent_max": "5000"}).text
    assert f"/listing/{ids['listing']}" not in miss
    partial = client.get("/", params={"street": "田林"}, headers={"HX-Request": "true", "HX-Target": "results"}).text
    assert partial.lstrip().startswith('<section id="results"')


def test_check_a_code(world: Any) -> None:
    client, ids = _client(world)
    code = ids["code"]
    ok = client.get("/check", params={"code": f"{code[:5].lower()}-{code[5:]}", "lang": "en"}).text
    assert "Genuine and current" in ok and "Title attested by the housing authority on" in ok
    assert 'id="verify-why"' not in ok  # (a listing not valid now says why, and what not to do)
    assert f'href="/api/v1/codes/{code}"' in ok  # the proof bundle is the API's verification answer
    link = client.get("/check", params={"code": f"http://example.test/check?code={code}", "lang": "en"}).text
    assert "Genuine and current" in link  # a scanned QR link pasted whole
    assert "Do not pay anything" in client.get("/check", params={"code": "ZZZZZZZZZZ", "lang": "en"}).text
    assert "not a listing code" in client.get("/check", params={"code": "hello", "lang": "en"}).text
    assert "<svg" in client.get(f"/listing/{ids['listing']}").text  # the QR code


def test_party_page_shows_credit_factors(world: Any) -> None:
    client, _ids = _client(world)
    page = client.get(f"/party/{key('agency_a').public_hex}", params={"lang": "en"}).text
    assert "Credit record" in page and "Anjia Agency" in page


def test_party_page_links_archived_credit_chunks(world: Any) -> None:
    client, _ids = _client(world)
    serial = key("serial").public_hex
    page = client.get(f"/party/{serial}", params={"lang": "en"}).text
    assert "archived on the ledger in chunks" in page
    assert f'href="/api/v1/state/credit/{serial}/suspensions/0"' in page
    assert f"credit/{serial}/suspensions/1" not in page  # one chunk: the record keeps the 33rd entry
    chunk = client.get(f"/api/v1/state/credit/{serial}/suspensions/0").json()
    assert len(chunk["value"]["entries"]) == CHUNK and chunk["value"]["points"] == -100 * CHUNK
    quiet = client.get(f"/party/{key('agency_a').public_hex}", params={"lang": "en"}).text
    assert "archived on the ledger in chunks" not in quiet


def test_sign_in_with_keystore_and_wrong_password(world: Any) -> None:
    client, _ids = _client(world)
    doc = keystore.encrypt(key("tenant"), "correct horse", opslimit=2, memlimit=8192 * 1024)
    files = {"keyfile": ("tenant.keystore.json", orjson.dumps(doc), "application/json")}
    bad = client.post("/signin?lang=zh", files=files, data={"password": "wrong"})
    assert bad.status_code == 422
    assert "密码错误" in bad.text and 'id="password-err"' in bad.text and "KEYSTORE" not in bad.text
    good = client.post("/signin", files=files, data={"password": "correct horse"})
    assert good.status_code == 303 and good.headers["location"] == "/me"
    assert "tenant" in client.get("/me", params={"lang": "en"}).text


def test_sign_in_with_key_file_and_unknown_key(world: Any) -> None:
    client, _ids = _client(world)
    seed = {"ed25519_seed": key("landlord").seed.hex()}
    resp = client.post("/signin", files={"keyfile": ("k.json", orjson.dumps(seed), "application/json")})
    assert resp.status_code == 303
    stranger = {"ed25519_seed": SigningKey.generate().seed.hex()}
    resp = client.post("/signin?lang=en", files={"keyfile": ("k.json", orjson.dumps(stranger), "application/json")})
    assert resp.status_code == 422 and "not a registered party" in resp.text
    junk = client.post("/signin?lang=en", files={"keyfile": ("k.json", b"not a key", "text/plain")})
    assert junk.status_code == 422 and "not an Anju key file" in junk.text


def test_sign_out_forgets_the_session(world: Any) -> None:
    client, _ids = _client(world)
    form_token = sign_in(client, "tenant")
    token = client.cookies.get("anju_session")
    assert token and client.get("/me").status_code == 200
    assert client.post("/signout").status_code == 403  # without the page's form token: refused
    assert client.get("/me").status_code == 200
    assert client.post("/signout", data={"form_token": form_token}).status_code == 303
    replay = httpx.get(f"{_ids['base']}/me", headers={"Cookie": f"anju_session={token}"})
    assert replay.status_code == 303  # back to sign-in: the server forgot the key


def test_another_site_cannot_sign_a_visitor_in_or_out(world: Any) -> None:
    client, ids = _client(world)
    evil = {"Origin": "https://evil.example"}
    resp = client.post("/signin/demo", data={"party": key("tenant").public_hex}, headers=evil)
    assert resp.status_code == 403 and "anju_session" not in resp.cookies
    files = {"keyfile": ("k.txt", key("tenant").seed.hex().encode(), "text/plain")}
    resp = client.post("/signin", files=files, headers={"Referer": "https://evil.example/page"})
    assert resp.status_code == 403 and "anju_session" not in resp.cookies
    form_token = sign_in(client, "tenant")
    assert client.post("/signout", data={"form_token": form_token}, headers=evil).status_code == 403
    assert client.get("/me").status_code == 200  # still signed in
    same = {"Origin": ids["base"]}
    assert client.post("/signout", data={"form_token": form_token}, headers=same).status_code == 303


def test_next_never_leaves_the_site() -> None:
    from anju.web.portal import _safe_next

    for bad in ("/\\evil.example/x", "/\t/evil.example", "//evil.example", "https://evil.example", "/\x00x", ""):
        assert _safe_next(bad) == "/me", bad
    assert _safe_next("/listing/abc?lang=en#top") == "/listing/abc?lang=en#top"


def test_a_keystore_cannot_ask_the_portal_for_gigabytes() -> None:
    """A forged keystore of a few hundred bytes names its own argon2id cost: refused before any work."""
    from anju.web.portal import key_from_upload

    doc = keystore.encrypt(key("tenant"), "pw", opslimit=2, memlimit=8192 * 1024)
    for field_name, value in (("memlimit", 4 << 30), ("memlimit", keystore.MEMLIMIT * 2), ("opslimit", 10**6)):
        forged = {**doc, field_name: value}
        with pytest.raises(keystore.KeystoreError, match="out of bounds"):
            key_from_upload(orjson.dumps(forged), "pw")
    with pytest.raises(keystore.KeystoreError, match="out of bounds"):  # the CLI's bound is higher, not absent
        keystore.decrypt({**doc, "memlimit": 1 << 40}, "pw")
    assert key_from_upload(orjson.dumps(doc), "pw").public_hex == key("tenant").public_hex


def test_no_third_party_scripts_on_the_portal_origin(world: Any) -> None:
    client, _ids = _client(world)
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").status_code == 200
    assert "cdn." not in client.get("/", params={"lang": "en"}).text


def test_no_acting_without_session_token_or_role(world: Any) -> None:
    client, ids = _client(world)
    grant = {
        "unit": ids["unit1"],
        "agency": key("agency_a").public_hex,
        "from": "2030-01-01",
        "to": "2030-06-30",
        "min_rent": "5000",
    }
    anon = client.post("/act/mandate.grant?lang=en", data=grant)
    assert anon.status_code == 422 and "session has ended" in anon.text
    token = sign_in(client, "tenant")
    forged = client.post("/act/mandate.grant?lang=en", data={**grant, "form_token": "forged"})
    assert "form expired" in forged.text
    wrong_role = client.post("/act/mandate.grant?lang=en", data={**grant, "form_token": token})
    assert "role does not allow" in wrong_role.text
    assert client.post("/act/no.such.action", data={"form_token": token}).status_code == 404


def test_the_signer_is_always_the_session_key(world: Any) -> None:
    client, ids = _client(world)
    token = sign_in(client, "landlord")
    today = ids["today"]
    resp = client.post(
        "/act/mandate.grant",
        data={
            "unit": ids["unit2"],
            "agency": key("agency_a").public_hex,
            "from": today,
            "to": add_days(today, 90),
            "min_rent": "5000",
            "form_token": token,
            "signer": key("tenant").public_hex,
            "next": "/me",
        },
    )
    assert resp.status_code == 303
    landlord = client.get(f"/api/v1/parties/{key('landlord').public_hex}").status_code
    assert landlord == 200
    me = client.get("/me", params={"lang": "en"}).text
    assert "Grant a mandate" in me  # the flash


def test_ledger_refusal_is_a_sentence_next_to_its_field(world: Any) -> None:
    client, ids = _client(world)
    token = sign_in(client, "landlord")
    # unit registered but its title not attested: publishing is refused by the ledger (UNIT_NOT_ATTESTED)
    client.post(
        "/act/unit.register",
        data={
            "district": "徐汇区",
            "street": "虹漕路",
            "neighbourhood": "虹漕新村",
            "address_commitment": "虹漕路 1 号 101",
            "floor_area_m2": "40",
            "rooms": "1",
            "form_token": token,
        },
    )
    page = client.get("/me").text
    known = (ids["unit1"], ids["unit2"], ids["unit3"])
    new_unit = next(u for u in re.findall(r"<code>([0-9a-f]{16})</code>", page) if u not in known)
    form = {
        "unit": new_unit,
        "rent": "4000",
        "deposit": "4000",
        "available_from": ids["today"],
        "min_term_months": "12",
        "description": "小一居",
        "form_token": token,
    }
    resp = client.post("/act/listing.publish?lang=zh", data=form, headers={"HX-Request": "true"})
    assert resp.status_code == 200  # htmx swaps the form in place
    assert 'id="f-listing-publish-unit-err"' in resp.text
    assert "产权尚未经住房管理部门核验" in resp.text and "UNIT_NOT_ATTESTED" not in resp.text
    bad = client.post("/act/listing.publish?lang=en", data={**form, "rent": "abc", "available_from": "soon"})
    assert "amount in yuan" in bad.text and "YYYY-MM-DD" in bad.text


def test_rent_recorded_by_tenant_and_confirmed_by_landlord(world: Any) -> None:
    client, ids = _client(world)
    lease = ids["lease3"]
    token = sign_in(client, "tenant2")
    page = client.get(f"/lease/{lease}", params={"lang": "en"})
    assert page.status_code == 200 and "Record a rent payment" in page.text
    month = add_days(ids["today"], 10)[:7]  # the lease starts ten days after the ledger was built
    resp = client.post(
        "/act/rent.pay",
        data={
            "lease": lease,
            "period": month,
            "months": "1",
            "amount": "9000",
            "form_token": token,
            "next": f"/lease/{lease}",
        },
        headers={"HX-Request": "true"},
    )
    assert resp.status_code == 204 and resp.headers["HX-Redirect"] == f"/lease/{lease}"
    client.cookies.clear()
    token = sign_in(client, "landlord")
    me = client.get("/me", params={"lang": "en"}).text
    assert "Payments to confirm" in me
    payment = re.search(r'name="payment" value="([0-9a-f]{16})"', me)
    assert payment
    resp = client.post("/act/payment.confirm", data={"payment": payment.group(1), "form_token": token})
    assert resp.status_code == 303
    assert "✔" in client.get(f"/lease/{lease}").text


def test_a_payment_the_landlord_never_received_is_refused_and_its_month_is_owed_again(world: Any) -> None:
    client, ids = _client(world)
    lease = ids["lease3"]
    token = sign_in(client, "tenant2")
    page = client.get(f"/lease/{lease}", params={"lang": "en"}).text
    recorded = re.search(r"Recorded through</dt><dd>(\d{4}-\d{2}|—)", page)  # (this module's server is shared)
    assert recorded and "Confirmed through" in page
    month = add_days(ids["today"], 10)[:7] if recorded.group(1) == "—" else add_months(recorded.group(1), 1)
    form = {"lease": lease, "period": month, "months": "1", "amount": "9000", "form_token": token}
    resp = client.post("/act/rent.pay", data=form)
    assert resp.status_code == 303, resp.text
    page = client.get(f"/lease/{lease}", params={"lang": "en"}).text
    assert "1 months waiting for the receiver" in page
    client.cookies.clear()
    token = sign_in(client, "landlord")
    me = client.get("/me", params={"lang": "en"}).text
    assert "Not received?" in me
    payment = re.search(r'name="payment" value="([0-9a-f]{16})"', me)
    assert payment
    data = {"payment": payment.group(1), "reason_hash": "bank statement, March: nothing", "form_token": token}
    assert client.post("/act/payment.refuse", data=data).status_code == 303
    me = client.get("/me", params={"lang": "en"}).text
    assert payment.group(1) not in me  # out of the queue
    page = client.get(f"/lease/{lease}", params={"lang": "en"}).text
    assert "refused" in page and "waiting for the receiver" not in page
    zh = client.get(f"/lease/{lease}", params={"lang": "zh"}).text
    assert "已拒绝" in zh


def test_lease_page_only_for_its_parties(world: Any) -> None:
    client, ids = _client(world)
    assert client.get(f"/lease/{ids['lease3']}").status_code == 403
    sign_in(client, "agency_a")
    assert client.get(f"/lease/{ids['lease3']}").status_code == 403


def test_the_session_cookie_is_httponly_and_samesite(world: Any) -> None:
    """Served over plain http with no https public address (a developer's machine): HttpOnly and
    SameSite=Lax, not Secure (a browser would not send it back)."""
    client, _ids = _client(world)
    resp = client.post("/signin/demo", data={"party": key("tenant").public_hex})
    assert resp.status_code == 303
    cookie = resp.headers["set-cookie"].lower()
    assert cookie.startswith("anju_session=") and "httponly" in cookie and "samesite=lax" in cookie, cookie
    assert "secure" not in cookie, cookie
    client.cookies.clear()


def test_demo_sign_in_only_on_a_demo_ledger(tmp_path: Path, world: Any) -> None:
    assert demo.load(tmp_path) == [] and demo.load(None) == []
    client, _ids = _client(world)
    page = client.get("/signin", params={"lang": "en"}).text
    assert "DEMO" in page and "Tenant Li" in page
    resp = client.post("/signin/demo?lang=en", data={"party": SigningKey.generate().public_hex})
    assert resp.status_code == 422


def test_district_dashboard_draws_svg(world: Any) -> None:
    client, _ids = _client(world)
    page = client.get("/district", params={"lang": "en"}).text
    assert page.count("<svg") == 4 and "Active listings by street" in page


def test_static_htmx_is_served_locally(world: Any) -> None:
    client, _ids = _client(world)
    resp = client.get("/static/htmx-2.0.4.min.js")
    assert resp.status_code == 200 and b"htmx" in resp.content
    assert "unpkg" not in client.get("/").text and "cdn" not in client.get("/").text


def test_the_qr_link_follows_the_request_address_without_a_public_url(world: Any) -> None:
    client, ids = _client(world)
    page = client.get(f"/listing/{ids['listing']}", params={"lang": "en"}, headers={"Host": "portal.test:8080"}).text
    assert f"http://portal.test:8080/check?code={ids['code']}" in page


def test_public_url_and_a_full_portal(tmp_path: Path) -> None:
    """With --public-url the QR link points there whatever Host the request names; with every
    session slot taken, a new sign-in gets a 503 page that says so (both languages) and the
    signed-in visitor keeps their session."""
    ids = build(tmp_path)
    with (
        devserver(tmp_path, "--public-url", "https://anju.example.org/", "--max-sessions", "1") as base,
        httpx.Client(base_url=base, timeout=30) as first,
        httpx.Client(base_url=base, timeout=30) as second,
    ):
        page = first.get(f"/listing/{ids['listing']}", params={"lang": "en"}, headers={"Host": "evil.test"}).text
        assert f"https://anju.example.org/check?code={ids['code']}" in page and "evil.test" not in page
        # the public address is https (a proxy ends TLS and speaks http to the portal): the session
        # cookie is Secure, so a browser never sends it over plain http
        resp = first.post("/signin/demo", data={"party": key("tenant").public_hex})
        assert resp.status_code == 303
        cookie = resp.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "; secure" in cookie, cookie
        token = resp.cookies["anju_session"]
        first.cookies.clear()
        first.cookies.set("anju_session", token)  # (this test's client speaks http: it sends it anyway)
        for lang, sentence in (("en", "Too many people are signed in"), ("zh", "当前登录的人数过多")):
            resp = second.post(f"/signin/demo?lang={lang}", data={"party": key("landlord").public_hex})
            assert resp.status_code == 503 and sentence in resp.text, resp.text[-500:]
            assert resp.headers["retry-after"] == "300"
        assert "form_token" in first.get("/me").text  # still signed in
        # registering then would put a party on the ledger whose key nobody receives: refused first
        size = second.get("/api/v1/node").json()["tree_size"]
        data = {"role": "tenant", "identity": "someone", "password": "a long password", "password2": "a long password"}
        resp = second.post("/register?lang=en", data=data)
        assert resp.status_code == 503 and "Too many people are signed in" in resp.text
        assert second.get("/api/v1/node").json()["tree_size"] == size
        token = form_token(first)
        assert first.post("/signout", data={"form_token": token}).status_code == 303
        assert second.post("/signin/demo", data={"party": key("landlord").public_hex}).status_code == 303


def test_notice_dispute_and_report_forms_reach_the_ledger(tmp_path: Path) -> None:
    """These three forms once sent bodies their kinds refuse (no mode; one hash for a list)."""
    ids = build(tmp_path)
    lease, today = ids["lease3"], ids["today"]
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        token = sign_in(client, "tenant2")
        acts = [
            ("dispute.open", {"lease": lease, "subject": "condition", "evidence": "photos of the damp wall"}),
            ("report.file", {"listing": ids["listing"], "evidence": "the flat is not for rent"}),
            ("lease.terminate", {"lease": lease, "on": add_days(today, 70), "reason_hash": "moving for work"}),
        ]
        for name, data in acts:
            resp = client.post(f"/act/{name}?lang=en", data={**data, "form_token": token, "next": "/me"})
            assert resp.status_code == 303, (name, resp.text[-800:])
            assert "Done:" in client.get("/me", params={"lang": "en"}).text, name
        kinds = [
            e["kind"]
            for e in client.get("/api/v1/events", params={"format": "json", "after": 0, "limit": 1000}).json()["events"]
        ]
        assert {"dispute.opened", "report.filed", "lease.terminated"} <= set(kinds), kinds
        lease_rec = client.get(f"/api/v1/leases/{lease}").json()
        assert lease_rec["value"]["ends_on"] == add_days(today, 70), lease_rec["value"]
        # the lease page says its end is set (not only its phase) and offers no second termination
        page = client.get(f"/lease/{lease}", params={"lang": "en"}).text
        assert 's-upcoming">upcoming' in page and 's-ending">ending' in page  # it starts later; its end is set
        shown = page[page.index('id="termination"') :]
        assert shown.startswith(f'id="termination">by notice · last day {add_days(today, 70)}'), shown[:200]
        assert 'action="/act/lease.terminate' not in page


def test_a_registration_shows_the_leases_phase_not_its_stored_status(tmp_path: Path) -> None:
    """A registered lease that starts in ten days is "upcoming" (the stored status says "active"
    from signing to the end, and after it too)."""
    ids = build(tmp_path)
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        token = sign_in(client, "authority")
        assert client.post("/act/lease.register", data={"lease": ids["lease3"], "form_token": token}).status_code == 303
        lease = client.get(f"/api/v1/leases/{ids['lease3']}").json()["value"]
        number = lease["registration"]["number"]
        page = client.get("/registration", params={"number": number, "lang": "en"}).text
        result = page[page.index('id="registration-result"') :]
        assert 's-upcoming">upcoming' in result and ">active<" not in result


def test_a_bank_attests_the_account_an_agency_needs_for_a_deposit(tmp_path: Path) -> None:
    """The bank's page lists the live leases an agency collects, an unattested deposit above one
    month's rent first, and its form records the attestation the agency needs."""
    from anju.chain.node import Node

    from .ledger import Builder, h

    ids = build(tmp_path)
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    b.do("bank", "party.register", role="bank", commitment=h("bank"))
    b.do("authority", "authority.attest_identity", party=key("bank").public_hex, commitment=h("bank"))
    b.do("authority", "authority.license_bank", party=key("bank").public_hex, licence=h("bank-licence"))
    today = ids["today"]
    mandate = b.do(
        "landlord",
        "mandate.grant",
        unit=ids["unit1"],
        agency=key("agency_a").public_hex,
        exclusive=False,
        to=add_days(today, 400),
        may_sign=True,
        min_rent=500_000,
        **{"from": today},
    )
    lease = b.do(
        "agency_a",
        "lease.sign",
        ("tenant",),
        unit=ids["unit1"],
        landlord=key("landlord").public_hex,
        tenant=key("tenant").public_hex,
        mandate=mandate,
        start=add_days(today, 1),
        end=add_days(today, 300),
        rent=800_000,
        deposit=1_600_000,
        payment_day=5,
        notice_days=30,
        collector="agency",
        document_hash=h("agency-lease"),
    )
    node.stop()
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        resp = client.post(
            "/signin", files={"keyfile": ("bank.key", key("bank").seed.hex().encode())}, data={"password": ""}
        )
        assert resp.status_code == 303, resp.text[-500:]
        me = client.get("/me", params={"lang": "en"}).text
        queue = me[me.index('id="escrow-queue"') :]
        assert f'id="escrow-{lease}"' in queue and "deposit waiting for an attestation" in queue
        assert f'id="escrow-{ids["lease3"]}"' not in queue  # its landlord collects
        token = re.search(r'name="form_token" value="([^"]+)"', me)
        assert token
        data = {"lease": lease, "purpose": "deposit", "amount": "16000", "account_commitment": "6222 0000 1111 2222"}
        resp = client.post(
            "/act/bank.attest_escrow?lang=en", data={**data, "form_token": token.group(1), "next": "/me"}
        )
        assert resp.status_code == 303, resp.text[-800:]
        rec = client.get(f"/api/v1/leases/{lease}").json()["value"]
        assert rec["escrow"]["deposit"] == 1_600_000
        me = client.get("/me", params={"lang": "en"}).text
        assert "Keep this salt with your records" in me  # the account number's commitment salt
        assert "deposit waiting for an attestation" not in me[me.index('id="escrow-queue"') :]


def test_the_lease_page_names_the_unpaid_months(tmp_path: Path) -> None:
    from anju.chain.node import Node
    from anju.registry.dates import month_of
    from anju.registry.status import overdue_months

    from .ledger import Builder, h

    ids = build(tmp_path)
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    today = ids["today"]
    terms = {"rent": 800_000, "deposit": 0, "payment_day": 1, "notice_days": 30, "collector": "landlord"}
    lease = b.do(
        "landlord",
        "lease.sign",
        ("tenant",),
        unit=ids["unit1"],
        landlord=key("landlord").public_hex,
        tenant=key("tenant").public_hex,
        start=add_days(today, -29),  # a lease put on the ledger late (at most 30 days: edition 3)
        end=add_days(today, 200),
        document_hash=h("old-lease"),
        **terms,
    )
    node.stop()
    due = overdue_months({"start": add_days(today, -29), "ends_on": add_days(today, 200), "payment_day": 1}, today)
    assert due and due[0] == month_of(add_days(today, -29)) and due[-1] == month_of(today)
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        sign_in(client, "tenant")
        page = client.get(f"/lease/{lease}", params={"lang": "en"}).text
        assert f"{len(due)} months overdue" in page and ", ".join(due) in page
        # the first month recorded: waiting for the landlord, no longer listed as unpaid (rules edition 6)
        form = {"lease": lease, "period": due[0], "months": "1", "amount": "8000", "form_token": form_token(client)}
        assert client.post("/act/rent.pay", data=form).status_code == 303
        page = client.get(f"/lease/{lease}", params={"lang": "en"}).text
        assert "1 months waiting for the receiver" in page
        unpaid = page.split('id="overdue">')[1].split("</dd>")[0] if len(due) > 1 else ""
        assert due[0] not in unpaid and (len(due) == 1 or f"{len(due) - 1} months overdue" in unpaid)
        client.cookies.clear()
        sign_in(client, "tenant2")
        other = client.get(f"/lease/{ids['lease3']}", params={"lang": "en"}).text
        assert 'id="overdue"' not in other  # it starts in ten days


def test_a_visitor_registers_downloads_the_keystore_and_signs_in_with_it(tmp_path: Path) -> None:
    build(tmp_path)
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        page = client.get("/register", params={"lang": "zh"}).text
        assert "注册为参与方" in page and 'name="password2"' in page
        good = {"role": "tenant", "identity": "赵六 310101199001011234", "password": "correct horse", "password2": ""}
        for bad, field, sentence in (
            ({"password": "short", "password2": "short"}, "password", "at least 10 characters"),
            ({"password2": "correct horsf"}, "password2", "The two passwords differ."),
            ({"identity": "", "password2": "correct horse"}, "identity", "This field is required."),
            ({"role": "agency", "password2": "correct horse"}, "name", "business name"),
            ({"role": "authority", "password2": "correct horse"}, "role", ""),
        ):
            resp = client.post("/register?lang=en", data={**good, **bad})
            assert resp.status_code == 422 and f'id="reg-{field}-err"' in resp.text and sentence in resp.text, bad
            assert "correct horse" not in resp.text  # passwords are never written back
        assert client.post("/register", data=good, headers={"Origin": "http://evil.test"}).status_code == 403
        resp = client.post("/register?lang=en", data={**good, "password2": "correct horse"})
        assert resp.status_code == 303 and resp.headers["location"] == "/me"
        me = client.get("/me", params={"lang": "en"}).text
        assert "Download my keystore" in me and "Keep this salt with your records" in me
        party = re.search(r'<code class="key">([0-9a-f]{64})</code>', me)
        assert party
        got = client.get("/me/keystore")
        assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
        key = keystore.decrypt(orjson.loads(got.content), "correct horse")
        assert key.public_hex == party.group(1)
        record = client.get(f"/api/v1/parties/{party.group(1)}").json()["value"]
        assert record["role"] == "tenant" and "赵六" not in str(record)  # only the salted commitment
        client.cookies.clear()
        assert client.get("/me/keystore").status_code == 404  # only its own session downloads it
        resp = client.post("/signin", files={"keyfile": ("k.json", got.content)}, data={"password": "correct horse"})
        assert resp.status_code == 303
        assert party.group(1) in client.get("/me").text


def _register(client: httpx.Client, role: str, name: str = "") -> str:
    data = {"role": role, "name": name, "identity": f"{role} person", "password": "a long password"}
    resp = client.post("/register?lang=en", data={**data, "password2": data["password"]})
    assert resp.status_code == 303, resp.text[-600:]
    m = re.search(r'<code class="key">([0-9a-f]{64})</code>', client.get("/me").text)
    assert m
    client.cookies.clear()
    return m.group(1)


def test_a_visitor_can_report_a_listing_after_signing_in_or_registering(tmp_path: Path) -> None:
    """A signed-out visitor is shown how to report a listing: sign in or register, and come back to
    the listing (never to another site), where the report form is."""
    ids = build(tmp_path)
    listing = f"/listing/{ids['listing']}"
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        page = client.get(listing, params={"lang": "en"}).text
        assert 'id="report-signed-out"' in page and f'href="/register?next={listing}"' in page
        assert f'value="{listing}"' in client.get("/signin", params={"next": listing}).text
        data = {"party": key("tenant").public_hex, "next": listing}
        resp = client.post("/signin/demo", data=data)
        assert resp.status_code == 303 and resp.headers["location"] == listing
        assert "Report this listing as fake" in client.get(listing, params={"lang": "en"}).text
        assert 'id="report-signed-out"' not in client.get(listing).text
        client.cookies.clear()
        resp = client.post("/signin/demo", data={**data, "next": "//evil.example/x"})
        assert resp.status_code == 303 and resp.headers["location"] == "/me"
        client.cookies.clear()
        assert f'value="{listing}"' in client.get("/register", params={"next": listing}).text
        reg = {"role": "tenant", "name": "", "identity": "visitor", "password": "a long password"}
        resp = client.post("/register", data={**reg, "password2": "a long password", "next": listing})
        assert resp.status_code == 303 and resp.headers["location"] == listing
        page = client.get(listing, params={"lang": "en"}).text  # the only copy of the new key: offered here too
        assert 'id="keystore-download"' in page and 'href="/me/keystore"' in page
        resp = client.post("/register", data={**reg, "password2": "other password", "next": listing})
        assert resp.status_code == 422 and f'value="{listing}"' in resp.text  # kept through a refusal


def test_a_party_downloads_its_history_disclosing_who_it_is(tmp_path: Path) -> None:
    """My page gives the party's history bundle, with the text and salt behind its identity
    commitment when the party types them: a landlord's offline check proves the identity."""
    from anju.client import VerifiedHistory, verify_bundle

    build(tmp_path)
    identity = "韩梅梅 Han Meimei, 身份证 310101199202021234"
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        reg = {"role": "tenant", "name": "", "identity": identity, "password": "a long password"}
        assert client.post("/register", data={**reg, "password2": reg["password"]}).status_code == 303
        me = client.get("/me", params={"lang": "en"}).text
        m = re.search(r'<p class="flash" role="status">[^<]*?([0-9a-f]{32})</p>', me)  # the salt, kept by the party
        assert m and 'id="my-history"' in me
        salt, token = m.group(1), form_token(client)
        vkey = client.get("/api/v1/node").json()["verifier_key"]
        plain = client.post("/me/history", data={"form_token": token})
        assert plain.status_code == 200 and "attachment" in plain.headers["content-disposition"]
        result = verify_bundle(plain.json(), vkey)
        assert isinstance(result, VerifiedHistory) and result.identity is None
        shown = client.post("/me/history", data={"form_token": token, "identity": identity, "salt": salt})
        assert shown.status_code == 200 and "disclosed" in shown.headers["content-disposition"]
        result = verify_bundle(shown.json(), vkey)
        assert isinstance(result, VerifiedHistory) and result.identity == identity
        wrong = client.post("/me/history", data={"form_token": token, "identity": identity + "!", "salt": salt})
        assert wrong.status_code == 303 and wrong.headers["location"] == "/me"
        assert "do not open your identity commitment" in client.get("/me", params={"lang": "en"}).text
        assert client.post("/me/history", data={"form_token": "forged"}).status_code == 403
        client.cookies.clear()
        assert client.post("/me/history", data={"form_token": token}).status_code == 403


def test_authority_licenses_a_bank_and_suspends_and_agency_appoints_an_agent(tmp_path: Path) -> None:
    build(tmp_path)
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        bank = _register(client, "bank", "浦发银行 SPD Bank")
        agent = _register(client, "agent")
        token = sign_in(client, "authority")
        me = client.get("/me", params={"lang": "en"}).text
        assert f'value="{bank}"' in me and "License bank" in me
        for who in (bank, agent):  # as the queue's attest button sends it
            commitment = client.get(f"/api/v1/parties/{who}").json()["value"]["commitment"]
            data = {"party": who, "commitment": commitment, "form_token": token}
            assert client.post("/act/authority.attest_identity", data=data).status_code == 303
        licence = {"party": bank, "licence": "SPD-2026-001", "form_token": token}
        assert client.post("/act/authority.license_bank", data=licence).status_code == 303
        assert client.get(f"/api/v1/parties/{bank}").json()["value"]["licensed"] is True
        page = client.get(f"/party/{agent}", params={"lang": "en"}).text
        assert 'id="authority-actions"' in page and "Suspend this party" in page
        why = {"party": agent, "reason_hash": "decision 12", "form_token": token}
        assert client.post("/act/authority.suspend", data=why).status_code == 303
        assert "Reinstate this party" in client.get(f"/party/{agent}", params={"lang": "en"}).text
        assert client.post("/act/authority.reinstate", data=why).status_code == 303
        assert client.get(f"/api/v1/parties/{agent}").json()["value"]["status"] == "active"
        client.cookies.clear()
        assert 'id="authority-actions"' not in client.get(f"/party/{agent}").text  # the public sees no actions
        token = sign_in(client, "agency_a")
        assert "No agents yet." in client.get("/me", params={"lang": "en"}).text
        resp = client.post("/act/agency.appoint_agent", data={"agent": agent, "form_token": token})
        assert resp.status_code == 303, resp.text[-600:]
        me = client.get("/me", params={"lang": "en"}).text
        assert f'id="agent-{agent[:16]}"' in me
        assert client.post("/act/agency.dismiss_agent", data={"agent": agent, "form_token": token}).status_code == 303
        assert f'id="agent-{agent[:16]}"' not in client.get("/me").text
        # the authority revokes the agency's licence (rules edition 6): it appoints nobody until licensed again
        agency = key("agency_a").public_hex
        client.cookies.clear()
        token = sign_in(client, "authority")
        assert "Revoke this licence" in client.get(f"/party/{agency}", params={"lang": "en"}).text
        why = {"party": agency, "reason_hash": "decision 13", "form_token": token}
        assert client.post("/act/authority.revoke_licence", data=why).status_code == 303
        assert client.get(f"/api/v1/parties/{agency}").json()["value"]["licensed"] is False
        page = client.get(f"/party/{agency}", params={"lang": "en"}).text
        assert 'id="licence">Licence revoked' in page and "/act/authority.revoke_licence" not in page
        assert f'value="{agency}"' in client.get("/me", params={"lang": "en"}).text  # back in the licensing queue
        client.cookies.clear()
        token = sign_in(client, "agency_a")
        resp = client.post("/act/agency.appoint_agent?lang=en", data={"agent": agent, "form_token": token})
        assert resp.status_code == 422


def _offers(client: httpx.Client) -> list[str]:
    return re.findall(r'<li id="offer-([0-9a-f]{16})">', client.get("/me", params={"lang": "en"}).text)


def test_a_renewal_and_a_mutual_end_are_offered_and_countersigned(tmp_path: Path) -> None:
    """The landlord side proposes, the tenant countersigns. An offer the tenant's own later
    transaction made stale goes back to the landlord side, who signs it again in one click."""
    from anju.chain.node import Node

    from .ledger import Builder, h

    ids = build(tmp_path)
    today, lease3 = ids["today"], ids["lease3"]
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    lease1 = b.do(
        "landlord", "lease.sign", ("tenant",), unit=ids["unit1"], landlord=key("landlord").public_hex,
        tenant=key("tenant").public_hex, start=today, end=add_days(today, 300), rent=800_000, deposit=0,
        payment_day=5, notice_days=30, collector="landlord", document_hash=h("lease-u1"),
    )  # fmt: skip
    node.stop()
    with (
        devserver(tmp_path) as base,
        httpx.Client(base_url=base, timeout=60) as landlord,
        httpx.Client(base_url=base, timeout=60) as tenant,
    ):
        at = sign_in(landlord, "agency_a")  # not lease 3's landlord side: may not put offers to its tenant
        stranger = {"lease": lease3, "on": add_days(today, 60), "reason_hash": "x", "form_token": at}
        assert landlord.post("/act/lease.propose_end?lang=en", data=stranger).status_code == 422
        landlord.cookies.clear()
        lt = sign_in(landlord, "landlord")
        page = landlord.get(f"/lease/{lease3}", params={"lang": "en"}).text
        assert "Propose a renewal to the tenant" in page and "Propose ending the lease by mutual agreement" in page
        terms = {"end": add_days(today, 740), "rent": "9000", "deposit": "9000", "payment_day": "5",
                 "notice_days": "30", "collector": "landlord", "document_hash": "renewal contract"}  # fmt: skip
        resp = landlord.post("/act/lease.propose_renewal", data={"lease": lease3, **terms, "form_token": lt})
        assert resp.status_code == 303, resp.text[-600:]
        tt = sign_in(tenant, "tenant2")
        [stale] = _offers(tenant)
        assert "A renewal of your lease" in tenant.get(f"/offer/{stale}", params={"lang": "en"}).text
        lodge = {"lease": lease3, "amount": "9000", "form_token": tt}
        assert tenant.post("/act/deposit.lodge", data=lodge).status_code == 303  # the tenant's seq moves on
        resp = tenant.post("/act/offer.accept?lang=en", data={"offer": stale, "form_token": tt})
        assert resp.status_code == 422 and "Ask the landlord side to issue it again" in resp.text
        me = landlord.get("/me", params={"lang": "en"}).text
        assert f'id="offer-{stale}"' in me and "sign it again" in me
        assert landlord.post("/act/offer.reissue", data={"offer": stale, "form_token": lt}).status_code == 303
        [fresh] = [o for o in _offers(tenant) if o != stale]
        resp = tenant.post("/act/offer.accept", data={"offer": fresh, "form_token": tt})
        assert resp.status_code == 303, resp.text[-600:]
        renewed = landlord.get(f"/api/v1/leases/{lease3}").json()["value"]["renewed_by"]
        assert renewed and landlord.get(f"/api/v1/leases/{renewed}").json()["value"]["previous"] == lease3
        assert stale not in _offers(landlord)  # replaced
        # a mutual end of the tenant Li's lease
        end = {"lease": lease1, "on": add_days(today, 60), "reason_hash": "we agree", "form_token": lt}
        assert landlord.post("/act/lease.propose_end", data=end).status_code == 303
        tenant.cookies.clear()
        tt = sign_in(tenant, "tenant")
        [offer] = _offers(tenant)
        assert "Ending your lease by mutual agreement" in tenant.get(f"/offer/{offer}", params={"lang": "en"}).text
        assert tenant.post("/act/offer.accept", data={"offer": offer, "form_token": tt}).status_code == 303
        ended = landlord.get(f"/api/v1/leases/{lease1}").json()["value"]
        assert ended["ends_on"] == add_days(today, 60) and ended["termination"]["mode"] == "mutual"


def test_a_lease_contract_goes_on_the_ledger_salted_and_its_parties_read_the_salt(tmp_path: Path) -> None:
    """A plain SHA-256 of the contract would let anyone holding a copy (it names both sides) find
    their keys on the public ledger: the portal commits to it with a fresh salt, says the salt to
    the offering side at once, and shows it on the offer's page to its parties only, also once the
    offer is signed again (a reissue keeps the body, and so the salt), and on the signed lease's
    page to its sides (the authority sees the commitment only)."""
    import hashlib

    ids = build(tmp_path)
    today, lease3 = ids["today"], ids["lease3"]
    contract = "房屋租赁合同\r\n甲方与乙方约定续租一年。\r\n月租金9000元。\r\n"  # as a browser sends a text area
    saved = (
        "房屋租赁合同\n甲方与乙方约定续租一年。\n月租金9000元。"  # as a copy reads once saved (anju keys commit --file)
    )
    with (
        devserver(tmp_path) as base,
        httpx.Client(base_url=base, timeout=60) as landlord,
        httpx.Client(base_url=base, timeout=60) as tenant,
        httpx.Client(base_url=base, timeout=60) as stranger,
        httpx.Client(base_url=base, timeout=60) as authority,
    ):
        lt = sign_in(landlord, "landlord")
        terms = {"end": add_days(today, 740), "rent": "9000", "deposit": "9000", "payment_day": "5",
                 "notice_days": "30", "collector": "landlord", "document_hash": contract}  # fmt: skip
        resp = landlord.post("/act/lease.propose_renewal?lang=en", data={"lease": lease3, **terms, "form_token": lt})
        assert resp.status_code == 303, resp.text[-600:]
        flash = landlord.get("/me", params={"lang": "en"}).text
        said = re.search(r"Keep this salt with your records \(the contract\): ([0-9a-f]{32})", flash)
        assert said is not None, re.findall(r"<p class=\"flash\"[^>]*>[^<]*", flash)
        tt = sign_in(tenant, "tenant2")
        [offer] = _offers(tenant)
        page = tenant.get(f"/offer/{offer}", params={"lang": "en"}).text
        commitment = re.search(r'id="contract-commitment">([0-9a-f]{64})<', page)
        salt = re.search(r'id="contract-salt">([0-9a-f]{32})<', page)
        assert commitment is not None and salt is not None and salt.group(1) == said.group(1)
        assert commitment.group(1) == hashlib.sha256(bytes.fromhex(salt.group(1)) + saved.encode()).hexdigest()
        assert commitment.group(1) not in {hashlib.sha256(t.encode()).hexdigest() for t in (contract, saved)}
        assert salt.group(1) in landlord.get(f"/offer/{offer}").text  # the offering side reads it too
        sign_in(stranger, "tenant")
        assert stranger.get(f"/offer/{offer}").status_code == 403  # nobody else
        resp = tenant.post("/act/offer.accept", data={"offer": offer, "form_token": tt})
        assert resp.status_code == 303, resp.text[-600:]
        renewed = tenant.get(f"/api/v1/leases/{lease3}").json()["value"]["renewed_by"]
        on_ledger = tenant.get(f"/api/v1/leases/{renewed}").json()["value"]["document_hash"]
        assert on_ledger == commitment.group(1)
        assert salt.group(1) in tenant.get(f"/offer/{offer}").text  # still there to read once signed
        lease_page = tenant.get(f"/lease/{renewed}", params={"lang": "en"}).text  # and on the lease's page
        assert re.search(rf'id="contract-commitment">{commitment.group(1)}<', lease_page)
        assert re.search(rf'id="contract-salt">{salt.group(1)}<', lease_page)
        assert f'id="contract-salt">{salt.group(1)}<' in landlord.get(f"/lease/{renewed}").text
        sign_in(authority, "authority")
        seen = authority.get(f"/lease/{renewed}").text  # the authority sees the lease, not the salt
        assert commitment.group(1) in seen and salt.group(1) not in seen
        assert stranger.get(f"/lease/{renewed}").status_code == 403


def test_an_agency_puts_offers_to_a_tenant_only_while_its_mandate_lets_it_sign(tmp_path: Path) -> None:
    """The ledger accepts an agency as the landlord side of a renewal or a mutual end only while the
    lease's mandate lets it sign and is in force (edition 3): the portal says so before anyone signs."""
    from anju.chain.node import Node

    from .ledger import Builder, h

    ids = build(tmp_path)
    today = ids["today"]
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    leases = {}
    for agency, unit, may_sign in (("agency_a", "unit1", False), ("agency_b", "unit2", True)):
        mandate = b.do(
            "landlord", "mandate.grant", unit=ids[unit], agency=key(agency).public_hex, exclusive=False,
            to=add_days(today, 365), may_sign=may_sign, min_rent=500_000, **{"from": today},
        )  # fmt: skip
        leases[agency] = b.do(  # the agency co-signs the lease made through it (edition 5)
            "landlord", "lease.sign", ("tenant", agency), unit=ids[unit], landlord=key("landlord").public_hex,
            tenant=key("tenant").public_hex, mandate=mandate, start=add_days(today, 1), end=add_days(today, 300),
            rent=800_000, deposit=0, payment_day=5, notice_days=30, collector="landlord", document_hash=h(unit),
        )  # fmt: skip
    node.stop()
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        token = sign_in(client, "agency_a")
        end = {"lease": leases["agency_a"], "on": add_days(today, 60), "reason_hash": "x", "form_token": token}
        resp = client.post("/act/lease.propose_end?lang=en", data=end)
        assert resp.status_code == 422 and "does not allow the agency to sign" in resp.text
        client.cookies.clear()
        token = sign_in(client, "agency_b")
        end = {"lease": leases["agency_b"], "on": add_days(today, 60), "reason_hash": "x", "form_token": token}
        assert client.post("/act/lease.propose_end", data=end).status_code == 303


def _listing_choices(page: str) -> set[str]:
    """The listings the lease offer form lets one pick (the form's listing select, if any)."""
    found = re.search(r'<select name="listing"[^>]*>(.*?)</select>', page, re.S)
    return set(re.findall(r'<option value="([0-9a-f]{16})"', found.group(1))) if found else set()


def test_a_lease_offer_names_only_a_live_listing_of_its_landlord_side(tmp_path: Path) -> None:
    """A lease may name only a live listing published by its owner or by the agency it is made
    through (edition 4): the offer form lists only those, and the portal says so before anyone signs
    when the listing named is another's, withdrawn or of another unit; one that fits is let."""
    from anju.chain.node import Node

    from .ledger import Builder

    ids = build(tmp_path)
    today = ids["today"]
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    advert = {"rent": 950_000, "deposit": 950_000, "available_from": today, "min_term_months": 12}
    advert.update(description="两居室", photos=[])
    withdrawn = b.do("landlord", "listing.publish", unit=ids["unit1"], **advert)
    b.do("landlord", "listing.withdraw", listing=withdrawn)
    mandate = b.do(
        "landlord", "mandate.grant", unit=ids["unit2"], agency=key("agency_b").public_hex, exclusive=False,
        to=add_days(today, 365), may_sign=True, min_rent=500_000, **{"from": today},
    )  # fmt: skip
    agencys = b.do("agency_b", "listing.publish", unit=ids["unit2"], mandate=mandate, **advert)
    node.stop()
    owners = ids["listing"]  # the landlord's own live listing of unit 2 (tests/web/ledger.py)
    terms = {"unit": ids["unit2"], "tenant": key("tenant2").public_hex, "start": add_days(today, 1),
             "end": add_days(today, 365), "rent": "9500", "deposit": "0", "payment_day": "5", "notice_days": "30",
             "collector": "landlord", "document_hash": "x"}  # fmt: skip
    with (
        devserver(tmp_path) as base,
        httpx.Client(base_url=base, timeout=60) as landlord,
        httpx.Client(base_url=base, timeout=60) as tenant,
    ):
        sign_in(landlord, "agency_b")
        assert _listing_choices(landlord.get("/me").text) == {agencys}
        landlord.cookies.clear()
        lt = sign_in(landlord, "landlord")
        assert _listing_choices(landlord.get("/me").text) == {owners}  # not the agency's, nor a withdrawn one
        resp = landlord.post("/act/lease.offer?lang=en", data={**terms, "listing": agencys, "form_token": lt})
        assert resp.status_code == 422 and "This value is not valid here." in resp.text  # no mandate: not its side
        withdrawn_terms = {**terms, "unit": ids["unit1"], "listing": withdrawn, "form_token": lt}
        resp = landlord.post("/act/lease.offer?lang=en", data=withdrawn_terms)
        assert resp.status_code == 422 and "The listing is withdrawn, revoked or expired." in resp.text
        resp = landlord.post("/act/lease.offer?lang=en", data={**terms, "listing": withdrawn, "form_token": lt})
        assert resp.status_code == 422 and "This value is not valid here." in resp.text  # another unit's
        through = {**terms, "listing": owners, "mandate": mandate, "form_token": lt}
        resp = landlord.post("/act/lease.offer?lang=en", data=through)  # the agency's lease: its to offer
        assert resp.status_code == 422 and "is offered by that agency" in resp.text
        assert _offers(landlord) == []
        assert landlord.post("/act/lease.offer", data={**terms, "listing": owners, "form_token": lt}).status_code == 303
        [offer] = _offers(landlord)
        with httpx.Client(base_url=base, timeout=60) as agency:  # the agency offers the next year from its own
            at = sign_in(agency, "agency_b")
            later = {**terms, "start": add_days(today, 400), "end": add_days(today, 700), "mandate": mandate}
            resp = agency.post("/act/lease.offer", data={**later, "listing": agencys, "form_token": at})
            assert resp.status_code == 303
            [second] = [o for o in _offers(agency) if o != offer]
            tt = sign_in(tenant, "tenant2")
            assert tenant.post("/act/offer.accept", data={"offer": offer, "form_token": tt}).status_code == 303
            for lid in (owners, agencys):  # the lease revokes the unit's live listings
                listing = landlord.get(f"/api/v1/listings/{lid}").json()["value"]
                assert (listing["status"], listing["status_reason"]) == ("revoked", "leased")
            resp = tenant.post("/act/offer.accept", data={"offer": second, "form_token": tt})
            assert resp.status_code == 422  # stale: the tenant signed the other meanwhile
            resp = agency.post("/act/offer.reissue?lang=en", data={"offer": second, "form_token": at})
            assert resp.status_code == 422 and "The listing is withdrawn, revoked or expired." in resp.text


def test_a_sublease_is_offered_consented_to_by_the_owner_and_countersigned(tmp_path: Path) -> None:
    """转租 in the portal: the tenant of a running lease offers a sublease, the owner consents (or
    refuses), the subtenant countersigns; the ledger records it under its parent with all three
    signatures. Nobody else can move an offer on, and it cannot skip the owner."""
    from anju.chain.node import Node

    from .ledger import Builder, h

    ids = build(tmp_path)
    today, lease3 = ids["today"], ids["lease3"]
    node = Node(tmp_path, verify_workers=0)
    lease1 = Builder(node).do(
        "landlord", "lease.sign", ("tenant",), unit=ids["unit1"], landlord=key("landlord").public_hex,
        tenant=key("tenant").public_hex, start=today, end=add_days(today, 300), rent=800_000, deposit=0,
        payment_day=5, notice_days=30, collector="landlord", document_hash=h("lease-u1"),
    )  # fmt: skip
    node.stop()
    li, zhang, wang = (key(n).public_hex for n in ("tenant", "tenant2", "landlord"))
    terms = {"lease": lease1, "tenant": zhang, "start": add_days(today, 10), "end": add_days(today, 100),
             "rent": "5000", "deposit": "5000", "payment_day": "8", "notice_days": "30",
             "document_hash": "sublease contract"}  # fmt: skip
    with (
        devserver(tmp_path) as base,
        httpx.Client(base_url=base, timeout=60) as sub,
        httpx.Client(base_url=base, timeout=60) as owner,
        httpx.Client(base_url=base, timeout=60) as subtenant,
    ):
        zt = sign_in(subtenant, "tenant2")  # tenant of lease 3, not of lease 1: may not sublet it
        resp = subtenant.post("/act/lease.offer_sublease?lang=en", data={**terms, "tenant": li, "form_token": zt})
        assert resp.status_code == 422 and "addressed to" in resp.text
        lt = sign_in(sub, "tenant")
        page = sub.get(f"/lease/{lease1}", params={"lang": "en"}).text
        assert "Offer a sublease of this home" in page
        outside = {**terms, "end": add_days(today, 301), "form_token": lt}
        resp = sub.post("/act/lease.offer_sublease?lang=en", data=outside)
        assert resp.status_code == 422 and "within the dates of its parent lease" in resp.text
        resp = sub.post("/act/lease.offer_sublease?lang=en", data={**terms, "tenant": wang, "form_token": lt})
        assert resp.status_code == 422  # the owner cannot be the subtenant
        agency = key("agency_a").public_hex  # not a tenant at all: told before anyone signs
        resp = sub.post("/act/lease.offer_sublease?lang=en", data={**terms, "tenant": agency, "form_token": lt})
        assert resp.status_code == 422 and "not a registered tenant" in resp.text
        assert sub.post("/act/lease.offer_sublease", data={**terms, "form_token": lt}).status_code == 303
        assert "sent to the owner for consent" in sub.get("/me", params={"lang": "en"}).text
        [offer] = _offers(subtenant)
        assert "waiting for the owner&#39;s consent" in subtenant.get("/me", params={"lang": "en"}).text
        resp = subtenant.post("/act/offer.accept?lang=en", data={"offer": offer, "form_token": zt})
        assert resp.status_code == 422 and "still waits for the owner" in resp.text  # not before the consent
        with httpx.Client(base_url=base, timeout=60) as other:  # another landlord may not consent for Wang
            reg = {"role": "landlord", "name": "", "identity": "another owner", "password": "a long password"}
            assert other.post("/register", data={**reg, "password2": reg["password"]}).status_code == 303
            resp = other.post("/act/offer.consent?lang=en", data={"offer": offer, "form_token": form_token(other)})
            assert resp.status_code == 422 and "addressed to" in resp.text
            lease_terms = {"unit": ids["unit1"], "tenant": zhang, "start": add_days(today, 400),
                           "end": add_days(today, 500), "rent": "5000", "deposit": "0", "payment_day": "5",
                           "notice_days": "30", "collector": "landlord", "document_hash": "x"}  # fmt: skip
            resp = other.post("/act/lease.offer?lang=en", data={**lease_terms, "form_token": form_token(other)})
            assert resp.status_code == 422 and "Only the unit&#39;s owner" in resp.text  # not Wang's to let
            other.cookies.clear()
            bt = sign_in(other, "agency_b")  # an agency with no mandate for unit 1
            resp = other.post("/act/lease.offer?lang=en", data={**lease_terms, "form_token": bt})
            assert resp.status_code == 422 and "holds no mandate for this unit" in resp.text
        resp = sub.post("/act/offer.consent?lang=en", data={"offer": offer, "form_token": lt})
        assert resp.status_code == 422 and "addressed to" in resp.text  # a tenant may consent, not this one
        ot = sign_in(owner, "landlord")
        me = owner.get("/me", params={"lang": "en"}).text
        assert f'id="offer-{offer}"' in me and "waiting for your consent" in me
        page = owner.get(f"/offer/{offer}", params={"lang": "en"}).text
        assert "A sublease" in page and "/act/offer.refuse" in page and f"/lease/{lease1}" in page
        assert f'href="/party/{zhang}"' in page.split('id="offer-tenant"')[1].split("</dd>")[0]  # who would live there
        assert "签署同意" in owner.get(f"/offer/{offer}", params={"lang": "zh"}).text
        assert owner.post("/act/offer.consent", data={"offer": offer, "form_token": ot}).status_code == 303
        resp = owner.post("/act/offer.consent?lang=en", data={"offer": offer, "form_token": ot})
        assert resp.status_code == 422  # only once
        assert "Countersign lease" in subtenant.get(f"/offer/{offer}", params={"lang": "en"}).text
        assert f'id="consent">✔ <a href="/party/{wang}"' in subtenant.get(f"/offer/{offer}").text
        resp = subtenant.post("/act/offer.accept?lang=en", data={"offer": offer, "form_token": zt})
        assert resp.status_code == 303, resp.text[-600:]
        assert "Sublease signed by you, the sub-landlord and the owner" in subtenant.get("/me?lang=en").text
        [sid] = owner.get(f"/api/v1/leases/{lease1}").json()["value"]["subleases"]
        sublease = owner.get(f"/api/v1/leases/{sid}").json()["value"]
        assert (sublease["parent"], sublease["landlord"], sublease["tenant"]) == (lease1, li, zhang)
        assert sublease["signers"] == sorted([li, zhang, wang]) and sublease["owner"] == wang
        assert f'href="/lease/{sid}"' in owner.get(f"/lease/{lease1}").text
        assert f'href="/lease/{lease1}"' in owner.get(f"/lease/{sid}").text
        page = subtenant.get(f"/lease/{sid}", params={"lang": "en"}).text
        assert lease1 in page and f'href="/lease/{lease1}"' not in page  # the parent is not the subtenant's
        assert "Propose a renewal" not in owner.get(f"/lease/{sid}", params={"lang": "en"}).text
        # a second sublease for other dates: the owner refuses, and the subtenant cannot sign it
        later = {**terms, "start": add_days(today, 150), "end": add_days(today, 200), "form_token": lt}
        assert sub.post("/act/lease.offer_sublease", data=later).status_code == 303
        [second] = [o for o in _offers(owner) if o != offer]
        assert owner.post("/act/offer.refuse", data={"offer": second, "form_token": ot}).status_code == 303
        assert "refused" in sub.get(f"/offer/{second}", params={"lang": "en"}).text
        me = sub.get("/me", params={"lang": "en"}).text  # the tenant who offered it is told
        assert f'id="offer-{second}"' in me and "refused by the owner" in me
        resp = subtenant.post("/act/offer.accept?lang=en", data={"offer": second, "form_token": zt})
        assert resp.status_code == 422
        assert len(owner.get(f"/api/v1/leases/{lease1}").json()["value"]["subleases"]) == 1
        # the subtenant may decline while the owner has not answered; the owner then cannot consent
        third = {**terms, "start": add_days(today, 210), "end": add_days(today, 250), "form_token": lt}
        assert sub.post("/act/lease.offer_sublease", data=third).status_code == 303
        [declined] = _offers(subtenant)
        assert subtenant.post("/act/offer.decline", data={"offer": declined, "form_token": zt}).status_code == 303
        assert "declined by the tenant" in sub.get("/me", params={"lang": "en"}).text
        consent = sub.get(f"/offer/{declined}").text.split('id="consent">')[1].split("</dd>")[0]
        assert consent == "—"  # declined before the owner answered: no consent to show
        assert f'id="offer-{declined}"' not in subtenant.get("/me").text  # gone from the decliner's own page
        resp = owner.post("/act/offer.consent?lang=en", data={"offer": declined, "form_token": ot})
        assert resp.status_code == 422 and "no longer exists" in resp.text
        # the subtenant signs something else first: consenting finds the offer dead and hands it back
        assert sub.post("/act/lease.offer_sublease", data=third).status_code == 303
        [stale] = _offers(owner)
        lodge = {"lease": sid, "amount": "5000", "form_token": zt}
        assert subtenant.post("/act/deposit.lodge", data=lodge).status_code == 303  # Zhang's seq moves on
        resp = owner.post("/act/offer.consent?lang=en", data={"offer": stale, "form_token": ot})
        assert resp.status_code == 422 and "Ask the tenant to issue it again" in resp.text
        assert "sign it again" in sub.get("/me", params={"lang": "en"}).text
        assert sub.post("/act/offer.reissue", data={"offer": stale, "form_token": lt}).status_code == 303
        [again] = _offers(owner)
        assert (
            again != stale
            and owner.post("/act/offer.consent", data={"offer": again, "form_token": ot}).status_code == 303
        )
        assert subtenant.post("/act/offer.accept", data={"offer": again, "form_token": zt}).status_code == 303
        assert len(owner.get(f"/api/v1/leases/{lease1}").json()["value"]["subleases"]) == 2
        overlap = {**terms, "start": add_days(today, 50), "end": add_days(today, 60), "form_token": lt}
        resp = sub.post("/act/lease.offer_sublease?lang=en", data=overlap)  # inside the first sublease
        assert resp.status_code == 422 and 'class="field invalid"' in resp.text
        # the sub-landlord renews the first sublease (the owner consents again), then ends it by agreement
        page = sub.get(f"/lease/{sid}", params={"lang": "en"}).text
        assert "Propose a renewal to the tenant" in page and "Propose ending the lease" in page
        renewal = {"lease": sid, "end": add_days(today, 140), "rent": "5000", "deposit": "5000",
                   "payment_day": "8", "notice_days": "30", "collector": "landlord", "document_hash": "renewal",
                   "form_token": lt}  # fmt: skip
        late = {**renewal, "end": add_days(today, 301)}  # past the parent lease's last day
        resp = sub.post("/act/lease.propose_renewal?lang=en", data=late)
        assert resp.status_code == 422 and "within the dates of its parent lease" in resp.text
        head = {**renewal, "lease": lease1}  # Li is the tenant of lease 1, not its landlord side
        resp = sub.post("/act/lease.propose_renewal?lang=en", data=head)
        assert resp.status_code == 422 and "addressed to" in resp.text
        resp = subtenant.post("/act/lease.propose_end?lang=en", data={**end_terms(sid, today), "form_token": zt})
        assert resp.status_code == 422 and "addressed to" in resp.text  # the subtenant is not its landlord
        assert sub.post("/act/lease.propose_renewal", data=renewal).status_code == 303
        [renew] = _offers(owner)
        page = owner.get(f"/offer/{renew}", params={"lang": "en"}).text
        assert "A renewal of a sublease" in page and f'href="/party/{zhang}"' in page.split('id="offer-tenant"')[1]
        assert lease1 in page.split('id="offer-parent"')[1].split("</dd>")[0]
        resp = subtenant.post("/act/offer.accept?lang=en", data={"offer": renew, "form_token": zt})
        assert resp.status_code == 422 and "still waits for the owner" in resp.text
        assert owner.post("/act/offer.consent", data={"offer": renew, "form_token": ot}).status_code == 303
        assert subtenant.post("/act/offer.accept", data={"offer": renew, "form_token": zt}).status_code == 303
        assert "Sublease signed by you" in subtenant.get("/me?lang=en").text
        renewed = owner.get(f"/api/v1/leases/{sid}").json()["value"]["renewed_by"]
        second_term = owner.get(f"/api/v1/leases/{renewed}").json()["value"]
        assert (second_term["parent"], second_term["start"]) == (lease1, add_days(today, 101))
        assert (
            sub.post("/act/lease.propose_end", data={**end_terms(renewed, today), "form_token": lt}).status_code == 303
        )
        [ending] = _offers(subtenant)
        assert subtenant.post("/act/offer.accept", data={"offer": ending, "form_token": zt}).status_code == 303
        assert owner.get(f"/api/v1/leases/{renewed}").json()["value"]["ends_on"] == add_days(today, 120)
        assert owner.get(f"/api/v1/leases/{lease3}").json()["value"]["subleases"] == []  # another unit's lease


def end_terms(lease: str, today: str) -> dict[str, str]:
    return {"lease": lease, "on": add_days(today, 120), "reason_hash": "we agree"}


@contextlib.contextmanager
def _signed_in(base: str, *names: str) -> Iterator[list[tuple[httpx.Client, str]]]:
    """A portal client signed in as each of ``names`` (demo parties), with its form token."""
    with contextlib.ExitStack() as stack:
        sides = []
        for name in names:
            client = stack.enter_context(httpx.Client(base_url=base, timeout=60))
            sides.append((client, sign_in(client, name)))
        yield sides


def _act(client: httpx.Client, token: str, name: str, oid: str) -> httpx.Response:
    """``client`` answers offer ``oid`` with the portal action ``name`` (consent, accept, agree_end...)."""
    return client.post(f"/act/{name}?lang=en", data={"offer": oid, "form_token": token})


def _propose_end(owner: httpx.Client, token: str, tenant: httpx.Client, lease: str, on: str) -> str:
    """The landlord side (``owner``) proposes ending ``lease`` by agreement on ``on``; the new offer's id."""
    before = set(_offers(tenant))  # (the owner's page keeps its flash)
    end = {"lease": lease, "on": on, "reason_hash": "we agree", "form_token": token}
    assert owner.post("/act/lease.propose_end?lang=en", data=end).status_code == 303
    [new] = set(_offers(tenant)) - before
    return new


def _signers_of_end(client: httpx.Client, lid: str) -> list[str]:
    """Who signed the termination that ended lease ``lid`` (from the committed envelope)."""
    envelope = client.get(f"/api/v1/txs/{_lease(client, lid)['termination']['tx']}").json()["envelope"]
    return sorted(sig["key"] for sig in envelope["sigs"])


def test_ending_a_lease_sooner_than_its_subleases_notice_asks_the_subtenant_to_agree_first(tmp_path: Path) -> None:
    """Rules edition 7 in the portal: Wang and Li may end Li's lease by agreement sooner than the 30
    days' notice of Zhang's sublease in it only if Zhang agrees. An end giving that notice asks
    nobody; a sooner one asks Zhang first, who sees what he agrees to (the lease ended, its new last
    day, his sublease cut to that day, sooner than its notice) on My page and the offer's page, and
    may refuse (the offer ends) or agree (Li then countersigns, and the ledger ends both leases on
    that day, Zhang's signature on the termination). Li signing something else meanwhile makes it
    stale: Wang signs it again, and Zhang is asked again."""
    ids = lease_under_sublease(tmp_path)
    today, lease1, s1 = ids["today"], ids["lease1"], ids["sublease"]
    li, zhang, wang = (key(n).public_hex for n in ("tenant", "tenant2", "landlord"))
    with (
        devserver(tmp_path) as base,
        httpx.Client(base_url=base, timeout=60) as owner,  # Wang
        httpx.Client(base_url=base, timeout=60) as tenant,  # Li
        httpx.Client(base_url=base, timeout=60) as subtenant,  # Zhang
    ):
        ot, tt, zt = sign_in(owner, "landlord"), sign_in(tenant, "tenant"), sign_in(subtenant, "tenant2")

        # an end that gives the sublease its notice asks nobody: Li may countersign at once
        enough = _propose_end(owner, ot, tenant, lease1, add_days(today, 30))
        assert _offers(subtenant) == [] and subtenant.get(f"/offer/{enough}").status_code == 403
        assert "Countersign lease" in tenant.get(f"/offer/{enough}", params={"lang": "en"}).text
        assert _act(owner, ot, "offer.withdraw", enough).status_code == 303
        # a sooner one asks Zhang first
        first = _propose_end(owner, ot, tenant, lease1, add_days(today, 29))
        assert "each subtenant so cut short is asked to agree first" in owner.get("/me", params={"lang": "en"}).text
        resp = _act(tenant, tt, "offer.accept", first)
        assert resp.status_code == 422 and "still waits for the agreement of a subtenant" in resp.text
        assert "waiting for a subtenant&#39;s agreement" in tenant.get("/me", params={"lang": "en"}).text
        me = subtenant.get("/me", params={"lang": "en"}).text
        assert f'id="offer-{first}"' in me and "waiting for your agreement to leave sooner than your notice" in me
        cuts = me.split(f'id="cuts-{first}"')[1].split("</ul>")[0]
        assert f"Lease {lease1}, above your sublease, would end on {add_days(today, 29)}." in cuts
        assert (
            f"Sublease {s1} would end on {add_days(today, 29)} instead of {add_days(today, 250)}, "
            "sooner than its 30 days&#39; notice." in cuts
        )
        page = subtenant.get(f"/offer/{first}", params={"lang": "en"}).text
        assert "you agree to leave your home sooner than your notice" in page
        assert "owner&#39;s consent" not in page.lower() and "Sign consent" not in page  # not an owner's consent
        assert lease1 in page.split('id="offer-lease">')[1].split("</dd>")[0]
        assert add_days(today, 29) in page.split("New last day")[1].split("</dd>")[0]
        row = page.split(f'id="agreement-{zhang[:16]}">')[1].split("</dd>")[0]
        assert "waiting for their agreement" in row and f"Sublease {s1} would end on {add_days(today, 29)}" in row
        assert "Subtenant&#39;s agreement to leave sooner than their notice" in page
        assert "Agree to leave sooner" in page and "/act/offer.refuse_end" in page
        zh = subtenant.get(f"/offer/{first}", params={"lang": "zh"}).text
        assert "同意提前搬离" in zh and "签署同意" not in zh
        resp = _act(subtenant, zt, "offer.consent", first)  # an owner's consent is not how a subtenant agrees
        assert resp.status_code == 422
        resp = _act(tenant, tt, "offer.agree_end", first)  # nor may anyone else agree for Zhang
        assert resp.status_code == 422 and "addressed to" in resp.text
        # Zhang refuses: the offer ends, Wang is told, Li cannot sign it
        assert _act(subtenant, zt, "offer.refuse_end", first).status_code == 303
        assert "your sublease keeps it" in subtenant.get("/me", params={"lang": "en"}).text
        me = owner.get("/me", params={"lang": "en"}).text
        assert f'id="offer-{first}"' in me and "refused by a subtenant" in me
        assert _act(tenant, tt, "offer.accept", first).status_code == 422
        assert _lease(owner, lease1)["ends_on"] == add_days(today, 300)
        # again: Zhang agrees, but Li signs something else first; Wang signs it again, Zhang is asked again
        second = _propose_end(owner, ot, tenant, lease1, add_days(today, 20))
        assert _act(subtenant, zt, "offer.agree_end", second).status_code == 303
        assert "the end now waits for the tenant&#39;s signature" in subtenant.get("/me", params={"lang": "en"}).text
        dispute = {"lease": lease1, "subject": "condition", "evidence": "damp wall", "form_token": tt}
        assert tenant.post("/act/dispute.open", data=dispute).status_code == 303  # Li's seq moves on
        resp = _act(tenant, tt, "offer.accept", second)
        assert resp.status_code == 422 and "Ask the landlord side to issue it again" in resp.text
        assert _act(owner, ot, "offer.reissue", second).status_code == 303
        [third] = _offers(subtenant)
        assert third != second and _act(tenant, tt, "offer.accept", third).status_code == 422
        assert _act(subtenant, zt, "offer.agree_end", third).status_code == 303
        resp = _act(tenant, tt, "offer.accept", third)
        assert resp.status_code == 303, resp.text[-600:]
        assert _lease(owner, lease1)["ends_on"] == _lease(owner, s1)["ends_on"] == add_days(today, 20)
        assert _signers_of_end(owner, lease1) == sorted([li, zhang, wang])
        assert f'id="agreement-{zhang[:16]}">✔' in tenant.get(f"/offer/{third}").text


def test_an_end_that_comes_to_cut_a_new_sublease_short_goes_back_to_be_signed_again(tmp_path: Path) -> None:
    """Wang proposes to end Li's lease in 35 days, which gives Zhang's sublease its 30 days' notice:
    nobody else is asked. Before Li countersigns, Zhang sublets to Zhao with 60 days' notice. Li's
    countersignature would now cut Zhao's home sooner than that without asking him (the ledger would
    refuse it): the offer goes back to Wang, who is told why, and signed again it asks Zhao first."""
    ids = lease_under_sublease(tmp_path)
    today, lease1, s1 = ids["today"], ids["lease1"], ids["sublease"]
    zhao = key("tenant3").public_hex
    with devserver(tmp_path) as base, _signed_in(base, "landlord", "tenant", "tenant2", "tenant3") as sides:
        (owner, ot), (tenant, tt), (sub, zt), (subsub, xt) = sides  # Wang, Li, Zhang, Zhao

        end = {"lease": lease1, "on": add_days(today, 35), "reason_hash": "we agree", "form_token": ot}
        assert owner.post("/act/lease.propose_end", data=end).status_code == 303
        [ending] = _offers(tenant)
        assert _offers(sub) == []  # 35 days: Zhang's notice is given
        terms = {"lease": s1, "tenant": zhao, "start": add_days(today, 20), "end": add_days(today, 60),
                 "rent": "4000", "deposit": "0", "payment_day": "8", "notice_days": "60",
                 "document_hash": "sub-sublease contract", "form_token": zt}  # fmt: skip
        assert sub.post("/act/lease.offer_sublease", data=terms).status_code == 303
        [subsub_offer] = [o for o in _offers(sub) if o != ending]
        assert _act(tenant, tt, "offer.consent", subsub_offer).status_code == 303
        assert _act(owner, ot, "offer.consent", subsub_offer).status_code == 303
        assert _act(subsub, xt, "offer.accept", subsub_offer).status_code == 303
        # Li's countersignature would now move Zhao out sooner than his 60 days: not sent
        resp = _act(tenant, tt, "offer.accept", ending)
        assert resp.status_code == 422 and "that subtenant was not asked" in resp.text
        assert _lease(owner, lease1)["ends_on"] == add_days(today, 300)
        me = owner.get("/me", params={"lang": "en"}).text.split(f'id="offer-{ending}"')[1].split("</li>")[0]
        assert "it has come to cut a sublease sooner than its notice" in me and "signed something else" not in me
        assert _act(owner, ot, "offer.reissue", ending).status_code == 303
        [again] = [o for o in _offers(subsub) if o not in (ending, subsub_offer)]
        assert (
            "waiting for your agreement to leave sooner than your notice"
            in subsub.get("/me", params={"lang": "en"}).text
        )
        assert _act(subsub, xt, "offer.agree_end", again).status_code == 303
        assert _act(tenant, tt, "offer.accept", again).status_code == 303
        assert _lease(owner, lease1)["ends_on"] == add_days(today, 35) and zhao in _signers_of_end(owner, lease1)


def test_ending_a_lease_over_a_sub_sublease_asks_each_subtenant_whose_notice_it_cuts(tmp_path: Path) -> None:
    """Depth two: Wang lets to Li (30 days' notice), Li to Zhang (45), Zhang to Zhao (60). An end of
    Li's lease in 50 days asks only Zhao; one in 40 days asks Zhang, then Zhao (who sees it only once
    Zhang agreed), then Li countersigns and the ledger ends all three leases that day. Li's own notice
    cannot gather their agreement: the ledger refuses it, and the portal says why next to the day."""
    ids = lease_under_sublease(tmp_path, sub_notice=45, subsub_notice=60)
    today, lease1, s1, ss = ids["today"], ids["lease1"], ids["sublease"], ids["subsublease"]
    li, zhang, zhao, wang = (key(n).public_hex for n in ("tenant", "tenant2", "tenant3", "landlord"))
    with devserver(tmp_path) as base, _signed_in(base, "landlord", "tenant", "tenant2", "tenant3") as sides:
        (owner, ot), (tenant, tt), (sub, zt), (subsub, xt) = sides  # Wang, Li, Zhang, Zhao

        # Li's own notice in 40 days gives her lease its 30 days but Zhang's sublease not its 45
        notice = {"lease": lease1, "on": add_days(today, 40), "reason_hash": "moving", "form_token": tt}
        resp = tenant.post("/act/lease.terminate?lang=en", data=notice)
        assert resp.status_code == 422 and 'class="field invalid"' in resp.text
        assert "a notice cannot carry its subtenant&#39;s agreement" in resp.text
        assert "请房东一方发起协商终止" in tenant.post("/act/lease.terminate?lang=zh", data=notice).text
        assert _lease(owner, lease1)["ends_on"] == add_days(today, 300)
        # in 50 days: Zhang's 45 days are given, Zhao's 60 are not: only Zhao is asked
        only = _propose_end(owner, ot, tenant, lease1, add_days(today, 50))
        assert _offers(sub) == [] and only in _offers(subsub)
        page = subsub.get(f"/offer/{only}", params={"lang": "en"}).text
        assert f"Sublease {ss} would end on {add_days(today, 50)} instead of {add_days(today, 200)}" in page
        assert f'id="agreement-{zhang[:16]}"' not in page
        assert _act(owner, ot, "offer.withdraw", only).status_code == 303
        # in 40 days: Zhang first, then Zhao
        both = _propose_end(owner, ot, tenant, lease1, add_days(today, 40))
        assert both in _offers(sub) and both not in _offers(subsub)
        assert (
            subsub.get(f"/offer/{both}").status_code == 403
            and _act(subsub, xt, "offer.agree_end", both).status_code == 422
        )
        page = sub.get(f"/offer/{both}", params={"lang": "en"}).text
        assert f"Sublease {s1} would end on {add_days(today, 40)}" in page
        assert "asked once the agreement above is in" in page.split(f'id="agreement-{zhao[:16]}">')[1]
        assert f"Sublease {ss}" not in page  # Zhang is shown what he agrees to, not Zhao's
        assert _act(sub, zt, "offer.agree_end", both).status_code == 303
        assert "now waits for the next subtenant&#39;s agreement" in sub.get("/me", params={"lang": "en"}).text
        assert _act(tenant, tt, "offer.accept", both).status_code == 422  # one agreement is not both
        me = subsub.get("/me", params={"lang": "en"}).text
        assert f'id="offer-{both}"' in me and "waiting for your agreement to leave sooner than your notice" in me
        cuts = me.split(f'id="cuts-{both}"')[1].split("</ul>")[0]
        assert f"Sublease {ss} would end on {add_days(today, 40)} instead of {add_days(today, 200)}" in cuts
        assert "60 days&#39; notice" in cuts
        page = subsub.get(f"/offer/{both}", params={"lang": "en"}).text
        assert f'id="agreement-{zhang[:16]}">✔' in page
        assert _act(subsub, xt, "offer.agree_end", both).status_code == 303
        resp = _act(tenant, tt, "offer.accept", both)
        assert resp.status_code == 303, resp.text[-600:]
        on = add_days(today, 40)
        assert _lease(owner, lease1)["ends_on"] == _lease(owner, s1)["ends_on"] == _lease(owner, ss)["ends_on"] == on
        assert _signers_of_end(owner, lease1) == sorted([li, zhang, zhao, wang])


def _lease(client: httpx.Client, lid: str) -> dict[str, Any]:
    value: dict[str, Any] = client.get(f"/api/v1/leases/{lid}").json()["value"]
    return value


def test_a_sublease_of_a_sublease_is_consented_by_its_landlord_then_the_owner_and_countersigned(
    tmp_path: Path,
) -> None:
    """Rules edition 6 in the portal: Zhang, subtenant of Li (who rents from the owner Wang), lets
    the home on to Zhao. The offer asks Li first (Zhang's own landlord), then Wang, each shown what
    they consent to and the later one only once the earlier has signed; Zhao countersigns only once
    both are in, and the ledger records the sub-sublease with all four signatures. Either consenter's
    refusal ends it; a stale offer is signed again and asks both again, from the first; a renewal
    gathers both consents too; withdrawal, lapse and the per-offerer cap hold as for any offer."""
    ids = lease_under_sublease(tmp_path)
    today, s1 = ids["today"], ids["sublease"]
    li, zhang, zhao, wang = (key(n).public_hex for n in ("tenant", "tenant2", "tenant3", "landlord"))
    terms = {"lease": s1, "tenant": zhao, "start": add_days(today, 20), "end": add_days(today, 60),
             "rent": "4000", "deposit": "4000", "payment_day": "8", "notice_days": "30",
             "document_hash": "sub-sublease contract"}  # fmt: skip
    with (
        devserver(tmp_path) as base,
        httpx.Client(base_url=base, timeout=60) as sub,  # Zhang, the sub-landlord
        httpx.Client(base_url=base, timeout=60) as landlord,  # Li, Zhang's landlord
        httpx.Client(base_url=base, timeout=60) as owner,  # Wang
        httpx.Client(base_url=base, timeout=60) as subtenant,  # Zhao
    ):
        zt, lt = sign_in(sub, "tenant2"), sign_in(landlord, "tenant")
        ot, xt = sign_in(owner, "landlord"), sign_in(subtenant, "tenant3")
        terms["form_token"] = zt

        def offer(**changes: str) -> str:
            before = set(_offers(sub))
            assert sub.post("/act/lease.offer_sublease", data={**terms, **changes}).status_code == 303
            [new] = set(_offers(sub)) - before
            return new

        for consenter in (li, wang):  # neither consenter can be the subtenant
            resp = sub.post("/act/lease.offer_sublease?lang=en", data={**terms, "tenant": consenter})
            assert resp.status_code == 422 and 'class="field invalid"' in resp.text
        assert sub.post("/act/lease.offer_sublease", data=terms).status_code == 303
        assert "to your landlord first, then to the owner" in sub.get("/me", params={"lang": "en"}).text
        [first] = _offers(sub)
        # Li is asked first; Wang does not see the offer yet and cannot consent before Li
        assert first not in _offers(owner) and owner.get(f"/offer/{first}").status_code == 403
        assert _act(owner, ot, "offer.consent", first).status_code == 422
        resp = _act(subtenant, xt, "offer.accept", first)
        assert resp.status_code == 422 and "still waits for the owner" in resp.text
        assert "waiting for the consent of the sublet lease" in subtenant.get("/me", params={"lang": "en"}).text
        me = landlord.get("/me", params={"lang": "en"}).text
        assert f'id="offer-{first}"' in me and "waiting for your consent" in me
        page = landlord.get(f"/offer/{first}", params={"lang": "en"}).text  # what Li consents to
        assert "A sublease of a sublease" in page and "Your tenant asks to sublet this home" in page
        assert f'href="/lease/{s1}"' in page.split('id="offer-parent"')[1].split("</dd>")[0]
        assert add_days(today, 20) in page and "4,000" in page and f'href="/party/{zhao}"' in page
        assert "waiting for the landlord of the sublet lease" in page.split('id="consent-landlord"')[1]
        assert "asked once the consent above is in" in page.split('id="consent">')[1].split("</dd>")[0]
        assert "签署同意" in landlord.get(f"/offer/{first}", params={"lang": "zh"}).text
        assert _act(landlord, lt, "offer.consent", first).status_code == 303
        assert "now waits for the owner&#39;s consent" in landlord.get("/me", params={"lang": "en"}).text
        again = _act(landlord, lt, "offer.consent", first)  # only once
        assert again.status_code == 422 and "This has already been done." in again.text
        # then Wang
        me = owner.get("/me", params={"lang": "en"}).text
        assert f'id="offer-{first}"' in me and "waiting for your consent" in me
        page = owner.get(f"/offer/{first}", params={"lang": "en"}).text
        assert "A subtenant of your home asks to sublet it on" in page
        assert f'id="consent-landlord">✔ <a href="/party/{li}"' in page
        resp = _act(subtenant, xt, "offer.accept", first)
        assert resp.status_code == 422 and "still waits for the owner" in resp.text  # one consent is not both
        assert _act(owner, ot, "offer.consent", first).status_code == 303
        assert "Countersign lease" in subtenant.get(f"/offer/{first}", params={"lang": "en"}).text
        assert _act(subtenant, xt, "offer.accept", first).status_code == 303
        done = subtenant.get("/me", params={"lang": "en"}).text
        assert "Sublease signed by you, the sub-landlord, its landlord and the owner" in done
        [subsub] = _lease(owner, s1)["subleases"]
        rec = _lease(owner, subsub)
        assert (rec["parent"], rec["landlord"], rec["tenant"], rec["owner"]) == (s1, zhang, zhao, wang)
        assert rec["signers"] == sorted([li, zhang, zhao, wang])
        assert owner.get(f"/api/v1/txs/{rec['signed_tx']}").json()["status"] == "committed"
        # refused by the second consenter: the offer ends, Zhang is told, Zhao cannot sign it
        later = {"start": add_days(today, 70), "end": add_days(today, 90)}
        second = offer(**later)
        assert _act(landlord, lt, "offer.consent", second).status_code == 303
        assert _act(owner, ot, "offer.refuse", second).status_code == 303
        me = sub.get("/me", params={"lang": "en"}).text
        assert f'id="offer-{second}"' in me and "refused by the owner" in me
        page = sub.get(f"/offer/{second}", params={"lang": "en"}).text
        assert f'id="consent-landlord">✔ <a href="/party/{li}"' in page and 'id="consent">refused<' in page
        assert _act(subtenant, xt, "offer.accept", second).status_code == 422
        # refused by the first: the owner is never asked
        third = offer(**later)
        assert _act(landlord, lt, "offer.refuse", third).status_code == 303
        assert "refused by the landlord of the sublet lease" in sub.get("/me", params={"lang": "en"}).text
        assert third not in _offers(owner) and _act(owner, ot, "offer.consent", third).status_code == 422
        assert sub.get(f"/offer/{third}").text.split('id="consent">')[1].split("</dd>")[0] == "—"
        assert _lease(owner, s1)["subleases"] == [subsub]
        # Zhao signs something else between the two consents: the owner's consent finds it stale
        fourth = offer(start=add_days(today, 100), end=add_days(today, 120))
        assert _act(landlord, lt, "offer.consent", fourth).status_code == 303
        lodge = {"lease": subsub, "amount": "4000", "form_token": xt}
        assert subtenant.post("/act/deposit.lodge", data=lodge).status_code == 303  # Zhao's seq moves on
        resp = _act(owner, ot, "offer.consent", fourth)
        assert resp.status_code == 422 and "Ask the tenant to issue it again" in resp.text
        assert "sign it again" in sub.get("/me", params={"lang": "en"}).text
        assert _act(sub, zt, "offer.reissue", fourth).status_code == 303
        [again] = _offers(landlord)  # signed again: Li is asked again, first
        assert again != fourth and again not in _offers(owner)
        assert _act(landlord, lt, "offer.consent", again).status_code == 303
        assert _act(owner, ot, "offer.consent", again).status_code == 303
        assert _act(subtenant, xt, "offer.accept", again).status_code == 303
        assert len(_lease(owner, s1)["subleases"]) == 2
        # Zhang renews the first sub-sublease: both consent again, in the same order
        renewal = {"lease": subsub, "end": add_days(today, 65), "rent": "4000", "deposit": "4000",
                   "payment_day": "8", "notice_days": "30", "collector": "landlord", "document_hash": "renewal",
                   "form_token": zt}  # fmt: skip
        assert sub.post("/act/lease.propose_renewal", data=renewal).status_code == 303
        [renew] = _offers(landlord)
        assert renew not in _offers(owner)
        assert "A renewal of a sublease of a sublease" in landlord.get(f"/offer/{renew}", params={"lang": "en"}).text
        assert _act(landlord, lt, "offer.consent", renew).status_code == 303
        assert _act(subtenant, xt, "offer.accept", renew).status_code == 422
        assert _act(owner, ot, "offer.consent", renew).status_code == 303
        assert _act(subtenant, xt, "offer.accept", renew).status_code == 303
        renewed = _lease(owner, _lease(owner, subsub)["renewed_by"])
        assert (renewed["parent"], renewed["start"]) == (s1, add_days(today, 61))
        assert renewed["signers"] == sorted([li, zhang, zhao, wang])
        # withdrawn between the consents, or lapsed: the owner can no longer consent
        fifth = offer(start=add_days(today, 130), end=add_days(today, 140))
        assert _act(landlord, lt, "offer.consent", fifth).status_code == 303 and fifth in _offers(owner)
        assert _act(sub, zt, "offer.withdraw", fifth).status_code == 303
        assert fifth not in _offers(owner) and _act(owner, ot, "offer.consent", fifth).status_code == 422
        gone = sub.get(f"/offer/{fifth}", params={"lang": "zh"}).text  # not a listing's 已下架
        assert "已由发出方撤回" in gone and "已下架" not in gone
        sixth = offer(start=add_days(today, 130), end=add_days(today, 140))
        assert _act(landlord, lt, "offer.consent", sixth).status_code == 303
        with sqlite3.connect(tmp_path / "web-offers.db") as db:
            db.execute("UPDATE offers SET created=? WHERE id=?", (add_days(today, -31), sixth))
        assert sixth not in _offers(owner) and _act(owner, ot, "offer.consent", sixth).status_code == 422
        # one sub-landlord has at most three offers waiting for one subtenant, consents or not
        for i in range(3):
            offer(start=add_days(today, 150 + 10 * i), end=add_days(today, 155 + 10 * i))
        resp = sub.post("/act/lease.offer_sublease?lang=en", data={**terms, "start": add_days(today, 190)})
        assert resp.status_code == 422 and "already made this tenant several offers" in resp.text


def test_an_offers_file_from_before_two_consents_opens_and_goes_on_to_gather_them(tmp_path: Path) -> None:
    """A web-offers.db written before offers carried a list of consenters (it has ``consenter`` and
    ``answered``, not ``consenters``) opens in the portal: the sublease it holds waiting for the
    owner is consented and countersigned, and a sublease of that sublease is then offered in the
    same file, consented by both and signed."""
    from anju.chain.node import Node
    from anju.crypto import tx

    from .ledger import CHAIN, Builder, h

    ids = build(tmp_path)
    today = ids["today"]
    li, zhang, zhao, wang = (key(n).public_hex for n in ("tenant", "tenant2", "tenant3", "landlord"))
    node = Node(tmp_path, verify_workers=0)
    lease1 = Builder(node).do(
        "landlord", "lease.sign", ("tenant",), unit=ids["unit1"], landlord=wang, tenant=li, start=today,
        end=add_days(today, 300), rent=800_000, deposit=0, payment_day=5, notice_days=30, collector="landlord",
        document_hash=h("lease-u1"),
    )  # fmt: skip
    seq = int(node.store.state_get(f"seq/{zhang}") or b"0") + 1
    node.stop()
    body = {"chain": CHAIN, "kind": "lease.sign", "signer": zhang, "seq": seq, "unit": ids["unit1"], "landlord": li,
            "tenant": zhang, "parent": lease1, "collector": "landlord", "start": add_days(today, 10),
            "end": add_days(today, 250), "rent": 500_000, "deposit": 0, "payment_day": 8, "notice_days": 30,
            "document_hash": h("sublease")}  # fmt: skip
    db = sqlite3.connect(tmp_path / "web-offers.db")
    db.execute(
        "CREATE TABLE offers (id TEXT PRIMARY KEY, created TEXT NOT NULL, tenant TEXT NOT NULL, offered_by TEXT"
        " NOT NULL, unit TEXT NOT NULL, envelope TEXT NOT NULL, status TEXT NOT NULL, txid TEXT, consenter TEXT,"
        " answered TEXT)"
    )
    db.execute(
        "INSERT INTO offers VALUES ('00000000000000aa',?,?,?,?,?,'consent',NULL,?,NULL)",
        (today, zhang, li, ids["unit1"], orjson.dumps(tx.sign(body, [key("tenant")])).decode(), wang),
    )
    db.commit()
    db.close()
    with (
        devserver(tmp_path) as base,
        httpx.Client(base_url=base, timeout=60) as owner,
        httpx.Client(base_url=base, timeout=60) as li_,
        httpx.Client(base_url=base, timeout=60) as zhang_,
        httpx.Client(base_url=base, timeout=60) as zhao_,
    ):
        ot, lt = sign_in(owner, "landlord"), sign_in(li_, "tenant")
        zt, xt = sign_in(zhang_, "tenant2"), sign_in(zhao_, "tenant3")
        assert _offers(owner) == ["00000000000000aa"]
        page = owner.get("/offer/00000000000000aa", params={"lang": "en"}).text
        assert "A sublease (转租), with the owner" in page and "waiting for the owner" in page
        assert owner.post("/act/offer.consent", data={"offer": "00000000000000aa", "form_token": ot}).status_code == 303
        resp = zhang_.post("/act/offer.accept", data={"offer": "00000000000000aa", "form_token": zt})
        assert resp.status_code == 303
        [s1] = _lease(owner, lease1)["subleases"]
        assert _lease(owner, s1)["signers"] == sorted([li, zhang, wang])
        subsub = {"lease": s1, "tenant": zhao, "start": add_days(today, 20), "end": add_days(today, 60),
                  "rent": "4000", "deposit": "0", "payment_day": "8", "notice_days": "30",
                  "document_hash": "sub-sublease contract", "form_token": zt}  # fmt: skip
        assert zhang_.post("/act/lease.offer_sublease", data=subsub).status_code == 303
        [oid] = _offers(li_)
        assert oid not in _offers(owner)
        assert li_.post("/act/offer.consent", data={"offer": oid, "form_token": lt}).status_code == 303
        assert owner.post("/act/offer.consent", data={"offer": oid, "form_token": ot}).status_code == 303
        assert zhao_.post("/act/offer.accept", data={"offer": oid, "form_token": xt}).status_code == 303
        [leaf] = _lease(owner, s1)["subleases"]
        assert _lease(owner, leaf)["signers"] == sorted([li, zhang, zhao, wang])
    with sqlite3.connect(tmp_path / "web-offers.db") as db:
        assert "consenters" in {row[1] for row in db.execute("PRAGMA table_info(offers)")}


def test_offers_made_before_subleases_gain_the_consent_column(tmp_path: Path) -> None:
    """A web-offers.db from before sublease offers opens: the consenter columns are added and its
    offers read as before (no consent needed); consenters are asked one at a time, in order."""
    from anju.web.offers import Offers

    db = sqlite3.connect(tmp_path / "web-offers.db")
    db.execute(
        "CREATE TABLE offers (id TEXT PRIMARY KEY, created TEXT NOT NULL, tenant TEXT NOT NULL, offered_by TEXT"
        " NOT NULL, unit TEXT NOT NULL, envelope TEXT NOT NULL, status TEXT NOT NULL, txid TEXT)"
    )
    env = {"body": {"kind": "lease.sign", "seq": 1}, "sigs": []}
    db.execute("INSERT INTO offers VALUES ('a1','2026-01-01','t','l','u',?,'pending',NULL)", (orjson.dumps(env),))
    db.commit()
    db.close()
    offers = Offers(tmp_path / "web-offers.db")
    [old] = offers.for_party("t")
    assert (old.id, old.status, old.consenter, old.what) == ("a1", "pending", None, "lease.sign")
    oid = offers.add("2026-01-02", "t", "l", "u", {"body": {"kind": "lease.sign", "parent": "p"}}, consenters=["o"])
    [mine] = offers.for_party("o")
    assert (mine.id, mine.status, mine.what) == (oid, "consent", "sublease")
    signed = {"body": {"kind": "lease.sign", "parent": "p"}, "sigs": [1]}
    assert offers.transition(oid, ("consent",), "pending", envelope=signed)
    assert not offers.transition(oid, ("consent",), "refused")  # the first answer wins
    got = offers.get(oid)
    assert got is not None and (got.status, got.envelope) == ("pending", signed)
    assert offers.transition(oid, ("pending",), "declined", on="2026-02-10")  # answered weeks after it was made
    assert [o.id for o in offers.for_party("l", answered_since="2026-02-01")] == [oid, "a1"]  # "a1": pending
    assert [o.id for o in offers.for_party("l", answered_since="2026-02-11")] == ["a1"]
    assert offers.for_party("t", answered_since="2026-02-01") == [old]  # shown to the side that offered it only
    # two consenters, asked in order: the second sees the offer only once the first has signed
    two = offers.add("2026-01-03", "t", "l", "u", {"body": {"kind": "lease.sign", "parent": "p"}}, ["a", "o"])
    assert [o.id for o in offers.for_party("a")] == [two] and two not in [o.id for o in offers.for_party("o")]
    assert not offers.transition(two, ("consent",), "consent", asking="o", ask="o")  # not o's turn yet
    assert offers.transition(two, ("consent",), "consent", asking="a", ask="o")
    assert not offers.transition(two, ("consent",), "refused", asking="a")  # a answered already
    got = offers.get(two)
    assert got is not None and (got.status, got.consenter, got.consenters, got.what) == (
        "consent", "o", ("a", "o"), "subsublease"
    )  # fmt: skip
    assert two in [o.id for o in offers.for_party("o")] and two in [o.id for o in offers.for_party("a")]
    offers.close()


def test_my_page_keeps_each_roles_work(tmp_path: Path) -> None:
    """Every role's page lists its own work: the authority's open disputes, an agency's mandates."""
    ids = build(tmp_path)
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        token = sign_in(client, "tenant2")
        data = {"lease": ids["lease3"], "subject": "rent", "evidence": "receipts", "form_token": token}
        assert client.post("/act/dispute.open", data=data).status_code == 303
        client.cookies.clear()
        sign_in(client, "authority")
        me = client.get("/me", params={"lang": "en"}).text
        assert "Disputes (1)" in me and "Decide dispute" in me
        client.cookies.clear()
        sign_in(client, "agency_b")
        me = client.get("/me", params={"lang": "en"}).text
        assert "Mandates held (1)" in me and "Agents (0)" in me and "Leases (0)" in me
        client.cookies.clear()
        sign_in(client, "landlord")
        me = client.get("/me", params={"lang": "en"}).text
        assert "Mandates granted" in me and 'id="agents"' not in me


def test_one_certificate_number_cannot_back_two_units(tmp_path: Path) -> None:
    build(tmp_path)
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        token = sign_in(client, "landlord")
        unit = {
            "district": "徐汇区",
            "street": "虹漕路",
            "neighbourhood": "虹漕新村",
            "floor_area_m2": "40",
            "rooms": "1",
        }
        for room in ("101", "102"):
            data = {**unit, "address_commitment": f"虹漕路 1 号 {room} 室", "form_token": token}
            assert client.post("/act/unit.register", data=data).status_code == 303
        client.cookies.clear()
        token = sign_in(client, "authority")
        me = client.get("/me", params={"lang": "en"}).text
        units = re.findall(r'id="f-title-attest-([0-9a-f]{16})"', me)
        assert len(units) == 2
        cert = {"certificate_commitment": "沪(2026)徐汇区不动产权第000777号", "form_token": token}
        assert client.post("/act/title.attest", data={**cert, "unit": units[0]}).status_code == 303
        resp = client.post("/act/title.attest?lang=en", data={**cert, "unit": units[1]})
        assert resp.status_code == 422, resp.text[-400:]


def test_a_reviews_words_are_shown_beside_the_hash_the_ledger_holds(tmp_path: Path) -> None:
    import hashlib

    from anju.chain.node import Node

    from .ledger import Builder, h

    ids = build(tmp_path)
    today = ids["today"]
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    lease = b.do(
        "landlord", "lease.sign", ("tenant",), unit=ids["unit1"], landlord=key("landlord").public_hex,
        tenant=key("tenant").public_hex, start=add_days(today, -25), end=add_days(today, -2), rent=800_000,
        deposit=0, payment_day=5, notice_days=30, collector="landlord", document_hash=h("old"),
    )  # fmt: skip
    node.stop()
    words = "房东很好，维修及时 <script>alert(1)</script>"
    landlord = key("landlord").public_hex
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        token = sign_in(client, "tenant")
        data = {"lease": lease, "subject": landlord, "rating": "5", "text_hash": words, "form_token": token}
        assert client.post("/act/review.write", data=data).status_code == 303
        page = client.get(f"/party/{landlord}", params={"lang": "en"}).text
        assert "房东很好，维修及时 &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
        db = sqlite3.connect(f"file:{tmp_path / 'ledger.db'}?mode=ro", uri=True)
        try:
            stored = [orjson.loads(v) for (v,) in db.execute("SELECT value FROM state WHERE key LIKE 'review/%'")]
        finally:
            db.close()
        assert [r["text_hash"] for r in stored] == [hashlib.sha256(words.encode()).hexdigest()]
        assert "房东很好" not in str(stored)  # the words are not on the ledger


def test_evidence_words_kept_for_the_authority_are_never_a_reviews_words(tmp_path: Path) -> None:
    """The portal keeps a report's evidence words for the authority, and a review's words to show
    on a party page. The ledger's hashes are public: a counterparty who publishes a review (through
    the SDK) whose text_hash is a report's evidence hash had the reporter's words shown on the
    reviewed party's public page when both were kept in one table."""
    import hashlib

    from anju.chain.node import Node

    from .ledger import Builder, h

    ids = build(tmp_path)
    today = ids["today"]
    words = "举报人电话另告 <i>照片是别的小区的</i>"
    tenant = key("tenant").public_hex
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    lease = b.do(
        "landlord", "lease.sign", ("tenant",), unit=ids["unit1"], landlord=key("landlord").public_hex,
        tenant=tenant, start=add_days(today, -25), end=add_days(today, -2), rent=800_000,
        deposit=0, payment_day=5, notice_days=30, collector="landlord", document_hash=h("old"),
    )  # fmt: skip
    digest = hashlib.sha256(words.encode()).hexdigest()  # (what the report will put on the ledger)
    b.do("landlord", "review.write", lease=lease, subject=tenant, rating=1, text_hash=digest)
    node.stop()
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        token = sign_in(client, "tenant2")
        data = {"listing": ids["listing"], "evidence": words, "form_token": token}
        assert client.post("/act/report.file", data=data).status_code == 303
        page = client.get(f"/party/{tenant}", params={"lang": "en"}).text
        assert "照片是别的小区的" not in page, page[-3000:]
        client.cookies.clear()
        sign_in(client, "authority")
        queue = client.get("/me", params={"lang": "en"}).text
        assert "照片是别的小区的" in queue  # the authority still reads them


def test_pages_carry_security_headers_and_odd_search_numbers_are_no_error(tmp_path: Path) -> None:
    build(tmp_path)
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        home = client.get("/", params={"lang": "en"})
        assert home.status_code == 200
        csp = home.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert home.headers["x-frame-options"] == "DENY" and home.headers["x-content-type-options"] == "nosniff"
        assert "no-store" not in home.headers.get("cache-control", "")  # public pages may be cached
        sign_in(client, "tenant")
        assert client.get("/me").headers["cache-control"] == "no-store"  # signed-in pages may not
        for q in ({"rent_min": "9" * 25}, {"rent_max": "-" + "9" * 25}, {"area_min": "1" * 40}, {"rooms": "1e9"}):
            assert client.get("/", params=q).status_code == 200, q


def test_an_offer_can_be_withdrawn_lapses_after_30_days_and_is_reissued_only_by_who_may_still_sign(
    tmp_path: Path,
) -> None:
    """An offer waits off the ledger: its offering side can take it back; one left unsigned for 30
    days lapses (its terms were for then); and an agent dismissed since it went stale may not sign
    it again for the agency."""
    from anju.chain.node import Node

    from .ledger import Builder

    ids = build(tmp_path)
    today = ids["today"]
    zhang = key("tenant2").public_hex
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    b.do("agent_x", "party.register", role="agent", commitment="ab" * 32)
    b.do("authority", "authority.attest_identity", party=key("agent_x").public_hex, commitment="ab" * 32)
    b.do("agency_b", "agency.appoint_agent", agent=key("agent_x").public_hex)
    mandate = b.do(
        "landlord", "mandate.grant", unit=ids["unit1"], agency=key("agency_b").public_hex, exclusive=False,
        to=add_days(today, 365), may_sign=True, min_rent=100_000, **{"from": today},
    )  # fmt: skip
    node.stop()
    terms = {"unit": ids["unit1"], "tenant": zhang, "start": add_days(today, 400), "end": add_days(today, 500),
             "rent": "5000", "deposit": "0", "payment_day": "5", "notice_days": "30", "collector": "landlord",
             "document_hash": "x"}  # fmt: skip
    demo = json.loads((tmp_path / "demo-parties.json").read_text())
    demo["parties"].append(
        {"name": "Agent X", "role": "agent", "seed": key("agent_x").seed.hex(), "public_key": key("agent_x").public_hex}
    )
    (tmp_path / "demo-parties.json").write_text(json.dumps(demo))
    with (
        devserver(tmp_path) as base,
        httpx.Client(base_url=base, timeout=60) as owner,
        httpx.Client(base_url=base, timeout=60) as tenant,
    ):
        ot, tt = sign_in(owner, "landlord"), sign_in(tenant, "tenant2")
        assert owner.post("/act/lease.offer", data={**terms, "form_token": ot}).status_code == 303
        [first] = _offers(tenant)
        assert "/act/offer.withdraw" in owner.get("/me").text and "/act/offer.withdraw" not in tenant.get("/me").text
        resp = tenant.post("/act/offer.withdraw?lang=en", data={"offer": first, "form_token": tt})
        assert resp.status_code == 422  # only its offering side withdraws it
        assert owner.post("/act/offer.withdraw", data={"offer": first, "form_token": ot}).status_code == 303
        assert first not in _offers(tenant)
        resp = tenant.post("/act/offer.accept?lang=en", data={"offer": first, "form_token": tt})
        assert resp.status_code == 422
        # an offer unsigned for 31 days has lapsed
        assert owner.post("/act/lease.offer", data={**terms, "form_token": ot}).status_code == 303
        [second] = _offers(tenant)
        db = sqlite3.connect(tmp_path / "web-offers.db")
        db.execute("UPDATE offers SET created=? WHERE id=?", (add_days(today, -31), second))
        db.commit()
        db.close()
        assert second not in _offers(tenant)
        assert tenant.post("/act/offer.accept", data={"offer": second, "form_token": tt}).status_code == 422
        # an agent's offer gone stale, then the agent dismissed: the agent may not sign it again
        owner.cookies.clear()
        xt = sign_in(owner, "agent_x")
        offer = {**terms, "mandate": mandate, "form_token": xt}
        assert owner.post("/act/lease.offer", data=offer).status_code == 303, "agent offers"
        [third] = _offers(tenant)
        assert (
            tenant.post(
                "/act/deposit.lodge", data={"lease": ids["lease3"], "amount": "9000", "form_token": tt}
            ).status_code
            == 303
        )
        assert tenant.post("/act/offer.accept", data={"offer": third, "form_token": tt}).status_code == 422  # stale
        with httpx.Client(base_url=base, timeout=60) as agency:
            at = sign_in(agency, "agency_b")
            dismiss = {"agent": key("agent_x").public_hex, "form_token": at}
            assert agency.post("/act/agency.dismiss_agent", data=dismiss).status_code == 303
        resp = owner.post("/act/offer.reissue?lang=en", data={"offer": third, "form_token": xt})
        assert resp.status_code == 422 and "addressed to" in resp.text
        # a stale offer lapses with its age too: its terms were for then
        with httpx.Client(base_url=base, timeout=60) as landlord:
            lt = sign_in(landlord, "landlord")
            assert landlord.post("/act/lease.offer", data={**terms, "form_token": lt}).status_code == 303
            [fourth] = [o for o in _offers(tenant) if o != third]
            report = {"listing": ids["listing"], "evidence": "a photo of the flat", "form_token": tt}
            assert tenant.post("/act/report.file", data=report).status_code == 303  # the tenant's seq moves on
            assert tenant.post("/act/offer.accept", data={"offer": fourth, "form_token": tt}).status_code == 422
            assert fourth in _offers(landlord)  # stale: the landlord may sign it again...
            db = sqlite3.connect(tmp_path / "web-offers.db")
            db.execute("UPDATE offers SET created=? WHERE id=?", (add_days(today, -31), fourth))
            db.commit()
            db.close()
            assert fourth not in _offers(landlord)  # ...until it lapses
            assert landlord.post("/act/offer.reissue", data={"offer": fourth, "form_token": lt}).status_code == 422


def test_one_address_guessing_keystore_passwords_is_slowed_and_offers_to_one_tenant_are_capped(
    tmp_path: Path,
) -> None:
    """Each keystore sign-in costs a password derivation, right or wrong: past 20 from one address
    (then one every two seconds) it is answered 429. And nobody fills another party's list of offers:
    one landlord has at most three offers to one tenant waiting or declined this month, and past 20
    waiting for one tenant a new one is refused."""
    from nacl.pwhash import argon2id

    from anju.crypto import keystore
    from anju.web.offers import OPEN_DAYS, OPEN_PER_OFFERER, OPEN_PER_TENANT, Offers

    ids = build(tmp_path)
    cheap = keystore.encrypt(
        key("tenant"), "the right one", opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN
    )
    upload = {"keyfile": ("k.json", json.dumps(cheap).encode(), "application/json")}
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        codes = [
            client.post("/signin?lang=en", data={"password": "wrong"}, files=upload).status_code for _ in range(22)
        ]
        assert codes[:20] == [422] * 20 and codes[20:] == [429, 429], codes
        resp = client.post("/signin?lang=en", data={"password": "the right one"}, files=upload)
        assert resp.status_code == 429 and "Too many keystore sign-ins" in resp.text and resp.headers["retry-after"]
        bare = {"keyfile": ("k.txt", key("tenant").seed.hex().encode(), "text/plain")}
        assert client.post("/signin", data={"password": ""}, files=bare).status_code == 303  # no derivation: no limit
        client.cookies.clear()
        lt = sign_in(client, "landlord")
        terms = {"unit": ids["unit1"], "tenant": key("tenant2").public_hex, "rent": "5000", "deposit": "0",
                 "payment_day": "5", "notice_days": "30", "collector": "landlord", "form_token": lt}  # fmt: skip
        tenant2, landlord = key("tenant2").public_hex, key("landlord").public_hex

        def offer(i: int) -> httpx.Response:
            dates = {"start": add_days(ids["today"], 400 + 10 * i), "end": add_days(ids["today"], 405 + 10 * i)}
            return client.post("/act/lease.offer?lang=en", data={**terms, **dates, "document_hash": f"contract {i}"})

        assert [offer(i).status_code for i in range(OPEN_PER_OFFERER)] == [303] * OPEN_PER_OFFERER
        resp = offer(OPEN_PER_OFFERER)  # one landlord alone cannot fill the list
        assert resp.status_code == 422 and "already made this tenant several offers" in resp.text
        mine = [o.id for o in Offers(tmp_path / "web-offers.db").for_party(tenant2) if o.offered_by == landlord]
        client.cookies.clear()
        tt = sign_in(client, "tenant2")
        assert client.post("/act/offer.decline", data={"offer": mine[0], "form_token": tt}).status_code == 303
        client.cookies.clear()
        lt = sign_in(client, "landlord")
        terms["form_token"] = lt
        resp = offer(OPEN_PER_OFFERER + 1)  # a declined offer still counts: no offering again at once
        assert resp.status_code == 422 and "already made this tenant several offers" in resp.text
        others = Offers(tmp_path / "web-offers.db")  # other landlords' offers fill the list (the portal's own file)
        envelope = {"body": {"kind": "lease.sign"}, "sigs": []}
        for i in range(OPEN_PER_TENANT - (OPEN_PER_OFFERER - 1)):
            others.add(ids["today"], tenant2, f"{i:064x}", ids["unit1"], envelope)
        with sqlite3.connect(tmp_path / "web-offers.db") as db:  # the landlord's decline is a month old
            db.execute("UPDATE offers SET created=? WHERE id=?", (add_days(ids["today"], -OPEN_DAYS - 1), mine[0]))
        resp = offer(OPEN_PER_OFFERER + 2)
        assert resp.status_code == 422 and "already has many offers waiting" in resp.text


def test_a_listing_found_fake_says_so_and_not_to_pay(tmp_path: Path) -> None:
    """The verification panel of a listing the authority confirmed fake said only "Not valid now"
    and two badges ("revoked", "fake"): a visitor holding its code, perhaps asked for a deposit,
    was not told what that means. It says so in a sentence, as an alert, and not to pay or sign."""
    from anju.chain.node import Node

    from .ledger import Builder, h

    ids = build(tmp_path)
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    report = b.do("tenant2", "report.file", listing=ids["listing"], evidence=[h("photos")])
    b.do("authority", "report.resolve", report=report, outcome="confirmed", decision_hash=h("decision"))
    node.stop()
    says = {
        "en": "The housing authority found this listing fake. Do not pay anything to whoever showed it to you",
        "zh": "房屋管理局已认定此房源为虚假房源。请勿向给您展示此房源的任何人付款",
    }
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        for lang, text in says.items():
            page = client.get("/check", params={"code": ids["code"], "lang": lang}).text
            why = re.search(r'<p class="why" id="verify-why" role="alert">(.*?)</p>', page, re.S)
            assert why is not None and text in why.group(1), page
            listing = client.get(f"/listing/{ids['listing']}", params={"lang": lang}).text
            assert text in listing, lang


def test_the_authority_reads_the_words_of_a_fake_listing_report(tmp_path: Path) -> None:
    """A fake-listing report's "what is wrong" goes on the ledger as its SHA-256 only: the portal
    hashed the words and kept them nowhere, so the housing authority, who decides the report, read
    a hash. The portal keeps them, as a review's, and shows them in the authority's queue (escaped);
    other parties' pages and the ledger do not carry them."""
    import hashlib

    ids = build(tmp_path)
    words = "照片是别的小区的 <b>不是这套房</b>"
    with devserver(tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        token = sign_in(client, "tenant2")
        data = {"listing": ids["listing"], "evidence": words, "form_token": token}
        assert client.post("/act/report.file", data=data).status_code == 303
        client.cookies.clear()
        sign_in(client, "authority")
        queue = client.get("/me", params={"lang": "en"}).text
        assert "照片是别的小区的 &lt;b&gt;不是这套房&lt;/b&gt;" in queue and "<b>不是这套房" not in queue, queue[-3000:]
        db = sqlite3.connect(f"file:{tmp_path / 'ledger.db'}?mode=ro", uri=True)
        try:
            stored = [orjson.loads(v) for (v,) in db.execute("SELECT value FROM state WHERE key LIKE 'report/%'")]
        finally:
            db.close()
        assert [r["evidence"] for r in stored] == [[hashlib.sha256(words.encode()).hexdigest()]]
        assert "照片是别的小区的" not in str(stored)
