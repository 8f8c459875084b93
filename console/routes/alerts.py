"""Alerts and incidents: list, read with the timeline, acknowledge, resolve, escalate, add
notes; and the intake for Alertmanager's webhook.

On-call staff and admins act; managers and department users read (department users only
what is labelled with their department). Every action is audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import AwareDatetime

from alerts import actions, state, views
from alerts.schemas import (
    AlertPublic,
    IncidentDetail,
    IncidentPublic,
    IntakeResult,
    Note,
    ResolveBody,
)
from console.deps import Id, PageDep, SessionDep, ViewerDep, require
from console.one_hop import OneHopRoute, on_loop
from inventory import audit
from inventory.access import Viewer
from inventory.models import AlertState, Role
from inventory.paging import Page
from inventory.types import utcnow

router = APIRouter(route_class=OneHopRoute, tags=["alerts"])

OnCall = Annotated[Viewer, Depends(require(Role.oncall, Role.admin))]
CSV = Annotated[str | None, Query(max_length=200, description="One value or a comma list")]


@router.get(
    "/alerts",
    response_model=Page[AlertPublic],
    summary="Alerts; by default the active ones (pending, firing)",
)
@on_loop
def alerts_list(
    session: SessionDep,
    viewer: ViewerDep,
    page: PageDep,
    state_: Annotated[
        str | None,
        Query(alias="state", max_length=200, description="pending, firing, resolved or all"),
    ] = None,
    severity: CSV = None,
    source: CSV = None,
    name: Annotated[str | None, Query(max_length=200, description="alertname")] = None,
    cloud: Annotated[str | None, Query(max_length=64, description="Cloud id or name")] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    incident: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    q: Annotated[str | None, Query(max_length=200, description="alertname contains")] = None,
    matcher: Annotated[
        list[str] | None,
        Query(max_length=20, description='Label matchers, e.g. severity=~"P1|P2"; repeat'),
    ] = None,
) -> Page[AlertPublic]:
    f = views.AlertFilter(
        state=state_,
        severity=severity,
        source=source,
        name=name,
        cloud=cloud,
        department=department,
        incident=incident,
        q=q,
        matcher=tuple(matcher or ()),
    )
    return views.list_alerts(session, viewer, f, page)


@router.post(
    "/alerts/alertmanager",
    response_model=IntakeResult,
    summary="Alertmanager webhook intake (version 4); authenticate with an oncall/admin API token",
)
def alerts_intake(
    session: SessionDep,
    viewer: OnCall,
    payload: Annotated[Any, Body(description="Alertmanager's webhook JSON, as it posts it")],
) -> IntakeResult:
    now = utcnow()
    touched = state.ingest_alertmanager(session, payload, now)
    firing = sum(1 for a in touched if a.state == AlertState.firing)
    audit.record(
        session,
        actor=viewer.username,
        action="alert.intake",
        target_type="alert",
        detail=f"Alertmanager webhook: {len(touched)} alert(s), {firing} firing, "
        f"receiver {payload.get('receiver')!r}",
    )
    session.commit()
    return IntakeResult(
        received=len(touched),
        firing=firing,
        resolved=len(touched) - firing,
        alert_ids=[a.id or 0 for a in touched],
    )


@router.get("/alerts/{alert_id}", response_model=AlertPublic)
@on_loop
def alerts_get(alert_id: Id, session: SessionDep, viewer: ViewerDep) -> AlertPublic:
    return views.get_alert(session, viewer, alert_id)


@router.post(
    "/alerts/{alert_id}/ack",
    response_model=AlertPublic,
    summary="Acknowledge an alert, and its incident if that is still open",
)
def alerts_ack(alert_id: Id, session: SessionDep, viewer: OnCall) -> AlertPublic:
    alert = actions.ack_alert(session, viewer, alert_id, utcnow())
    session.commit()
    return views.alert_public(alert)


@router.post(
    "/alerts/{alert_id}/resolve",
    response_model=AlertPublic,
    summary="Mark an alert resolved by hand (e.g. its Alertmanager never said so)",
)
def alerts_resolve(alert_id: Id, session: SessionDep, viewer: OnCall) -> AlertPublic:
    alert = actions.resolve_alert(session, viewer, alert_id, utcnow())
    session.commit()
    return views.alert_public(alert)


@router.get(
    "/incidents",
    response_model=Page[IncidentPublic],
    summary="Incidents, newest first; by default the open and acknowledged ones",
)
@on_loop
def incidents_list(
    session: SessionDep,
    viewer: ViewerDep,
    page: PageDep,
    status: Annotated[
        str | None,
        Query(max_length=200, description="open, acknowledged, resolved or all"),
    ] = None,
    severity: CSV = None,
    cloud: Annotated[str | None, Query(max_length=64, description="Cloud id or name")] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Title contains")] = None,
    since: AwareDatetime | None = None,
) -> Page[IncidentPublic]:
    f = views.IncidentFilter(
        status=status, severity=severity, cloud=cloud, department=department, q=q, since=since
    )
    return views.list_incidents(session, viewer, f, page)


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetail,
    summary="An incident with its alerts and timeline (created, notified whom, acked, ...)",
)
@on_loop
def incidents_get(incident_id: Id, session: SessionDep, viewer: ViewerDep) -> IncidentDetail:
    return views.get_incident(session, viewer, incident_id)


@router.post(
    "/incidents/{incident_id}/ack",
    response_model=IncidentDetail,
    summary="Acknowledge: escalation stops, reminders stop",
)
def incidents_ack(incident_id: Id, session: SessionDep, viewer: OnCall) -> IncidentDetail:
    actions.ack(session, viewer, incident_id, utcnow())
    session.commit()
    return views.get_incident(session, viewer, incident_id)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentDetail)
def incidents_resolve(
    incident_id: Id,
    session: SessionDep,
    viewer: OnCall,
    body: Annotated[ResolveBody | None, Body()] = None,
) -> IncidentDetail:
    actions.resolve(session, viewer, incident_id, utcnow(), (body or ResolveBody()).comment)
    session.commit()
    return views.get_incident(session, viewer, incident_id)


@router.post(
    "/incidents/{incident_id}/escalate",
    response_model=IncidentDetail,
    summary="Page the next escalation step now",
)
def incidents_escalate(incident_id: Id, session: SessionDep, viewer: OnCall) -> IncidentDetail:
    actions.escalate(session, viewer, incident_id, utcnow())
    session.commit()
    return views.get_incident(session, viewer, incident_id)


@router.post(
    "/incidents/{incident_id}/notes",
    response_model=IncidentDetail,
    status_code=201,
    summary="Add a note to the timeline",
)
def incidents_note(
    incident_id: Id, body: Note, session: SessionDep, viewer: OnCall
) -> IncidentDetail:
    actions.add_note(session, viewer, incident_id, body.text, utcnow())
    session.commit()
    return views.get_incident(session, viewer, incident_id)
