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
from inventory.models import PlanStatus, RequestStatus

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
    unused = {key for key in en if not key.startswith("status.")} - {key for _, key, _ in raised}
    assert not unused, f"texts no code raises: {sorted(unused)}"


def test_every_plan_and_request_status_has_its_word() -> None:
    said = {
        key.removeprefix("status.")
        for key in messages.catalogue("zh-CN")
        if key.startswith("status.")
    }
    assert {s.value for s in (*PlanStatus, *RequestStatus)} <= said
    exc = Conflict.of("plan.not_proposed", plan=5, status=PlanStatus.approved.value)
    assert exc.message == "plan 5 is approved; only a proposed plan is decided"
    assert exc.text("zh-CN") == "方案 5 的状态是「已批准」，只有待审批的方案可以批准或驳回"


def test_a_keyed_error_speaks_each_locale_and_falls_back_to_english() -> None:
    exc = Invalid.of("note.too_long", field="text", limit=4000)
    assert exc.message == "a note is at most 4000 characters" and exc.field == "text"
    assert Translator("zh-CN").error(exc) == "备注最多 4000 个字符"
    assert Translator("en").error(exc) == exc.message
    # No key, or a key whose text does not fit: the English message, never an exception.
    assert Translator("zh-CN").error(Conflict("plain words")) == "plain words"
    broken = DomainError("fallback", key="note.too_long", params={"wrong": 1})
    assert Translator("zh-CN").error(broken) == "fallback"
