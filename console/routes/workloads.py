"""Workloads and their replicas; department users see only their own."""

from __future__ import annotations

from fastapi import APIRouter

from console.deps import Id, PageDep, SessionDep, ViewerDep
from console.one_hop import OneHopRoute, on_loop
from console.routes.estate import FilterDep
from inventory.models import WorkloadPublic
from inventory.paging import Page
from inventory.workloads import get_workload, list_workloads

router = APIRouter(route_class=OneHopRoute, tags=["inventory"])


@router.get(
    "/workloads", response_model=Page[WorkloadPublic], summary="Workloads with their replicas"
)
@on_loop
def workloads_list(
    session: SessionDep, viewer: ViewerDep, f: FilterDep, page: PageDep
) -> Page[WorkloadPublic]:
    return list_workloads(session, viewer, f, page)


@router.get("/workloads/{workload_id}", response_model=WorkloadPublic)
@on_loop
def workloads_get(workload_id: Id, session: SessionDep, viewer: ViewerDep) -> WorkloadPublic:
    return get_workload(session, viewer, workload_id)
