"""Rebalance plans as cloud admins and managers read them, with their moves."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.access import Viewer
from inventory.errors import NotFound
from inventory.models import Plan, PlanPublic, PlanStatus, Role
from inventory.models.requests import PlanKind
from inventory.paging import Page, PageParams, count, order_by
from scheduler import views

READERS = (Role.admin, Role.manager)


def list_plans(
    session: Session, viewer: Viewer, page: PageParams, status: PlanStatus | None = None
) -> Page[PlanPublic]:
    viewer.require(*READERS)
    query = sa.select(Plan).where(col(Plan.kind) == PlanKind.rebalance)
    if status is not None:
        query = query.where(col(Plan.status) == status)
    sort = {"created_at": col(Plan.created_at), "status": col(Plan.status)}
    rows = session.execute(
        query.order_by(*order_by(page.sort, sort, col(Plan.id).desc()))
        .offset(page.offset)
        .limit(page.limit)
    ).scalars()
    return Page(
        items=[views.plan_public(session, p) for p in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def get_plan(session: Session, viewer: Viewer, plan_id: int) -> PlanPublic:
    viewer.require(*READERS)
    plan = session.get(Plan, plan_id)
    if plan is None or plan.kind != PlanKind.rebalance:
        raise NotFound.of("rebalance.not_found", plan=plan_id)
    return views.plan_public(session, plan)
