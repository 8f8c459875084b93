"""Stored monthly reports: due time at the Shanghai boundary, the cron trigger, catch-up exactly
once, racing writers (one row), only the lease holder runs the job, API, CLI and audit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from typer.testing import CliRunner

from alerts.leader import acquire
from alerts.loop import LEASE_NAME, REPORT_CATCH_UP_JOB, REPORT_JOB, AlertLoop, report_trigger
from console.cli import app
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.errors import Invalid
from inventory.models import (
    AuditEvent,
    Cloud,
    Department,
    Incident,
    IncidentStatus,
    Role,
    Severity,
    StoredReport,
)
from inventory.settings import Settings
from inventory.types import utcnow
from sla import stored
from sla.availability import SHANGHAI, month_of
from sla.report import monthly_report
from tests import factories
from tests.factories import fresh_database
from tests.prom_peer import wait_until

API = "/api/v1/sla/reports"
MIN = timedelta(minutes=1)
# 08:00 on 1 November in Shanghai is midnight UTC: October's report is due.
DUE = datetime(2026, 11, 1, tzinfo=UTC)
runner = CliRunner()


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def build(session: Session) -> int:
    """Vendor Alpha (no contract) and one P3 incident of dept-x on 10 October, acknowledged
    in 120 of its 60 minutes (ratio 2: MTTA score 100 x (4 - 2) / 3 = 66.67) and resolved in
    1440 of its 1440 (ratio 1: MTTR score 100). Returns the incident's id."""
    cloud = Cloud(name="alpha-1", kind="simulator", vendor="Alpha", region="r1",
                  security_level=3, created_at=datetime(2026, 8, 1, tzinfo=UTC))  # fmt: skip
    dept = Department(code="dept-x", name="X")
    session.add_all([cloud, dept])
    session.flush()
    begun = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)
    row = Incident(group_key="b", title="b", severity=Severity.P3,
                   status=IncidentStatus.resolved, cloud_id=cloud.id, department_id=dept.id,
                   created_at=begun, acknowledged_at=begun + 120 * MIN, acknowledged_by="o",
                   resolved_at=begun + 1440 * MIN, resolved_by="o")  # fmt: skip
    session.add(row)
    session.commit()
    return row.id or 0


def alpha_scores(body: dict[str, Any]) -> dict[str, float | None]:
    alpha = next(s for s in body["scopes"] if (s["kind"], s["name"]) == ("vendor", "Alpha"))
    return {k["name"]: k["score"] for k in alpha["kpis"]}


def rows(engine_or_session: Engine | Session) -> list[StoredReport]:
    query = sa.select(StoredReport).order_by(col(StoredReport.month))
    if isinstance(engine_or_session, Session):
        return list(engine_or_session.execute(query).scalars())
    with Session(engine_or_session) as session:
        return list(session.execute(query).scalars())


def audit_events(session: Session) -> list[AuditEvent]:
    query = sa.select(AuditEvent).where(col(AuditEvent.action) == "assessment_report.generate")
    return list(session.execute(query.order_by(col(AuditEvent.id))).scalars())


# --- Due time and trigger ------------------------------------------------------------------


def test_due_month_at_the_shanghai_boundary() -> None:
    # Late on 31 October October has not ended; early on the 1st it has but is not due.
    assert stored.due_month(shanghai("2026-10-31T23:59")) == "2026-09"
    assert stored.due_month(shanghai("2026-11-01T07:59")) == "2026-09"
    assert stored.due_month(shanghai("2026-11-01T08:00")) == "2026-10"
    assert stored.due_month(shanghai("2026-11-30T23:59")) == "2026-10"
    assert stored.due_at("2026-10") == DUE
    # Across a year end.
    assert stored.due_month(shanghai("2027-01-01T07:59:59")) == "2026-11"
    assert stored.due_month(shanghai("2027-01-01T08:00")) == "2026-12"
    with pytest.raises(Invalid) as bad:
        stored.due_at("2026-13")
    assert bad.value.field == "month"


def test_cron_trigger_fires_on_the_1st_at_08_shanghai() -> None:
    trigger = report_trigger()
    mid_october = datetime(2026, 10, 15, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, mid_october) == DUE
    assert trigger.get_next_fire_time(None, DUE) == DUE  # on time
    assert trigger.get_next_fire_time(None, DUE + timedelta(seconds=1)) == datetime(
        2026, 12, 1, tzinfo=UTC
    )
    # Midnight on the 1st in Shanghai (16:00 UTC the day before) is not the time yet.
    assert trigger.get_next_fire_time(None, shanghai("2026-11-01T00:00")) == DUE


# --- Generate, catch up, replace -----------------------------------------------------------


