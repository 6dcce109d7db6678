"""Personal data in text the ledger keeps in clear: the portal refuses it before anything is signed.

A unit's district, street and neighbourhood, a listing's description and a deposit deduction's
reason go on the ledger as typed: public, replicated to every member and never erasable. The
founders' rule is that personal data never does (docs/ARCHITECTURE.md, "Privacy"), and the
ledger's rules cannot tell it apart from other words, so the portal looks for what plainly is:
a phone number, an identity-card number or any other long number, an e-mail address, a messaging
account, a person named as 王先生 / 李女士, and a building, door or room number (those belong only
inside the address commitment). This is a courtesy check of the portal, not a rule of the ledger:
it catches the common case, it cannot prove a text free of personal data.
"""

from __future__ import annotations

import re
import unicodedata

# Digits a number may be broken by as people write phone numbers: 138 1234 5678, 138-1234-5678.
_SEP = r"[\s\-.]?"
_PERSONAL = re.compile(
    "|".join(
        (
            rf"(?<!\d)(?:\+?86{_SEP})?1[3-9]\d(?:{_SEP}\d){{8}}(?!\d)",  # a mainland mobile number
            r"(?<!\d)\(?0\d{2,3}\)?[\s\-]\d{7,8}(?!\d)",  # a landline with its area code: 021-6438 1234
            r"\d{8,}",  # any long number: a landline, an identity card, an account
            r"\d{17}[xX]",  # an identity card number ending in X
            r"[\w.+\-]+@[\w\-]+\.[\w.\-]+",  # an e-mail address
            r"(?i:微信|weixin|wechat|vx|qq)\s*号?\s*[:：]?\s*[a-z0-9_\-]{5,}",  # a messaging account
            r"[\u4e00-\u9fff]{1,2}(?:先生|女士|小姐)",  # a person by surname: 王先生, 李女士
            r"\d+\s*(?:号楼|栋|幢|单元)",  # a building
            r"\d{3,}\s*室",  # a room (302室; "2室1厅" is a layout and passes)
            r"(?:路|街|道|弄|巷|里|坊|村|区|苑|园)\s*\d+\s*(?:弄|号)(?!线)",  # a door number: 衡山路88号, 123弄
            r"(?i:\b(?:room|rm|apt|apartment|flat|suite|building|bldg|block)\.?\s*#?\s*\d+)",  # Room 1201
            r"#\s*\d{3,}",  # #1201
        )
    )
)
# In a place's own fields (district, street, neighbourhood) any number before 号 is a door number.
_DOOR = re.compile(r"\d+\s*号(?!线)")


def personal_data(text: str, *, place: bool = False) -> str | None:
    """The first stretch of ``text`` that looks like personal data, or None. ``place``: the text
    names a location (a door number of any form counts). Full-width digits and letters count as
    their ASCII forms (Unicode NFKC)."""
    plain = unicodedata.normalize("NFKC", text)
    found = _PERSONAL.search(plain) or (_DOOR.search(plain) if place else None)
    return found.group() if found is not None else None
