"""Languages of the portal: gettext catalogues compiled by Babel (``locale/<lang>/LC_MESSAGES``).

The .po files are the source; the compiled .mo files are committed next to them (regenerate with
``scripts`` commands in ``src/anju/web/README.md``), so a fresh checkout serves both languages
without a build step. A test checks that every msgid has a Chinese translation and that the .mo
files match their .po files.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

# our short code -> (Babel/gettext locale directory, BCP 47 tag for <html lang>)
LANGS: dict[str, tuple[str, str]] = {"zh": ("zh_Hans", "zh-Hans"), "en": ("en", "en")}
DEFAULT_LANG = "zh"

Gettext = Callable[..., str]


@cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue of ``lang`` (a NullTranslations when it is missing)."""
    folder, _ = LANGS.get(lang, LANGS[DEFAULT_LANG])
    return Translations.load(str(LOCALE_DIR), [folder], DOMAIN)


def gettext_for(lang: str) -> Gettext:
    """A ``_(msgid, **values)`` for templates and views: translate, then %-interpolate."""
    tr = translations(lang)

    def _(msgid: str, /, **values: Any) -> str:
        text = tr.gettext(msgid)
        return text % values if values else text

    return _


def pick_lang(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language to answer in: explicit choice, then the cookie, then the browser's preference."""
    for choice in (query, cookie):
        if choice in LANGS:
            return str(choice)
    if accept_language:
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LANG


def N_(msgid: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return msgid
