"""Administration: clouds. List with status, check a cloud's adapter, register a cloud.

Registration goes through `adapters.service.register_checked`, as POST /api/v1/clouds does:
settings and credentials are validated, the adapter's check() runs before anything is saved,
credentials are encrypted at rest and never shown back (not even in a form re-rendered after
a mistake: the admin types them again). The check page is a GET, like the API's: it changes
nothing, only asks the cloud.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from adapters import service as clouds
from adapters.registry import REGISTRY
from console.deps import BoxDep, Id, SessionDep, SettingsDep
from console.web.pages_admin_common import (
    PAGE_SIZE,
    AdminPage,
    FieldError,
    FormErrors,
    json_object,
    pager,
)
from console.web.render import render, translator
from console.web.session import check_csrf
from inventory.errors import Conflict, Invalid
from inventory.estate import EstateFilter, cloud_public, get_cloud, list_clouds
from inventory.models import CloudCreate
from inventory.paging import PageParams

router = APIRouter(include_in_schema=False)
FIELDS = ("kind", "name", "vendor", "region", "security_level", "settings", "credentials")
Offset = Annotated[int, Query(ge=0, le=10**9)]


@router.get("/admin/clouds")
def clouds_page(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    offset: Offset = 0,
    registered: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    found = list_clouds(session, viewer, EstateFilter(), PageParams(PAGE_SIZE, offset, "name"))
    return render(
        request,
        "admin/clouds.html",
        viewer,
        clouds=found.items,
        pages=pager(offset, found.total),
        registered=registered,
    )


def _form_page(
    request: Request,
    viewer: AdminPage,
    values: dict[str, str],
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/cloud_new.html",
        viewer,
        kinds=[(k, k) for k in sorted(REGISTRY)],
        levels=[(str(n), str(n)) for n in range(1, 6)],
        values=values,
        errors=errors.errors if errors else {},
        status_code=status_code,
    )


BLANK = {
    "kind": "simulator",
    "name": "",
    "vendor": "",
    "region": "",
    "security_level": "3",
    "settings": "",
    "skip_check": "",
}


@router.get("/admin/clouds/new")
def cloud_new(request: Request, viewer: AdminPage) -> Response:
    return _form_page(request, viewer, BLANK)


@router.post("/admin/clouds")
def cloud_register(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    box: BoxDep,
    settings: SettingsDep,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    vendor: Annotated[str, Form(max_length=64)] = "",
    region: Annotated[str, Form(max_length=64)] = "",
    security_level: Annotated[str, Form(max_length=8)] = "",
    settings_json: Annotated[str, Form(alias="settings", max_length=20_000)] = "",
    credentials_json: Annotated[str, Form(alias="credentials", max_length=20_000)] = "",
    skip_check: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    # What the admin typed comes back on a mistake; credentials never do.
    values = {
        "kind": kind,
        "name": name,
        "vendor": vendor,
        "region": region,
        "security_level": security_level,
        "settings": settings_json,
        "skip_check": skip_check,
    }
    errors = FormErrors(FIELDS)
    try:
        data: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "vendor": vendor,
            "region": region,
            "security_level": security_level,
            "settings": json_object("settings", settings_json),
            "credentials": json_object("credentials", credentials_json) or None,
        }
        body = CloudCreate.model_validate(data)
        done = clouds.register_checked(
            session,
            viewer,
            body,
            box,
            skip_check=bool(skip_check),
            timeout=settings.adapter_timeout_seconds,
        )
    except FieldError as exc:
        errors.add(exc.name, exc.message)
    except ValidationError as exc:
        errors.from_validation(exc, translator(request))
    except (Invalid, Conflict) as exc:
        errors.from_domain(exc, translator(request))
    if errors:
        session.rollback()
        return _form_page(request, viewer, values, errors, 422)
    session.commit()
    return RedirectResponse(f"/admin/clouds?registered={done.cloud.id}", 303)


@router.get("/admin/clouds/{cloud_id}/check")
def cloud_check(
    request: Request, cloud_id: Id, session: SessionDep, viewer: AdminPage, box: BoxDep
) -> Response:
    cloud = get_cloud(session, cloud_id)
    try:
        results, error = clouds.check(session, viewer, cloud_id, box), None
    except Invalid as exc:  # undecryptable credentials, settings that no longer validate
        results, error = [], translator(request).error(exc)
    return render(
        request,
        "admin/cloud_check.html",
        viewer,
        cloud=cloud_public(cloud, viewer),
        results=results,
        error=error,
    )
