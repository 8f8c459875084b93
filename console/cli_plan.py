"""`yunheng plan`: solve a placement problem file offline, or export one from the inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from scheduler.plan import PlanResult
from scheduler.problem import Problem
from scheduler.solver import solve

plan_app = typer.Typer(
    help="Placement problems: solve a file, export the inventory.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)


def load_problem(path: Path) -> Problem:
    try:
        return Problem.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "problem"
        err.print(
            f"[red]error:[/red] {path}: {where}: {first['msg']} ({exc.error_count()} error(s))"
        )
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]error:[/red] PROBLEM: {exc.strerror}: {path}")
        raise typer.Exit(2) from None


@plan_app.command("solve")
def plan_solve(
    problem_file: Annotated[
        Path, typer.Argument(metavar="PROBLEM.json", help="See docs/problem-format.md")
    ],
    time_limit: Annotated[float, typer.Option(min=0.1, help="Seconds for the whole solve")] = 10.0,
    workers: Annotated[int, typer.Option(min=1, max=64, help="CP-SAT search workers")] = 2,
    seed: Annotated[int, typer.Option(help="CP-SAT random seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON result instead")] = False,
) -> None:
    """Solve one problem file without a database: greedy, then CP-SAT, then validation."""
    problem = load_problem(problem_file)
    result = solve(problem, time_limit=time_limit, workers=workers, seed=seed)
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        summarise(result)
    if result.status in ("infeasible", "unknown"):
        raise typer.Exit(1)


def summarise(result: PlanResult) -> None:
    out.print(
        f"status [bold]{result.status}[/bold] by {result.solver} in {result.seconds_total:.2f} s"
    )
    if result.objective and result.bound:
        o, b = result.objective, result.bound
        out.print(
            f"hosts used {o.hosts_used} (bound {b.hosts_used}, "
            f"gap {100 * (result.gap or 0):.1f}%), "
            f"cost {o.cost_per_hour:.2f}/h (bound {b.cost_per_hour:.2f}), "
            f"migrations {o.migrations}, "
            f"fullest host {100 * o.max_utilisation:.0f}%"
        )
    if result.services:
        table = Table("service", "replicas", "zones", "availability", "target", "ok")
        for s in result.services:
            zones = ", ".join(f"{z}×{n}" for z, n in s.zones.items())
            ok = "yes" if s.meets_target and s.survives_zone_loss else "NO"
            target = "-" if s.sla_target is None else f"{s.sla_target}"
            table.add_row(
                s.service, str(s.replicas), zones, f"{s.predicted_availability:.6f}", target, ok
            )
        out.print(table)
    for title, lines in (
        ("why not", result.conflicts),
        ("binding", result.binding),
        ("notes", result.notes),
    ):
        if lines:
            out.print(f"[bold]{title}:[/bold]")
            for line in lines:
                out.print(f"  - {line}")
