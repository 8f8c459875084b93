"""Provision an approved plan through the adapters, one allocation at a time (a rebalance
plan's moves go to scheduler.rebalance_apply).

Each allocation carries an idempotency key that goes to the cloud with the create call, so
a retry or a restart finds what an earlier try made instead of making it twice. Progress is
committed allocation by allocation: a crash loses at most the call in flight, and that call
is found again by its key.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters.base import ProvisionRequest
from adapters.service import adapter_for
from adapters.timeouts import call_with_timeout
from inventory import audit
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.db import session_scope
from inventory.errors import Conflict, NotFound
from inventory.models import (
    Allocation,
    AllocationStatus,
    Cloud,
    Department,
    Host,
    ItemState,
    Plan,
    PlanStatus,
    Replica,
    RequestStatus,
    ResourceRequest,
    Role,
    Workload,
)
from inventory.models.requests import PlanKind
from inventory.types import utcnow
from scheduler import rebalance, rebalance_apply

log = logging.getLogger(__name__)


def retry(session: Session, viewer: Viewer, plan_id: int) -> Plan:
    """Mark a partially applied (or interrupted) plan for another apply of what failed."""
    viewer.require(Role.admin)
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound.of("plan.not_found", plan=plan_id)
    if plan.kind == PlanKind.rebalance:
        return rebalance.retry(session, viewer, plan)
    if plan.status not in (PlanStatus.partial, PlanStatus.applying):
        raise Conflict.of("plan.not_partial", plan=plan_id, status=plan.status.value)
    plan.status = PlanStatus.approved
    session.add(plan)
    # Stamp what is left to do: the leader's resume job (scheduler.resume) takes only plans
    # with no progress for a while, so it leaves this retry's apply alone.
    session.execute(
        sa.update(Allocation)
        .where(
            col(Allocation.plan_id) == plan_id,
            col(Allocation.status) != AllocationStatus.provisioned,
        )
        .values(updated_at=utcnow())
    )
    audit.record(
        session, actor=viewer.username, action="plan.retry", target_type="plan", target_id=plan_id
    )
    return plan


def apply_plan(
    engine: Engine, box: SecretBox, plan_id: int, *, actor: str, timeout: float
) -> PlanStatus:
    with session_scope(engine) as session:
        plan = session.get(Plan, plan_id)
        kind = plan.kind if plan else None
    if kind == PlanKind.rebalance:
        return rebalance_apply.apply_moves(engine, box, plan_id, actor=actor, timeout=timeout)
    with session_scope(engine) as session:
        plan = session.get(Plan, plan_id)
        if plan is None or plan.status != PlanStatus.approved:
            return plan.status if plan else PlanStatus.rejected
        plan.status = PlanStatus.applying
        session.add(plan)
        request = session.get(ResourceRequest, plan.request_id)
        assert request is not None
        _managed_workload(session, request)
        todo = list(
            session.execute(
                sa.select(col(Allocation.id)).where(
                    col(Allocation.plan_id) == plan_id,
                    col(Allocation.status) != AllocationStatus.provisioned,
                )
            ).scalars()
        )
    for allocation_id in todo:
        _provision_one(engine, box, allocation_id, timeout=timeout)
    return _finish(engine, plan_id, actor=actor)


def _managed_workload(session: Session, request: ResourceRequest) -> Workload:
    """The Yunheng service the request becomes: spans clouds, so it has no cloud of its own."""
    if request.workload_id is not None:
        found = session.get(Workload, request.workload_id)
        if found is not None:
            return found
    workload = Workload(
        name=request.service_name,
        kind="service",
        department_id=request.department_id,
        replicas_desired=request.replicas,
        vcpus=request.vcpus,
        memory_mb=request.memory_mb,
        disk_gb=request.disk_gb,
        gpus=request.gpus,
        sla_target=request.sla_target,
        security_level=request.security_level,
        extra={"request_id": request.id, "managed_by": "yunheng"},
    )
    session.add(workload)
    session.flush()
    request.workload_id = workload.id
    session.add(request)
    return workload


def _provision_one(engine: Engine, box: SecretBox, allocation_id: int, *, timeout: float) -> None:
    with session_scope(engine) as session:
        allocation = session.get(Allocation, allocation_id)
        assert allocation is not None
        plan = session.get(Plan, allocation.plan_id)
        request = session.get(ResourceRequest, plan.request_id) if plan else None
        host = session.get(Host, allocation.host_id)
        cloud = session.get(Cloud, allocation.cloud_id)
        assert request is not None and host is not None and cloud is not None
        department = session.get(Department, request.department_id)
        ask = ProvisionRequest(
            idempotency_key=allocation.idempotency_key,
            name=f"{request.service_name}-{allocation.replica_index}",
            department=department.code if department else None,
            host=host.external_id,
            vcpus=request.vcpus,
            memory_mb=request.memory_mb,
            disk_gb=request.disk_gb,
            gpus=request.gpus,
            extra={"request_id": request.id},
        )
        allocation.attempts += 1
        allocation.updated_at = utcnow()
        try:
            adapter = adapter_for(cloud, box)
            made = call_with_timeout(
                lambda: adapter.provision(ask), timeout, f"provision on {cloud.name}"
            )
        except Exception as exc:  # any cloud failure is recorded on the allocation, never raised
            allocation.status = AllocationStatus.failed
            allocation.error = f"{type(exc).__name__}: {exc}"[:2000]
            session.add(allocation)
            log.warning("allocation %s failed: %s", allocation.idempotency_key, allocation.error)
            return
        allocation.status = AllocationStatus.provisioned
        allocation.external_id = made.external_id
        allocation.error = None
        session.add(allocation)
        exists = session.execute(
            sa.select(col(Replica.id)).where(
                col(Replica.cloud_id) == cloud.id, col(Replica.external_id) == made.external_id
            )
        ).first()
        if exists is None and request.workload_id is not None:
            session.add(
                Replica(
                    workload_id=request.workload_id,
                    cloud_id=cloud.id or 0,
                    host_id=host.id,
                    external_id=made.external_id,
                    name=ask.name,
                    state=ItemState.active,
                    extra={"idempotency_key": allocation.idempotency_key},
                )
            )


def _finish(engine: Engine, plan_id: int, *, actor: str) -> PlanStatus:
    with session_scope(engine) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        request = session.get(ResourceRequest, plan.request_id)
        assert request is not None
        failed = list(
            session.execute(
                sa.select(Allocation).where(
                    col(Allocation.plan_id) == plan_id,
                    col(Allocation.status) != AllocationStatus.provisioned,
                )
            ).scalars()
        )
        if failed:
            plan.status = PlanStatus.partial
            request.status = RequestStatus.partial
            request.reason = f"{len(failed)} replica(s) not provisioned: " + "; ".join(
                f"#{a.replica_index}: {a.error}" for a in failed[:5]
            )
        else:
            plan.status = PlanStatus.applied
            request.status = RequestStatus.fulfilled
            request.reason = None
            request.fulfilled_at = request.fulfilled_at or utcnow()
        request.updated_at = utcnow()
        session.add(plan)
        session.add(request)
        audit.record(
            session,
            actor=actor,
            action=f"plan.{plan.status.value}",
            target_type="plan",
            target_id=plan_id,
            after={"failed": len(failed), "request": request.id},
        )
        return plan.status
