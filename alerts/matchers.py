"""Label matchers as Alertmanager has them: `=`, `!=`, `=~`, `!~`, regexes fully anchored.

Silences, maintenance windows, inhibition rules and routes all select alerts this way, so an
operator who knows Alertmanager writes the same thing here. A label that is absent matches
as the empty string, as in Alertmanager (`team=""` selects alerts without a team).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from inventory.errors import Invalid

Op = Literal["=", "!=", "=~", "!~"]
MatcherInput = dict[str, Any] | str  # as the API takes them
OPS: tuple[Op, ...] = ("=~", "!~", "!=", "=")  # longest first, for parsing
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# name, operator, then a double-quoted value (with \" and \\ escapes) or a bare one.
_TEXT = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"""
    r"""(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^"\s,{}][^,{}]*?|))\s*$"""
)
MAX_VALUE = 1000


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def make(name: str, op: str, value: str, *, where: str = "matchers") -> Matcher:
    """One matcher, checked: a bad name, operator or regex is an Invalid naming `where`."""
    if not isinstance(name, str) or not LABEL_NAME.match(name):
        raise Invalid.of("matcher.name", field=f"{where}.name", name=name)
    if op not in OPS:
        raise Invalid.of("matcher.op", field=f"{where}.op", op=op)
    if not isinstance(value, str):
        raise Invalid.of("matcher.value_type", field=f"{where}.value")
    if len(value) > MAX_VALUE:
        raise Invalid.of("matcher.value_long", field=f"{where}.value", limit=MAX_VALUE)
    regex = None
    if op in ("=~", "!~"):
        try:
            # fullmatch anchors both ends, as Alertmanager does with ^(?:...)$.
            regex = re.compile(value)
        except re.error as exc:
            raise Invalid.of(
                "matcher.regex", field=f"{where}.value", value=value, why=str(exc)
            ) from None
    return Matcher(name=name, op=op, value=value, _regex=regex)


def parse_one(item: Mapping[str, object] | str, *, where: str = "matchers") -> Matcher:
    if isinstance(item, str):
        return _parse_text(item, where)
    if not isinstance(item, Mapping):
        raise Invalid.of("matcher.shape", field=where)
    name, value = item.get("name"), item.get("value")
    if "isRegex" in item or "isEqual" in item:
        # Alertmanager's API shape: {"name", "value", "isRegex", "isEqual"}.
        regex, equal = bool(item.get("isRegex")), item.get("isEqual", True) is not False
        op: object = {
            (False, True): "=",
            (False, False): "!=",
            (True, True): "=~",
            (True, False): "!~",
        }[(regex, equal)]
    else:
        op = item.get("op", "=")
    if not isinstance(name, str):
        raise Invalid.of("matcher.name_required", field=f"{where}.name")
    if not isinstance(op, str):
        raise Invalid.of("matcher.op_required", field=f"{where}.op")
    if not isinstance(value, str):
        raise Invalid.of("matcher.value_required", field=f"{where}.value")
    return make(name, op, value, where=where)


def _parse_text(text: str, where: str) -> Matcher:
    found = _TEXT.match(text)
    if not found:
        raise Invalid.of("matcher.parse", field=where, text=text)
    quoted = found.group("quoted")
    if quoted is not None:
        value = re.sub(r"\\(.)", r"\1", quoted)
    else:
        value = (found.group("bare") or "").strip()
    return make(found.group("name"), found.group("op"), value, where=where)


def parse_matchers(
    items: Sequence[Mapping[str, object]] | Sequence[str] | Sequence[Mapping[str, object] | str],
    *,
    where: str = "matchers",
) -> list[Matcher]:
    """Dicts ({"name", "value", "op"} or Alertmanager's isRegex/isEqual) or text
    (`severity=~"P1|P2"`, `alertname=HostDown`), or one text `{a="b", c!="d"}`."""
    if isinstance(items, str):
        raise Invalid.of("matcher.list", field=where)
    parsed: list[Matcher] = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if isinstance(item, str) and item.strip().startswith("{"):
            parsed.extend(_parse_text(part, at) for part in _split_braced(item, at))
        else:
            parsed.append(parse_one(item, where=at))
    return parsed


def _split_braced(text: str, where: str) -> list[str]:
    """`{a="x,y", b=~"z"}` -> ['a="x,y"', 'b=~"z"']: commas inside quotes are kept."""
    body = text.strip()
    if not body.endswith("}"):
        raise Invalid.of("matcher.unclosed", field=where, text=text)
    body = body[1:-1]
    parts, current, quoted, escaped = [], "", False, False
    for char in body:
        if escaped:
            current, escaped = current + char, False
            continue
        if char == "\\":
            current, escaped = current + char, True
            continue
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def matches(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """All must match (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def dump(matchers: Iterable[Matcher]) -> list[dict[str, str]]:
    return [m.as_dict() for m in matchers]


def matches_empty_only(matchers: Sequence[Matcher]) -> bool:
    """True if every matcher also matches an alert without any labels: such a silence would
    silence everything, which Alertmanager refuses too."""
    return all(m.matches({}) for m in matchers)
