"""`yunheng report month 2026-10 --format json|csv [--out FILE]`: the monthly assessment."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from console.cli_common import fail, out
from console.cli_common import session as _session
from inventory.types import utcnow
from sla.report import monthly_report, report_csv

report_app = typer.Typer(help="The monthly assessment report (运维考核).", no_args_is_help=True)


class Format(StrEnum):
    json = "json"
    csv = "csv"


@report_app.command("month")
def report_month(
    month: Annotated[str, typer.Argument(help="YYYY-MM, a calendar month in Asia/Shanghai")],
    fmt: Annotated[Format, typer.Option("--format", help="json or csv")] = Format.json,
    out_file: Annotated[Path | None, typer.Option("--out", help="write here, not stdout")] = None,
) -> None:
    """KPI scores per vendor and department for MONTH, with the trend since the month before."""
    with _session() as session:
        report = monthly_report(session, month, utcnow())
    text = report_csv(report) if fmt == Format.csv else report.model_dump_json(indent=2) + "\n"
    if out_file is None:
        typer.echo(text, nl=False)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(str(exc), "--out")
    out.print(f"{escape(str(out_file))}: {len(report.scopes)} scope(s) written")
