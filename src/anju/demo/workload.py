"""Benchmark workloads over the seeded Xuhui district: a large registry set up fast, then a realistic mix.

The demo generator (:mod:`anju.demo.generate`) simulates years of a market one day at a time, on
one core. A benchmark needs something else: a registry of 10^5 units or more built in minutes,
then one day's worth of mixed activity at *today's* date. This module reuses the generator's
names, keys (``SigningKey.from_seed(sha256(seed ‖ name))``), commitments, places and market
model, and cuts the work into independent **jobs** so that both cores can sign:

- every per-unit decision (street, size, rent, owner, agency, lease terms) is a function of
  ``(seed, unit)``, not of a shared random stream, so any job can recompute it;
- a job is first run in *counting* mode (no keys, no signatures: only how many transactions each
  signer sends); prefix sums over the jobs, in submission order, give each signer's ``seq`` at
  the start of every job; then the job is run again, signing, with those seqs.

A workload is a list of :class:`Phase` (one block date each, in increasing date order): the
setup (parties; units and titles; leases that have ended, quarterly and monthly leases that are
running, mandates and live listings) and then the **mix**, at today's date: onboarding
(``party.register`` + ``authority.attest_identity``), mandates, listings published, leases
signed (landlord or agency with the tenant co-signing) and registered, deposits lodged, rent
paid and confirmed, deposits returned and accepted, reviews after ended leases. Every
transaction is valid against the state the transactions before it leave, in exactly the order
of the jobs.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from anju.crypto import jcs
from anju.crypto.tx import sign, txid_of
from anju.demo.generate import _agency_name, _counts, _first_of_next_month, _month_end, _Names, _Unit
from anju.demo.places import DISTRICT, STREETS
from anju.registry.dates import add_days, add_months, month_of

Refs = dict[str, str]  # ids a unit's later transactions need: uid, mandate, listing, lease
_STREETS = sorted(STREETS)
_STRIDES = (7919, 104_729, 1_299_709)  # primes: rank(u) = u * stride mod units spreads the roles

# Share of the mix's transactions per story, and the transactions one story sends on average.
_MIX = {"rent": (0.36, 2.0), "end": (0.14, 3.5), "let": (0.28, 7.1), "list": (0.10, 1.65), "onboard": (0.12, 2.0)}
ROLES = ("rent", "end", "let", "list")  # unit roles, in rank order; the other units stay idle


@dataclass(frozen=True, slots=True)
class Workload:
    """The shape of one benchmark workload (everything follows from these numbers and the seed)."""

    seed: str
    chain: str
    units: int
    today: str  # the date of the measured mix (YYYY-MM-DD), read once from the clock
    agencies: int
    landlords: int
    tenants: int  # tenants onboarded during the setup
    stories: dict[str, int]  # rent / end / let / list: units per role; onboard: new tenants
    stride: int

    def rank(self, u: int) -> int:
        return u * self.stride % self.units

    def role(self, u: int) -> tuple[str, int]:
        """(role, index within the role) of unit ``u``; role "idle" for units the mix leaves alone."""
        r = self.rank(u)
        for name in ROLES:
            n = self.stories[name]
            if r < n:
                return name, r
            r -= n
        return "idle", r


def plan(
    seed: str = "anju-bench", *, units: int, txs: int, today: str, chain: str = "anju-bench", tenants: int | None = None
) -> Workload:
    """A workload of ``units`` attested units and a mix of about ``txs`` transactions on ``today``."""
    if units < 20 or txs < 1:
        raise ValueError("a workload needs at least 20 units and one transaction")
    stories = {k: max(1, round(share * txs / per)) for k, (share, per) in _MIX.items()}
    touched = sum(stories[k] for k in ROLES)
    if touched > units:  # too few units for this many transactions: scale the whole mix down
        stories = {k: max(1, v * units // touched) for k, v in stories.items()}
        while sum(stories[k] for k in ROLES) > units:
            stories["rent"] -= 1
    counts = _counts(units)  # the generator's agencies and landlords (tenants: those the workload needs, and more)
    needed = stories["rent"] + stories["end"] + stories["let"]
    stride = next(s for s in _STRIDES if units % s)
    return Workload(
        seed=seed,
        chain=chain,
        units=units,
        today=today,
        agencies=counts["agencies"],
        landlords=counts["landlords"],
        tenants=max(needed + 10, needed + 10 + units // 5 if tenants is None else tenants),
        stories=stories,
        stride=stride,
    )


# -- per-unit decisions (functions of seed and index, so any job can recompute them) ------------
def _digest(w: Workload, *parts: object) -> bytes:
    return hashlib.sha256("/".join(map(str, (w.seed, *parts))).encode()).digest()


def team_size(w: Workload, a: int) -> int:
    """How many agents agency ``a`` employs (2-5, as in the generator)."""
    return 2 + _digest(w, "team", a)[0] % 4


def unit_spec(w: Workload, u: int) -> _Unit:
    """Unit ``u``: a real Xuhui street, 20-180 m², RMB 90-200 per m², 65% handled by an agency."""
    h = _digest(w, "unit", u)
    area = 20 + int.from_bytes(h[1:3], "big") % 161
    rate = 90 + h[3] % 111
    agency = int.from_bytes(h[4:6], "big") % w.agencies if h[6] < 166 else -1
    unit = _Unit(u, u % w.landlords, agency, area, max(1, round(area * rate, -2)) * 100, _STREETS[h[0] % len(_STREETS)])
    unit.exclusive = agency >= 0 and h[7] < 51
    unit.may_sign = h[8] < 179
    return unit


def _rooms(unit: _Unit) -> int:
    return max(1, min(5, unit.area // 35))


@dataclass(frozen=True, slots=True)
class _Terms:
    """A unit's lease terms, the same whichever job (setup or mix) asks."""

    signer: str  # who signs for the landlord: an agent when the mandate allows, else the owner
    collector: str  # "landlord" | "agency"
    collector_name: str
    deposit: int
    payment_day: int
    quarterly: bool  # 押一付三: the tenant pays three months at a time


