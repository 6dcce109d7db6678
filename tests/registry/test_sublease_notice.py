"""Rules edition 7: ending a lease cuts its subleases only with their own notice.

A sublease lies within its parent lease and ends with it (Civil Code art. 716). Edition 6 cut every
sublease when the parent ended, however it ended: a sub-landlord could end its sublease at once by
ending the parent lease with the owner (or by its own notice under the parent), which it could not
do to the sublease directly. From edition 7 a termination by agreement, or by the parent's tenant's
notice, needs each live sublease's notice unless that sublease's tenant signs too; the owner's own
notice under the parent lease still ends its subleases on the parent's terms.
"""

from __future__ import annotations

from typing import Any

import pytest

from anju.errors import TxRejected
from anju.registry import layout

from .harness import H, SigningKey
from .test_rules import lease_fields
from .world import World, make_world

TODAY = "2026-03-10"


def _sublease(
    w: World, parent: str, landlord: SigningKey, tenant: SigningKey, consents: list[SigningKey], **over: Any
) -> str:
    fields = lease_fields(w, **{"start": "2026-03-01", "end": "2026-12-31", "notice_days": 60, **over})
    fields.update(landlord=landlord.public_hex, tenant=tenant.public_hex, parent=parent)
    return w.chain.do(landlord, "lease.sign", [tenant, *consents], **fields).txid[:16]


def _head_and_sub(**sub_over: Any) -> tuple[World, str, str]:
    """The owner lets the home to ``tenant`` (30 days' notice), who sublets it to ``tenant2`` (60
    days' notice unless ``sub_over`` says otherwise); the block date is then :data:`TODAY`."""
    w = make_world()
    head = w.chain.do(w.owner, "lease.sign", [w.tenant], **lease_fields(w)).txid[:16]
    sub = _sublease(w, head, w.tenant, w.tenant2, [w.owner], **sub_over)
    w.chain.day = TODAY
    return w, head, sub


def _end(lease: str, mode: str, on: str) -> dict[str, Any]:
    return {"lease": lease, "mode": mode, "on": on, "reason_hash": H}


def _refused(w: World, who: SigningKey, cosigners: list[SigningKey], **fields: Any) -> TxRejected:
    before = w.chain.root()
    with pytest.raises(TxRejected) as err:
        w.chain.do(who, "lease.terminate", cosigners, **fields)
    assert w.chain.root() == before  # refused: nothing changed
    return err.value


def _ends_on(w: World, lease: str) -> str:
    rec = w.chain.get(layout.lease(lease))
    assert rec is not None
    return str(rec["ends_on"])


def test_ending_the_parent_by_agreement_gives_the_subtenant_its_notice() -> None:
    w, head, sub = _head_and_sub()
    err = _refused(w, w.owner, [w.tenant], **_end(head, "mutual", "2026-05-08"))  # 59 days: one short
    assert err.code == "NOTICE_TOO_SHORT" and err.details == {"lease": sub}
    assert _ends_on(w, sub) == "2026-12-31" and _ends_on(w, head) == "2027-01-31"
    w.chain.do(w.owner, "lease.terminate", [w.tenant], **_end(head, "mutual", "2026-05-09"))  # 60 days
    assert _ends_on(w, head) == _ends_on(w, sub) == "2026-05-09"


def test_the_subtenant_may_agree_to_end_sooner() -> None:
    w, head, sub = _head_and_sub()
    w.chain.do(w.owner, "lease.terminate", [w.tenant, w.tenant2], **_end(head, "mutual", TODAY))
    assert _ends_on(w, head) == _ends_on(w, sub) == TODAY


def test_the_parents_tenant_giving_notice_owes_its_subtenant_the_sublease_notice() -> None:
    w, head, sub = _head_and_sub()
    on = "2026-04-15"  # 36 days: the head lease's 30 days' notice, short of the sublease's 60
    err = _refused(w, w.tenant, [], **_end(head, "notice", on))
    assert err.code == "NOTICE_TOO_SHORT" and err.details == {"lease": sub}
    w.chain.do(w.tenant, "lease.terminate", [w.tenant2], **_end(head, "notice", on))  # the subtenant agrees
    assert _ends_on(w, sub) == on


