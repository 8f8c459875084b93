"""Requests and plans as their users see them, scoped to the viewer's department."""

from __future__ import annotations

from collections.abc import Sequence
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
    # Core rows, not ORM objects: this list is on the API's hot path (same fields either way).
    query = sa.select(*table_columns(ResourceRequest))
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


def requests_public(
    session: Session, requests: Sequence[ResourceRequest] | Sequence[dict[str, Any]]
) -> list[RequestPublic]:
    """Public views of many requests in four queries, whatever their number (one per
    request and plan would be some 200 for a page of 50). The requests may be models or
    dicts of their columns; plans, names and allocations are read as dicts of core rows,
    and each request is validated once with its plans and allocations nested as dicts (the
    list is on the API's hot path: ORM objects, then nested model constructors, were most
    of its cost)."""
    if not requests:
        return []
    items = [r if isinstance(r, dict) else r.model_dump() for r in requests]
    departments = _names(
        session, col(Department.id), col(Department.code), {i["department_id"] for i in items}
    )
    users = _names(session, col(User.id), col(User.username), {i["requested_by"] for i in items})
    plans: dict[int, list[dict[str, Any]]] = {}
    for plan in row_dicts(
        core_execute(
            session,
            sa.select(*_PLAN_COLUMNS)
            .where(col(Plan.request_id).in_([i["id"] for i in items]))
            .order_by(col(Plan.id).desc()),
        )
    ):
        plans.setdefault(plan["request_id"] or 0, []).append(plan)
    allocations = _allocations(session, [p["id"] for ps in plans.values() for p in ps])
    out = []
    for item in items:
        fields = {
            **item,  # the model ignores the columns it does not show
            "department": departments.get(item["department_id"], "?"),
            "requested_by": users.get(item["requested_by"], "?"),
            "plans": [
                _plan_fields(session, p, allocations.get(p["id"], []))
                for p in plans.get(item["id"], [])
            ],
        }
        out.append(RequestPublic.model_validate(fields))
    return out


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


def _names(session: Session, id_column: Any, name_column: Any, ids: set[int]) -> dict[int, str]:
    """id -> name (department code, username) for the given ids."""
    rows = core_execute(session, sa.select(id_column, name_column).where(id_column.in_(ids)))
    return {row_id: name for row_id, name in rows.all()}


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
