"""The registry over HTTP: the demo district replayed through the SDK (every kind), then every
registry query, listing verification (honest and lying server), bundles and ``anju check``."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.conftest import Server
from tests.api.test_events import read_events
from typer.testing import CliRunner

from anju.chain.node import init_ledger
from anju.cli.main import app
from anju.client import AnjuClient, VerifiedHistory, VerifiedListing, VerifiedRegistration, verify_bundle
from anju.crypto.keys import SigningKey
from anju.demo.generate import generate
from anju.errors import TxRejected, VerificationError
from anju.ledger.checkpoint import Checkpoint
from anju.registry.dates import add_days
from anju.registry.edition import RULES
from anju.registry.kinds import KINDS

UNITS = 8
H = hashlib.sha256(b"evidence").hexdigest()


class World:
    def __init__(
        self, server: Server, client: AnjuClient, keys: dict[str, SigningKey], end: str, extra: dict[str, Any]
    ) -> None:
        self.server, self.client, self.keys, self.end, self.extra = server, client, keys, end, extra


def _set_clock(path: Path, when: str) -> None:
    path.write_text(when)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("registry")
    demo = generate("anju-demo", UNITS, chain="anju-demo")
    data = init_ledger(
        base / "node",
        chain_id=demo.chain,
        app="anju-registry",
        params=demo.genesis,
        genesis_time=demo.start + "T00:00:00.000Z",
    )
    clock = base / "clock"
    server = Server(data, "--clock-file", str(clock), "--block-interval", "0.02")
    client = AnjuClient(server.url, server.vkey)
    try:  # (a setup that fails stops its server too)
        seen: set[str] = set()
        when = demo.start
        # every demo transaction goes through the SDK and HTTP; a block's last one waits for commit
        for when, envs in demo.blocks():
            _set_clock(clock, when)
            for i, e in enumerate(envs):
                seen.add(e["body"]["kind"])
                rec = client.submit(e, wait=(i == len(envs) - 1))
                assert rec["status"] in ("pending", "committed")
        keys = {p.name: SigningKey(bytes.fromhex(p.seed_hex)) for p in demo.manifest}
        by_role = {p.role: SigningKey(bytes.fromhex(p.seed_hex)) for p in demo.manifest}
        keys.update({f"role:{r}": k for r, k in by_role.items()})
        end = add_days(when[:10], 1)
        _set_clock(clock, end + "T09:00:00.000Z")
        extra = _remaining_kinds(client, demo, keys, end, seen)
        assert seen == set(KINDS), sorted(set(KINDS) - seen)
        yield World(server, client, keys, end, extra)
    finally:
        client.close()
        server.stop()


def _remaining_kinds(
    client: AnjuClient, demo: Any, keys: dict[str, SigningKey], end: str, seen: set[str]
) -> dict[str, Any]:
    """The kinds the small demo does not produce, driven through the SDK at the demo's end date."""
    authority = next(SigningKey(bytes.fromhex(p.seed_hex)) for p in demo.manifest if p.role == "authority")
    agency_p = next(p for p in demo.manifest if p.role == "agency")
    agency = SigningKey(bytes.fromhex(agency_p.seed_hex))
    agent = next(
        SigningKey(bytes.fromhex(p.seed_hex))
        for p in demo.manifest
        if p.role == "agent" and p.name.startswith("经纪人")
    )
    owner = next(SigningKey(bytes.fromhex(p.seed_hex)) for p in demo.manifest if p.role == "landlord")

    def send(kind: str, key: SigningKey, **fields: Any) -> dict[str, Any]:
        seen.add(kind)
        rec = client.send(kind, key, fields)
        assert rec["status"] == "committed", rec
        return rec

    bank = SigningKey.generate()
    send("party.register", bank, role="bank", commitment=H, name="测试银行")
    send("authority.license_bank", authority, party=bank.public_hex, licence=H)
    send("authority.suspend", authority, party=bank.public_hex, reason_hash=H)
    send("authority.reinstate", authority, party=bank.public_hex, reason_hash=H)
    send("authority.revoke_licence", authority, party=bank.public_hex, reason_hash=H)
    send("authority.license_bank", authority, party=bank.public_hex, licence=H)  # recognised again
    # The demo runs the newest edition, so adopting it again is refused, through the same round trip
    # (tests/chain/test_rules_edition_open.py commits an adoption on an older chain).
    seen.add("authority.adopt_rules")
    with pytest.raises(TxRejected) as refused:
        client.send("authority.adopt_rules", authority, {"rules": RULES, "reason_hash": H})
    assert refused.value.code == "ALREADY_DONE" and refused.value.details["rules"] == RULES
    # a fresh unit, mandate and listing: published, renewed, withdrawn; the mandate revoked
    unit = send(
        "unit.register",
        owner,
        district="徐汇区",
        street="衡山路",
        neighbourhood="衡山坊",
        address_commitment=H,
        floor_area_m2=68,
        rooms=2,
    )["txid"][:16]
    send("title.attest", authority, unit=unit, certificate_commitment=hashlib.sha256(unit.encode()).hexdigest())
    mandate = send(
        "mandate.grant",
        owner,
        unit=unit,
        agency=agency.public_hex,
        exclusive=False,
        **{"from": end},
        to=add_days(end, 180),
        may_sign=True,
        min_rent=800_000,
    )["txid"][:16]
    listing = send(
        "listing.publish",
        agency,
        unit=unit,
        mandate=mandate,
        rent=950_000,
        deposit=950_000,
        available_from=add_days(end, 10),
        min_term_months=12,
        description="南北通透两居室",
        photos=[H],
    )["txid"][:16]
    send("listing.renew", agency, listing=listing)
    code = client.record(f"/listings/{listing}").value["code"]
    live = client.verify_listing(code, date=end)
    send("listing.withdraw", agency, listing=listing)
    send("mandate.revoke", owner, mandate=mandate)
    send("agency.dismiss_agent", agency, agent=agent.public_hex)
    return {
        "unit": unit,
        "listing": listing,
        "code": code,
        "live": live,
        "owner": owner,
        "agency": agency,
        "authority": authority,
    }


def test_every_kind_round_trips_and_state_matches_local_replay(world: World, tmp_path: Path) -> None:
    # the HTTP-built ledger holds every demo transaction: same count as a local replay
    from anju.cli.serve_cmds import build_demo

    stats = build_demo(tmp_path / "local", UNITS, quiet=True, start=generate("anju-demo", UNITS).start)
    info = world.server.http.get("/api/v1/node").json()
    assert info["tree_size"] == stats["transactions"] + 14  # nothing the demo sent was rejected (+ _remaining_kinds)
    # the first demo transactions are at the same log positions with the same ids
    blk = world.server.http.get("/api/v1/blocks/1").json()
    local = json.loads((tmp_path / "local" / "demo-parties.json").read_text())
    assert local["units"] == UNITS and blk["txids"]


def test_listing_verification(world: World) -> None:
    live: VerifiedListing = world.extra["live"]
    assert live.status == "live" and live.listing["publisher_role"] == "agency" and live.mandate is not None
    after = world.client.verify_listing(world.extra["code"], date=world.end)
    assert after.status == "withdrawn"
    # a demo listing by code, as a listing site would check it ("no code, no ad")
    page = world.server.http.get("/api/v1/listings", params={"include_inactive": "true", "limit": 5}).json()
    assert page["listings"]
    code = page["listings"][0]["listing"]["code"]
    v = world.client.verify_listing(code.lower()[:5] + "-" + code[5:])
    assert v.code == code and v.title["unit"] == v.unit["id"]
    r = world.server.http.get("/api/v1/codes/0000000000")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = world.server.http.get("/api/v1/codes/not-a-code!")
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST"


def test_search_units_parties_leases(world: World) -> None:
    h = world.server.http
    page = h.get("/api/v1/listings", params={"street": "衡山路", "include_inactive": "true"}).json()
    assert all(item["listing"]["street"] == "衡山路" for item in page["listings"])
    cheap = h.get("/api/v1/listings", params={"max_rent": 1, "include_inactive": "true"}).json()
    assert cheap["listings"] == []
    for name in ("min_rent", "max_rent", "rooms", "min_area", "max_area", "limit"):
        r = h.get("/api/v1/listings", params={name: "1_0"})  # not read as 10
        assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST", name
        r = h.get(f"/api/v1/listings?{name}=1&{name}=2")  # given twice
        assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_REQUEST", name
    p1 = h.get("/api/v1/listings", params={"include_inactive": "true", "limit": 2}).json()
    if p1["next"]:
        p2 = h.get("/api/v1/listings", params={"include_inactive": "true", "limit": 2, "cursor": p1["next"]}).json()
        assert p2["listings"][0]["id"] > p1["listings"][-1]["id"]
    unit = world.extra["unit"]
    u = world.client.record(f"/units/{unit}")
    assert u.value["id"] == unit and u.value["title"]
    demo_unit = h.get("/api/v1/listings", params={"include_inactive": "true", "limit": 1}).json()["listings"][0]
    leases = h.get(f"/api/v1/units/{demo_unit['listing']['unit']}/leases").json()
    assert leases["unit"] == demo_unit["listing"]["unit"]
    for lease in leases["leases"]:
        assert world.client.record(f"/leases/{lease['id']}").value["unit"] == leases["unit"]
    owner = world.extra["owner"].public_hex
    party = world.client.record(f"/parties/{owner}")
    assert party.value["role"] == "landlord"
    credit = h.get(f"/api/v1/parties/{owner}/credit").json()
    assert credit["party"] == owner and "score" in credit["explanation"]
    assert h.get("/api/v1/parties/" + "ab" * 32).json()["error"]["code"] == "NOT_FOUND"
    assert h.get("/api/v1/units/zz").json()["error"]["code"] == "BAD_REQUEST"
    assert h.get("/api/v1/units/" + "0" * 16 + "/leases").json()["error"]["code"] == "NOT_FOUND"


def test_history_bundle_proves_the_archived_credit_chunks(world: World) -> None:
    """A long-standing tenant's older credit entries live in chunks: the bundle proves them, and a
    bundle that leaves one out no longer verifies (the score would rest on entries nobody sees)."""
    db = sqlite3.connect(f"file:{world.server.data / 'ledger.db'}?mode=ro", uri=True)
    rows = db.execute("SELECT key FROM state WHERE key LIKE 'credit/%/%/0' ORDER BY key").fetchall()
    db.close()
    assert rows, "the demo district has no party with archived credit entries"
    party, factor = rows[0][0].split("/")[1:3]
    credit = world.server.http.get(f"/api/v1/parties/{party}/credit").json()
    assert credit["archived"][factor][0] == f"credit/{party}/{factor}/0"
    record = credit["credit"]["factors"][factor]
    assert record["count"] > len(record["entries"])
    bundle = world.server.http.get(f"/api/v1/parties/{party}/history").json()
    keys = [e["key"] for e in bundle["state"]]
    assert f"credit/{party}/{factor}/0" in keys and "meta/registry" in keys
    result = verify_bundle(bundle, world.server.vkey)
    assert isinstance(result, VerifiedHistory) and result.score == credit["credit"]["score"]
    # every entry's transaction is proven, the archived ones too
    chunk = next(e["value"] for e in bundle["state"] if e["key"] == f"credit/{party}/{factor}/0")
    assert {txid for txid, _ in chunk["entries"]} <= {t["txid"] for t in bundle["txs"]}
    cut = {**bundle, "state": [e for e in bundle["state"] if e["key"] != f"credit/{party}/{factor}/0"]}
    with pytest.raises(VerificationError, match="incomplete"):
        verify_bundle(cut, world.server.vkey)
    # each chunk is proven on its own too
    state = world.server.http.get(f"/api/v1/state/credit/{party}/{factor}/0").json()
    assert state["value"] == chunk and state["proof"]


def test_history_bundle_of_a_tenant_who_renewed(world: World) -> None:
    """A renewed lease was signed with lease.renew (naming the lease it continues), not lease.sign."""
    db = sqlite3.connect(f"file:{world.server.data / 'ledger.db'}?mode=ro", uri=True)
    row = db.execute(
        "SELECT json_extract(value, '$.tenant'), json_extract(value, '$.previous') FROM state "
        "WHERE key LIKE 'lease/%' AND json_extract(value, '$.previous') IS NOT NULL LIMIT 1"
    ).fetchone()
    db.close()
    assert row, "the demo district has no renewed lease"
    tenant, previous = row
    result = verify_bundle(world.server.http.get(f"/api/v1/parties/{tenant}/history").json(), world.server.vkey)
    assert isinstance(result, VerifiedHistory)
    assert previous in {lease["id"] for lease in result.leases}
    assert any(lease.get("previous") == previous for lease in result.leases)


def test_every_listing_and_every_tenant_of_the_district_verifies(world: World) -> None:
    """Not one hand-picked example: every listing code of the district (every status it reached) and
    every tenant's history verify offline, and the SDK concludes what the server claims."""
    h = world.server.http
    db = sqlite3.connect(f"file:{world.server.data / 'ledger.db'}?mode=ro", uri=True)
    codes = [r[0] for r in db.execute("SELECT json_extract(value, '$.code') FROM state WHERE key LIKE 'listing/%'")]
    role = "json_extract(value, '$.role')"
    tenants = [
        r[0] for r in db.execute(f"SELECT substr(key, 7) FROM state WHERE key LIKE 'party/%' AND {role}='tenant'")
    ]
    leases_of = dict(
        db.execute(
            "SELECT json_extract(value, '$.tenant'), count(*) FROM state WHERE key LIKE 'lease/%' GROUP BY 1"
        ).fetchall()
    )
    db.close()
    assert len(codes) > 10 and len(tenants) > 5
    statuses: set[str] = set()
    for code in codes:
        bundle = h.get(f"/api/v1/codes/{code}").json()
        claims = bundle["claims"]
        v = verify_bundle(bundle, world.server.vkey, date=claims["date"])
        assert isinstance(v, VerifiedListing) and v.code == code
        assert (v.status, v.reason) == (claims["status"], claims["reason"]), code
        statuses.add(v.status)
    assert {"live", "withdrawn"} <= statuses or len(statuses) >= 2, statuses
    refused = 0
    for tenant in tenants:
        bundle = h.get(f"/api/v1/parties/{tenant}/history").json()
        result = verify_bundle(bundle, world.server.vkey)
        assert isinstance(result, VerifiedHistory)
        assert result.score == (bundle["claims"]["score"] or 600)
        assert len(result.leases) == leases_of.get(tenant, 0)
        counts = result.payment_counts
        assert sum(counts.values()) == len(result.payments)
        refused += counts["refused"]
    assert refused >= 1  # the demo's bounced transfers, refused by their receivers (payment.refuse)


