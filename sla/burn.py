"""Multi-window, multi-burn-rate alerting rules (Google SRE workbook, "Alerting on SLOs").

Each window pair fires when the burn rate is above its factor over both the long window
(the budget really is going) and the short one (it is still going now, so the alert clears
soon after the problem does). The factors are the workbook's for a 30-day SLO:

    14.4 over 1h and 5m   -> 2 % of the budget in an hour         page   (P1)
    6    over 6h and 30m  -> 5 % of the budget in six hours       page   (P2)
    3    over 1d and 2h   -> 10 % of the budget in a day          ticket (P3)
    1    over 3d and 6h   -> 10 % of the budget in three days     ticket (P4)

For SLO windows other than 30 days the factors scale with the window (same share of budget
in the same long window). The `severity` label is P1..P4, which the alerting loop's
`severity_of` maps directly; `page` says whether a person is woken.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sla.slo import Slo, error_budget

WORKBOOK_DAYS = 30


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    factor: float  # burn rate for a 30-day SLO window
    severity: str
    page: bool


WORKBOOK_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("1h", "5m", 14.4, "P1", True),
    BurnWindow("6h", "30m", 6.0, "P2", True),
    BurnWindow("1d", "2h", 3.0, "P3", False),
    BurnWindow("3d", "6h", 1.0, "P4", False),
)


def scaled_factor(window: BurnWindow, slo_days: int) -> float:
    """The factor for an SLO over `slo_days`: the same share of budget in the long window."""
    return window.factor * slo_days / WORKBOOK_DAYS


def _fmt(number: float) -> str:
    return f"{number:.10g}"


def burn_expr(slo: Slo, window: str) -> str:
    """The burn rate of `slo` over `window`: error ratio / error budget."""
    return f"(1 - avg(avg_over_time({slo.sli}[{window}]))) / {_fmt(error_budget(slo.target))}"


def alert_rule(slo: Slo, window: BurnWindow) -> dict[str, Any]:
    factor = _fmt(scaled_factor(window, slo.days))
    expr = (
        f"{burn_expr(slo, window.long)} > {factor}\nand\n{burn_expr(slo, window.short)} > {factor}"
    )
    kind = "page" if window.page else "ticket"
    return {
        "alert": "SloErrorBudgetBurn",
        "expr": expr,
        "labels": {
            "severity": window.severity,
            "notify": kind,
            "slo": slo.name,
            "scope": slo.scope.value,
            "subject": slo.subject,
            "long_window": window.long,
            "short_window": window.short,
        },
        "annotations": {
            "summary": (
                f"{slo.scope.value} {slo.subject}: error budget of {slo.name} burning "
                f"faster than {factor}x over {window.long} and {window.short}"
            ),
            "description": (
                f"Burn rate over {window.long} is {{{{ $value }}}} (target "
                f"{_fmt(slo.target * 100)} % over {slo.days} days); at {factor}x the "
                f"{slo.days}-day budget lasts {_fmt(slo.days * 24 / float(factor))} hours."
            ),
        },
    }


def rule_groups(
    slos: Iterable[Slo], windows: Sequence[BurnWindow] = WORKBOOK_WINDOWS
) -> dict[str, Any]:
    """A Prometheus rule file (as data): one group per SLO, one alert per window pair."""
    groups: list[dict[str, Any]] = []
    seen: set[str] = set()
    for slo in slos:
        name = f"slo-burn:{slo.scope.value}:{slo.subject}:{slo.name}"
        if name in seen:
            raise ValueError(f"slo: {slo.name!r} for {slo.scope.value} {slo.subject} is repeated")
        seen.add(name)
        groups.append({"name": name, "rules": [alert_rule(slo, w) for w in windows]})
    return {"groups": groups}


def rules_yaml(slos: Iterable[Slo], windows: Sequence[BurnWindow] = WORKBOOK_WINDOWS) -> str:
    return yaml.safe_dump(
        rule_groups(slos, windows), allow_unicode=True, sort_keys=False, width=100
    )


def write_rules(
    path: Path, slos: Iterable[Slo], windows: Sequence[BurnWindow] = WORKBOOK_WINDOWS
) -> int:
    """Write the rule file (whole, then renamed into place); returns the number of alerts."""
    data = rules_yaml(slos, windows)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(data, encoding="utf-8")
    tmp.replace(path)
    return sum(len(g["rules"]) for g in yaml.safe_load(data)["groups"])


def load_slos(path: Path) -> list[Slo]:
    """SLO definitions from YAML: `slos: [{name, scope, subject, target | tier, sli, ...}]`,
    with optional `tiers: {gold: 0.9995, ...}` overriding the defaults."""
    from sla.slo import SloTiers

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("slos"), list):
        raise ValueError(f"{path}: expected a mapping with a 'slos' list")
    tiers = SloTiers.model_validate({"tiers": raw["tiers"]}) if "tiers" in raw else SloTiers()
    slos: list[Slo] = []
    for i, item in enumerate(raw["slos"], start=1):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: slos[{i}]: expected a mapping")
        fields = dict(item)
        tier = fields.pop("tier", None)
        try:
            if tier is not None:
                slos.append(Slo.from_tier(tiers, str(tier), **fields))
            else:
                slos.append(Slo.model_validate(fields))
        except ValueError as exc:
            raise ValueError(f"{path}: slos[{i}]: {exc}") from None
    return slos
