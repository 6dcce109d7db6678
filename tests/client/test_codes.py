"""The SDK reads listing codes exactly as the registry does (it may not import the registry)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from anju.client import canonical_code
from anju.registry import vcode

_TYPED = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz- _ü", max_size=14)


@given(_TYPED)
def test_the_client_and_the_registry_read_a_typed_code_alike(text: str) -> None:
    assert canonical_code(text) == vcode.normalize(text)


@given(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
def test_every_code_reads_back_in_its_printed_forms(txid: str) -> None:
    code = next(vcode.candidates(txid))
    for typed in (code, vcode.display(code), vcode.display(code).lower(), code.replace("0", "O").replace("1", "l")):
        assert canonical_code(typed) == code


def test_a_sublease_knows_every_lease_it_lies_in() -> None:
    """A sub-sublease ended with its grandparent names the grandparent's termination: the verifier
    accepts a termination of any lease the bundle proves the registered one lies in."""
    from anju.client.verify import VerifiedBundle, _ancestors

    state = {
        "lease/c": {"id": "c", "parent": "b"},
        "lease/b": {"id": "b", "parent": "a"},
        "lease/a": {"id": "a", "parent": None},
    }
    vb = VerifiedBundle("registration", "XH202600000001", None, state, {})  # type: ignore[arg-type]
    assert _ancestors(vb, state["lease/c"]) == ["b", "a"]
    assert _ancestors(vb, state["lease/a"]) == []
    looped = {"lease/x": {"id": "x", "parent": "y"}, "lease/y": {"id": "y", "parent": "x"}}
    assert _ancestors(VerifiedBundle("registration", "n", None, looped, {}), looped["lease/x"]) == ["y", "x"]  # type: ignore[arg-type]


@given(
    st.dates().map(str),
    st.dates().map(str),
    st.dates().map(str),
)
def test_the_client_judges_a_leases_phase_as_the_registry_does(start: str, ends_on: str, date: str) -> None:
    from anju.client.verify import lease_phase as client_phase
    from anju.registry.status import lease_phase

    lease = {"start": start, "ends_on": ends_on}
    assert client_phase(lease, date) == lease_phase(lease, date)


@given(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
def test_the_client_derives_ids_and_codes_from_a_txid_as_the_registry_does(txid: str) -> None:
    """A verifier binds a listing's id and code to its listing.publish txid by the registry's rules."""
    from itertools import islice

    from anju.client.verify import code_candidates, new_id
    from anju.registry import layout

    assert new_id(txid) == layout.new_id(txid)
    assert list(islice(code_candidates(txid), 4)) == list(islice(vcode.candidates(txid), 4))


def test_a_code_proven_absent_is_refused_as_such() -> None:
    """The evidence names the code ``listing_code``: as ``code`` it clashed with the error's own code."""
    import pytest
    from tests.client import forge

    from anju.client import verify_bundle
    from anju.crypto.keys import SigningKey
    from anju.errors import VerificationError
    from anju.ledger.note import vkey_of

    key = SigningKey(b"c" * 32)
    for entry in (None, {"code": "0000000001", "listing": "a" * 16}):
        bundle = forge.bundle(
            "listing",
            "0000000000",
            {"code/0000000000": entry},
            lambda cp: cp.sign(key, "anju-forge"),
            forge.checkpoint(),
        )
        with pytest.raises(VerificationError) as info:
            verify_bundle(bundle, vkey_of("anju-forge", key.public))
        assert info.value.code == "PROOF_INVALID" and info.value.details["listing_code"] == "0000000000"


def test_the_client_judges_a_listing_as_the_registry_views_do() -> None:
    """The SDK restates the registry's view rule (it may not import the registry): same answers."""
    from anju.client.verify import listing_status
    from anju.registry.status import shown_listing_status

    listing = {"status": "live", "status_reason": None, "expires_on": "2026-03-01"}
    mandate = {"status": "active", "from": "2026-01-01", "to": "2026-02-10"}
    active, suspended = {"status": "active"}, {"status": "suspended"}
    for m in (None, mandate, {**mandate, "status": "revoked"}, {**mandate, "status": "expired"}):
        for parties in ((active, active), (suspended, active), (active, suspended), (None, suspended)):
            for date in ("2026-01-05", "2026-02-11", "2026-03-01"):
                for stored in (
                    listing,
                    {**listing, "status": "withdrawn", "status_reason": None},
                    {**listing, "let_from": None},  # (rules edition 8: the unit's next lease begins)
                    {**listing, "let_from": "2026-02-01"},
                    {**listing, "let_from": "2026-03-01"},  # (the code expires first)
                ):
                    want = shown_listing_status(stored, m, parties, date)
                    assert listing_status(stored, m, date, parties) == want, (m, parties, date, stored)
    assert listing_status(listing, None, "2026-01-05", (suspended,)) == ("suspended", "party_suspended")
    assert listing_status({**listing, "let_from": "2026-02-01"}, None, "2026-02-01") == ("revoked", "leased")


def test_the_client_counts_credit_points_as_the_registry_awards_them() -> None:
    """verify.CREDIT_TXS restates the registry's factors (the client may not import the registry)."""
    from anju.client.verify import CREDIT_TXS
    from anju.registry.credit import FACTORS

    assert set(CREDIT_TXS) == set(FACTORS)
    assert {name: fixed for name, (_, _, fixed) in CREDIT_TXS.items()} == {n: p for n, (p, _) in FACTORS.items()}