def _terms(w: Workload, unit: _Unit) -> _Terms:
    r = random.Random(f"{w.seed}/lease/{unit.idx}")
    agent, to_agency, double, day, quarterly = r.randrange(5), r.random(), r.random(), r.randint(1, 10), r.random()
    owner = f"landlord-{unit.owner}"
    signer = owner
    collector = "landlord"
    if unit.agency >= 0:
        if unit.may_sign:
            signer = f"agent-{unit.agency}-{agent % team_size(w, unit.agency)}"
        if to_agency < 0.3:
            collector = "agency"
    deposit = unit.rent * (2 if collector == "agency" and double < 0.5 else 1)
    name = f"agency-{unit.agency}" if collector == "agency" else owner
    return _Terms(signer, collector, name, deposit, day, quarterly < 0.5)


def _tenant(w: Workload, role: str, i: int, fresh: bool = False) -> int:
    """The tenant of the ``i``-th unit of ``role``; fresh ones are onboarded by the mix itself."""
    s = w.stories
    if role == "rent":
        return i
    if role == "end":
        return s["rent"] + i
    return w.tenants + i if fresh else s["rent"] + s["end"] + i  # "let"


# -- dates ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Dates:
    """Every date the workload uses, relative to ``today`` (the measured run's block date)."""

    onboard: str  # parties, units and titles
    ended: tuple[str, str, str]  # (signed on, start, end) of leases that ended before today
    quarterly: tuple[str, str, str]  # running leases paid three months at a time
    monthly: tuple[str, str, str]  # running leases, paid month by month
    let_mandate: str  # mandates of the units listed (and let by the mix)
    let_listing: str  # their listings, still live today


def dates(w: Workload) -> Dates:
    m0 = month_of(w.today)

    def lease(start_month: str, months: int) -> tuple[str, str, str]:
        start = start_month + "-01"
        return add_days(start, -10), start, _month_end(add_months(start_month, months - 1))

    return Dates(
        onboard=add_days(w.today, -450),
        ended=lease(add_months(m0, -13), 12),
        quarterly=lease(add_months(m0, -2), 12),
        monthly=lease(m0, 12),
        let_mandate=add_days(w.today, -40),
        let_listing=add_days(w.today, -10),
    )


def block_time(day: str, n: int) -> str:
    """The time of a day's ``n``-th block: one second apart from 08:00, as the generator does."""
    return f"{day}T{8 + n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"


# -- jobs ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Phase:
    """Jobs sent at one block date, in order; ``name`` selects what a job does."""

    name: str
    day: str
    jobs: tuple[tuple[int, int], ...]  # (lo, hi) index ranges


