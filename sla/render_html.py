"""The assessment as one self-contained, printable HTML page (Jinja2, server-side).

Decisions:
- Offline intranets and a Content-Security-Policy without inline scripts: no <script>, no
  external URL, every chart inline SVG and the stylesheet in a <style> block.
- The charts are sla.charts' reportlab Drawings rendered by renderSVG, the same the PDF draws.
  Their XML prolog and namespace declarations are dropped (inline SVG in HTML needs none, and
  they are the only URLs renderSVG writes), and their clip-path ids made unique per chart so
  several charts can share one page.
- Every id behind a KPI links to its console page (incidents: /alerts/incidents/{id}).
"""

from __future__ import annotations

import re
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from reportlab.graphics import renderSVG

from sla.charts import FONT, Chart, all_charts
from sla.document import (
    INCIDENT_URL,
    SCOPE_LABELS,
    STATUS_LABELS,
    AssessmentDocument,
    format_delta,
    format_score,
    format_value,
    kpi_label,
    linked_ids,
)

# Fonts a Chinese desktop has, before the PDF font's name (browsers rarely know STSong-Light).
FONT_STACK = (
    "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', "
    "'WenQuanYi Micro Hei', SimSun"
)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("sla", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        kpi_label=kpi_label,
        format_value=format_value,
        format_score=format_score,
        format_delta=format_delta,
        linked_ids=linked_ids,
        scope_label=lambda kind: SCOPE_LABELS.get(kind, (kind, kind)),
        status_label=lambda status: STATUS_LABELS.get(status, (status, status)),
        incident_url=INCIDENT_URL.format,
    )
    return env


def chart_svg(chart: Chart) -> Markup:
    """A chart as inline SVG markup (text in it was escaped by renderSVG)."""
    svg = renderSVG.drawToString(chart.drawing)
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = svg.replace('id="clip"', f'id="clip-{chart.kind}"')
    svg = svg.replace("url(#clip)", f"url(#clip-{chart.kind})")
    svg = svg.replace('id="group"', f'id="group-{chart.kind}"')
    svg = svg.replace("<title>...</title>", "").replace("<desc>...</desc>", "")
    svg = svg.replace(f"font-family: {FONT}", f"font-family: {FONT_STACK}, {FONT}, sans-serif")
    label = f"{chart.title_zh} {chart.title_en}".replace("&", "&amp;").replace('"', "&quot;")
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
    return Markup(svg)  # noqa: S704 - renderSVG escapes every text node it writes


def render_html(doc: AssessmentDocument) -> str:
    """The whole document as an HTML page."""
    charts = [(chart, chart_svg(chart)) for chart in all_charts(doc)]
    template = _environment().get_template("report.html")
    return template.render(doc=doc, report=doc.report, charts=charts)
