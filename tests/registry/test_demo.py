"""The demo generator: every transaction it makes is accepted, and the same seed gives the same bytes."""

from __future__ import annotations

import hashlib
from collections import Counter

from anju.crypto import jcs
from anju.crypto.keys import SigningKey
from anju.demo import generate
from anju.registry import credit, status, views

from .harness import Chain, Overlay


def replay(units: int, years: int = 3, seed: str = "test-seed") -> tuple[Chain, Counter[str], str]:
    demo = generate(seed, units, years=years, chain="anju-test")
    chain = Chain(authority=SigningKey.from_seed(bytes.fromhex(demo.manifest[0].seed_hex)))
    assert demo.genesis["authority"] == chain.authority.public_hex
    # genesis banks come from the demo's parameters
    overlay = Overlay(chain.state)
    chain.registry.genesis(demo.genesis, overlay)
    overlay.commit()
    kinds: Counter[str] = Counter()
    digest = hashlib.sha256()
    last = ""
    for time, envelopes in demo.blocks():
        assert time > last
        last = time
        for env in envelopes:
            tx = chain.submit(env, time=time)
            kinds[tx.kind] += 1
            digest.update(jcs.canonicalize(env))
    return chain, kinds, digest.hexdigest()


def test_demo_is_fully_accepted_and_covers_every_kind() -> None:
    chain, kinds, _ = replay(60)
    expected = {
        "party.register", "authority.attest_identity", "authority.license_agency", "agency.appoint_agent",
        "unit.register", "title.attest", "mandate.grant", "listing.publish", "lease.sign", "lease.register",
        "deposit.lodge", "payment.confirm", "rent.pay", "deposit.return", "deposit.accept", "review.write",
        "lease.renew", "lease.terminate",
    }  # fmt: skip
    assert expected <= set(kinds), expected - set(kinds)
    assert sum(kinds.values()) > 2000
    # the stored credit records and chunks are exactly what the credit.changed events add up to
    folded = credit.fold(chain.events, credit.CHUNK)
    assert {k for k in chain.state if k.startswith("credit/")} == set(folded)
    for key, value in folded.items():
        assert chain.get(key) == value
    # a busy party's history moved to chunks: its record holds fewer entries than its count
    chunks = [k for k in folded if k.count("/") == 3]
    assert chunks, "no party reached credit.CHUNK entries in a factor"


def test_demo_rare_events_appear_at_scale() -> None:
    chain, kinds, _ = replay(300, years=2)
    for kind in ("report.file", "report.resolve", "dispute.open", "dispute.resolve", "bank.attest_escrow"):
        assert kinds[kind] > 0, kind
    # The district is served on its last day: it has listings to browse (most listings of its last
    # weeks are still looking for a tenant), not only the few published in its last days.
    last = "2024-12-31"  # generate()'s default start, 2023-01-02, plus two years, less a day
    live = []
    for key in [k for k in chain.state if k.startswith("listing/")]:
        listing = chain.get(key)
        assert listing is not None
        mandate = chain.get(f"mandate/{listing['mandate']}") if listing["mandate"] else None
        if status.listing_status(listing, mandate, last)[0] == "live":
            live.append(listing["id"])
    assert len(live) >= 12, len(live)


def test_same_seed_same_transactions() -> None:
    demo = generate("again", 40, years=1)
    first = [jcs.canonicalize(e) for _, block in demo.blocks() for e in block]
    second = [jcs.canonicalize(e) for _, block in generate("again", 40, years=1).blocks() for e in block]
    assert first == second
    other = [jcs.canonicalize(e) for _, block in generate("other", 40, years=1).blocks() for e in block]
    assert other != first


def test_manifest_keys_sign_in() -> None:
    demo = generate("m", 30)
    roles = {p.role for p in demo.manifest}
    assert {"authority", "bank", "agency", "agent", "landlord", "tenant"} <= roles
    for p in demo.manifest:
        assert SigningKey.from_seed(bytes.fromhex(p.seed_hex)).public_hex == p.key


def test_a_demo_party_can_open_its_identity_commitment() -> None:
    """The manifest gives each registered demo party the text and the salt its identity commitment
    is to, and they open the commitment the ledger holds (the salts were 32 bytes: no commitment
    opened, and no demo party could disclose who it is)."""
    from anju.crypto.commitments import opens

    chain, _, _ = replay(30, years=1)
    opened = 0
    for p in generate("test-seed", 30, years=1, chain="anju-test").manifest:
        record = chain.get(f"party/{p.key}")
        if p.role in ("authority", "bank"):
            assert p.identity == p.salt == "", p
            continue
        assert record is not None and opens(record["commitment"], p.identity, p.salt), p
        opened += 1
    assert opened >= 10


def test_demo_listings_resolve_by_code() -> None:
    chain, _, _ = replay(30, years=1)
    codes = [v.decode() for k, v in chain.state.items() if k.startswith("code/")]
    assert codes
    entry = jcs.loads(codes[0])
    view = views.listing_by_code(chain.state, entry["code"], "2024-01-01")
    assert view is not None and view["listing"]["id"] == entry["listing"]
