"""Rebalance plans: moves of Yunheng-managed replicas that free hosts or cut cost within a
migration budget, proposed for a cloud admin to approve.

propose() builds the problem from the live inventory (scheduler.rebalance_problem), solves
it, and stores a plan of kind "rebalance" with its moves in the order they can run
(scheduler.rebalance_order). A plan that saves nothing is not stored. decide() and retry()
first check that the inventory still allows every open move (check_fresh), so a stale plan
is refused with a 409 that says what changed. scheduler.rebalance_apply moves the replicas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory import audit
from inventory.access import Viewer
from inventory.errors import Conflict, Invalid, NotFound
from inventory.models import Cloud, Host, HostState, ItemState, Plan, PlanStatus, Replica, Role
from inventory.models import Zone as ZoneRow
from inventory.models.requests import (
    MoveStatus,
    PlanKind,
    PlanMove,
    RebalanceCreate,
)
from inventory.types import utcnow
from scheduler.evaluate import objective
from scheduler.from_inventory import PLACEABLE
from scheduler.index import build_index
from scheduler.plan import Assignment
from scheduler.rebalance_order import Step, waves
from scheduler.rebalance_problem import Estate, Scope, build, resolve_scope
from scheduler.solver import solve
from scheduler.validate import violations

# Money per hour below this is rounding, not a saving.
SAVING = 1e-6
SHOWN = 20  # longest list of names kept in a summary


@dataclass
class Proposal:
    plan: Plan | None
    reason: str | None  # why nothing was proposed
    summary: dict[str, Any] = field(default_factory=dict)


def propose(
    session: Session, viewer: Viewer, data: RebalanceCreate, *, time_limit: float
) -> Proposal:
    viewer.require(Role.admin)
    _none_in_flight(session)
    scope = resolve_scope(session, data.cloud, data.zone)
    limit = data.time_limit or time_limit
    estate = build(session, scope, budget=data.migration_budget)
    problem = estate.problem
    before = _in_use(estate, estate.current())
    summary: dict[str, Any] = {
        "scope": _scope(session, scope),
        "migration_budget": data.migration_budget,
        "time_limit": limit,
        "services": len(problem.services),
        "replicas": sum(s.replicas for s in problem.services),
        "left_in_place": estate.left_in_place[:SHOWN],
        "left_in_place_total": len(estate.left_in_place),
        "hosts_before": len(before),
        "cost_before": _cost_now(estate),
    }
    if not problem.services:
        return Proposal(None, "no Yunheng-managed replica in scope can move", summary)
    if data.migration_budget == 0:
        return Proposal(None, "a migration budget of 0 allows no moves", summary)
    result = solve(problem, time_limit=limit)
    summary.update(solver=result.solver, status=result.status)
    if result.objective is None or result.status not in ("optimal", "feasible"):
        why = "; ".join(result.conflicts) or f"solver status {result.status}"
        return Proposal(None, f"no rebalance plan found: {why}", summary)
    moves = [a for a in result.assignments if a.moved_from is not None]
    after = _in_use(estate, result.assignments)
    summary.update(
        hosts_after=len(after),
        cost_after=result.objective.cost_per_hour,
        moves=len(moves),
        hosts_freed=sorted(before - after)[:SHOWN],
        hosts_opened=sorted(after - before)[:SHOWN],
    )
    fewer = len(after) < len(before)
    cheaper = result.objective.cost_per_hour < summary["cost_before"] - SAVING
    if not moves or not (fewer or cheaper):
        return Proposal(
            None,
            f"nothing to save: the best plan found in {limit:g} s keeps {len(before)} hosts in "
            f"use at {summary['cost_before']:.2f}/h",
            summary,
        )
    steps = [_step(estate, i, a) for i, a in enumerate(moves)]
    ordered, blocked = waves(problem, estate.load, steps)
    if blocked:
        return Proposal(
            None, f"the moves cannot run make-before-break in any order: {blocked[0][1]}", summary
        )
    _supersede_older(session)
    plan = Plan(
        kind=PlanKind.rebalance,
        status=PlanStatus.proposed,
        solver=result.solver,
        result=result.model_dump(mode="json"),
        cost_per_hour=result.objective.cost_per_hour,
        predicted_availability=min(
            (s.predicted_availability for s in result.services), default=None
        ),
        summary=summary,
    )
    session.add(plan)
    session.flush()
    for position, step in enumerate(s for wave in ordered for s in wave):
        session.add(_move_row(estate, plan.id or 0, position, moves[step.key]))
    audit.record(
        session,
        actor=viewer.username,
        action="plan.propose",
        target_type="plan",
        target_id=plan.id,
        after={
            "kind": "rebalance",
            **{k: summary[k] for k in ("moves", "hosts_before", "hosts_after")},
            **{k: summary[k] for k in ("cost_before", "cost_after", "migration_budget")},
        },
    )
    return Proposal(plan, None, summary)


def _in_use(estate: Estate, assignments: list[Assignment]) -> set[str]:
    busy = {h.id for h in estate.problem.hosts if any(h.used.vector())}
    return busy | {a.host for a in assignments}


def _cost_now(estate: Estate) -> float:
    index = build_index(estate.problem)
    return objective(index, {v.index: list(v.pinned) for v in index.services}).cost_per_hour


def _scope(session: Session, scope: Scope) -> dict[str, Any]:
    cloud = session.get(Cloud, scope.cloud_id) if scope.cloud_id else None
    zone = session.get(ZoneRow, scope.zone_id) if scope.zone_id else None
    return {
        "cloud_id": scope.cloud_id,
        "cloud": cloud.name if cloud else None,
        "zone_id": scope.zone_id,
        "zone": zone.name if zone else None,
    }


def _step(estate: Estate, key: int, a: Assignment, made: bool = False) -> Step:
    service = next(s for s in estate.problem.services if s.id == a.service)
    return Step(key, a.service, service.demand.vector(), a.moved_from or "", a.host, made)


def _move_row(estate: Estate, plan_id: int, position: int, a: Assignment) -> PlanMove:
    target = estate.hosts[a.host]
    return PlanMove(
        plan_id=plan_id,
        position=position,
        workload_id=estate.workloads[a.service].id or 0,
        replica_id=estate.replicas[a.service, a.moved_from or ""].id or 0,
        from_host_id=estate.hosts[a.moved_from or ""].id or 0,
        to_host_id=target.id or 0,
        cloud_id=target.cloud_id,
        idempotency_key=f"yh-rb-p{plan_id}-m{position}",
        status=MoveStatus.pending,
    )


def _none_in_flight(session: Session) -> None:
    """One rebalance moves replicas at a time: two plans could both move one replica.
    A partial plan with a half-done move (new replica running, old one not yet removed)
    must finish first; one with only failed or pending moves is superseded by the next."""
    busy = (PlanStatus.approved, PlanStatus.applying, PlanStatus.partial)
    for plan in session.execute(
        sa.select(Plan)
        .where(col(Plan.kind) == PlanKind.rebalance, col(Plan.status).in_(busy))
        .order_by(col(Plan.id))
    ).scalars():
        if plan.status != PlanStatus.partial:
            raise Conflict.of("rebalance.busy", plan=plan.id, status=plan.status.value)
        half = [m for m in open_moves(session, plan.id or 0) if m.status == MoveStatus.provisioned]
        if half:
            raise Conflict.of("rebalance.half_done", plan=plan.id, count=len(half))


def _supersede_older(session: Session) -> None:
    """The newest proposal reflects the estate: older proposed plans, and partial ones
    (nothing half-done, see _none_in_flight), would only go stale."""
    for old in session.execute(
        sa.select(Plan).where(
            col(Plan.kind) == PlanKind.rebalance,
            col(Plan.status).in_((PlanStatus.proposed, PlanStatus.partial)),
        )
    ).scalars():
        old.status = PlanStatus.superseded
        session.add(old)


def get_rebalance_plan(session: Session, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None or plan.kind != PlanKind.rebalance:
        raise NotFound.of("rebalance.not_found", plan=plan_id)
    return plan


def decide(
    session: Session, viewer: Viewer, plan_id: int, *, approve: bool, comment: str | None
) -> Plan:
    viewer.require(Role.admin)
    plan = get_rebalance_plan(session, plan_id)
    if plan.status != PlanStatus.proposed:
        raise Conflict.of("plan.not_proposed", plan=plan_id, status=plan.status.value)
    if not approve and not comment:
        raise Invalid.of("rebalance.reject_reason", field="comment")
    if approve:
        check_fresh(session, plan)
    plan.status = PlanStatus.approved if approve else PlanStatus.rejected
    plan.comment = comment
    plan.decided_by = viewer.username
    plan.decided_at = utcnow()
    session.add(plan)
    audit.record(
        session,
        actor=viewer.username,
        action="plan.approve" if approve else "plan.reject",
        target_type="plan",
        target_id=plan_id,
        before={"status": "proposed"},
        after={"status": plan.status.value, "comment": comment, "kind": "rebalance"},
    )
    return plan


def retry(session: Session, viewer: Viewer, plan: Plan) -> Plan:
    """Mark a partially applied (or interrupted) rebalance for another apply of what is left."""
    viewer.require(Role.admin)
    if plan.status not in (PlanStatus.partial, PlanStatus.applying):
        raise Conflict.of("plan.not_partial", plan=plan.id, status=plan.status.value)
    check_fresh(session, plan)
    plan.status = PlanStatus.approved
    session.add(plan)
    # Stamp the moves: the leader's resume job (scheduler.rebalance_resume) takes only plans
    # with no move stamped for a while, so it leaves this retry's apply alone.
    session.execute(
        sa.update(PlanMove).where(col(PlanMove.plan_id) == plan.id).values(updated_at=utcnow())
    )
    audit.record(
        session,
        actor=viewer.username,
        action="plan.retry",
        target_type="plan",
        target_id=plan.id,
        after={"kind": "rebalance"},
    )
    return plan


def open_moves(session: Session, plan_id: int) -> list[PlanMove]:
    return list(
        session.execute(
            sa.select(PlanMove)
            .where(col(PlanMove.plan_id) == plan_id, col(PlanMove.status) != MoveStatus.moved)
            .order_by(col(PlanMove.position))
        ).scalars()
    )


def check_fresh(session: Session, plan: Plan) -> None:
    """Refuse (409) a plan the inventory no longer allows: a source host or replica gone, a
    target host down or full, a service changed so the final placement breaks a rule."""
    moves = open_moves(session, plan.id or 0)
    if not moves:
        return
    stale = _gone_or_down(session, moves)
    if not stale:
        stale = _no_longer_fits(session, plan, moves)
    if stale:
        shown = "; ".join(stale[:3]) + (f"; and {len(stale) - 3} more" if len(stale) > 3 else "")
        raise Conflict.of("rebalance.stale", plan=plan.id, changes=shown)


def _gone_or_down(session: Session, moves: list[PlanMove]) -> list[str]:
    out: list[str] = []
    for m in moves:
        # As the database has them now, whatever the session read before.
        old = session.get(Replica, m.replica_id, populate_existing=True)
        source = session.get(Host, m.from_host_id, populate_existing=True)
        target = session.get(Host, m.to_host_id, populate_existing=True)
        cloud = session.get(Cloud, m.cloud_id, populate_existing=True)
        assert old is not None and source is not None and target is not None and cloud
        if source.state == HostState.gone:
            out.append(f"source host {source.name} is gone")
        elif m.status != MoveStatus.provisioned and (
            old.state != ItemState.active or old.host_id != m.from_host_id
        ):
            out.append(f"replica {old.name} no longer runs on host {source.name}")
        if target.state != HostState.up:
            out.append(f"target host {target.name} is {target.state.value}")
        elif cloud.status not in PLACEABLE:
            out.append(f"cloud {cloud.name} of target host {target.name} is {cloud.status.value}")
    return out


def _no_longer_fits(session: Session, plan: Plan, moves: list[PlanMove]) -> list[str]:
    """The plan's final state, rebuilt on today's inventory, must pass the validator, and its
    open moves must still have an order that fits (rebalance_order)."""
    made = frozenset(
        m_new
        for m_new in session.execute(
            sa.select(col(Replica.id)).where(
                col(Replica.cloud_id).in_([m.cloud_id for m in moves]),
                col(Replica.external_id).in_(
                    [m.external_id for m in moves if m.status == MoveStatus.provisioned]
                    + [""]  # never an id; keeps IN () valid everywhere
                ),
            )
        ).scalars()
    )
    scope = plan.summary.get("scope", {})
    estate = build(
        session,
        Scope(cloud_id=scope.get("cloud_id"), zone_id=scope.get("zone_id")),
        budget=len(moves),
        ignore=made,
    )
    final = {(a.service, a.host): a for a in estate.current()}
    zone_of = {h.id: h.zone for h in estate.problem.hosts}
    cloud_of = {z.id: z.cloud for z in estate.problem.zones}
    out: list[str] = []
    steps: list[Step] = []
    service_ids = {w.id: sid for sid, w in estate.workloads.items()}
    for m in moves:
        source = estate.host_keys.get(m.from_host_id)
        target = estate.host_keys.get(m.to_host_id)
        sid = service_ids.get(m.workload_id)
        if sid is None:
            out.append(f"service {_left_reason(estate, m.workload_id)}")
            continue
        if source is None or target is None or final.pop((sid, source), None) is None:
            out.append(f"{sid}: its replica is no longer where the plan moves it from")
            continue
        final[sid, target] = Assignment(
            service=sid,
            host=target,
            zone=zone_of[target],
            cloud=cloud_of[zone_of[target]],
            moved_from=source,
        )
        steps.append(
            _step(estate, m.id or 0, final[sid, target], m.status == MoveStatus.provisioned)
        )
    if out:
        return out
    out = violations(estate.problem, list(final.values()))
    if not out:
        _, blocked = waves(estate.problem, estate.load, steps)
        out = [why for _, why in blocked]
    return out


def _left_reason(estate: Estate, workload_id: int) -> str:
    """Why a workload is no longer movable: its `left_in_place` line ("name#id: reason")."""
    tag = f"#{workload_id}: "
    found = (line for line in estate.left_in_place if tag in line)
    return next(found, f"of workload {workload_id} is gone")
