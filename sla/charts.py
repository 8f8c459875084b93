"""The assessment's charts as reportlab Drawings: vector in the PDF, inline SVG in the HTML.

Decisions:
- Drawn from plain shapes rather than reportlab's chart widgets, so "no data" is a labelled gap
  (never a zero bar or a line dropping to 0) and the availability axis can start near the
  target, where differences of a few hundredths of a percent are visible.
- Chinese labels use reportlab's built-in CID font STSong-Light: nothing to bundle, and every
  Chinese PDF reader has it. The HTML restyles SVG text with a local font stack.
- One function per chart kind; each returns None when it has nothing to show, so renderers
  leave the chart out rather than draw an empty frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

from sla.document import AssessmentDocument, kpi_label
from sla.report import Scope

FONT = "STSong-Light"
WIDTH = 500.0
LEFT, RIGHT, BOTTOM, TOP = 52.0, 12.0, 30.0, 28.0  # plot margins inside a drawing
PALETTE = [
    colors.HexColor(c)
    for c in ("#1f5fa8", "#d9822b", "#2e8b57", "#b03a48", "#6a4c93", "#8a6d3b", "#3a8fb7")
]
SCORES_PER_CHART = 24  # about 560 pt of bars: one A4 page with its heading
GRID = colors.HexColor("#d0d4da")
MUTED = colors.HexColor("#6b7280")
TARGET = colors.HexColor("#c0392b")


@cache
def register_fonts() -> str:
    """Registers the CID font once per process; returns its name."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


Anchor = Literal["start", "middle", "end"]


def _box(x: float, y: float, width: float, height: float, color: colors.Color) -> Rect:
    """A filled, unstroked rectangle (set after construction: the stubs mistype Rect's kwargs)."""
    box = Rect(x, y, width, height)
    box.fillColor, box.strokeColor = color, None
    return box


@dataclass
class Chart:
    kind: str  # availability, mtta_trend, mttr_trend, utilisation, scores
    title_zh: str
    title_en: str
    note: str  # how to read it, shown under the chart
    drawing: Drawing


def _text(x: float, y: float, text: str, size: float = 8, anchor: Anchor = "start") -> String:
    return String(x, y, text, fontName=register_fonts(), fontSize=size, textAnchor=anchor)


def _frame(
    d: Drawing, lo: float, hi: float, steps: int, fmt: Callable[[float], str], unit: str
) -> Callable[[float], float]:
    """Grid lines and y labels over [lo, hi]; returns value -> y."""
    top, height = d.height - TOP, d.height - TOP - BOTTOM

    def y_of(value: float) -> float:
        return BOTTOM + (min(max(value, lo), hi) - lo) / (hi - lo) * height

    for i in range(steps + 1):
        value = lo + (hi - lo) * i / steps
        y = y_of(value)
        d.add(Line(LEFT, y, d.width - RIGHT, y, strokeColor=GRID, strokeWidth=0.5))
        d.add(_text(LEFT - 4, y - 3, fmt(value), 7, "end"))
    d.add(_text(LEFT - 4, top + 8, unit, 7, "end"))
    d.add(Line(LEFT, BOTTOM, d.width - RIGHT, BOTTOM, strokeColor=MUTED, strokeWidth=0.8))
    return y_of


def _legend(d: Drawing, items: Sequence[tuple[str, colors.Color]]) -> None:
    x = LEFT
    for name, color in items:
        d.add(_box(x, d.height - 14, 8, 8, color))
        d.add(_text(x + 11, d.height - 13, name, 7.5))
        # room for a browser's wider CJK font when the SVG is shown in the HTML page
        x += 24 + 1.15 * pdfmetrics.stringWidth(name, register_fonts(), 7.5)