@dataclass(frozen=True, slots=True)
class Job:
    w: Workload
    phase: str
    day: str
    lo: int
    hi: int
    seqs: dict[str, int] | None = None  # None: count only; else each signer's last seq before this job
    refs: dict[int, Refs] = field(default_factory=dict)
    fixed: tuple[int, ...] | None = None  # the seq of each transaction, in call order (see mix_seqs)


Call = tuple[str, int, int]  # a mix transaction: signer name, its step within its story, the story


@dataclass(slots=True)
class JobResult:
    counts: dict[str, int]  # transactions per signer name
    raws: list[bytes]  # signed envelopes (JSON bytes), in order; empty when counting
    refs: dict[int, Refs]  # ids created, per unit
    kinds: Counter[str]
    calls: list[Call] = field(default_factory=list)  # mix: (signer, step, story) of each transaction


def _ranges(n: int, step: int) -> tuple[tuple[int, int], ...]:
    return tuple((i, min(n, i + step)) for i in range(0, n, step))


def phases(w: Workload, *, step: int = 2000) -> list[Phase]:
    """The setup phases, in date order, then the mix (always last, at ``w.today``)."""
    d = dates(w)
    units = _ranges(w.units, step)
    setup = [
        Phase("agencies", d.onboard, _ranges(w.agencies, 50)),
        Phase("landlords", d.onboard, _ranges(w.landlords, step * 2)),
        Phase("tenants", d.onboard, _ranges(w.tenants, step * 2)),
        Phase("units", d.onboard, units),
        Phase("ended", d.ended[0], units),
        Phase("quarterly", d.quarterly[0], units),
        Phase("monthly", d.monthly[0], units),
        Phase("let_mandate", d.let_mandate, units),
        Phase("let_listing", d.let_listing, units),
    ]
    setup.sort(key=lambda p: p.day)  # stable: the onboarding phases keep their order
    if setup[-1].day >= w.today:
        raise ValueError("setup dates must all lie before today")
    return [*setup, Phase("mix", w.today, units)]


def seq_offsets(counts: list[dict[str, int]]) -> list[dict[str, int]]:
    """Each job's starting seqs (last seq used before it, per signer name) from every job's counts."""
    running: dict[str, int] = {}
    out = []
    for c in counts:
        out.append({name: running.get(name, 0) for name in c})
        for name, n in c.items():
            running[name] = running.get(name, 0) + n
    return out


_NAMES: dict[str, _Names] = {}


def run_job(job: Job) -> JobResult:
    """Run one job (in a worker process): count its transactions, or sign them."""
    names = _NAMES.get(job.w.seed)
    if names is None:
        names = _NAMES[job.w.seed] = _Names(job.w.seed)
    b = _Batch(job.w, names, job.seqs, job.fixed)
    refs: dict[int, Refs] = {}
    _PHASES[job.phase](b, job, refs)
    return JobResult(b.counts, b.out, refs, b.kinds, b.calls)


def mix_seqs(base: dict[str, int], calls: list[list[Call]]) -> list[tuple[int, ...]]:
    """Seqs for the mix jobs' transactions so each signer acts step by step across the whole mix.

    ``calls[j]`` are job ``j``'s (signer, step, story) in call order (from counting), ``base`` each
    signer's last seq before the mix. A signer's transactions are numbered by (step, job, story):
    first every story's first step, then every second step... as a day goes when clients wait for a
    step to commit before the next: no signer's ``seq`` order makes one story wait for another's
    later step. Returns each job's seqs in call order (:attr:`Job.fixed`)."""
    order: dict[str, list[tuple[int, int, int, int]]] = {}
    for j, cs in enumerate(calls):
        for k, (who, step, story) in enumerate(cs):
            order.setdefault(who, []).append((step, j, story, k))
    out = [[0] * len(cs) for cs in calls]
    for who, keys in order.items():
        keys.sort()
        first = base.get(who, 0) + 1
        for n, (_, j, _, k) in enumerate(keys):
            out[j][k] = first + n
    return [tuple(x) for x in out]


