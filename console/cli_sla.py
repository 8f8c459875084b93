"""`yunheng sla`: SLO burn-rate alerting rules and error-budget arithmetic."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from console.cli_common import fail, out
from console.cli_common import session as _session
from inventory.types import utcnow
from sla.availability import SHANGHAI
from sla.burn import load_slos, write_rules
from sla.settlement import monthly_settlement
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
def sla_status() -> None:
    """This month so far (Shanghai): availability per vendor against target, budget left.

    Availability comes from recorded P1/P2 incidents, as in the settlement; the budget is the
    whole month's allowed downtime at the contract target, less the downtime so far."""
    now = utcnow()
    local = now.astimezone(SHANGHAI)
    month = f"{local.year:04d}-{local.month:02d}"
    with _session() as session:
        settled = monthly_settlement(session, month, now)
    if not settled.vendors:
        out.print(f"{month}: no vendor contract in force")
        return
    out.print(f"{month} so far (as of {now:%Y-%m-%d %H:%M} UTC)")
    for row in settled.vendors:
        if row.measured is None or row.downtime_minutes is None:
            out.print(f"{escape(row.vendor)}: no data (target {row.sla_target})")
            continue
        left = row.allowed_downtime_minutes - row.downtime_minutes
        share = left / row.allowed_downtime_minutes * 100 if row.allowed_downtime_minutes else 0.0
        out.print(
            f"{escape(row.vendor)}: {row.measured * 100:.4f} % against {row.sla_target * 100:g} %, "
            f"{'met' if row.measured >= row.sla_target else 'below target'}; budget left "
            f"{left:.2f} of {row.allowed_downtime_minutes:.2f} min ({share:.1f} %)"
        )
