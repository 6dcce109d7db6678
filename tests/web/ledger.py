"""A small demo ledger for the portal tests: an authority, a landlord, two agencies, three tenants."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from anju.chain.node import Node, init_ledger, now_rfc3339
from anju.crypto import tx
from anju.crypto.keys import SigningKey
from anju.registry.credit import CHUNK
from anju.registry.dates import add_days
from anju.registry.machine import genesis_params

CHAIN = "anju-web-test"


def key(name: str) -> SigningKey:
    return SigningKey(hashlib.sha256(f"anju-web-test/{name}".encode()).digest())


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


PARTIES = {
    "authority": ("徐汇区住房管理局 Housing authority", "authority"),
    "landlord": ("王房东 Landlord Wang", "landlord"),
    "agency_a": ("安家中介 Anjia Agency", "agency"),
    "agency_b": ("链家中介 Second Agency", "agency"),
    "tenant": ("李租客 Tenant Li", "tenant"),
    "tenant2": ("张租客 Tenant Zhang", "tenant"),
    "tenant3": ("赵租客 Tenant Zhao", "tenant"),  # a subtenant's subtenant (a sublease of a sublease)
}


class Builder:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.seq: dict[str, int] = {}

    def do(self, who: str, kind: str, cosign: tuple[str, ...] = (), **fields: Any) -> str:
        k = key(who)
        if who not in self.seq:  # go on from the ledger's (a builder may extend a built ledger)
            self.seq[who] = int(self.node.store.state_get(f"seq/{k.public_hex}") or b"0")
        self.seq[who] += 1
        body = {"chain": CHAIN, "kind": kind, "signer": k.public_hex, "seq": self.seq[who], **fields}
        env = tx.sign(body, [k, *(key(c) for c in cosign)])
        parsed = tx.parse_and_verify(orjson.dumps(env))
        _, results = self.node.commit_block(now_rfc3339(), [parsed])
        if results[0] is not None:
            raise results[0]
        return parsed.txid[:16]


def build(data: Path, *, rules: bool = True) -> dict[str, Any]:
    """Create the ledger in ``data`` (with demo-parties.json); return the ids the tests need.
    ``rules=False``: a chain from before rule editions (genesis without ``rules``: edition 1)."""
    params = genesis_params(key("authority").public_hex)
    if not rules:
        del params["rules"]
    init_ledger(data, chain_id=CHAIN, app="anju-registry", params=params)
    node = Node(data, verify_workers=0)
    b = Builder(node)
    today = now_rfc3339()[:10]
    for name, (label, role) in PARTIES.items():
        if role == "authority":
            continue
        extra = {"name": label} if role == "agency" else {}
        b.do(name, "party.register", role=role, commitment=h(name), **extra)
        b.do("authority", "authority.attest_identity", party=key(name).public_hex, commitment=h(name))
        if role == "agency":
            b.do("authority", "authority.license_agency", party=key(name).public_hex, licence=h(name + "licence"))
    unit_fields = {"district": "徐汇区", "floor_area_m2": 68, "rooms": 2}
    u1 = b.do(
        "landlord", "unit.register", street="衡山路", neighbourhood="衡山坊", address_commitment=h("u1"), **unit_fields
    )
    b.do("authority", "title.attest", unit=u1, certificate_commitment=h("cert-u1"))
    u2 = b.do(
        "landlord",
        "unit.register",
        street="田林路",
        neighbourhood="田林新苑",
        address_commitment=h("u2"),
        **unit_fields,
    )
    b.do("authority", "title.attest", unit=u2, certificate_commitment=h("cert-u2"))
    u3 = b.do(
        "landlord",
        "unit.register",
        street="漕溪北路",
        neighbourhood="汇贤居",
        address_commitment=h("u3"),
        **unit_fields,
    )
    listing = b.do(
        "landlord",
        "listing.publish",
        unit=u2,
        rent=950_000,
        deposit=950_000,
        available_from=today,
        min_term_months=12,
        description="南北通透两居室，近地铁",
        photos=[],
    )
    # unit 3 is already let to tenant 2 (signed by owner and tenant), and agency B holds a mandate on it:
    # the overlap-refusal journey offers it again for overlapping dates.
    b.do("authority", "title.attest", unit=u3, certificate_commitment=h("cert-u3"))
    b.do(
        "landlord",
        "mandate.grant",
        unit=u3,
        agency=key("agency_b").public_hex,
        exclusive=False,
        to=add_days(today, 730),  # (past tenant 2's lease: the agency advertises the unit for after it)
        may_sign=True,
        min_rent=500_000,
        **{"from": today},
    )
    lease3 = b.do(
        "landlord",
        "lease.sign",
        ("tenant2",),
        unit=u3,
        landlord=key("landlord").public_hex,
        tenant=key("tenant2").public_hex,
        start=add_days(today, 10),
        end=add_days(today, 375),
        rent=900_000,
        deposit=900_000,
        payment_day=5,
        notice_days=30,
        collector="landlord",
        document_hash=h("lease-u3"),
    )
    # a party with a long record: its first credit.CHUNK suspensions moved to an archived chunk
    b.do("serial", "party.register", role="tenant", commitment=h("serial"))
    for i in range(CHUNK + 1):
        b.do("authority", "authority.suspend", party=key("serial").public_hex, reason_hash=h(f"s{i}"))
        b.do("authority", "authority.reinstate", party=key("serial").public_hex, reason_hash=h(f"r{i}"))
    code = orjson.loads(node.store.state_get(f"listing/{listing}") or b"{}")["code"]
    node.stop()
    parties = [
        {"name": label, "role": role, "seed": key(n).seed.hex(), "public_key": key(n).public_hex}
        for n, (label, role) in PARTIES.items()
    ]
    (data / "demo-parties.json").write_bytes(orjson.dumps({"parties": parties}, option=orjson.OPT_INDENT_2))
    return {"unit1": u1, "unit2": u2, "unit3": u3, "listing": listing, "code": code, "lease3": lease3, "today": today}


def lease_under_sublease(tmp_path: Path, sub_notice: int = 30, subsub_notice: int | None = None) -> dict[str, Any]:
    """The demo ledger with lease 1 (Wang lets unit 1 to Li) and its sublease (Li lets it on to Zhang,
    Wang consenting, with ``sub_notice`` days' notice), both signed on the ledger; with
    ``subsub_notice``, also a sub-sublease (Zhang lets it on to Zhao, Li and Wang consenting, with
    that notice). The ids, with ``lease1``, ``sublease`` (and ``subsublease``)."""
    ids = build(tmp_path)
    today = ids["today"]
    li, zhang, zhao, wang = (key(n).public_hex for n in ("tenant", "tenant2", "tenant3", "landlord"))
    terms = {"unit": ids["unit1"], "deposit": 0, "payment_day": 8, "collector": "landlord"}
    node = Node(tmp_path, verify_workers=0)
    b = Builder(node)
    lease1 = b.do(
        "landlord", "lease.sign", ("tenant",), landlord=wang, tenant=li, start=today, end=add_days(today, 300),
        rent=800_000, document_hash=h("lease-u1"), notice_days=30, **terms,
    )  # fmt: skip
    sublease = b.do(
        "tenant", "lease.sign", ("tenant2", "landlord"), landlord=li, tenant=zhang, parent=lease1,
        start=add_days(today, 10), end=add_days(today, 250), rent=500_000, document_hash=h("sublease"),
        notice_days=sub_notice, **terms,
    )  # fmt: skip
    out = {**ids, "lease1": lease1, "sublease": sublease}
    if subsub_notice is not None:
        out["subsublease"] = b.do(
            "tenant2", "lease.sign", ("tenant3", "tenant", "landlord"), landlord=zhang, tenant=zhao, parent=sublease,
            start=add_days(today, 20), end=add_days(today, 200), rent=400_000, document_hash=h("sub-sublease"),
            notice_days=subsub_notice, **terms,
        )  # fmt: skip
    node.stop()
    return out