def _nice_ceiling(value: float) -> float:
    """1, 2 or 5 times a power of ten at or above `value` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _bars(
    d: Drawing,
    names: Sequence[str],
    values: Sequence[float | None],
    y_of: Callable[[float], float],
    floor: float,
    label: Callable[[float], str],
) -> list[tuple[float, float]]:
    """One bar per name, missing values written as 无数据; returns each slot's (centre, width)."""
    slot = (d.width - LEFT - RIGHT) / max(len(names), 1)
    width = min(slot * 0.5, 60)
    slots = []
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        centre = LEFT + slot * (i + 0.5)
        slots.append((centre, width))
        d.add(_text(centre, BOTTOM - 12, name, 8, "middle"))
        if value is None:
            d.add(_text(centre, BOTTOM + 6, "无数据 no data", 7, "middle"))
            continue
        top = y_of(value)
        d.add(_box(centre - width / 2, y_of(floor), width, top - y_of(floor), PALETTE[0]))
        d.add(_text(centre, top + 3, label(value), 7, "middle"))
    return slots


def availability_chart(doc: AssessmentDocument) -> Chart | None:
    """Measured availability per contracted vendor (bars) against its target (red marks)."""
    rows = doc.settlement.vendors
    if not rows:
        return None
    figures = [r.measured * 100 for r in rows if r.measured is not None]
    lowest = min([*figures, *(r.sla_target * 100 for r in rows)])
    # Start the axis a little below the lowest figure, on a step of 0.1 / 1 / 10 %.
    step = 0.1 if lowest >= 99 else 1.0 if lowest >= 90 else 10.0
    lo = max(0.0, math.floor((lowest - step / 2) / step) * step)
    d = Drawing(WIDTH, 210)
    y_of = _frame(d, lo, 100.0, 5, lambda v: f"{v:.2f}", "%")
    measured = [r.measured * 100 if r.measured is not None else None for r in rows]
    slots = _bars(d, [r.vendor for r in rows], measured, y_of, lo, lambda v: f"{v:.3f}")
    for (centre, width), row in zip(slots, rows, strict=True):
        y = y_of(row.sla_target * 100)
        d.add(Line(centre - width / 2 - 6, y, centre + width / 2 + 6, y,
                   strokeColor=TARGET, strokeWidth=2))  # fmt: skip
    _legend(d, [("实测可用性 measured", PALETTE[0]), ("合同目标 target", TARGET)])
    note = f"纵轴从 {lo:.2f} % 起 (axis starts at {lo:.2f} %); 红线为合同目标 red: target"
    return Chart("availability", "厂商可用性与目标", "Availability per vendor vs target", note, d)


def trend_chart(doc: AssessmentDocument, metric: str) -> Chart | None:
    """MTTA or MTTR in minutes per vendor over the trend months; gaps where no data."""
    series = [(t.vendor, t.mtta_minutes if metric == "mtta" else t.mttr_minutes) for t in doc.trend]
    points = [v for _, values in series for v in values if v is not None]
    if not points:
        return None
    d = Drawing(WIDTH, 200)
    hi = _nice_ceiling(max(points) * 1.1) if max(points) > 0 else 1.0
    y_of = _frame(d, 0.0, hi, 4, lambda v: f"{v:g}", "分钟 min")
    months = doc.trend_months
    step = (d.width - LEFT - RIGHT) / len(months)
    x_of = [LEFT + step * (i + 0.5) for i in range(len(months))]
    for x, month in zip(x_of, months, strict=True):
        d.add(_text(x, BOTTOM - 12, month, 7.5, "middle"))
    for index, (_, values) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        run: list[float] = []
        for x, value in [*zip(x_of, values, strict=True), (0.0, None)]:
            if value is None:  # a gap ends the current line
                if len(run) >= 4:
                    d.add(PolyLine(run, strokeColor=color, strokeWidth=1.5))
                run = []
                continue
            run += [x, y_of(value)]
            d.add(_box(x - 2, y_of(value) - 2, 4, 4, color))
    _legend(d, [(name, PALETTE[i % len(PALETTE)]) for i, (name, _) in enumerate(series)])
    zh, en = kpi_label(metric)
    return Chart(
        f"{metric}_trend",
        f"{zh}趋势 (近 {len(months)} 个月)",
        f"{en} trend, last {len(months)} months",
        "每月按事件开始月份统计; 无点为当月无数据 (a missing point: no data that month)",
        d,
    )


