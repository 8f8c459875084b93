"""Requests and plans as their users see them, scoped to the viewer's department."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col

from inventory.access import Viewer
from inventory.errors import NotFound
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
from inventory.paging import Page, PageParams, core_execute, count, order_by, table_columns
from scheduler.rebalance_moves import moves_public


def list_requests(
    session: Session, viewer: Viewer, page: PageParams, status: RequestStatus | None = None
) -> Page[RequestPublic]:
    # Core rows, not ORM objects: this list is on the API's hot path (same fields either way).
    query = sa.select(*table_columns(ResourceRequest))
    if viewer.is_department:
        query = query.where(col(ResourceRequest.department_id) == viewer.department_id)
    if status is not None:
        query = query.where(col(ResourceRequest.status) == status)
    newest = col(ResourceRequest.id).desc()
    sort = {"created_at": col(ResourceRequest.created_at), "status": col(ResourceRequest.status)}
    rows = core_execute(
        session,
        query.order_by(*order_by(page.sort, sort, newest)).offset(page.offset).limit(page.limit),
    ).all()
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
    session: Session, requests: Sequence[ResourceRequest] | Sequence[sa.Row[Any]]
) -> list[RequestPublic]:
    """Public views of many requests in four queries, whatever their number (one per
    request and plan would be some 200 for a page of 50). The requests may be models or
    core rows of their columns; plans, names and allocations are read as core rows, and
    each request is validated once with its plans and allocations as plain dicts (the list
    is on the API's hot path: ORM objects, then nested model constructors, were most of
    its cost)."""
    if not requests:
        return []
    departments = _names(
        session, col(Department.id), col(Department.code), requests, "department_id"
    )
    users = _names(session, col(User.id), col(User.username), requests, "requested_by")
    plans: dict[int, list[sa.Row[Any]]] = {}
    for plan in core_execute(
        session,
        sa.select(*_PLAN_COLUMNS)
        .where(col(Plan.request_id).in_([r.id for r in requests]))
        .order_by(col(Plan.id).desc()),
    ).all():
        plans.setdefault(plan.request_id or 0, []).append(plan)
    allocations = _allocations(session, [p.id or 0 for ps in plans.values() for p in ps])
    out = []
    for request in requests:
        fields = _fields_of(request, RequestPublic)
        fields["department"] = departments.get(request.department_id, "?")
        fields["requested_by"] = users.get(request.requested_by, "?")
        fields["plans"] = [
            _plan_fields(session, p, allocations.get(p.id or 0, []))
            for p in plans.get(request.id or 0, [])
        ]
        out.append(RequestPublic.model_validate(fields))
    return out


# The plan columns a PlanPublic shows (allocations and moves come from their own tables).
_PLAN_COLUMNS = [c for c in table_columns(Plan) if c.key in PlanPublic.model_fields]


def _fields_of(item: Any, model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s fields that `item` (a table model or a core row of its columns) has. A
    row gives all its columns: the model ignores the ones it does not show."""
    if isinstance(item, sa.Row):
        return item._asdict()
    return {k: getattr(item, k) for k in model.model_fields if hasattr(item, k)}


def plan_public(session: Session, plan: Plan) -> PlanPublic:
    allocations = _allocations(session, [plan.id or 0]).get(plan.id or 0, [])
    return PlanPublic.model_validate(_plan_fields(session, plan, allocations))


def _plan_fields(
    session: Session, plan: Plan | sa.Row[Any], allocations: list[dict[str, Any]]
) -> dict[str, Any]:
    fields = _fields_of(plan, PlanPublic)
    fields["allocations"] = allocations
    fields["moves"] = moves_public(session, plan.id or 0) if plan.kind == PlanKind.rebalance else []
    return fields


def _names(
    session: Session,
    id_column: Any,
    name_column: Any,
    requests: Sequence[ResourceRequest] | Sequence[sa.Row[Any]],
    key: str,
) -> dict[int, str]:
    """id -> name (department code, username) for the ids the requests refer to by `key`."""
    ids = {getattr(r, key) for r in requests}
    rows = core_execute(session, sa.select(id_column, name_column).where(id_column.in_(ids)))
    return {row_id: name for row_id, name in rows}


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
    ).all()
    out: dict[int, list[dict[str, Any]]] = {}
    for a in rows:
        out.setdefault(a.plan_id, []).append(a._asdict())  # plan_id: ignored by the model
    return out
