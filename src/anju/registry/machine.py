"""The rental registry as a :class:`~anju.registry.port.Machine`: genesis and per-kind dispatch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from anju.crypto import jcs
from anju.crypto.keys import is_hex_key
from anju.crypto.tx import Tx
from anju.registry import credit, edition, layout
from anju.registry.call import Call, Decoded
from anju.registry.codes import reject
from anju.registry.kinds import KINDS
from anju.registry.port import BlockContext, Event, State
from anju.registry.rules import dispute, governance, lease, listing, mandate, money, party, review, unit
from anju.registry.schema import BodyCheck

HANDLERS: dict[str, Callable[[Call], None]] = {
    "party.register": party.register,
    "authority.license_agency": party.license_agency,
    "authority.license_bank": party.license_bank,
    "authority.revoke_licence": party.revoke_licence,
    "authority.attest_identity": party.attest_identity,
    "authority.suspend": party.suspend,
    "authority.reinstate": party.reinstate,
    "authority.adopt_rules": governance.adopt_rules,
    "agency.appoint_agent": party.appoint_agent,
    "agency.dismiss_agent": party.dismiss_agent,
    "unit.register": unit.register,
    "title.attest": unit.attest_title,
    "mandate.grant": mandate.grant,
    "mandate.revoke": mandate.revoke,
    "listing.publish": listing.publish,
    "listing.withdraw": listing.withdraw,
    "listing.renew": listing.renew,
    "lease.sign": lease.sign,
    "lease.renew": lease.renew,
    "lease.register": lease.register,
    "lease.terminate": lease.terminate,
    "bank.attest_escrow": money.attest_escrow,
    "deposit.lodge": money.lodge_deposit,
    "rent.pay": money.pay_rent,
    "payment.confirm": money.confirm,
    "payment.refuse": money.refuse,
    "deposit.return": money.return_deposit,
    "deposit.accept": money.accept_deposit,
    "dispute.open": dispute.open_dispute,
    "dispute.resolve": dispute.resolve_dispute,
    "report.file": dispute.file_report,
    "report.resolve": dispute.resolve_report,
    "review.write": review.write,
}

assert set(HANDLERS) == set(KINDS), "every documented kind has a handler and vice versa"

# kind -> (its body check, compiled once from the kind table; its handler; the edition it came in)
_DISPATCH: dict[str, tuple[BodyCheck, Callable[[Call], None], int]] = {
    name: (BodyCheck(kind.fields), HANDLERS[name], kind.since) for name, kind in KINDS.items()
}

# Decoded records shared between transactions (see Call.peek), at most this many keys.
DECODED_LIMIT = 50_000


def genesis_params(authority: str, banks: Sequence[str] = (), *, credit_chunk: int = credit.CHUNK) -> dict[str, Any]:
    """The genesis parameters of a new registry chain: its authority, its banks, the size of its
    credit chunks (every chain anju creates archives credit entries) and its rules edition (the
    newest this build implements)."""
    return {"authority": authority, "banks": list(banks), "credit_chunk": credit_chunk, "rules": edition.RULES}


class Registry:
    """Anju's rental registry: parties, units, mandates, listings, leases, money, disputes, credit."""

    name = "anju-registry"

    def genesis(self, params: Mapping[str, Any], state: State) -> list[Event]:
        """Fix the housing authority (and any banks recognised from the start), and the chain's
        ``credit_chunk`` (see :mod:`anju.registry.credit`; absent: every entry stays in the record),
        and its ``rules`` edition (see :mod:`anju.registry.edition`; absent: edition 1)."""
        self.check_params(params)
        authority = str(params["authority"])
        banks = list(params.get("banks", []))
        meta: dict[str, Any] = {"authority": authority, "registrations": 0}
        for name in ("credit_chunk", "rules"):
            if name in params:
                meta[name] = params[name]
        state.put(layout.META, jcs.canonicalize(meta))
        events = [Event("party.registered", {"party": authority, "role": "authority"}, parties=(authority,))]
        for key, role in [(authority, "authority"), *((b, "bank") for b in banks)]:
            rec = party.new_party(key, role, None, None, None)
            rec.update(identity_attested=True, licensed=True)
            state.put(layout.party(key), jcs.canonicalize(rec))
            if role == "bank":
                events.append(Event("party.registered", {"party": key, "role": "bank"}, parties=(key,)))
        return events

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Refuse genesis parameters this build cannot run: unknown names, bad keys, a bad
        ``credit_chunk``, or a ``rules`` edition it does not implement (a ledger of a newer
        edition must not be run by older rules: its roots would differ)."""
        extra = set(params) - {"authority", "banks", "credit_chunk", "rules"}
        if extra:
            raise ValueError(f"unknown genesis parameter(s): {sorted(extra)}")
        authority = str(params.get("authority"))
        banks = list(params.get("banks", []))
        if not is_hex_key(authority) or not all(is_hex_key(b) for b in banks) or authority in banks:
            raise ValueError("genesis needs authority: <hex key> and banks: [<hex key>, ...] (distinct)")
        if "credit_chunk" in params:
            chunk = params["credit_chunk"]
            low, high = credit.CHUNK_LIMITS
            if type(chunk) is not int or not low <= chunk <= high:
                raise ValueError(f"credit_chunk must be an integer from {low} to {high}")
        if "rules" in params:
            edition.check_edition(params["rules"])

    def check_state(self, get: Callable[[str], bytes | None]) -> None:
        """Refuse a stored state whose rules edition (adopted after genesis with
        ``authority.adopt_rules``) this build does not implement: it would run other rules than the
        chain's and compute other roots."""
        raw = get(layout.META)
        if raw is not None:
            edition.check_edition(edition.edition_of(jcs.loads(raw)))

    def __init__(self) -> None:
        # Read-only records decoded by earlier transactions (Call.peek): a hit needs the very bytes
        # the state holds now, so it can never outlive a write or a rejected transaction's overlay.
        self._decoded: Decoded = {}

    def apply(self, tx: Tx, ctx: BlockContext, state: State) -> list[Event]:
        """Check ``tx`` against its kind's schema and rules, write its effects, return its events."""
        kind = tx.kind
        entry = _DISPATCH.get(kind)
        if entry is None:
            reject("UNKNOWN_KIND", f"no transaction kind {kind!r}", kind=kind)
        decoded = self._decoded
        if len(decoded) >= DECODED_LIMIT:
            decoded.clear()
        call = Call(tx=tx, block=ctx, state=state, decoded=decoded)
        check, handler, since = entry
        if since > 1 and call.edition() < since:  # a kind of a later edition: unknown to this chain's rules
            reject("UNKNOWN_KIND", f"no transaction kind {kind!r} in rules edition {call.edition()}", kind=kind)
        if kind != "party.register":
            signer = call.peek(layout.party(call.signer))
            if signer is None:
                reject("UNKNOWN_SIGNER", "the signer is not a registered party", signer=call.signer)
            if signer["status"] == "suspended":
                reject("PARTY_SUSPENDED", "the signer is suspended by the housing authority", signer=call.signer)
        if len(call.signers) > 1 and call.edition() >= 2:  # a suspended party may not co-sign either
            for key in sorted(call.signers - {call.signer}):
                cosigner = call.peek(layout.party(key))
                if cosigner is not None and cosigner["status"] == "suspended":
                    reject("PARTY_SUSPENDED", "a co-signer is suspended by the housing authority", party=key)
        if check.has_months or check.has_text:  # edition 1 read months in any digits; before 3, any text
            ed = call.edition()  # (from 9, no personal data in text)
            check(tx.body, legacy_months=ed < 2, legacy_text=ed < 3, personal=ed >= 9)
        else:
            check(tx.body)
        handler(call)
        return call.events
