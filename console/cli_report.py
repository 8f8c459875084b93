"""`yunheng report month 2026-10 --format json|csv|html|pdf [--out FILE]`: the assessment."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from console.cli_common import fail, out
from console.cli_common import session as _session
from inventory.settings import Settings, get_settings
from inventory.types import utcnow
from sla.kpi import KpiConfig, kpi_config
from sla.render_html import render_html
from sla.render_pdf import render_pdf
from sla.report import report_csv
from sla.serve import served_document, served_report

report_app = typer.Typer(help="The monthly assessment report (运维考核).", no_args_is_help=True)


class Format(StrEnum):
    json = "json"
    csv = "csv"
    html = "html"
    pdf = "pdf"


def report_config(settings: Settings) -> KpiConfig:
    try:
        return kpi_config(settings)
    except ValueError as exc:
        fail(str(exc), "YUNHENG_ASSESSMENT_KPIS")


def _render(month: str, fmt: Format, live: bool) -> tuple[bytes, str]:
    """The report's bytes in `fmt` and a one-line summary of what they hold."""
    with _session() as session:
        now, settings = utcnow(), get_settings()
        report_config(settings)  # a bad setting is a CLI error naming it
        if fmt in (Format.html, Format.pdf):
            served, document = served_document(session, settings, month, now, live)
            body = render_pdf(document) if fmt == Format.pdf else render_html(document).encode()
        else:
            served = served_report(session, settings, month, now, live)
            report = served.report
            text = report_csv(report) if fmt == Format.csv else report.model_dump_json(indent=2)
            body = (text if fmt == Format.csv else text + "\n").encode()
    origin = "stored copy" if served.stored else "computed now"
    return body, f"{len(served.report.scopes)} scope(s), {origin}"


@report_app.command("month")
def report_month(
    month: Annotated[str, typer.Argument(help="YYYY-MM, a calendar month in Asia/Shanghai")],
    fmt: Annotated[
        Format, typer.Option("--format", help="json, csv, html (a page with charts) or pdf")
    ] = Format.json,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="write here, not stdout; a PDF is never written to stdout: without --out it "
            "goes to assessment-MONTH.pdf in the current directory",
        ),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="compute from today's data even if MONTH is stored")
    ] = False,
) -> None:
    """KPI scores per vendor and department for MONTH, with the trend since the month before.

    A month whose report was stored (on the 1st, or by `report generate`) prints that copy,
    what vendors were scored on; --live computes it again from today's data.

    html and pdf add the charts (availability against target, MTTA/MTTR over six months,
    utilisation, scores against last month), the settlement's workings and the incidents
    behind every figure.
    """
    body, summary = _render(month, fmt, live)
    if out_file is None and fmt == Format.pdf:
        out_file = Path(f"assessment-{month}.pdf")  # binary: never onto a terminal
    if out_file is None:
        typer.echo(body.decode(), nl=False)
        return
    try:
        out_file.write_bytes(body)
    except OSError as exc:
        fail(str(exc), "--out")
    out.print(f"{escape(str(out_file))}: {summary} written")
