"""Departments and quotas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from console.deps import AdminDep, Id, PageDep, SessionDep, ViewerDep
from console.one_hop import OneHopRoute, on_loop
from inventory import departments
from inventory.models import DepartmentCreate, DepartmentPublic, DepartmentUpdate, Resource
from inventory.paging import Page

router = APIRouter(route_class=OneHopRoute, tags=["departments"])


@router.get(
    "/departments",
    response_model=Page[DepartmentPublic],
    summary="Departments with quotas and usage",
)
@on_loop
def departments_list(
    session: SessionDep,
    viewer: ViewerDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=128, description="Code or name contains")] = None,
) -> Page[DepartmentPublic]:
    return departments.list_departments(session, viewer, page, q)


@router.get("/departments/{department_id}", response_model=DepartmentPublic)
@on_loop
def departments_get(department_id: Id, session: SessionDep, viewer: ViewerDep) -> DepartmentPublic:
    return departments.get_department(session, viewer, department_id)


@router.post("/departments", response_model=DepartmentPublic, status_code=201)
def departments_create(
    body: DepartmentCreate, session: SessionDep, viewer: AdminDep
) -> DepartmentPublic:
    result = departments.create_department(session, viewer, body)
    session.commit()
    return result


@router.patch("/departments/{department_id}", response_model=DepartmentPublic)
def departments_update(
    department_id: Id, body: DepartmentUpdate, session: SessionDep, viewer: AdminDep
) -> DepartmentPublic:
    result = departments.update_department(session, viewer, department_id, body)
    session.commit()
    return result


@router.put(
    "/departments/{department_id}/quotas",
    response_model=DepartmentPublic,
    summary="Set quota limits; null removes a limit; unnamed resources are unchanged",
)
def departments_quotas(
    department_id: Id,
    body: dict[Resource, Annotated[int, Field(ge=0, le=10**9)] | None],
    session: SessionDep,
    viewer: AdminDep,
) -> DepartmentPublic:
    result = departments.set_quotas(session, viewer, department_id, body)
    session.commit()
    return result
