"""Builders for the alerting tests: observations and rounds, on-call users, deliveries and
notifications, fresh rows for the role matrix, and people acting through the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from alerts.state import Observation, observe
from inventory.models import (
    Alert,
    AlertRoute,
    AlertSource,
    AlertState,
    Delivery,
    EscalationPolicy,
    Incident,
    IncidentEvent,
    IncidentStatus,
    InhibitRule,
    MaintenanceWindow,
    Role,
    Severity,
    Silence,
    User,
)
from inventory.types import utcnow
from tests import factories
from tests.factories import Actor

# Monday 2026-01-05 09:00 in Asia/Shanghai (01:00 UTC): the injected clock's origin.
T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def at(seconds: float = 0, *, minutes: float = 0, hours: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, minutes=minutes, hours=hours)


def obs(
    name: str,
    *,
    for_seconds: float = 0,
    keep_firing_for: float = 0,
    value: float | None = 1.0,
    source: AlertSource = AlertSource.rule,
    annotations: dict[str, str] | None = None,
    **labels: str,
) -> Observation:
    return Observation(
        labels={"alertname": name, **labels},
        annotations=annotations or {},
        value=value,
        source=source,
        for_seconds=for_seconds,
        keep_firing_for_seconds=keep_firing_for,
    )


def round_(
    session: Session,
    observations: list[Observation],
    now: datetime,
    *,
    key: str = "rule:test.yml:group",
    complete: bool = True,
) -> list[Alert]:
    return observe(session, key, observations, now, complete=complete)


def alert_by_name(session: Session, name: str, **labels: str) -> Alert:
    rows = session.execute(sa.select(Alert).where(col(Alert.name) == name)).scalars()
    found: list[Alert] = [a for a in rows if all(a.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, found
    return found[0]


def state_of(alert: Alert) -> AlertState:
    """The alert's state now (a function, so a type checker does not pin it after an
    assert: the next round changes it)."""
    return alert.state


def incidents(session: Session) -> list[Incident]:
    return list(session.execute(sa.select(Incident).order_by(col(Incident.id))).scalars())


def deliveries(session: Session, incident_id: int | None = None) -> list[Delivery]:
    query = sa.select(Delivery).order_by(col(Delivery.id))
    if incident_id is not None:
        query = query.where(col(Delivery.incident_id) == incident_id)
    return list(session.execute(query).scalars())


def notifications(session: Session, incident_id: int) -> list[dict[str, Any]]:
    """The incident's "notified" timeline events' data, in order (one per notification)."""
    rows = session.execute(
        sa.select(IncidentEvent)
        .where(col(IncidentEvent.incident_id) == incident_id, col(IncidentEvent.kind) == "notified")
        .order_by(col(IncidentEvent.id))
    ).scalars()
    return [e.data for e in rows]


def timeline(session: Session, incident_id: int) -> list[str]:
    rows = session.execute(
        sa.select(IncidentEvent)
        .where(col(IncidentEvent.incident_id) == incident_id)
        .order_by(col(IncidentEvent.id))
    ).scalars()
    return [e.kind for e in rows]


def oncall_user(session: Session, username: str = "oncall-a") -> User:
    return factories.user(session, username, Role.oncall).user


def matrix_rows(engine: Engine, department_code: str, target_user_id: int) -> dict[str, int]:
    """Fresh rows for one role-matrix case: a firing alert of the department in an open
    incident with an escalation policy (paging the target user), an active silence, a
    maintenance window, an inhibition rule and a route, all matching only this case."""
    tag = uuid.uuid4().hex[:8]
    now = utcnow()
    mine = [{"name": "case", "op": "=", "value": tag}]
    with Session(engine, expire_on_commit=False) as session:
        labels = {"alertname": "Matrix", "case": tag, "department": department_code}
        observation = Observation(labels, {}, 1.0, AlertSource.rule)
        (alert,) = observe(session, f"matrix:{tag}", [observation], now, complete=False)
        steps = [{"wait_minutes": 0, "targets": [{"type": "user", "id": target_user_id}]}]
        policy = EscalationPolicy(name=f"matrix-{tag}", steps=steps)
        session.add(policy)
        session.flush()
        incident = Incident(
            group_key=f"matrix:{tag}",
            title=f"Matrix {tag}",
            severity=Severity.P3,
            status=IncidentStatus.open,
            escalation_policy_id=policy.id,
            department_id=alert.department_id,
            created_at=now,
        )
        session.add(incident)
        session.flush()
        alert.incident_id = incident.id
        silence = Silence(
            matchers=mine,
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            created_by="matrix",
            comment="matrix",
        )
        window = MaintenanceWindow(
            name=f"matrix-{tag}",
            matchers=mine,
            start_time="02:00",
            duration_minutes=60,
            valid_from=now,
            created_by="matrix",
        )
        rule = InhibitRule(source_matchers=mine, target_matchers=mine, created_by="matrix")
        route = AlertRoute(name=f"matrix-{tag}", matchers=mine, position=1000)
        session.add_all([silence, window, rule, route])
        session.commit()
        return {
            "alert_id": alert.id or 0,
            "incident_id": incident.id or 0,
            "silence_id": silence.id or 0,
            "window_id": window.id or 0,
            "rule_id": rule.id or 0,
            "route_id": route.id or 0,
        }


# --- Through the API ---------------------------------------------------------------------

API = "/api/v1"


@dataclass
class People:
    admin: Actor
    oncall: Actor
    manager: Actor
    dept_a: Actor
    dept_b: Actor


def people(session: Session) -> People:
    a = factories.department(session, "dept-a")
    b = factories.department(session, "dept-b")
    return People(
        admin=factories.user(session, "admin1", Role.admin),
        oncall=factories.user(session, "oncall1", Role.oncall),
        manager=factories.user(session, "manager1", Role.manager),
        dept_a=factories.user(session, "depta", Role.department, a.id),
        dept_b=factories.user(session, "deptb", Role.department, b.id),
    )


def fire(client: TestClient, who: Actor, *alerts: dict[str, str], status: str = "firing") -> Any:
    payload = {
        "version": "4",
        "status": status,
        "receiver": "yunheng",
        "alerts": [{"status": status, "labels": labels} for labels in alerts],
    }
    response = client.post(f"{API}/alerts/alertmanager", json=payload, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


HOST_1 = {"alertname": "HostDown", "cloud": "c1", "host": "h1", "department": "dept-a"}
HOST_2 = {"alertname": "HostDown", "cloud": "c1", "host": "h2", "department": "dept-a"}


def audit_actions(client: TestClient, p: People, target_type: str) -> list[tuple[str, str]]:
    items = client.get(
        f"{API}/audit?limit=100&target_type={target_type}", headers=p.admin.headers
    ).json()["items"]
    return [(e["action"], e["actor"]) for e in reversed(items)]
