"""Reading alerts and incidents (with their timeline), scoped to who is asking.

Staff (admin, oncall, manager) see everything. A department user sees the alerts labelled
with its department (`department="<code>"`) and the incidents opened for them; another
department's incident answers 404, as if it did not exist.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col

from alerts import severity
from alerts.actions import load_alert, load_incident
from alerts.config import AlertRow, not_found, silence_state
from alerts.matchers import matches, parse_matchers
from alerts.noise import window_active
from alerts.schemas import (
    AlertPublic,
    EventPublic,
    IncidentDetail,
    IncidentPublic,
    InhibitPublic,
    RoutePublic,
    SilencePublic,
    WindowPublic,
)
from inventory.access import Viewer
from inventory.errors import Invalid, NotFound
from inventory.estate import department_id
from inventory.models import (
    Alert,
    AlertRoute,
    AlertSource,
    AlertState,
    Cloud,
    Incident,
    IncidentEvent,
    IncidentStatus,
    InhibitRule,
    MaintenanceWindow,
    Severity,
    Silence,
)
from inventory.paging import (
    AnySelect,
    Page,
    PageParams,
    core_execute,
    count,
    order_by,
    ref_filter,
    row_dicts,
    table_columns,
)

ACTIVE_ALERTS = "pending,firing"
OPEN_INCIDENTS = "open,acknowledged"
MATCHER_SCAN_LIMIT = 20_000
T = TypeVar("T", bound=SQLModel)  # rows filtered in Python when label matchers are given


def _choices(value: str, allowed: type[StrEnum], field: str) -> list[str]:
    """'a,b' or 'all' -> the values, checked; an unknown one is a 422 naming the field."""
    if value.strip() == "all":
        return [m.value for m in allowed]
    values = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in values if v not in {m.value for m in allowed}]
    if bad or not values:
        choices = ", ".join(m.value for m in allowed)
        raise Invalid.of(
            "filter.unknown",
            field=field,
            name=field,
            value=", ".join(bad) or value,
            choices=choices,
        )
    return values


@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None
    severity: str | None = None
    source: str | None = None
    name: str | None = None
    cloud: str | None = None
    department: str | None = None
    incident: int | None = None
    q: str | None = None
    matcher: tuple[str, ...] = ()


def alert_public(alert: Alert) -> AlertPublic:
    return AlertPublic.model_validate(alert.model_dump())


def _cloud_filter(session: Session, ref: str) -> int:
    found = session.execute(
        sa.select(col(Cloud.id)).where(ref_filter(ref, col(Cloud.id), col(Cloud.name)))
    ).scalar()
    if found is None:
        raise NotFound.of("cloud.ref_not_found", cloud=ref)
    return int(found)


def list_alerts(
    session: Session, viewer: Viewer, f: AlertFilter, page: PageParams
) -> Page[AlertPublic]:
    # Core rows, not ORM objects: this list is on the API's hot path (same fields either way).
    query: AnySelect = sa.select(*table_columns(Alert)).where(
        col(Alert.state).in_(_choices(f.state or ACTIVE_ALERTS, AlertState, "state"))
    )
    if f.severity:
        query = query.where(col(Alert.severity).in_(_choices(f.severity, Severity, "severity")))
    if f.source:
        query = query.where(col(Alert.source).in_(_choices(f.source, AlertSource, "source")))
    if f.name:
        query = query.where(col(Alert.name) == f.name)
    if f.q:
        query = query.where(col(Alert.name).contains(f.q, autoescape=True))
    if f.cloud:
        query = query.where(col(Alert.cloud_id) == _cloud_filter(session, f.cloud))
    if f.incident is not None:
        query = query.where(col(Alert.incident_id) == f.incident)
    scoped = department_id(session, viewer, f.department)
    if scoped is not None:
        query = query.where(col(Alert.department_id) == scoped)
    sort = order_by(
        page.sort,
        {
            "name": col(Alert.name),
            "severity": col(Alert.severity),
            "state": col(Alert.state),
            "active_since": col(Alert.active_since),
            "fired_at": col(Alert.fired_at),
            "resolved_at": col(Alert.resolved_at),
        },
        col(Alert.id).desc(),
    )
    query = query.order_by(*sort)
    if not f.matcher:
        rows = row_dicts(core_execute(session, query.offset(page.offset).limit(page.limit)))
        return Page(
            items=[AlertPublic.model_validate(row) for row in rows],
            total=count(session, query),
            limit=page.limit,
            offset=page.offset,
        )
    # Label matchers run in Python (JSON label queries differ between the two databases).
    wanted = parse_matchers(list(f.matcher), where="matcher")
    kept = [
        a
        for a in core_execute(session, query.limit(MATCHER_SCAN_LIMIT))
        if matches(wanted, a.labels)
    ]
    return Page(
        items=[
            AlertPublic.model_validate(a._mapping)
            for a in kept[page.offset : page.offset + page.limit]
        ],
        total=len(kept),
        limit=page.limit,
        offset=page.offset,
    )


def get_alert(session: Session, viewer: Viewer, alert_id: int) -> AlertPublic:
    return alert_public(load_alert(session, viewer, alert_id))


# --- Incidents --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentFilter:
    status: str | None = None
    severity: str | None = None
    cloud: str | None = None
    department: str | None = None
    q: str | None = None
    since: datetime | None = None


def _counts(session: Session, ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per incident: (alerts, firing and not suppressed)."""
    if not ids:
        return {}
    rows = session.execute(
        sa.select(col(Alert.incident_id), col(Alert.state), col(Alert.suppressed_by)).where(
            col(Alert.incident_id).in_(ids)
        )
    ).all()
    total: Counter[int] = Counter()
    firing: Counter[int] = Counter()
    for incident_id, state, suppressed in rows:
        total[incident_id] += 1
        if state == AlertState.firing and suppressed is None:
            firing[incident_id] += 1
    return {i: (total[i], firing[i]) for i in ids}


