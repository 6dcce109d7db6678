"""Rule editions: which version of the registry's rules a chain runs.

A chain's rules belong to its history, not to the version of the code replaying it: a
transaction accepted (or refused) once must be accepted (or refused) by every later build, or a
node upgraded later computes other state roots than the ledger's checkpoints, and consortium
members running two builds fork. So a change that makes the registry refuse what it used to
accept, or write other state for the same transaction, is a new **edition**: genesis parameter
``rules`` (every chain ``anju`` creates sets :data:`RULES`, the newest), kept in ``meta/registry``;
a chain whose genesis lacks it runs edition 1. Each rule that changed asks :meth:`Call.edition`
and keeps the old behaviour for older chains. A build refuses a genesis naming an edition newer
than it knows. The housing authority moves a running chain to a newer edition with
``authority.adopt_rules`` (:mod:`anju.registry.rules.governance`): ``meta/registry`` then names
it, and it applies from the next transaction on; a node refuses to open a ledger whose current
edition its build does not know (``Registry.check_state``).

:data:`CHANGES` lists what each edition changed; docs/REGISTRY.md prints it (kept in sync by a
test), and each change has a test run under both editions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RULES = 9
"""The newest rules edition this build implements (genesis ``rules`` of every new chain)."""

CHANGES: dict[int, tuple[str, ...]] = {
    2: (
        "A suspended party may not co-sign either (`PARTY_SUSPENDED`); edition 1 checked only the envelope's signer.",
        "A lease must end before the twentieth anniversary of its start (`INVALID_FIELD`); "
        "edition 1 allowed up to 20 × 366 days.",
        "`listing.renew` refuses a listing whose mandate is no longer live (`MANDATE_NOT_LIVE`), and an expired "
        "listing whose publisher has published another live one for the unit since (`LISTING_EXISTS`).",
        "`listing.publish` and `listing.renew` need the unit free for the whole advertised term, from "
        "`available_from` for `min_term_months` (`UNIT_NOT_FREE`); edition 1 checked the first day only.",
        "`rent.pay` by an agency collecting more than three months ahead needs an escrow attestation of the rent "
        "of every month paid ahead from the lease's start on (`BANK_ATTESTATION_REQUIRED`); edition 1 compared the "
        "attestation with this payment's amount.",
        "A decided dispute about a contested deposit settlement settles it: `deposit_status` `decided`, "
        "`deposit_returned` moved by the award, event `deposit.decided`, lease fields `deposit_dispute` and "
        "`deposit_decided_tx`; in edition 1 the deposit stayed `disputed`.",
        "Months are written in ASCII digits (`INVALID_FIELD`); edition 1 reads any decimal digits, so a "
        "full-width `２０２６-０２` passes the field check and is refused by the rule that follows "
        '(`PERIOD_OUT_OF_ORDER`), as before editions. (`"2026-0²"` stopped the builds before editions and '
        "is `INVALID_FIELD` in both editions.)",
    ),
    3: (
        "`lease.terminate` is the act of a side: the envelope's signer must be the tenant, the landlord, or the "
        "lease's agency (or its agent) only while the lease's mandate lets it sign and is in force "
        "(`NOT_LEASE_PARTY`); a mutual termination counts the agency as the landlord side on the same terms. "
        "Edition 2 accepted any signer once the agency or one of its agents co-signed, whatever the mandate said.",
        "`lease.terminate` may end a lease that has not started with `on` the day before its start: the lease is "
        "void, its dates are free again, nothing is paid on it (`rent.pay` and `deposit.lodge`: `LEASE_NOT_LIVE`) "
        "and, for a renewal, the lease it continued may be renewed again (`INVALID_FIELD` in edition 2, which kept "
        "the start day taken).",
        "A lease may start at most 30 days before the block it is signed in (`INVALID_FIELD`, field `start`); "
        "edition 2 accepted any past start.",
        "Credit from a lease needs the authority's registration (备案): a review, and the collector's "
        "`deposit_settled`, earn points only on a registered lease (the review is still recorded). A rent payment "
        "earns `rent_on_time` only when it pays this month or the next (a month paid further ahead shows nothing "
        "about paying on time). A confirmed report against a listing already confirmed fake costs its publisher "
        "nothing more (edition 2: every confirmed report did).",
        "The first month of a lease falls due on its due day or on the lease's first day, whichever is later; "
        "edition 2 counted a payment on the first day as late when the payment day came earlier in that month.",
        "The owner is not a side of a sublease: only its sub-landlord and subtenant open disputes about it "
        "(`NOT_LEASE_PARTY`).",
        "An agency may not sign a lease for a suspended owner (`PARTY_SUSPENDED`).",
        "An agency appoints only an agent whose identity the authority attested (`IDENTITY_NOT_ATTESTED`).",
        "`lease.renew` of a lease ending on 9999-12-31 is refused with `RENEWAL_NOT_CONTIGUOUS`; edition 2 "
        "refused it with `APPLICATION_ERROR`.",
        "Text fields (names, places, descriptions, deduction reasons) refuse control characters other than tab "
        "and line feed, the bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), the "
        "zero-width space, word joiner and BOM (U+200B, U+2060, U+FEFF) and U+FFF9–U+FFFB, and text with nothing "
        "visible: only whitespace, joiners, fillers, variation selectors, invisible operators or tags "
        "(`INVALID_FIELD`). Both are fixed lists of code points (`anju.registry.schema`), not Unicode "
        "categories, which change between Python builds.",
        "A bank's escrow attestations for one lease and purpose may total at most the largest amount of money "
        "(10^13 fen; `INTEGER_OUT_OF_RANGE`), so the lease's escrow totals stay exact JSON integers.",
    ),
    4: (
        "The `listing` a `lease.sign` names must be live on the block date: not withdrawn, not revoked (the unit "
        "leased, the listing confirmed fake, its mandate revoked or ended) and its code not expired "
        "(`LISTING_NOT_LIVE`); edition 3 checked only that the listing exists and is for the lease's unit.",
        "The `listing` a `lease.sign` names must be published by the lease's landlord (the owner) or by the agency "
        "the lease is made through (its `mandate`'s) (`INVALID_FIELD`, field `listing`); edition 3 accepted a "
        "listing of the unit by any publisher.",
        "A sublease names no `listing` (`INVALID_FIELD`, field `listing`): the unit's listings advertise the "
        "owner's lease, and its sub-landlord publishes none; edition 3 accepted any listing of the unit.",
    ),
    5: (
        "`listing.publish` needs the unit free from the later of `available_from` and the block date, for "
        "`min_term_months` (`UNIT_NOT_FREE`), as `listing.renew` does; edition 4 checked the term from "
        "`available_from`, so a listing available from a past month could advertise a unit let today.",
        "A lease made through a `mandate` needs the signature of the mandate's agency (or one of its agents), "
        "whoever else signs (`MISSING_SIGNATURE`); a `lease.renew` the agency does not sign is the owner's own (no "
        "agency, no mandate). Edition 4 made the agency a side of a lease the owner signed alone.",
        "`lease.register` refuses a lease called off before it began (`LEASE_NOT_LIVE`), and calling off a "
        "registered lease before it begins (`lease.terminate` of that lease) takes the registration's credit "
        "back: a `leases_registered` entry of −5 for each side, from the terminating transaction. Edition 4 "
        "registered void leases and kept their +5.",
        "A rent payment earns `rent_on_time` only on a registered lease and for a month from the lease's start "
        "to its last day (`ends_on`, when the payment is confirmed): a lease called off before it began has none. "
        "Edition 4 credited any confirmed payment on time, so void or one-day leases that were never registered "
        "raised the tenant's score.",
        "An agency signing a lease for the owner may do so only for a lease starting within its mandate's "
        "`from` .. `to`, and an agency publishes only a listing whose `available_from` is on or before its mandate's "
        "`to` (`MANDATE_NOT_LIVE`); edition 4 asked only that the mandate be in force on the block date.",
        "A lease or listing made through a mandate is refused when its term (a listing's: from the later of "
        "`available_from` and the block date, for `min_term_months`) meets the dates of another agency's exclusive "
        "mandate for the unit, in force or upcoming (`EXCLUSIVE_MANDATE`); edition 4 compared mandates' dates only "
        "at grant, and at publish only with exclusive mandates in force on the block date.",
        "An agency may not end a lease for a suspended owner (`PARTY_SUSPENDED`): `lease.terminate` sent by the "
        "lease's agency or one of its agents, or mutual with the agency signing for the landlord side, is refused "
        "while the authority suspends the landlord, as edition 3 refused its signing a lease for one.",
        "`bank.attest_escrow` is refused for a lease called off before it began or ended (`LEASE_NOT_LIVE`): no "
        "money is held for it; edition 4 accepted an attestation for any lease.",
        "Only the tenant's deposit dispute contests the deposit's settlement, so that its decision settles it "
        "(`deposit_status` `disputed`, then `decided`): the collector's own deposit dispute no longer closes the "
        "tenant's contest. A tenant's deposit dispute opened after the lease ended while the deposit is still "
        "`held` (never returned) contests it too, from nothing returned. Edition 4 took the first deposit dispute "
        "of either side on a `returned` deposit, and none on a `held` one.",
        "The rent escrow an agency collecting more than three months ahead needs is a running total "
        "(`BANK_ATTESTATION_REQUIRED`): the rent of the months earlier such payments collected ahead (lease fields "
        "`rent_escrowed`, `rent_escrowed_through`) plus that of the months this payment leaves paid ahead that "
        "none counted yet. Edition 4 counted only the months ahead of the block's month, so an attestation made "
        "for one year's rent backed the next year's too.",
        "A rent payment confirmed late costs −5 `rent_late` for each month it covers that was overdue when paid "
        "(one credit entry of −5 × the payment's new field `late_months`); edition 4 cost −5 a payment, so arrears "
        "settled in one payment hid every late month but the first.",
        "A sublease cut short because its parent lease ended is announced too: a `lease.terminated` event of the "
        "sublease (`mode` `parent_ended`, `on` its new last day) naming its sides, so its subtenant hears it; "
        "edition 4 emitted only the parent's, which does not name the subtenant.",
    ),
    6: (
        "A rent payment clears its months only when the receiving side confirms it: leases signed from edition 6 "
        "on carry `confirmed_through`, the last month of the confirmed payments, and the months after it are "
        "overdue once due (`paid_through` is the last month the tenant has *claimed*). Rent payments are "
        "confirmed in the order they were recorded (`PERIOD_OUT_OF_ORDER` names the month to confirm first). "
        "Edition 5 moved the lease on the tenant's word alone, so months never paid hid from the overdue list.",
        "New kind `payment.refuse`: the receiving side says a recorded payment never arrived (with the hash of its "
        "reason). A refused rent payment hands its months back (`paid_through` returns to the month before its "
        "period, so they are paid again; only the newest claim can be refused, `PERIOD_OUT_OF_ORDER`); a refused "
        "deposit is no longer lodged (`deposit_status` `none`). A refused payment cannot be confirmed "
        "(`ALREADY_DONE`); the tenant answers a wrong refusal with a dispute. In earlier editions the kind does "
        "not exist (`UNKNOWN_KIND`).",
        "A sublease of a sublease needs its sub-landlord's consent too (the landlord of the lease it names as "
        "`parent`, Civil Code art. 716), besides the owner's (`SUBLEASE_CONSENT_REQUIRED`); edition 5 asked for "
        "the owner's signature only, so a subtenant could let the unit on behind its own landlord's back.",
        "New kind `authority.revoke_licence`: the authority withdraws an agency's licence or a bank's recognition "
        "(`licensed` false until `authority.license_*` again). The agency then takes no new business: no mandate, "
        "listing, listing renewal, agent, nor lease made through its mandates (`NOT_LICENSED`), and its listings "
        "show `suspended` (reason `licence_revoked`); a bank attests no escrow. What it owes on running leases "
        "(rent confirmations, deposits, terminations) stays its to settle. In earlier editions the kind does not "
        "exist (`UNKNOWN_KIND`): a licence could only be suspended with the whole party.",
    ),
    7: (
        "A lease ended by agreement (`lease.terminate` mode `mutual`), or by its own tenant's notice, cuts each live "
        "sublease in it, at any depth, only with that sublease's own notice (`notice_days` from the block date to "
        "the day it would be cut), unless that sublease's tenant signs the termination too (`NOTICE_TOO_SHORT`, "
        "naming the sublease). Edition 6 cut the subleases whatever their notice, so a sub-landlord could end a "
        "sublease at once by ending, with the owner, the lease it lies in. The owner's own notice under the parent "
        "lease still ends its subleases on that lease's terms.",
        "A refused rent payment (`payment.refuse`) that an agency collected months ahead under escrow takes them "
        "out of the lease's running escrow total: `rent_escrowed` and `rent_escrowed_through` return to what the "
        "payment found (kept on it as `escrowed_before`). Edition 6 left them counted, so months paid ahead later "
        "were added to months never collected and the bank's attestation fell short (`BANK_ATTESTATION_REQUIRED`).",
    ),
    8: (
        "A registered sublease voided with the lease it lies in (cut to the day before its start when that lease "
        "is called off, or ended, before the sublease began) gives its registration credit back, as a registered "
        "lease called off before it began does (edition 5): −5 for each of its sides, in one `leases_registered` "
        "entry per party from the terminating transaction (the sum over every lease it voided). Edition 7 took it "
        "back only for the lease `lease.terminate` names.",
        "Rent confirmed on time before a lease began earns `rent_on_time` as before, and the lease counts it "
        "(`rent_on_time_early`); calling the lease off before it began (itself, or with the lease it lies in) "
        "takes it back: −2 for each, in one `rent_on_time` entry of the tenant from that transaction. A lease "
        "that runs keeps it, so paying the first month ahead still counts; edition 7 kept it on a void lease, "
        "so signing a lease, having it registered, paying its first month and calling it off netted the tenant "
        "+2 each time.",
        "`deposit.accept` on a lease called off before it began earns its collector no `deposit_settled` (there "
        "was no tenancy); edition 7 credited +5 for a registered void lease.",
        "`listing.publish` and `listing.renew` store the listing's `let_from`: the first day of the unit's next "
        "lease beginning on or after the advertised term's first day, when one is already signed (else null). The "
        "listing stops being live that day (`revoked`, reason `leased`, unless its code expired first), as "
        "`lease.sign` revokes the listings a unit has when it is let; calling that lease off before it began moves "
        "`let_from` to the next such lease's first day. Edition 7 kept a listing published after a lease was "
        "signed live into that tenancy.",
        "`listing.renew` of an agency's listing is refused when its term (from the later of `available_from` and "
        "the block date, for `min_term_months`) meets the dates of another agency's exclusive mandate for the "
        "unit, in force or upcoming (`EXCLUSIVE_MANDATE`), as `listing.publish` is (edition 5); edition 7 "
        "checked only an exclusive mandate in force on the block date.",
        "A tenant's deposit dispute opened after the lease ended while the deposit is still `lodged` (the "
        "collector never confirmed nor refused it) contests it as one still `held` does, from nothing returned: "
        "its decision settles it (`decided`). A deposit payment is confirmed only while the deposit is `lodged` "
        "(`ALREADY_DONE`). Edition 7 left such a deposit `lodged` whatever the authority decided.",
        "The rent escrow an agency collecting more than three months ahead needs counts the leases a renewal "
        "continues (its `previous`, and theirs, while the same agency collects): their running totals, their "
        "months still paid ahead that no total counted (added to the renewal's `rent_escrowed` once), and their "
        "attestations (`BANK_ATTESTATION_REQUIRED`). Edition 7 counted the renewal alone, so a lease split into "
        "a lease and its renewal collected up to three months' rent more outside a supervised account.",
    ),
    9: (
        "The text fields the ledger keeps in clear (a unit's `district`, `street` and `neighbourhood`, a listing's "
        "`description`, an agency's or bank's `name`, a deposit deduction's `reason`) refuse what looks like "
        "personal data (`PERSONAL_DATA`, naming the field): a mainland mobile number (also with +86, spaces, "
        "dashes or dots), a landline with its area code, any run of eight or more digits (an identity card, an "
        "account), seven or more Chinese numerals, an e-mail address, a messaging account (微信, WeChat, QQ, vx, "
        "wx and the like followed by an id), a person named by surname and title (王先生, 欧阳女士, Mr Wang), a "
        "building, room or door number (3号楼, 302室, 衡山路88号, Room 1201, #1201; in the place fields any number "
        "before 号 but a metro line, gate or exit). Full-width ASCII is read as ASCII by a fixed table; no "
        "Unicode database is used, so every build decides alike (`anju.registry.personal`). Edition 8 left this "
        "to the portal, and any other client could write a phone number into a listing for ever.",
    ),
}
"""What each edition changed from the one before."""


def edition_of(meta: Mapping[str, Any] | None) -> int:
    """The chain's rules edition, from ``meta/registry`` (1 when genesis did not name one)."""
    return 1 if meta is None else int(meta.get("rules", 1))


def check_edition(value: object) -> int:
    """A genesis ``rules`` value, or ValueError naming what this build supports."""
    if type(value) is not int or not 1 <= value <= RULES:
        raise ValueError(f"rules must be an edition this build implements: an integer from 1 to {RULES}")
    return value


def changes_markdown() -> str:
    """The editions as a Markdown list (docs/REGISTRY.md, "Rule editions")."""
    lines = ["- **Edition 1**: the rules of every chain whose genesis has no `rules` parameter."]
    for number, changes in sorted(CHANGES.items()):
        lines.append(f"- **Edition {number}**:")
        lines.extend(f"  - {change}" for change in changes)
    return "\n".join(lines) + "\n"
