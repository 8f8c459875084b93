"""The demo's 90 days of simulated history: the last two monthly reports tell its story,
every time is ordered and inside the window, and seeding twice adds nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from alerts.evaluate import Evaluator
from alerts.fingerprint import fingerprint
from alerts.loop import run_cycle
from console.demo import seed
from console.demo_history import HISTORY_ACTION, seed_history
from console.demo_history_noise import Estate, noise
from inventory.crypto import SecretBox
from inventory.models import (
    Alert,
    AlertState,
    Allocation,
    AllocationStatus,
    AuditEvent,
    Cloud,
    Delivery,
    Department,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Plan,
    RequestStatus,
    ResourceRequest,
    Severity,
    VendorContract,
)
from inventory.types import utcnow
from sla.report import monthly_report
from sla.settlement import Status, monthly_settlement

# Mid-month: September (30 days) is the bad month, October (31) the good one.
NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
INSPUR = "模拟·浪潮云 Inspur (simulated)"
HUAWEI = "模拟·华为云 Huawei (simulated)"
ALIBABA = "模拟·阿里云 Alibaba Cloud (simulated)"


def _seeded(session: Session, box: SecretBox, now: datetime = NOW) -> None:
    seed(session, box, actor="test")
    history = seed_history(session, now)
    assert history.seeded and history.incidents > 60 and history.requests >= 20
    session.commit()


def _count(session: Session, table: type) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_the_last_two_months_tell_the_story(session: Session, box: SecretBox) -> None:
    _seeded(session, box)
    bad = {v.vendor: v for v in monthly_settlement(session, "2026-09", NOW).vendors}
    good = {v.vendor: v for v in monthly_settlement(session, "2026-10", NOW).vendors}
    assert set(bad) == set(good) == {INSPUR, HUAWEI, ALIBABA}
    # September: 43,200 minutes. Inspur: a 31-minute outage and a 4-minute host failure,
    # 1 - 35/43200 = 0.99918981 < 99.95 % -> 10 % of 120,000.
    assert bad[INSPUR].status == Status.credit
    assert bad[INSPUR].downtime_minutes == pytest.approx(35.0)
    assert bad[INSPUR].measured == pytest.approx(1 - 35 / 43200)
    assert bad[INSPUR].credit_amount == Decimal("12000.00")
    # Huawei: 5 minutes plus the 12 before midnight of the host failure across the month
    # boundary; October takes its other 9, plus 4 of its own (44,640 minutes).
    assert bad[HUAWEI].downtime_minutes == pytest.approx(17.0)
    assert good[HUAWEI].downtime_minutes == pytest.approx(13.0)
    assert good[HUAWEI].measured == pytest.approx(1 - 13 / 44640)
    assert bad[ALIBABA].downtime_minutes == pytest.approx(10.0)
    assert good[ALIBABA].downtime_minutes == pytest.approx(16.0)  # a P1 zone, in budget
    assert good[INSPUR].downtime_minutes == pytest.approx(6.0)
    for vendor in (HUAWEI, ALIBABA):
        assert bad[vendor].status == Status.met and bad[vendor].credit_amount == Decimal("0.00")
    assert all(v.status == Status.met for v in good.values())

    report = monthly_report(session, "2026-10", NOW)
    vendors = {s.name: s for s in report.scopes if s.kind == "vendor"}
    assert set(vendors) == {INSPUR, HUAWEI, ALIBABA}
    for scope in vendors.values():
        kpis = {k.name: k for k in scope.kpis}
        assert kpis["availability"].value is not None and kpis["mtta"].value is not None
        assert scope.previous_score is not None  # September has data too: a trend
    inspur = {k.name: k for k in vendors[INSPUR].kpis}
    assert inspur["availability"].score == 100.0 and (inspur["availability"].delta or 0) > 0
    assert (vendors[INSPUR].delta or 0) > 0  # it recovered
    departments = {s.name for s in report.scopes if s.kind == "department"}
    assert departments == {"gov-service", "public-security", "health", "education"}


def test_times_are_ordered_and_inside_the_window(session: Session, box: SecretBox) -> None:
    _seeded(session, box)
    since = NOW - timedelta(days=90)
    incidents = list(session.execute(sa.select(Incident)).scalars())
    events: dict[int, list[IncidentEvent]] = {}
    for event in session.execute(
        sa.select(IncidentEvent).order_by(col(IncidentEvent.id))
    ).scalars():
        events.setdefault(event.incident_id, []).append(event)
    for i in incidents:
        assert since <= i.created_at <= NOW, i.title
        if i.acknowledged_at is not None:
            assert i.created_at <= i.acknowledged_at <= NOW and i.acknowledged_by == "oncall"
        if i.resolved_at is not None:
            assert i.created_at < i.resolved_at <= NOW and i.resolved_by
            assert i.acknowledged_at is None or i.acknowledged_at <= i.resolved_at
        assert (i.resolved_at is not None) == (i.status == IncidentStatus.resolved)
        timeline = events[i.id or 0]
        assert timeline[0].kind == "created" and timeline[0].at == i.created_at
        assert all(i.created_at <= e.at <= NOW for e in timeline)
        kinds = [e.kind for e in timeline]
        assert kinds.count("acked") == (i.acknowledged_at is not None)
        assert kinds.count("resolved") == (i.resolved_at is not None)
    open_ = [i for i in incidents if i.resolved_at is None]
    assert {i.status for i in open_} == {IncidentStatus.open, IncidentStatus.acknowledged}
    assert any(i.acknowledged_at is None and i.resolved_at for i in incidents)  # cleared alone
    boundary = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # 1 October, Shanghai
    assert any(i.created_at < boundary < (i.resolved_at or NOW) for i in incidents)
    p1 = [i for i in incidents if i.severity == Severity.P1 and i.acknowledged_at]
    late = [i for i in p1 if i.acknowledged_at - i.created_at > timedelta(minutes=5)]
    assert 1 <= len(late) < len(p1)
    for alert in session.execute(sa.select(Alert)).scalars():
        assert alert.fingerprint == fingerprint(alert.labels)
        assert alert.incident_id is not None
        assert (alert.state == AlertState.firing) == (alert.resolved_at is None)


def test_requests_have_lead_times_and_a_few_failed_allocations(
    session: Session, box: SecretBox
) -> None:
    _seeded(session, box)
    requests = list(session.execute(sa.select(ResourceRequest)).scalars())
    departments = set(session.execute(sa.select(col(Department.id))).scalars())
    fulfilled = [r for r in requests if r.status == RequestStatus.fulfilled]
    assert {r.department_id for r in fulfilled} == departments
    for r in fulfilled:
        assert r.fulfilled_at is not None
        assert timedelta(minutes=3) < r.fulfilled_at - r.created_at < timedelta(days=2)
    partial = {r.id for r in requests if r.status == RequestStatus.partial}
    assert partial and all(r.fulfilled_at is None for r in requests if r.id in partial)
    rows = session.execute(
        sa.select(Allocation, col(Plan.request_id)).join(
            Plan, col(Plan.id) == col(Allocation.plan_id)
        )
    ).all()
    failed = {request_id for a, request_id in rows if a.status == AllocationStatus.failed}
    assert failed == partial
    done = {r.id for r in fulfilled}
    assert all(a.status == AllocationStatus.provisioned for a, r in rows if r in done)


def test_seeding_twice_adds_nothing(session: Session, box: SecretBox) -> None:
    _seeded(session, box)
    tables = (Incident, IncidentEvent, Alert, ResourceRequest, Allocation, VendorContract)
    before = {t.__name__: _count(session, t) for t in tables}
    again = seed_history(session, NOW + timedelta(days=1))
    seed(session, box, actor="test", history_days=90)  # the demo's own path, run again
    session.commit()
    assert not again.seeded
    assert {t.__name__: _count(session, t) for t in tables} == before
    marks = sa.select(sa.func.count()).where(col(AuditEvent.action) == HISTORY_ACTION)
    assert session.execute(marks).scalar_one() == 1


def test_the_demo_seeds_its_history_with_clouds_observed_from_the_window(
    session: Session, box: SecretBox
) -> None:
    seed(session, box, actor="test", history_days=90)
    session.commit()
    assert _count(session, Incident) > 60
    clouds = list(session.execute(sa.select(Cloud)).scalars())
    newest = max(i for i in session.execute(sa.select(col(Incident.created_at))).scalars())
    assert all(c.created_at <= newest - timedelta(days=85) for c in clouds)


def test_the_noise_is_deterministic_and_never_downtime() -> None:
    clouds = {
        kind: Cloud(
            id=n, name=f"sim {kind}", kind="simulator", vendor=kind, region="r", security_level=3
        )
        for n, kind in enumerate(("openstack", "kubernetes", "public"), start=1)
    }
    hosts = {kind: [(f"sim-{kind}-{i}", "az1") for i in range(5)] for kind in clouds}
    estate = Estate(list(clouds.values()), clouds, hosts, ["health", "education"])
    since = NOW - timedelta(days=90)
    first = noise(estate, random.Random(7), since, NOW)
    second = noise(estate, random.Random(7), since, NOW)
    assert [(e.start, e.series) for e in first] == [(e.start, e.series) for e in second]
    assert first != noise(estate, random.Random(8), since, NOW)
    assert {s["severity"] for e in first for s in e.series} == {"warning", "info"}  # P3, P4
    assert all(e.resolved_at is not None and e.resolved_at < NOW for e in first)


def test_the_live_alert_loop_leaves_the_history_as_it_was(engine: Engine, box: SecretBox) -> None:
    """Open history incidents stay open (their alerts come from no source the loop resolves),
    nothing is paged for the past, and the estate rules find nothing new."""
    with Session(engine, expire_on_commit=False) as session:
        seed(session, box, actor="test", history_days=90)
        session.commit()

    def snapshot() -> dict[int, tuple[IncidentStatus, datetime | None]]:
        with Session(engine) as session:
            rows = session.execute(sa.select(Incident)).scalars()
            return {i.id or 0: (i.status, i.resolved_at) for i in rows}

    before = snapshot()
    assert sum(status != IncidentStatus.resolved for status, _ in before.values()) == 2
    start, evaluator = utcnow(), Evaluator([], None)
    for seconds in (0, 15, 90):
        report = run_cycle(
            engine, box, evaluator, start + timedelta(seconds=seconds), send_timeout=5
        )
        assert report.failed_steps == {}
    assert snapshot() == before
    with Session(engine) as session:
        assert _count(session, Delivery) == 0
