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
        items=requests_public(session, rows),
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
    return requests_public(session, [request])[0]


def requests_public(session: Session, requests: list[ResourceRequest]) -> list[RequestPublic]:
    """Public views of many requests in four queries, whatever their number (one per
    request and plan would be some 200 for a page of 50)."""
    if not requests:
        return []
    departments = _by_id(session, Department, {r.department_id for r in requests})
    users = _by_id(session, User, {r.requested_by for r in requests})
    plans: dict[int, list[Plan]] = {}
    for plan in session.execute(
        sa.select(Plan)
        .where(col(Plan.request_id).in_([r.id for r in requests]))
        .order_by(col(Plan.id).desc())
    ).scalars():
        plans.setdefault(plan.request_id or 0, []).append(plan)
    allocations = _allocations(session, [p.id or 0 for ps in plans.values() for p in ps])
    out = []
    for request in requests:
        department = departments.get(request.department_id)
        user = users.get(request.requested_by)
        fields = {k: getattr(request, k) for k in RequestPublic.model_fields if hasattr(request, k)}
        out.append(
            RequestPublic.model_validate(
                {
                    **fields,
                    "department": department.code if isinstance(department, Department) else "?",
                    "requested_by": user.username if isinstance(user, User) else "?",
                    "plans": [
                        _plan_public(session, p, allocations.get(p.id or 0, []))
                        for p in plans.get(request.id or 0, [])
                    ],
                }
            )
        )
    return out


def plan_public(session: Session, plan: Plan) -> PlanPublic:
    return _plan_public(session, plan, _allocations(session, [plan.id or 0]).get(plan.id or 0, []))


def _plan_public(session: Session, plan: Plan, allocations: list[AllocationPublic]) -> PlanPublic:
    return PlanPublic.model_validate(
        {
            **{k: getattr(plan, k) for k in PlanPublic.model_fields if hasattr(plan, k)},
            "allocations": allocations,
            "moves": moves_public(session, plan.id or 0) if plan.kind == PlanKind.rebalance else [],
        }
    )


def _by_id(
    session: Session, model: type[Department] | type[User], ids: set[int]
) -> dict[int, object]:
    rows = session.execute(sa.select(model).where(col(model.id).in_(ids))).scalars()
    return {row.id or 0: row for row in rows}


def _allocations(session: Session, plan_ids: list[int]) -> dict[int, list[AllocationPublic]]:
    """Each plan's allocations with host, zone and cloud names, in replica order."""
    if not plan_ids:
        return {}
    rows = session.execute(
        sa.select(Allocation, col(Host.name), col(Zone.name), col(Cloud.name))
        .join(Host, col(Host.id) == col(Allocation.host_id))
        .outerjoin(Zone, col(Zone.id) == col(Host.zone_id))
        .join(Cloud, col(Cloud.id) == col(Allocation.cloud_id))
        .where(col(Allocation.plan_id).in_(plan_ids))
        .order_by(col(Allocation.plan_id), col(Allocation.replica_index))
    ).all()
    out: dict[int, list[AllocationPublic]] = {}
    for a, host, zone, cloud in rows:
        out.setdefault(a.plan_id, []).append(
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
        )
    return out
