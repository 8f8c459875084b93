"""ECharts options built on the server: the page carries them in a data-chart attribute and
static/app.js only hands them to echarts.init, so no chart logic lives in script."""

from __future__ import annotations

from typing import Any

from console.web.dashboard_data import Usage, ZoneUsage
from console.web.i18n import Translator

# High-contrast colours that read on a duty-room wall screen (and for red-green blindness).
PALETTE = ["#0b5cad", "#d9730d", "#2e7d32", "#8e24aa", "#c62828", "#00838f"]


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def vendor_bars(vendors: dict[str, Usage], t: Translator) -> dict[str, Any]:
    names = list(vendors)
    return {
        "color": PALETTE,
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [t("col.cpu"), t("col.memory")], "top": 0},
        "grid": {"left": 48, "right": 16, "bottom": 32, "top": 40},
        "xAxis": {"type": "category", "data": names},
        "yAxis": {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {"name": t("col.cpu"), "type": "bar", "data": [_pct(vendors[n].cpu) for n in names]},
            {
                "name": t("col.memory"),
                "type": "bar",
                "data": [_pct(vendors[n].memory) for n in names],
            },
        ],
    }


def zone_heatmap(zones: list[ZoneUsage], t: Translator) -> dict[str, Any]:
    """Zones down, CPU and memory across: the hot spots are visible at a glance."""
    labels = [f"{z.cloud} / {z.zone}" for z in zones]
    columns = [t("col.cpu"), t("col.memory")]
    cells = []
    for row, z in enumerate(zones):
        for column, value in enumerate((z.usage.cpu, z.usage.memory)):
            cells.append([column, row, _pct(value) if value is not None else "-"])
    return {
        "tooltip": {"position": "top"},
        "grid": {"left": 160, "right": 24, "bottom": 90, "top": 16},
        "xAxis": {"type": "category", "data": columns, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": labels, "splitArea": {"show": True}},
        "visualMap": {
            "min": 0,
            "max": 100,
            "calculable": True,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "inRange": {"color": ["#e8f1fb", "#7fb0e0", "#f2a541", "#c62828"]},
        },
        "series": [{"type": "heatmap", "data": cells, "label": {"show": True}}],
    }
