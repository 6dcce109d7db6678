"""Words the ledger stores as values (roles, states, reasons, factors) marked for translation.

Templates show them through ``_(value)``; listing them here lets Babel extract them, and the
catalogue test then makes sure each has a Chinese translation.
"""

from __future__ import annotations

from anju.web.i18n import N_

ROLES = (N_("tenant"), N_("landlord"), N_("agency"), N_("agent"), N_("bank"), N_("authority"))
STATES = (
    N_("live"),
    N_("expired"),
    N_("withdrawn"),
    N_("revoked"),
    N_("active"),
    N_("upcoming"),
    N_("current"),
    N_("ended"),
    N_("terminated"),
    N_("pending"),
    N_("signed"),
    N_("declined"),
    N_("refused"),
    N_("stale"),
    N_("replaced"),
    N_("open"),
    N_("resolved"),
    N_("confirmed"),
    N_("dismissed"),
    N_("upheld"),
    N_("rejected"),
    N_("settled"),
    N_("suspended"),
)
REASONS = (
    N_("mandate_ended"),
    N_("mandate_revoked"),
    N_("code_expired"),
    N_("leased"),
    N_("fake"),
    N_("party_suspended"),
    N_("licence_revoked"),
)
# How a lease ended early (its record's termination.mode), and the badge of a lease whose end is set.
TERMINATION = (N_("mutual"), N_("notice"), N_("parent_ended"), N_("ending"))
DEPOSIT = (N_("none"), N_("lodged"), N_("held"), N_("returned"), N_("accepted"), N_("disputed"), N_("decided"))
PAYMENTS = (N_("rent"), N_("deposit"))
SUBJECTS = (N_("condition"), N_("termination"), N_("other"))
FACTORS = (
    N_("leases_registered"),
    N_("rent_on_time"),
    N_("rent_late"),
    N_("deposit_settled"),
    N_("disputes_lost"),
    N_("fake_listings"),
    N_("reviews"),
    N_("suspensions"),
)
FACTOR_TEXTS = (
    N_("a lease the party is a side of was registered (备案) by the authority"),
    N_("a rent payment confirmed by the collector, paid on or before its due day (tenant)"),
    N_("a rent payment confirmed by the collector, paid after its due day (tenant)"),
    N_("the tenant accepted the collector's deposit settlement (collector)"),
    N_("a dispute resolved against the party: -30 as respondent when upheld, -10 as opener when rejected"),
    N_("a listing the party published was confirmed fake by the authority"),
    N_("a review received: (rating - 3) x 4 points"),
    N_("the authority suspended the party"),
)

# Event kinds, for the live notifications on "My page" (the owner is told of anything touching their unit).
EVENTS: dict[str, str] = {
    "agent.appointed": N_("An agent was appointed"),
    "agent.dismissed": N_("An agent was dismissed"),
    "credit.changed": N_("A credit record changed"),
    "deposit.accepted": N_("A deposit settlement was accepted"),
    "deposit.decided": N_("A contested deposit was decided"),
    "deposit.recorded": N_("A deposit payment was recorded"),
    "deposit.returned": N_("A deposit was settled"),
    "dispute.opened": N_("A dispute was opened"),
    "dispute.resolved": N_("A dispute was decided"),
    "escrow.attested": N_("A bank attested a supervised account"),
    "lease.registered": N_("A lease was registered"),
    "lease.signed": N_("A lease was signed"),
    "lease.terminated": N_("A lease was terminated"),
    "listing.published": N_("A listing was published"),
    "listing.renewed": N_("A listing code was renewed"),
    "listing.withdrawn": N_("A listing was withdrawn"),
    "mandate.granted": N_("A mandate was granted"),
    "mandate.revoked": N_("A mandate was revoked"),
    "party.identity_attested": N_("An identity was attested"),
    "party.licensed": N_("A licence was granted"),
    "party.registered": N_("A party registered"),
    "party.reinstated": N_("A party was reinstated"),
    "party.suspended": N_("A party was suspended"),
    "payment.confirmed": N_("A payment was confirmed"),
    "rent.recorded": N_("A rent payment was recorded"),
    "report.filed": N_("A listing was reported as fake"),
    "report.resolved": N_("A fake-listing report was decided"),
    "review.written": N_("A review was written"),
    "rules.adopted": N_("The chain adopted a newer rules edition"),
    "sublease.signed": N_("A sublease was signed"),
    "title.attested": N_("A title was attested"),
    "unit.registered": N_("A unit was registered"),
}
