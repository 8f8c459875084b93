"""Request -> plan -> approve or reject: each step persisted and audited.

Provisioning an approved plan is scheduler.apply; reading requests back is scheduler.views.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory import audit
from inventory.access import Viewer
from inventory.departments import limits, usage
from inventory.errors import Conflict, Invalid, NotFound
from inventory.models import (
    Allocation,
    AllocationStatus,
    Department,
    Plan,
    PlanStatus,
    RequestCreate,
    RequestStatus,
    Resource,
    ResourceRequest,
    Role,
)
from inventory.models.requests import PlanKind
from inventory.types import utcnow
from scheduler import rebalance
from scheduler.from_inventory import problem_for
from scheduler.solver import solve


def submit(
    session: Session, viewer: Viewer, data: RequestCreate, *, time_limit: float
) -> ResourceRequest:
    """Validate, quota-check, persist, and propose a plan at once."""
    viewer.require(Role.department, Role.admin)
    if viewer.role == Role.department:
        if data.department_id not in (None, viewer.department_id):
            raise Invalid.of("request.own_department", field="department_id")
        department_id = viewer.department_id
    else:
        if data.department_id is None:
            raise Invalid.of("request.name_department", field="department_id")
        department_id = data.department_id
    department = session.get(Department, department_id) if department_id else None
    if department is None:
        raise Invalid.of("department.missing", field="department_id", department=department_id)
    _check_quota(session, department, data)
    request = ResourceRequest(
        **data.model_dump(exclude={"department_id"}),
        department_id=department.id or 0,
        requested_by=viewer.user_id or 0,
        status=RequestStatus.planned,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="request.create",
        target_type="request",
        target_id=request.id,
        after=audit.state_of(request),
    )
    propose(session, viewer, request, time_limit=time_limit)
    return request


def _check_quota(session: Session, department: Department, data: RequestCreate) -> None:
    """A field-level answer before any solving: which quota, how much is left."""
    quota = limits(session, department.id or 0)
    used = usage(session, [department.id or 0])[department.id or 0]
    asked = {
        Resource.vcpus: data.vcpus * data.replicas,
        Resource.memory_mb: data.memory_mb * data.replicas,
        Resource.disk_gb: data.disk_gb * data.replicas,
        Resource.gpus: data.gpus * data.replicas,
        Resource.instances: data.replicas,
    }
    for resource, amount in asked.items():
        limit = quota.get(resource)
        if limit is not None and used[resource] + amount > limit:
            field = "replicas" if resource == Resource.instances else resource.value
            raise Invalid.of(
                "quota.over",
                field=field,
                department=department.code,
                resource=resource.value,
                limit=limit,
                used=used[resource],
                needs=amount,
                left=max(0, limit - used[resource]),  # a quota lowered below use: none
            )


def propose(
    session: Session, viewer: Viewer, request: ResourceRequest, *, time_limit: float
) -> Plan | None:
    """Solve for the request; store the plan (superseding older proposals) or say why not."""
    for old in session.execute(
        sa.select(Plan).where(
            col(Plan.request_id) == request.id, col(Plan.status) == PlanStatus.proposed
        )
    ).scalars():
        old.status = PlanStatus.superseded
        session.add(old)
    problem, targets = problem_for(session, request)
    result = solve(problem, time_limit=time_limit)
    request.updated_at = utcnow()
    if result.status not in ("optimal", "feasible"):
        request.status = RequestStatus.unplaceable
        request.reason = "; ".join(result.conflicts) or "no plan found"
        session.add(request)
        audit.record(
            session,
            actor=viewer.username,
            action="request.unplaceable",
            target_type="request",
            target_id=request.id,
            detail=request.reason,
        )
        return None
    availability = min((s.predicted_availability for s in result.services), default=None)
    plan = Plan(
        request_id=request.id or 0,
        status=PlanStatus.proposed,
        solver=result.solver,
        result=result.model_dump(mode="json"),
        cost_per_hour=result.objective.cost_per_hour if result.objective else 0.0,
        predicted_availability=availability,
    )
    session.add(plan)
    session.flush()
    for i, assignment in enumerate(result.assignments):
        host = targets.hosts[assignment.host]
        session.add(
            Allocation(
                plan_id=plan.id or 0,
                replica_index=i,
                host_id=host.id or 0,
                cloud_id=host.cloud_id,
                idempotency_key=f"yh-r{request.id}-p{plan.id}-{i}",
                status=AllocationStatus.pending,
            )
        )
    request.status = RequestStatus.planned
    request.reason = None
    session.add(request)
    audit.record(
        session,
        actor=viewer.username,
        action="plan.propose",
        target_type="plan",
        target_id=plan.id,
        after={"request": request.id, "solver": plan.solver, "cost_per_hour": plan.cost_per_hour},
    )
    return plan


def replan(session: Session, viewer: Viewer, request_id: int, *, time_limit: float) -> Plan | None:
    """Propose again (the estate changed, or the last attempt was unplaceable)."""
    request = _request(session, viewer, request_id)
    if request.status not in (RequestStatus.planned, RequestStatus.unplaceable):
        raise Conflict.of("request.not_open", request=request_id, status=request.status.value)
    return propose(session, viewer, request, time_limit=time_limit)


def decide(
    session: Session, viewer: Viewer, plan_id: int, *, approve: bool, comment: str | None
) -> Plan:
    viewer.require(Role.admin)
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound.of("plan.not_found", plan=plan_id)
    if plan.kind == PlanKind.rebalance:
        return rebalance.decide(session, viewer, plan_id, approve=approve, comment=comment)
    if plan.status != PlanStatus.proposed:
        raise Conflict.of("plan.not_proposed", plan=plan_id, status=plan.status.value)
    request = session.get(ResourceRequest, plan.request_id)
    assert request is not None
    if not approve and not comment:
        raise Invalid.of("plan.reject_reason", field="comment")
    plan.status = PlanStatus.approved if approve else PlanStatus.rejected
    plan.comment = comment
    plan.decided_by = viewer.username
    plan.decided_at = utcnow()
    request.status = RequestStatus.approved if approve else RequestStatus.rejected
    request.reason = None if approve else f"rejected by {viewer.username}: {comment}"
    request.updated_at = utcnow()
    session.add(plan)
    session.add(request)
    audit.record(
        session,
        actor=viewer.username,
        action="plan.approve" if approve else "plan.reject",
        target_type="plan",
        target_id=plan_id,
        before={"status": "proposed"},
        after={"status": plan.status.value, "comment": comment, "request": request.id},
    )
    return plan


def _request(session: Session, viewer: Viewer, request_id: int) -> ResourceRequest:
    request = session.get(ResourceRequest, request_id)
    if request is None or (viewer.is_department and request.department_id != viewer.department_id):
        raise NotFound.of("request.not_found", request=request_id)
    return request
