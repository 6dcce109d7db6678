"""Every page of a real demo district renders, in both languages: not one hand-picked example.

The district is built by ``anju demo``'s own builder and served by ``anju serve`` (API and portal,
a real process); the crawl visits every listing, verification answer, party, registration number
and, signed in as each party of the manifest (the authority sees every lease), every page of theirs.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator

import httpx
import pytest
from tests.api.conftest import Server

from anju.cli.serve_cmds import build_demo

UNITS = 8
LANGS = ("zh", "en")
# What a template shows when it was handed a value it did not expect: Python's None, a dict's repr,
# a missing translation's placeholder, or an error page.
BROKEN = re.compile(r">\s*None\s*<|\{'|%\(\w+\)s|Traceback|Internal Server Error")


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, list[str]], list[dict]]]:
    data = tmp_path_factory.mktemp("crawl") / "demo"
    build_demo(data, UNITS, quiet=True)
    db = sqlite3.connect(f"file:{data / 'ledger.db'}?mode=ro", uri=True)

    def ids(prefix: str, field: str = "id") -> list[str]:
        sql = f"SELECT json_extract(value, '$.{field}') FROM state WHERE key LIKE '{prefix}/%' ORDER BY key"
        return [str(r[0]) for r in db.execute(sql) if r[0] is not None]

    found = {
        "listing": ids("listing"),
        "code": ids("listing", "code"),
        "party": ids("party"),
        "lease": ids("lease"),
        "registration": ids("registration", "number"),
    }
    db.close()
    manifest = json.loads((data / "demo-parties.json").read_text())["parties"]
    server = Server(data, cli=True)
    try:
        yield server, found, manifest
    finally:
        server.stop()


def _get(client: httpx.Client, path: str, lang: str, status: int = 200) -> str:
    resp = client.get(f"{path}{'&' if '?' in path else '?'}lang={lang}")  # (params= would drop path's query)
    assert resp.status_code == status, f"{path} ({lang}): {resp.status_code}"
    text = resp.text
    bad = BROKEN.search(text)
    assert bad is None, f"{path} ({lang}) shows {bad.group(0)!r}"
    return text


def test_every_public_page_renders(district: tuple[Server, dict[str, list[str]], list[dict]]) -> None:
    server, found, _ = district
    assert len(found["listing"]) > 10 and len(found["party"]) > 10 and found["registration"]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for lang in LANGS:
            for path in ("/", "/district", "/signin", "/check"):
                _get(client, path, lang)
            for lid, code in zip(found["listing"], found["code"], strict=True):
                assert code in _get(client, f"/listing/{lid}", lang)
                assert code in _get(client, f"/check?code={code}", lang)
            for pid in found["party"]:
                assert pid in _get(client, f"/party/{pid}", lang)
            for number in found["registration"]:
                assert number in _get(client, f"/registration?number={number}", lang)
            _get(client, "/listing/" + "0" * 16, lang, 404)
            _get(client, "/party/" + "ab" * 32, lang, 404)


def test_every_party_sees_its_own_pages(district: tuple[Server, dict[str, list[str]], list[dict]]) -> None:
    server, found, manifest = district
    assert {p["role"] for p in manifest} >= {"authority", "landlord", "tenant", "agency"}
    leases_seen = 0
    for party in manifest:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            resp = client.post("/signin/demo", data={"party": party["key"]})
            assert resp.status_code == 303, (party["name"], resp.text[:300])
            for lang in LANGS:
                me = _get(client, "/me", lang)
                assert party["key"] in me
                # every lease the page links to opens for this party
                for lid in sorted(set(re.findall(r'href="/lease/([0-9a-f]{16})"', me))):
                    _get(client, f"/lease/{lid}", lang)
                    leases_seen += 1
            if party["role"] == "authority":  # the authority may open every lease of the district
                for lid in found["lease"]:
                    for lang in LANGS:
                        _get(client, f"/lease/{lid}", lang)
    assert leases_seen > 0


def test_a_listing_names_the_agent_who_published_it_and_its_qr_code_says_what_it_holds(
    district: tuple[Server, dict[str, list[str]], list[dict]],
) -> None:
    """The verification panel names the agency's agent behind a listing (as `anju check` does), and
    the QR code is named, in the reader's language, by the link it holds (it was "QR" in both)."""
    server, _found, _ = district
    db = sqlite3.connect(f"file:{server.data / 'ledger.db'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT json_extract(value, '$.id'), json_extract(value, '$.code'), json_extract(value, '$.agent') "
        "FROM state WHERE key LIKE 'listing/%' ORDER BY key"
    ).fetchall()
    db.close()
    assert any(agent for _l, _c, agent in rows) and any(not agent for _l, _c, agent in rows)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for lid, code, agent in rows:
            for lang, qr_name in (
                ("en", "QR code of this listing's verification link: "),
                ("zh", "本房源核验链接的二维码："),
            ):
                for page in (_get(client, f"/listing/{lid}", lang), _get(client, f"/check?code={code}", lang)):
                    line = re.search(r'<span id="listing-agent">(.*?)</span>', page, re.S)
                    if agent:
                        assert line and f'href="/party/{agent}"' in line.group(1), (lid, lang)
                    else:
                        assert line is None, (lid, lang)
                listing = _get(client, f"/listing/{lid}", lang)
                assert f"<title>{qr_name}{server.url}/check?code={code}</title>" in listing, (lid, lang)
