"""Money records: bank escrow attestations, deposit lodged / returned / accepted, rent paid / confirmed.

Rental businesses (agencies collecting for a lease) must keep a deposit above one month's rent,
or rent collected more than three months ahead, in a bank-supervised account (the 2021 rule
of the Ministry of Housing and Urban-Rural Development and others); a licensed bank attests it.
"""

from __future__ import annotations

from anju.registry import credit, layout
from anju.registry.call import Call, Record, View
from anju.registry.codes import reject
from anju.registry.dates import add_months, days_between, due_date, month_of, months_between
from anju.registry.rules.common import acting_agency, active_party_view
from anju.registry.schema import MAX_MONEY
from anju.registry.status import next_month

MAX_MONTHS_AHEAD = 3


def _is_collector(call: Call, lease: View) -> bool:
    who = lease["collector_party"]
    return bool(call.signer == who or (lease["collector"] == "agency" and acting_agency(call, call.signer) == who))


def attest_escrow(call: Call) -> None:
    bank = active_party_view(call, call.signer, "bank", "the signer")
    if not bank["licensed"]:
        reject("NOT_LICENSED", "the bank is not recognised by the housing authority", party=call.signer)
    b = call.body
    lease = call.peek_need(layout.lease(b["lease"]), "lease")
    if call.edition() >= 5 and (lease["start"] > lease["ends_on"] or call.date > lease["ends_on"]):
        reject("LEASE_NOT_LIVE", "no money is held for a lease called off before it began or ended", lease=lease["id"])
    eid = call.new_id
    call.put(
        layout.escrow(eid),
        {
            "id": eid,
            "lease": lease["id"],
            "bank": call.signer,
            "purpose": b["purpose"],
            "amount": b["amount"],
            "account_commitment": b["account_commitment"],
            "tx": call.txid,
            "on": call.date,
        },
    )
    total = lease["escrow"][b["purpose"]] + b["amount"]
    if total > MAX_MONEY and call.edition() >= 3:  # totals stay exact JSON integers
        reject(
            "INTEGER_OUT_OF_RANGE",
            f"the lease's {b['purpose']} escrow would exceed {MAX_MONEY}",
            field="amount",
            attested=lease["escrow"][b["purpose"]],
        )
    escrow = {**lease["escrow"], b["purpose"]: total}
    call.put_view(layout.lease(lease["id"]), {**lease, "escrow": escrow})
    call.emit(
        "escrow.attested",
        {"escrow": eid, "lease": lease["id"], "purpose": b["purpose"], "amount": b["amount"]},
        parties=[lease["owner"], lease["tenant"], lease["collector_party"], call.signer],
        units=[lease["unit"]],
    )


def _new_payment(call: Call, lease: View, kind: str, amount: int, **extra: object) -> Record:
    pid = call.new_id
    if call.exists(layout.payment(pid)):
        reject("ALREADY_EXISTS", "a payment with this id already exists", payment=pid)
    rec: Record = {
        "id": pid,
        "lease": lease["id"],
        "unit": lease["unit"],
        "kind": kind,
        "amount": amount,
        "payer": lease["tenant"],
        "receiver": lease["collector_party"],
        "period": None,
        "months": None,
        "due_on": None,
        "late_days": 0,
        "recorded_tx": call.txid,
        "recorded_on": call.date,
        "confirmed": False,
        "confirmed_tx": None,
        "confirmed_on": None,
        **extra,
    }
    call.put_view(layout.payment(pid), rec)
    call.emit(
        f"{kind}.recorded",
        {"payment": pid, "lease": lease["id"], "amount": amount},
        parties=[lease["owner"], lease["tenant"], lease["collector_party"]],
        units=[lease["unit"]],
    )
    return rec


def _tenant_lease(call: Call) -> View:
    lease = call.peek_need(layout.lease(call.body["lease"]), "lease")
    if call.signer != lease["tenant"]:
        reject("NOT_LEASE_PARTY", "only the lease's tenant records paying", lease=lease["id"])
    return lease


def _paying_lease(call: Call) -> View:
    """The tenant's lease for a deposit or rent payment; from edition 3 not one called off before it
    began (nothing is owed on it)."""
    lease = _tenant_lease(call)
    if lease["start"] > lease["ends_on"] and call.edition() >= 3:
        reject("LEASE_NOT_LIVE", "the lease was called off before it began: nothing is owed on it", lease=lease["id"])
    return lease


