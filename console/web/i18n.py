"""Message catalogues for the web console: zh-CN first, English by a switch.

Every user-facing string on a page comes from locales/<locale>/*.json by key (one file per
page group, so pages can be worked on apart; a key may live in only one file); templates call
`t("nav.alerts")` and never carry text of their own (tests/test_web_i18n.py checks both the
catalogues and the templates). Keys are dotted by page. A missing key is a bug caught in tests,
but at run time it shows the key itself rather than failing the page.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from inventory.errors import DomainError

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
LANG_COOKIE = "yh_lang"
CATALOGUE_DIR = Path(__file__).parent / "locales"


@cache
def catalogue(locale: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted((CATALOGUE_DIR / locale).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected an object of key: text")
        clash = sorted(set(data) & set(texts))
        if clash:
            raise ValueError(f"{path}: keys already defined elsewhere: {clash[:5]}")
        texts.update({str(k): str(v) for k, v in data.items()})
    return texts


def pick_locale(cookie: str | None) -> str:
    """zh-CN unless the user chose otherwise with the switch (a cookie). The browser's
    Accept-Language is ignored on purpose: duty-room machines are often set up in English,
    and the issue asks for Chinese by default."""
    return cookie if cookie in LOCALES else DEFAULT_LOCALE


class Translator:
    """`t(key, **params)`: the text for `key` in this locale, formatted with `params`."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else DEFAULT_LOCALE
        self._texts = catalogue(self.locale)

    def __call__(self, key: str, **params: object) -> str:
        text = self._texts.get(key, key)
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self._texts

    def error(self, exc: DomainError) -> str:
        """A domain error's message in this locale (inventory.messages), else in English."""
        return exc.text(self.locale)