class _Batch:
    """One job's transactions: signed with seqs continuing from ``seqs``, or only counted."""

    def __init__(
        self, w: Workload, names: _Names, seqs: dict[str, int] | None, fixed: tuple[int, ...] | None = None
    ) -> None:
        self.w = w
        self.names = names
        self.seqs = seqs
        self.fixed = fixed
        self.counts: dict[str, int] = {}
        self.out: list[bytes] = []
        self.kinds: Counter[str] = Counter()
        self.calls: list[Call] = []
        self.story = -1  # the mix's current story (-1: not in the mix)
        self.step = 0

    def begin_story(self) -> None:
        self.story += 1
        self.step = 0

    def tx(self, who: str, kind: str, cosigners: tuple[str, ...] = (), /, **fields: Any) -> str:
        """Sign (or count) a transaction by ``who``; return the id of the object it creates."""
        n = self.counts.get(who, 0) + 1
        self.counts[who] = n
        self.kinds[kind] += 1
        if self.story >= 0:
            self.calls.append((who, self.step, self.story))
            self.step += 1
        if self.seqs is None:  # counting: ids are never looked at, decisions never depend on them
            return f"{n:016x}"
        key = self.names.key(who)
        seq = self.fixed[len(self.out)] if self.fixed is not None else self.seqs.get(who, 0) + n
        body = {"chain": self.w.chain, "kind": kind, "signer": key.public_hex, "seq": seq}
        body.update(fields)
        self.out.append(jcs.trimmed(orjson.dumps(sign(body, [key, *(self.names.key(c) for c in cosigners)]))))
        return txid_of(body)[:16]

    def pk(self, name: str) -> str:
        if self.seqs is None:
            return "0" * 64
        return self.names.key(name).public_hex

    def person(self, name: str, role: str) -> None:
        commitment = self.names.commitment(name)
        self.tx(name, "party.register", role=role, commitment=commitment)
        self.tx("authority", "authority.attest_identity", party=self.pk(name), commitment=commitment)


_PLACEHOLDER: Refs = {k: "0" * 16 for k in ("uid", "mandate", "listing", "lease")}


def _refs(b: _Batch, job: Job, u: int) -> Refs:
    """The ids earlier phases created for unit ``u`` (placeholders when only counting)."""
    return _PLACEHOLDER if b.seqs is None else job.refs[u]


# -- setup phases --------------------------------------------------------------------------------
def _agencies(b: _Batch, job: Job, refs: dict[int, Refs]) -> None:
    for a in range(job.lo, job.hi):
        name = f"agency-{a}"
        b.tx(name, "party.register", role="agency", commitment=b.names.commitment(name), name=_agency_name(a))
        b.tx("authority", "authority.license_agency", party=b.pk(name), licence=b.names.hash("lic", a))
        for g in range(team_size(b.w, a)):
            agent = f"agent-{a}-{g}"
            b.person(agent, "agent")
            b.tx(name, "agency.appoint_agent", agent=b.pk(agent))


def _landlords(b: _Batch, job: Job, refs: dict[int, Refs]) -> None:
    for i in range(job.lo, job.hi):
        b.person(f"landlord-{i}", "landlord")


def _tenants(b: _Batch, job: Job, refs: dict[int, Refs]) -> None:
    for i in range(job.lo, job.hi):
        b.person(f"tenant-{i}", "tenant")


def _units(b: _Batch, job: Job, refs: dict[int, Refs]) -> None:
    for u in range(job.lo, job.hi):
        unit = unit_spec(b.w, u)
        uid = b.tx(
            f"landlord-{unit.owner}",
            "unit.register",
            district=DISTRICT,
            street=unit.street,
            neighbourhood=STREETS[unit.street],
            address_commitment=b.names.hash("address", u),
            floor_area_m2=unit.area,
            rooms=_rooms(unit),
        )
        b.tx("authority", "title.attest", unit=uid, certificate_commitment=b.names.hash("cert", u))
        refs[u] = {"uid": uid}


def _grant(b: _Batch, unit: _Unit, uid: str, day: str, days: int) -> str:
    return b.tx(
        f"landlord-{unit.owner}",
        "mandate.grant",
        unit=uid,
        agency=b.pk(f"agency-{unit.agency}"),
        exclusive=unit.exclusive,
        may_sign=unit.may_sign,
        min_rent=unit.rent * 9 // 10,
        **{"from": day, "to": add_days(day, days)},
    )