def test_catch_up_generates_exactly_once_and_keeps_the_copy(session: Session) -> None:
    incident_id = build(session)
    early = shanghai("2026-11-01T07:59")
    made = stored.ensure_due(session, early)  # September is due, not October yet
    assert made is not None and made.month == "2026-09"
    on_time = shanghai("2026-11-01T08:00")
    made = stored.ensure_due(session, on_time)
    session.commit()
    assert made is not None and (made.month, made.trigger) == ("2026-10", stored.SCHEDULE)
    assert made.generated_by is None and made.generated_at == on_time
    scores = alpha_scores(made.body)  # other KPIs may have data of their own
    assert (scores["mtta"], scores["mttr"], scores["p1_compliance"]) == (66.67, 100.0, None)
    assert made.body == monthly_report(session, "2026-10", on_time).model_dump(mode="json")
    for later in (on_time, on_time + timedelta(hours=1), shanghai("2026-11-30T23:00")):
        assert stored.ensure_due(session, later) is None
    session.commit()
    assert [r.month for r in rows(session)] == ["2026-09", "2026-10"]
    events = audit_events(session)
    assert [(e.actor, e.target_id, e.before) for e in events] == [
        ("scheduler", "2026-09", None),
        ("scheduler", "2026-10", None),
    ]
    # The stored copy is what the vendor was scored on: later corrections change only the
    # live figures.
    incident = session.get(Incident, incident_id)
    assert incident is not None and incident.acknowledged_at is not None
    incident.acknowledged_at -= 90 * MIN  # 30 of 60 minutes: MTTA 100
    session.commit()
    live = stored.report_for(session, "2026-10", on_time, live=True)
    kept = stored.report_for(session, "2026-10", on_time, live=False)
    assert live.stored is None and kept.stored is not None
    assert alpha_scores(live.report.model_dump(mode="json"))["mtta"] == 100.0
    assert alpha_scores(kept.report.model_dump(mode="json"))["mtta"] == 66.67
    assert stored.source_headers(kept.stored)["X-Report-Trigger"] == "schedule"
    assert stored.source_headers(live.stored) == {"X-Report-Source": "live"}


def test_on_demand_before_the_due_time_is_replaced_after_it_kept(session: Session) -> None:
    build(session)
    before_due = shanghai("2026-11-01T03:00")
    stored.generate(session, "2026-10", before_due, stored.ON_DEMAND, "manager1")
    session.commit()
    replaced = stored.ensure_due(session, shanghai("2026-11-01T08:30"))
    session.commit()
    assert replaced is not None and replaced.trigger == stored.SCHEDULE
    [row] = rows(session)
    assert (row.trigger, row.generated_by) == (stored.SCHEDULE, None)
    last = audit_events(session)[-1]
    assert last.before is not None and last.before["trigger"] == stored.ON_DEMAND
    assert last.after is not None and last.after["trigger"] == stored.SCHEDULE
    # Regenerated by a manager after the due time: the scheduler leaves it alone.
    stored.generate(session, "2026-10", shanghai("2026-11-02T09:00"), stored.ON_DEMAND, "m1")
    session.commit()
    assert stored.ensure_due(session, shanghai("2026-11-02T10:00")) is None
    [row] = rows(session)
    assert (row.trigger, row.generated_by) == (stored.ON_DEMAND, "m1")


def test_only_ended_months_are_stored(session: Session) -> None:
    now = shanghai("2026-11-22T10:00")
    for month in ("2026-11", "2026-12"):
        with pytest.raises(Invalid, match="has not ended") as refused:
            stored.generate(session, month, now, stored.ON_DEMAND, "m1")
        assert refused.value.field == "month"
    with pytest.raises(Invalid) as bad:
        stored.generate(session, "2026-13", now, stored.ON_DEMAND, "m1")
    assert bad.value.field == "month"
    # The instant October ends (midnight in Shanghai) it can be stored on demand.
    made = stored.generate(session, "2026-10", shanghai("2026-11-01T00:00"), "on_demand", "m1")
    assert made.month == "2026-10"
    assert rows(session) == [made]