def lodge_deposit(call: Call) -> None:
    lease = _paying_lease(call)
    amount = call.body["amount"]
    if lease["deposit_status"] != "none":
        reject("ALREADY_DONE", "the deposit was already lodged", lease=lease["id"])
    if amount != lease["deposit"]:
        reject("AMOUNT_MISMATCH", "amount must equal the lease's deposit", deposit=lease["deposit"])
    if lease["collector"] == "agency" and amount > lease["rent"] and lease["escrow"]["deposit"] < amount:
        reject(
            "BANK_ATTESTATION_REQUIRED",
            "an agency holding a deposit above one month's rent needs a bank's escrow attestation first",
            lease=lease["id"],
        )
    pay = _new_payment(call, lease, "deposit", amount)
    call.put_view(layout.lease(lease["id"]), {**lease, "deposit_status": "lodged", "deposit_payment": pay["id"]})


def _escrow_needed(call: Call, lease: View, last: str) -> int:
    """The rent a supervised account must hold before an agency collects up to month ``last``:
    every month paid ahead once this payment is in, from the lease's first month on (earlier
    prepayments count: an attestation is not used again for each new payment). Edition 1
    compared the attestation with this payment alone."""
    if call.edition() < 2:
        return int(call.body["amount"])
    first_due = add_months(month_of(lease["start"]), -1)  # months before the lease are not paid for
    if call.edition() < 5:
        return int(lease["rent"]) * months_between(max(month_of(call.date), first_due), last)
    # Edition 5: a running total. The rent of months an earlier payment collected ahead under an
    # attestation stays counted (attestations only add up, and the money leaves the account as those
    # months are lived), and this payment adds the months paid ahead that none counted yet.
    since = max(month_of(call.date), first_due, lease.get("rent_escrowed_through") or first_due)
    return int(lease.get("rent_escrowed", 0)) + int(lease["rent"]) * months_between(since, last)


def _continued_escrow(call: Call, lease: View) -> tuple[int, int, int]:
    """Edition 8: the rent escrow of the leases ``lease`` continues (its ``previous``, and theirs,
    while an agency collects for them as for ``lease``): (the rent their running totals count, the
    rent of their months still paid ahead of the block's month that no total counts yet, their
    attested rent escrow). Collecting a year ahead over a lease and its renewal then needs the
    escrow it needs over one lease; edition 5 counted the months of ``lease`` alone."""
    counted = uncounted = held = 0
    month = month_of(call.date)
    prev_id = lease["previous"]
    while prev_id is not None:
        prev = call.peek_need(layout.lease(prev_id), "lease")
        if prev["collector"] != "agency" or prev["collector_party"] != lease["collector_party"]:
            break
        counted += int(prev.get("rent_escrowed", 0))
        held += int(prev["escrow"]["rent"])
        if prev["paid_through"]:
            first_due = add_months(month_of(prev["start"]), -1)
            since = max(month, first_due, prev.get("rent_escrowed_through") or first_due)
            uncounted += int(prev["rent"]) * max(0, months_between(since, prev["paid_through"]))
        prev_id = prev["previous"]
    return counted, uncounted, held


def pay_rent(call: Call) -> None:
    lease = _paying_lease(call)
    b = call.body
    expected = next_month(lease, lease["paid_through"])
    last = add_months(b["period"], b["months"] - 1)
    if b["period"] != expected:
        reject("PERIOD_OUT_OF_ORDER", f"the next month to pay is {expected}", expected=expected)
    if last > month_of(lease["ends_on"]):
        reject("PERIOD_OUT_OF_ORDER", "the payment runs past the lease's last month", last=month_of(lease["ends_on"]))
    if b["amount"] != lease["rent"] * b["months"]:
        reject("AMOUNT_MISMATCH", "amount must equal rent x months", rent=lease["rent"])
    # Months paid after the block's month once this payment is in: past three, a supervised account must hold them.
    ahead = months_between(month_of(call.date), last)
    escrowed: dict[str, object] = {}
    if lease["collector"] == "agency" and ahead > MAX_MONTHS_AHEAD:
        needed = _escrow_needed(call, lease, last)
        attested = int(lease["escrow"]["rent"])
        if call.edition() >= 5:  # (the running total of edition 5)
            escrowed = {"rent_escrowed": needed, "rent_escrowed_through": last}
        if call.edition() >= 8:  # the leases this renewal continues count too
            counted, uncounted, held = _continued_escrow(call, lease)
            fresh = uncounted if lease.get("rent_escrowed_through") is None else 0  # (counted once, on this lease)
            escrowed["rent_escrowed"] = needed + fresh
            needed, attested = counted + needed + fresh, attested + held
        if attested < needed:
            reject(
                "BANK_ATTESTATION_REQUIRED",
                "an agency collecting rent more than three months ahead needs a bank's escrow attestation "
                "of the rent of every month paid ahead",
                lease=lease["id"],
                attested=attested,
                needed=needed,
            )
    due = due_date(b["period"], lease["payment_day"])
    if call.edition() >= 3 and due < lease["start"]:  # the first month falls due once the lease runs
        due = lease["start"]
    late = max(0, days_between(due, call.date))
    extra: dict[str, object] = {}
    if call.edition() >= 5:  # each month overdue when paid counts (rent_late), however many one payment covers
        extra["late_months"] = sum(
            1
            for i in range(b["months"])
            if (due if i == 0 else due_date(add_months(b["period"], i), lease["payment_day"])) < call.date
        )
    if escrowed and call.edition() >= 7:  # what refusing this payment hands back (edition 7)
        extra["escrowed_before"] = {k: lease[k] for k in ("rent_escrowed", "rent_escrowed_through") if k in lease}
    _new_payment(
        call, lease, "rent", b["amount"], period=b["period"], months=b["months"], due_on=due, late_days=late, **extra
    )
    call.put_view(layout.lease(lease["id"]), {**lease, "paid_through": last, **escrowed})


