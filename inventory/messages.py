"""Texts of domain errors by key, in each locale the console speaks.

An error raised with `Invalid.of("quota.over", ...)` carries its key and parameters: the API
answers with the English text (and the key, as `code`, for programs), a console page with
the text in its reader's language. Errors without a key keep their English message in both.
The catalogues are locales/<locale>/errors.json; tests/test_error_messages.py checks that
both locales have every key with the same placeholders, and every key raised exists with
exactly the parameters its text uses. Keys "status.<value>" are not errors: they say a plan's
or request's status, passed as the parameter `status`, in the locale.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locales"
ENGLISH = "en"
log = logging.getLogger(__name__)


@cache
def catalogue(locale: str) -> dict[str, str]:
    path = LOCALE_DIR / locale / "errors.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def text(locale: str, key: str, params: Mapping[str, object]) -> str | None:
    """The text for `key` in `locale` with `params` filled in; None if there is none."""
    texts = catalogue(locale)
    template = texts.get(key)
    if template is None:
        return None
    # A plan's or request's status is a word too: "status.<value>" says it in the locale.
    said = {k: texts.get(f"status.{v}", v) if k == "status" else v for k, v in params.items()}
    try:
        return template.format(**said)
    except (KeyError, IndexError, ValueError):  # a bug caught by the tests; never a 500
        log.error("error text %s in %s does not fit its parameters %s", key, locale, params)
        return None
