"""`yunheng sla`: SLO burn-rate alerting rules and error-budget arithmetic."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from console.cli_common import fail, out
from console.cli_common import session as _session
from inventory.errors import Invalid
from inventory.settings import get_settings
from inventory.types import utcnow
from sla.burn import load_slos, write_rules
from sla.incidents import previous_month
from sla.measure import settlement_from_settings
from sla.settlement import SourceFigures, VendorSettlement
from sla.slo import budget_status

sla_app = typer.Typer(
    help="SLOs: error budgets and burn-rate alerting rules.", no_args_is_help=True
)


@sla_app.command("rules")
def sla_rules(
    slos: Annotated[Path, typer.Option("--slos", help="SLO definitions (YAML, 'slos:' list)")],
    out_file: Annotated[Path, typer.Option("--out", help="Prometheus rule file to write")],
) -> None:
    """Write multi-window, multi-burn-rate alerting rules (SRE workbook factors) for the SLOs."""
    try:
        loaded = load_slos(slos)
    except ValueError as exc:
        fail(str(exc), "--slos")
    if not loaded:
        fail("no SLOs defined", "--slos")
    try:
        count = write_rules(out_file, loaded)
    except OSError as exc:
        fail(str(exc), "--out")
    out.print(f"{escape(str(out_file))}: {len(loaded)} SLO(s), {count} alerting rule(s) written")


@sla_app.command("budget")
def sla_budget(
    target: Annotated[float, typer.Option(help="SLO target ratio, e.g. 0.9995")],
    measured: Annotated[float, typer.Option(help="measured availability ratio")],
    days: Annotated[float, typer.Option(help="window length in days")] = 30.0,
) -> None:
    """Error budget, downtime spent and burn rate for a measured availability."""
    if days <= 0:
        fail("must be more than zero", "--days")
    try:
        status = budget_status(target, measured, timedelta(days=days))
    except ValueError as exc:
        fail(str(exc), "--target/--measured")
    out.print(
        f"budget {status.budget_minutes:.2f} min, spent {status.spent_minutes or 0:.2f} min, "
        f"remaining {(status.remaining_ratio or 0) * 100:.1f} %, burn rate "
        f"{status.burn_rate or 0:.3f}, {'met' if status.met else 'missed'}"
    )


@sla_app.command("status")
def sla_status(
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM, a Shanghai month (default: the last full one)")
    ] = None,
) -> None:
    """Availability per vendor for a month from Prometheus and from incidents, the basis
    settled on, where the two disagree, and the error budget left.

    The budget is the month's allowed downtime at the contract target; the downtime spent is
    the availability's shortfall in minutes of the month so far (for one cloud or series,
    its downtime). Prometheus comes from YUNHENG_PROMETHEUS_URL and YUNHENG_SLO_FILE."""
    now = utcnow()
    month = month or previous_month(now)
    with _session() as session:
        try:
            settled = settlement_from_settings(session, get_settings(), month, now)
        except Invalid as exc:
            fail(exc.message, "--month")
    out.print(f"{month} (Asia/Shanghai month), as of {now:%Y-%m-%d %H:%M} UTC")
    for note in settled.warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(note)}")
    if not settled.vendors:
        out.print(f"{month}: no vendor contract in force")
        return
    minutes = (min(settled.end, now) - settled.start).total_seconds() / 60
    for row in settled.vendors:
        _print_vendor(row, max(minutes, 0.0))


def _figures(name: str, figures: SourceFigures | None, unit: str) -> str:
    if figures is None:
        return f"{name}: not asked"
    if figures.availability is None:
        return f"{name}: {figures.detail}"
    return (
        f"{name}: {figures.availability * 100:.4f} % ({figures.downtime_minutes:g} min down "
        f"over {figures.members} {unit})"
    )


def _print_vendor(row: VendorSettlement, minutes: float) -> None:
    vendor = escape(row.vendor)
    if row.measured is None:
        out.print(f"{vendor}: no data (target {row.sla_target * 100:g} %)")
    else:
        spent = (1.0 - row.measured) * minutes
        left = row.allowed_downtime_minutes - spent
        share = left / row.allowed_downtime_minutes * 100 if row.allowed_downtime_minutes else 0.0
        out.print(
            f"{vendor}: {row.measured * 100:.4f} % against {row.sla_target * 100:g} %, "
            f"{'met' if row.measured >= row.sla_target else 'below target'} (from {row.basis}); "
            f"budget left {left:.2f} of {row.allowed_downtime_minutes:.2f} min ({share:.1f} %)"
        )
    out.print(
        f"  {escape(_figures('Prometheus', row.prometheus, 'series'))}; "
        f"{escape(_figures('incidents', row.incidents, 'cloud(s)'))}"
    )
    if row.disagreement:
        out.print(f"  [red]disagreement:[/red] {escape(row.disagreement)}")
