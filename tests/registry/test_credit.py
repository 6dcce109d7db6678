"""Credit records stay bounded: a factor's older entries move to chunks (genesis ``credit_chunk``)."""

from __future__ import annotations

import pytest

from anju.crypto import jcs
from anju.registry import credit, edition, layout
from anju.registry.call import read
from anju.registry.dates import add_months
from anju.registry.machine import Registry, genesis_params
from anju.registry.views import credit_view

from .harness import Chain, Overlay, key_for, lease_terms

PAYMENTS = credit.CHUNK + 3  # one chunk, then three entries in the record


def paying_tenant(chunk: int | None) -> tuple[Chain, str]:
    """A chain where the tenant has ``PAYMENTS`` rent payments confirmed on time, one a month."""
    c = Chain(credit_chunk=chunk)
    owner = c.party("owner", "landlord")
    tenant = c.party("tenant", "tenant")
    unit = c.unit(owner)
    c.day = "2026-01-20"
    terms = lease_terms(start="2026-02-01", end="2029-01-31")
    lease = c.do(owner, "lease.sign", [tenant], unit=unit, landlord=owner.public_hex, tenant=tenant.public_hex, **terms)
    lid = lease.txid[:16]
    c.do(c.authority, "lease.register", lease=lid)  # (from edition 5 rent_on_time needs a registered lease)
    for i in range(PAYMENTS):
        period = add_months("2026-02", i)
        c.day = f"{period}-01"
        pay = c.do(tenant, "rent.pay", lease=lid, period=period, months=1, amount=900_000).txid[:16]
        c.do(owner, "payment.confirm", payment=pay)
    return c, tenant.public_hex


def test_a_full_factor_moves_to_a_chunk_and_the_record_keeps_the_rest() -> None:
    c, tenant = paying_tenant(credit.CHUNK)
    record = c.get(layout.credit(tenant))
    assert record is not None
    on_time = record["factors"]["rent_on_time"]
    assert on_time["count"] == PAYMENTS and on_time["points"] == 2 * PAYMENTS
    assert len(on_time["entries"]) == PAYMENTS - credit.CHUNK
    chunk = c.get(layout.credit_chunk(tenant, "rent_on_time", 0))
    assert chunk is not None
    assert chunk["party"] == tenant and chunk["factor"] == "rent_on_time" and chunk["chunk"] == 0
    assert len(chunk["entries"]) == credit.CHUNK and chunk["points"] == 2 * credit.CHUNK
    assert c.get(layout.credit_chunk(tenant, "rent_on_time", 1)) is None
    # the entries, chunk then record, are the confirmations in order, and nothing was lost
    confirmations = [tx.txid for tx, _ in c.log if tx.kind == "payment.confirm"]
    assert [t for t, _ in chunk["entries"] + on_time["entries"]] == confirmations
    assert record["score"] == credit.score_of(record["factors"])
    # the view names the chunks to read (each is provable state)
    view = credit_view(c.state, tenant)
    assert view["archived"] == {"rent_on_time": [layout.credit_chunk(tenant, "rent_on_time", 0)]}


def test_a_chain_from_before_chunks_keeps_every_entry_in_the_record() -> None:
    old, tenant = paying_tenant(None)
    new, same_tenant = paying_tenant(credit.CHUNK)
    assert tenant == same_tenant
    record = old.get(layout.credit(tenant))
    assert record is not None
    assert len(record["factors"]["rent_on_time"]["entries"]) == PAYMENTS
    assert not [k for k in old.state if k.startswith(f"credit/{tenant}/")]
    # the same history, the same score and totals; only where the entries live differs
    chunked = new.get(layout.credit(tenant))
    assert chunked is not None and chunked["score"] == record["score"]
    assert {f: (e["count"], e["points"]) for f, e in chunked["factors"].items()} == {
        f: (e["count"], e["points"]) for f, e in record["factors"].items()
    }
    assert credit_view(old.state, tenant)["archived"] == {}


def test_the_record_stays_small_however_long_the_history() -> None:
    c, tenant = paying_tenant(credit.CHUNK)
    old, _ = paying_tenant(None)
    small = len(c.state[layout.credit(tenant)])
    whole = len(old.state[layout.credit(tenant)])
    assert small < whole / 4  # 3 entries against 35


@pytest.mark.parametrize("bad", [1, 0, -5, 10_001, "32", 32.0, True, None])
def test_genesis_refuses_a_bad_credit_chunk(bad: object) -> None:
    overlay = Overlay({})
    params = {**genesis_params(key_for("authority").public_hex), "credit_chunk": bad}
    with pytest.raises(ValueError, match="credit_chunk"):
        Registry().genesis(params, overlay)


def test_genesis_records_the_chunk_size_and_new_chains_use_it() -> None:
    overlay = Overlay({})
    Registry().genesis(genesis_params(key_for("authority").public_hex), overlay)
    overlay.commit()
    meta = read(overlay.base, layout.META)
    assert meta == {
        "authority": key_for("authority").public_hex,
        "registrations": 0,
        "credit_chunk": credit.CHUNK,
        "rules": edition.RULES,
    }
    legacy = Overlay({})
    Registry().genesis({"authority": key_for("authority").public_hex}, legacy)
    legacy.commit()
    assert legacy.base[layout.META] == jcs.canonicalize(
        {"authority": key_for("authority").public_hex, "registrations": 0}
    )