def _answered_payment(call: Call, verb: str) -> tuple[str, View, View]:
    """(id, payment, lease) of the payment the receiving side ``verb``s (confirms / refuses): one
    it has not answered yet."""
    pid = call.body["payment"]
    pay = call.peek_need(layout.payment(pid), "payment")
    lease = call.peek_need(layout.lease(pay["lease"]), "lease")
    if not _is_collector(call, lease):
        reject("NOT_RECEIVER", f"only the receiving side {verb} a payment", payment=pid)
    if pay["confirmed"]:
        reject("ALREADY_DONE", "the payment is already confirmed", payment=pid)
    if pay.get("refused_tx") is not None:
        reject("ALREADY_DONE", "the payment was refused: the tenant records it again", payment=pid)
    return pid, pay, lease


def confirm(call: Call) -> None:
    pid, pay, lease = _answered_payment(call, "confirms")
    call.put_view(layout.payment(pid), {**pay, "confirmed": True, "confirmed_tx": call.txid, "confirmed_on": call.date})
    if pay["kind"] == "deposit":
        if call.edition() >= 8 and (lease.get("deposit_payment") != pid or lease["deposit_status"] != "lodged"):
            # (the tenant's dispute settles a deposit never confirmed: edition 8)
            reject("ALREADY_DONE", "this deposit payment is no longer the lease's lodged deposit", payment=pid)
        call.put_view(layout.lease(lease["id"]), {**lease, "deposit_status": "held"})
    elif "confirmed_through" in lease:  # edition 6: the receiver's word clears the months, in order
        expected = next_month(lease, lease["confirmed_through"])
        if pay["period"] != expected:
            reject(
                "PERIOD_OUT_OF_ORDER",
                f"rent payments are confirmed in order: first the one for {expected}",
                expected=expected,
                payment=pid,
            )
        last = add_months(pay["period"], pay["months"] - 1)
        call.put_view(layout.lease(lease["id"]), {**lease, "confirmed_through": last})
    call.emit(
        "payment.confirmed",
        {"payment": pid, "lease": lease["id"], "kind": pay["kind"], "late_days": pay["late_days"]},
        parties=[lease["owner"], lease["tenant"], lease["collector_party"]],
        units=[lease["unit"]],
    )
    if pay["kind"] == "rent":
        if pay["late_days"] > 0:  # (edition 5: -5 for each month overdue when paid)
            credit.award(call, lease["tenant"], "rent_late", -5 * int(pay.get("late_months", 1)))
        elif (call.edition() < 3 or pay["period"] <= add_months(month_of(pay["recorded_on"]), 1)) and (
            call.edition() < 5 or _a_registered_tenancy_month(lease, pay["period"])
        ):
            credit.award(call, lease["tenant"], "rent_on_time")  # (edition 3: months paid far ahead earn nothing)
            if call.edition() >= 8 and call.date < lease["start"]:  # taken back if the lease is called off
                now = call.peek_need(layout.lease(lease["id"]), "lease")
                early = int(now.get("rent_on_time_early", 0)) + 1
                call.put_view(layout.lease(lease["id"]), {**now, "rent_on_time_early": early})


