"""The catalogues are complete: every msgid in the code has a Chinese translation, and the .mo files are current."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from anju.web.i18n import LANGS, LOCALE_DIR, gettext_for, pick_lang
from anju.web.refusals import MESSAGES

WEB = Path(LOCALE_DIR).parent
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]


def _catalog(lang: str, ext: str = "po") -> dict[str, str]:
    path = LOCALE_DIR / LANGS[lang][0] / "LC_MESSAGES" / f"messages.{ext}"
    data = path.read_bytes()
    cat = read_po(io.BytesIO(data)) if ext == "po" else read_mo(io.BytesIO(data))
    return {str(m.id): str(m.string) for m in cat if m.id}


def _extracted() -> set[str]:
    found = extract_from_dir(str(WEB), METHODS, keywords={"_": None, "N_": None})
    return {str(msg) for _file, _line, msg, _comments, _ctx in found if isinstance(msg, str)}


def test_every_msgid_has_a_chinese_translation() -> None:
    zh = _catalog("zh")
    assert zh, "empty zh catalogue"
    missing = sorted(k for k, v in zh.items() if not v.strip())
    assert missing == []


def test_catalogues_cover_every_string_in_the_code() -> None:
    zh, en = _catalog("zh"), _catalog("en")
    code = _extracted()
    assert code - set(zh) == set(), "run pybabel extract and translate the new strings"
    assert code - set(en) == set()


def test_compiled_catalogues_match_their_sources() -> None:
    for lang in LANGS:
        assert _catalog(lang, "mo") == _catalog(lang, "po"), f"recompile locale/{LANGS[lang][0]}"


def test_placeholders_survive_translation() -> None:
    import re

    for msgid, text in _catalog("zh").items():
        assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(re.findall(r"%\(\w+\)s", text)), msgid


def test_every_refusal_reads_as_a_sentence_in_both_languages() -> None:
    for lang in LANGS:
        _ = gettext_for(lang)
        for code, (msgid, _field) in MESSAGES.items():
            text = _(msgid)
            assert text and code not in text
    assert gettext_for("zh")(MESSAGES["LEASE_OVERLAP"][0]).startswith("已拒绝")


def test_language_choice() -> None:
    assert pick_lang("en", "zh", None) == "en"
    assert pick_lang(None, "en", "zh-CN") == "en"
    assert pick_lang(None, None, "en-US,en;q=0.9") == "en"
    assert pick_lang(None, None, None) == "zh"
