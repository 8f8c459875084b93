"""Requests and plans as their users see them, scoped to the viewer's department."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.access import Viewer
from inventory.errors import NotFound
from inventory.models import (
    Allocation,
    AllocationPublic,
    Cloud,
    Department,
    Host,
    Plan,
    PlanPublic,
    RequestPublic,
    RequestStatus,
    ResourceRequest,
    Role,
    User,
    Zone,
)
from inventory.models.requests import PlanKind
from inventory.paging import Page, PageParams, count, order_by
from scheduler.rebalance_moves import moves_public


def list_requests(
    session: Session, viewer: Viewer, page: PageParams, status: RequestStatus | None = None
) -> Page[RequestPublic]:
    query = sa.select(ResourceRequest)
    if viewer.is_department:
        query = query.where(col(ResourceRequest.department_id) == viewer.department_id)
    if status is not None:
        query = query.where(col(ResourceRequest.status) == status)
    newest = col(ResourceRequest.id).desc()
    sort = {"created_at": col(ResourceRequest.created_at), "status": col(ResourceRequest.status)}
    rows = list(
        session.execute(
            query.order_by(*order_by(page.sort, sort, newest)).offset(page.offset).limit(page.limit)
        ).scalars()
    )
    return Page(
        items=[request_public(session, r) for r in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def get_request(session: Session, viewer: Viewer, request_id: int) -> RequestPublic:
    request = session.get(ResourceRequest, request_id)
    if request is None or (viewer.is_department and request.department_id != viewer.department_id):
        raise NotFound(f"request {request_id} not found")
    return request_public(session, request)


def get_plan(session: Session, viewer: Viewer, plan_id: int) -> PlanPublic:
    plan = session.get(Plan, plan_id)
    if plan is not None and plan.kind == PlanKind.rebalance:
        # No department's: admins decide rebalance plans, managers read them.
        if viewer.role not in (Role.admin, Role.manager):
            raise NotFound(f"plan {plan_id} not found")
        return plan_public(session, plan)
    request = session.get(ResourceRequest, plan.request_id) if plan else None
    if (
        plan is None
        or request is None
        or (viewer.is_department and request.department_id != viewer.department_id)
    ):
        raise NotFound(f"plan {plan_id} not found")
    return plan_public(session, plan)


def request_public(session: Session, request: ResourceRequest) -> RequestPublic:
    department = session.get(Department, request.department_id)
    user = session.get(User, request.requested_by)
    plans = session.execute(
        sa.select(Plan).where(col(Plan.request_id) == request.id).order_by(col(Plan.id).desc())
    ).scalars()
    return RequestPublic.model_validate(
        {
            **{k: getattr(request, k) for k in RequestPublic.model_fields if hasattr(request, k)},
            "department": department.code if department else "?",
            "requested_by": user.username if user else "?",
            "plans": [plan_public(session, p) for p in plans],
        }
    )


def plan_public(session: Session, plan: Plan) -> PlanPublic:
    rows = session.execute(
        sa.select(Allocation, col(Host.name), col(Zone.name), col(Cloud.name))
        .join(Host, col(Host.id) == col(Allocation.host_id))
        .outerjoin(Zone, col(Zone.id) == col(Host.zone_id))
        .join(Cloud, col(Cloud.id) == col(Allocation.cloud_id))
        .where(col(Allocation.plan_id) == plan.id)
        .order_by(col(Allocation.replica_index))
    ).all()
    allocations = [
        AllocationPublic(
            id=a.id or 0,
            replica_index=a.replica_index,
            host=host,
            zone=zone,
            cloud=cloud,
            status=a.status,
            external_id=a.external_id,
            error=a.error,
            attempts=a.attempts,
        )
        for a, host, zone, cloud in rows
    ]
    return PlanPublic.model_validate(
        {
            **{k: getattr(plan, k) for k in PlanPublic.model_fields if hasattr(plan, k)},
            "allocations": allocations,
            "moves": moves_public(session, plan.id or 0) if plan.kind == PlanKind.rebalance else [],
        }
    )