def test_the_owners_notice_ends_the_sublease_on_the_parent_leases_terms() -> None:
    w, head, sub = _head_and_sub()
    w.chain.do(w.owner, "lease.terminate", **_end(head, "notice", "2026-04-15"))  # 36 days: the parent's 30 suffice
    assert _ends_on(w, head) == _ends_on(w, sub) == "2026-04-15"


def test_a_sublease_over_by_the_termination_date_is_not_in_the_way() -> None:
    w, head, sub = _head_and_sub(end="2026-04-30")
    w.chain.do(w.owner, "lease.terminate", [w.tenant], **_end(head, "mutual", "2026-04-30"))
    assert _ends_on(w, head) == "2026-04-30" and _ends_on(w, sub) == "2026-04-30"


def test_a_sublease_not_yet_begun_is_not_voided_without_its_notice() -> None:
    w, head, sub = _head_and_sub(start="2026-06-01")
    err = _refused(w, w.owner, [w.tenant], **_end(head, "mutual", "2026-04-30"))
    assert err.code == "NOTICE_TOO_SHORT" and err.details == {"lease": sub}
    w.chain.do(w.owner, "lease.terminate", [w.tenant, w.tenant2], **_end(head, "mutual", "2026-04-30"))
    assert _ends_on(w, sub) == "2026-05-31"  # void: the day before its start


def test_each_subtenant_down_the_chain_gets_its_own_notice() -> None:
    w, head, sub = _head_and_sub()
    w.chain.day = "2026-03-01"
    subsub = _sublease(w, sub, w.tenant2, w.stranger, [w.owner, w.tenant], start="2026-03-05", end="2026-10-31")
    w.chain.day = TODAY
    end = _end(head, "mutual", "2026-04-30")
    err = _refused(w, w.owner, [w.tenant, w.tenant2], **end)  # the sublease's tenant agrees, its own subtenant not
    assert err.code == "NOTICE_TOO_SHORT" and err.details == {"lease": subsub}
    w.chain.do(w.owner, "lease.terminate", [w.tenant, w.tenant2, w.stranger], **end)
    assert _ends_on(w, sub) == _ends_on(w, subsub) == "2026-04-30"


def test_a_sublease_ended_by_agreement_gives_its_own_subtenant_notice() -> None:
    """The rule holds at every level: ending the middle lease of three by agreement (its sub-landlord
    and its subtenant) still owes the sub-subtenant its notice."""
    w, head, sub = _head_and_sub()
    w.chain.day = "2026-03-01"
    subsub = _sublease(w, sub, w.tenant2, w.stranger, [w.owner, w.tenant], start="2026-03-05", end="2026-10-31")
    w.chain.day = TODAY
    err = _refused(w, w.tenant, [w.tenant2], **_end(sub, "mutual", "2026-04-30"))
    assert err.code == "NOTICE_TOO_SHORT" and err.details == {"lease": subsub}
    assert _ends_on(w, head) == "2027-01-31"


def test_a_sublease_called_off_before_it_began_is_not_in_the_way() -> None:
    """A void sublease (its sides called it off: its last day is the day before its start) has no
    home to give notice on: ending the parent by agreement asks nothing of its subtenant."""
    w, head, sub = _head_and_sub(start="2026-08-01")
    w.chain.do(w.tenant, "lease.terminate", [w.tenant2], **_end(sub, "mutual", "2026-07-31"))  # void
    w.chain.do(w.owner, "lease.terminate", [w.tenant], **_end(head, "mutual", "2026-03-20"))
    assert _ends_on(w, head) == "2026-03-20" and _ends_on(w, sub) == "2026-07-31"
