"""Users and the audit log (administration)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from sqlmodel import col

from console.deps import AdminDep, Id, PageDep, SessionDep, require
from console.one_hop import OneHopRoute
from inventory import accounts
from inventory.access import Viewer
from inventory.models import AuditEvent, AuditEventPublic, Role, UserCreate, UserPublic, UserUpdate
from inventory.paging import Page, count, order_by

router = APIRouter(route_class=OneHopRoute, tags=["administration"])


@router.get("/users", response_model=Page[UserPublic])
def users_list(session: SessionDep, viewer: AdminDep, page: PageDep) -> Page[UserPublic]:
    return accounts.list_users(session, viewer, page)


@router.post("/users", response_model=UserPublic, status_code=201)
def users_create(body: UserCreate, session: SessionDep, viewer: AdminDep) -> UserPublic:
    user = accounts.create_user(session, viewer, body)
    session.commit()
    return accounts.user_public(session, user)


@router.patch("/users/{user_id}", response_model=UserPublic)
def users_update(
    user_id: Id, body: UserUpdate, session: SessionDep, viewer: AdminDep
) -> UserPublic:
    user = accounts.update_user(session, viewer, user_id, body)
    session.commit()
    return accounts.user_public(session, user)


AuditReader = Annotated[Viewer, Depends(require(Role.admin, Role.manager))]


@router.get(
    "/audit",
    response_model=Page[AuditEventPublic],
    summary="The append-only audit log, newest first",
)
def audit_list(
    session: SessionDep,
    viewer: AuditReader,
    page: PageDep,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="Exact, or a prefix ending in '.' (cloud.)")
    ] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: AwareDatetime | None = None,  # a naive time is ambiguous: 422, not 500
) -> Page[AuditEventPublic]:
    query = sa.select(AuditEvent)
    if actor:
        query = query.where(col(AuditEvent.actor) == actor)
    if action:
        query = query.where(
            col(AuditEvent.action).startswith(action)
            if action.endswith(".")
            else col(AuditEvent.action) == action
        )
    if target_type:
        query = query.where(col(AuditEvent.target_type) == target_type)
    if target_id:
        query = query.where(col(AuditEvent.target_id) == target_id)
    if since:
        query = query.where(col(AuditEvent.at) >= since)
    newest = col(AuditEvent.id).desc()
    rows = session.execute(
        query.order_by(*order_by(page.sort, {"at": col(AuditEvent.at)}, newest))
        .offset(page.offset)
        .limit(page.limit)
    ).scalars()
    return Page(
        items=[AuditEventPublic.model_validate(r.model_dump()) for r in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )
