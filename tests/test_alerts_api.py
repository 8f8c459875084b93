"""The alerts API on both databases: an incident acknowledged, noted, escalated and
resolved by on-call staff, with its timeline and audit rows; department scoping; alert
filters, acknowledging and resolving alerts."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col

from alerts import incidents
from inventory.crypto import SecretBox
from inventory.models import Delivery, EscalationPolicy, Incident
from inventory.types import utcnow
from tests.alert_builders import API, HOST_1, HOST_2, People, audit_actions, fire, people


def _incident(client: TestClient, session: Session, box: SecretBox, p: People) -> int:
    fire(client, p.oncall, HOST_1, HOST_2)
    session.expire_all()
    incidents.process(session, box, utcnow())
    session.commit()
    listed = client.get(f"{API}/incidents", headers=p.oncall.headers).json()
    assert listed["total"] == 1, listed
    incident_id: int = listed["items"][0]["id"]
    return incident_id


def test_incident_lifecycle_through_the_api(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    p = people(session)
    incident_id = _incident(client, session, box, p)
    url = f"{API}/incidents/{incident_id}"
    shown = client.get(url, headers=p.manager.headers).json()
    assert shown["alert_count"] == 2 and shown["firing_count"] == 2
    assert shown["status"] == "open" and shown["ack_due"] > shown["created_at"]
    assert [e["kind"] for e in shown["timeline"]][:3] == ["created", "alert_added", "alert_added"]

    # Managers and department users read but may not act.
    for reader in (p.manager, p.dept_a):
        denied = client.post(f"{url}/ack", headers=reader.headers)
        assert denied.status_code == 403 and "may not" in denied.json()["error"]

    acked = client.post(f"{url}/ack", headers=p.oncall.headers)
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "oncall1"
    assert {a["acked_by"] for a in body["alerts"]} == {"oncall1"}
    assert body["timeline"][-1]["kind"] == "acked" and body["timeline"][-1]["actor"] == "oncall1"
    again = client.post(f"{url}/ack", headers=p.admin.headers)
    assert again.status_code == 409 and "already acknowledged by oncall1" in again.json()["error"]

    noted = client.post(
        f"{url}/notes", json={"text": "disk array rebooting"}, headers=p.oncall.headers
    )
    assert noted.status_code == 201
    assert noted.json()["timeline"][-1]["detail"] == "disk array rebooting"
    blank = client.post(f"{url}/notes", json={"text": "  "}, headers=p.oncall.headers)
    assert blank.status_code == 422 and blank.json()["field"] == "text"

    # No escalation policy yet: the answer says so. With one, the next step pages at once.
    refused = client.post(f"{url}/escalate", headers=p.oncall.headers)
    assert refused.status_code == 409 and "no escalation policy" in refused.json()["error"]
    target = [{"type": "user", "id": p.admin.user.id}]
    policy = EscalationPolicy(name="ops", steps=[{"wait_minutes": 5, "targets": target}])
    session.add(policy)
    session.flush()
    row = session.get(Incident, incident_id)
    assert row is not None
    row.escalation_policy_id = policy.id
    session.commit()
    escalated = client.post(f"{url}/escalate", headers=p.oncall.headers)
    assert escalated.status_code == 200, escalated.text
    (step,) = [e for e in escalated.json()["timeline"] if e["kind"] == "escalated"]
    assert step["actor"] == "oncall1"
    assert "admin1" in step["detail"]
    paged = session.execute(
        sa.select(Delivery).where(col(Delivery.incident_id) == incident_id)
    ).scalars()
    assert [d.user_id for d in paged] == [p.admin.user.id]

    resolved = client.post(
        f"{url}/resolve", json={"comment": "array replaced"}, headers=p.oncall.headers
    )
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_by"] == "oncall1"
    kinds = [e["kind"] for e in resolved.json()["timeline"]]
    assert kinds[-2:] == ["resolved", "note"]
    twice = client.post(f"{url}/resolve", headers=p.oncall.headers)
    assert twice.status_code == 409 and "resolved by oncall1" in twice.json()["error"]
    # Notes still go on a resolved incident (the post-mortem); actions do not.
    assert (
        client.post(f"{url}/notes", json={"text": "rca"}, headers=p.admin.headers).status_code
        == 201
    )
    assert client.post(f"{url}/escalate", headers=p.admin.headers).status_code == 409

    assert audit_actions(client, p, "incident") == [
        ("incident.ack", "oncall1"),
        ("incident.note", "oncall1"),
        ("incident.escalate", "oncall1"),
        ("incident.resolve", "oncall1"),
        ("incident.note", "admin1"),
    ]
    # Resolved incidents leave the default list and show with status=resolved.
    assert client.get(f"{API}/incidents", headers=p.oncall.headers).json()["total"] == 0
    done = client.get(f"{API}/incidents?status=resolved", headers=p.oncall.headers).json()
    assert [i["id"] for i in done["items"]] == [incident_id]


def test_department_users_see_only_their_departments_incidents(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    p = people(session)
    incident_id = _incident(client, session, box, p)
    mine = client.get(f"{API}/incidents", headers=p.dept_a.headers).json()
    assert [i["id"] for i in mine["items"]] == [incident_id]
    theirs = client.get(f"{API}/incidents", headers=p.dept_b.headers).json()
    assert theirs["items"] == [] and theirs["total"] == 0
    hidden = client.get(f"{API}/incidents/{incident_id}", headers=p.dept_b.headers)
    assert hidden.status_code == 404 and "dept-a" not in hidden.text
    assert client.get(f"{API}/alerts", headers=p.dept_b.headers).json()["total"] == 0
    assert client.get(f"{API}/alerts", headers=p.dept_a.headers).json()["total"] == 2
    asked = client.get(f"{API}/incidents?department=dept-a", headers=p.dept_b.headers)
    assert asked.status_code == 403
    assert client.get(f"{API}/silences", headers=p.dept_a.headers).status_code == 403


def test_alert_ack_resolve_and_filters(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    p = people(session)
    incident_id = _incident(client, session, box, p)
    fire(client, p.oncall, {"alertname": "Disk", "severity": "critical", "host": "h1"})
    h = p.oncall.headers
    everything = client.get(f"{API}/alerts", headers=h).json()
    assert everything["total"] == 3
    p1 = client.get(f"{API}/alerts?severity=P1", headers=h).json()
    assert [a["name"] for a in p1["items"]] == ["Disk"]
    by_label = client.get(f"{API}/alerts", params={"matcher": 'host="h1"'}, headers=h).json()
    assert sorted(a["name"] for a in by_label["items"]) == ["Disk", "HostDown"]
    both = client.get(
        f"{API}/alerts",
        params=[("matcher", 'host="h1"'), ("matcher", "alertname=~Host.*")],
        headers=h,
    ).json()
    assert [a["name"] for a in both["items"]] == ["HostDown"]
    grouped = client.get(f"{API}/alerts?incident={incident_id}", headers=h).json()
    assert grouped["total"] == 2
    bad_state = client.get(f"{API}/alerts?state=burning", headers=h)
    assert bad_state.status_code == 422 and bad_state.json()["field"] == "state"
    bad_matcher = client.get(f"{API}/alerts", params={"matcher": 'host=~"("'}, headers=h)
    assert bad_matcher.status_code == 422 and bad_matcher.json()["field"] == "matcher[0].value"

    alert_id = (
        by_label["items"][0]["id"]
        if by_label["items"][0]["name"] == "HostDown"
        else by_label["items"][1]["id"]
    )
    acked = client.post(f"{API}/alerts/{alert_id}/ack", headers=h)
    assert acked.status_code == 200 and acked.json()["acked_by"] == "oncall1"
    incident = client.get(f"{API}/incidents/{incident_id}", headers=h).json()
    assert incident["status"] == "acknowledged", "acking an alert acks its incident"
    assert client.post(f"{API}/alerts/{alert_id}/ack", headers=h).status_code == 409
    gone = client.post(f"{API}/alerts/{alert_id}/resolve", headers=h)
    assert gone.status_code == 200 and gone.json()["state"] == "resolved"
    assert client.post(f"{API}/alerts/{alert_id}/resolve", headers=h).status_code == 409
    assert client.get(f"{API}/alerts/999999", headers=h).status_code == 404
    assert audit_actions(client, p, "alert")[-2:] == [
        ("alert.ack", "oncall1"),
        ("alert.resolve", "oncall1"),
    ]
    resolved = client.get(f"{API}/alerts?state=resolved", headers=h).json()
    assert [a["id"] for a in resolved["items"]] == [alert_id]