def test_history_bundle_offline_and_cli(world: World, tmp_path: Path) -> None:
    tenant = world.keys["role:tenant"].public_hex
    bundle = world.server.http.get(f"/api/v1/parties/{tenant}/history").json()
    result = verify_bundle(bundle, world.server.vkey)  # no network
    assert isinstance(result, VerifiedHistory) and result.party == tenant
    assert result.score == bundle["claims"]["score"] or bundle["claims"]["score"] is None
    path = tmp_path / "history.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False))
    run = [sys.executable, "-c", "from anju.cli.main import app; app()", "check"]
    out = subprocess.run(
        [*run, str(path), "--key", world.server.vkey, "--json"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["kind"] == "history"
    assert json.loads(out.stdout)["payments_by_receiver"] == result.payment_counts
    # consortium trust: two member keys and a threshold of two refuse a note only one of them signed
    from anju.crypto.keys import SigningKey
    from anju.ledger.note import vkey_of

    other = vkey_of(world.server.vkey.split("+")[0] + "/member2", SigningKey(b"m" * 32).public)
    members = ["--key", world.server.vkey, "--key", other]
    out = subprocess.run([*run, str(path), *members, "--threshold", "2", "--json"], capture_output=True, text=True)
    assert out.returncode == 1 and json.loads(out.stdout)["error"]["code"] == "CHECKPOINT_INVALID", out.stdout
    out = subprocess.run([*run, str(path), *members, "--threshold", "1", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # tampering with any proven record is caught
    bad = json.loads(path.read_text())
    for entry in bad["state"]:
        if entry["key"].startswith("credit/") and entry["value"]:
            entry["value"]["score"] += 100
            break
    else:
        bad["state"][0]["value"]["role"] = "authority"
    path.write_text(json.dumps(bad))
    out = subprocess.run(
        [*run, str(path), "--key", world.server.vkey, "--json"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1 and json.loads(out.stdout)["error"]["code"] == "PROOF_INVALID"
    with pytest.raises(VerificationError):
        verify_bundle(bad, world.server.vkey)
    # anju check CODE against the live server
    out = subprocess.run(
        [
            *run,
            world.extra["code"],
            "--server",
            world.server.url,
            "--key",
            world.server.vkey,
            "--date",
            world.end,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    checked = json.loads(out.stdout)
    assert checked["status"] == "withdrawn" and checked["as_of"].startswith(world.end)  # the proof's age


def test_registry_codes_reach_a_client_that_never_imports_the_registry(world: World, tmp_path: Path) -> None:
    """`anju tx send` (and the SDK in a process of its own, which never imports anju.registry) got
    BAD_REQUEST with "WRONG_ROLE: only the housing authority…" as its message: the registry's codes
    are registered only where the registry is imported. The node's own code comes through."""
    tenant, authority = world.keys["role:tenant"], world.keys["role:authority"]
    files = {}
    for name, key in (("tenant", tenant), ("authority", authority)):
        files[name] = tmp_path / f"{name}.key"
        files[name].write_text(key.seed.hex())
    stranger = SigningKey(hashlib.sha256(b"anju-never-registered").digest()).public_hex
    files["newbank"] = tmp_path / "newbank.key"
    files["newbank"].write_text(hashlib.sha256(b"anju-bank-with-an-e-mail").hexdigest())
    named = {"role": "bank", "commitment": H, "name": "建设银行 service@bank.example"}  # rules edition 9
    cases = [
        ("newbank", "party.register", named, "PERSONAL_DATA", 400),
        ("tenant", "authority.attest_identity", {"party": tenant.public_hex, "commitment": H}, "WRONG_ROLE", 403),
        ("tenant", "party.register", {"role": "tenant", "commitment": H}, "ALREADY_REGISTERED", 409),
        ("authority", "authority.attest_identity", {"party": stranger, "commitment": H}, "UNKNOWN_REFERENCE", 422),
    ]
    for who, kind, fields, code, status in cases:
        args = [sys.executable, "-c", "from anju.cli.main import app; app()", "tx", "send", "--kind", kind]
        args += ["--key", str(files[who]), "--server", world.server.url, "--json"]
        args += [a for k, v in fields.items() for a in ("--field", f"{k}={v}")]
        out = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1, out.stdout + out.stderr
        error = json.loads(out.stdout)["error"]
        assert error["code"] == code and not error["message"].startswith(code), error
        sdk = (
            "import sys\n"
            "from anju.client import AnjuClient, load_key\n"
            "from anju.errors import AnjuError\n"
            "c = AnjuClient(sys.argv[1], sys.argv[2])\n"
            "try:\n"
            "    c.send(sys.argv[3], load_key(sys.argv[4]), dict(a.split('=', 1) for a in sys.argv[5:]))\n"
            "except AnjuError as e:\n"
            "    print(type(e).__name__, e.code, e.http_status, 'anju.registry' in sys.modules)\n"
        )
        argv = [world.server.url, world.server.vkey, kind, str(files[who]), *(f"{k}={v}" for k, v in fields.items())]
        out = subprocess.run([sys.executable, "-c", sdk, *argv], capture_output=True, text=True, timeout=60)
        assert out.stdout.split() == ["TxRejected", code, str(status), "False"], out.stdout + out.stderr


def test_check_remembers_the_checkpoint_between_runs(world: World, tmp_path: Path) -> None:
    """``anju check --remember FILE``: the first run writes the checkpoint it verified, the next
    starts from it; a file the trusted key did not sign is refused, not overwritten."""
    memory = tmp_path / "seen.note"
    argv = ["check", world.extra["code"], "--server", world.server.url, "--key", world.server.vkey]
    first = CliRunner().invoke(app, [*argv, "--remember", str(memory), "--json"])
    assert first.exit_code == 0, first.output
    held = memory.read_text()
    assert f"\n{json.loads(first.stdout)['checkpoint']['size']}\n" in held and held.endswith("\n")
    again = CliRunner().invoke(app, [*argv, "--remember", str(memory), "--json"])
    assert again.exit_code == 0, again.output
    foreign = Checkpoint.from_text(held.split("\n\n", 1)[0] + "\n").sign(SigningKey(b"z" * 32), "anju-other")
    memory.write_text(foreign)
    refused = CliRunner().invoke(app, [*argv, "--remember", str(memory), "--json"])
    assert refused.exit_code == 1 and json.loads(refused.stdout)["error"]["details"]["reason"] == "remembered"
    assert memory.read_text() == foreign


def test_a_listing_is_not_judged_before_its_proofs_checkpoint(world: World) -> None:
    """The status is judged from the listing's record as of the proof's checkpoint, which keeps no
    earlier state: an earlier --date is refused rather than answered "live" (perhaps before the
    listing was even published)."""
    code = world.extra["code"]
    at = world.client.verify_listing(code, world.end)
    assert at.checkpoint.time.startswith(world.end)
    before = add_days(world.end, -1)
    with pytest.raises(VerificationError) as info:
        world.client.verify_listing(code, before)
    assert info.value.code == "BAD_REQUEST" and info.value.details["reason"] == "date_before_checkpoint"
    result = CliRunner().invoke(
        app, ["check", code, "--server", world.server.url, "--key", world.server.vkey, "--date", before, "--json"]
    )
    assert result.exit_code == 1 and json.loads(result.stdout)["error"]["details"]["as_of"] == at.checkpoint.time
    later = add_days(world.end, 400)  # a later date: judged (the code has expired by then, if nothing else)
    assert world.client.verify_listing(code, later).status != "live"


def test_owner_is_told_when_an_agency_acts(world: World) -> None:
    owner, agency = world.extra["owner"], world.extra["agency"]
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.extend(read_events(world.server, 2, {}, {"party": owner.public_hex})))
    t.start()
    import time

    time.sleep(0.5)
    unit = world.extra["unit"]
    mandate = world.client.send(
        "mandate.grant",
        owner,
        {
            "unit": unit,
            "agency": agency.public_hex,
            "exclusive": False,
            "from": world.end,
            "to": add_days(world.end, 90),
            "may_sign": False,
            "min_rent": 1,
        },
    )["txid"][:16]
    world.client.send(
        "listing.publish",
        agency,
        {
            "unit": unit,
            "mandate": mandate,
            "rent": 900_000,
            "deposit": 0,
            "available_from": add_days(world.end, 5),
            "min_term_months": 6,
            "description": "x",
            "photos": [],
        },
    )
    t.join(30)
    kinds = [e["kind"] for e in got]
    assert len(kinds) == 2 and any(k.startswith("listing.") for k in kinds), kinds


def test_lying_server_listing_rejected(world: World, tmp_path: Path) -> None:
    bundle = world.server.http.get(f"/api/v1/codes/{world.extra['code']}").json()
    for entry in bundle["state"]:
        if entry["key"].startswith("listing/"):
            entry["value"]["rent"] //= 2
    with pytest.raises(VerificationError):
        verify_bundle(bundle, world.server.vkey)
    # the same lie told by a whole server process, over a copy of the ledger
    liar = Server(_copy_ledger(world, tmp_path / "copy"), "--lie", "value")
    try:
        client = AnjuClient(liar.url, world.server.vkey)
        with pytest.raises(VerificationError) as info:
            client.verify_listing(world.extra["code"], date=world.end)
        assert info.value.code == "PROOF_INVALID"
        client.close()
    finally:
        liar.stop()
    assert httpx.get(world.server.url + "/openapi.json").json()["paths"]["/api/v1/codes/{code}"]


def test_unit_and_listing_filters_find_the_same_events_as_a_scan(world: World) -> None:
    """The event index (parties, units, listings) agrees with filtering every event, on a registry."""
    h = world.server.http
    every, after = [], 0
    while True:
        page = h.get("/api/v1/events", params={"format": "json", "after": after, "limit": 1000}).json()
        every += page["events"]
        after = page["last_id"]
        if not page["more"]:
            break
    units = {u for e in every for u in e["units"]}
    listings = {x for e in every for x in e["listings"]}
    assert units and listings
    for name, field, values in (("unit", "units", sorted(units)[:5]), ("listing", "listings", sorted(listings)[:5])):
        for value in values:
            got = h.get("/api/v1/events", params={"format": "json", "after": 0, name: value, "limit": 1000}).json()
            assert [e["id"] for e in got["events"]] == [e["id"] for e in every if value in e[field]], (name, value)
    pair = sorted(units)[:2]
    got = h.get("/api/v1/events", params={"format": "json", "after": 0, "unit": ",".join(pair), "limit": 1000}).json()
    assert [e["id"] for e in got["events"]] == [e["id"] for e in every if set(pair) & set(e["units"])]


def test_a_server_answering_with_another_codes_bundle_is_refused(world: World) -> None:
    """Every bundle of a genuine listing verifies; the client checks it is the one it asked for
    (a server could otherwise vouch for a fake code with a real listing's proofs)."""
    page = world.server.http.get("/api/v1/listings", params={"include_inactive": "true", "limit": 100}).json()
    codes = sorted({item["listing"]["code"] for item in page["listings"]} - {world.extra["code"]})
    assert codes
    client = AnjuClient(world.server.url, world.server.vkey)
    other = client.listing_bundle(codes[0])
    client.listing_bundle = lambda code: other  # type: ignore[method-assign]
    with pytest.raises(VerificationError) as info:
        client.verify_listing(world.extra["code"], date=world.end)
    assert info.value.code == "PROOF_INVALID" and info.value.details["got"] == codes[0]
    assert client.verify_listing(codes[0].lower(), date=world.end).code == codes[0]  # typed any way: its own
    with pytest.raises(VerificationError) as info:
        client.verify_listing("not a code")
    assert info.value.code == "BAD_REQUEST"
    client.close()


def _registrations(world: World) -> list[tuple[str, dict[str, Any]]]:
    db = sqlite3.connect(f"file:{world.server.data / 'ledger.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT value FROM state WHERE key LIKE 'registration/%' ORDER BY key").fetchall()
        out = []
        for (value,) in rows:
            reg = json.loads(value)
            lease = json.loads(
                db.execute("SELECT value FROM state WHERE key=?", (f"lease/{reg['lease']}",)).fetchone()[0]
            )
            out.append((reg["number"], lease))
        return out
    finally:
        db.close()


def test_every_lease_registration_verifies_as_proof_of_residence(world: World, tmp_path: Path) -> None:
    from anju.registry.status import lease_phase

    regs = _registrations(world)
    assert len(regs) >= 5
    assert any(lease.get("termination") for _, lease in regs) and any(lease.get("previous") for _, lease in regs)
    client = AnjuClient(world.server.url, world.server.vkey)
    for number, lease in regs:
        v = client.verify_registration(number, date=world.end)
        assert v.lease["id"] == lease["id"] and v.phase == lease_phase(lease, world.end), number
        assert v.unit["street"] and "address_commitment" not in v.unit
    number, lease = regs[0]
    bundle = client.registration_bundle(number)
    assert verify_bundle(bundle, world.server.vkey, world.end).number == number  # type: ignore[union-attr]
    other = client.registration_bundle(regs[1][0])
    client.registration_bundle = lambda n: other  # type: ignore[method-assign]
    with pytest.raises(VerificationError) as info:
        client.verify_registration(number)
    assert info.value.code == "PROOF_INVALID"
    client.close()
    for edit in ("dates", "no register tx", "not the authority"):
        bad = json.loads(json.dumps(bundle))
        if edit == "dates":
            next(e for e in bad["state"] if e["key"].startswith("lease/"))["value"]["ends_on"] = "2099-12-31"
        elif edit == "no register tx":
            bad["txs"] = [t for t in bad["txs"] if t["txid"] != lease["registration"]["tx"]]
        else:
            next(e for e in bad["state"] if e["key"] == "meta/registry")["value"]["authority"] = "ab" * 32
        with pytest.raises(VerificationError) as info:
            verify_bundle(bad, world.server.vkey, world.end)
        assert info.value.code == "PROOF_INVALID", edit
    assert world.server.http.get("/api/v1/registrations/XH209900000001").status_code == 404
    assert world.server.http.get("/api/v1/registrations/XH2026").status_code == 400
    out = subprocess.run(
        [sys.executable, "-c", "from anju.cli.main import app; app()", "check", number, "--server", world.server.url,
         "--key", world.server.vkey, "--date", world.end, "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["lease"] == lease["id"] and json.loads(out.stdout)["kind"] == "registration"


def test_a_tenant_discloses_their_identity_in_their_history_bundle(world: World, tmp_path: Path) -> None:
    """The ledger holds only a salted commitment to who a tenant is; the tenant may add the text and
    its salt to their own history bundle, and the landlord's check proves it opens the commitment."""
    from anju.client import disclose
    from anju.crypto.commitments import commit

    identity = "李雷 Li Lei, 身份证 310101199001011234"
    salt, commitment = commit(identity)
    tenant = SigningKey(hashlib.sha256(b"anju-disclosure-test").digest())
    world.client.send("party.register", tenant, role="tenant", commitment=commitment)
    world.client.send("authority.attest_identity", world.keys["role:authority"], party=tenant.public_hex,
                      commitment=commitment)  # fmt: skip
    bundle = world.client.history(tenant.public_hex)
    assert verify_bundle(bundle, world.server.vkey).identity is None  # nothing disclosed by default
    shown = disclose(bundle, identity, salt)
    result = verify_bundle(shown, world.server.vkey)
    assert isinstance(result, VerifiedHistory) and result.identity == identity
    assert result.identity_attested  # the authority attested this party: the text names its holder
    assert disclose(bundle, identity, salt.upper())["disclosure"]["salt"] == salt  # written as the schema says
    with pytest.raises(ValueError):
        disclose(bundle, identity + " ", salt)  # the tenant hears at once that it does not open
    upper = {"identity": identity, "salt": salt.upper()}  # opens, but not as the format says
    for forged in ({"identity": "王五 Wang Wu", "salt": salt}, {"identity": identity}, "me", None, upper):
        bad = {**bundle, "disclosure": forged}
        with pytest.raises(VerificationError) as err:
            verify_bundle(bad, world.server.vkey)
        assert err.value.code == "PROOF_INVALID"
    page = world.server.http.get("/api/v1/listings", params={"include_inactive": "true", "limit": 1}).json()
    listing = world.client.listing_bundle(page["listings"][0]["listing"]["code"])
    with pytest.raises(VerificationError):  # a disclosure belongs to a history bundle only
        verify_bundle({**listing, "disclosure": {"identity": identity, "salt": salt}}, world.server.vkey)
    # the command line: the tenant adds it, the landlord checks it
    path = tmp_path / "history.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False))
    run = [sys.executable, "-c", "from anju.cli.main import app; app()"]
    out = subprocess.run(
        [*run, "keys", "disclose", str(path), "--salt", salt, "--identity", identity, "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    written = Path(json.loads(out.stdout)["written"])
    assert written.name == "history.disclosed.json"
    out = subprocess.run(
        [*run, "check", str(written), "--key", world.server.vkey, "--json"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    checked = json.loads(out.stdout)
    assert (checked["identity"], checked["identity_attested"]) == (identity, True)
    out = subprocess.run(
        [*run, "keys", "disclose", str(path), "--salt", salt, "--identity", "someone else"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1 and "do not open" in out.stdout + out.stderr
    for where, says in ((tmp_path / "no-such-dir" / "x.json", "is not a directory"), (tmp_path, "exists")):
        out = subprocess.run(
            [*run, "keys", "disclose", str(path), "--salt", salt, "--identity", identity, "--out", str(where)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr, out.stderr
    # an identity on a record the authority never attested is shown as a claim; markup in it is text
    claim = "[green]VERIFIED[/green] 王五 Wang Wu"
    salt2, commitment2 = commit(claim)
    stranger = SigningKey(hashlib.sha256(b"anju-disclosure-test/2").digest())
    world.client.send("party.register", stranger, role="tenant", commitment=commitment2)
    path2 = tmp_path / "stranger.json"
    path2.write_text(json.dumps(disclose(world.client.history(stranger.public_hex), claim, salt2), ensure_ascii=False))
    out = subprocess.run([*run, "check", str(path2), "--key", world.server.vkey], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    shown = out.stdout  # the human summary is the answer: stdout
    assert "NOT attested by the housing authority" in shown and claim in shown


def _signer(world: World) -> SigningKey:
    """The node's own key: a lying checkpoint signer can sign any state, not the parties' transactions."""
    from anju.chain.node import read_node_key

    return read_node_key(world.server.data)


def _resigned(world: World, bundle: dict[str, Any], edit: dict[str, Any], subject: str | None = None) -> Any:
    from tests.client.forge import resign

    forged = resign(bundle, _signer(world), edit)
    return {**forged, "subject": subject or forged["subject"]}


def _value(bundle: dict[str, Any], prefix: str) -> dict[str, Any]:
    return json.loads(json.dumps(next(e["value"] for e in bundle["state"] if e["key"].startswith(prefix))))


def test_a_lying_signer_cannot_relabel_or_rewrite_a_listing(world: World) -> None:
    """Every record of a listing bundle is bound to the transaction that made it: the listing's id and
    code to its listing.publish, its terms to that body, its unit to the owner's unit.register."""
    from anju.client.verify import code_candidates

    code = world.extra["code"]
    bundle = world.server.http.get(f"/api/v1/codes/{code}").json()
    assert verify_bundle(_resigned(world, bundle, {}), world.server.vkey, world.end).code == code  # type: ignore[union-attr]
    listing, unit = _value(bundle, "listing/"), _value(bundle, "unit/")
    lid, uid = listing["id"], unit["id"]
    fake = "7K3QD9XH2B"  # a code printed on a fake poster, pointed at this genuine listing
    other = "f" * 16
    lies = {
        "another code": (
            {f"code/{fake}": {"code": fake, "listing": lid}, f"listing/{lid}": {**listing, "code": fake}},
            fake,
        ),
        "another id": (
            {f"code/{code}": {"code": code, "listing": other}, f"listing/{other}": {**listing, "id": other}},
            code,
        ),
        "half the rent": ({f"listing/{lid}": {**listing, "rent": listing["rent"] // 2}}, code),
        "another deposit": ({f"listing/{lid}": {**listing, "deposit": 0}}, code),
        "another street": (
            {f"unit/{uid}": {**unit, "street": "淮海中路"}, f"listing/{lid}": {**listing, "street": "淮海中路"}},
            code,
        ),
        "a bigger flat": ({f"listing/{lid}": {**listing, "floor_area_m2": 200}}, code),
    }
    for name, (edit, subject) in lies.items():
        with pytest.raises(VerificationError) as info:
            verify_bundle(_resigned(world, bundle, edit, subject), world.server.vkey, world.end)
        assert info.value.code == "PROOF_INVALID", name
    # a code further down the txid's candidates holds only if every earlier one is proven taken
    first, second = list(islice(code_candidates(listing["published_tx"]), 2))
    assert first == code
    moved = {f"code/{second}": {"code": second, "listing": lid}, f"listing/{lid}": {**listing, "code": second}}
    with pytest.raises(VerificationError, match="earlier candidate"):
        verify_bundle(_resigned(world, bundle, moved, second), world.server.vkey, world.end)
    taken = {**moved, f"code/{first}": {"code": first, "listing": other}}
    assert verify_bundle(_resigned(world, bundle, taken, second), world.server.vkey, world.end).code == second  # type: ignore[union-attr]


def test_a_lying_signer_cannot_rewrite_a_registered_lease(world: World) -> None:
    regs = _registrations(world)
    renewed = next(n for n, lease in regs if lease.get("previous"))
    for number in (regs[0][0], renewed):
        bundle = world.client.registration_bundle(number)
        assert verify_bundle(_resigned(world, bundle, {}), world.server.vkey, world.end).number == number  # type: ignore[union-attr]
        lease, unit = _value(bundle, "lease/"), _value(bundle, "unit/")
        lid, uid = lease["id"], unit["id"]
        other = "e" * 16
        lies = {
            "another id": {
                f"registration/{number}": {**_value(bundle, "registration/"), "lease": other},
                f"lease/{other}": {**lease, "id": other},
            },
            "ten more years": {f"lease/{lid}": {**lease, "end": "2099-12-31", "ends_on": "2099-12-31"}},
            "another rent": {f"lease/{lid}": {**lease, "rent": lease["rent"] + 1}},
            "another start": {f"lease/{lid}": {**lease, "start": "2020-01-01"}} if not lease["previous"] else None,
            "another street": {f"unit/{uid}": {**unit, "street": "淮海中路"}},
        }
        for name, edit in lies.items():
            if edit is None:
                continue
            with pytest.raises(VerificationError) as info:
                verify_bundle(_resigned(world, bundle, edit), world.server.vkey, world.end)
            assert info.value.code == "PROOF_INVALID", (number, name)
    tenant = regs[0][1]["tenant"]
    history = world.client.history(tenant)
    lease = _value(history, "lease/")
    with pytest.raises(VerificationError) as info:
        verify_bundle(_resigned(world, history, {f"lease/{lease['id']}": {**lease, "rent": 1}}), world.server.vkey)
    assert info.value.code == "PROOF_INVALID"


def _first(world: World, sql: str) -> str:
    """The first column of the first row ``sql`` selects from the world's ledger (read-only)."""
    db = sqlite3.connect(f"file:{world.server.data / 'ledger.db'}?mode=ro", uri=True)
    try:
        [(value, *_)] = db.execute(sql).fetchall()
    finally:
        db.close()
    return str(value)


def _a_tenant_paid_on_time(world: World) -> str:
    """A party whose credit record counts rent paid on time (read from the world's ledger)."""
    return _first(
        world,
        "SELECT substr(key, 8) FROM state WHERE key LIKE 'credit/%' AND key NOT LIKE 'credit/%/%' "
        "AND json_extract(value, '$.factors.rent_on_time.count') > 0 LIMIT 1",
    )


def _a_paying_registered_tenant(world: World) -> str:
    """A tenant of a registered lease with a confirmed rent payment (read from the world's ledger)."""
    return _first(
        world,
        "SELECT json_extract(value, '$.tenant') FROM state WHERE key LIKE 'lease/%' "
        "AND json_extract(value, '$.registration') IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM state p WHERE p.key LIKE 'payment/%' AND json_extract(p.value, '$.confirmed') "
        "AND json_extract(p.value, '$.kind') = 'rent' AND json_extract(p.value, '$.payer') = "
        "json_extract(state.value, '$.tenant')) LIMIT 1",
    )


def test_a_history_bundle_cannot_leave_out_what_its_credit_counts(world: World) -> None:
    """A tenant who drops a registered lease (or a rent payment) from their exported history, with
    its transactions, still holds genuine proofs of everything left; the credit record's entries,
    each bound to its transaction, show what is missing. Landlords' and agencies' histories, which
    name the leases they registered as the other side, verify too."""
    tenant = _a_paying_registered_tenant(world)
    db = sqlite3.connect(f"file:{world.server.data / 'ledger.db'}?mode=ro", uri=True)
    roles = "json_extract(value, '$.role') IN ('landlord', 'agency')"
    others = [
        r[0] for r in db.execute(f"SELECT substr(key, 7) FROM state WHERE key LIKE 'party/%' AND {roles} LIMIT 8")
    ]
    db.close()
    bundle = world.server.http.get(f"/api/v1/parties/{tenant}/history").json()
    whole = verify_bundle(bundle, world.server.vkey)
    assert isinstance(whole, VerifiedHistory) and whole.leases and whole.payments

    def without(prefix: str, pick: Any) -> dict[str, Any]:
        [gone] = [e for e in bundle["state"] if e["key"].startswith(prefix) and pick(e["value"])][:1]
        txids = {v for k, v in gone["value"].items() if k.endswith("_tx") and isinstance(v, str)}
        if isinstance(gone["value"].get("registration"), dict):
            txids.add(gone["value"]["registration"]["tx"])
        return {
            **bundle,
            "state": [
                e
                for e in bundle["state"]
                if e["key"] != gone["key"] and (e["value"] is None or e["value"].get("lease") != gone["value"]["id"])
            ],
            "txs": [t for t in bundle["txs"] if t["txid"] not in txids],
        }

    for pruned in (
        without("lease/", lambda v: v.get("registration") is not None),
        without("payment/", lambda v: v["kind"] == "rent" and v["confirmed"]),
    ):
        with pytest.raises(VerificationError, match=r"leaves out|no inclusion proof"):
            verify_bundle(pruned, world.server.vkey)
    for party in others:
        result = verify_bundle(world.server.http.get(f"/api/v1/parties/{party}/history").json(), world.server.vkey)
        assert isinstance(result, VerifiedHistory) and all(lease["tenant"] == party for lease in result.leases)


def test_a_lying_signer_cannot_credit_a_party_with_transactions_that_do_not_say_so(world: World) -> None:
    """Each credit entry names a transaction, proven in the log: one of its factor's kind (signed by
    the authority where the authority decides) giving those points to this party."""
    tenant = _a_tenant_paid_on_time(world)
    bundle = world.server.http.get(f"/api/v1/parties/{tenant}/history").json()
    credit = _value(bundle, f"credit/{tenant}")
    lease_tx = _value(bundle, "lease/")["signed_tx"]
    on_time = credit["factors"]["rent_on_time"]["entries"][-1][0]

    def with_entry(factor: str, txid: str, points: int) -> dict[str, Any]:
        f = credit["factors"].get(factor, {"points": 0, "count": 0, "entries": []})
        grown = {"points": f["points"] + points, "count": f["count"] + 1, "entries": [*f["entries"], [txid, points]]}
        factors = {**credit["factors"], factor: grown}
        score = max(0, min(1000, 600 + sum(x["points"] for x in factors.values())))
        return {**credit, "factors": factors, "score": score}

    lies = {
        "a lease signing counted as a review": (with_entry("reviews", lease_tx, 8), "not a review.write"),
        "a payment counted twice": (with_entry("rent_on_time", on_time, 2), "counted twice"),
        "the tenant's own lease as an authority decision": (
            with_entry("suspensions", lease_tx, -100),
            "not a authority",
        ),
        "a lease signing as a registration taken back": (
            with_entry("leases_registered", lease_tx, -5),
            "not a lease.terminate",
        ),
    }
    assert isinstance(verify_bundle(_resigned(world, bundle, {}), world.server.vkey), VerifiedHistory)
    for name, (record, why) in lies.items():
        with pytest.raises(VerificationError, match=why):
            verify_bundle(_resigned(world, bundle, {f"credit/{tenant}": record}), world.server.vkey)
        assert name


def test_a_history_too_large_for_a_bundle_is_refused_not_cut_short(world: World, monkeypatch: Any) -> None:
    """A bundle short of the transactions its credit names would fail verification: the server says
    BUNDLE_TOO_LARGE instead (in-process here, with the limit lowered)."""
    from anju.api import bundles
    from anju.api.snapshot import Reader
    from anju.errors import AnjuError

    tenant = world.keys["role:tenant"].public_hex
    reader = Reader(world.server.data / "ledger.db")
    with reader.snapshot() as s:
        whole = bundles.history_bundle(s, world.server.http.get("/api/v1/node").json()["chain_id"], tenant)
        assert isinstance(verify_bundle(whole, world.server.vkey), VerifiedHistory)
        monkeypatch.setattr(bundles, "HISTORY_MAX_TXS", len(whole["txs"]) - 1)
        with pytest.raises(AnjuError) as info:
            bundles.history_bundle(s, world.server.http.get("/api/v1/node").json()["chain_id"], tenant)
    assert info.value.code == "BUNDLE_TOO_LARGE" and info.value.details["limit"] == len(whole["txs"]) - 1


def test_histories_verify_with_the_credit_entries_of_edition_5(world: World) -> None:
    """Edition 5 writes two kinds of credit entry a history's verifier must accept: the -5
    ``leases_registered`` of the lease.terminate that called off a registered lease before it
    began, and a ``rent_late`` of -5 for each month a late payment covered (``late_months``)."""
    c, authority, owner = world.client, world.keys["role:authority"], world.keys["role:landlord"]
    tenant = SigningKey(hashlib.sha256(b"anju-edition-5-test").digest())
    c.send("party.register", tenant, role="tenant", commitment=H)
    c.send("authority.attest_identity", authority, party=tenant.public_hex, commitment=H)
    place = {"district": "徐汇区", "street": "衡山路", "neighbourhood": "衡山坊", "address_commitment": H}
    unit = c.send("unit.register", owner, place, floor_area_m2=55, rooms=1)["txid"][:16]
    title = hashlib.sha256(b"edition-5" + unit.encode()).hexdigest()
    c.send("title.attest", authority, unit=unit, certificate_commitment=title)
    terms = {
        "unit": unit,
        "landlord": owner.public_hex,
        "tenant": tenant.public_hex,
        "rent": 900_000,
        "deposit": 900_000,
        "payment_day": 1,
        "notice_days": 30,
        "collector": "landlord",
        "document_hash": H,
    }
    start = add_days(world.end, 40)
    void = c.send("lease.sign", owner, {**terms, "start": start, "end": add_days(start, 300)}, cosigners=[tenant])
    c.send("lease.register", authority, lease=void["txid"][:16])
    off = {"lease": void["txid"][:16], "mode": "mutual", "on": add_days(start, -1), "reason_hash": H}
    c.send("lease.terminate", owner, off, cosigners=[tenant])  # registered, then called off: -5 to each side
    back, last = add_days(world.end, -29), add_days(world.end, -9)  # backdated: overdue when paid
    other = hashlib.sha256(b"edition-5 contract").hexdigest()
    fields = {**terms, "start": back, "end": last, "document_hash": other}
    lease = c.send("lease.sign", owner, fields, cosigners=[tenant])["txid"][:16]
    c.send("lease.register", authority, lease=lease)
    months = 1 if back[:7] == last[:7] else 2
    pay = c.send("rent.pay", tenant, lease=lease, period=back[:7], months=months, amount=months * 900_000)
    c.send("payment.confirm", owner, payment=pay["txid"][:16])
    result = verify_bundle(c.history(tenant.public_hex), world.server.vkey)
    assert isinstance(result, VerifiedHistory) and len(result.leases) == 2
    factors = (result.credit or {})["factors"]
    assert (factors["leases_registered"]["count"], factors["leases_registered"]["points"]) == (3, 5)
    [paid] = [p for p in result.payments if p["id"] == pay["txid"][:16]]
    assert paid["late_months"] >= 1 and factors["rent_late"]["points"] == -5 * paid["late_months"]


# -- histories of any size: the multi-part bundle ---------------------------------------------------
def _copy_ledger(world: World, copy: Path) -> Path:
    """A copy of the world's ledger (no block is committed while it is taken), to serve apart."""
    copy.mkdir()
    for name in ("genesis.json", "node.key"):
        shutil.copy(world.server.data / name, copy / name)
    src = sqlite3.connect(world.server.data / "ledger.db")
    dst = sqlite3.connect(copy / "ledger.db")
    src.backup(dst)
    src.close()
    dst.close()
    return copy


def _same_history(a: VerifiedHistory, b: VerifiedHistory) -> None:
    assert (a.party, a.score, a.credit, a.record, a.identity) == (b.party, b.score, b.credit, b.record, b.identity)
    assert sorted(x["id"] for x in a.leases) == sorted(x["id"] for x in b.leases)
    assert sorted(x["id"] for x in a.payments) == sorted(x["id"] for x in b.payments)
    assert a.payment_counts == b.payment_counts and a.checkpoint == b.checkpoint


def _txs_needed(bundle: dict[str, Any]) -> int:
    return len(bundle["txs"])


def test_a_history_larger_than_a_bundle_is_served_in_parts_and_verifies(world: World, tmp_path: Path) -> None:
    """A server whose single-bundle limit (lowered here to 3 transactions) most histories exceed:
    each of them is refused as one bundle (BUNDLE_TOO_LARGE, naming the parts), served in parts,
    verified by the SDK as they arrive, exported to a file that `anju check` verifies, and the
    portal's download serves the parts; every party of the district verifies to exactly what its
    single bundle (from the world's unlimited server) verifies to."""
    from anju.client.parts import PARTS_FORMAT

    db = sqlite3.connect(f"file:{world.server.data / 'ledger.db'}?mode=ro", uri=True)
    parties = [r[0] for r in db.execute("SELECT substr(key, 7) FROM state WHERE key LIKE 'party/%' ORDER BY key")]
    db.close()
    limited = Server(
        _copy_ledger(world, tmp_path / "copy"), "--history-max-txs", "3", "--history-part-entries", "4", "--web"
    )
    client = AnjuClient(limited.url, world.server.vkey)
    try:
        large: dict[str, int] = {}
        for party in parties:
            whole = world.server.http.get(f"/api/v1/parties/{party}/history").json()
            single = verify_bundle(whole, world.server.vkey)
            assert isinstance(single, VerifiedHistory)
            answer = limited.http.get(f"/api/v1/parties/{party}/history")
            if _txs_needed(whole) > 3:
                assert answer.status_code == 422, party
                err = answer.json()["error"]
                assert err["code"] == "BUNDLE_TOO_LARGE" and err["details"]["parts"].endswith("?format=parts")
                large[party] = _txs_needed(whole)
            else:  # a small history: the single bundle, as before
                assert answer.status_code == 200 and answer.json()["format"] == "anju-bundle-v1"
            _same_history(client.verify_history(party), single)  # (through the parts when large)
        assert len(large) >= 5, large
        roles = {client.record(f"/parties/{p}").value["role"] for p in large}
        assert {"tenant", "landlord"} <= roles, roles  # tenancies and payments; leases registered as a side
        big = max(large, key=lambda p: large[p])
        path = tmp_path / "history.jsonl"
        exported = client.export_history(big, path)
        single = verify_bundle(world.server.http.get(f"/api/v1/parties/{big}/history").json(), world.server.vkey)
        assert isinstance(single, VerifiedHistory)
        _same_history(exported, single)
        lines = path.read_bytes().splitlines()
        assert len(lines) >= 4 and json.loads(lines[0])["format"] == PARTS_FORMAT and json.loads(lines[-1])["end"]
        assert not list(tmp_path.glob("*.partial"))
        # Accept: application/x-ndjson asks for the same parts (one snapshot, the same bytes)
        streamed = limited.http.get(f"/api/v1/parties/{big}/history", headers={"Accept": "application/x-ndjson"})
        assert streamed.headers["content-type"].startswith("application/x-ndjson")
        assert streamed.content == path.read_bytes()
        unknown = limited.http.get("/api/v1/parties/" + "ab" * 32 + "/history", params={"format": "parts"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"
        # anju check FILE, offline
        run = [sys.executable, "-c", "from anju.cli.main import app; app()", "check"]
        out = subprocess.run(
            [*run, str(path), "--key", world.server.vkey, "--json"], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stdout + out.stderr
        checked = json.loads(out.stdout)
        assert (checked["kind"], checked["party"], checked["score"]) == ("history", big, single.score)
        assert (checked["leases"], checked["payments"]) == (len(single.leases), len(single.payments))
        out = subprocess.run([*run, str(path), "--key", world.server.vkey, "--date", world.end], capture_output=True)
        assert out.returncode == 2  # a history has no status to judge at a date
        lines[2] = lines[2].replace(b'"rent":', b'"rent":1', 1) if b'"rent":' in lines[2] else lines[2][:-9]
        path.write_bytes(b"\n".join(lines) + b"\n")
        out = subprocess.run(
            [*run, str(path), "--key", world.server.vkey, "--json"], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 1 and json.loads(out.stdout)["error"]["code"] in ("PROOF_INVALID", "BUNDLE_MALFORMED")
        # the portal's download: the parts for a large history, the bundle for a small one
        download = limited.http.get(f"/party/{big}/history")
        assert download.status_code == 200 and download.headers["content-type"].startswith("application/x-ndjson")
        assert (
            'filename="anju-history-' in download.headers["content-disposition"]
            and ".jsonl" in download.headers["content-disposition"]
        )
        from anju.client import verify_history_parts

        _same_history(verify_history_parts(download.content.splitlines(), world.server.vkey), single)
        small = next(p for p in parties if p not in large)
        assert limited.http.get(f"/party/{small}/history").json()["format"] == "anju-bundle-v1"
    finally:
        client.close()
        limited.stop()


def _parts(world: World, monkeypatch: Any, party: str, entries: int = 3) -> list[bytes]:
    """The party's history in parts of a few entries, built in-process from the world's ledger."""
    from anju.api import bundles
    from anju.api.snapshot import Reader

    monkeypatch.setattr(bundles, "PART_ENTRIES", entries)
    chain_id = world.server.http.get("/api/v1/node").json()["chain_id"]
    f = bundles.history_parts_file(Reader(world.server.data / "ledger.db"), chain_id, party)
    assert f is not None
    with f:
        return f.read().splitlines()


def test_large_histories_are_built_a_few_at_a_time(world: World) -> None:
    """Each history in parts takes a core and a temporary file while it is built: past
    ``PARTS_AT_ONCE`` builds the node answers BUSY (503, retry later) rather than take on more, and
    builds again once one is done."""
    from anju.api import bundles
    from anju.api.snapshot import Reader
    from anju.errors import Overloaded

    chain_id = world.server.http.get("/api/v1/node").json()["chain_id"]
    party = world.keys["role:tenant"].public_hex
    reader = Reader(world.server.data / "ledger.db")
    for _ in range(bundles.PARTS_AT_ONCE):  # as many builds under way as the node allows
        assert bundles._parts_builds.acquire(blocking=False)
    try:
        with pytest.raises(Overloaded) as busy:
            bundles.history_parts_file(reader, chain_id, party)
        assert busy.value.code == "BUSY" and busy.value.details["retry_after"] > 0
    finally:
        for _ in range(bundles.PARTS_AT_ONCE):
            bundles._parts_builds.release()
    f = bundles.history_parts_file(reader, chain_id, party)  # one finished: the next is built
    assert f is not None
    with f:
        assert f.readline().startswith(b"{")
    for _ in range(bundles.PARTS_AT_ONCE):  # and each build gave its place back, whatever its outcome
        assert bundles._parts_builds.acquire(blocking=False)
    for _ in range(bundles.PARTS_AT_ONCE):
        bundles._parts_builds.release()


def test_a_busy_node_says_so_to_the_api_the_sdk_and_the_portal(world: World, tmp_path: Path, monkeypatch: Any) -> None:
    """While a node builds as many histories in parts as it builds at once (none at all here), a
    large history is answered BUSY with a Retry-After, by the API, to the SDK (which asks again
    ``retries`` times, waiting as told up to 5 s, then says BUSY) and in the portal, and nothing is
    written where the export was to go."""
    import anju.client.sdk
    from anju.errors import Overloaded

    busy = Server(
        _copy_ledger(world, tmp_path / "copy"), "--history-max-txs", "3", "--history-parts-at-once", "0", "--web"
    )
    client = AnjuClient(busy.url, world.server.vkey, retries=2)
    waits: list[float] = []
    monkeypatch.setattr(anju.client.sdk.time, "sleep", waits.append)  # (the waits are counted, not waited)
    try:
        party = world.keys["role:landlord"].public_hex
        answer = busy.http.get(f"/api/v1/parties/{party}/history", params={"format": "parts"})
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "BUSY"
        assert int(answer.headers["retry-after"]) > 0
        with pytest.raises(Overloaded) as refused:
            client.export_history(party, tmp_path / "history.jsonl")
        assert refused.value.code == "BUSY" and not list(tmp_path.glob("history.jsonl*"))
        assert waits == [min(float(answer.headers["retry-after"]), 5.0)] * 2
        page = busy.http.get(f"/party/{party}/history", params={"lang": "en"})
        assert page.status_code == 503 and "Other long histories are being prepared" in page.text
        assert int(page.headers["retry-after"]) > 0
    finally:
        client.close()
        busy.stop()


def _edit(line: bytes, change: Any) -> bytes:
    doc = json.loads(line)
    change(doc)
    return json.dumps(doc, ensure_ascii=False).encode()


def _refused(lines: list[bytes], world: World) -> VerificationError:
    from anju.client import verify_history_parts

    with pytest.raises(VerificationError) as info:
        verify_history_parts(lines, world.server.vkey)
    return info.value


def test_a_history_in_parts_refuses_every_tampering(world: World, monkeypatch: Any, tmp_path: Path) -> None:
    """A tampered part, a missing, repeated or extra part, a part of another checkpoint, a stream cut
    short, an oversize line, a transaction nothing awaits, and records left out with the counts
    mended: each is refused, with a stable code."""
    from anju.client import verify_history_file, verify_history_parts
    from anju.client.parts import split_lines

    tenant = _a_paying_registered_tenant(world)
    lines = _parts(world, monkeypatch, tenant, entries=1)  # a part per record and what it needs
    single = verify_bundle(world.server.http.get(f"/api/v1/parties/{tenant}/history").json(), world.server.vkey)
    assert isinstance(single, VerifiedHistory)
    _same_history(verify_history_parts(lines, world.server.vkey), single)
    assert len(lines) >= 6
    docs = [json.loads(x) for x in lines]

    def where(pred: Any) -> tuple[int, int]:
        """(line, index in its state list) of the first state entry matching ``pred``."""
        return next(
            (i, j) for i, d in enumerate(docs[1:-1], 1) for j, e in enumerate(d["state"]) if pred(e["key"], e["value"])
        )

    def reason(err: VerificationError) -> tuple[str, Any]:
        return err.code, err.details.get("reason")

    # a tampered record, a tampered proof
    i, j = where(lambda k, v: k.startswith("lease/"))
    bad = list(lines)
    bad[i] = _edit(lines[i], lambda d: d["state"][j]["value"].update(rent=d["state"][j]["value"]["rent"] + 1))
    assert _refused(bad, world).code == "PROOF_INVALID"
    t = next(i for i, d in enumerate(docs) if d.get("txs"))
    bad = list(lines)
    bad[t] = _edit(lines[t], lambda d: d["txs"][0]["hashes"].reverse() or d["txs"][0]["hashes"].append("AAAA"))
    assert _refused(bad, world).code == "PROOF_INVALID"
    # missing, repeated, swapped, extra parts; cut short
    assert reason(_refused(lines[:2] + lines[3:], world)) == ("BUNDLE_INCOMPLETE", "missing_part")
    assert reason(_refused(lines[:3] + lines[2:], world)) == ("BUNDLE_MALFORMED", "out_of_order")
    assert reason(_refused([lines[0], lines[2], lines[1], *lines[3:]], world)) == ("BUNDLE_INCOMPLETE", "missing_part")
    assert reason(_refused([*lines, lines[1]], world)) == ("BUNDLE_MALFORMED", "extra_part")
    assert reason(_refused(lines[:-1], world)) == ("BUNDLE_INCOMPLETE", "truncated")
    assert reason(_refused([], world)) == ("BUNDLE_INCOMPLETE", "truncated")
    assert reason(_refused(lines[1:], world)) == ("BUNDLE_MALFORMED", "not_a_head")
    whole = b"".join(x + b"\n" for x in lines)
    with pytest.raises(VerificationError) as info:
        verify_history_parts(split_lines([whole[: len(whole) // 2]]), world.server.vkey)
    assert reason(info.value) == ("BUNDLE_INCOMPLETE", "truncated")
    # an oversize line: refused before it is read whole
    path = tmp_path / "h.jsonl"
    path.write_bytes(whole)
    longest = max(len(x) for x in lines)
    assert verify_history_file(path, world.server.vkey, limit=longest).party == tenant
    with pytest.raises(VerificationError) as info:
        verify_history_file(path, world.server.vkey, limit=longest - 1)
    assert reason(info.value) == ("BUNDLE_TOO_LARGE", "line_too_long")
    # a transaction no entry awaits (one already proven, again): refused, counts mended or not
    t2 = next(i for i, d in enumerate(docs) if i > t and d.get("txs"))
    again = docs[t]["txs"][0]
    bad = list(lines)
    bad[t2] = _edit(lines[t2], lambda d: d["txs"].append(again))
    bad[-1] = _edit(lines[-1], lambda d: d.update(txs=d["txs"] + 1))
    assert reason(_refused(bad, world)) == ("BUNDLE_MALFORMED", "unexpected_tx")
    # the end part must count what the parts hold
    assert reason(_refused([*lines[:-1], _edit(lines[-1], lambda d: d.update(txs=d["txs"] - 1))], world)) == (
        "BUNDLE_INCOMPLETE",
        "count_mismatch",
    )
    # a registered tenancy left out (its record, signing and mandate's grant dropped, its registration
    # kept), a rent payment left out (its record and rent.pay dropped, its confirmation kept): the
    # credit entries show them missing
    for pred, lost in (
        (lambda k, v: k.startswith("lease/") and v.get("registration"), "signed_tx"),
        (lambda k, v: k.startswith("payment/") and v["kind"] == "rent" and v["confirmed"], "recorded_tx"),
    ):
        i, j = where(pred)
        gone = docs[i]["state"][j]["value"]

        def drop(d: dict[str, Any], j: int = j, gone: dict[str, Any] = gone, lost: Any = lost) -> None:
            del d["state"][j]
            d["txs"] = [x for x in d["txs"] if x["txid"] != gone[lost] and x["txid"][:16] != gone.get("mandate")]

        bad = list(lines)
        bad[i] = _edit(lines[i], drop)
        dropped = len(docs[i]["txs"]) - len(json.loads(bad[i])["txs"])
        bad[-1] = _edit(lines[-1], lambda d, n=dropped: d.update(state=d["state"] - 1, txs=d["txs"] - n))
        with pytest.raises(VerificationError, match="leaves out") as info:
            verify_history_parts(bad, world.server.vkey)
        assert info.value.code == "PROOF_INVALID"
    # a part of another checkpoint (the ledger moved on: one more block), spliced in
    stranger = SigningKey(hashlib.sha256(b"anju-parts-test").digest())
    world.client.send("party.register", stranger, role="tenant", commitment=H)
    later = _parts(world, monkeypatch, tenant, entries=1)
    assert json.loads(later[0])["checkpoint"] != docs[0]["checkpoint"]
    assert reason(_refused([lines[0], later[1], *lines[2:]], world)) == ("BUNDLE_MALFORMED", "other_checkpoint")
    relabelled = _edit(later[1], lambda d: d.update(note_sha256_hex=docs[1]["note_sha256_hex"]))
    assert _refused([lines[0], relabelled, *lines[2:]], world).code == "PROOF_INVALID"
    assert verify_history_parts(later, world.server.vkey).party == tenant  # (itself whole)


def _resigned_parts(world: World, lines: list[bytes], edit: dict[str, Any]) -> list[bytes]:
    """The parts as a lying checkpoint signer would serve them: every state entry re-proven under a
    state root with ``edit`` applied, in a checkpoint it signs again (the transactions stay genuine)."""

    from anju.client.parts import note_hash

    docs = [json.loads(x) for x in lines]
    merged = {**docs[0], "state": [e for d in docs[:-1] for e in d.get("state", [])]}
    forged = _resigned(world, merged, edit)
    proofs = {e["key"]: e for e in forged["state"]}
    digest = note_hash(forged["checkpoint"])
    out = []
    for d in docs:
        d["state"] = [proofs[e["key"]] for e in d.get("state", [])] if "state" in d and not d.get("end") else d["state"]
        if d["part"] == 0:
            d["checkpoint"] = forged["checkpoint"]
        else:
            d["note_sha256_hex"] = digest
        out.append(json.dumps(d, ensure_ascii=False).encode())
    return out


def test_a_lying_signer_cannot_rewrite_a_history_in_parts(world: World, monkeypatch: Any) -> None:
    """Parts re-proven under a state root the node's key signs (it can sign any state, not the
    parties' transactions): a tenancy's terms, a payment's lateness, the score are bound to the
    transactions, part by part as in one bundle."""
    from anju.client import verify_history_parts

    tenant = _a_tenant_paid_on_time(world)
    lines = _parts(world, monkeypatch, tenant, entries=1)
    honest = verify_history_parts(_resigned_parts(world, lines, {}), world.server.vkey)  # re-signed, unchanged
    assert honest.party == tenant and honest.leases
    docs = [json.loads(x) for x in lines]
    values = {e["key"]: e["value"] for d in docs[:-1] for e in d.get("state", [])}
    lease = next(v for k, v in values.items() if k.startswith("lease/") and v["tenant"] == tenant)
    pay = next(v for k, v in values.items() if k.startswith("payment/") and v.get("confirmed") and v["kind"] == "rent")
    credit = values[f"credit/{tenant}"]
    for edit, why in (
        ({f"lease/{lease['id']}": {**lease, "rent": lease["rent"] // 2}}, "does not say what its"),
        ({f"payment/{pay['id']}": {**pay, "late_days": pay["late_days"] + 9}}, "leaves out a rent payment"),
        ({f"credit/{tenant}": {**credit, "score": credit["score"] + 50}}, "score does not follow"),
    ):
        with pytest.raises(VerificationError, match=why) as info:
            verify_history_parts(_resigned_parts(world, lines, edit), world.server.vkey)
        assert info.value.code == "PROOF_INVALID"


def _payment_lies(values: dict[str, Any], tenant: str) -> dict[str, tuple[dict[str, Any], str]]:
    """What a lying checkpoint signer would say about a tenant's payments (key -> forged record),
    and what the verifier must answer: each payment is bound to the tenant's rent.pay or
    deposit.lodge and to the receiver's payment.confirm / payment.refuse."""
    pays = [v for k, v in values.items() if k.startswith("payment/") and v["payer"] == tenant]
    rent = next(p for p in pays if p["kind"] == "rent" and p["confirmed"])
    deposit = next(p for p in pays if p["kind"] == "deposit")
    refused = next(p for p in pays if p.get("refused_tx"))
    rent2 = next(p for p in pays if p["kind"] == "rent" and p["id"] != rent["id"])
    other = next(p for p in pays if p["kind"] == "deposit" and p["confirmed"])  # (a confirmation no credit entry names)
    per_month = rent["amount"] // rent["months"]
    month = rent["period"]
    later = f"{int(month[:4]) + (month[5:] == '12'):04d}-{int(month[5:]) % 12 + 1:02d}"
    lies = {
        "a larger rent payment": ({**rent, "amount": rent["amount"] + 1}, "does not say what its rent.pay said"),
        "a smaller deposit": ({**deposit, "amount": 1}, "does not say what its deposit.lodge said"),
        "more months paid": (
            {**rent, "months": rent["months"] + 2, "amount": per_month * (rent["months"] + 2)},
            "does not say what its rent.pay said",
        ),
        "another month paid": ({**rent, "period": later}, "does not say what its rent.pay said"),
        "a refused payment confirmed": (
            {**refused, "confirmed": True, "confirmed_tx": None, "refused_tx": None, "refused_on": None},
            "without a confirmation",
        ),
        "a refused payment confirmed by another payment's confirmation": (
            {
                **refused,
                "confirmed": True,
                "confirmed_tx": other["confirmed_tx"],
                "confirmed_on": other["confirmed_on"],
                "refused_tx": None,
                "refused_on": None,
            },
            "answers another payment",
        ),
        "a refused payment shown confirmed as well": (
            {**refused, "confirmed": True, "confirmed_tx": other["confirmed_tx"]},
            "both confirmed and refused",
        ),
        "a confirmation taken back": ({**rent, "confirmed": False}, "without a confirmation"),
        "a refusal dropped": ({**refused, "refused_tx": None, "refused_on": None}, "claim the same month"),
        "another receiver": ({**rent, "receiver": tenant}, "signed by neither the payment's receiver"),
        "a payment recorded by another rent.pay": ({**rent, "recorded_tx": rent2["recorded_tx"]}, "id is not derived"),
    }
    return {name: ({f"payment/{pay['id']}": pay}, why) for name, (pay, why) in lies.items()}


def test_a_record_under_another_key_is_refused(world: World, monkeypatch: Any) -> None:
    """A lying signer that proves a genuine lease or payment a second time, under a key that is not
    its own, is refused, in one bundle and in parts: a record is the one its key names."""
    from anju.client import verify_history_parts
    from anju.client.parts import note_hash

    tenant = _tenant_with_a_refused_payment(world)
    bundle = world.client.history(tenant)
    lines = _parts(world, monkeypatch, tenant, entries=1)
    for prefix in ("lease/", "payment/"):
        key, value = next((e["key"], e["value"]) for e in bundle["state"] if e["key"].startswith(prefix))
        other = prefix + "f" * 16
        with pytest.raises(VerificationError, match="is not its key's record") as info:
            verify_bundle(_resigned(world, bundle, {other: value}), world.server.vkey)
        assert info.value.code == "PROOF_INVALID"
        # in parts: the copy comes right after the genuine entry, re-proven with the rest
        docs = [json.loads(x) for x in lines]
        merged = {**docs[0], "state": [e for d in docs[:-1] for e in d.get("state", [])]}
        forged = _resigned(world, merged, {other: value})
        proofs = {e["key"]: e for e in forged["state"]}
        for d in docs:
            if d["part"] == 0:
                d["checkpoint"] = forged["checkpoint"]
            else:
                d["note_sha256_hex"] = note_hash(forged["checkpoint"])
            if not d.get("end"):
                d["state"] = [
                    x
                    for e in d.get("state", [])
                    for x in [proofs[e["key"]]] + ([proofs[other]] if e["key"] == key else [])
                ]
        with pytest.raises(VerificationError, match="is not its key's record") as info:
            verify_history_parts([json.dumps(d, ensure_ascii=False).encode() for d in docs], world.server.vkey)
        assert info.value.code == "PROOF_INVALID"


def _tenant_with_a_refused_payment(world: World) -> str:
    return _first(
        world,
        "SELECT json_extract(value, '$.payer') FROM state WHERE key LIKE 'payment/%' "
        "AND json_extract(value, '$.refused_tx') IS NOT NULL AND json_extract(value, '$.kind') = 'rent' "
        "ORDER BY key LIMIT 1",
    )


def test_a_lying_signer_cannot_invent_or_alter_a_payment(world: World) -> None:
    """A history bundle re-proven under a state root the node's key signs: a payment's amount,
    months or period, a confirmation invented or taken back, a refusal dropped (the tenant paid
    those months again), another receiver: each is refused, as the transactions say otherwise."""
    tenant = _tenant_with_a_refused_payment(world)
    bundle = world.client.history(tenant)
    honest = verify_bundle(_resigned(world, bundle, {}), world.server.vkey)
    assert isinstance(honest, VerifiedHistory) and honest.payment_counts["refused"] >= 1
    values = {e["key"]: e["value"] for e in bundle["state"]}
    for name, (edit, why) in _payment_lies(values, tenant).items():
        with pytest.raises(VerificationError, match=why) as info:
            verify_bundle(_resigned(world, bundle, edit), world.server.vkey)
        assert info.value.code == "PROOF_INVALID", name
    # the transactions are the proof: a bundle without a payment's rent.pay or its refusal is refused
    refused = next(v for v in values.values() if isinstance(v, dict) and v.get("refused_tx"))
    for gone in (refused["recorded_tx"], refused["refused_tx"]):
        short = {**bundle, "txs": [t for t in bundle["txs"] if t["txid"] != gone]}
        with pytest.raises(VerificationError, match="no inclusion proof") as info:
            verify_bundle(short, world.server.vkey)
        assert info.value.code == "PROOF_INVALID"


def test_a_lying_signer_cannot_invent_or_alter_a_payment_in_parts(world: World, monkeypatch: Any) -> None:
    """The same lies in a history in parts: each payment's transactions come in its own part, and
    are checked there; a part that leaves one out is refused."""
    from anju.client import verify_history_parts

    tenant = _tenant_with_a_refused_payment(world)
    lines = _parts(world, monkeypatch, tenant, entries=1)
    single = verify_bundle(world.client.history(tenant), world.server.vkey)
    assert isinstance(single, VerifiedHistory)
    _same_history(verify_history_parts(lines, world.server.vkey), single)
    honest = verify_history_parts(_resigned_parts(world, lines, {}), world.server.vkey)  # re-signed, unchanged
    assert honest.payment_counts == single.payment_counts
    docs = [json.loads(x) for x in lines]
    values = {e["key"]: e["value"] for d in docs[:-1] for e in d.get("state", [])}

    proven = {t["txid"]: t for d in docs[1:-1] for t in d["txs"]}

    def named(pay: dict[str, Any]) -> set[str]:
        return {pay[f] for f in ("recorded_tx", "confirmed_tx", "refused_tx") if pay.get(f)}

    for name, (edit, why) in _payment_lies(values, tenant).items():
        # the liar also leaves out the transactions its records no longer name (else: unexpected_tx)
        # and brings those they now name into their part (else: no inclusion proof)
        gone = set().union(*(named(values[k]) - named(v) for k, v in edit.items()))
        forged = [json.loads(x) for x in _resigned_parts(world, lines, edit)]
        for d in forged[1:-1]:
            forged[-1]["txs"] -= sum(t["txid"] in gone for t in d["txs"])
            d["txs"] = [t for t in d["txs"] if t["txid"] not in gone]
            for e in d["state"]:
                if e["key"] in edit:
                    held = {t["txid"] for t in d["txs"]}
                    d["txs"] += [t for t in proven.values() if t["txid"] in named(edit[e["key"]]) - held]
                    forged[-1]["txs"] += len(d["txs"]) - len(held)
        with pytest.raises(VerificationError, match=why) as info:
            verify_history_parts([json.dumps(d).encode() for d in forged], world.server.vkey)
        assert info.value.code == "PROOF_INVALID", name
    # each payment's rent.pay / deposit.lodge and answers are in the payment's part
    for d in docs[1:-1]:
        for e in d["state"]:
            if e["key"].startswith("payment/"):
                named = {e["value"][f] for f in ("recorded_tx", "confirmed_tx", "refused_tx") if e["value"].get(f)}
                assert named <= {t["txid"] for t in d["txs"]}, e["key"]
    # a refusal moved out of its payment's part: refused there (the part alone must prove it)
    i = next(
        i
        for i, d in enumerate(docs[1:-1], 1)
        if any(e["key"].startswith("payment/") and e["value"].get("refused_tx") for e in d["state"])
    )
    pay = next(e["value"] for e in docs[i]["state"] if e["key"].startswith("payment/"))
    moved = next(t for t in docs[i]["txs"] if t["txid"] == pay["refused_tx"])
    bad = list(lines)
    bad[i] = _edit(lines[i], lambda d: d.update(txs=[t for t in d["txs"] if t["txid"] != moved["txid"]]))
    bad[i + 1] = _edit(lines[i + 1], lambda d: d["txs"].append(moved))
    err = _refused(bad, world)
    assert err.code == "PROOF_INVALID" and "no inclusion proof for the payment.refuse" in err.message


def test_a_payment_answered_by_an_agent_is_proven_with_the_agents_appointment(world: World, monkeypatch: Any) -> None:
    """An agency's agent confirms (or refuses) a payment for it: the history proves the agency's
    agency.appoint_agent of that agent with it, also once the agent was dismissed (its party record
    no longer names the agency), in one bundle and in parts; without it the answer is refused."""
    from anju.client import verify_history_parts

    c, authority, owner = world.client, world.keys["role:authority"], world.keys["role:landlord"]
    agency = world.extra["agency"]
    tenant = SigningKey(hashlib.sha256(b"anju-agent-answers-tenant").digest())
    agent = SigningKey(hashlib.sha256(b"anju-agent-answers-agent").digest())
    for key, role in ((tenant, "tenant"), (agent, "agent")):
        c.send("party.register", key, role=role, commitment=H)
        c.send("authority.attest_identity", authority, party=key.public_hex, commitment=H)
    appointed = c.send("agency.appoint_agent", agency, agent=agent.public_hex)["txid"]
    place = {"district": "徐汇区", "street": "衡山路", "neighbourhood": "衡山坊", "address_commitment": H}
    unit = c.send("unit.register", owner, place, floor_area_m2=40, rooms=1)["txid"][:16]
    c.send(
        "title.attest",
        authority,
        unit=unit,
        certificate_commitment=hashlib.sha256(b"agent" + unit.encode()).hexdigest(),
    )
    start = world.end
    grant = {"unit": unit, "agency": agency.public_hex, "exclusive": False, "from": start, "to": add_days(start, 400)}
    mandate = c.send("mandate.grant", owner, grant, may_sign=True, min_rent=100_000)["txid"][:16]
    terms = {
        "unit": unit,
        "landlord": owner.public_hex,
        "tenant": tenant.public_hex,
        "mandate": mandate,
        "start": start,
        "end": add_days(start, 200),
        "rent": 500_000,
        "deposit": 500_000,
        "payment_day": 1,
        "notice_days": 30,
        "collector": "agency",
        "document_hash": hashlib.sha256(b"agent contract").hexdigest(),
    }
    lease = c.send("lease.sign", agent, terms, cosigners=[tenant])["txid"][:16]
    deposit = c.send("deposit.lodge", tenant, lease=lease, amount=500_000)["txid"][:16]
    c.send("payment.confirm", agent, payment=deposit)
    rent = c.send("rent.pay", tenant, lease=lease, period=start[:7], months=1, amount=500_000)["txid"][:16]
    c.send("payment.refuse", agent, payment=rent, reason_hash=H)
    c.send("agency.dismiss_agent", agency, agent=agent.public_hex)  # the party record forgets the agency
    bundle = c.history(tenant.public_hex)
    assert appointed in {t["txid"] for t in bundle["txs"]}
    result = verify_bundle(bundle, world.server.vkey)
    assert isinstance(result, VerifiedHistory)
    assert result.payment_counts == {"confirmed": 1, "waiting": 0, "refused": 1}
    short = {**bundle, "txs": [t for t in bundle["txs"] if t["txid"] != appointed]}
    with pytest.raises(VerificationError, match="nor an agent the bundle proves it appointed") as info:
        verify_bundle(short, world.server.vkey)
    assert info.value.code == "PROOF_INVALID"
    lines = _parts(world, monkeypatch, tenant.public_hex, entries=1)
    _same_history(verify_history_parts(lines, world.server.vkey), result)
    docs = [json.loads(x) for x in lines]
    for i, d in enumerate(docs[1:-1], 1):
        if any(e["key"].startswith("payment/") for e in d["state"]):  # each answer's part holds the appointment
            assert appointed in {t["txid"] for t in d["txs"]}
            bad = list(lines)
            bad[i] = _edit(lines[i], lambda d: d.update(txs=[t for t in d["txs"] if t["txid"] != appointed]))
            bad[-1] = _edit(lines[-1], lambda d: d.update(txs=d["txs"] - 1))
            assert "appointed" in _refused(bad, world).message
    # appointed again: an answer after it is proven with the new appointment, the earlier ones with the first
    again = c.send("agency.appoint_agent", agency, agent=agent.public_hex)["txid"]
    paid_again = c.send("rent.pay", tenant, lease=lease, period=start[:7], months=1, amount=500_000)["txid"][:16]
    c.send("payment.confirm", agent, payment=paid_again)
    bundle = c.history(tenant.public_hex)
    assert {appointed, again} <= {t["txid"] for t in bundle["txs"]}
    assert verify_bundle(bundle, world.server.vkey).payment_counts == {"confirmed": 2, "waiting": 0, "refused": 1}
    docs = [json.loads(x) for x in _parts(world, monkeypatch, tenant.public_hex, entries=1)]
    proven = {
        e["key"]: {t["txid"] for t in d["txs"]}
        for d in docs[1:-1]
        for e in d["state"]
        if e["key"].startswith("payment/")
    }
    assert again in proven[f"payment/{paid_again}"] and appointed not in proven[f"payment/{paid_again}"]
    assert appointed in proven[f"payment/{deposit}"] and again not in proven[f"payment/{deposit}"]


# -- the receiving side of a tenancy, bound to signed transactions ------------------------------------
def _fresh_party(world: World, name: str, role: str) -> SigningKey:
    key = SigningKey(hashlib.sha256(name.encode()).digest())
    world.client.send("party.register", key, role=role, commitment=H)
    world.client.send("authority.attest_identity", world.keys["role:authority"], party=key.public_hex, commitment=H)
    return key


def _fresh_unit(world: World, name: str) -> str:
    """A new attested unit of the world's landlord."""
    c, owner = world.client, world.keys["role:landlord"]
    place = {"district": "徐汇区", "street": "衡山路", "neighbourhood": "衡山坊", "address_commitment": H}
    unit = str(c.send("unit.register", owner, place, floor_area_m2=40, rooms=1)["txid"][:16])
    certificate = hashlib.sha256(f"{name} {unit}".encode()).hexdigest()
    c.send("title.attest", world.keys["role:authority"], unit=unit, certificate_commitment=certificate)
    return unit


_RENEWED = ("rent", "deposit", "payment_day", "notice_days", "collector", "document_hash")


def _terms(world: World, unit: str, tenant: SigningKey, collector: str, mandate: str | None) -> dict[str, Any]:
    return {
        "unit": unit,
        "landlord": world.keys["role:landlord"].public_hex,
        "tenant": tenant.public_hex,
        **({"mandate": mandate} if mandate else {}),
        "start": world.end,
        "end": add_days(world.end, 200),
        "rent": 500_000,
        "deposit": 500_000,
        "payment_day": 1,
        "notice_days": 30,
        "collector": collector,
        "document_hash": hashlib.sha256(b"binding contract").hexdigest(),
    }


def _agency_tenancy(world: World, name: str) -> dict[str, Any]:
    """A tenancy of a new tenant made through a mandate of the world's agency, which collects: its
    agent (appointed for the purpose) signs the lease for it and confirms the tenant's deposit."""
    c, agency = world.client, world.extra["agency"]
    tenant = _fresh_party(world, f"anju-binding-{name}-tenant", "tenant")
    agent = _fresh_party(world, f"anju-binding-{name}-agent", "agent")
    appointed = c.send("agency.appoint_agent", agency, agent=agent.public_hex)["txid"]
    unit = _fresh_unit(world, name)
    grant = {"unit": unit, "agency": agency.public_hex, "exclusive": False, "from": world.end}
    owner = world.keys["role:landlord"]
    granted = c.send("mandate.grant", owner, grant, to=add_days(world.end, 400), may_sign=True, min_rent=100_000)
    terms = _terms(world, unit, tenant, "agency", granted["txid"][:16])
    lease = c.send("lease.sign", agent, terms, cosigners=[tenant])["txid"][:16]
    deposit = c.send("deposit.lodge", tenant, lease=lease, amount=500_000)["txid"][:16]
    confirmed = c.send("payment.confirm", agent, payment=deposit)["txid"]
    return {
        "tenant": tenant.public_hex,
        "lease": lease,
        "deposit": deposit,
        "granted": granted["txid"],
        "appointed": appointed,
        "confirmed": confirmed,
    }


def _renewed_tenancy(world: World, name: str) -> dict[str, Any]:
    """A new tenant's lease of the world's landlord (who collects), renewed; the deposit of the
    renewal lodged and not answered yet."""
    c, owner = world.client, world.keys["role:landlord"]
    tenant = _fresh_party(world, f"anju-binding-{name}-tenant", "tenant")
    terms = _terms(world, _fresh_unit(world, name), tenant, "landlord", None)
    first = c.send("lease.sign", owner, terms, cosigners=[tenant])["txid"][:16]
    renewed = {"previous": first, "end": add_days(world.end, 400), **{k: terms[k] for k in _RENEWED}}
    renewal = c.send("lease.renew", owner, renewed, cosigners=[tenant])["txid"][:16]
    deposit = c.send("deposit.lodge", tenant, lease=renewal, amount=500_000)["txid"][:16]
    return {"tenant": tenant.public_hex, "first": first, "renewal": renewal, "deposit": deposit}


def _txid(leaf: bytes) -> str:
    from anju.crypto.tx import parse

    return parse(leaf).txid


def _confirmation(world: World, key: SigningKey, payment: str) -> bytes:
    """A ``payment.confirm`` of ``payment`` signed by ``key`` and never sent to the ledger: what a
    lying signer puts in a log of its own making (the leaf, JCS of the envelope)."""
    from anju.crypto import jcs
    from anju.crypto.tx import sign

    chain = world.server.http.get("/api/v1/node").json()["chain_id"]
    body = {"chain": chain, "kind": "payment.confirm", "signer": key.public_hex, "seq": 1, "payment": payment}
    return jcs.canonicalize(sign(body, [key]))


def _leaves(txs: list[dict[str, Any]]) -> list[bytes]:
    """The leaves of proven transactions, in their order in the log."""
    return [base64.b64decode(t["leaf"]) for t in sorted(txs, key=lambda t: t["index"])]


def _relogged(world: World, bundle: dict[str, Any], edit: dict[str, Any], log_of: Any) -> Any:
    """A history bundle as a lying signer would sign it: its state changed by ``edit``, its log
    ``log_of(the genuine leaves the bundle proves, in log order)``, every transaction of it proven."""
    from tests.client.forge import relog

    return relog(bundle, _signer(world), edit, log_of(_leaves(bundle["txs"])))


def _relogged_parts(
    world: World, lines: list[bytes], edit: dict[str, Any], log_of: Any, place: dict[str, str] | None = None
) -> list[bytes]:
    """The parts as a lying signer would serve them over a log of its own making: the state re-proven
    with ``edit``, the log ``log_of(the genuine leaves the parts hold, in log order)``, each part's
    transactions proven in it (those it left out of the log dropped), and each new transaction of
    ``place`` (txid -> a state key) in the part of that record; the end part counts them."""
    from tests.client.forge import relog

    from anju.client.parts import note_hash

    docs = [json.loads(x) for x in lines]
    genuine = {t["txid"]: t for d in docs[1:-1] for t in d["txs"]}
    merged = {**docs[0], "state": [e for d in docs[:-1] for e in d.get("state", [])]}
    forged = relog(merged, _signer(world), edit, log_of(_leaves(list(genuine.values()))))
    proofs = {e["key"]: e for e in forged["state"]}
    txs = {t["txid"]: t for t in forged["txs"]}
    digest = note_hash(forged["checkpoint"])
    held = 0
    out = []
    for d in docs:
        if d["part"] == 0:
            d.update(checkpoint=forged["checkpoint"], state=[proofs[e["key"]] for e in d["state"]])
        elif d.get("end"):
            d.update(note_sha256_hex=digest, txs=held)
        else:
            keys = {e["key"] for e in d["state"]}
            d["state"] = [proofs[e["key"]] for e in d["state"]]
            d["txs"] = [txs[t["txid"]] for t in d["txs"] if t["txid"] in txs]
            d["txs"] += [txs[txid] for txid, key in (place or {}).items() if key in keys]
            d["note_sha256_hex"] = digest
            held += len(d["txs"])
        out.append(json.dumps(d, ensure_ascii=False).encode())
    return out


def test_a_lying_signer_cannot_name_another_agency_on_a_lease_through_a_mandate(world: World, monkeypatch: Any) -> None:
    """A lease made through a mandate has the mandate's agency, which collects for it here: the
    history proves the mandate's mandate.grant with the lease (in parts, in the lease's part), so a
    lying signer cannot make its own key the lease's agency and the payment's receiver and confirm
    the deposit with it, in one bundle or in parts. (Control: the same forged confirmation, signed
    by the genuine agency, verifies.)"""
    from anju.client import verify_history_parts

    t = _agency_tenancy(world, "mandate")
    liar = SigningKey(hashlib.sha256(b"anju-binding-liar").digest())
    bundle = world.client.history(t["tenant"])
    assert t["granted"] in {x["txid"] for x in bundle["txs"]}
    values = {e["key"]: e["value"] for e in bundle["state"]}
    lkey, pkey = f"lease/{t['lease']}", f"payment/{t['deposit']}"

    def confirmed_by(key: SigningKey, *gone: str) -> tuple[dict[str, Any], Any, str]:
        """(the edit, the log, the forged confirmation's txid): the deposit confirmed by ``key``, made
        the lease's agency and receiver; the agent's confirmation and appointment (and ``gone``) left out."""
        leaf = _confirmation(world, key, t["deposit"])
        who = key.public_hex
        edit = {
            lkey: {**values[lkey], "agency": who, "collector_party": who},
            pkey: {**values[pkey], "receiver": who, "confirmed_tx": _txid(leaf)},
        }
        dropped = {t["confirmed"], t["appointed"], *gone}
        return edit, lambda leaves: [*(x for x in leaves if _txid(x) not in dropped), leaf], _txid(leaf)

    edit, log_of, _ = confirmed_by(world.extra["agency"])
    assert isinstance(verify_bundle(_relogged(world, bundle, edit, log_of), world.server.vkey), VerifiedHistory)
    for gone, why in (((), "does not give the lease's agency"), ((t["granted"],), "no inclusion proof")):
        edit, log_of, _ = confirmed_by(liar, *gone)
        with pytest.raises(VerificationError, match=why) as info:
            verify_bundle(_relogged(world, bundle, edit, log_of), world.server.vkey)
        assert info.value.code == "PROOF_INVALID"
    # in parts: the grant comes with the lease, and is checked there
    lines = _parts(world, monkeypatch, t["tenant"], entries=1)
    docs = [json.loads(x) for x in lines]
    part = next(d for d in docs[1:-1] if any(e["key"] == lkey for e in d["state"]))
    assert t["granted"] in {x["txid"] for x in part["txs"]}
    edit, log_of, txid = confirmed_by(world.extra["agency"])
    assert verify_history_parts(_relogged_parts(world, lines, edit, log_of, {txid: pkey}), world.server.vkey)
    edit, log_of, txid = confirmed_by(liar)
    with pytest.raises(VerificationError, match="does not give the lease's agency") as info:
        verify_history_parts(_relogged_parts(world, lines, edit, log_of, {txid: pkey}), world.server.vkey)
    assert info.value.code == "PROOF_INVALID"
    # the grant left out of the lease's part (the end part counting one fewer): refused
    bad = list(lines)
    i = docs.index(part)
    bad[i] = _edit(lines[i], lambda d: d.update(txs=[x for x in d["txs"] if x["txid"] != t["granted"]]))
    bad[-1] = _edit(lines[-1], lambda d: d.update(txs=d["txs"] - 1))
    err = _refused(bad, world)
    assert err.code == "PROOF_INVALID" and "no inclusion proof for the mandate.grant" in err.message


def _registered(world: World, lease: str) -> dict[str, Any]:
    """Register ``lease`` (the authority) and return its registration bundle."""
    world.client.send("lease.register", world.keys["role:authority"], {"lease": lease})
    number = world.client.record(f"/leases/{lease}").value["registration"]["number"]
    bundle: dict[str, Any] = world.server.http.get(f"/api/v1/registrations/{number}").json()
    return bundle


def test_a_registration_binds_its_leases_landlord_side_as_a_history_does(world: World) -> None:
    """A registration bundle (proof of residence) carries the mandate.grant of a lease made through a
    mandate and, for a renewal, the leases it continues down to its lease.sign: a lying signer cannot
    make its own key the lease's agency or a renewal's landlord, nor leave out the lease renewed."""
    liar = SigningKey(hashlib.sha256(b"anju-binding-liar").digest()).public_hex
    t = _agency_tenancy(world, "registered-mandate")
    bundle = _registered(world, t["lease"])
    assert t["granted"] in {x["txid"] for x in bundle["txs"]}
    assert isinstance(verify_bundle(_resigned(world, bundle, {}), world.server.vkey), VerifiedRegistration)
    lkey = f"lease/{t['lease']}"
    values = {e["key"]: e["value"] for e in bundle["state"]}
    lie = {lkey: {**values[lkey], "agency": liar, "collector_party": liar}}
    with pytest.raises(VerificationError, match="does not give the lease's agency") as info:
        verify_bundle(_resigned(world, bundle, lie), world.server.vkey)
    assert info.value.code == "PROOF_INVALID"
    r = _renewed_tenancy(world, "registered-renewal")
    bundle = _registered(world, r["renewal"])
    first, renewal = f"lease/{r['first']}", f"lease/{r['renewal']}"
    values = {e["key"]: e["value"] for e in bundle["state"]}
    assert first in values and isinstance(verify_bundle(bundle, world.server.vkey), VerifiedRegistration)
    lies = {
        "does not keep the sides of the lease it continues": {
            renewal: {**values[renewal], "landlord": liar, "owner": liar, "collector_party": liar}
        },
        "the lease a renewal continues is not proven": {first: None},
    }
    for why, edit in lies.items():
        with pytest.raises(VerificationError, match=why) as info:
            verify_bundle(_resigned(world, bundle, edit), world.server.vkey)
        assert info.value.code == "PROOF_INVALID"


def test_a_lying_signer_cannot_name_another_owner_of_a_sublease(world: World) -> None:
    """A sublease's owner is the one whose consent signature its lease.sign carries: a lying signer
    that names another owner (its own key) is refused, in the subtenant's history and in the
    sublease's registration. (Control: the genuine bundles, re-signed unchanged, verify.)"""
    c, owner = world.client, world.keys["role:landlord"]
    tenant = _fresh_party(world, "anju-binding-sublet-tenant", "tenant")
    subtenant = _fresh_party(world, "anju-binding-sublet-subtenant", "tenant")
    terms = _terms(world, _fresh_unit(world, "sublet"), tenant, "landlord", None)
    head = c.send("lease.sign", owner, terms, cosigners=[tenant])["txid"][:16]
    sub_terms = {**terms, "landlord": tenant.public_hex, "tenant": subtenant.public_hex, "parent": head}
    sub_terms["end"] = add_days(world.end, 100)
    sub = c.send("lease.sign", tenant, sub_terms, cosigners=[subtenant, owner])["txid"][:16]
    liar = SigningKey(hashlib.sha256(b"anju-binding-liar").digest()).public_hex
    key = f"lease/{sub}"
    for bundle in (c.history(subtenant.public_hex), _registered(world, sub)):
        values = {e["key"]: e["value"] for e in bundle["state"]}
        assert values[key]["owner"] == owner.public_hex
        verify_bundle(_resigned(world, bundle, {}), world.server.vkey)
        with pytest.raises(VerificationError, match="owner did not sign its consent") as info:
            verify_bundle(_resigned(world, bundle, {key: {**values[key], "owner": liar}}), world.server.vkey)
        assert info.value.code == "PROOF_INVALID"


def test_a_lying_signer_cannot_change_the_landlord_of_a_renewal(world: World, monkeypatch: Any) -> None:
    """A renewal's landlord is the one of the lease it continues, back to the lease.sign that began
    the tenancy: a lying signer cannot make its own key a renewal's landlord (and so the receiver
    of its payments) and confirm the deposit with it, in one bundle or in parts; nor make it the
    landlord of the whole chain (the lease.sign names the landlord), nor leave out the lease the
    renewal continues. (Control: the same forged confirmation, signed by the genuine landlord,
    verifies.)"""
    from anju.client import verify_history_parts

    t = _renewed_tenancy(world, "renewal")
    liar = SigningKey(hashlib.sha256(b"anju-binding-liar").digest())
    bundle = world.client.history(t["tenant"])
    values = {e["key"]: e["value"] for e in bundle["state"]}
    first, renewal, pkey = f"lease/{t['first']}", f"lease/{t['renewal']}", f"payment/{t['deposit']}"

    def confirmed_by(key: SigningKey, *leases: str) -> tuple[dict[str, Any], Any, str]:
        """(the edit, the log, the forged confirmation's txid): ``key`` made the landlord (and owner,
        and collecting party) of ``leases``, the deposit's receiver, and confirming it."""
        leaf = _confirmation(world, key, t["deposit"])
        who = key.public_hex
        edit: dict[str, Any] = {k: {**values[k], "landlord": who, "owner": who, "collector_party": who} for k in leases}
        edit[pkey] = {**values[pkey], "receiver": who, "confirmed": True, "confirmed_tx": _txid(leaf)}
        edit[pkey]["confirmed_on"] = world.end
        return edit, lambda leaves: [*leaves, leaf], _txid(leaf)

    edit, log_of, _ = confirmed_by(world.keys["role:landlord"])
    honest = verify_bundle(_relogged(world, bundle, edit, log_of), world.server.vkey)
    assert isinstance(honest, VerifiedHistory) and honest.payment_counts["confirmed"] == 1
    lies = {
        "the renewal's landlord": (confirmed_by(liar, renewal), "does not keep the sides of the lease it continues"),
        "the whole chain's landlord": (confirmed_by(liar, renewal, first), "does not say what its lease.sign said"),
    }
    for name, ((edit, log_of, _), why) in lies.items():
        with pytest.raises(VerificationError, match=why) as info:
            verify_bundle(_relogged(world, bundle, edit, log_of), world.server.vkey)
        assert info.value.code == "PROOF_INVALID", name
    edit, log_of, _ = confirmed_by(liar, renewal)
    with pytest.raises(VerificationError, match="continues is not a tenancy of the bundle") as info:
        short = {**bundle, "state": [e for e in bundle["state"] if e["key"] != first]}
        verify_bundle(_relogged(world, short, edit, log_of), world.server.vkey)
    assert info.value.code == "PROOF_INVALID"
    # in parts: the renewal and the lease it continues come in parts of their own, checked at the end
    lines = _parts(world, monkeypatch, t["tenant"], entries=1)
    edit, log_of, txid = confirmed_by(world.keys["role:landlord"])
    assert verify_history_parts(_relogged_parts(world, lines, edit, log_of, {txid: pkey}), world.server.vkey)
    for name, ((edit, log_of, txid), why) in lies.items():
        with pytest.raises(VerificationError, match=why) as info:
            verify_history_parts(_relogged_parts(world, lines, edit, log_of, {txid: pkey}), world.server.vkey)
        assert info.value.code == "PROOF_INVALID", name


def test_an_agents_answer_needs_its_appointment_earlier_in_the_log(world: World, monkeypatch: Any) -> None:
    """An agent's confirmation is backed only by an appointment logged before it: a lying signer
    whose log puts the agent's appointment after the confirmation (as if an agent appointed later
    had answered an earlier payment) is refused, in one bundle and in parts. (Control: the same
    log in its genuine order, re-proven by the liar, verifies.)"""
    from anju.client import verify_history_parts

    t = _agency_tenancy(world, "order")
    bundle = world.client.history(t["tenant"])
    index = {x["txid"]: x["index"] for x in bundle["txs"]}
    assert index[t["appointed"]] < index[t["confirmed"]]

    def genuine(leaves: list[bytes]) -> list[bytes]:
        return leaves

    def appointed_last(leaves: list[bytes]) -> list[bytes]:
        return sorted(leaves, key=lambda x: _txid(x) == t["appointed"])  # (stable: the rest keep their order)

    assert isinstance(verify_bundle(_relogged(world, bundle, {}, genuine), world.server.vkey), VerifiedHistory)
    with pytest.raises(VerificationError, match="appointed only after it") as info:
        verify_bundle(_relogged(world, bundle, {}, appointed_last), world.server.vkey)
    assert info.value.code == "PROOF_INVALID"
    lines = _parts(world, monkeypatch, t["tenant"], entries=1)
    assert verify_history_parts(_relogged_parts(world, lines, {}, genuine), world.server.vkey)
    with pytest.raises(VerificationError, match="appointed only after it") as info:
        verify_history_parts(_relogged_parts(world, lines, {}, appointed_last), world.server.vkey)
    assert info.value.code == "PROOF_INVALID"


def test_the_histories_of_leases_called_off_before_they_began_verify(world: World, monkeypatch: Any) -> None:
    """Rules edition 8 takes credit back when a registered lease, and a registered sublease voided
    with it, is called off before it began: the −5 ``leases_registered`` of each registered side of
    each lease voided, and the tenant's ``rent_on_time`` earned on it before it began (−2 each), all
    from the one ``lease.terminate``. Everyone so charged keeps a history that verifies, in one bundle
    and in parts, and the credit it proves is the record's."""
    from anju.client import verify_history_parts

    c, authority, owner = world.client, world.keys["role:authority"], world.keys["role:landlord"]
    tenant = _fresh_party(world, "anju-void-head-tenant", "tenant")
    subtenant = _fresh_party(world, "anju-void-subtenant", "tenant")
    start = add_days(world.end, 40)
    terms = {**_terms(world, _fresh_unit(world, "void"), tenant, "landlord", None), "start": start}
    terms["end"] = add_days(start, 200)
    head = c.send("lease.sign", owner, terms, cosigners=[tenant])["txid"][:16]
    c.send("lease.register", authority, lease=head)
    paid = c.send("rent.pay", tenant, lease=head, period=start[:7], months=1, amount=500_000)["txid"][:16]
    c.send("payment.confirm", owner, payment=paid)  # on time, before the lease began: +2, taken back below
    sub_terms = {**terms, "landlord": tenant.public_hex, "tenant": subtenant.public_hex, "parent": head}
    sub = c.send("lease.sign", tenant, sub_terms, cosigners=[subtenant, owner])["txid"][:16]
    c.send("lease.register", authority, lease=sub)
    end = {"lease": head, "mode": "mutual", "on": add_days(start, -1), "reason_hash": H}
    c.send("lease.terminate", owner, end, cosigners=[tenant, subtenant])
    for who, registered in ((tenant, 0), (subtenant, 0), (owner, None)):
        bundle = c.history(who.public_hex)
        result = verify_bundle(bundle, world.server.vkey)
        assert isinstance(result, VerifiedHistory)
        record = c.state(f"credit/{who.public_hex}").value
        assert result.score == record["score"]
        if registered is not None:  # each registration given back, and the rent's credit too
            assert record["factors"]["leases_registered"]["points"] == registered
            assert record["factors"].get("rent_on_time", {"points": 0})["points"] == 0
        _same_history(
            verify_history_parts(_parts(world, monkeypatch, who.public_hex, entries=1), world.server.vkey), result
        )
    # a history that leaves out a lease the calling off voided, or a lying signer that says it was not, is refused
    bundle = c.history(subtenant.public_hex)
    short = {**bundle, "state": [e for e in bundle["state"] if e["key"] != f"lease/{head}"]}
    with pytest.raises(VerificationError, match="leaves out a lease that calling off voided"):
        verify_bundle(short, world.server.vkey)
    record = _value(bundle, f"lease/{sub}")
    with pytest.raises(VerificationError, match="registration taken back is not the calling off") as info:
        verify_bundle(_resigned(world, bundle, {f"lease/{sub}": {**record, "termination": None}}), world.server.vkey)
    assert info.value.code == "PROOF_INVALID"
    verify_bundle(_resigned(world, bundle, {}), world.server.vkey)  # (control: re-signed unchanged, it verifies)


# -- a listing an agent published: the agency's appointment of that agent, proven --------------------
def _agent_listing(world: World, name: str) -> dict[str, Any]:
    """A listing of a new unit of the world's landlord, published by a new agent of the world's
    agency under the agency's mandate."""
    c, agency, owner = world.client, world.extra["agency"], world.keys["role:landlord"]
    agent = _fresh_party(world, f"anju-listing-{name}-agent", "agent")
    appointed = c.send("agency.appoint_agent", agency, agent=agent.public_hex)["txid"]
    unit = _fresh_unit(world, f"listing-{name}")
    grant = {"unit": unit, "agency": agency.public_hex, "exclusive": False, "from": world.end}
    granted = c.send("mandate.grant", owner, grant, to=add_days(world.end, 400), may_sign=True, min_rent=100_000)
    terms = {
        "unit": unit,
        "mandate": granted["txid"][:16],
        "rent": 600_000,
        "deposit": 600_000,
        "available_from": world.end,
        "min_term_months": 6,
        "description": "经纪人代理的一居室",
        "photos": [H],
    }
    published = c.send("listing.publish", agent, terms)["txid"]
    code = c.record(f"/listings/{published[:16]}").value["code"]
    return {"agent": agent, "appointed": appointed, "published": published, "code": code}


def _code_bundle(world: World, code: str) -> dict[str, Any]:
    bundle: dict[str, Any] = world.server.http.get(f"/api/v1/codes/{code}").json()
    return bundle


def test_a_listing_an_agent_published_verifies_with_the_agents_appointment(world: World, tmp_path: Path) -> None:
    """The listing bundle of an agent's listing proves the agency's agency.appoint_agent of that
    agent, logged before the listing.publish; the SDK, ``anju check`` (a file, and a code asked of
    the server) and the client accept it; once the agent is dismissed, and once appointed again
    (the party record then names a later appointment, or none), the bundle still proves the
    appointment the agent published under. Without it the listing is refused."""
    c, agency = world.client, world.extra["agency"]
    t = _agent_listing(world, "genuine")
    bundle = _code_bundle(world, t["code"])
    index = {x["txid"]: x["index"] for x in bundle["txs"]}
    assert index[t["appointed"]] < index[t["published"]]
    got = verify_bundle(bundle, world.server.vkey, world.end)
    assert isinstance(got, VerifiedListing) and got.listing["agent"] == t["agent"].public_hex
    assert c.verify_listing(t["code"], date=world.end).status == "live"
    path = tmp_path / "listing.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False))
    for target in (str(path), t["code"]):
        argv = ["check", target, "--key", world.server.vkey, "--date", world.end, "--json"]
        argv += ["--server", world.server.url] if target == t["code"] else []
        out = CliRunner().invoke(app, argv)
        assert out.exit_code == 0, out.output
        said = json.loads(out.stdout)
        assert said["status"] == "live" and said["agent"] == t["agent"].public_hex, said
        assert said["publisher_role"] == "agency" and said["mandate"] == got.listing["mandate"], said
        human = CliRunner().invoke(app, [a for a in argv if a != "--json"], env={"COLUMNS": "300"})
        assert f"through its appointed agent {t['agent'].public_hex[:16]}…" in human.stdout, human.stdout
    short = {**bundle, "txs": [x for x in bundle["txs"] if x["txid"] != t["appointed"]]}
    with pytest.raises(VerificationError, match="does not prove its publisher appointed") as info:
        verify_bundle(short, world.server.vkey, world.end)
    assert info.value.code == "PROOF_INVALID" and info.value.details["agent"] == t["agent"].public_hex
    path.write_text(json.dumps(short, ensure_ascii=False))
    out = CliRunner().invoke(app, ["check", str(path), "--key", world.server.vkey, "--json"])
    assert out.exit_code == 1 and json.loads(out.stdout)["error"]["code"] == "PROOF_INVALID"
    # dismissed: the agent's record names no agency, the listing stays the agency's
    c.send("agency.dismiss_agent", agency, agent=t["agent"].public_hex)
    bundle = _code_bundle(world, t["code"])
    assert _value(bundle, f"party/{t['agent'].public_hex}")["agency"] is None
    assert t["appointed"] in {x["txid"] for x in bundle["txs"]}
    assert verify_bundle(bundle, world.server.vkey, world.end).code == t["code"]  # type: ignore[union-attr]
    # appointed again: the record's appointed_tx is the new one, logged after the listing; the bundle
    # proves the one before it
    again = c.send("agency.appoint_agent", agency, agent=t["agent"].public_hex)["txid"]
    bundle = _code_bundle(world, t["code"])
    assert _value(bundle, f"party/{t['agent'].public_hex}")["appointed_tx"] == again
    txids = {x["txid"] for x in bundle["txs"]}
    assert t["appointed"] in txids and again not in txids
    assert c.verify_listing(t["code"], date=world.end).listing["agent"] == t["agent"].public_hex


def _signed_leaf(
    world: World, key: SigningKey, kind: str, cosigners: tuple[SigningKey, ...] = (), **fields: Any
) -> bytes:
    """A transaction signed by ``key`` (and co-signed by ``cosigners``), never sent to the ledger:
    what a lying signer puts in a log of its own making (the leaf, JCS of the envelope)."""
    from anju.crypto import jcs
    from anju.crypto.tx import sign

    chain = world.server.http.get("/api/v1/node").json()["chain_id"]
    body = {"chain": chain, "kind": kind, "signer": key.public_hex, "seq": 1, **fields}
    return jcs.canonicalize(sign(body, [key, *cosigners]))


def _publish_leaf(world: World, listing: dict[str, Any], key: SigningKey, *cosigners: SigningKey) -> bytes:
    """A ``listing.publish`` of the listing's unit under its mandate, at half its rent, signed by ``key``."""
    from anju.client.verify import LISTING_PUBLISHED

    terms = {f: listing[f] for f in LISTING_PUBLISHED}
    return _signed_leaf(world, key, "listing.publish", cosigners, **{**terms, "rent": listing["rent"] // 2})


def _forged_listing(
    world: World, bundle: dict[str, Any], publish: bytes, agent: str | None, edit: dict[str, Any], before: list[bytes]
) -> tuple[dict[str, Any], str]:
    """A genuine listing ``bundle`` as a lying signer would re-sign it with a listing of its own
    making: published by ``publish`` (appended to the genuine log, after the leaves ``before``),
    its record the genuine one's but for its id, code, agent and rent, and ``edit``; with its code."""
    from anju.client.verify import code_candidates

    txid = _txid(publish)
    lid, code = txid[:16], next(code_candidates(txid))
    listing = _value(bundle, "listing/")
    fake = {**listing, "id": lid, "code": code, "published_tx": txid, "agent": agent, "rent": listing["rent"] // 2}
    edit = {f"listing/{lid}": fake, f"code/{code}": {"code": code, "listing": lid}, **edit}
    forged = _relogged(world, bundle, edit, lambda leaves: [*leaves, *before, publish])
    return {**forged, "subject": code}, code


def test_a_lying_signer_cannot_publish_a_listing_through_an_agent_the_agency_never_appointed(world: World) -> None:
    """A lying checkpoint signer makes a key of its own (or another agency's agent) the "agent" of an
    agency: it signs a listing.publish for the owner's unit under the agency's genuine mandate,
    writes a party record saying the key is the agency's agent, and logs it all. The SDK refuses
    the listing (PROOF_INVALID): no agency.appoint_agent by the publisher names that key, or only
    one logged after the publication. AnjuClient refuses it from a server serving it. (Control: the
    genuine bundle re-proven by the liar in its own log verifies.)"""
    from tests.conftest import raw_http_server

    t = _agent_listing(world, "liar")
    bundle = _code_bundle(world, t["code"])
    agency = world.extra["agency"]
    listing = _value(bundle, "listing/")
    assert verify_bundle(_relogged(world, bundle, {}, lambda x: x), world.server.vkey, world.end)
    stranger = SigningKey(hashlib.sha256(b"anju-liars-agent").digest())  # never registered, never appointed
    claim = {
        f"party/{stranger.public_hex}": {
            **_value(bundle, f"party/{t['agent'].public_hex}"),
            "id": stranger.public_hex,
            "appointed_tx": t["appointed"],  # the genuine appointment, of another agent
        }
    }
    publish = _publish_leaf(world, listing, stranger)
    other_agency = SigningKey(hashlib.sha256(b"anju-another-agency").digest())
    by_another = _signed_leaf(world, other_agency, "agency.appoint_agent", agent=stranger.public_hex)
    cases = {
        "never appointed": ([], "does not prove its publisher appointed"),
        "appointed by another agency": ([by_another], "does not prove its publisher appointed"),
    }
    for name, (before, message) in cases.items():
        forged, code = _forged_listing(world, bundle, publish, stranger.public_hex, claim, before)
        with pytest.raises(VerificationError, match=message) as info:
            verify_bundle(forged, world.server.vkey, world.end)
        assert info.value.code == "PROOF_INVALID", name
        assert (
            info.value.details["agent"] == stranger.public_hex and info.value.details["publisher"] == agency.public_hex
        )
    # appointed by the agency, but only after the publication (the genuine agent, the genuine leaves, reordered)
    order = {t["appointed"]: 1}
    late = _relogged(world, bundle, {}, lambda leaves: sorted(leaves, key=lambda x: order.get(_txid(x), 0)))
    with pytest.raises(VerificationError, match="appointed by its publisher only after it") as info:
        verify_bundle(late, world.server.vkey, world.end)
    assert info.value.code == "PROOF_INVALID"
    # the same lie from a server: AnjuClient refuses it
    forged, code = _forged_listing(world, bundle, publish, stranger.public_hex, claim, [])
    body = json.dumps(forged).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
    url, srv = raw_http_server(lambda _: head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    try:
        with AnjuClient(url, world.server.vkey) as liar, pytest.raises(VerificationError) as info:
            liar.verify_listing(code, date=world.end)
        assert info.value.code == "PROOF_INVALID" and "appointed" in info.value.message
    finally:
        srv.close()


def test_a_lying_signer_cannot_stretch_a_listing_s_mandate(world: World) -> None:
    """A listing published under a mandate is live only within the mandate's term: a lying
    checkpoint signer that rewrites the mandate record (a later ``to``, a lower ``min_rent``, another
    id) keeps a listing verifying whose mandate ended. The mandate is the one its owner's
    mandate.grant made: PROOF_INVALID naming the fields that differ (the SDK checked only the
    grant's unit and agency)."""
    t = _agent_listing(world, "stretched")
    bundle = _code_bundle(world, t["code"])
    mandate = _value(bundle, "mandate/")
    assert verify_bundle(_relogged(world, bundle, {}, lambda x: x), world.server.vkey, world.end)
    for field, value in (("to", "2099-12-31"), ("min_rent", 0), ("exclusive", not mandate["exclusive"])):
        edit = {f"mandate/{mandate['id']}": {**mandate, field: value}}
        forged = _relogged(world, bundle, edit, lambda x: x)
        with pytest.raises(VerificationError, match=r"the mandate does not say what its mandate\.grant said") as info:
            verify_bundle(forged, world.server.vkey, world.end)
        assert info.value.code == "PROOF_INVALID" and info.value.details["fields"] == [field], (field, info.value)


def test_a_transaction_its_party_only_co_signed_is_not_that_partys_act(world: World) -> None:
    """Where a listing bundle's check needs a party's act (the publisher's listing.publish, the
    owner's mandate.grant, the authority's title.attest), it takes the envelope's signer: a lying
    signer's own transaction that the party merely co-signed is refused (PROOF_INVALID, saying the
    party only co-signed it), as the registry would never have taken it as that party's."""
    t = _agent_listing(world, "cosigned")
    bundle = _code_bundle(world, t["code"])
    agency, owner, authority = world.extra["agency"], world.keys["role:landlord"], world.keys["role:authority"]
    liar = SigningKey(hashlib.sha256(b"anju-liar-cosigned").digest())
    listing, mandate = _value(bundle, "listing/"), _value(bundle, "mandate/")
    title = _value(bundle, "title/")
    # the publisher's: a listing.publish of the liar's, co-signed by the agency, naming no agent
    publish = _publish_leaf(world, listing, liar, agency)
    forged, _ = _forged_listing(world, bundle, publish, None, {}, [])
    with pytest.raises(VerificationError, match="only co-signed") as info:
        verify_bundle(forged, world.server.vkey, world.end)
    assert info.value.code == "PROOF_INVALID" and info.value.details["signer"] == liar.public_hex
    # the owner's mandate.grant, and the authority's title.attest, each the liar's, co-signed
    grant_fields = ("unit", "agency", "exclusive", "from", "to", "may_sign", "min_rent")
    grant = _signed_leaf(world, liar, "mandate.grant", (owner,), **{f: mandate[f] for f in grant_fields})
    attest = _signed_leaf(
        world,
        liar,
        "title.attest",
        (authority,),
        unit=title["unit"],
        certificate_commitment=title["certificate_commitment"],
    )
    lies = {
        "mandate.grant": (grant, {f"mandate/{mandate['id']}": {**mandate, "granted_tx": _txid(grant)}}),
        "title.attest": (attest, {f"title/{title['certificate_commitment']}": {**title, "tx": _txid(attest)}}),
    }
    for kind, (leaf, edit) in lies.items():
        forged = _relogged(world, bundle, edit, lambda leaves, leaf=leaf: [*leaves, leaf])
        with pytest.raises(VerificationError, match="only co-signed") as info:
            verify_bundle(forged, world.server.vkey, world.end)
        assert info.value.code == "PROOF_INVALID" and kind in info.value.message
