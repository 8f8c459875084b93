"""Incidents on both databases with an injected clock: routing and grouping, group_wait /
group_interval / repeat_interval, suppression, auto-resolve, and a restart mid-incident.

Notifications go through the real dispatch (built-in inbox channel, which reaches every
on-call user) and are sent with the real send_due, so "paged once" is counted in inboxes.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import actions, config, dispatch, incidents
from alerts.schemas import SilenceCreate
from alerts.state import Observation
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.models import (
    AlertRoute,
    AlertState,
    DeliveryStatus,
    InboxMessage,
    IncidentStatus,
    Severity,
)
from tests.alert_builders import (
    alert_by_name,
    at,
    deliveries,
    notifications,
    obs,
    oncall_user,
    round_,
    timeline,
)
from tests.alert_builders import incidents as all_incidents
from tests.factories import SYSTEM


def _route(session: Session, **fields: object) -> AlertRoute:
    base: dict[str, object] = {
        "name": "ops",
        "group_by": ["alertname", "cloud"],
        "group_wait_seconds": 30,
        "group_interval_seconds": 300,
        "repeat_interval_seconds": 3600,
    }
    route = AlertRoute.model_validate({**base, **fields})
    session.add(route)
    session.flush()
    return route


def _inbox(session: Session) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(InboxMessage)).scalar_one())


def test_alerts_group_by_the_routes_labels(session: Session, box: SecretBox) -> None:
    _route(session)
    round_(
        session,
        [
            obs("HostDown", cloud="a", host="h1"),
            obs("HostDown", cloud="a", host="h2"),
            obs("HostDown", cloud="b", host="h3"),
            obs("DiskFull", cloud="a", host="h1"),
        ],
        at(0),
    )
    incidents.process(session, box, at(0))
    made = all_incidents(session)
    assert sorted((i.group_labels["alertname"], i.group_labels["cloud"]) for i in made) == [
        ("DiskFull", "a"),
        ("HostDown", "a"),
        ("HostDown", "b"),
    ]
    down_a = next(i for i in made if i.group_labels == {"alertname": "HostDown", "cloud": "a"})
    assert alert_by_name(session, "HostDown", host="h1").incident_id == down_a.id
    assert alert_by_name(session, "HostDown", host="h2").incident_id == down_a.id
    assert timeline(session, down_a.id or 0) == ["created", "alert_added", "alert_added"]
    assert down_a.route_id is not None and down_a.title.startswith("HostDown (cloud=a)")


def test_first_matching_route_by_position_else_the_default(
    session: Session, box: SecretBox
) -> None:
    never = _route(session, name="never", position=9, matchers=[])
    catch_all = _route(session, name="catch-all", position=5, group_by=["..."])
    db = _route(session, name="db", position=1, matchers=[{"name": "team", "value": "db"}])
    round_(session, [obs("Slow", team="db", cloud="x"), obs("Slow", team="web", cloud="x")], at(0))
    incidents.process(session, box, at(0))
    by_route = {i.route_id: i for i in all_incidents(session)}
    assert set(by_route) == {db.id, catch_all.id} and never.id not in by_route
    assert by_route[catch_all.id].group_labels == {"alertname": "Slow", "team": "web", "cloud": "x"}
    assert by_route[db.id].group_labels == {"alertname": "Slow", "cloud": "x"}
    # With no routes at all, the default groups by alertname and cloud.
    for route in session.execute(sa.select(AlertRoute)).scalars():
        config.delete_route(session, SYSTEM, route.id or 0)
    round_(
        session,
        [obs("Other", cloud="x", host="1"), obs("Other", cloud="x", host="2")],
        at(1),
        key="k2",
    )
    incidents.process(session, box, at(1))
    other = [i for i in all_incidents(session) if i.group_labels.get("alertname") == "Other"]
    assert len(other) == 1 and other[0].route_id is None


def test_group_wait_interval_and_repeat(session: Session, box: SecretBox) -> None:
    oncall_user(session)
    _route(session)
    rule = [obs("HostDown", cloud="a", host="h1")]
    round_(session, rule, at(0))
    incidents.process(session, box, at(0))
    (incident,) = all_incidents(session)
    assert incident.first_notify_at == at(30)
    incidents.process(session, box, at(29))
    assert notifications(session, incident.id or 0) == [], "group_wait not over"
    incidents.process(session, box, at(30))
    assert [n["reason"] for n in notifications(session, incident.id or 0)] == ["firing"]

    # A second host joins: told at most once per group_interval after the last notification.
    rule.append(obs("HostDown", cloud="a", host="h2"))
    round_(session, rule, at(60))
    incidents.process(session, box, at(60))
    incidents.process(session, box, at(329))
    assert len(notifications(session, incident.id or 0)) == 1
    incidents.process(session, box, at(330))
    assert [n["reason"] for n in notifications(session, incident.id or 0)] == ["firing", "firing"]

    # Nothing changes: silence until repeat_interval, then a reminder.
    round_(session, rule, at(600))
    incidents.process(session, box, at(600))
    incidents.process(session, box, at(330 + 3599))
    assert len(notifications(session, incident.id or 0)) == 2
    incidents.process(session, box, at(330 + 3600))
    reasons = [n["reason"] for n in notifications(session, incident.id or 0)]
    assert reasons == ["firing", "firing", "repeat"]
    seqs = [n["seq"] for n in notifications(session, incident.id or 0)]
    assert seqs == [1, 2, 3]

    # Acknowledged: no more reminders, but a change (a host resolving) is still sent.
    actions.ack(session, SYSTEM, incident.id or 0, at(4000))
    incidents.process(session, box, at(330 + 2 * 3600))
    assert len(notifications(session, incident.id or 0)) == 3
    round_(session, rule[:1], at(330 + 2 * 3600 + 10))
    incidents.process(session, box, at(330 + 2 * 3600 + 10))
    assert [n["reason"] for n in notifications(session, incident.id or 0)][-1] == "firing"
    assert "alert_resolved" in timeline(session, incident.id or 0)


def test_auto_resolve_notifies_resolved_once(session: Session, box: SecretBox) -> None:
    oncall_user(session)
    _route(session, group_wait_seconds=0)
    round_(session, [obs("HostDown", cloud="a", host="h1")], at(0))
    incidents.process(session, box, at(0))
    (incident,) = all_incidents(session)
    round_(session, [], at(60))
    incidents.process(session, box, at(60))
    assert incident.status == IncidentStatus.resolved
    assert incident.resolved_by == "auto" and incident.resolved_at == at(60)
    assert [n["reason"] for n in notifications(session, incident.id or 0)] == [
        "firing",
        "resolved",
    ]
    incidents.process(session, box, at(120))
    assert len(notifications(session, incident.id or 0)) == 2
    assert timeline(session, incident.id or 0)[-3:] == ["alert_resolved", "resolved", "notified"]


def test_cleared_within_group_wait_pages_nobody(session: Session, box: SecretBox) -> None:
    oncall_user(session)
    _route(session, group_wait_seconds=60)
    round_(session, [obs("Blip", cloud="a")], at(0))
    incidents.process(session, box, at(0))
    round_(session, [], at(30))
    incidents.process(session, box, at(30))
    (incident,) = all_incidents(session)
    assert incident.status == IncidentStatus.resolved
    assert notifications(session, incident.id or 0) == [] and deliveries(session) == []


def test_severity_rises_with_a_worse_alert(session: Session, box: SecretBox) -> None:
    _route(session, group_by=["cloud"])
    round_(session, [obs("Slow", cloud="a", severity="warning")], at(0))
    incidents.process(session, box, at(0))
    round_(
        session,
        [obs("Slow", cloud="a", severity="warning"), obs("Down", cloud="a", severity="critical")],
        at(10),
    )
    incidents.process(session, box, at(10))
    (incident,) = all_incidents(session)
    assert incident.severity == Severity.P1
    assert "severity" in timeline(session, incident.id or 0)


def test_suppressed_alerts_open_no_incident_until_the_silence_ends(
    session: Session, box: SecretBox
) -> None:
    oncall_user(session)
    _route(session, group_wait_seconds=0)
    silence = config.create_silence(
        session,
        SYSTEM,
        SilenceCreate(matchers=["alertname=HostDown"], duration_minutes=10, comment="work"),
        at(0),
    )
    round_(session, [obs("HostDown", cloud="a", host="h1")], at(0))
    incidents.process(session, box, at(0))
    alert = alert_by_name(session, "HostDown")
    assert alert.suppressed_by == f"silence {silence.id}" and all_incidents(session) == []
    config.expire_silence(session, SYSTEM, silence.id or 0, at(120))
    incidents.process(session, box, at(121))
    (incident,) = all_incidents(session)
    assert alert.suppressed_by is None and alert.incident_id == incident.id
    assert [n["reason"] for n in notifications(session, incident.id or 0)] == ["firing"]


def test_cloud_down_pages_once_for_the_cloud_not_per_host(session: Session, box: SecretBox) -> None:
    oncall_user(session)
    _route(session, group_wait_seconds=0)
    round_(
        session,
        [obs("CloudUnreachable", cloud="os-1", severity="critical")]
        + [obs("HostDown", cloud="os-1", host=f"h{n}") for n in range(5)],
        at(0),
    )
    incidents.process(session, box, at(0))
    (incident,) = all_incidents(session)
    assert incident.group_labels["alertname"] == "CloudUnreachable"
    hosts = [alert_by_name(session, "HostDown", host=f"h{n}") for n in range(5)]
    assert all(h.incident_id is None and h.suppressed_by for h in hosts)


def test_resolved_by_hand_while_firing_does_not_reopen(session: Session, box: SecretBox) -> None:
    oncall_user(session)
    _route(session, group_wait_seconds=0)
    rule = [obs("HostDown", cloud="a", host="h1")]
    round_(session, rule, at(0))
    incidents.process(session, box, at(0))
    (first,) = all_incidents(session)
    actions.resolve(session, SYSTEM, first.id or 0, at(60), "known, fixing")
    assert [n["reason"] for n in notifications(session, first.id or 0)] == ["firing", "resolved"]
    round_(session, rule, at(90))
    incidents.process(session, box, at(90))
    assert len(all_incidents(session)) == 1, "the same episode does not page again"
    # It clears and comes back: a new episode, a new incident.
    round_(session, [], at(120))
    round_(session, rule, at(180))
    incidents.process(session, box, at(180))
    assert len(all_incidents(session)) == 2
    assert alert_by_name(session, "HostDown").incident_id == all_incidents(session)[1].id


def _loop_once(session: Session, box: SecretBox, now_s: float, rule: list[Observation]) -> None:
    round_(session, rule, at(now_s))
    incidents.process(session, box, at(now_s))
    session.commit()
    dispatch.send_due(session, box, at(now_s), timeout=5)


def test_restart_mid_incident_loses_nothing_and_pages_once(
    engine: Engine, database_url: str, box: SecretBox
) -> None:
    rule = [obs("HostDown", cloud="a", host="h1", for_seconds=60)]
    with Session(engine, expire_on_commit=False) as first:
        oncall_user(first, "oncall-a")
        oncall_user(first, "oncall-b")
        _route(first, group_wait_seconds=30)
        first.commit()
        for now_s in (0, 60, 90):  # pending, firing (incident), notified after group_wait
            _loop_once(first, box, now_s, rule)
        assert _inbox(first) == 2, "each on-call user paged once"
        # The next cycle decides again but is killed before it commits.
        rule.append(obs("HostDown", cloud="a", host="h2"))
        round_(first, rule, at(400))
        incidents.process(first, box, at(400))
        first.rollback()
    engine.dispose()

    fresh = make_engine(database_url)  # a new process on the same database
    try:
        with Session(fresh, expire_on_commit=False) as second:
            (incident,) = all_incidents(second)
            alert = alert_by_name(second, "HostDown", host="h1")
            assert alert.state == AlertState.firing and alert.fired_at == at(60)
            assert incident.status == IncidentStatus.open and incident.last_notified_at == at(90)
            for now_s in (90, 120, 200):  # the same and later times: nothing new to say
                _loop_once(second, box, now_s, rule[:1])
            assert _inbox(second) == 2 and len(notifications(second, incident.id or 0)) == 1
            # The lost cycle's news (a second host) is decided again, and sent once.
            for now_s in (400, 401, 402):
                _loop_once(second, box, now_s, rule)
            assert len(notifications(second, incident.id or 0)) == 2
            assert _inbox(second) == 4
            statuses = [d.status for d in deliveries(second)]
            assert statuses == [DeliveryStatus.sent] * 4
    finally:
        fresh.dispose()


def test_an_alert_firing_again_rejoins_its_open_incident(session: Session, box: SecretBox) -> None:
    oncall_user(session)
    _route(session, group_wait_seconds=0, group_interval_seconds=60)
    h1, h2 = obs("HostDown", cloud="a", host="h1"), obs("HostDown", cloud="a", host="h2")
    round_(session, [h1, h2], at(0))
    incidents.process(session, box, at(0))
    (incident,) = all_incidents(session)
    round_(session, [h2], at(30))  # h1 clears...
    incidents.process(session, box, at(30))
    round_(session, [h1, h2], at(60))  # ...and comes back while h2 keeps the incident open
    incidents.process(session, box, at(60))
    assert len(all_incidents(session)) == 1
    assert alert_by_name(session, "HostDown", host="h1").incident_id == incident.id
    kinds = timeline(session, incident.id or 0)
    assert kinds.count("alert_resolved") == 1 and kinds.count("alert_refired") == 1
    # It flaps between two passes (resolved and firing again unseen): still the same one.
    round_(session, [h2], at(70))
    round_(session, [h1, h2], at(80))
    incidents.process(session, box, at(80))
    assert len(all_incidents(session)) == 1 and incident.status == IncidentStatus.open
    # Both clear: the incident resolves; h1 fires again later: a new incident.
    round_(session, [], at(90))
    incidents.process(session, box, at(90))
    assert all_incidents(session)[0].status == IncidentStatus.resolved
    round_(session, [h1], at(200))
    incidents.process(session, box, at(200))
    latest = all_incidents(session)[-1]
    assert latest.id != incident.id
    assert alert_by_name(session, "HostDown", host="h1").incident_id == latest.id
