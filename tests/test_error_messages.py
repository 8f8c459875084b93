"""Domain error texts (inventory.messages): both locales complete, every key raised exists
with exactly the parameters its text uses, the API says English plus a code, and console
pages say it in the reader's language."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from console.web.i18n import Translator
from inventory import messages
from inventory.errors import Conflict, DomainError, Invalid

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("adapters", "alerts", "console", "inventory", "scheduler", "sla")
CJK = re.compile(r"[\u4e00-\u9fff]")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_locales_have_every_key_with_the_same_placeholders() -> None:
    en, zh = messages.catalogue("en"), messages.catalogue("zh-CN")
    assert en and set(en) == set(zh), sorted(set(en) ^ set(zh))
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key
        assert CJK.search(zh[key]), f"{key}: not translated"


def keyed_raises() -> list[tuple[str, str, set[str]]]:
    """(where, key, keyword names but field) of every `X.of("key", ...)` in the code."""
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "of"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in {"Invalid", "Conflict", "NotFound", "Forbidden"}
                ):
                    first = node.args[0]
                    assert isinstance(first, ast.Constant), f"{path}:{node.lineno}: key not literal"
                    names = {k.arg for k in node.keywords if k.arg and k.arg != "field"}
                    found.append((f"{path.name}:{node.lineno}", str(first.value), names))
    return found


def test_every_key_raised_exists_with_the_parameters_its_text_uses() -> None:
    raised = keyed_raises()
    assert len(raised) >= 40, "the AST walk found too few: the pattern is wrong"
    en = messages.catalogue("en")
    for where, key, names in raised:
        assert key in en, f"{where}: no text for {key}"
        assert names == placeholders(en[key]), f"{where}: {key} takes {placeholders(en[key])}"
    unused = set(en) - {key for _, key, _ in raised}
    assert not unused, f"texts no code raises: {sorted(unused)}"


def test_a_keyed_error_speaks_each_locale_and_falls_back_to_english() -> None:
    exc = Invalid.of("note.too_long", field="text", limit=4000)
    assert exc.message == "a note is at most 4000 characters" and exc.field == "text"
    assert Translator("zh-CN").error(exc) == "备注最多 4000 个字符"
    assert Translator("en").error(exc) == exc.message
    # No key, or a key whose text does not fit: the English message, never an exception.
    assert Translator("zh-CN").error(Conflict("plain words")) == "plain words"
    broken = DomainError("fallback", key="note.too_long", params={"wrong": 1})
    assert Translator("zh-CN").error(broken) == "fallback"
