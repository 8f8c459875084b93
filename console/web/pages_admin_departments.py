"""Administration: departments and their quotas (list, create, edit, set quota limits).

The services are inventory.departments', as the API's: they check the role, audit the
change and report a taken code as a Conflict naming `code`. Quota limits are whole numbers
0..10^9 as the API accepts them; on the edit page a blank limit removes it (the API's null),
on the create form a blank limit is simply not set.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from console.deps import Id, SessionDep
from console.web.pages_admin_common import (
    PAGE_SIZE,
    AdminPage,
    FieldError,
    FormErrors,
    optional_int,
    pager,
    resource_labels,
)
from console.web.render import render, translator
from console.web.session import check_csrf
from inventory import departments
from inventory.errors import Conflict, Invalid
from inventory.models import DepartmentCreate, DepartmentPublic, DepartmentUpdate, Resource
from inventory.paging import PageParams

router = APIRouter(include_in_schema=False)
QUOTA_FIELDS = tuple(f"quota_{r.value}" for r in Resource)
CREATE_FIELDS = ("code", "name", "contact", *QUOTA_FIELDS)
Text = Annotated[str, Form(max_length=256)]
Csrf = Annotated[str, Form(max_length=128)]


QuotaText = Annotated[str, Form(max_length=16)]


def quota_form(
    quota_vcpus: QuotaText = "",
    quota_memory_mb: QuotaText = "",
    quota_disk_gb: QuotaText = "",
    quota_gpus: QuotaText = "",
    quota_instances: QuotaText = "",
) -> dict[str, str]:
    """The quota limits as typed, one field per Resource (checked below at import)."""
    return {
        "quota_vcpus": quota_vcpus,
        "quota_memory_mb": quota_memory_mb,
        "quota_disk_gb": quota_disk_gb,
        "quota_gpus": quota_gpus,
        "quota_instances": quota_instances,
    }


QuotaForm = Annotated[dict[str, str], Depends(quota_form)]
# A new quota dimension must get its form field above, or it could never be set here.
assert set(quota_form()) == set(QUOTA_FIELDS), "quota_form is missing a Resource"


def _limits(values: dict[str, str]) -> dict[Resource, int | None]:
    return {r: optional_int(f"quota_{r.value}", values[f"quota_{r.value}"]) for r in Resource}


def _list_page(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    q: str,
    offset: int,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    found = departments.list_departments(
        session, viewer, PageParams(PAGE_SIZE, offset, "code"), q or None
    )
    return render(
        request,
        "admin/departments.html",
        viewer,
        departments=found.items,
        pages=pager(offset, found.total),
        q=q,
        resources=resource_labels(translator(request)),
        values=values or {},
        errors=errors.errors if errors else {},
        status_code=status_code,
    )


@router.get("/admin/departments")
def departments_page(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    q: Annotated[str, Query(max_length=128)] = "",
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    return _list_page(request, session, viewer, q, offset)


@router.post("/admin/departments")
def department_create(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    quotas: QuotaForm,
    csrf_token: Csrf = "",
    code: Text = "",
    name: Text = "",
    contact: Text = "",
) -> Response:
    check_csrf(request, csrf_token)
    values = {"code": code, "name": name, "contact": contact, **quotas}
    errors = FormErrors(CREATE_FIELDS)
    try:
        limits = {r: v for r, v in _limits(values).items() if v is not None}
        body = DepartmentCreate(code=code, name=name, contact=contact or None, quotas=limits)
        created = departments.create_department(session, viewer, body)
    except FieldError as exc:
        errors.add(exc.name, exc.message)
    except ValidationError as exc:
        errors.from_validation(exc, translator(request))
    except (Invalid, Conflict) as exc:
        errors.from_domain(exc, translator(request))
    if errors:
        session.rollback()
        return _list_page(request, session, viewer, "", 0, values, errors, 422)
    session.commit()
    return RedirectResponse(f"/admin/departments/{created.id}?saved=1", 303)


def _edit_page(
    request: Request,
    viewer: AdminPage,
    department: DepartmentPublic,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    limits = {q.resource.value: q for q in department.quotas}
    shown = {
        "name": department.name,
        "contact": department.contact or "",
        **{f"quota_{r}": str(q.limit) for r, q in limits.items()},
    }
    return render(
        request,
        "admin/department.html",
        viewer,
        department=department,
        used={r: q.used for r, q in limits.items()},
        resources=resource_labels(translator(request)),
        values={**shown, **(values or {})},
        errors=errors.errors if errors else {},
        saved=saved,
        status_code=status_code,
    )


@router.get("/admin/departments/{department_id}")
def department_page(
    request: Request,
    department_id: Id,
    session: SessionDep,
    viewer: AdminPage,
    saved: bool = False,
) -> Response:
    department = departments.get_department(session, viewer, department_id)
    return _edit_page(request, viewer, department, saved=saved)


@router.post("/admin/departments/{department_id}")
def department_update(
    request: Request,
    department_id: Id,
    session: SessionDep,
    viewer: AdminPage,
    csrf_token: Csrf = "",
    name: Text = "",
    contact: Text = "",
) -> Response:
    check_csrf(request, csrf_token)
    errors = FormErrors(("name", "contact"))
    try:
        body = DepartmentUpdate(name=name, contact=contact or None)
        departments.update_department(session, viewer, department_id, body)
    except ValidationError as exc:
        errors.from_validation(exc, translator(request))
    except Invalid as exc:
        errors.from_domain(exc, translator(request))
    if errors:
        session.rollback()
        department = departments.get_department(session, viewer, department_id)
        values = {"name": name, "contact": contact}
        return _edit_page(request, viewer, department, values, errors, status_code=422)
    session.commit()
    return RedirectResponse(f"/admin/departments/{department_id}?saved=1", 303)


@router.post("/admin/departments/{department_id}/quotas")
def department_quotas(
    request: Request,
    department_id: Id,
    session: SessionDep,
    viewer: AdminPage,
    values: QuotaForm,
    csrf_token: Csrf = "",
) -> Response:
    check_csrf(request, csrf_token)
    errors = FormErrors(QUOTA_FIELDS)
    try:
        departments.set_quotas(session, viewer, department_id, _limits(values))
    except FieldError as exc:
        errors.add(exc.name, exc.message)
    except Invalid as exc:
        errors.from_domain(exc, translator(request))
    if errors:
        session.rollback()
        department = departments.get_department(session, viewer, department_id)
        return _edit_page(request, viewer, department, values, errors, status_code=422)
    session.commit()
    return RedirectResponse(f"/admin/departments/{department_id}?saved=1", 303)
