"""The assessment as a PDF (reportlab platypus), A4 portrait, zh-CN first with English beside.

Decisions:
- Text is set in the built-in CID font STSong-Light, so the file embeds no font and Chinese
  text stays extractable (searchable, copyable) in every Chinese PDF reader.
- Charts are the vector Drawings of sla.charts, the same the HTML page shows as SVG.
- Paper cannot link, so each KPI row lists the ids behind its figure (incidents, and any other
  `*_ids` a KPI carries); the settlement's workings are printed in full.
"""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.doctemplate import BaseDocTemplate

from sla.charts import all_charts, register_fonts
from sla.document import (
    SCOPE_LABELS,
    STATUS_LABELS,
    AssessmentDocument,
    format_delta,
    format_score,
    format_value,
    kpi_label,
    linked_ids,
)
from sla.report import Scope
from sla.settlement import VendorSettlement

HEADER_BG = colors.HexColor("#e8edf3")
LINE = colors.HexColor("#b8c0cc")


def _styles() -> dict[str, ParagraphStyle]:
    font = register_fonts()
    base = ParagraphStyle("base", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24),
        "h2": ParagraphStyle(
            "h2", parent=base, fontSize=12.5, leading=17, spaceBefore=8, spaceAfter=4
        ),
        "body": base,
        "small": ParagraphStyle(
            "small", parent=base, fontSize=7, leading=9, textColor=colors.HexColor("#4b5563")
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9.5),
    }


def _esc(text: object) -> str:
    """Paragraphs read a small markup language: escape everything that came from data."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table(rows: list[list[Any]], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), register_fonts(), 7.5),
                ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
                ("GRID", (0, 0), (-1, -1), 0.4, LINE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _summary(doc: AssessmentDocument, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    head = ["类型 Kind", "对象 Scope", "得分 Score", f"上月 {doc.report.previous_month}",
            "变化 Change"]  # fmt: skip
    rows: list[list[Any]] = [head]
    for scope in doc.report.scopes:
        zh, en = SCOPE_LABELS.get(scope.kind, (scope.kind, scope.kind))
        rows.append([f"{zh} {en}", Paragraph(_esc(scope.name), s["cell"]),
                     format_score(scope.score), format_score(scope.previous_score),
                     format_delta(scope.delta)])  # fmt: skip
    return [
        Paragraph("总览 Summary", s["h2"]),
        _table(rows, [28 * mm, 62 * mm, 25 * mm, 30 * mm, 25 * mm]),
    ]


def _settlement_row(v: VendorSettlement, s: dict[str, ParagraphStyle]) -> list[Any]:
    zh, en = STATUS_LABELS.get(v.status.value, (v.status.value, v.status.value))
    credit = "—" if v.credit_amount is None else f"{v.credit_amount} {v.currency}"
    ids = " ".join(f"#{i}" for i in v.incident_ids) or "—"
    workings = f"{_esc(v.workings)}<br/>事件 incidents: {ids}"
    return [Paragraph(_esc(v.vendor), s["cell"]), f"{v.sla_target * 100:.3f} %",
            format_value("availability", v.measured), f"{zh}\n{en}", credit,
            Paragraph(workings, s["cell"])]  # fmt: skip


def _settlement(doc: AssessmentDocument, s: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [Paragraph("服务扣减结算 Settlement", s["h2"])]
    if not doc.settlement.vendors:
        return [*story, Paragraph("本月无生效合同 No contract in force.", s["body"])]
    head = ["厂商 Vendor", "目标 Target", "实测 Measured", "结论 Status", "扣减 Credit",
            "计算过程 Workings"]  # fmt: skip
    rows = [head, *(_settlement_row(v, s) for v in doc.settlement.vendors)]
    return [*story, _table(rows, [26 * mm, 20 * mm, 24 * mm, 24 * mm, 24 * mm, 52 * mm])]


def _scope_table(
    scope: Scope, s: dict[str, ParagraphStyle], heading: Flowable | None = None
) -> list[Flowable]:
    zh, en = SCOPE_LABELS.get(scope.kind, (scope.kind, scope.kind))
    title = f"{zh} {en}: {_esc(scope.name)} — 得分 score {format_score(scope.score)}"
    head = ["指标 KPI", "数值 Value", "得分 Score", "权重 Weight", "变化 Change",
            "说明与依据 Detail and records"]  # fmt: skip
    rows: list[list[Any]] = [head]
    for kpi in scope.kpis:
        kzh, ken = kpi_label(kpi.name)
        records = [f"{field}: " + " ".join(f"#{i}" for i, _ in ids)
                   for field, ids in linked_ids(kpi)]  # fmt: skip
        detail = "<br/>".join([_esc(kpi.detail), *records])
        rows.append([f"{kzh}\n{ken}", format_value(kpi.name, kpi.value),
                     format_score(kpi.score), f"{kpi.weight:g}", format_delta(kpi.delta),
                     Paragraph(detail, s["cell"])])  # fmt: skip
    table = _table(rows, [28 * mm, 24 * mm, 16 * mm, 18 * mm, 16 * mm, 72 * mm])
    lead = [heading] if heading is not None else []
    return [KeepTogether([*lead, Paragraph(title, s["body"]), Spacer(1, 2), table, Spacer(1, 6)])]


def _page_footer(canvas: Any, doc: BaseDocTemplate) -> None:
    canvas.saveState()
    canvas.setFont(register_fonts(), 7)
    canvas.drawString(18 * mm, 10 * mm, f"云衡 Yunheng | 运维考核 {doc.title}")
    canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"第 {canvas.getPageNumber()} 页")
    canvas.restoreState()


def render_pdf(doc: AssessmentDocument) -> bytes:
    """The whole document as PDF bytes."""
    s = _styles()
    report = doc.report
    out = io.BytesIO()
    pdf = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
        bottomMargin=18 * mm, title=report.month, author="Yunheng",
        subject=f"运维考核 Monthly assessment {report.month}",
    )  # fmt: skip
    weights = ", ".join(f"{kpi_label(k)[0]} {w:g}" for k, w in report.weights.items())
    story: list[Flowable] = [
        Paragraph(f"运维考核报告 {report.month}", s["title"]),
        Paragraph(
            f"Monthly assessment | 时区 {report.timezone} | "
            f"截至 as of {report.as_of:%Y-%m-%d %H:%M} UTC",
            s["body"],
        ),
        Paragraph(
            f"权重 Weights: {_esc(weights)}. 无数据的指标不计入总分 "
            "(KPIs without data are left out of the total).",
            s["small"],
        ),
        *_summary(doc, s),
    ]
    for chart in all_charts(doc):
        story += [
            CondPageBreak(chart.drawing.height + 40),
            Paragraph(f"{chart.title_zh} {_esc(chart.title_en)}", s["h2"]),
            chart.drawing,
        ]
        if chart.note:
            story.append(Paragraph(_esc(chart.note), s["small"]))
    story += _settlement(doc, s)
    heading: Flowable | None = Paragraph("分项指标 KPIs per scope", s["h2"])
    for scope in report.scopes:
        story += _scope_table(scope, s, heading)
        heading = None  # kept with the first table, never alone at a page's foot
    pdf.build(story, onFirstPage=_page_footer, onLaterPages=_page_footer)
    return out.getvalue()
