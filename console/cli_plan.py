"""`yunheng plan`: solve a placement problem file offline, or export one from the inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from console import cli_common as common
from console.cli_common import err, out
from inventory.db import engine_from_settings
from inventory.models import Plan, PlanStatus, RequestStatus, ResourceRequest
from inventory.models.requests import RebalanceCreate, RebalanceOutcome
from inventory.paging import PageParams
from inventory.settings import get_settings
from scheduler import apply, rebalance, views, workflow
from scheduler.from_inventory import problem_for
from scheduler.plan import PlanResult
from scheduler.problem import Problem
from scheduler.solver import solve

plan_app = typer.Typer(
    help="Placement: solve or export problem files; propose rebalances; approve, reject, "
    "retry plans (request and rebalance plans alike).",
    no_args_is_help=True,
)


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


request_app = typer.Typer(help="Departments' resource requests.", no_args_is_help=True)


@request_app.command("list")
def request_list(
    status: Annotated[RequestStatus | None, typer.Option(help="Only this status")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """Requests, newest first, with their latest plan."""
    with common.session() as session:
        page = views.list_requests(session, common.actor(), PageParams(limit=limit), status)
        table = Table("id", "department", "service", "replicas", "status", "plan", "reason")
        for r in page.items:
            latest = r.plans[0] if r.plans else None
            plan = f"{latest.id} {latest.status.value}" if latest else "-"
            table.add_row(
                str(r.id), r.department, r.service_name, str(r.replicas), r.status.value, plan,
                (r.reason or "")[:60],
            )  # fmt: skip
        out.print(table)


@plan_app.command("export")
def plan_export(
    request_id: Annotated[int, typer.Option("--request", min=1, help="Request to place")],
    output: Annotated[Path | None, typer.Option("-o", help="File to write; default stdout")] = None,
) -> None:
    """Write the live inventory plus one request as a problem file for `plan solve`."""
    with common.session() as session:
        request = session.get(ResourceRequest, request_id)
        if request is None:
            common.fail(f"no request {request_id}", "--request")
        problem, _ = problem_for(session, request)
    text = problem.model_dump_json(indent=1, exclude_defaults=True)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n")
        err.print(f"wrote {output}")


def _decide(plan_id: int, approve: bool, comment: str | None) -> None:
    settings = get_settings()
    with common.session() as session:
        workflow.decide(session, common.actor(), plan_id, approve=approve, comment=comment)
    if approve:
        _apply(plan_id, settings.adapter_timeout_seconds)
    else:
        out.print(f"plan {plan_id} rejected")


def _apply(plan_id: int, timeout: float) -> None:
    settings = get_settings()
    engine = engine_from_settings(settings)
    try:
        status = apply.apply_plan(
            engine, common.box(), plan_id, actor=common.actor().username, timeout=timeout
        )
    finally:
        engine.dispose()
    out.print(f"plan {plan_id}: {status.value}")
    if status != PlanStatus.applied:
        with common.session() as session:
            plan = session.get(Plan, plan_id)
            outcome = plan.summary.get("outcome") if plan else None
        if outcome:
            out.print(outcome)
        raise typer.Exit(1)


@plan_app.command("approve")
def plan_approve(
    plan_id: Annotated[int, typer.Argument(min=1)],
    comment: Annotated[str | None, typer.Option(help="Recorded in the audit log")] = None,
) -> None:
    """Approve a proposed plan and provision it now; a rebalance plan moves its replicas
    (exit 1 if anything failed; 2 if the plan is stale)."""
    _decide(plan_id, True, comment)


@plan_app.command("reject")
def plan_reject(
    plan_id: Annotated[int, typer.Argument(min=1)],
    comment: Annotated[str, typer.Option(help="Why: the department reads it")],
) -> None:
    """Reject a proposed plan, saying why."""
    _decide(plan_id, False, comment)


@plan_app.command("retry")
def plan_retry(plan_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Provision again what failed in a partially applied plan (or carry on with the moves
    a rebalance left)."""
    with common.session() as session:
        apply.retry(session, common.actor(), plan_id)
    _apply(plan_id, get_settings().adapter_timeout_seconds)


@plan_app.command("rebalance")
def plan_rebalance(
    budget: Annotated[
        int, typer.Option("--budget", min=0, max=10_000, help="Replicas that may move at most")
    ],
    time_limit: Annotated[
        float | None,
        typer.Option(min=0.1, max=600, help="Solver seconds [default: the placement setting]"),
    ] = None,
    cloud: Annotated[str | None, typer.Option(help="Only this cloud (id or name)")] = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone (id, name, external id)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON outcome instead")] = False,
) -> None:
    """Propose moves of Yunheng-managed replicas that free hosts or cut cost, for
    `plan approve ID` (exit 1 when nothing is worth proposing)."""
    try:
        data = RebalanceCreate(
            migration_budget=budget, time_limit=time_limit, cloud=cloud, zone=zone
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        common.fail(first["msg"], "--" + str(first["loc"][0]).replace("_", "-"))
    with common.session() as session:
        proposal = rebalance.propose(
            session,
            common.actor(),
            data,
            time_limit=get_settings().placement_time_limit_seconds,
        )
        shown = RebalanceOutcome(
            proposed=proposal.plan is not None,
            reason=proposal.reason,
            summary=proposal.summary,
            plan=views.plan_public(session, proposal.plan) if proposal.plan else None,
        )
    if as_json:
        print(shown.model_dump_json(indent=2))
    else:
        _print_rebalance(shown)
    if not shown.proposed:
        raise typer.Exit(1)


def _print_rebalance(shown: RebalanceOutcome) -> None:
    s = shown.summary
    before = f"hosts in use {s['hosts_before']}, cost {s['cost_before']:.2f}/h"
    if shown.plan is None:
        out.print(f"nothing proposed: {shown.reason}")
        out.print(f"now: {before}; {s['services']} services movable")
    else:
        out.print(
            f"plan {shown.plan.id} proposed: {s['moves']} moves (budget {s['migration_budget']}), "
            f"hosts in use {s['hosts_before']} -> {s['hosts_after']}, "
            f"cost {s['cost_before']:.2f}/h -> {s['cost_after']:.2f}/h"
        )
        table = Table("#", "service", "replica", "from", "to", "zone")
        for m in shown.plan.moves:
            table.add_row(
                str(m.position), m.service, m.replica, m.from_host, m.to_host, m.to_zone or "-"
            )
        out.print(table)
        if s["hosts_freed"]:
            out.print("hosts freed: " + ", ".join(s["hosts_freed"]))
        out.print(
            f"approve: yunheng plan approve {shown.plan.id}; "
            f"reject: yunheng plan reject {shown.plan.id} --comment WHY"
        )
    for line in s["left_in_place"]:
        out.print(f"  left in place: {line}")
