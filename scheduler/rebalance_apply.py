"""Apply an approved rebalance plan, make-before-break, one move at a time.

For each move: provision the new replica on the target host (the move's idempotency key goes
with the create call, so a retry finds what an earlier try made), confirm through the
target cloud's own listing that it runs there and is active, and only then deprovision the
old replica. A move whose new replica did not come up keeps the old one and is `failed`; one
whose new replica runs but whose old one could not be removed, or must stay because its
service's rules still need it (scheduler.rebalance_safety: a move of the same service failed),
stays `provisioned`; either way the plan is `partial`, names what is not done, and a retry
carries on from there. Progress
is committed move by move: a crash loses at most the call in flight, and the leader's resume
job (scheduler.rebalance_resume) carries on a plan whose process died, from the same statuses.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters.base import ProvisionRequest
from adapters.service import adapter_for
from adapters.timeouts import call_with_timeout
from inventory import audit
from inventory.crypto import SecretBox
from inventory.db import session_scope
from inventory.models import (
    Cloud,
    Department,
    Host,
    HostState,
    ItemState,
    Plan,
    PlanStatus,
    Replica,
    Workload,
)
from inventory.models.requests import MoveStatus, PlanMove
from inventory.types import utcnow
from scheduler.from_inventory import PLACEABLE
from scheduler.rebalance import open_moves
from scheduler.rebalance_problem import live_load, schedulable
from scheduler.rebalance_safety import removal_breaks

log = logging.getLogger(__name__)
SHOWN = 5  # failures named in the plan's outcome


def apply_moves(
    engine: Engine, box: SecretBox, plan_id: int, *, actor: str, timeout: float
) -> PlanStatus:
    with session_scope(engine) as session:
        plan = session.get(Plan, plan_id)
        if plan is None or plan.status != PlanStatus.approved:
            return plan.status if plan else PlanStatus.rejected
        plan.status = PlanStatus.applying
        session.add(plan)
        todo = [(m.id or 0, m.workload_id, m.status) for m in open_moves(session, plan_id)]
    # Moves run in their stored order (rebalance_order): each target had room once the
    # moves before it were done. Each one checks its target's room again just before.
    confirmed: set[int] = set()
    waiting: dict[int, list[int]] = defaultdict(list)  # workload -> moves whose old one waits
    for move_id, workload_id, status in todo:
        if status != MoveStatus.provisioned:
            _provision(engine, box, move_id, timeout=timeout)
        if _confirmed(engine, box, move_id, timeout=timeout):
            confirmed.add(move_id)
            # This new replica may be what an earlier move's old one waited for. (A removal
            # never lets another one go: only a new replica running does.)
            waiting[workload_id] = [
                m
                for m in [*waiting[workload_id], move_id]
                if _remove_old(engine, box, m, confirmed, timeout=timeout)
            ]
    return _finish(engine, plan_id, actor=actor)


def _fail(move: PlanMove, error: str) -> None:
    move.status = MoveStatus.failed
    move.error = error[:2000]
    move.updated_at = utcnow()
    log.warning("move %s failed: %s", move.idempotency_key, move.error)


def _provision(engine: Engine, box: SecretBox, move_id: int, *, timeout: float) -> None:
    with session_scope(engine) as session:
        move = session.get(PlanMove, move_id)
        assert move is not None
        workload = session.get(Workload, move.workload_id)
        old = session.get(Replica, move.replica_id)
        host = session.get(Host, move.to_host_id)
        cloud = session.get(Cloud, move.cloud_id)
        assert workload is not None and old is not None and host is not None and cloud
        move.attempts += 1
        move.updated_at = utcnow()
        session.add(move)
        refusal = _refusal(session, move, workload, old, host, cloud)
        if refusal is not None:
            _fail(move, f"{refusal}; the old replica is kept")
            return
        department = session.get(Department, workload.department_id or 0)
        ask = ProvisionRequest(
            idempotency_key=move.idempotency_key,
            name=f"{workload.name}-rb{move.plan_id}-{move.position}",
            department=department.code if department else None,
            host=host.external_id,
            vcpus=workload.vcpus,
            memory_mb=workload.memory_mb,
            disk_gb=workload.disk_gb,
            gpus=workload.gpus,
            extra={"rebalance_plan": move.plan_id, "replaces": old.external_id},
        )
        try:
            adapter = adapter_for(cloud, box)
            made = call_with_timeout(
                lambda: adapter.provision(ask), timeout, f"provision on {cloud.name}"
            )
        except Exception as exc:  # any cloud failure is recorded on the move, never raised
            _fail(move, f"{type(exc).__name__}: {exc}; the old replica is kept")
            return
        move.status = MoveStatus.provisioned
        move.external_id = made.external_id
        move.error = None
        row = _new_replica(session, move) or Replica(
            workload_id=workload.id or 0,
            cloud_id=cloud.id or 0,
            external_id=made.external_id,
            name=ask.name,
            extra={"idempotency_key": move.idempotency_key},
        )
        # Made again after an earlier try was found missing: it is back.
        row.host_id, row.state, row.gone_at = host.id, ItemState.active, None
        session.add(row)


def _new_replica(session: Session, move: PlanMove) -> Replica | None:
    return session.execute(
        sa.select(Replica).where(
            col(Replica.cloud_id) == move.cloud_id, col(Replica.external_id) == move.external_id
        )
    ).scalar_one_or_none()


def _refusal(
    session: Session, move: PlanMove, workload: Workload, old: Replica, host: Host, cloud: Cloud
) -> str | None:
    """Why this move must not start now, judged on the inventory as it is at this moment."""
    if old.state != ItemState.active or old.host_id != move.from_host_id:
        return f"replica {old.name} no longer runs on the source host"
    if host.state != HostState.up or cloud.status not in PLACEABLE:
        return f"target host {host.name} is {host.state.value} (cloud {cloud.status.value})"
    load = live_load(session, [host], {cloud.id or 0: cloud.last_sync_at})[host.id or 0]
    demand = (workload.vcpus, workload.memory_mb, workload.disk_gb, workload.gpus)
    free = [c - u for c, u in zip(schedulable(host), load, strict=True)]
    if any(d > f for d, f in zip(demand, free, strict=True)):
        return f"target host {host.name} has no room now (free {free}, needs {list(demand)})"
    return None


def _confirmed(engine: Engine, box: SecretBox, move_id: int, *, timeout: float) -> bool:
    """The target cloud lists the new replica on the target host, active."""
    with session_scope(engine) as session:
        move = session.get(PlanMove, move_id)
        assert move is not None
        if move.status != MoveStatus.provisioned:
            return False
        # A live apply stamps each cloud call's start (scheduler.rebalance_resume).
        move.updated_at = utcnow()
        host = session.get(Host, move.to_host_id)
        cloud = session.get(Cloud, move.cloud_id)
        assert host is not None and cloud is not None
        try:
            adapter = adapter_for(cloud, box)
            snapshot = call_with_timeout(adapter.discover, timeout, f"list {cloud.name}")
        except Exception as exc:
            move.error = f"could not confirm the new replica runs: {exc}; the old one is kept"
            session.add(move)
            return False
        seen = next((r for r in snapshot.replicas if r.external_id == move.external_id), None)
        if seen is None:
            # Nothing of this move runs: it failed, and a retry makes it again by its key.
            _fail(move, f"{cloud.name} does not list the new replica; the old one is kept")
            session.add(move)
            lost = _new_replica(session, move)
            if lost is not None:
                lost.state, lost.gone_at = ItemState.gone, utcnow()
                session.add(lost)
            return False
        if seen.host != host.external_id or seen.state != ItemState.active:
            move.error = (
                f"new replica {move.external_id} is not active on {host.name} yet "
                f"({seen.state.value} on {seen.host}); the old one is kept"
            )
            session.add(move)
            return False
        return True


def _remove_old(
    engine: Engine, box: SecretBox, move_id: int, confirmed: set[int], *, timeout: float
) -> bool:
    """Remove the move's old replica unless its service's rules need it still (then it is
    kept, the move stays `provisioned` and says why, and True means it waits)."""
    with session_scope(engine) as session:
        move = session.get(PlanMove, move_id)
        assert move is not None
        old = session.get(Replica, move.replica_id)
        assert old is not None
        cloud = session.get(Cloud, old.cloud_id)
        assert cloud is not None
        move.updated_at = utcnow()
        session.add(move)
        if old.state != ItemState.gone:
            needed = removal_breaks(session, move, confirmed)
            if needed is not None:
                move.error = (
                    f"the new replica runs, but the old one ({old.name}) is kept: without it "
                    f"{needed}; it goes once the service's other moves are done (a retry)"
                )[:2000]
                return True
            try:
                adapter = adapter_for(cloud, box)
                call_with_timeout(
                    lambda: adapter.deprovision(old.external_id),
                    timeout,
                    f"deprovision on {cloud.name}",
                )
            except Exception as exc:
                move.error = (
                    f"the new replica runs, but removing the old one ({old.name}) failed: "
                    f"{type(exc).__name__}: {exc}; a retry removes it"
                )[:2000]
                return False
            # Gone now, not at the next sync: the inventory and the next plan see the move.
            old.state = ItemState.gone
            old.gone_at = utcnow()
            session.add(old)
        move.status = MoveStatus.moved
        move.error = None
        return False


def _finish(engine: Engine, plan_id: int, *, actor: str) -> PlanStatus:
    with session_scope(engine) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        left = open_moves(session, plan_id)
        states: dict[str, int] = defaultdict(int)
        for m in left:
            states[m.status.value] += 1
        named = [f"#{m.position}: {m.error or m.status.value}" for m in left[:SHOWN]]
        more = f"; and {len(left) - SHOWN} more" if len(left) > SHOWN else ""
        outcome = (
            f"{len(left)} move(s) not done: " + "; ".join(named) + more
            if left
            else "every move done"
        )
        plan.status = PlanStatus.partial if left else PlanStatus.applied
        plan.summary = {**plan.summary, "outcome": outcome}
        session.add(plan)
        audit.record(
            session,
            actor=actor,
            action=f"plan.{plan.status.value}",
            target_type="plan",
            target_id=plan_id,
            after={"kind": "rebalance", "not_done": dict(states)},
            detail=outcome[:2000],
        )
        return plan.status
