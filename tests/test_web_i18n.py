"""The message catalogues: both locales complete, every key used exists, and templates carry
no text of their own (everything a user reads comes from a catalogue)."""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path

import pytest

from console.web import i18n

WEB = Path(i18n.__file__).parent
TEMPLATES = WEB / "templates"
KEY_USE = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Keys built at run time from a prefix, e.g. t("role." ~ viewer.role.value): every value of
# the enum must have its key.
DYNAMIC_PREFIXES = {
    "role.": ["admin", "department", "oncall", "manager"],
    "sla.status.": ["met", "credit", "below_target_no_tier", "no_data"],
    "dashboard.kind.": ["place", "rebalance"],
}


def test_locales_have_the_same_keys_and_placeholders() -> None:
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    assert set(zh) == set(en), sorted(set(zh) ^ set(en))
    for key in zh:
        assert set(PLACEHOLDER.findall(zh[key])) == set(PLACEHOLDER.findall(en[key])), key
        assert zh[key].strip() and en[key].strip(), key


def test_every_key_used_exists() -> None:
    known = set(i18n.catalogue("zh-CN"))
    sources = [*TEMPLATES.rglob("*.html"), *WEB.glob("*.py")]
    used = {key for path in sources for key in KEY_USE.findall(path.read_text(encoding="utf-8"))}
    assert used, "no t(...) calls found: the pattern is wrong"
    prefixes = {key for key in used if key.endswith(".")}
    assert sorted(prefixes - set(DYNAMIC_PREFIXES)) == [], "a dynamic key needs its values listed"
    assert sorted(used - prefixes - known) == []
    for prefix, values in DYNAMIC_PREFIXES.items():
        assert sorted(f"{prefix}{v}" for v in values if f"{prefix}{v}" not in known) == []


def _visible_text(template: str) -> str:
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", template, flags=re.S)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    return re.sub(r"&[a-z]+;|&#\d+;", " ", text)


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_carry_no_text_of_their_own(path: Path) -> None:
    text = _visible_text(path.read_text(encoding="utf-8"))
    letters = [c for c in text if unicodedata.category(c).startswith("L")]
    assert not letters, f"{path.name}: hard-coded text: {''.join(letters)[:80]!r}"


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_template_attributes_meant_for_people_are_translated(path: Path) -> None:
    """aria-label, title, placeholder and alt are read by people too."""
    source = path.read_text(encoding="utf-8")
    for attr, value in re.findall(r'\b(aria-label|title|placeholder|alt)="([^"]*)"', source):
        bare = re.sub(r"\{\{.*?\}\}", "", value)
        assert not any(c not in string.punctuation + " " for c in bare), (
            f"{path.name}: {attr}={value!r} is not from a catalogue"
        )