def _sign_lease(b: _Batch, unit: _Unit, r: Refs, tenant: int, span: tuple[str, str], listing: str | None = None) -> str:
    """lease.sign (landlord side + tenant), registration, escrow if needed, deposit lodged and confirmed."""
    t = _terms(b.w, unit)
    tenant_name = f"tenant-{tenant}"
    fields: dict[str, Any] = {
        "unit": r["uid"],
        "landlord": b.pk(f"landlord-{unit.owner}"),
        "tenant": b.pk(tenant_name),
        "start": span[0],
        "end": span[1],
        "rent": unit.rent,
        "deposit": t.deposit,
        "payment_day": t.payment_day,
        "notice_days": 30,
        "collector": t.collector,
        "document_hash": b.names.hash("contract", unit.idx, span[0]),
    }
    if listing is not None:
        fields["listing"] = listing
    cosigners: tuple[str, ...] = (tenant_name,)
    if unit.agency >= 0:
        fields["mandate"] = r["mandate"]
        if t.signer == f"landlord-{unit.owner}":  # the owner signs; the agency co-signs what it brokered
            cosigners = (tenant_name, f"agency-{unit.agency}")
    lid = b.tx(t.signer, "lease.sign", cosigners, **fields)
    b.tx("authority", "lease.register", lease=lid)
    if t.collector == "agency" and t.deposit > unit.rent:
        b.tx(
            "bank-0",
            "bank.attest_escrow",
            lease=lid,
            purpose="deposit",
            amount=t.deposit,
            account_commitment=b.names.hash("acct", lid),
        )
    pay = b.tx(tenant_name, "deposit.lodge", lease=lid, amount=t.deposit)
    b.tx(t.collector_name, "payment.confirm", payment=pay)
    return lid


def _pay(b: _Batch, unit: _Unit, lid: str, tenant: int, month: str, months: int) -> None:
    t = _terms(b.w, unit)
    pay = b.tx(f"tenant-{tenant}", "rent.pay", lease=lid, period=month, months=months, amount=unit.rent * months)
    b.tx(t.collector_name, "payment.confirm", payment=pay)


def _leases(kind: str) -> Callable[[_Batch, Job, dict[int, Refs]], None]:
    """Setup leases that ended before today, or that run today paid quarterly / monthly."""

    def phase(b: _Batch, job: Job, refs: dict[int, Refs]) -> None:
        w = b.w
        signed_on, start, end = getattr(dates(w), kind)
        for u in range(job.lo, job.hi):
            role, i = w.role(u)
            if role != ("end" if kind == "ended" else "rent"):
                continue
            unit = unit_spec(w, u)
            quarterly = _terms(w, unit).quarterly
            if kind != "ended" and quarterly != (kind == "quarterly"):
                continue
            r = dict(_refs(b, job, u))
            if unit.agency >= 0:
                r["mandate"] = _grant(b, unit, r["uid"], signed_on, 365)
            tenant = _tenant(w, role, i)
            r["lease"] = _sign_lease(b, unit, r, tenant, (start, end))
            if kind != "ended":  # the first month (monthly) or quarter (押一付三) is paid on signing
                _pay(b, unit, r["lease"], tenant, month_of(start), 3 if quarterly else 1)
            refs[u] = r

    return phase


def _let_mandate(b: _Batch, job: Job, refs: dict[int, Refs]) -> None:
    for u in range(job.lo, job.hi):
        if b.w.role(u)[0] == "let":
            unit = unit_spec(b.w, u)
            if unit.agency >= 0:
                r = _refs(b, job, u)
                refs[u] = {**r, "mandate": _grant(b, unit, r["uid"], job.day, 365)}


def _publisher(b: _Batch, unit: _Unit) -> str:
    if unit.agency < 0:
        return f"landlord-{unit.owner}"
    g = _digest(b.w, "publisher", unit.idx)[0] % team_size(b.w, unit.agency)
    return f"agent-{unit.agency}-{g}"


def _publish(b: _Batch, unit: _Unit, r: Refs, day: str) -> str:
    """listing.publish as the generator's market does: available from the first of next month."""
    n = 1 + _digest(b.w, "photos", unit.idx, day)[0] % 4
    fields: dict[str, Any] = {
        "unit": r["uid"],
        "rent": unit.rent,
        "deposit": unit.rent,
        "available_from": _first_of_next_month(add_days(day, 7)),
        "min_term_months": 12,
        "description": f"{unit.street} {_rooms(unit)}室 {unit.area}平方米，拎包入住",
        "photos": [b.names.hash("photo", unit.idx, day, i) for i in range(n)],
    }
    if unit.agency >= 0:
        fields["mandate"] = r["mandate"]
    return b.tx(_publisher(b, unit), "listing.publish", **fields)


