"""Alerts: the live list of alerts or incidents (refreshing itself every 10 s, filters kept),
who is on call, an incident with its alerts and timeline, and the on-call actions: acknowledge,
resolve, escalate, add a note. Silences and maintenance windows are pages_alerts_config.

Everything goes through the services of console/routes/alerts.py (alerts.views, alerts.actions)
so validation, the 409 on acting twice and the audit are the API's. A list page is one query
for its rows and one count, whatever the number of firing alerts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from alerts import actions, oncall, views
from alerts.oncall_schemas import OnCallNow
from alerts.schemas import AlertPublic, IncidentPublic, ResolveBody
from console.deps import SessionDep
from console.web import pages_alerts_config
from console.web.alerts_data import (
    ALERT_STATES,
    INCIDENT_STATUSES,
    PAGE_SIZE,
    SEVERITIES,
    SORTS,
    Filters,
    cloud_names,
    event_labels,
    form_error,
    state_labels,
    status_labels,
)
from console.web.dashboard_data import firing_by_severity
from console.web.render import render, translator
from console.web.roles import page_roles
from console.web.session import check_csrf, safe_next
from inventory.access import Viewer
from inventory.errors import Invalid, NotFound
from inventory.models import Role
from inventory.paging import Page, PageParams
from inventory.types import utcnow

router = APIRouter(include_in_schema=False)
OnCallPage = Annotated[Viewer, Depends(page_roles(Role.admin, Role.oncall))]
RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]
CsrfField = Annotated[str, Form(max_length=128)]
BackField = Annotated[str, Form(max_length=2048)]
# Generous: the services' own limits (4,000) answer beside the field, not as an error page.
TextField = Annotated[str, Form(max_length=20_000)]
Text = Annotated[str, Query(max_length=200)]


def _link(request: Request, drop: tuple[str, ...] = (), **params: str | int) -> str:
    url = request.url.remove_query_params(list(drop)).include_query_params(**params)
    return f"{url.path}?{url.query}"


def _list(
    session: SessionDep, viewer: Viewer, f: Filters
) -> Page[AlertPublic] | Page[IncidentPublic]:
    page = PageParams(limit=PAGE_SIZE, offset=f.offset, sort=f.sort or None)
    if f.view == "incidents":
        incidents = views.IncidentFilter(
            status=f.status or None,
            severity=f.severity or None,
            cloud=f.cloud or None,
            q=f.q or None,
        )
        return views.list_incidents(session, viewer, incidents, page)
    alerts = views.AlertFilter(
        state=f.status or None, severity=f.severity or None, cloud=f.cloud or None, q=f.q or None
    )
    return views.list_alerts(session, viewer, alerts, page)


@router.get("/alerts")
def alerts_page(
    request: Request,
    session: SessionDep,
    viewer: OnCallPage,
    view: Annotated[Literal["alerts", "incidents"], Query()] = "alerts",
    status: Text = "",
    severity: Text = "",
    cloud: Annotated[str, Query(max_length=64)] = "",
    q: Text = "",
    sort: Annotated[Literal["", "severity", "-severity"], Query()] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    f = Filters(view, status, severity, cloud, q.strip(), sort, offset)
    errors: dict[str, str] = {}
    page: Page[AlertPublic] | Page[IncidentPublic]
    try:
        page = _list(session, viewer, f)
    except (Invalid, NotFound) as exc:
        t = translator(request)
        field, message = form_error(exc, t) if isinstance(exc, Invalid) else ("cloud", t.error(exc))
        errors[{"state": "status"}.get(field, field)] = message
        page = Page[AlertPublic](items=[], total=0, limit=PAGE_SIZE, offset=offset)
    t = translator(request)
    context: dict[str, Any] = {
        "f": f,
        "page": page,
        "errors": errors,
        "clouds": cloud_names(session),
        "firing": firing_by_severity(session),
        "states": state_labels(t),
        "statuses": status_labels(t),
        "prev_link": _link(request, offset=max(0, offset - PAGE_SIZE)) if offset else None,
        "next_link": (
            _link(request, offset=offset + PAGE_SIZE) if offset + PAGE_SIZE < page.total else None
        ),
    }
    code = 422 if errors else 200
    if request.headers.get("hx-request"):
        return render(request, "alerts/live.html", viewer, status_code=code, **context)
    return render(
        request,
        "alerts/list.html",
        viewer,
        status_code=code,
        choices=INCIDENT_STATUSES if view == "incidents" else ALERT_STATES,
        severities=SEVERITIES,
        sorts=SORTS,
        tabs={
            v: _link(request, ("status", "offset", "sort"), view=v) for v in ("alerts", "incidents")
        },
        on_call=[OnCallNow.model_validate(x) for x in oncall.who_is_on_call(session, utcnow())],
        **context,
    )


def _back(back: str, default: str = "/alerts") -> RedirectResponse:
    return RedirectResponse(safe_next(back) if back else default, 303)


@router.post("/alerts/{alert_id}/ack")
def alert_ack(
    request: Request,
    alert_id: RowId,
    session: SessionDep,
    viewer: OnCallPage,
    csrf_token: CsrfField = "",
    back: BackField = "",
) -> Response:
    check_csrf(request, csrf_token)
    actions.ack_alert(session, viewer, alert_id, utcnow())
    session.commit()
    return _back(back)


@router.post("/alerts/{alert_id}/resolve")
def alert_resolve(
    request: Request,
    alert_id: RowId,
    session: SessionDep,
    viewer: OnCallPage,
    csrf_token: CsrfField = "",
    back: BackField = "",
) -> Response:
    check_csrf(request, csrf_token)
    actions.resolve_alert(session, viewer, alert_id, utcnow())
    session.commit()
    return _back(back)


def _incident(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    incident_id: int,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    t = translator(request)
    return render(
        request,
        "alerts/incident.html",
        viewer,
        status_code=422 if errors else 200,
        incident=views.get_incident(session, viewer, incident_id),
        clouds=cloud_names(session),
        states=state_labels(t),
        events=event_labels(t),
        errors=errors or {},
        typed=typed or {},
    )


@router.get("/alerts/incidents/{incident_id}")
def incident_page(
    request: Request, incident_id: RowId, session: SessionDep, viewer: OnCallPage
) -> Response:
    return _incident(request, session, viewer, incident_id)


@router.post("/alerts/incidents/{incident_id}/{action}")
def incident_act(
    request: Request,
    incident_id: RowId,
    action: Literal["ack", "escalate", "resolve", "note"],
    session: SessionDep,
    viewer: OnCallPage,
    csrf_token: CsrfField = "",
    text: TextField = "",
) -> Response:
    """One handler for the four actions: each is a service call; resolve and note take text."""
    check_csrf(request, csrf_token)
    now = utcnow()
    try:
        if action == "ack":
            actions.ack(session, viewer, incident_id, now)
        elif action == "escalate":
            actions.escalate(session, viewer, incident_id, now)
        elif action == "resolve":
            comment = ResolveBody(comment=text).comment
            actions.resolve(session, viewer, incident_id, now, comment)
        else:
            actions.add_note(session, viewer, incident_id, text, now)
    except (Invalid, ValidationError) as exc:
        session.rollback()
        message = form_error(exc, translator(request))[1]
        return _incident(
            request, session, viewer, incident_id, errors={action: message}, typed={action: text}
        )
    session.commit()
    return RedirectResponse(f"/alerts/incidents/{incident_id}", 303)


router.include_router(pages_alerts_config.router)
