"""Standard Prometheus alerting-rule files: load, validate, and name every mistake.

The same file Prometheus loads (`groups:` of `rules:` with alert, expr, for,
keep_firing_for, labels, annotations) is loaded here, so an estate can move its rules from
Prometheus's own evaluator to Yunheng's, or run both. Like Prometheus, unknown fields are
errors (a typo such as `anotations` must not silently drop a page's text). Recording rules
are Prometheus's job: they are accepted and skipped, so one file serves both.

Errors name the place: `rules.yml: group "node": rule 2 (HostDown): for: bad duration "5 m"`.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts.templating import TemplateError, check

DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
UNITS = [365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001]
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
GROUP_KEYS = {"name", "interval", "limit", "rules", "query_offset"}
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


class RuleFileError(ValueError):
    """A rule file that cannot be used; the message names file, group, rule and field."""


@dataclass(frozen=True)
class Rule:
    name: str  # the alertname
    expr: str
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleGroup:
    name: str
    file: str  # where it came from, for messages and the source key
    rules: list[Rule]
    interval_seconds: float | None = None  # None: every loop interval
    limit: int = 0  # alerts one rule may produce; 0 is no limit (as in Prometheus)

    @property
    def source_key(self) -> str:
        """Stable across restarts: alerts absent from a complete round of this key resolve."""
        return f"rule:{Path(self.file).name}:{self.name}"


def parse_duration(text: Any, where: str) -> float:
    """Prometheus durations: `1h30m`, `5m`, `10s`, `500ms`, `0`."""
    if isinstance(text, int) and text == 0:
        return 0.0
    if not isinstance(text, str) or not text or (text != "0" and not DURATION.match(text)):
        raise RuleFileError(f"{where}: bad duration {text!r} (use e.g. 30s, 5m, 1h30m)")
    if text == "0":
        return 0.0
    match = DURATION.match(text)
    assert match is not None
    return float(sum(int(g) * unit for g, unit in zip(match.groups(), UNITS, strict=True) if g))


def _string_map(value: Any, where: str, *, templated: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RuleFileError(f"{where}: expected a mapping of names to strings")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not LABEL_NAME.match(key) or key.startswith("__"):
            raise RuleFileError(f"{where}: invalid name {key!r}")
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise RuleFileError(f"{where}.{key}: expected a string")
        text = str(item)
        if templated:
            try:
                check(text)
            except TemplateError as exc:
                raise RuleFileError(f"{where}.{key}: template: {exc}") from None
        result[key] = text
    return result


def _rule(raw: Any, where: str) -> Rule | None:
    if not isinstance(raw, Mapping):
        raise RuleFileError(f"{where}: expected a mapping")
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        raise RuleFileError(f"{where}: unknown field {', '.join(map(str, unknown))}")
    if "record" in raw and "alert" in raw:
        raise RuleFileError(f"{where}: only one of 'record' and 'alert' may be set")
    expr = raw.get("expr")
    if not isinstance(expr, str | int | float) or not str(expr).strip():
        raise RuleFileError(f"{where}: expr: must be a non-empty PromQL expression")
    if "record" in raw:
        return None  # a recording rule: Prometheus's job
    name = raw.get("alert")
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        raise RuleFileError(f"{where}: alert: {name!r} is not a valid alert name")
    where = f"{where} ({name})"
    labels = _string_map(raw.get("labels"), f"{where}: labels", templated=True)
    return Rule(
        name=name,
        expr=str(expr).strip(),
        for_seconds=parse_duration(raw.get("for", "0"), f"{where}: for"),
        keep_firing_for_seconds=parse_duration(
            raw.get("keep_firing_for", "0"), f"{where}: keep_firing_for"
        ),
        labels=labels,
        annotations=_string_map(raw.get("annotations"), f"{where}: annotations", templated=True),
    )


def parse_groups(data: Any, file: str) -> list[RuleGroup]:
    """Validate one parsed rule file. An empty file has no groups (as in Prometheus)."""
    if data is None:
        return []
    if not isinstance(data, Mapping) or set(data) - {"groups"}:
        raise RuleFileError(f"{file}: expected a mapping with only 'groups'")
    raw_groups = data.get("groups") or []
    if not isinstance(raw_groups, list):
        raise RuleFileError(f"{file}: groups: expected a list")
    groups: list[RuleGroup] = []
    seen: set[str] = set()
    for g, raw in enumerate(raw_groups, start=1):
        if not isinstance(raw, Mapping):
            raise RuleFileError(f"{file}: group {g}: expected a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RuleFileError(f"{file}: group {g}: name: required")
        where = f"{file}: group {name!r}"
        if name in seen:
            raise RuleFileError(f"{where}: repeated in the same file")
        seen.add(name)
        unknown = sorted(set(raw) - GROUP_KEYS)
        if unknown:
            raise RuleFileError(f"{where}: unknown field {', '.join(map(str, unknown))}")
        interval = None
        if raw.get("interval") is not None:
            interval = parse_duration(raw["interval"], f"{where}: interval")
            if interval <= 0:
                raise RuleFileError(f"{where}: interval: must be more than 0")
        limit = raw.get("limit", 0)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise RuleFileError(f"{where}: limit: must be a whole number, 0 or more")
        raw_rules = raw.get("rules") or []
        if not isinstance(raw_rules, list):
            raise RuleFileError(f"{where}: rules: expected a list")
        rules = [_rule(r, f"{where}: rule {i}") for i, r in enumerate(raw_rules, start=1)]
        groups.append(
            RuleGroup(
                name=name,
                file=file,
                rules=[r for r in rules if r is not None],
                interval_seconds=interval,
                limit=limit,
            )
        )
    return groups


def load_rule_file(path: str | Path) -> list[RuleGroup]:
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise RuleFileError(f"{name}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return parse_groups(data, name)


def rule_paths(spec: str) -> list[Path]:
    """YUNHENG_RULE_FILES: comma-separated files or globs (`deploy/rules/*.yml`)."""
    paths: list[Path] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if glob.has_magic(item):
            paths.extend(Path(p) for p in sorted(glob.glob(item)))
        else:
            paths.append(Path(item))
    return paths


def load_rule_files(paths: Iterable[str | Path]) -> list[RuleGroup]:
    """All groups of all files; two groups with the same source key are an error, since
    their rounds would resolve each other's alerts."""
    groups: list[RuleGroup] = []
    keys: dict[str, str] = {}
    for path in paths:
        for group in load_rule_file(path):
            if group.source_key in keys:
                raise RuleFileError(
                    f"{group.file}: group {group.name!r}: also in {keys[group.source_key]} "
                    "(group names must differ between files of the same name)"
                )
            keys[group.source_key] = group.file
            groups.append(group)
    return groups
