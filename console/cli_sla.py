"""`yunheng sla`: SLO burn-rate alerting rules and error-budget arithmetic."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from console.cli_common import fail, out
from sla.burn import load_slos, write_rules
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
