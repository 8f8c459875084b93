"""ECharts options for the reports page, built from the same AssessmentDocument the PDF and
printable HTML draw (sla.charts draws those with reportlab; these are the interactive
equivalents). No data is a gap (None -> "-"), never 0; a chart with nothing to show is None
and the page says "no data" instead of drawing an empty frame."""

from __future__ import annotations

import math
from typing import Any

from console.web.charts import PALETTE
from console.web.i18n import Translator
from sla.document import AssessmentDocument

TARGET_COLOUR = "#c62828"
Option = dict[str, Any]


def _pct(value: float | None, digits: int = 3) -> float | str:
    return "-" if value is None else round(value * 100, digits)


def _value(value: float | None) -> float | str:
    return "-" if value is None else value


def scope_name(kind: str, name: str, t: Translator) -> str:
    kinds = {"vendor": t("reports.scope.vendor"), "department": t("reports.scope.department")}
    return f"{kinds.get(kind, kind)} {name}"


def score_chart(doc: AssessmentDocument, t: Translator) -> Option | None:
    """Each scope's score this month beside the month before (horizontal bars)."""
    scopes = doc.report.scopes
    if not scopes:
        return None
    labels = [scope_name(s.kind, s.name, t) for s in scopes]
    this, before = doc.report.month, doc.report.previous_month
    return {
        "color": [PALETTE[0], "#9aa5b1"],
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [this, before], "top": 0},
        "grid": {"left": 150, "right": 24, "top": 36, "bottom": 24},
        "xAxis": {"type": "value", "min": 0, "max": 100},
        "yAxis": {"type": "category", "data": labels, "inverse": True},
        "series": [
            {"name": this, "type": "bar", "data": [_value(s.score) for s in scopes]},
            {"name": before, "type": "bar", "data": [_value(s.previous_score) for s in scopes]},
        ],
    }


def availability_chart(doc: AssessmentDocument, t: Translator) -> Option | None:
    """Measured availability per contracted vendor (bars) and its target (red marks); the
    axis starts a little below the lowest figure so a 0.05 % miss is visible."""
    rows = doc.settlement.vendors
    if not rows:
        return None
    lowest = min(
        [r.measured for r in rows if r.measured is not None] + [r.sla_target for r in rows]
    )
    step = 0.1 if lowest >= 0.99 else 1.0 if lowest >= 0.9 else 10.0
    floor = max(0.0, math.floor((lowest * 100 - step / 2) / step) * step)
    return {
        "color": [PALETTE[0], TARGET_COLOUR],
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [t("reports.chart.measured"), t("reports.chart.target")], "top": 0},
        "grid": {"left": 64, "right": 16, "top": 40, "bottom": 48},
        "xAxis": {
            "type": "category",
            "data": [r.vendor for r in rows],
            # every vendor named, long names wrapped rather than skipped
            "axisLabel": {"interval": 0, "width": 110, "overflow": "break"},
        },
        "yAxis": {
            "type": "value",
            "min": round(floor, 2),
            "max": 100,
            "axisLabel": {"formatter": "{value}%"},
        },
        "series": [
            {
                "name": t("reports.chart.measured"),
                "type": "bar",
                "data": [_pct(r.measured) for r in rows],
            },
            {
                "name": t("reports.chart.target"),
                "type": "scatter",
                "symbol": "rect",
                "symbolSize": [48, 3],
                "data": [_pct(r.sla_target) for r in rows],
            },
        ],
    }


def trend_chart(doc: AssessmentDocument, metric: str, t: Translator) -> Option | None:
    """MTTA or MTTR in minutes per vendor over the trend months; a month without data is a
    gap in the line."""
    series = [(v.vendor, v.mtta_minutes if metric == "mtta" else v.mttr_minutes) for v in doc.trend]
    if not any(m is not None for _, values in series for m in values):
        return None
    return {
        "color": PALETTE,
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [name for name, _ in series], "top": 0, "type": "scroll"},
        "grid": {"left": 56, "right": 16, "top": 64, "bottom": 32},
        "xAxis": {"type": "category", "data": doc.trend_months},
        "yAxis": {"type": "value", "name": t("reports.chart.minutes")},
        "series": [
            {
                "name": name,
                "type": "line",
                "connectNulls": False,
                "data": [_value(v) for v in values],
            }
            for name, values in series
        ],
    }


def utilisation_chart(doc: AssessmentDocument, t: Translator) -> Option | None:
    """Utilisation (allocated over capacity) per scope that has the figure."""
    found = [
        (scope_name(s.kind, s.name, t), k.value)
        for s in doc.report.scopes
        for k in s.kpis
        if k.name == "utilisation" and k.value is not None
    ]
    if not found:
        return None
    return {
        "color": PALETTE,
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 56, "right": 16, "top": 24, "bottom": 110},
        "xAxis": {
            "type": "category",
            "data": [n for n, _ in found],
            "axisLabel": {"rotate": 30},
        },
        "yAxis": {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {
                "name": t("reports.kpi.utilisation"),
                "type": "bar",
                "data": [_pct(v, 1) for _, v in found],
            },
        ],
    }


def report_charts(doc: AssessmentDocument, t: Translator) -> dict[str, Option | None]:
    return {
        "scores": score_chart(doc, t),
        "availability": availability_chart(doc, t),
        "mtta": trend_chart(doc, "mtta", t),
        "mttr": trend_chart(doc, "mttr", t),
        "utilisation": utilisation_chart(doc, t),
    }
