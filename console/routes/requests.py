"""Resource requests and their placement plans: submit, review, approve, provision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request

from console.deps import AdminDep, Id, PageDep, SessionDep, SettingsDep, ViewerDep, require
from console.one_hop import OneHopRoute, on_loop
from inventory.access import Viewer
from inventory.models import Decision, PlanPublic, RequestCreate, RequestPublic, RequestStatus, Role
from inventory.paging import Page
from scheduler import apply, views, workflow

router = APIRouter(route_class=OneHopRoute, tags=["requests"])

Requester = Annotated[Viewer, Depends(require(Role.department, Role.admin))]


@router.post(
    "/requests",
    response_model=RequestPublic,
    status_code=201,
    summary="Request resources; a placement plan is proposed at once",
)
def requests_create(
    body: RequestCreate, session: SessionDep, viewer: Requester, settings: SettingsDep
) -> RequestPublic:
    request = workflow.submit(
        session, viewer, body, time_limit=settings.placement_time_limit_seconds
    )
    session.commit()
    return views.request_public(session, request)


@router.get("/requests", response_model=Page[RequestPublic], summary="Requests, newest first")
@on_loop
def requests_list(
    session: SessionDep,
    viewer: ViewerDep,
    page: PageDep,
    status: Annotated[RequestStatus | None, Query()] = None,
    department: Annotated[
        str | None, Query(max_length=64, description="Department id or code (staff)")
    ] = None,
) -> Page[RequestPublic]:
    return views.list_requests(session, viewer, page, status, department)


@router.get("/requests/{request_id}", response_model=RequestPublic)
@on_loop
def requests_get(request_id: Id, session: SessionDep, viewer: ViewerDep) -> RequestPublic:
    return views.get_request(session, viewer, request_id)


@router.post(
    "/requests/{request_id}/replan",
    response_model=RequestPublic,
    summary="Propose a new plan for an open request",
)
def requests_replan(
    request_id: Id, session: SessionDep, viewer: Requester, settings: SettingsDep
) -> RequestPublic:
    workflow.replan(session, viewer, request_id, time_limit=settings.placement_time_limit_seconds)
    session.commit()
    return views.get_request(session, viewer, request_id)


@router.get("/plans/{plan_id}", response_model=PlanPublic)
@on_loop
def plans_get(plan_id: Id, session: SessionDep, viewer: ViewerDep) -> PlanPublic:
    return views.get_plan(session, viewer, plan_id)


def _apply_later(
    tasks: BackgroundTasks, http: Request, plan_id: int, viewer: Viewer, settings: SettingsDep
) -> None:
    # Persist the decision first, then provision after the response: clouds are slow.
    tasks.add_task(
        apply.apply_plan,
        http.app.state.engine,
        http.app.state.box,
        plan_id,
        actor=viewer.username,
        timeout=settings.adapter_timeout_seconds,
    )


@router.post(
    "/plans/{plan_id}/approve",
    response_model=PlanPublic,
    summary="Approve a proposed plan; provisioning starts after the response",
)
def plans_approve(
    plan_id: Id,
    body: Decision,
    session: SessionDep,
    viewer: AdminDep,
    tasks: BackgroundTasks,
    http: Request,
    settings: SettingsDep,
) -> PlanPublic:
    plan = workflow.decide(session, viewer, plan_id, approve=True, comment=body.comment)
    session.commit()
    _apply_later(tasks, http, plan_id, viewer, settings)
    return views.plan_public(session, plan)


@router.post("/plans/{plan_id}/reject", response_model=PlanPublic, summary="Reject, saying why")
def plans_reject(plan_id: Id, body: Decision, session: SessionDep, viewer: AdminDep) -> PlanPublic:
    plan = workflow.decide(session, viewer, plan_id, approve=False, comment=body.comment)
    session.commit()
    return views.plan_public(session, plan)


@router.post(
    "/plans/{plan_id}/retry",
    response_model=PlanPublic,
    summary="Provision again what failed in a partially applied plan",
)
def plans_retry(
    plan_id: Id,
    session: SessionDep,
    viewer: AdminDep,
    tasks: BackgroundTasks,
    http: Request,
    settings: SettingsDep,
) -> PlanPublic:
    plan = apply.retry(session, viewer, plan_id)
    session.commit()
    _apply_later(tasks, http, plan_id, viewer, settings)
    return views.plan_public(session, plan)
