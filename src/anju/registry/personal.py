"""Personal data in the registry's clear-text fields: rules edition 9 refuses it.

A unit's district, street and neighbourhood, a listing's description, an agency's or bank's name
and a deposit deduction's reason go on the ledger as typed: public, replicated to every member and
never erasable. The founders' rule is that personal data never does (docs/ARCHITECTURE.md,
"Privacy"). From edition 9 the ledger itself refuses, in those fields, what plainly is personal
data (``PERSONAL_DATA``): a phone number, an identity-card number or any other long number, an
e-mail address, a messaging account, a person named as 王先生 / 李女士 (a surname before the title:
"仅限女士", "适合单身女士" name nobody), and a building, door or room number (those belong only inside
the address commitment; not a metro line, a gate or an exit: 1号线, 3号门, 2号口). It catches the
common case; it cannot prove a text free of personal data.

Determinism: a rule of the ledger must give the same answer on every build of every member, so
this module uses no Unicode database (no ``unicodedata``, no Unicode ``\\d``, ``\\s``, ``\\w`` or case
folding, which change with the Python build's Unicode version). :data:`PATTERN` is compiled with
``re.ASCII``, its Chinese characters are written out, and full-width ASCII (``１３８``, ``＠``, the
ideographic space) is read as ASCII through a fixed table (:data:`_FULL_WIDTH`), which is what
Unicode NFKC does to those characters. The portal (:mod:`anju.web.personal`) compiles the same
:data:`PATTERN` a second time in Unicode mode, after NFKC, and refuses what either finds, so a form
the portal lets through is never refused here for personal data.
"""

from __future__ import annotations

import re

from anju.registry.codes import reject

# Digits a number may be broken by as people write phone numbers: 138 1234 5678, 138-1234-5678.
_SEP = r"[\s\-.]?"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖萧田董袁潘蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛阎严段雷侯龙史陶黎贺顾毛郝龚邵万钱覃武"
    "戴孔汤庞樊兰殷施洪翟安颜倪牛温芦季俞章鲁葛伍申尤毕聂柴焦柳邢岳齐梅莫庄辛管祝左涂谷祁舒耿牟卜詹关"
    "苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍霍翁隋甘景薄单包司柏宁柯阮桂闵解强丛华车冉房边辜吉饶刁瞿"
    "戚丘米池滕晋苑邬臧畅宫苟褚廉简娄盖符奚穆党燕郎邸冀谈姬屠连郜晏栾郁蒙计喻揭窦迟敖糜鄢冷卓花仇艾蓝"
    "巩井练仲乐虞卞封竺冼楚佟栗匡宗巫鞠桑荆谌银沙伏岑胥蔺"
)
"""Common surnames a person is named by before 先生, 女士 or 小姐 (the character before the title
must be one: "仅限女士", "单身女士", "老先生", "一位女士" name nobody). Left out: surnames that are
also words before a title, 于 ("限于女士"), 和 ("男士和女士"), 位, 向, 原 ("原先生活"), 时, 来, 全, 都."""
_TITLED = (
    r"(?:欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|令狐|端木|南宫)"
    rf"(?:先生|女士|小姐)|[{SURNAMES}](?:先生|女士|小姐)(?!姐)"
)
# A number before 号 that is a metro line, a gate, an exit or a branch, not a door: 1号线, 3号门, 2号口,
# 4号出口, 2号店 (an agency's second shop).
_NOT_DOOR = r"(?!线|门|口|出口|入口|出入口|店)"
# English words a number after "room", "flat", "block"… counts or measures: "2 bedrooms", "5 minutes".
_MEASURE = r"(?!\d|\s*-?\s*(?:bed|bath|br\b|room|rm\b|min|hour|h\b|m\b|m2|sq|km|floor|fl\b|stor|year|yr|s\b|th\b|%))"
PATTERN = "|".join(
    (
        rf"(?<!\d)(?:\+?86{_SEP})?1{_SEP}[3-9](?:{_SEP}\d){{9}}(?!\d)",  # a mainland mobile number, 1 3 8 … too
        r"[〇零一二三四五六七八九壹贰叁肆伍陆柒捌玖]{7,}",  # a number in Chinese numerals: 一三八一二三四…
        r"(?<!\d)\(?0\d{2,3}\)?[\s\-]\d{3,4}[\s\-]?\d{4}(?!\d)",  # a landline with its area code: 021-6438 1234
        r"\d{8,}",  # any long number: a landline, an identity card, an account
        r"\d{17}[xX]",  # an identity card number ending in X
        r"[\w.+\-]+@[\w\-]+\.[\w.\-]+",  # an e-mail address
        # a messaging account: after a colon or 号/ID any; else one not a plain word ("WeChat payment")
        r"(?i:(?<![a-z])(?:微信|weixin|wechat|vx|wx|v信|威信|qq)\s*(?:号|id)?\s*(?:[:：]\s*[a-z0-9_\-]{5,}"
        r"|(?![a-z]+(?![a-z0-9_\-]))[a-z0-9_\-]{5,}))",
        _TITLED,  # a person by surname: 王先生, 李女士, 欧阳先生
        r"\b(?:Mr|Mrs|Ms|Miss)\.?\s+[A-Z][a-z]+",  # Mr Wang, Ms. Li
        r"\d+\s*(?:号楼|栋|幢|单元)",  # a building
        r"\d{3,}\s*室",  # a room (302室; "2室1厅" is a layout and passes)
        rf"(?:路|街|道|弄|巷|里|坊|村|区|苑|园)\s*\d+\s*(?:弄|号{_NOT_DOOR})",  # a door number: 衡山路88号, 123弄
        rf"(?i:\b(?:room|rm|apt|apartment|flat|suite|building|bldg|block)\.?\s*#?\s*\d+{_MEASURE})",  # Room 1201
        r"#\s*\d{3,}",  # #1201
    )
)
"""What looks like personal data, as a regular expression source: compiled here with ``re.ASCII``
(the ledger's rule) and by the portal in Unicode mode (its courtesy check, after NFKC)."""
DOOR_PATTERN = rf"\d+\s*号{_NOT_DOOR}"
"""In a place's own fields (district, street, neighbourhood) any number before 号 is a door number."""

_PERSONAL = re.compile(PATTERN, re.ASCII)
_DOOR = re.compile(DOOR_PATTERN, re.ASCII)
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}
"""Full-width ASCII (U+FF01..U+FF5E) and the ideographic space, read as ASCII: a fixed table, what
NFKC makes of these characters, so ``１３８ １２３４ ５６７８`` is a phone number here too."""

PLACES = frozenset({"district", "street", "neighbourhood"})
"""The fields that name a location: a door number of any form counts in them."""


def find(text: str, *, place: bool = False) -> re.Match[str] | None:
    """The first stretch of ``text`` that looks like personal data (see the module doc), or None.
    ``place``: the text names a location (any number before 号 counts)."""
    plain = text.translate(_FULL_WIDTH)
    return _PERSONAL.search(plain) or (_DOOR.search(plain) if place else None)


def check_personal(name: str, value: str) -> None:
    """Edition 9's rule for a clear-text field ``name``: ``PERSONAL_DATA`` if ``value`` looks like
    it holds personal data. The message names where, not what (the submitter has the text)."""
    found = find(value, place=name in PLACES)
    if found is not None:
        reject(
            "PERSONAL_DATA",
            f"{name} seems to hold personal data (characters {found.start()}..{found.end() - 1}): a phone, "
            "identity or account number, an e-mail or messaging account, a person's name, or a building, door "
            "or room number; the ledger keeps this text in clear, for ever",
            field=name,
            at=found.start(),
        )
