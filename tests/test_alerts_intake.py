"""POST /api/v1/alerts/alertmanager on both databases: Alertmanager's webhook (version 4)
as current and older Alertmanagers post it, and malformed posts refused whole."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col

from inventory import accounts
from inventory.models import Alert, AuditEvent, Role
from inventory.types import utcnow
from tests import factories

API = "/api/v1"
URL = f"{API}/alerts/alertmanager"

# As Alertmanager 0.25 posts it: notification_reason and routeLabels do not exist yet, and
# a firing alert's endsAt is the zero time. An unknown field rides along.
OLDER: dict[str, Any] = {
    "receiver": "yunheng",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "NodeDown",
                "instance": "10.0.0.7:9100",
                "severity": "critical",
                "cloud": "cloud-x",
                "department": "health",
            },
            "annotations": {"summary": "node 10.0.0.7 is down"},
            "startsAt": "2026-01-05T01:00:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
            "fingerprint": "d2ab7c5e4e1f9c3a",
            "somethingNew": {"nested": True},
        }
    ],
    "groupLabels": {"alertname": "NodeDown"},
    "commonLabels": {"alertname": "NodeDown", "severity": "critical"},
    "commonAnnotations": {"summary": "node 10.0.0.7 is down"},
    "externalURL": "http://alertmanager:9093",
    "version": "4",
    "groupKey": '{}:{alertname="NodeDown"}',
    "truncatedAlerts": 0,
}


def _newer() -> dict[str, Any]:
    payload = copy.deepcopy(OLDER)
    payload["notification_reason"] = "alert_group_update"  # newer Alertmanagers only
    payload["routeLabels"] = {"team": "ops"}
    return payload


def _resolved() -> dict[str, Any]:
    payload = copy.deepcopy(OLDER)
    payload["status"] = "resolved"
    payload["alerts"][0]["status"] = "resolved"
    payload["alerts"][0]["endsAt"] = "2026-01-05T01:10:00Z"
    return payload


@pytest.fixture
def intake(session: Session, client: TestClient) -> dict[str, str]:
    """Alertmanager's credentials: an API token of an on-call user (http_config.authorization)."""
    factories.department(session, "health")
    made = factories.user(session, "am-sender", Role.oncall).user
    issued = accounts.issue_token(session, made, name="am", kind="api", ttl=timedelta(days=30))
    session.commit()
    return {"Authorization": f"Bearer {issued.token}"}


def _alerts(session: Session) -> list[Alert]:
    session.expire_all()
    return list(session.execute(sa.select(Alert).order_by(col(Alert.id))).scalars())


def test_older_payload_fires_then_resolves(
    client: TestClient, session: Session, intake: dict[str, str]
) -> None:
    posted = client.post(URL, json=OLDER, headers=intake)
    assert posted.status_code == 200, posted.text
    assert posted.json()["received"] == 1 and posted.json()["firing"] == 1
    (alert,) = _alerts(session)
    assert alert.state == "firing" and alert.source == "alertmanager"
    assert alert.name == "NodeDown" and alert.severity == "P1"
    assert alert.fired_at is not None and alert.fired_at.isoformat().startswith(
        "2026-01-05T01:00:00.123456"
    )
    assert alert.generator_url and alert.generator_url.startswith("http://prometheus:9090")
    assert alert.department_id is not None, "the department label was resolved"
    # Listed through the API too.
    listed = client.get(f"{API}/alerts?source=alertmanager", headers=intake).json()
    assert [a["id"] for a in listed["items"]] == [alert.id]
    # Alertmanager repeats itself: the same alert, still one row.
    assert client.post(URL, json=OLDER, headers=intake).status_code == 200
    assert len(_alerts(session)) == 1

    done = client.post(URL, json=_resolved(), headers=intake)
    assert done.status_code == 200 and done.json()["resolved"] == 1
    (alert,) = _alerts(session)
    assert alert.state == "resolved"
    assert alert.resolved_at is not None and alert.resolved_at.isoformat().startswith(
        "2026-01-05T01:10:00"
    )
    audit = session.execute(
        sa.select(AuditEvent).where(col(AuditEvent.action) == "alert.intake")
    ).scalars()
    assert [e.actor for e in audit] == ["am-sender", "am-sender", "am-sender"]


def test_newer_payload_with_notification_reason_and_route_labels(
    client: TestClient, session: Session, intake: dict[str, str]
) -> None:
    assert client.post(URL, json=_newer(), headers=intake).status_code == 200
    assert [a.name for a in _alerts(session)] == ["NodeDown"]


def test_resolved_alert_never_seen_firing_is_kept_as_history(
    client: TestClient, session: Session, intake: dict[str, str]
) -> None:
    assert client.post(URL, json=_resolved(), headers=intake).status_code == 200
    (alert,) = _alerts(session)
    assert alert.state == "resolved" and alert.incident_id is None


def test_future_and_zero_times_fall_back_to_now(
    client: TestClient, session: Session, intake: dict[str, str]
) -> None:
    payload = copy.deepcopy(OLDER)
    payload["alerts"][0]["startsAt"] = "2999-01-01T00:00:00Z"
    before = utcnow()
    assert client.post(URL, json=payload, headers=intake).status_code == 200
    (alert,) = _alerts(session)
    assert alert.active_since >= before


def _broken(change: str) -> Any:
    payload: Any = copy.deepcopy(OLDER)
    first = payload["alerts"][0]
    if change == "no alerts":
        del payload["alerts"]
    elif change == "labels not strings":
        first["labels"]["port"] = 9100
    elif change == "empty labels":
        first["labels"] = {}
    elif change == "bad status":
        first["status"] = "on fire"
    elif change == "bad time":
        first["startsAt"] = "yesterday"
    elif change == "version 3":
        payload["version"] = "3"
    elif change == "not an object":
        payload = [OLDER]
    elif change == "second alert bad":
        payload["alerts"].append({"status": "firing"})
    return payload


BROKEN = [
    ("no alerts", "alerts"),
    ("labels not strings", "alerts.0.labels.port"),
    ("empty labels", "alerts.0.labels"),
    ("bad status", "alerts.0.status"),
    ("bad time", "alerts.0.startsAt"),
    ("version 3", "version"),
    ("not an object", "body"),
    ("second alert bad", "alerts.1.labels"),
]


def test_malformed_payload_is_refused_whole_naming_the_field(
    client: TestClient, session: Session, intake: dict[str, str]
) -> None:
    for change, field in BROKEN:
        response = client.post(URL, json=_broken(change), headers=intake)
        assert response.status_code == 422, (change, response.text)
        body = response.json()
        assert body["field"] == field, (change, body)
        assert body["error"].startswith("invalid Alertmanager payload") or field == "body"
        assert _alerts(session) == [], f"{change}: nothing stored"
    # The control: the unbroken payload is taken.
    assert client.post(URL, json=_broken("none"), headers=intake).status_code == 200
    assert len(_alerts(session)) == 1


def test_intake_needs_an_oncall_or_admin_token(
    client: TestClient, session: Session, intake: dict[str, str]
) -> None:
    manager = factories.user(session, "boss", Role.manager)
    assert client.post(URL, json=OLDER).status_code == 401
    denied = client.post(URL, json=OLDER, headers=manager.headers)
    assert denied.status_code == 403 and "may not" in denied.json()["error"]
    assert _alerts(session) == []
