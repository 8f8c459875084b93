"""The alerts pages: the live list with its filters and paging, row actions, an incident with
its timeline and actions, silences and maintenance windows, on both databases."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col

from alerts.state import Observation, observe
from inventory.models import (
    Alert,
    AlertSource,
    Incident,
    IncidentEvent,
    IncidentStatus,
    MaintenanceWindow,
    Silence,
)
from inventory.types import utcnow
from tests.alert_builders import matrix_rows
from tests.factories import World
from tests.test_web_console import browser, csrf_of, log_in


def as_user(world: World, username: str) -> TestClient:
    client = browser(world)
    log_in(client, username)
    return client


def fire(world: World, name: str, count: int = 1, **labels: str) -> list[int]:
    """`count` firing alerts named `name`, each its own series; their ids."""
    observations = [
        Observation({"alertname": name, "n": str(i), **labels}, {}, 1.0, AlertSource.rule)
        for i in range(count)
    ]
    with Session(world.engine, expire_on_commit=False) as session:
        made = observe(session, f"web:{name}", observations, utcnow(), complete=False)
        session.commit()
        return [a.id or 0 for a in made]


def alert_row(world: World, alert_id: int) -> Alert:
    with Session(world.engine, expire_on_commit=False) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert


@contextmanager
def statements(world: World) -> Iterator[list[str]]:
    seen: list[str] = []

    def log(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(world.engine, "before_cursor_execute", log)
    try:
        yield seen
    finally:
        sa.event.remove(world.engine, "before_cursor_execute", log)


def test_alerts_pages_are_for_oncall_and_admins(world: World) -> None:
    rows = matrix_rows(world.engine, "dept-a", world.target.user.id or 0)
    paths = [
        "/alerts",
        "/alerts?view=incidents",
        f"/alerts/incidents/{rows['incident_id']}",
        "/alerts/silences",
        "/alerts/maintenance",
    ]
    for user in ("admin1", "oncall1"):
        client = as_user(world, user)
        for path in paths:
            assert client.get(path).status_code == 200, (user, path)
    for user in ("manager1", "depta", "deptb"):
        client = as_user(world, user)
        for path in paths:
            response = client.get(path, headers={"accept": "text/html"})
            assert response.status_code == 403, (user, path)
    # nor can a department user act on its own department's alert by URL
    client = as_user(world, "depta")
    client.get("/alerts", headers={"accept": "text/html"})
    token = world.box.mac("csrf", client.cookies.get("yh_csrf") or "")
    response = client.post(f"/alerts/{rows['alert_id']}/ack", data={"csrf_token": token})
    assert response.status_code == 403
    assert alert_row(world, rows["alert_id"]).acked_by is None


def test_severity_filter_from_the_dashboard(world: World) -> None:
    tag = uuid.uuid4().hex[:6]
    fire(world, f"Urgent{tag}", severity="P1")
    fire(world, f"Minor{tag}", severity="P4")
    page = as_user(world, "oncall1").get(f"/alerts?severity=P1&q={tag}").text
    assert f"Urgent{tag}" in page and f"Minor{tag}" not in page
    assert '<option value="P1" selected>' in page
    # the refresh asks for the same filters
    assert f'hx-get="/alerts?severity=P1&amp;q={tag}"' in page
    assert 'hx-trigger="every 10s"' in page


def test_bad_filter_is_shown_beside_its_field(world: World) -> None:
    response = as_user(world, "oncall1").get("/alerts?severity=P9")
    assert response.status_code == 422
    assert 'aria-describedby="f-severity-error"' in response.text
    assert 'id="f-severity-error"' in response.text
    response = as_user(world, "oncall1").get("/alerts?cloud=no-such-cloud")
    assert response.status_code == 422 and 'id="f-cloud-error"' in response.text


def test_list_pages_in_a_fixed_number_of_queries(world: World) -> None:
    tag = uuid.uuid4().hex[:6]
    fire(world, f"Flood{tag}", count=55)
    client = as_user(world, "oncall1")
    first = client.get(f"/alerts?q=Flood{tag}").text
    assert first.count(f"Flood{tag}</th>") == 50
    assert "第 1–50 条，共 55 条" in first
    next_link = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert next_link and "offset=50" in next_link.group(1)
    second = client.get(next_link.group(1).replace("&amp;", "&")).text
    assert second.count(f"Flood{tag}</th>") == 5
    with statements(world) as seen:
        partial = client.get(f"/alerts?q=Flood{tag}", headers={"hx-request": "true"})
    assert partial.text.lstrip().startswith('<div id="live"') and "<html" not in partial.text
    on_alerts = [s for s in seen if re.search(r"\bFROM alert\b", s)]
    assert len(on_alerts) == 3, on_alerts  # the page, its count, the severity counts


def test_ack_and_resolve_from_the_list(world: World) -> None:
    (alert_id,) = fire(world, f"Ack{uuid.uuid4().hex[:6]}")
    client = as_user(world, "oncall1")
    page = client.get("/alerts").text
    back = "/alerts?severity=P3"
    data = {"csrf_token": csrf_of(page), "back": back}
    response = client.post(f"/alerts/{alert_id}/ack", data=data)
    assert response.status_code == 303 and response.headers["location"] == back
    assert alert_row(world, alert_id).acked_by == "oncall1"
    twice = client.post(f"/alerts/{alert_id}/ack", data=data, headers={"accept": "text/html"})
    assert (
        twice.status_code == 409 and "已由 oncall1 确认" in twice.text
    )  # the error page speaks zh-CN
    response = client.post(f"/alerts/{alert_id}/resolve", data={**data, "back": "//evil.example"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert alert_row(world, alert_id).state.value == "resolved"


def test_incident_page_and_its_actions(world: World) -> None:
    rows = matrix_rows(world.engine, "dept-a", world.target.user.id or 0)
    incident_id = rows["incident_id"]
    client = as_user(world, "oncall1")
    url = f"/alerts/incidents/{incident_id}"
    page = client.get(url).text
    assert "Matrix" in page and f'action="/alerts/{rows["alert_id"]}/ack"' in page
    token = csrf_of(page)
    blank = client.post(f"{url}/note", data={"csrf_token": token, "text": "   "})
    assert blank.status_code == 422
    assert 'id="note-text-error"' in blank.text and 'aria-invalid="true"' in blank.text
    steps = [
        ("ack", {}),
        ("escalate", {}),
        ("note", {"text": "已联系厂商值班工程师"}),
        ("resolve", {"text": "交换机更换完成"}),
    ]
    for action, extra in steps:
        response = client.post(f"{url}/{action}", data={"csrf_token": token, **extra})
        assert response.status_code == 303, (action, response.text)
    with Session(world.engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.status == IncidentStatus.resolved
        assert incident.acknowledged_by == "oncall1" and incident.resolved_by == "oncall1"
        kinds = list(
            session.execute(
                sa.select(col(IncidentEvent.kind)).where(
                    col(IncidentEvent.incident_id) == incident_id
                )
            ).scalars()
        )
    assert {"acked", "escalated", "note", "resolved"} <= set(kinds)
    page = client.get(url).text
    assert "已联系厂商值班工程师" in page and "交换机更换完成" in page
    assert f'action="{url}/ack"' not in page  # resolved: no more actions
    again = client.post(f"{url}/ack", data={"csrf_token": token}, headers={"accept": "text/html"})
    assert again.status_code == 409


def test_silence_an_alert_series(world: World) -> None:
    name = f"Noisy{uuid.uuid4().hex[:6]}"
    (alert_id,) = fire(world, name, severity="P4")
    client = as_user(world, "oncall1")
    page = client.get(f"/alerts/silences?alert={alert_id}").text
    prefilled = re.search(r'<textarea id="silence-matchers"[^>]*>([^<]*)</textarea>', page)
    assert prefilled and f"alertname=&#34;{name}&#34;" in prefilled.group(1)
    matchers = prefilled.group(1).replace("&#34;", '"')
    token = csrf_of(page)
    bad = client.post(
        "/alerts/silences",
        data={"csrf_token": token, "matchers": 'alertname=~"(("', "duration_minutes": "30",
              "comment": "x"},
    )  # fmt: skip
    assert bad.status_code == 422 and 'id="silence-matchers-error"' in bad.text
    assert "alertname=~&#34;((&#34;" in bad.text  # what was typed is kept
    no_comment = client.post(
        "/alerts/silences",
        data={"csrf_token": token, "matchers": matchers, "duration_minutes": "30"},
    )
    assert no_comment.status_code == 422 and 'id="silence-comment-error"' in no_comment.text
    made = client.post(
        "/alerts/silences",
        data={"csrf_token": token, "matchers": matchers, "duration_minutes": "30",
              "comment": "割接期间"},
    )  # fmt: skip
    assert made.status_code == 303
    with Session(world.engine) as session:
        silence = session.execute(
            sa.select(Silence).where(col(Silence.comment) == "割接期间")
        ).scalar_one()
        assert {"name": "alertname", "op": "=", "value": name} in silence.matchers
        minutes = (silence.ends_at - silence.starts_at).total_seconds() / 60
        assert minutes == 30 and silence.created_by == "oncall1"
        silence_id = silence.id
    listed = client.get("/alerts/silences").text
    assert "割接期间" in listed and f'action="/alerts/silences/{silence_id}/expire"' in listed
    expired = client.post(f"/alerts/silences/{silence_id}/expire", data={"csrf_token": token})
    assert expired.status_code == 303
    assert "割接期间" not in client.get("/alerts/silences").text  # default: current ones
    assert "割接期间" in client.get("/alerts/silences?state=expired").text


def test_maintenance_windows(world: World) -> None:
    client = as_user(world, "admin1")
    page = client.get("/alerts/maintenance").text
    token = csrf_of(page)
    name = f"周末割接-{uuid.uuid4().hex[:4]}"
    form = {
        "csrf_token": token,
        "name": name,
        "matchers": 'cloud="cloud-a"',
        "weekdays": ["5", "6"],
        "start_time": "25:00",
        "duration_minutes": "90",
        "timezone": "Asia/Shanghai",
    }
    bad = client.post("/alerts/maintenance", data=form)
    assert bad.status_code == 422 and 'id="window-start_time-error"' in bad.text
    assert f'value="{name}"' in bad.text and 'value="5" checked' in bad.text
    made = client.post("/alerts/maintenance", data={**form, "start_time": "01:30"})
    assert made.status_code == 303
    with Session(world.engine) as session:
        window = session.execute(
            sa.select(MaintenanceWindow).where(col(MaintenanceWindow.name) == name)
        ).scalar_one()
        assert window.weekdays == [5, 6] and window.start_time == "01:30"
        assert window.duration_minutes == 90 and window.created_by == "admin1"
        window_id = window.id
    listed = client.get("/alerts/maintenance").text
    assert name in listed and "周六, 周日" in listed
    deleted = client.post(f"/alerts/maintenance/{window_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    with Session(world.engine) as session:
        assert session.get(MaintenanceWindow, window_id) is None


def test_posts_need_the_csrf_token(world: World) -> None:
    rows = matrix_rows(world.engine, "dept-a", world.target.user.id or 0)
    client = as_user(world, "oncall1")
    client.get("/alerts")
    for path in [
        f"/alerts/{rows['alert_id']}/ack",
        f"/alerts/incidents/{rows['incident_id']}/ack",
        f"/alerts/silences/{rows['silence_id']}/expire",
        f"/alerts/maintenance/{rows['window_id']}/delete",
        "/alerts/silences",
    ]:
        assert client.post(path, data={"csrf_token": "forged"}).status_code == 403, path
    assert alert_row(world, rows["alert_id"]).acked_by is None


def test_who_is_on_call_is_shown(world: World) -> None:
    target = world.target.user
    body = {
        "name": "web-duty",
        "layers": [
            {"name": "main", "member_ids": [target.id], "starts_at": "2026-01-05T09:00:00+08:00"}
        ],
    }
    made = world.client.post(
        "/api/v1/rotations", json=body, headers=world.headers(world.estate.admin)
    )
    assert made.status_code == 201, made.text
    page = as_user(world, "oncall1").get("/alerts").text
    card = re.search(r'id="oncall-h".*?</section>', page, re.S)
    assert card and "web-duty" in card.group(0)
    assert (target.display_name or target.username) in card.group(0)


def test_pages_carry_no_inline_script_or_external_url(world: World) -> None:
    rows = matrix_rows(world.engine, "dept-a", world.target.user.id or 0)
    client = as_user(world, "oncall1")
    for path in [
        "/alerts",
        f"/alerts/incidents/{rows['incident_id']}",
        f"/alerts/silences?alert={rows['alert_id']}",
        "/alerts/maintenance",
    ]:
        html = client.get(path).text
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag, f"{path}: inline script {tag}"
        for url in re.findall(r"""(?:src|href|hx-get|action)=["']([^"']+)""", html):
            assert url.startswith(("/", "#")), f"{path}: external {url}"
