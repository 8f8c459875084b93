"""Requests and plans as their users see them, scoped to the viewer's department."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.access import Viewer
from inventory.errors import NotFound
from inventory.estate import department_id
from inventory.models import (
    Allocation,
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
from inventory.paging import (
    AnySelect,
    Page,
    PageParams,
    core_execute,
    count,
    order_by,
    row_dicts,
    table_columns,
)
from scheduler.rebalance_moves import moves_public


def list_requests(
    session: Session,
    viewer: Viewer,
    page: PageParams,
    status: RequestStatus | None = None,
    department: str | None = None,
) -> Page[RequestPublic]:
    """Newest first. `department` (id or code) narrows staff's list; a department user sees
    only their own and naming another is a 403 (inventory.estate.department_id, the rule
    every list follows)."""
    query = _request_query()
    scope = department_id(session, viewer, department)
    if scope is not None:
        query = query.where(col(ResourceRequest.department_id) == scope)
    if status is not None:
        query = query.where(col(ResourceRequest.status) == status)
    newest = col(ResourceRequest.id).desc()
    sort = {"created_at": col(ResourceRequest.created_at), "status": col(ResourceRequest.status)}
    rows = row_dicts(
        core_execute(
            session,
            query.order_by(*order_by(page.sort, sort, newest))
            .offset(page.offset)
            .limit(page.limit),
        )
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
        raise NotFound.of("request.not_found", request=request_id)
    return request_public(session, request)


def get_plan(session: Session, viewer: Viewer, plan_id: int) -> PlanPublic:
    plan = session.get(Plan, plan_id)
    if plan is not None and plan.kind == PlanKind.rebalance:
        # No department's: admins decide rebalance plans, managers read them.
        if viewer.role not in (Role.admin, Role.manager):
            raise NotFound.of("plan.not_found", plan=plan_id)
        return plan_public(session, plan)
    request = session.get(ResourceRequest, plan.request_id) if plan else None
    if (
        plan is None
        or request is None
        or (viewer.is_department and request.department_id != viewer.department_id)
    ):
        raise NotFound.of("plan.not_found", plan=plan_id)
    return plan_public(session, plan)


def request_public(session: Session, request: ResourceRequest) -> RequestPublic:
    rows = core_execute(session, _request_query().where(col(ResourceRequest.id) == request.id))
    return requests_public(session, row_dicts(rows))[0]


def _request_query() -> AnySelect:
    """Requests as core rows (the list is on the API's hot path: loading ORM objects was
    most of its cost) with the department's code and the requester's name joined in as
    `department` and `requested_by`, the names RequestPublic shows them under."""
    columns = [c for c in table_columns(ResourceRequest) if c.key != "requested_by"]
    return (
        sa.select(
            *columns,
            col(Department.code).label("department"),
            sa.func.coalesce(col(User.username), "?").label("requested_by"),
        )
        .join(Department, col(Department.id) == col(ResourceRequest.department_id))
        .outerjoin(User, col(User.id) == col(ResourceRequest.requested_by))
    )


def requests_public(session: Session, requests: list[dict[str, Any]]) -> list[RequestPublic]:
    """Public views of many requests (rows of _request_query) in two more queries, whatever
    their number (one per request and plan would be some 200 for a page of 50): plans and
    allocations are read as core rows, and each request is validated once with them nested
    as dicts (nested model constructors were a large share of the list's cost)."""
    if not requests:
        return []
    plans: dict[int, list[dict[str, Any]]] = {}
    for plan in row_dicts(
        core_execute(
            session,
            sa.select(*_PLAN_COLUMNS)
            .where(col(Plan.request_id).in_([r["id"] for r in requests]))
            .order_by(col(Plan.id).desc()),
        )
    ):
        plans.setdefault(plan["request_id"] or 0, []).append(plan)
    allocations = _allocations(session, [p["id"] for ps in plans.values() for p in ps])
    return [
        RequestPublic.model_validate(
            {
                **request,  # the model ignores the columns it does not show
                "plans": [
                    _plan_fields(session, p, allocations.get(p["id"], []))
                    for p in plans.get(request["id"], [])
                ],
            }
        )
        for request in requests
    ]


# The plan columns a PlanPublic shows (allocations and moves come from their own tables).
_PLAN_COLUMNS = [c for c in table_columns(Plan) if c.key in PlanPublic.model_fields]


def plan_public(session: Session, plan: Plan) -> PlanPublic:
    allocations = _allocations(session, [plan.id or 0]).get(plan.id or 0, [])
    return PlanPublic.model_validate(_plan_fields(session, plan.model_dump(), allocations))


def _plan_fields(
    session: Session, plan: dict[str, Any], allocations: list[dict[str, Any]]
) -> dict[str, Any]:
    moves = moves_public(session, plan["id"]) if plan["kind"] == PlanKind.rebalance else []
    return {**plan, "allocations": allocations, "moves": moves}


def _allocations(session: Session, plan_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each plan's allocations (AllocationPublic's fields) with host, zone and cloud
    names, in replica order."""
    if not plan_ids:
        return {}
    rows = core_execute(
        session,
        sa.select(
            col(Allocation.id),
            col(Allocation.plan_id),
            col(Allocation.replica_index),
            col(Allocation.status),
            col(Allocation.external_id),
            col(Allocation.error),
            col(Allocation.attempts),
            col(Host.name).label("host"),
            col(Zone.name).label("zone"),
            col(Cloud.name).label("cloud"),
        )
        .join(Host, col(Host.id) == col(Allocation.host_id))
        .outerjoin(Zone, col(Zone.id) == col(Host.zone_id))
        .join(Cloud, col(Cloud.id) == col(Allocation.cloud_id))
        .where(col(Allocation.plan_id).in_(plan_ids))
        .order_by(col(Allocation.plan_id), col(Allocation.replica_index)),
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for a in row_dicts(rows):
        out.setdefault(a["plan_id"], []).append(a)  # plan_id: ignored by the model
    return out