def test_racing_writers_store_one_row(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another leader stores October between our look and our insert: we keep its row."""
    build(session)
    real = monthly_report
    other_at = DUE + 5 * MIN

    def other_leader_first(s: Session, month: str, now: datetime, *a: Any, **kw: Any) -> Any:
        monkeypatch.setattr("sla.stored.monthly_report", real)
        with Session(engine, expire_on_commit=False) as other:
            stored.generate(other, month, other_at, stored.SCHEDULE, None)
            other.commit()
        return real(s, month, now, *a, **kw)

    monkeypatch.setattr("sla.stored.monthly_report", other_leader_first)
    kept = stored.ensure_due(session, DUE + 6 * MIN)
    session.commit()
    assert kept is not None and kept.generated_at == other_at
    [row] = rows(session)
    assert row.generated_at == other_at
    assert len(audit_events(session)) == 1  # the loser wrote none
    # A user's on-demand run that loses the race replaces the winner's body instead.
    monkeypatch.setattr("sla.stored.monthly_report", other_leader_first)
    session.execute(sa.delete(StoredReport))
    session.commit()
    mine = stored.generate(session, "2026-10", DUE + 7 * MIN, stored.ON_DEMAND, "m1")
    session.commit()
    [row] = rows(session)
    assert (row.id, row.trigger, row.generated_at) == (mine.id, "on_demand", DUE + 7 * MIN)


@pytest.mark.postgres
def test_two_sessions_racing_on_postgres_store_one_row(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A real race: B's INSERT waits on A's uncommitted row, then fails; B keeps A's row."""
    with fresh_database(request, "postgresql", tmp_path) as url:
        engine = make_engine(url)
        try:
            with Session(engine) as seed:
                build(seed)
            got: list[StoredReport | None] = []
            with Session(engine, expire_on_commit=False) as a:
                first = stored.ensure_due(a, DUE)  # inserted, not committed
                assert first is not None

                def b() -> None:
                    with Session(engine, expire_on_commit=False) as s:
                        got.append(stored.ensure_due(s, DUE + MIN))
                        s.commit()

                racer = threading.Thread(target=b)
                racer.start()
                wait_until(lambda: _waiting_on_a_lock(engine), 30, "B blocked on A's row")
                a.commit()
                racer.join(30)
            assert not racer.is_alive()
            [kept] = got
            assert kept is not None and kept.generated_at == DUE
            [row] = rows(engine)
            assert row.generated_at == DUE
            with Session(engine) as check:
                assert len(audit_events(check)) == 1
        finally:
            engine.dispose()


def _waiting_on_a_lock(engine: Engine) -> bool:
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    with engine.connect() as conn:
        return bool(conn.execute(query).scalar_one())


# --- The leader runs the job ---------------------------------------------------------------


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def loops(settings: Settings, engine: Engine) -> Iterator[tuple[AlertLoop, AlertLoop]]:
    """Two replicas' loops on one database, on frozen clocks at 08:00:05 on 1 November."""
    slow = settings.model_copy(update={"alert_interval_seconds": 3600})
    box = SecretBox.from_settings(slow)
    made = tuple(
        AlertLoop(engine, box, slow, holder=name, clock=Clock(DUE + timedelta(seconds=5)))
        for name in ("a", "b")
    )
    yield made[0], made[1]
    for loop in made:
        loop.leader.stop()


def test_the_report_job_runs_only_in_the_lease_holder(
    session: Session, loops: tuple[AlertLoop, AlertLoop]
) -> None:
    build(session)
    a, b = loops
    assert a.leader.heartbeat() and not b.leader.heartbeat()
    # Only b's scheduler runs: it never holds the lease (a does, far past b's frozen clock),
    # so none of its jobs can run behind the test's back.
    b.leader.start()
    job = b.leader.scheduled_job(REPORT_JOB)
    fires = job.next_run_time.astimezone(UTC)  # the 1st at 08:00 Shanghai, 00:00 UTC
    assert utcnow() < fires < utcnow() + timedelta(days=32)
    assert (fires.day, fires.hour, fires.minute, fires.second) == (1, 0, 0, 0)
    assert (job.func, job.args) == (b.leader.run_job, (REPORT_JOB, b.store_due_report))
    assert b.leader.scheduled_job(REPORT_CATCH_UP_JOB) is not None
    # The cron fires in every replica at 08:00; only the holder stores the report.
    assert job.func(*job.args) is False
    assert rows(session) == []
    assert a.leader.run_job(REPORT_JOB, a.store_due_report) is True
    [row] = rows(session)
    assert (row.month, row.trigger) == ("2026-10", "schedule")
    assert row.generated_at == DUE + timedelta(seconds=5)


def test_a_new_leader_catches_up_a_report_missed_at_08(
    session: Session, engine: Engine, loops: tuple[AlertLoop, AlertLoop]
) -> None:
    """Nobody held the lease at 08:00 on the 1st (it was held by a replica that died);
    the next leader's catch-up stores October once, and its later runs store nothing."""
    build(session)
    a, b = loops
    later = DUE + timedelta(hours=1, minutes=30)
    assert acquire(engine, LEASE_NAME, "dead", DUE, timedelta(hours=2))
    for loop in (a, b):
        loop.leader.clock = Clock(later)
    assert not b.leader.heartbeat()  # the dead one's lease runs to 10:00 Shanghai
    assert not b.leader.run_job(REPORT_CATCH_UP_JOB, b.catch_up_report, 3600)
    assert rows(session) == []
    b.leader.clock = Clock(later + timedelta(hours=1))
    assert b.leader.heartbeat()
    for _ in range(3):  # at once as the new leader, then hourly
        assert b.leader.run_job(REPORT_CATCH_UP_JOB, b.catch_up_report, 3600)
    [row] = rows(session)
    assert (row.month, row.generated_at) == ("2026-10", later + timedelta(hours=1))
    assert len(audit_events(session)) == 1


def test_the_schedule_can_be_turned_off(settings: Settings, engine: Engine) -> None:
    off = settings.model_copy(update={"report_schedule": False, "alert_interval_seconds": 3600})
    loop = AlertLoop(engine, SecretBox.from_settings(off), off, holder="x", clock=Clock(DUE))
    # Another replica holds the lease, so starting runs nothing here.
    assert acquire(engine, LEASE_NAME, "other", DUE, timedelta(hours=1))
    loop.leader.start()
    try:
        assert loop.leader.scheduled_job(REPORT_JOB) is None
        assert loop.leader.scheduled_job(REPORT_CATCH_UP_JOB) is None
        assert loop.leader.scheduled_job("alert-cycle") is not None
    finally:
        loop.leader.stop()


# --- API and CLI ---------------------------------------------------------------------------


@pytest.fixture
def actors(session: Session) -> dict[str, factories.Actor]:
    dept = factories.department(session, "dept-a")
    return {
        "admin": factories.user(session, "admin1", Role.admin),
        "manager": factories.user(session, "manager1", Role.manager),
        "oncall": factories.user(session, "oncall1", Role.oncall),
        "department": factories.user(session, "depta", Role.department, dept.id),
    }


def test_api_round_trip_roles_and_audit(
    client: TestClient, session: Session, actors: dict[str, factories.Actor]
) -> None:
    build(session)
    manager = actors["manager"].headers
    missing = client.get(f"{API}/2026-10", headers=manager)
    assert missing.status_code == 404
    assert missing.json()["field"] == "month" and "POST" in missing.json()["error"]
    made = client.post(f"{API}/2026-10", headers=manager)
    assert made.status_code == 201, made.text
    assert made.json()["trigger"] == "on_demand" and made.json()["generated_by"] == "manager1"
    got = client.get(f"{API}/2026-10", headers=actors["admin"].headers)
    assert got.status_code == 200, got.text
    assert got.headers["x-report-source"] == "stored"
    assert got.headers["x-report-trigger"] == "on_demand"
    assert alpha_scores(got.json())["mtta"] == 66.67 and got.json()["month"] == "2026-10"
    listed = client.get(API, headers=manager).json()
    assert listed["total"] == 1
    assert [(i["month"], i["trigger"], i["generated_by"]) for i in listed["items"]] == [
        ("2026-10", "on_demand", "manager1")
    ]
    assert client.post(f"{API}/2026-09", headers=actors["admin"].headers).status_code == 201
    months = [i["month"] for i in client.get(API, headers=manager).json()["items"]]
    assert months == ["2026-10", "2026-09"]  # newest first
    [event] = [e for e in audit_events(session) if e.target_id == "2026-10"]
    assert (event.actor, event.target_type) == ("manager1", "assessment_report")
    this_month = month_of(utcnow())
    refused = client.post(f"{API}/{this_month}", headers=manager)
    assert refused.status_code == 422
    assert refused.json()["field"] == "month" and "not ended" in refused.json()["error"]
    bad = client.post(f"{API}/2026-13", headers=manager)
    assert bad.status_code == 422 and bad.json()["field"] == "month"
    for role in ("oncall", "department"):
        h = actors[role].headers
        assert client.get(API, headers=h).status_code == 403
        assert client.get(f"{API}/2026-10", headers=h).status_code == 403
        assert client.post(f"{API}/2026-10", headers=h).status_code == 403
    assert len(rows(session)) == 2


def test_cli_generate_and_list(cli_env: str) -> None:
    engine = make_engine(cli_env)
    try:
        with Session(engine) as seed:
            build(seed)
        made = runner.invoke(app, ["report", "generate", "2026-10"])
        assert made.exit_code == 0, made.output
        assert "2026-10: stored (on_demand, 2 scope(s)" in made.output
        listed = runner.invoke(app, ["report", "list"], env={"COLUMNS": "200"})
        assert listed.exit_code == 0, listed.output
        assert "2026-10" in listed.output and "cli:" in listed.output
        assert "1 stored report(s)" in listed.output
        [row] = rows(engine)
        assert row.generated_by is not None and row.generated_by.startswith("cli:")
        assert alpha_scores(row.body)["mtta"] == 66.67
        bad = runner.invoke(app, ["report", "generate", "2026-13"])
        assert bad.exit_code == 2 and "month" in bad.output
        early = runner.invoke(app, ["report", "generate", month_of(utcnow())])
        assert early.exit_code == 2 and "not ended" in early.output
    finally:
        engine.dispose()