def incident_public(incident: Incident, counts: tuple[int, int]) -> IncidentPublic:
    return IncidentPublic.model_validate(
        {
            **incident.model_dump(),
            "alert_count": counts[0],
            "firing_count": counts[1],
            "ack_due": severity.ack_due(incident),
        }
    )


def list_incidents(
    session: Session, viewer: Viewer, f: IncidentFilter, page: PageParams
) -> Page[IncidentPublic]:
    statuses = _choices(f.status or OPEN_INCIDENTS, IncidentStatus, "status")
    query: AnySelect = sa.select(Incident).where(col(Incident.status).in_(statuses))
    if f.severity:
        query = query.where(col(Incident.severity).in_(_choices(f.severity, Severity, "severity")))
    if f.cloud:
        query = query.where(col(Incident.cloud_id) == _cloud_filter(session, f.cloud))
    if f.q:
        query = query.where(col(Incident.title).contains(f.q, autoescape=True))
    if f.since:
        query = query.where(col(Incident.created_at) >= f.since)
    scoped = department_id(session, viewer, f.department)
    if scoped is not None:
        query = query.where(col(Incident.department_id) == scoped)
    sort = order_by(
        page.sort,
        {
            "created_at": col(Incident.created_at),
            "severity": col(Incident.severity),
            "status": col(Incident.status),
            "title": col(Incident.title),
        },
        col(Incident.id).desc(),
    )
    rows = list(
        session.execute(query.order_by(*sort).offset(page.offset).limit(page.limit)).scalars()
    )
    counts = _counts(session, [r.id or 0 for r in rows])
    return Page(
        items=[incident_public(r, counts[r.id or 0]) for r in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def get_incident(session: Session, viewer: Viewer, incident_id: int) -> IncidentDetail:
    """The incident with its alerts and its whole timeline, oldest event first."""
    incident = load_incident(session, viewer, incident_id)
    alerts = session.execute(
        sa.select(Alert).where(col(Alert.incident_id) == incident_id).order_by(col(Alert.id))
    ).scalars()
    events = session.execute(
        sa.select(IncidentEvent)
        .where(col(IncidentEvent.incident_id) == incident_id)
        .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
    ).scalars()
    listed = [alert_public(a) for a in alerts]
    public = incident_public(incident, _counts(session, [incident_id])[incident_id])
    return IncidentDetail.model_validate(
        {
            **public.model_dump(),
            "alerts": listed,
            "timeline": [EventPublic.model_validate(e.model_dump()) for e in events],
        }
    )


# --- Silences, maintenance windows, inhibition rules, routes ----------------------------------


def silence_public(silence: Silence, now: datetime) -> SilencePublic:
    return SilencePublic.model_validate(
        {**silence.model_dump(), "state": silence_state(silence, now)}
    )


def list_silences(
    session: Session, page: PageParams, now: datetime, state: str | None = None
) -> Page[SilencePublic]:
    """Newest first; `state` is pending, active or expired (a comma list; default all)."""
    query: AnySelect = sa.select(Silence)
    wanted = {s.strip() for s in (state or "pending,active,expired").split(",") if s.strip()}
    bad = wanted - {"pending", "active", "expired"}
    if bad or not wanted:
        raise Invalid.of(
            "filter.state",
            field="state",
            state=", ".join(sorted(bad)) or state,
            choices="pending, active, expired",
        )
    conditions = []
    if "pending" in wanted:
        conditions.append(col(Silence.starts_at) > now)
    if "active" in wanted:
        conditions.append(sa.and_(col(Silence.starts_at) <= now, col(Silence.ends_at) > now))
    if "expired" in wanted:
        conditions.append(col(Silence.ends_at) <= now)
    query = query.where(sa.or_(*conditions))
    sort = order_by(
        page.sort,
        {"starts_at": col(Silence.starts_at), "ends_at": col(Silence.ends_at)},
        col(Silence.id).desc(),
    )
    rows = session.execute(query.order_by(*sort).offset(page.offset).limit(page.limit)).scalars()
    return Page(
        items=[silence_public(r, now) for r in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def window_public(window: MaintenanceWindow, now: datetime) -> WindowPublic:
    return WindowPublic.model_validate(
        {**window.model_dump(), "active_now": window_active(window, now)}
    )


def inhibit_public(rule: InhibitRule) -> InhibitPublic:
    return InhibitPublic.model_validate(rule.model_dump())


def route_public(route: AlertRoute) -> RoutePublic:
    return RoutePublic.model_validate(route.model_dump())


def list_windows(session: Session, page: PageParams, now: datetime) -> Page[WindowPublic]:
    query: AnySelect = sa.select(MaintenanceWindow)
    sort = order_by(page.sort, {"name": col(MaintenanceWindow.name)}, col(MaintenanceWindow.id))
    rows = session.execute(query.order_by(*sort).offset(page.offset).limit(page.limit)).scalars()
    return Page(
        items=[window_public(r, now) for r in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def list_inhibit_rules(session: Session, page: PageParams) -> Page[InhibitPublic]:
    query: AnySelect = sa.select(InhibitRule)
    sort = order_by(page.sort, {"created_at": col(InhibitRule.created_at)}, col(InhibitRule.id))
    rows = session.execute(query.order_by(*sort).offset(page.offset).limit(page.limit)).scalars()
    return Page(
        items=[inhibit_public(r) for r in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def list_routes(session: Session, page: PageParams) -> Page[RoutePublic]:
    """In the order they are tried: by position, then id."""
    query: AnySelect = sa.select(AlertRoute)
    sort = order_by(
        page.sort,
        {"name": col(AlertRoute.name), "position": col(AlertRoute.position)},
        col(AlertRoute.id),
    )
    if not page.sort:
        sort = [col(AlertRoute.position), col(AlertRoute.id)]
    rows = session.execute(query.order_by(*sort).offset(page.offset).limit(page.limit)).scalars()
    return Page(
        items=[route_public(r) for r in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def get_row(session: Session, model: type[T], row_id: int, what: AlertRow) -> T:
    row = session.get(model, row_id)
    if row is None:
        raise not_found(what, row_id)
    return row
