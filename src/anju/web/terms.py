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
    N_("open"),
    N_("resolved"),
    N_("confirmed"),
    N_("dismissed"),
    N_("upheld"),
    N_("rejected"),
    N_("settled"),
    N_("suspended"),
)
REASONS = (N_("mandate_ended"), N_("mandate_revoked"), N_("code_expired"), N_("leased"), N_("fake"))
DEPOSIT = (N_("none"), N_("lodged"), N_("held"), N_("returned"), N_("accepted"), N_("disputed"))
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
