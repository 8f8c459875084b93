"""Noise control and routing through the API on both databases: silences, maintenance
windows, inhibition rules and routes, with their roles and audit rows."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from alerts import incidents
from inventory.crypto import SecretBox
from inventory.models import Alert, Incident
from inventory.types import utcnow
from tests.alert_builders import API, HOST_1, audit_actions, fire, people


def test_silences_through_the_api(client: TestClient, session: Session, box: SecretBox) -> None:
    p = people(session)
    h = p.oncall.headers
    made = client.post(
        f"{API}/silences",
        json={
            "matchers": ['alertname="HostDown"', 'host=~"h[12]"'],
            "duration_minutes": 60,
            "comment": "disks",
        },
        headers=h,
    )
    assert made.status_code == 201, made.text
    silence = made.json()
    assert silence["state"] == "active" and silence["created_by"] == "oncall1"
    assert silence["matchers"][1] == {"name": "host", "op": "=~", "value": "h[12]"}

    fire(client, p.oncall, HOST_1)
    session.expire_all()
    incidents.process(session, box, utcnow())
    session.commit()
    (alert,) = session.execute(sa.select(Alert)).scalars()
    assert alert.suppressed_by == f"silence {silence['id']}" and alert.incident_id is None

    for body, field in (
        ({"matchers": ['host=~"("'], "comment": "x"}, "body.matchers"),
        ({"matchers": ['team=~".*"'], "comment": "x"}, "matchers"),
        ({"matchers": ["a=b"], "comment": "x", "ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),
        ({"matchers": ["a=b"], "comment": "x", "ends_at": "2099-01-01T00:00:00"}, "body.ends_at"),
        ({"matchers": [], "comment": "x"}, "body.matchers"),
        ({"matchers": ["a=b"]}, "body.comment"),
        ({"matchers": ["a=b"], "comment": "x", "extra": 1}, "body.extra"),
    ):
        refused = client.post(f"{API}/silences", json=body, headers=h)
        assert refused.status_code == 422, (body, refused.text)
        got = refused.json().get("field") or refused.json()["fields"][0]["field"]
        assert got == field, (body, refused.json())

    url = f"{API}/silences/{silence['id']}"
    changed = client.patch(url, json={"comment": "disks, day two"}, headers=h)
    assert changed.status_code == 200 and changed.json()["comment"] == "disks, day two"
    listed = client.get(f"{API}/silences?state=active", headers=p.manager.headers).json()
    assert [s["id"] for s in listed["items"]] == [silence["id"]]
    assert (
        client.post(
            f"{API}/silences", json={"matchers": ["a=b"], "comment": "x"}, headers=p.manager.headers
        ).status_code
        == 403
    )
    expired = client.delete(url, headers=h)
    assert expired.status_code == 200 and expired.json()["state"] == "expired"
    assert client.delete(url, headers=h).status_code == 409
    assert client.get(f"{API}/silences?state=active", headers=h).json()["total"] == 0
    assert client.get(f"{API}/silences?state=expired", headers=h).json()["total"] == 1
    assert client.get(f"{API}/silences?state=soon", headers=h).status_code == 422
    assert audit_actions(client, p, "silence") == [
        ("silence.create", "oncall1"),
        ("silence.update", "oncall1"),
        ("silence.expire", "oncall1"),
    ]
    # Once expired, the alert is grouped and notified like any other.
    session.expire_all()
    incidents.process(session, box, utcnow())
    session.commit()
    session.refresh(alert)
    assert alert.suppressed_by is None and alert.incident_id is not None


def test_maintenance_windows_through_the_api(client: TestClient, session: Session) -> None:
    p = people(session)
    h = p.oncall.headers
    body = {
        "name": "db-patching",
        "matchers": ["service=db"],
        "weekdays": [0, 2],
        "start_time": "23:00",
        "duration_minutes": 120,
        "comment": "monthly patching",
    }
    made = client.post(f"{API}/maintenance-windows", json=body, headers=h)
    assert made.status_code == 201, made.text
    window = made.json()
    assert window["timezone"] == "Asia/Shanghai" and isinstance(window["active_now"], bool)
    duplicate = client.post(f"{API}/maintenance-windows", json=body, headers=h)
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"
    for change, field in (
        ({"timezone": "Mars/Olympus"}, "body.timezone"),
        ({"start_time": "25:00"}, "body.start_time"),
        ({"weekdays": [7]}, "body.weekdays"),
        ({"duration_minutes": 0}, "body.duration_minutes"),
    ):
        bad = client.post(
            f"{API}/maintenance-windows", json={**body, "name": "x", **change}, headers=h
        )
        assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == field, bad.text
    url = f"{API}/maintenance-windows/{window['id']}"
    changed = client.patch(url, json={"weekdays": [5, 6], "start_time": "01:30"}, headers=h)
    assert changed.status_code == 200 and changed.json()["weekdays"] == [5, 6]
    backwards = client.patch(url, json={"valid_until": "2000-01-01T00:00:00Z"}, headers=h)
    assert backwards.status_code == 422 and backwards.json()["field"] == "valid_until"
    assert client.patch(url, json={"name": None}, headers=h).status_code == 422
    assert client.get(url, headers=p.manager.headers).status_code == 200
    assert client.delete(url, headers=p.manager.headers).status_code == 403
    assert client.delete(url, headers=h).status_code == 204
    assert client.get(url, headers=h).status_code == 404
    assert [a for a, _ in audit_actions(client, p, "maintenance_window")] == [
        "maintenance_window.create",
        "maintenance_window.update",
        "maintenance_window.delete",
    ]


def test_inhibit_rules_and_routes_are_for_admins(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    p = people(session)
    a = p.admin.headers
    rule = {
        "source_matchers": ["severity=critical"],
        "target_matchers": ["severity=warning"],
        "equal": ["cloud"],
    }
    assert (
        client.post(f"{API}/inhibit-rules", json=rule, headers=p.oncall.headers).status_code == 403
    )
    made = client.post(f"{API}/inhibit-rules", json=rule, headers=a)
    assert made.status_code == 201 and made.json()["equal"] == ["cloud"]
    rule_url = f"{API}/inhibit-rules/{made.json()['id']}"
    assert client.patch(rule_url, json={"equal": ["cloud", "zone"]}, headers=a).json()["equal"] == [
        "cloud",
        "zone",
    ]
    assert (
        client.post(
            f"{API}/inhibit-rules", json={"source_matchers": ["a=b"]}, headers=a
        ).status_code
        == 422
    )
    assert client.delete(rule_url, headers=a).status_code == 204

    route = {
        "name": "db",
        "position": 5,
        "matchers": ["team=db"],
        "group_by": ["cluster"],
        "group_wait_seconds": 10,
    }
    first = client.post(f"{API}/alert-routes", json=route, headers=a)
    assert first.status_code == 201, first.text
    early = client.post(
        f"{API}/alert-routes", json={**route, "name": "early", "position": 1}, headers=a
    ).json()
    names = [
        r["name"]
        for r in client.get(f"{API}/alert-routes", headers=p.manager.headers).json()["items"]
    ]
    assert names == ["early", "db"], "listed in the order tried"
    assert client.post(f"{API}/alert-routes", json=route, headers=a).status_code == 409
    unknown = client.post(
        f"{API}/alert-routes", json={**route, "name": "x", "channel_ids": [999]}, headers=a
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "channel_ids"
    nopolicy = client.post(
        f"{API}/alert-routes", json={**route, "name": "y", "escalation_policy_id": 999}, headers=a
    )
    assert nopolicy.status_code == 422 and nopolicy.json()["field"] == "escalation_policy_id"
    assert (
        client.post(
            f"{API}/alert-routes", json={**route, "name": "z"}, headers=p.oncall.headers
        ).status_code
        == 403
    )

    # An incident on a deleted route carries on under the default route.
    fire(client, p.oncall, {"alertname": "Slow", "team": "db", "cluster": "k1"})
    session.expire_all()
    incidents.process(session, box, utcnow())
    session.commit()
    (incident,) = session.execute(sa.select(Incident)).scalars()
    assert incident.route_id == early["id"]
    assert client.delete(f"{API}/alert-routes/{early['id']}", headers=a).status_code == 204
    session.expire_all()
    kept = session.get(Incident, incident.id)
    assert kept is not None and kept.route_id is None
    assert [x for x, _ in audit_actions(client, p, "alert_route")] == [
        "alert_route.create",
        "alert_route.create",
        "alert_route.delete",
    ]
