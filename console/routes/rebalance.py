"""Rebalance plans: propose moves that free hosts or cut cost, approve, apply, retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from console.deps import AdminDep, Id, PageDep, SessionDep, SettingsDep, require
from console.one_hop import OneHopRoute, on_loop
from inventory.access import Viewer
from inventory.models import PlanPublic, PlanStatus, Role
from inventory.models.requests import RebalanceCreate, RebalanceOutcome
from inventory.paging import Page
from scheduler import rebalance, rebalance_views, views

router = APIRouter(route_class=OneHopRoute, tags=["rebalance"])

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
@on_loop
def rebalance_list(
    session: SessionDep,
    viewer: Reader,
    page: PageDep,
    status: Annotated[PlanStatus | None, Query()] = None,
) -> Page[PlanPublic]:
    return rebalance_views.list_plans(session, viewer, page, status)


@router.get("/rebalance/{plan_id}", response_model=PlanPublic)
@on_loop
def rebalance_get(plan_id: Id, session: SessionDep, viewer: Reader) -> PlanPublic:
    return rebalance_views.get_plan(session, viewer, plan_id)