def _let_listing(b: _Batch, job: Job, refs: dict[int, Refs]) -> None:
    for u in range(job.lo, job.hi):
        if b.w.role(u)[0] == "let":
            r = _refs(b, job, u)
            refs[u] = {**r, "listing": _publish(b, unit_spec(b.w, u), r, job.day)}


# -- the mix ---------------------------------------------------------------------------------------
def _mix(b: _Batch, job: Job, refs: dict[int, Refs]) -> None:
    """One slice of the district's day: its units' stories and some newcomers, shuffled."""
    w, d = b.w, dates(b.w)
    rng = random.Random(f"{w.seed}/mix/{job.lo}")
    n_onb = w.stories["onboard"]
    first_new = w.tenants + w.stories["let"]
    stories: list[tuple[str, int]] = [(role, u) for u in range(job.lo, job.hi) if (role := w.role(u)[0]) != "idle"]
    stories += [("onboard", first_new + i) for i in range(n_onb * job.lo // w.units, n_onb * job.hi // w.units)]
    rng.shuffle(stories)
    for story, x in stories:
        b.begin_story()  # each story's transactions follow one another, step by step
        if story == "onboard":
            b.person(f"tenant-{x}", "tenant")
            continue
        unit, (_, i), r = unit_spec(w, x), w.role(x), _refs(b, job, x)
        if story == "rent":  # the next month, or the next quarter, paid ahead of its due day
            quarterly = _terms(w, unit).quarterly
            first = add_months(month_of(d.quarterly[1] if quarterly else d.monthly[1]), 3 if quarterly else 1)
            _pay(b, unit, r["lease"], _tenant(w, "rent", i), first, 3 if quarterly else 1)
        elif story == "end":
            _settle(b, unit, r["lease"], _tenant(w, "end", i), rng)
        elif story == "let":  # half the tenants are newcomers who get verified first
            fresh = rng.random() < 0.5
            tenant = _tenant(w, "let", i, fresh)
            if fresh:
                b.person(f"tenant-{tenant}", "tenant")
            start = _first_of_next_month(add_days(d.let_listing, 7))
            span = (start, _month_end(add_months(month_of(start), 11)))
            lid = _sign_lease(b, unit, r, tenant, span, listing=r["listing"])
            _pay(b, unit, lid, tenant, month_of(start), 1)
        else:  # "list": a vacant unit is (mandated and) published today
            r = dict(r)
            if unit.agency >= 0:
                r["mandate"] = _grant(b, unit, r["uid"], w.today, rng.choice((180, 365)))
            _publish(b, unit, r, w.today)


def _settle(b: _Batch, unit: _Unit, lid: str, tenant: int, rng: random.Random) -> None:
    """After a lease ended: deposit returned (sometimes with deductions) and accepted; reviews."""
    t = _terms(b.w, unit)
    deductions: list[dict[str, Any]] = []
    if rng.random() < 0.15:
        amount = rng.randint(2, 20) * 10_000
        if amount <= t.deposit:
            deductions = [{"reason": rng.choice(("墙面修补", "清洁费", "家电维修", "钥匙遗失")), "amount": amount}]
    b.tx(t.collector_name, "deposit.return", lease=lid, deductions=deductions)
    tenant_name, owner = f"tenant-{tenant}", f"landlord-{unit.owner}"
    b.tx(tenant_name, "deposit.accept", lease=lid)
    # each side reviews the other once, as often as in the generator's market
    for author, subject, p, ratings in (
        (tenant_name, owner, 0.8, (5, 5, 4, 4, 4, 3, 2, 1)),
        (owner, tenant_name, 0.7, (5, 5, 4, 4, 3, 2)),
    ):
        if rng.random() < p:
            rating = rng.choice(ratings)
            text = b.names.hash("review", lid, author)
            b.tx(author, "review.write", lease=lid, subject=b.pk(subject), rating=rating, text_hash=text)


_PHASES: dict[str, Callable[[_Batch, Job, dict[int, Refs]], None]] = {
    "agencies": _agencies,
    "landlords": _landlords,
    "tenants": _tenants,
    "units": _units,
    "ended": _leases("ended"),
    "quarterly": _leases("quarterly"),
    "monthly": _leases("monthly"),
    "let_mandate": _let_mandate,
    "let_listing": _let_listing,
    "mix": _mix,
}
