"""The request pages: a department's requests, the request form, one request's progress.

Department users and admins (the API's Requester roles). A department user reaches only its
own department's requests by any URL: the list is pinned by inventory.estate.department_id
(another department's filter is a 403) and a request page goes through
scheduler.views.get_request (another department's id is a 404, the same as a missing one).
Submitting calls scheduler.workflow.submit, as `POST /api/v1/requests` does, so the quota
check, the immediate plan and the audit entry are the API's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from console.deps import Id, SessionDep, SettingsDep
from console.web.listing import PAGE_SIZES, Sorter, invalid_attrs, pager
from console.web.render import render, translator
from console.web.requests_data import (
    CUSTOM,
    LABELS,
    MAX_MEMORY_GB,
    RequestForm,
    form_choices,
    to_create,
)
from console.web.roles import page_roles
from console.web.session import check_csrf
from inventory.access import Viewer
from inventory.errors import Invalid
from inventory.models import PlanStatus, RequestPublic, RequestStatus, Role
from inventory.paging import Page, PageParams
from scheduler import views, workflow

router = APIRouter(include_in_schema=False)
RequesterPage = Annotated[Viewer, Depends(page_roles(Role.department, Role.admin))]
Text = Annotated[str, Query(max_length=128)]
FormText = Annotated[str, Form(max_length=128)]
# Provisioning is still moving: the progress section refreshes itself until it settles.
IN_FLIGHT = (PlanStatus.approved, PlanStatus.applying)


def _status(value: str) -> RequestStatus | None:
    if not value.strip():
        return None
    try:
        return RequestStatus(value.strip())
    except ValueError:
        choices = ", ".join(s.value for s in RequestStatus)
        raise Invalid.of("filter.status", field="status", value=value, choices=choices) from None


@router.get("/requests")
def requests_page(
    request: Request,
    session: SessionDep,
    viewer: RequesterPage,
    status: Text = "",
    department: Text = "",
    sort: Text = "",
    limit: Annotated[int, Query(ge=1, le=10**6)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    error: Invalid | None = None
    params = PageParams()
    try:
        params = PageParams(limit=limit, offset=offset, sort=sort.strip() or None)
        page = views.list_requests(
            session, viewer, params, _status(status), department.strip() or None
        )
    except Invalid as exc:
        error = exc
        page = Page[RequestPublic](items=[], total=0, limit=params.limit, offset=0)
    return render(
        request,
        "requests/list.html",
        viewer,
        status_code=422 if error else 200,
        page=page,
        pager=pager(request, page, params),
        sorter=Sorter(request, sort.strip() or None),
        sizes=PAGE_SIZES,
        limit=params.limit,
        sort=sort,
        error=error,
        invalid=invalid_attrs({error.field: "filter-error"} if error and error.field else {}),
        status=status,
        department=department,
        statuses=[s.value for s in RequestStatus],
        choices=form_choices(session, viewer),
        labels=LABELS,
    )


def _form_page(
    request: Request, session: SessionDep, viewer: Viewer, form: RequestForm, status_code: int
) -> Response:
    return render(
        request,
        "requests/new.html",
        viewer,
        status_code=status_code,
        form=form,
        invalid=invalid_attrs({name: f"err-{name}" for name in form.errors}),
        choices=form_choices(session, viewer),
        custom=CUSTOM,
        max_memory_gb=MAX_MEMORY_GB,
    )


@router.get("/requests/new")
def new_request_page(request: Request, session: SessionDep, viewer: RequesterPage) -> Response:
    return _form_page(request, session, viewer, RequestForm.blank(), 200)


@router.post("/requests/new")
def new_request_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: RequesterPage,
    csrf_token: FormText = "",
    department_id: FormText = "",
    service_name: FormText = "",
    replicas: FormText = "",
    size: FormText = "",
    vcpus: FormText = "",
    memory_gb: FormText = "",
    disk_gb: FormText = "",
    sla_target: FormText = "",
    security_level: FormText = "",
    region: FormText = "",
    arch: FormText = "",
) -> Response:
    check_csrf(request, csrf_token)
    form = RequestForm(
        {
            "department_id": department_id,
            "service_name": service_name,
            "replicas": replicas,
            "size": size,
            "vcpus": vcpus,
            "memory_gb": memory_gb,
            "disk_gb": disk_gb,
            "sla_target": sla_target,
            "security_level": security_level,
            "region": region,
            "arch": arch,
        }
    )
    data = to_create(form, viewer, translator(request))
    if data is None:
        return _form_page(request, session, viewer, form, 422)
    try:
        created = workflow.submit(
            session, viewer, data, time_limit=settings.placement_time_limit_seconds
        )
    except Invalid as exc:  # the quota, or a department that does not exist
        session.rollback()
        form.place_error(exc.field, translator(request).error(exc))
        return _form_page(request, session, viewer, form, 422)
    session.commit()
    return RedirectResponse(f"/requests/{created.id}", 303)


@router.get("/requests/{request_id}")
def request_page(
    request: Request, request_id: Id, session: SessionDep, viewer: RequesterPage
) -> Response:
    found = views.get_request(session, viewer, request_id)
    plan = found.plans[0] if found.plans else None  # newest first
    done = sum(1 for a in plan.allocations if a.status.value == "provisioned") if plan else 0
    return render(
        request,
        "requests/detail.html",
        viewer,
        req=found,
        plan=plan,
        done=done,
        live=plan is not None and plan.status in IN_FLIGHT,
        can_replan=found.status in (RequestStatus.planned, RequestStatus.unplaceable),
        labels=LABELS,
    )


@router.post("/requests/{request_id}/replan")
def replan_submit(
    request: Request,
    request_id: Id,
    session: SessionDep,
    settings: SettingsDep,
    viewer: RequesterPage,
    csrf_token: FormText = "",
) -> Response:
    check_csrf(request, csrf_token)
    # NotFound for another department's request, Conflict once it is decided: error pages.
    workflow.replan(session, viewer, request_id, time_limit=settings.placement_time_limit_seconds)
    session.commit()
    return RedirectResponse(f"/requests/{request_id}", 303)
