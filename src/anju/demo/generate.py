"""A seeded, deterministic Xuhui rental market, produced as real signed transactions.

``generate(seed, units)`` returns a :class:`Demo`: genesis parameters, a manifest of demo parties
(for the demo's one-click sign-in) and :meth:`Demo.blocks`, which yields ``(time, [envelope])``
in increasing time. Every key is ``SigningKey.from_seed(sha256(seed ‖ name))``; every seq is the
signer's next; every transaction is one the registry accepts (tests/registry/test_demo.py).

The market: owners register and title their units; most hand them to agencies (some exclusive,
most letting the agency sign); listings are published, leased within days, registered (备案);
deposits are lodged (bank escrow where an agency holds more than a month's rent), rent is paid
monthly (sometimes late) and confirmed; leases end naturally, by notice, or are renewed; deposits
are returned with deductions or disputed; both sides review; a few listings are reported fake;
a few tenants sublet with the owner's consent.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from anju.crypto.commitments import SALT_BYTES, commit
from anju.crypto.keys import SigningKey
from anju.crypto.tx import sign, signed_bytes
from anju.demo.places import AGENCY_NAMES, DISTRICT, STREETS, SURNAMES
from anju.registry.dates import add_days, add_months, due_date, month_of
from anju.registry.machine import genesis_params

Envelope = dict[str, Any]
BLOCK_TXS = 5000  # a busy day is cut into several blocks, a second apart
OPEN_AT_END_DAYS = 58
"""Listings published this close to the end of the history mostly stay open (see ``_still_looking``)."""
OPEN_AT_END_SHARE = 205
"""Of 256: about 80% of them (a listing code lasts 60 days, so all are still live)."""
BOUNCED_ONE_IN = 40
"""One rent transfer in this many bounces: the collector refuses it (``payment.refuse``); the tenant pays again."""


@dataclass(frozen=True, slots=True)
class DemoParty:
    """A demo identity: its role, a display name (off-ledger), and its key seed for sign-in."""

    role: str
    name: str
    seed_hex: str
    key: str
    identity: str = ""
    """The text its identity commitment (``party/<key>``'s ``commitment``) is to, with ``salt``:
    what the party shows to disclose who it is (``anju keys disclose``, the portal's history
    download); empty for the authority and the bank, registered by the genesis without one."""
    salt: str = ""


@dataclass(slots=True)
class _Unit:
    idx: int
    owner: int
    agency: int  # -1: the owner lets it directly
    area: int
    rent: int
    street: str
    uid: str = ""
    exclusive: bool = False
    may_sign: bool = True
    mandate: str | None = None
    mandate_to: str = ""
    listing: str | None = None
    lease: str | None = None
    lease_gen: int = 0


@dataclass(slots=True)
class _Lease:
    lid: str
    unit: int
    tenant: int
    start: str
    end: str
    rent: int
    deposit: int
    payment_day: int
    collector: str  # "landlord" | "agency"
    agency: int
    ends_on: str = ""
    paid_through: str = ""
    sublet: bool = False


@dataclass
class Demo:
    """The generated district: call :meth:`blocks` (any number of times: same output each time)."""

    seed: str
    units: int
    years: int
    start: str
    chain: str
    genesis: dict[str, Any] = field(default_factory=dict)
    manifest: list[DemoParty] = field(default_factory=list)

    def blocks(self) -> Iterator[tuple[str, list[Envelope]]]:
        return _Sim(self).run()


def generate(
    seed: str = "anju-demo", units: int = 300, *, years: int = 3, start: str = "2023-01-02", chain: str = "anju-demo"
) -> Demo:
    """The demo for ``seed``: ``units`` from a few hundred (demo) to 10**6 (benchmarks)."""
    if units < 1:
        raise ValueError("units must be at least 1")
    demo = Demo(seed=seed, units=units, years=years, start=start, chain=chain)
    names = _Names(seed)
    demo.genesis = genesis_params(names.key("authority").public_hex, [names.key("bank-0").public_hex])
    counts = _counts(units)
    picks: list[tuple[str, str, str]] = [
        ("authority", "authority", "徐汇区房屋管理局"),
        ("bank", "bank-0", "上海资金监管银行"),
    ]
    for a in range(min(counts["agencies"], 10)):
        picks.append(("agency", f"agency-{a}", _agency_name(a)))
        picks += [("agent", f"agent-{a}-{g}", f"经纪人 {_person(seed, f'agent-{a}-{g}')}") for g in range(2)]
    picks += [("landlord", f"landlord-{i}", f"房东 {_person(seed, f'landlord-{i}')}") for i in range(10)]
    picks += [("tenant", f"tenant-{i}", f"租客 {_person(seed, f'tenant-{i}')}") for i in range(10)]
    for role, name, display in picks:
        if role == "landlord" and int(name.split("-")[1]) >= counts["landlords"]:
            continue
        key = names.key(name)
        opening = (name, names.salt(name)) if role not in ("authority", "bank") else ("", "")
        demo.manifest.append(DemoParty(role, display, key.seed.hex(), key.public_hex, *opening))
    return demo


def _counts(units: int) -> dict[str, int]:
    return {
        "agencies": max(3, min(400, units // 150)),
        "landlords": max(1, units // 2),
        "tenants": int(units * 1.15) + 10,
    }


def _agency_name(a: int) -> str:
    base = AGENCY_NAMES[a % len(AGENCY_NAMES)]
    return base if a < len(AGENCY_NAMES) else f"{base}{a // len(AGENCY_NAMES) + 1}号店"


def _person(seed: str, name: str) -> str:
    h = hashlib.sha256(f"{seed}/display/{name}".encode()).digest()
    return SURNAMES[h[0] % len(SURNAMES)] + ("先生" if h[1] % 2 else "女士")


class _Names:
    """Deterministic keys: SigningKey.from_seed(sha256(seed ‖ name)), cached."""

    def __init__(self, seed: str) -> None:
        self.seed = seed.encode()
        self.cache: dict[str, SigningKey] = {}

    def key(self, name: str) -> SigningKey:
        k = self.cache.get(name)
        if k is None:
            k = SigningKey.from_seed(hashlib.sha256(self.seed + name.encode()).digest())
            self.cache[name] = k
        return k

    def salt(self, name: str) -> str:
        """The salt (hex, 16 bytes, as every commitment's: anju.crypto.commitments) of ``name``'s
        identity commitment, derived from the seed: the demo is the same every time it is built."""
        return hashlib.sha256(self.seed + b"/salt/" + name.encode()).digest()[:SALT_BYTES].hex()

    def commitment(self, name: str) -> str:
        """``name``'s identity commitment: to the text ``name`` with :meth:`salt`, which opens it."""
        return commit(name, self.salt(name))[1]

    def hash(self, *parts: object) -> str:
        return hashlib.sha256("/".join(map(str, (self.seed.decode(), *parts))).encode()).hexdigest()


def _first_of_next_month(day: str) -> str:
    return add_months(month_of(day), 1) + "-01"


def _month_end(month: str) -> str:
    return add_days(add_months(month, 1) + "-01", -1)


class _Sim:
    """One run of the market. Actions sit in a heap keyed by (date, order); each day is a block."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.rng = random.Random(f"anju-demo/{demo.seed}")
        self.names = _Names(demo.seed)
        self.seqs: dict[str, int] = {}
        self.counts = _counts(demo.units)
        self.heap: list[tuple[str, int, str, tuple[Any, ...]]] = []
        self.order = 0
        self.out: list[Envelope] = []
        self.today = demo.start
        self.stop = add_days(demo.start, 365 * demo.years)
        self.units: list[_Unit] = []
        self.leases: dict[str, _Lease] = {}
        self.free_tenants: list[int] = []
        self.agents: list[list[int]] = []
        self.block_day, self.block_no = "", 0

    # -- plumbing ---------------------------------------------------------------------------
    def tx(self, who: str, kind: str, cosigners: tuple[str, ...] = (), /, **fields: Any) -> str:
        """Sign and queue a transaction by ``who`` (co-signed by ``cosigners``); return its new-object id."""
        key = self.names.key(who)
        seq = self.seqs.get(key.public_hex, 0) + 1
        self.seqs[key.public_hex] = seq
        body = {"chain": self.demo.chain, "kind": kind, "signer": key.public_hex, "seq": seq, **fields}
        self.out.append(sign(body, [key, *(self.names.key(c) for c in cosigners)]))
        return hashlib.sha256(signed_bytes(body)).hexdigest()[:16]

    def pk(self, name: str) -> str:
        return self.names.key(name).public_hex

    def at(self, day: str, action: str, *args: Any) -> None:
        if day < self.stop:
            self.order += 1
            heapq.heappush(self.heap, (day, self.order, action, args))

    def run(self) -> Iterator[tuple[str, list[Envelope]]]:
        self.onboard()
        while self.heap or self.out:
            day = self.heap[0][0] if self.heap else self.today
            if self.out and day != self.today:
                yield from self.flush()
            self.today = day
            while self.heap and self.heap[0][0] == day:
                _, _, action, args = heapq.heappop(self.heap)
                getattr(self, f"do_{action}")(*args)
                if len(self.out) >= BLOCK_TXS * 4:
                    yield from self.flush()
            yield from self.flush()

    def flush(self) -> Iterator[tuple[str, list[Envelope]]]:
        """Yield the queued transactions as blocks of the current day, one second apart from 08:00."""
        if self.block_day != self.today:
            self.block_day, self.block_no = self.today, 0
        for i in range(0, len(self.out), BLOCK_TXS):
            s = self.block_no
            self.block_no += 1
            yield f"{self.today}T{8 + s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000Z", self.out[i : i + BLOCK_TXS]
        self.out = []

    # -- day zero ---------------------------------------------------------------------------
    def onboard(self) -> None:
        c, r = self.counts, self.rng
        for a in range(c["agencies"]):
            name = f"agency-{a}"
            self.tx(name, "party.register", role="agency", commitment=self.names.commitment(name), name=_agency_name(a))
            self.tx("authority", "authority.license_agency", party=self.pk(name), licence=self.names.hash("lic", a))
            team = []
            for g in range(r.randint(2, 5)):
                agent = f"agent-{a}-{g}"
                self.register_person(agent, "agent")
                self.tx(name, "agency.appoint_agent", agent=self.pk(agent))
                team.append(g)
            self.agents.append(team)
        for i in range(c["landlords"]):
            self.register_person(f"landlord-{i}", "landlord")
        for i in range(c["tenants"]):
            self.register_person(f"tenant-{i}", "tenant")
        self.free_tenants = list(range(c["tenants"]))
        r.shuffle(self.free_tenants)
        streets = sorted(STREETS)
        for u in range(self.demo.units):
            street = streets[r.randrange(len(streets))]
            area = r.randint(20, 180)
            rate = r.randint(90, 200)  # RMB per m2 per month
            rent = max(1, round(area * rate, -2)) * 100  # fen, rounded to RMB 100
            unit = _Unit(
                u,
                r.randrange(c["landlords"]),
                r.randrange(c["agencies"]) if r.random() < 0.65 else -1,
                area,
                rent,
                street,
            )
            unit.exclusive = unit.agency >= 0 and r.random() < 0.2
            unit.may_sign = r.random() < 0.7
            owner = f"landlord-{unit.owner}"
            unit.uid = self.tx(
                owner,
                "unit.register",
                district=DISTRICT,
                street=street,
                neighbourhood=STREETS[street],
                address_commitment=self.names.hash("address", u),
                floor_area_m2=area,
                rooms=max(1, min(5, area // 35)),
            )
            self.tx("authority", "title.attest", unit=unit.uid, certificate_commitment=self.names.hash("cert", u))
            self.units.append(unit)
            self.at(add_days(self.today, r.randint(1, 90)), "list", u)

    def register_person(self, name: str, role: str) -> None:
        commitment = self.names.commitment(name)
        self.tx(name, "party.register", role=role, commitment=commitment)
        self.tx("authority", "authority.attest_identity", party=self.pk(name), commitment=commitment)

    # -- the letting cycle --------------------------------------------------------------------
    def landlord_side(self, unit: _Unit) -> tuple[str, tuple[str, ...]]:
        """Who signs for the landlord: an agent when the mandate allows, else the owner."""
        if unit.agency >= 0 and unit.may_sign and unit.mandate and unit.mandate_to >= self.today:
            team = self.agents[unit.agency]
            return f"agent-{unit.agency}-{team[self.rng.randrange(len(team))]}", ()
        return f"landlord-{unit.owner}", ()

    def publisher(self, unit: _Unit) -> str:
        if unit.agency < 0:
            return f"landlord-{unit.owner}"
        team = self.agents[unit.agency]
        return f"agent-{unit.agency}-{team[self.rng.randrange(len(team))]}"

    def do_list(self, u: int) -> None:
        unit, r = self.units[u], self.rng
        owner = f"landlord-{unit.owner}"
        if unit.listing is not None:  # still up from a round that found no tenant: take it down first
            self.tx(self.publisher(unit), "listing.withdraw", listing=unit.listing)
            unit.listing = None
        if unit.agency >= 0 and (unit.mandate is None or unit.mandate_to < add_days(self.today, 90)):
            to = add_days(self.today, r.choice((180, 365)))
            unit.mandate = self.tx(
                owner,
                "mandate.grant",
                unit=unit.uid,
                agency=self.pk(f"agency-{unit.agency}"),
                exclusive=unit.exclusive,
                may_sign=unit.may_sign,
                min_rent=unit.rent * 9 // 10,
                **{"from": self.today, "to": to},
            )
            unit.mandate_to = to
        start = _first_of_next_month(add_days(self.today, 7))
        fields: dict[str, Any] = {
            "unit": unit.uid,
            "rent": unit.rent,
            "deposit": unit.rent,
            "available_from": start,
            "min_term_months": 12,
            "description": f"{unit.street} {max(1, min(5, unit.area // 35))}室 {unit.area}平方米，拎包入住",
            "photos": [self.names.hash("photo", u, self.today, i) for i in range(r.randint(1, 4))],
        }
        if unit.agency >= 0:
            fields["mandate"] = unit.mandate
        unit.listing = self.tx(self.publisher(unit), "listing.publish", **fields)
        if r.random() < 0.03:  # someone reports it as fake; the authority finds some of them are
            reporter = f"tenant-{r.randrange(self.counts['tenants'])}"
            report = self.tx(
                reporter, "report.file", listing=unit.listing, evidence=[self.names.hash("ev", u, self.today)]
            )
            self.at(add_days(self.today, 2), "judge_report", u, report, r.random() < 0.5)
        sign_on = add_days(self.today, r.randint(3, 7))
        if not self._still_looking(u):
            self.at(sign_on, "sign", u, start)

    def _still_looking(self, u: int) -> bool:
        """In the history's last weeks most new listings have not found a tenant yet when it ends, so
        the district served today has listings to browse (drawn from a hash, not the shared random
        stream, so that everything before those weeks stays as it was)."""
        if add_days(self.today, OPEN_AT_END_DAYS) < self.stop:
            return False
        return int(self.names.hash("still-looking", u, self.today)[:2], 16) < OPEN_AT_END_SHARE

    def do_judge_report(self, u: int, report: str, fake: bool) -> None:
        if fake and self.units[u].listing is not None:
            self.units[u].listing = None  # revoked for good; nothing left to withdraw
        outcome = "confirmed" if fake else "dismissed"
        self.tx(
            "authority", "report.resolve", report=report, outcome=outcome, decision_hash=self.names.hash("d", report)
        )

    def do_sign(self, u: int, start: str) -> None:
        unit, r = self.units[u], self.rng
        if not self.free_tenants:
            self.at(add_days(self.today, 30), "list", u)
            return
        t = self.free_tenants.pop()
        months = r.choice((12, 12, 12, 6, 24))
        end = _month_end(add_months(month_of(start), months - 1))
        collector = "agency" if unit.agency >= 0 and r.random() < 0.3 else "landlord"
        deposit = unit.rent * (2 if collector == "agency" and r.random() < 0.5 else 1)
        signer, _ = self.landlord_side(unit)
        via_agency = unit.agency >= 0 and unit.mandate is not None and unit.mandate_to >= self.today
        if not via_agency:
            collector = "landlord"
        cos: tuple[str, ...] = (f"tenant-{t}",)
        fields: dict[str, Any] = {
            "unit": unit.uid,
            "landlord": self.pk(f"landlord-{unit.owner}"),
            "tenant": self.pk(f"tenant-{t}"),
            "listing": unit.listing,
            "start": start,
            "end": end,
            "rent": unit.rent,
            "deposit": deposit,
            "payment_day": r.randint(1, 10),
            "notice_days": 30,
            "collector": collector,
            "document_hash": self.names.hash("contract", u, start),
        }
        if via_agency:
            fields["mandate"] = unit.mandate
            if signer == f"landlord-{unit.owner}":  # the owner signs; the agency co-signs what it brokered
                cos = (*cos, f"agency-{unit.agency}")
        lid = self.tx(signer, "lease.sign", cos, **fields)
        lease = _Lease(lid, u, t, start, end, unit.rent, deposit, fields["payment_day"], collector, unit.agency, end)
        self.leases[lid] = lease
        unit.lease, unit.listing = lid, None
        self.start_lease(lease, signer)

    def collector_name(self, lease: _Lease) -> str:
        if lease.collector == "agency":
            return f"agency-{lease.agency}"
        return f"landlord-{self.units[lease.unit].owner}"

    def start_lease(self, lease: _Lease, signer: str) -> None:
        r = self.rng
        self.tx("authority", "lease.register", lease=lease.lid)
        if lease.collector == "agency" and lease.deposit > lease.rent:
            self.tx(
                "bank-0",
                "bank.attest_escrow",
                lease=lease.lid,
                purpose="deposit",
                amount=lease.deposit,
                account_commitment=self.names.hash("acct", lease.lid),
            )
        pay = self.tx(f"tenant-{lease.tenant}", "deposit.lodge", lease=lease.lid, amount=lease.deposit)
        self.tx(self.collector_name(lease), "payment.confirm", payment=pay)
        self.schedule_rent(lease)
        roll = r.random()
        if roll < 0.25:
            self.at(add_days(lease.end, -20), "renew", lease.lid)
        elif roll < 0.30 and lease.end > add_months(month_of(lease.start), 4):
            self.at(add_months(month_of(lease.start), 3) + "-15", "notice", lease.lid)
        else:
            if roll < 0.33 and lease.end > add_months(month_of(lease.start), 6):
                self.at(add_months(month_of(lease.start), 1) + "-20", "sublet", lease.lid)
            self.at(add_days(lease.end, 1), "settle", lease.lid)

    def schedule_rent(self, lease: _Lease) -> None:
        month = add_months(lease.paid_through, 1) if lease.paid_through else month_of(lease.start)
        if month > month_of(lease.ends_on):
            return
        due = due_date(month, lease.payment_day)
        late = self.rng.randint(1, 10) if self.rng.random() < 0.08 else 0
        self.at(max(add_days(due, late), self.today), "rent", lease.lid, month)

    def do_rent(self, lid: str, month: str) -> None:
        lease = self.leases.get(lid)
        if lease is None:  # settled before this (late) payment came: it stays unpaid
            return
        if month > month_of(lease.ends_on) or (lease.paid_through and month <= lease.paid_through):
            return
        pay = self.tx(f"tenant-{lease.tenant}", "rent.pay", lease=lid, period=month, months=1, amount=lease.rent)
        if int(self.names.hash("bounced", lid, month)[:8], 16) % BOUNCED_ONE_IN == 0:
            # the transfer bounced: the collector says the money never came, the tenant pays again
            reason = self.names.hash("statement", lid, month)
            self.tx(self.collector_name(lease), "payment.refuse", payment=pay, reason_hash=reason)
            pay = self.tx(f"tenant-{lease.tenant}", "rent.pay", lease=lid, period=month, months=1, amount=lease.rent)
        self.tx(self.collector_name(lease), "payment.confirm", payment=pay)
        lease.paid_through = month
        self.schedule_rent(lease)

    def do_notice(self, lid: str) -> None:
        lease = self.leases[lid]
        on = add_days(self.today, 30)
        reason = self.names.hash("notice", lid)
        self.tx(f"tenant-{lease.tenant}", "lease.terminate", lease=lid, mode="notice", on=on, reason_hash=reason)
        lease.ends_on = on
        self.at(add_days(on, 1), "settle", lid)

    def do_sublet(self, lid: str) -> None:
        lease = self.leases[lid]
        if not self.free_tenants:
            return
        sub_t = self.free_tenants.pop()
        unit = self.units[lease.unit]
        start = add_months(month_of(self.today), 1) + "-01"
        end = _month_end(add_months(month_of(start), 2))
        sub = self.tx(
            f"tenant-{lease.tenant}",
            "lease.sign",
            (f"tenant-{sub_t}", f"landlord-{unit.owner}"),
            unit=unit.uid,
            landlord=self.pk(f"tenant-{lease.tenant}"),
            tenant=self.pk(f"tenant-{sub_t}"),
            parent=lid,
            start=start,
            end=end,
            rent=lease.rent,
            deposit=0,
            payment_day=1,
            notice_days=30,
            collector="landlord",
            document_hash=self.names.hash("sublease", lid),
        )
        self.tx("authority", "lease.register", lease=sub)
        self.at(add_days(end, 1), "release", sub_t)

    def do_release(self, t: int) -> None:
        self.free_tenants.insert(0, t)

    def do_renew(self, lid: str) -> None:
        lease, r = self.leases[lid], self.rng
        unit = self.units[lease.unit]
        end = _month_end(add_months(month_of(lease.end), 12))
        new = self.tx(
            f"landlord-{unit.owner}",
            "lease.renew",
            (f"tenant-{lease.tenant}",),
            previous=lid,
            end=end,
            rent=lease.rent,
            deposit=lease.rent,
            payment_day=lease.payment_day,
            notice_days=30,
            collector="landlord",
            document_hash=self.names.hash("renewal", lid),
        )
        nxt = _Lease(
            new,
            lease.unit,
            lease.tenant,
            add_days(lease.end, 1),
            end,
            lease.rent,
            lease.rent,
            lease.payment_day,
            "landlord",
            -1,
            end,
        )
        self.leases[new] = nxt
        unit.lease = new
        self.at(lease.end, "close_deposit", lid)
        self.at(nxt.start, "begin_renewal", new)
        if r.random() < 0.5:
            self.at(add_days(nxt.end, -20), "renew", new)
        else:
            self.at(add_days(nxt.end, 1), "settle", new)

    def do_close_deposit(self, lid: str) -> None:
        lease = self.leases[lid]
        self.tx(self.collector_name(lease), "deposit.return", lease=lid, deductions=[])
        self.tx(f"tenant-{lease.tenant}", "deposit.accept", lease=lid)

    def do_begin_renewal(self, lid: str) -> None:
        lease = self.leases[lid]
        self.tx("authority", "lease.register", lease=lid)
        pay = self.tx(f"tenant-{lease.tenant}", "deposit.lodge", lease=lid, amount=lease.deposit)
        self.tx(self.collector_name(lease), "payment.confirm", payment=pay)
        self.schedule_rent(lease)

    def do_settle(self, lid: str) -> None:
        lease, r = self.leases.pop(lid), self.rng
        unit = self.units[lease.unit]
        collector = self.collector_name(lease)
        deductions: list[dict[str, Any]] = []
        if r.random() < 0.15:
            deductions = [
                {
                    "reason": r.choice(("墙面修补", "清洁费", "家电维修", "钥匙遗失")),
                    "amount": r.randint(2, 20) * 10_000,
                }
            ]
        deductions = [d for d in deductions if d["amount"] <= lease.deposit]
        self.tx(collector, "deposit.return", lease=lid, deductions=deductions)
        tenant = f"tenant-{lease.tenant}"
        if deductions and r.random() < 0.4:
            dispute = self.tx(
                tenant,
                "dispute.open",
                lease=lid,
                subject="deposit",
                evidence=[self.names.hash("photo-ev", lid)],
                claim=deductions[0]["amount"],
            )
            self.at(add_days(self.today, 14), "resolve", dispute, deductions[0]["amount"])
        else:
            self.tx(tenant, "deposit.accept", lease=lid)
        owner = f"landlord-{unit.owner}"
        if r.random() < 0.8:
            rating = r.choice((5, 5, 4, 4, 4, 3, 2, 1))
            self.tx(
                tenant,
                "review.write",
                lease=lid,
                subject=self.pk(owner),
                rating=rating,
                text_hash=self.names.hash("review", lid, "t"),
            )
        if r.random() < 0.7:
            rating = r.choice((5, 5, 4, 4, 3, 2))
            self.tx(
                owner,
                "review.write",
                lease=lid,
                subject=self.pk(tenant),
                rating=rating,
                text_hash=self.names.hash("review", lid, "o"),
            )
        self.free_tenants.insert(0, lease.tenant)
        unit.lease = None
        self.at(add_days(self.today, r.randint(3, 30)), "list", lease.unit)

    def do_resolve(self, dispute: str, claim: int) -> None:
        outcome = self.rng.choice(("upheld", "rejected", "settled"))
        award = claim if outcome == "upheld" else claim // 2 if outcome == "settled" else 0
        self.tx(
            "authority",
            "dispute.resolve",
            dispute=dispute,
            outcome=outcome,
            award=award,
            decision_hash=self.names.hash("ruling", dispute),
        )
