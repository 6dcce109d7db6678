"""Personal data in text the ledger keeps in clear: the portal refuses it before anything is signed.

A unit's district, street and neighbourhood, a listing's description and a deposit deduction's
reason go on the ledger as typed: public, replicated to every member and never erasable. The
founders' rule is that personal data never does (docs/ARCHITECTURE.md, "Privacy"), so the portal
looks for what plainly is:
a phone number, an identity-card number or any other long number, an e-mail address, a messaging
account, a person named as 王先生 / 李女士 (a surname before the title: "仅限女士", "适合单身女士"
name nobody), and a building, door or room number (those belong only inside the address
commitment; not a metro line, a gate or an exit: 1号线, 3号门, 2号口). From rules edition 9 the
ledger refuses the same (``PERSONAL_DATA``, :mod:`anju.registry.personal`, whose patterns these
are); the portal checks first, with Unicode's wider reading of digits and spaces, so that a person
hears it next to the field before anything is signed, on chains of older editions too. It catches
the common case; it cannot prove a text free of personal data.
"""

from __future__ import annotations

import re
import unicodedata

from anju.registry.personal import DOOR_PATTERN, PATTERN, find

# The ledger's patterns (rules edition 9, anju.registry.personal) in Unicode mode: \d also takes
# other scripts' digits, \s other spaces, \w other letters.
_PERSONAL = re.compile(PATTERN)
_DOOR = re.compile(DOOR_PATTERN)


def personal_data(text: str, *, place: bool = False) -> str | None:
    """The first stretch of ``text`` that looks like personal data, or None. ``place``: the text
    names a location (a door number of any form counts). Full-width digits and letters count as
    their ASCII forms (Unicode NFKC), and invisible characters (zero-width spaces) as nothing.
    Whatever the ledger's own rule finds (:func:`anju.registry.personal.find`) counts too, so the
    portal never signs a text the ledger refuses for personal data."""
    plain = "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf")
    found = _PERSONAL.search(plain) or (_DOOR.search(plain) if place else None) or find(text, place=place)
    return found.group() if found is not None else None
