"""Rebalance plans: propose moves that free hosts or cut cost, approve, apply, retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request

from console.deps import AdminDep, Id, PageDep, SessionDep, SettingsDep, require
from inventory.access import Viewer
from inventory.models import Decision, PlanPublic, PlanStatus, Role
from inventory.models.requests import RebalanceCreate, RebalanceOutcome
from inventory.paging import Page
from scheduler import apply, rebalance, rebalance_views, views

router = APIRouter(tags=["rebalance"])

Reader = Annotated[Viewer, Depends(require(Role.admin, Role.manager))]


@router.post(
    "/rebalance",
    response_model=RebalanceOutcome,
    summary="Propose moves of Yunheng-managed replicas within a migration budget",
    description="Solves at once. `proposed` is false, with the `reason`, when no plan saves "
    "hosts or cost; then nothing is stored.",
)
def rebalance_propose(
    body: RebalanceCreate, session: SessionDep, viewer: AdminDep, settings: SettingsDep
) -> RebalanceOutcome:
    proposal = rebalance.propose(
        session, viewer, body, time_limit=settings.placement_time_limit_seconds
    )
    session.commit()
    return RebalanceOutcome(
        proposed=proposal.plan is not None,
        reason=proposal.reason,
        summary=proposal.summary,
        plan=views.plan_public(session, proposal.plan) if proposal.plan else None,
    )


@router.get("/rebalance", response_model=Page[PlanPublic], summary="Rebalance plans, newest first")
def rebalance_list(
    session: SessionDep,
    viewer: Reader,
    page: PageDep,
    status: Annotated[PlanStatus | None, Query()] = None,
) -> Page[PlanPublic]:
    return rebalance_views.list_plans(session, viewer, page, status)


@router.get("/rebalance/{plan_id}", response_model=PlanPublic)
def rebalance_get(plan_id: Id, session: SessionDep, viewer: Reader) -> PlanPublic:
    return rebalance_views.get_plan(session, viewer, plan_id)


def _apply_later(
    tasks: BackgroundTasks, http: Request, plan_id: int, viewer: Viewer, settings: SettingsDep
) -> None:
    # Persist the decision first, then move replicas after the response: clouds are slow.
    tasks.add_task(
        apply.apply_plan,
        http.app.state.engine,
        http.app.state.box,
        plan_id,
        actor=viewer.username,
        timeout=settings.adapter_timeout_seconds,
    )


@router.post(
    "/rebalance/{plan_id}/approve",
    response_model=PlanPublic,
    summary="Approve; the moves start after the response (409 if the plan is stale)",
)
def rebalance_approve(
    plan_id: Id,
    body: Decision,
    session: SessionDep,
    viewer: AdminDep,
    tasks: BackgroundTasks,
    http: Request,
    settings: SettingsDep,
) -> PlanPublic:
    plan = rebalance.decide(session, viewer, plan_id, approve=True, comment=body.comment)
    session.commit()
    _apply_later(tasks, http, plan_id, viewer, settings)
    return views.plan_public(session, plan)


@router.post("/rebalance/{plan_id}/reject", response_model=PlanPublic, summary="Reject, saying why")
def rebalance_reject(
    plan_id: Id, body: Decision, session: SessionDep, viewer: AdminDep
) -> PlanPublic:
    plan = rebalance.decide(session, viewer, plan_id, approve=False, comment=body.comment)
    session.commit()
    return views.plan_public(session, plan)


@router.post(
    "/rebalance/{plan_id}/retry",
    response_model=PlanPublic,
    summary="Carry on with the moves a partially applied plan left (409 if stale)",
)
def rebalance_retry(
    plan_id: Id,
    session: SessionDep,
    viewer: AdminDep,
    tasks: BackgroundTasks,
    http: Request,
    settings: SettingsDep,
) -> PlanPublic:
    plan = rebalance.retry(session, viewer, rebalance.get_rebalance_plan(session, plan_id))
    session.commit()
    _apply_later(tasks, http, plan_id, viewer, settings)
    return views.plan_public(session, plan)