def utilisation_chart(doc: AssessmentDocument) -> Chart | None:
    """Utilisation per vendor (bars), when the report carries a utilisation KPI with data."""
    kpis = doc.vendor_kpi("utilisation")
    if not any(k.value is not None for k in kpis.values()):
        return None
    names = sorted(kpis)
    values = [kpis[n].value for n in names]
    shares = [v * 100 if v is not None else None for v in values]
    d = Drawing(WIDTH, 190)
    y_of = _frame(d, 0.0, 100.0, 4, lambda v: f"{v:.0f}", "%")
    _bars(d, names, shares, y_of, 0.0, lambda v: f"{v:.1f} %")
    zh, en = kpi_label("utilisation")
    return Chart("utilisation", f"厂商{zh}", f"{en} per vendor", "", d)


def _score_drawing(doc: AssessmentDocument, scopes: Sequence[Scope]) -> Drawing:
    row, pad = 22.0, 8.0
    d = Drawing(WIDTH, TOP + BOTTOM + row * len(scopes))
    left, right = 120.0, d.width - RIGHT - 30
    top = d.height - TOP

    def x_of(score: float) -> float:
        return left + score / 100 * (right - left)

    for score in range(0, 101, 20):
        d.add(Line(x_of(score), BOTTOM, x_of(score), top, strokeColor=GRID, strokeWidth=0.5))
        d.add(_text(x_of(score), BOTTOM - 12, str(score), 7, "middle"))
    bar = (row - pad) / 2
    for i, scope in enumerate(scopes):
        y = top - row * (i + 1) + pad / 2
        kind = "厂商" if scope.kind == "vendor" else "部门"
        d.add(_text(left - 4, y + bar - 3, f"{kind} {scope.name}", 7.5, "end"))
        pairs = [(scope.score, PALETTE[0], bar), (scope.previous_score, GRID, 0.0)]
        for value, color, offset in pairs:
            if value is None:
                d.add(_text(left + 2, y + offset + 1, "无数据 no data", 6.5))
                continue
            d.add(_box(left, y + offset, x_of(value) - left, bar - 1, color))
            d.add(_text(x_of(value) + 2, y + offset + 1, f"{value:.1f}", 6.5))
    prev = doc.report.previous_month
    _legend(d, [(f"本月 {doc.report.month}", PALETTE[0]), (f"上月 {prev}", GRID)])
    return d


def score_charts(doc: AssessmentDocument) -> list[Chart]:
    """Score per scope (horizontal bars), this month beside the month before; split into
    parts of SCORES_PER_CHART scopes so each fits on an A4 page (50 departments do not)."""
    scopes = doc.report.scopes
    parts = [scopes[i : i + SCORES_PER_CHART] for i in range(0, len(scopes), SCORES_PER_CHART)]
    charts = []
    for index, part in enumerate(parts, start=1):
        suffix = f" ({index}/{len(parts)})" if len(parts) > 1 else ""
        kind = "scores" if index == 1 else f"scores-{index}"
        charts.append(Chart(kind, f"考核得分 (含上月对比){suffix}",
                            f"Score per scope with previous month{suffix}", "",
                            _score_drawing(doc, part)))  # fmt: skip
    return charts


def all_charts(doc: AssessmentDocument) -> list[Chart]:
    """The charts that have something to show, in reading order."""
    found = [
        availability_chart(doc),
        *score_charts(doc),
        trend_chart(doc, "mtta"),
        trend_chart(doc, "mttr"),
        utilisation_chart(doc),
    ]
    return [c for c in found if c is not None]
