"""The portal's lists by party, unit and lease: indexed SQL that finds exactly what the old prefix scans found.

Two real ledgers: the portal tests' small one (:func:`tests.web.ledger.build`) with an agency lease,
a sublease, payments and disputes added, and a seeded demo district (60 units, three years: agency
leases, subleases, renewals, payments, disputes, reviews) with a few rent payments left unconfirmed.
Each gets the indexes the API app creates at start. :class:`OldReader` answers every look-up with a
scan of its kind, as the old code did; every converted list must equal its answer for every party,
unit and lease.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from anju.api.snapshot import REGISTRY_INDEXES, ensure_indexes
from anju.chain.node import DB_NAME, Node, now_rfc3339
from anju.cli.serve_cmds import build_demo
from anju.crypto import tx
from anju.crypto.keys import SigningKey
from anju.ledger.store import Store
from anju.registry.dates import add_days, add_months, month_of
from anju.web.reads import Reader, Record, Search

from .ledger import CHAIN, build, h, key

UNKNOWN = "f" * 64


class OldReader(Reader):
    """The portal's reads as they were: every look-up answered by a prefix scan of its kind.

    The methods are :class:`Reader`'s own; only the candidates change. Each indexed query starts
    with its kind's partial condition (``key LIKE 'lease/%'``): here it reads that whole kind
    instead, and the same Python filter and sort pick the records. Equal lists mean the indexed
    candidates miss nothing the scan found."""

    def select(self, sql: str, args: tuple[Any, ...]) -> Iterator[Record]:
        m = re.match(r"SELECT value FROM state WHERE key LIKE '(\w+)/%'", sql)
        return super().select(sql, args) if m is None else self.scan(m.group(1) + "/")


@dataclass
class FakeNode:
    """What :class:`Reader` needs of a node: a store and a clock."""

    store: Any
    chain_id: str = "test"
    now: str = ""

    def clock(self) -> str:
        return self.now


class Recording:
    """A store that remembers the SQL it was asked to run."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queries: list[tuple[str, Any]] = []

    def state_get(self, k: str) -> bytes | None:
        return self.store.state_get(k)

    def execute(self, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        self.queries.append((sql, args))
        return self.store.execute(sql, args)


@dataclass
class Ledger:
    name: str
    store: Store
    now: str

    def readers(self) -> tuple[Reader, OldReader]:
        return Reader(FakeNode(self.store, now=self.now)), OldReader(FakeNode(self.store, now=self.now))

    def ids(self, kind: str) -> list[str]:
        return [
            str(k).split("/", 1)[1] for (k,) in self.store.execute(f"SELECT key FROM state WHERE key LIKE '{kind}/%'")
        ]

    def records(self, kind: str) -> list[Record]:
        rows = self.store.execute(f"SELECT value FROM state WHERE key LIKE '{kind}/%' ORDER BY key")
        return [orjson.loads(v) for (v,) in rows]

    def parties(self) -> list[str]:
        meta = orjson.loads(self.store.state_get("meta/registry") or b"{}")
        return [*self.ids("party"), str(meta["authority"]), UNKNOWN, ""]


def _submit(
    node: Node, chain: str, signer: SigningKey, kind: str, *cosign: SigningKey, at: str | None = None, **fields: Any
) -> str:
    raw = node.store.state_get(f"seq/{signer.public_hex}")
    seq = 1 + (0 if raw is None else int(raw))
    body = {"chain": chain, "kind": kind, "signer": signer.public_hex, "seq": seq, **fields}
    parsed = tx.parse_and_verify(orjson.dumps(tx.sign(body, [signer, *cosign])))
    _, results = node.commit_block(at or now_rfc3339(), [parsed])
    if results[0] is not None:
        raise results[0]
    return parsed.txid[:16]


def _grow_small(data: Path, ids: dict[str, Any]) -> None:
    """An agency-signed lease collected by the agency, a sublease of it, payments confirmed and not, disputes,
    and listings by the owner and by the agency."""
    node = Node(data, verify_workers=0)
    try:
        today = ids["today"]
        landlord, tenant, tenant2, agency = key("landlord"), key("tenant"), key("tenant2"), key("agency_a")
        mid = _submit(
            node,
            CHAIN,
            landlord,
            "mandate.grant",
            unit=ids["unit1"],
            agency=agency.public_hex,
            exclusive=False,
            to=add_days(today, 730),  # (the agency advertises the unit for after its lease, edition 5)
            may_sign=True,
            min_rent=500_000,
            **{"from": today},
        )
        terms = {"payment_day": 5, "notice_days": 30, "rent": 800_000, "deposit": 800_000}
        lease_a = _submit(
            node,
            CHAIN,
            agency,
            "lease.sign",
            tenant,
            unit=ids["unit1"],
            landlord=landlord.public_hex,
            tenant=tenant.public_hex,
            mandate=mid,
            start=today,
            end=add_days(today, 364),
            collector="agency",
            document_hash=h("lease-a"),
            **terms,
        )
        _submit(node, CHAIN, tenant, "deposit.lodge", lease=lease_a, amount=800_000)  # to confirm by the agency
        sub = _submit(
            node,
            CHAIN,
            tenant,
            "lease.sign",
            landlord,
            tenant2,
            unit=ids["unit1"],
            landlord=tenant.public_hex,
            tenant=tenant2.public_hex,
            parent=lease_a,
            start=add_days(today, 30),
            end=add_days(today, 200),
            collector="landlord",
            document_hash=h("sublease"),
            **{**terms, "rent": 400_000, "deposit": 400_000},
        )
        lease3 = ids["lease3"]
        deposit = _submit(node, CHAIN, tenant2, "deposit.lodge", lease=lease3, amount=900_000)
        _submit(node, CHAIN, landlord, "payment.confirm", payment=deposit)
        start3 = add_days(today, 10)
        _submit(node, CHAIN, tenant2, "rent.pay", lease=lease3, period=month_of(start3), months=1, amount=900_000)
        _submit(node, CHAIN, tenant2, "deposit.lodge", lease=sub, amount=400_000)  # to confirm by the sub-landlord
        _submit(node, CHAIN, tenant2, "dispute.open", lease=lease3, subject="condition", evidence=[h("ev1")])
        # two more live listings, free after the agency's lease ends: one by the owner, one by the agency
        listing = {"deposit": 700_000, "min_term_months": 6, "description": "朝南一居室", "photos": []}
        later = add_days(today, 400)
        _submit(
            node, CHAIN, landlord, "listing.publish", unit=ids["unit1"], rent=700_000, available_from=later, **listing
        )
        _submit(
            node,
            CHAIN,
            agency,
            "listing.publish",
            unit=ids["unit1"],
            mandate=mid,
            rent=1_200_000,
            available_from=later,
            **listing,
        )
        _submit(node, CHAIN, tenant, "dispute.open", lease=sub, subject="other", evidence=[h("ev2")])
        # a unit waiting for the authority's title check (the authority's queue)
        _submit(
            node,
            CHAIN,
            landlord,
            "unit.register",
            district="徐汇区",
            street="天钥桥路",
            neighbourhood="天钥新村",
            address_commitment=h("u-untitled"),
            floor_area_m2=45,
            rooms=1,
        )
    finally:
        node.stop()


def _leave_rent_unconfirmed(data: Path, chain: str, now: str) -> int:
    """Demo tenants pay their next month on ``now``; nobody confirms it. Returns how many payments went in."""
    manifest = orjson.loads((data / "demo-parties.json").read_bytes())
    node = Node(data, verify_workers=0)
    paid = 0
    try:
        today = now[:10]
        for p in manifest["parties"]:
            if p["role"] != "tenant":
                continue
            k = SigningKey(bytes.fromhex(p["seed_hex"]))
            rows = node.store.execute(
                "SELECT value FROM state WHERE key LIKE 'lease/%' AND json_extract(value,'$.tenant')=? ORDER BY key",
                (k.public_hex,),
            )
            for (value,) in rows:
                lease = orjson.loads(value)
                if lease["status"] != "active" or lease["ends_on"] < today or not lease["paid_through"]:
                    continue
                period = add_months(lease["paid_through"], 1)
                if period > month_of(lease["ends_on"]) or period > month_of(add_days(today, 60)):
                    continue
                _submit(
                    node, chain, k, "rent.pay", at=now, lease=lease["id"], period=period, months=1, amount=lease["rent"]
                )
                paid += 1
                break
    finally:
        node.stop()
    return paid


DISTRICT_START = "2023-11-28"
DISTRICT_NOW = "2026-11-27T23:59:00.000Z"  # the end of that district's three years


def _open(data: Path) -> Store:
    ensure_indexes(data / DB_NAME, REGISTRY_INDEXES)  # what the API app does when it starts
    return Store(data / DB_NAME, readonly=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    data = tmp_path_factory.mktemp("small")
    _grow_small(data, build(data))
    store = _open(data)
    yield Ledger("small", store, now_rfc3339())
    store.close()


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    data = tmp_path_factory.mktemp("district")
    # A fixed district and day, not anju demo's (history ending today): whether a lease waits for its
    # registration or a deposit for its bank at the end of the history depends on the dates (none did
    # for the district built on 2026-11-28); the seed and the start fix the district entirely.
    build_demo(data, 60, quiet=True, start=DISTRICT_START)
    assert _leave_rent_unconfirmed(data, "anju-demo", DISTRICT_NOW) > 0
    store = _open(data)
    yield Ledger("district", store, DISTRICT_NOW)
    store.close()


@pytest.fixture(params=["small", "district"])
def ledger(request: pytest.FixtureRequest) -> Ledger:
    led: Ledger = request.getfixturevalue(request.param)
    return led


# -- the same records, in the same order ------------------------------------------------------------------
def _same(new: Reader, old: OldReader, name: str, args: list[dict[str, Any]]) -> int:
    """Compare ``name(**a)`` for every ``a``; return how many records the lists held in all."""
    total = 0
    for a in args:
        got, want = getattr(new, name)(**a), getattr(old, name)(**a)
        assert got == want, (name, a)
        total += len(want)
    return total


def test_party_lists_equal_the_old_scans(ledger: Ledger) -> None:
    new, old = ledger.readers()
    parties = ledger.parties()
    found = {
        "units_of": _same(new, old, "units_of", [{"owner": p} for p in parties]),
        "mandates_owner": _same(new, old, "mandates", [{"owner": p} for p in parties]),
        "mandates_agency": _same(new, old, "mandates", [{"agency": p} for p in parties]),
        "listings_owner": _same(new, old, "listings", [{"owner": p} for p in parties]),
        "listings_publisher": _same(new, old, "listings", [{"publisher": p} for p in parties]),
        "leases": _same(new, old, "leases", [{"party": p} for p in parties]),
        "payments_to_confirm": _same(new, old, "payments_to_confirm", [{"receiver": p} for p in parties]),
        "disputes": _same(new, old, "disputes", [{"party": p} for p in parties]),
        "open_disputes": _same(new, old, "disputes", [{"party": p, "open_only": True} for p in parties]),
        "reviews_about": _same(new, old, "reviews_about", [{"pid": p} for p in parties]),
    }
    # every list was exercised with records in it, in one ledger or the other (reviews need leases that
    # have ended: the district's; the district's disputes are all resolved: the small ledger's are open)
    empty = {k for k, n in found.items() if n == 0}
    assert empty <= {"small": {"reviews_about"}, "district": {"open_disputes"}}[ledger.name], empty
    # the unfiltered forms still list everything
    for name, a in (("mandates", {}), ("listings", {}), ("disputes", {}), ("disputes", {"open_only": True})):
        _same(new, old, name, [a])


def test_the_authority_queues_equal_the_old_scans(ledger: Ledger) -> None:
    new, old = ledger.readers()
    sizes = {q: _same(new, old, q, [{}]) for q in ("titles_to_attest", "leases_to_register", "escrow_queue")}
    agencies = [{"agency": p["id"]} for p in ledger.records("party") if p["role"] == "agency"]
    agents = [p for p in ledger.records("party") if p["role"] == "agent" and p.get("agency")]
    assert _same(new, old, "agents_of", agencies) == len(agents) and (agents or ledger.name == "small")
    assert sizes["leases_to_register"] > 0 and sizes["escrow_queue"] > 0  # never empty against empty
    if ledger.name == "small":  # it has a unit waiting for its title
        assert sizes["titles_to_attest"] == 1


def test_unit_and_lease_lists_equal_the_old_scans(ledger: Ledger) -> None:
    new, old = ledger.readers()
    units, leases = [*ledger.ids("unit"), "0" * 16], [*ledger.ids("lease"), "0" * 16]
    assert _same(new, old, "mandates", [{"unit": u} for u in units]) > 0
    assert _same(new, old, "payments", [{"lease_id": lid} for lid in leases]) > 0
    assert _same(new, old, "disputes", [{"lease": lid} for lid in leases]) > 0
    # two filters at once still mean both
    pairs = [{"owner": m["owner"], "agency": m["agency"]} for m in ledger.records("mandate")]
    assert _same(new, old, "mandates", [*pairs, *({"owner": p["owner"], "unit": u} for p in pairs for u in units[:3])])
    both = [{"owner": ls["owner"], "publisher": ls["publisher"]} for ls in ledger.records("listing")]
    assert _same(new, old, "listings", both) > 0


def test_the_registry_shapes_the_lists_rely_on_occur(small: Ledger, district: Ledger) -> None:
    """Subleases (landlord ≠ owner), agency leases and listings, respondents: what the unit route must cover."""
    for led in (small, district):
        leases = led.records("lease")
        assert any(ls["parent"] and ls["landlord"] != ls["owner"] for ls in leases), led.name
        assert any(ls["agency"] for ls in leases), led.name
        assert any(d["opener"] != d["respondents"][0] for d in led.records("dispute")), led.name
    assert any(ls["publisher_role"] == "agency" for ls in district.records("listing"))


def test_search_by_rent_equals_the_old_scan(ledger: Ledger) -> None:
    new, old = ledger.readers()
    rents = sorted({ls["rent"] for ls in ledger.records("listing")})
    lo, mid, hi = rents[0], rents[len(rents) // 2], rents[-1]
    searches = [
        Search(rent_min=mid),
        Search(rent_max=mid),
        Search(rent_min=lo, rent_max=hi),
        Search(rent_min=mid, rent_max=mid),
        Search(rent_min=hi + 1),
        Search(rent_min=0, rent_max=10**9, rooms=2, limit=5),
        Search(street="路", rent_max=hi, area_min=30),
    ]
    if ledger.name == "small":  # the district's listings have all been let or have lapsed by today
        assert sum(len(old.search(q)) for q in searches) > 0
    for q in searches:
        assert new.search(q) == old.search(q), q


# -- the indexes the queries use ----------------------------------------------------------------------------
PARTY_UNITS = {"web_unit_owner", "api_lease_tenant", "web_mandate_agency"}


def _cases(led: Ledger) -> list[tuple[str, Callable[[Reader], object], set[str]]]:
    lease = led.records("lease")[0]
    mandate = led.records("mandate")[0]
    owner, tenant, agency = lease["owner"], lease["tenant"], mandate["agency"]
    return [
        ("units_of", lambda r: r.units_of(owner), {"web_unit_owner"}),
        ("mandates(unit)", lambda r: r.mandates(unit=mandate["unit"]), {"web_mandate_unit"}),
        ("mandates(agency)", lambda r: r.mandates(agency=agency), {"web_mandate_agency"}),
        ("mandates(owner)", lambda r: r.mandates(owner=owner), {"web_mandate_unit", "web_unit_owner"}),
        ("listings(owner)", lambda r: r.listings(owner=owner), {"api_listing_unit", "web_unit_owner"}),
        ("listings(publisher)", lambda r: r.listings(publisher=agency), {"api_listing_unit", *PARTY_UNITS}),
        ("leases", lambda r: r.leases(tenant), {"api_lease_unit", *PARTY_UNITS}),
        ("payments", lambda r: r.payments(lease["id"]), {"web_payment_lease"}),
        ("payments_to_confirm", lambda r: r.payments_to_confirm(owner), {"web_payment_to_confirm"}),
        ("disputes(party)", lambda r: r.disputes(party=tenant), {"web_dispute_unit", *PARTY_UNITS}),
        ("disputes(lease)", lambda r: r.disputes(lease=lease["id"]), {"web_dispute_unit"}),
        ("reviews_about", lambda r: r.reviews_about(tenant), {"web_review_subject"}),
        ("search(rent_min)", lambda r: r.search(Search(rent_min=1)), {"api_listing_rent"}),
        ("search(rent_max)", lambda r: r.search(Search(rent_max=10**9)), {"api_listing_rent"}),
        ("search(rent range)", lambda r: r.search(Search(rent_min=1, rent_max=10**9)), {"api_listing_rent"}),
        ("titles_to_attest", lambda r: r.titles_to_attest(), {"web_unit_untitled"}),
        ("leases_to_register", lambda r: r.leases_to_register(), {"web_lease_unregistered"}),
        ("escrow_queue", lambda r: r.escrow_queue(), {"web_lease_agency_collected"}),
        ("agents_of", lambda r: r.agents_of(agency), {"web_party_agency"}),
    ]


QUEUES = {"web_unit_untitled", "web_lease_unregistered", "web_lease_agency_collected"}  # read whole: what waits


def _plan(store: Store, sql: str, args: Any) -> list[str]:
    return [str(row[3]) for row in store.execute("EXPLAIN QUERY PLAN " + sql, args)]


def test_each_query_uses_its_index(district: Ledger) -> None:
    for name, call, indexes in _cases(district):
        rec = Recording(district.store)
        call(Reader(FakeNode(rec, now=district.now)))
        assert len(rec.queries) == 1, (name, rec.queries)
        sql, args = rec.queries[0]
        plan = _plan(district.store, sql, args)
        used = {i for i in indexes for step in plan if f"USING INDEX {i} " in step + " "}
        assert used == indexes, (name, plan)
        # no step reads a whole table, an index or a key range (the old prefix scan); the queues'
        # partial indexes are read whole: they hold only the records waiting for the authority
        scans = [s for s in plan if s.startswith("SCAN") and not any(f"USING INDEX {q}" in s for q in QUEUES)]
        assert not scans and not [s for s in plan if "key>?" in s or "key<?" in s], (name, plan)


def test_a_query_without_its_partial_condition_would_scan(district: Ledger) -> None:
    """The plan check above can fail: the same look-up without ``key LIKE 'payment/%'`` scans the state table."""
    plan = _plan(district.store, "SELECT value FROM state WHERE json_extract(value,'$.lease')=? ORDER BY key", ("x",))
    assert any(s.startswith("SCAN state") for s in plan), plan
    assert not any("web_payment_lease" in s for s in plan), plan


def test_every_index_is_used_by_some_query(district: Ledger) -> None:
    names = {sql.split()[5] for sql in REGISTRY_INDEXES}
    portal = {n for n in names if n.startswith("web_")}
    assert portal == set().union(*(i for _, _, i in _cases(district))) - {n for n in names if n.startswith("api_")}


def test_the_portal_server_creates_the_indexes(server: dict[str, Any]) -> None:
    """The portal is served from the API app (``anju.web.devserver``, like ``anju serve``), which creates them."""
    conn = sqlite3.connect(f"file:{server['data'] / DB_NAME}?mode=ro", uri=True)
    try:
        have = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        conn.close()
    assert {sql.split()[5] for sql in REGISTRY_INDEXES} <= have