def refuse(call: Call) -> None:
    """Edition 6: the receiving side says a recorded payment never arrived. A rent payment's months
    are owed again (only the newest claim: ``paid_through`` steps back over it), a deposit is no
    longer lodged. From edition 7 a refused rent payment that collected months ahead under escrow
    also takes its months out of the lease's running escrow total (``rent_escrowed``, as the payment
    found it: ``escrowed_before``): the total counts only months collected. Edition 6 left them
    counted, so months paid ahead later were added to months never collected and the attestation
    fell short. No credit entry is written (the tenant may open a dispute)."""
    pid, pay, lease = _answered_payment(call, "refuses")
    if pay["kind"] == "deposit":
        if lease.get("deposit_payment") != pid or lease["deposit_status"] != "lodged":
            reject("ALREADY_DONE", "this deposit payment is no longer the lease's lodged deposit", payment=pid)
        lease = {**lease, "deposit_status": "none", "deposit_payment": None}
    else:
        last = add_months(pay["period"], pay["months"] - 1)
        if lease["paid_through"] != last:
            reject(
                "PERIOD_OUT_OF_ORDER",
                f"refuse the newest claim first (rent is recorded through {lease['paid_through']})",
                paid_through=lease["paid_through"],
                payment=pid,
            )
        before = None if pay["period"] == month_of(lease["start"]) else add_months(pay["period"], -1)
        lease = {**lease, "paid_through": before}
        undo = pay.get("escrowed_before")
        if isinstance(undo, dict) and call.edition() >= 7:  # (set from edition 7 on: the newest claim's)
            lease = {k: v for k, v in lease.items() if k not in ("rent_escrowed", "rent_escrowed_through")}
            lease.update(undo)
    call.put_view(layout.payment(pid), {**pay, "refused_tx": call.txid, "refused_on": call.date})
    call.put_view(layout.lease(lease["id"]), lease)
    call.emit(
        "payment.refused",
        {"payment": pid, "lease": lease["id"], "kind": pay["kind"], "reason_hash": call.body["reason_hash"]},
        parties=[lease["owner"], lease["tenant"], lease["collector_party"]],
        units=[lease["unit"]],
    )


def _a_registered_tenancy_month(lease: View, period: str) -> bool:
    """Edition 5: whether ``period`` is a month of a registered lease's tenancy (``start`` .. ``ends_on``),
    the months whose rent paid on time earns ``rent_on_time`` (a void lease has none)."""
    return lease["registration"] is not None and month_of(lease["start"]) <= period <= month_of(lease["ends_on"])


def return_deposit(call: Call) -> None:
    lease = call.peek_need(layout.lease(call.body["lease"]), "lease")
    if not _is_collector(call, lease):
        reject("NOT_RECEIVER", "only the side holding the deposit returns it", lease=lease["id"])
    if call.date < lease["ends_on"]:
        reject("LEASE_NOT_ENDED", "the deposit is returned from the lease's last day on", lease=lease["id"])
    if lease["deposit_status"] != "held":
        settled = ("returned", "accepted", "disputed", "decided")
        code = "ALREADY_DONE" if lease["deposit_status"] in settled else "AMOUNT_MISMATCH"
        reject(code, f"no confirmed deposit to return (deposit is {lease['deposit_status']})", lease=lease["id"])
    deductions = call.body["deductions"]
    total = sum(d["amount"] for d in deductions)
    if total > lease["deposit"]:
        reject("AMOUNT_MISMATCH", "deductions exceed the deposit", deposit=lease["deposit"])
    lease = {
        **lease,
        "deposit_status": "returned",
        "deposit_returned": lease["deposit"] - total,
        "deductions": deductions,
        "deposit_return_tx": call.txid,
    }
    call.put_view(layout.lease(lease["id"]), lease)
    call.emit(
        "deposit.returned",
        {"lease": lease["id"], "returned": lease["deposit_returned"], "deducted": total},
        parties=[lease["owner"], lease["tenant"], lease["collector_party"]],
        units=[lease["unit"]],
    )


def accept_deposit(call: Call) -> None:
    lease = _tenant_lease(call)
    if lease["deposit_status"] != "returned":
        reject("ALREADY_DONE", f"there is no pending settlement (deposit is {lease['deposit_status']})")
    call.put_view(layout.lease(lease["id"]), {**lease, "deposit_status": "accepted"})
    call.emit(
        "deposit.accepted",
        {"lease": lease["id"]},
        parties=[lease["owner"], lease["tenant"], lease["collector_party"]],
        units=[lease["unit"]],
    )
    void = lease["start"] > lease["ends_on"]  # called off before it began: edition 8 credits nothing for it
    if (call.edition() < 3 or lease["registration"] is not None) and not (void and call.edition() >= 8):
        credit.award(call, lease["collector_party"], "deposit_settled")
