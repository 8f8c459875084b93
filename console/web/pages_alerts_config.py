"""Silences and maintenance windows: list, create, expire or delete, for on-call staff and
admins, through alerts.config and alerts.views (the services of console/routes/alert_config.py).

Matchers are typed one per line in the API's text form (`alertname="HostDown"`); a silence
started from an alert is prefilled with that alert's labels, i.e. exactly that series.
Mounted by pages_alerts (one router per page group in install.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from alerts import config, views
from alerts.schemas import SilenceCreate, WindowCreate
from console.deps import SessionDep
from console.web.alerts_data import (
    PAGE_SIZE,
    SILENCE_STATES,
    WEEKDAYS,
    form_error,
    matcher_lines,
    matcher_text,
    state_labels,
    weekday_labels,
)
from console.web.render import render, translator
from console.web.roles import page_roles
from console.web.session import check_csrf
from inventory.access import Viewer
from inventory.errors import Invalid
from inventory.models import Role
from inventory.paging import PageParams
from inventory.types import utcnow

router = APIRouter(include_in_schema=False)
OnCallPage = Annotated[Viewer, Depends(page_roles(Role.admin, Role.oncall))]
RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]
CsrfField = Annotated[str, Form(max_length=128)]
Short = Annotated[str, Form(max_length=200)]
# Generous: the schemas' own limits answer beside the field rather than as an error page.
Long = Annotated[str, Form(max_length=60_000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
DEFAULT_MINUTES = "120"


def _pager(request: Request, offset: int, total: int) -> dict[str, str | None]:
    def link(to: int) -> str:
        url = request.url.include_query_params(offset=to)
        return f"{url.path}?{url.query}"

    return {
        "prev_link": link(max(0, offset - PAGE_SIZE)) if offset else None,
        "next_link": link(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
    }


def _silences(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    *,
    state: str = "",
    offset: int = 0,
    typed: dict[str, str],
    errors: dict[str, str] | None = None,
) -> Response:
    page = views.list_silences(
        session, PageParams(limit=PAGE_SIZE, offset=offset), utcnow(), state or "pending,active"
    )
    return render(
        request,
        "alerts/silences.html",
        viewer,
        status_code=422 if errors else 200,
        page=page,
        state=state,
        choices=SILENCE_STATES,
        states=state_labels(translator(request)),
        typed=typed,
        errors=errors or {},
        **_pager(request, offset, page.total),
    )


@router.get("/alerts/silences")
def silences_page(
    request: Request,
    session: SessionDep,
    viewer: OnCallPage,
    state: Annotated[str, Query(max_length=64)] = "",
    offset: Offset = 0,
    alert: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> Response:
    matchers = matcher_text(views.get_alert(session, viewer, alert).labels) if alert else ""
    typed = {"matchers": matchers, "duration_minutes": DEFAULT_MINUTES, "comment": ""}
    return _silences(request, session, viewer, state=state, offset=offset, typed=typed)


@router.post("/alerts/silences")
def silence_create(
    request: Request,
    session: SessionDep,
    viewer: OnCallPage,
    csrf_token: CsrfField = "",
    matchers: Long = "",
    duration_minutes: Short = "",
    comment: Long = "",
) -> Response:
    check_csrf(request, csrf_token)
    typed = {"matchers": matchers, "duration_minutes": duration_minutes, "comment": comment}
    try:
        body = SilenceCreate.model_validate(
            {
                "matchers": matcher_lines(matchers),
                "duration_minutes": duration_minutes.strip() or None,
                "comment": comment.strip(),
            }
        )
        config.create_silence(session, viewer, body, utcnow())
    except (Invalid, ValidationError) as exc:
        session.rollback()
        field, message = form_error(exc, translator(request))
        return _silences(request, session, viewer, typed=typed, errors={field: message})
    session.commit()
    return RedirectResponse("/alerts/silences", 303)


@router.post("/alerts/silences/{silence_id}/expire")
def silence_expire(
    request: Request,
    silence_id: RowId,
    session: SessionDep,
    viewer: OnCallPage,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, csrf_token)
    config.expire_silence(session, viewer, silence_id, utcnow())
    session.commit()
    return RedirectResponse("/alerts/silences", 303)


def _windows(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    *,
    offset: int = 0,
    typed: dict[str, Any],
    errors: dict[str, str] | None = None,
) -> Response:
    page = views.list_windows(session, PageParams(limit=PAGE_SIZE, offset=offset), utcnow())
    return render(
        request,
        "alerts/maintenance.html",
        viewer,
        status_code=422 if errors else 200,
        page=page,
        days=weekday_labels(translator(request)),
        weekdays=WEEKDAYS,
        typed=typed,
        errors=errors or {},
        **_pager(request, offset, page.total),
    )


@router.get("/alerts/maintenance")
def windows_page(
    request: Request, session: SessionDep, viewer: OnCallPage, offset: Offset = 0
) -> Response:
    typed = {
        "name": "",
        "matchers": "",
        "timezone": "Asia/Shanghai",
        "weekdays": [],
        "start_time": "02:00",
        "duration_minutes": "120",
        "comment": "",
    }
    return _windows(request, session, viewer, offset=offset, typed=typed)


@router.post("/alerts/maintenance")
def window_create(
    request: Request,
    session: SessionDep,
    viewer: OnCallPage,
    csrf_token: CsrfField = "",
    name: Short = "",
    matchers: Long = "",
    timezone: Short = "",
    weekdays: Annotated[list[str], Form(max_length=7)] = [],  # noqa: B006 - FastAPI copies it
    start_time: Short = "",
    duration_minutes: Short = "",
    comment: Long = "",
) -> Response:
    check_csrf(request, csrf_token)
    typed: dict[str, Any] = {
        "name": name,
        "matchers": matchers,
        "timezone": timezone,
        "weekdays": weekdays,
        "start_time": start_time,
        "duration_minutes": duration_minutes,
        "comment": comment,
    }
    try:
        body = WindowCreate.model_validate(
            {
                "name": name,
                "matchers": matcher_lines(matchers),
                "timezone": timezone.strip() or "Asia/Shanghai",
                "weekdays": weekdays,
                "start_time": start_time.strip(),
                "duration_minutes": duration_minutes.strip() or None,
                "comment": comment.strip(),
            }
        )
        config.create_window(session, viewer, body, utcnow())
    except (Invalid, ValidationError) as exc:
        session.rollback()
        field, message = form_error(exc, translator(request))
        return _windows(request, session, viewer, typed=typed, errors={field: message})
    session.commit()
    return RedirectResponse("/alerts/maintenance", 303)


@router.post("/alerts/maintenance/{window_id}/delete")
def window_delete(
    request: Request,
    window_id: RowId,
    session: SessionDep,
    viewer: OnCallPage,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, csrf_token)
    config.delete_window(session, viewer, window_id)
    session.commit()
    return RedirectResponse("/alerts/maintenance", 303)
