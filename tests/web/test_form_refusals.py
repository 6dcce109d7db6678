"""Bad input of any kind, through the real portal over a real ledger: a sentence next to the field
it concerns, in the reader's language, never a 5xx, and nothing changed."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from anju.registry.dates import add_days

from .conftest import devserver
from .ledger import key, lease_under_sublease

FIELD_ERROR = re.compile(r'<p class="error" id="f-[a-z0-9_-]*-([a-z_]+)-err" role="alert">([^<]+)</p>')


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("ledger")
    ids = lease_under_sublease(data)
    with devserver(data) as base:
        yield {"base": base, **ids}


@contextlib.contextmanager
def _signed_in(portal: dict[str, Any], name: str) -> Iterator[tuple[httpx.Client, str]]:
    """A portal client signed in as the demo party ``name``, with its form token."""
    with httpx.Client(base_url=portal["base"], timeout=60) as client:
        assert client.post("/signin/demo", data={"party": key(name).public_hex}).status_code == 303
        m = re.search(r'name="form_token" value="([^"]+)"', client.get("/me").text)
        assert m
        yield client, m.group(1)


def _seq(client: httpx.Client, name: str) -> int:
    """How many transactions the demo party ``name`` has signed (its ledger seq)."""
    return int(client.get(f"/api/v1/state/seq/{key(name).public_hex}").json()["value"])


def _field_errors(page: str) -> dict[str, str]:
    return dict(FIELD_ERROR.findall(page))


def test_bytes_that_are_not_utf8_and_money_that_is_no_sum_are_refused_next_to_their_field(
    portal: dict[str, Any],
) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    with _signed_in(portal, "landlord") as (landlord, token):
        before = _seq(landlord, "landlord")
        form = (
            f"form_token={token}&district=%E5%BE%90%FF%FE&street=a&neighbourhood=b&address_commitment=c"
            "&floor_area_m2=50&rooms=2"
        ).encode()
        for lang, sentence in (("en", "could not be read"), ("zh", "无法读取")):
            resp = landlord.post(f"/act/unit.register?lang={lang}", content=form, headers=headers)
            assert resp.status_code == 422
            assert sentence in _field_errors(resp.text)["district"]
        unit = {"form_token": token, "district": "徐汇区", "street": "衡山路", "neighbourhood": "衡山坊"}
        unit |= {"address_commitment": "c", "floor_area_m2": "50"}
        for rooms in ("9" * 5000, "-" + "9" * 5000):  # (int() refuses past 4300 digits: it was a 500)
            resp = landlord.post("/act/unit.register?lang=en", data={**unit, "rooms": rooms})
            assert resp.status_code == 422, resp.text[-300:]
            assert "from 0 to 50" in _field_errors(resp.text)["rooms"]
        assert _seq(landlord, "landlord") == before  # nothing signed
    with _signed_in(portal, "tenant") as (tenant, token):
        for amount in ("NaN", "Infinity", "1e999999", "100000000001"):
            paid = {"form_token": token, "lease": portal["lease1"], "period": "2027-01", "months": "1"}
            paid["amount"] = amount
            resp = tenant.post("/act/rent.pay?lang=zh", data=paid)
            assert resp.status_code == 422, amount
            assert "amount" in _field_errors(resp.text), amount
        assert tenant.get(f"/api/v1/leases/{portal['lease1']}").json()["value"]["paid_through"] is None
    with httpx.Client(base_url=portal["base"], timeout=60) as visitor:
        form = b"role=agency&name=%FF%FEAgency&identity=x&password=0123456789&password2=0123456789"
        resp = visitor.post("/register?lang=en", content=form, headers=headers)
        assert resp.status_code == 422 and "could not be read" in resp.text


def test_personal_data_for_the_ledger_in_clear_is_refused_and_the_form_says_so(portal: dict[str, Any]) -> None:
    """A listing's description and a unit's neighbourhood go on the ledger as typed, for everyone,
    forever: a phone number or a door number there is refused next to its field, in the reader's
    language, and nothing is signed; the form says beforehand what may not go there."""
    with _signed_in(portal, "landlord") as (landlord, token):
        before = _seq(landlord, "landlord")
        assert "no names, phone numbers, ID numbers" in landlord.get("/me", params={"lang": "en"}).text
        unit = {"form_token": token, "district": "徐汇区", "street": "衡山路", "neighbourhood": "衡山坊8号"}
        unit |= {"address_commitment": "衡山路 88 号 1201 室", "floor_area_m2": "50", "rooms": "2"}
        listing = {"form_token": token, "unit": "0123456789abcdef", "rent": "9500", "deposit": "9500"}
        listing |= {"available_from": "2027-01-01", "min_term_months": "12", "description": "看房电话 13812345678"}
        for name, data, field in (
            ("unit.register", unit, "neighbourhood"),
            ("listing.publish", listing, "description"),
        ):
            for lang, sentence in (("en", "seems to hold personal data"), ("zh", "个人信息")):
                resp = landlord.post(f"/act/{name}?lang={lang}", data=data)
                assert resp.status_code == 422, (name, resp.text[-500:])
                assert sentence in _field_errors(resp.text).get(field, ""), (name, lang)
        assert _seq(landlord, "landlord") == before  # nothing signed


def _offers(client: httpx.Client) -> set[str]:
    return set(re.findall(r'id="offer-([0-9a-f]{16})"', client.get("/me").text))


def test_an_offer_the_ledger_could_never_take_is_refused_next_to_its_field_and_never_kept(
    portal: dict[str, Any],
) -> None:
    """An offer is kept off the ledger until its tenant countersigns: one whose terms the ledger
    refuses whatever happens (dates reversed, a start long past, no rent, a new last day gone by or
    past the lease's end) is refused to its offering side, next to the field, and never reaches
    the tenant, who could only watch their signature be refused."""
    today = portal["today"]
    lease = {
        "unit": portal["unit2"],
        "tenant": key("tenant3").public_hex,
        "start": add_days(today, 400),
        "end": add_days(today, 700),
        "rent": "5000",
        "deposit": "5000",
        "payment_day": "5",
        "notice_days": "30",
        "collector": "landlord",
        "document_hash": "the contract",
    }
    bad_leases = (
        ("end", add_days(today, 399), "before the first day", "在第一天之前"),
        ("start", add_days(today, -40), "30 days before", "30 天"),
        ("end", add_days(today, 400 + 20 * 366), "twenty years", "二十年"),
        ("rent", "0", "outside the allowed range", "超出允许范围"),
    )
    with _signed_in(portal, "landlord") as (landlord, token), _signed_in(portal, "tenant3") as (zhao, _t):
        waiting = _offers(zhao)
        for lang, pick in (("en", 2), ("zh", 3)):
            for name, value, *sentence in bad_leases:
                resp = landlord.post(f"/act/lease.offer?lang={lang}", data={**lease, name: value, "form_token": token})
                assert resp.status_code == 422, (name, value)
                assert sentence[pick - 2] in _field_errors(resp.text).get(name, ""), (name, value, lang)
        renewal = {"lease": portal["lease1"], "form_token": token, **{k: lease[k] for k in lease if k != "start"}}
        renewal["end"] = add_days(today, 200)  # before lease 1's own last day
        resp = landlord.post("/act/lease.propose_renewal?lang=en", data=renewal)
        assert resp.status_code == 422 and "after the current lease" in _field_errors(resp.text)["end"]
        for on in (add_days(today, -1), add_days(today, 400)):  # gone by, or past the lease's last day
            end = {"lease": portal["lease1"], "on": on, "reason_hash": "we agree", "form_token": token}
            resp = landlord.post("/act/lease.propose_end?lang=en", data=end)
            assert resp.status_code == 422 and "between today and" in _field_errors(resp.text)["on"], on
        assert _offers(zhao) == waiting and _offers(landlord) == set()  # nothing kept, for anyone
        good = landlord.post("/act/lease.offer?lang=en", data={**lease, "form_token": token})
        assert good.status_code == 303 and len(_offers(zhao) - waiting) == 1


def test_a_form_larger_than_the_server_takes_is_a_sentence_on_the_page_not_the_apis_json(
    portal: dict[str, Any],
) -> None:
    """The server takes request bodies up to 256 KB (the API's cap, on the same app): a contract or
    agreement text pasted whole can pass it (a Chinese character is nine bytes in a form body).
    The portal then says so in the reader's language, on its page (with htmx, at the top of the
    form, which keeps what was typed), instead of the API's JSON error, and signs nothing."""
    long_text = "甲方乙方双方同意" * 5000  # 40,000 characters: 360 KB in a form body
    with _signed_in(portal, "tenant") as (tenant, token):
        before = _seq(tenant, "tenant")
        end = {"lease": portal["sublease"], "on": add_days(portal["today"], 100), "reason_hash": long_text}
        for lang, sentence in (("en", "too large"), ("zh", "过大")):
            resp = tenant.post(f"/act/lease.propose_end?lang={lang}", data={**end, "form_token": token})
            assert resp.status_code == 413 and resp.headers["content-type"].startswith("text/html")
            assert sentence in resp.text and "PAYLOAD_TOO_LARGE" not in resp.text
        htmx = {"HX-Request": "true", "HX-Target": f"f-lease-propose_end-{portal['sublease']}"}
        resp = tenant.post("/act/lease.propose_end?lang=en", data={**end, "form_token": token}, headers=htmx)
        assert resp.status_code == 200 and resp.headers["hx-retarget"] == f"#{htmx['HX-Target']}"
        assert resp.headers["hx-reswap"] == "afterbegin" and "too large" in resp.text
        assert _seq(tenant, "tenant") == before
    with httpx.Client(base_url=portal["base"], timeout=60) as visitor:
        resp = visitor.post("/signin?lang=zh", files={"keyfile": ("k.json", b"{" + b" " * 300_000 + b"}")})
        assert resp.status_code == 413 and "过大" in resp.text and "PAYLOAD_TOO_LARGE" not in resp.text


def test_a_form_is_carried_out_once_however_often_it_is_sent(portal: dict[str, Any]) -> None:
    """A rendered form carries its own id (``form_once``): sent again (a second click, the browser's
    history, a replayed request), it is refused with a sentence and nothing is signed twice (a unit's
    address commitment is salted afresh each time: the ledger could not tell a second unit from a
    first); refused (a field to correct), the same form may be sent again, corrected."""
    with _signed_in(portal, "landlord") as (landlord, token):
        page = landlord.get("/me").text
        onces = re.findall(r'<form[^>]*action="/act/unit\.register".*?name="form_once" value="([^"]+)"', page, re.S)
        assert len(onces) == 1 and onces[0] not in landlord.get("/me").text  # each render: a new one
        unit = {"form_token": token, "form_once": onces[0], "district": "徐汇区", "street": "衡山路"}
        unit.update(neighbourhood="衡山坊", address_commitment="衡山路 1 号 101 室", floor_area_m2="50", rooms="x")
        before = _seq(landlord, "landlord")
        refused = landlord.post("/act/unit.register?lang=en", data=unit)  # rooms is no number: corrected below
        assert refused.status_code == 422 and "rooms" in _field_errors(refused.text)
        unit["rooms"] = "2"
        assert landlord.post("/act/unit.register?lang=en", data=unit).status_code == 303
        assert _seq(landlord, "landlord") == before + 1
        for lang, sentence in (("en", "sent already"), ("zh", "已经提交")):
            again = landlord.post(f"/act/unit.register?lang={lang}", data=unit)
            assert again.status_code == 422 and sentence in again.text
        assert _seq(landlord, "landlord") == before + 1  # one unit, not two
        fresh = re.findall(r'name="form_once" value="([^"]+)"', landlord.get("/me").text)[0]
        assert landlord.post("/act/unit.register", data={**unit, "form_once": fresh}).status_code == 303
        assert _seq(landlord, "landlord") == before + 2  # a new form is a new unit


def test_a_double_clicks_second_sending_leaves_the_first_ones_done_and_salt_for_the_page(
    portal: dict[str, Any],
) -> None:
    """A double click sends a form twice (htmx sends the second once the first is answered): the
    second is refused as FORM_RESENT in the form's fragment, which took the session's flash — the
    first sending's "Done" and the address salt, its only copy — and the page htmx went on to showed
    neither."""
    with _signed_in(portal, "landlord") as (landlord, token):
        form = {
            "form_token": token,
            "form_once": "double-click-01",
            "next": "/me",
            "district": "徐汇区",
            "street": "衡山路",
            "neighbourhood": "湖南路街道",
            "address_commitment": "衡山路 12 号 301 室",
            "floor_area_m2": "45",
            "rooms": "2",
        }
        htmx = {"HX-Request": "true", "HX-Target": "f-unit-register"}
        first = landlord.post("/act/unit.register?lang=en", data=form, headers=htmx)
        assert first.status_code == 204 and first.headers["HX-Redirect"] == "/me"
        second = landlord.post("/act/unit.register?lang=en", data=form, headers=htmx)
        assert "was sent already" in second.text
        page = landlord.get("/me", params={"lang": "en"}).text
        assert "Done: Register a unit" in page and "Keep this salt with your records" in page
