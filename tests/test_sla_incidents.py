"""MTTA/MTTR per Shanghai calendar month, against hand-computed fixtures (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from inventory.errors import Invalid
from inventory.models import Cloud, Department, Incident, IncidentStatus, Severity
from sla.incidents import (
    IncidentMetrics,
    MetricRow,
    incident_metrics,
    month_bounds,
    previous_month,
)

NOW = datetime(2026, 11, 10, tzinfo=UTC)
MIN = timedelta(minutes=1)


def utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def make_cloud(session: Session, name: str, vendor: str) -> Cloud:
    row = Cloud(
        name=name,
        kind="simulator",
        vendor=vendor,
        region="r1",
        security_level=3,
        created_at=utc("2026-09-01T00:00"),
    )
    session.add(row)
    session.flush()
    return row


def incident(
    session: Session,
    title: str,
    severity: Severity,
    created: datetime,
    *,
    cloud: Cloud | None = None,
    department: Department | None = None,
    ack_after: timedelta | None = None,
    resolve_after: timedelta | None = None,
    resolved_by: str = "oncall1",
) -> Incident:
    resolved = resolve_after is not None
    status = IncidentStatus.resolved if resolved else IncidentStatus.open
    if not resolved and ack_after is not None:
        status = IncidentStatus.acknowledged
    row = Incident(
        group_key=title,
        title=title,
        severity=severity,
        status=status,
        cloud_id=cloud.id if cloud else None,
        department_id=department.id if department else None,
        created_at=created,
        acknowledged_at=created + ack_after if ack_after is not None else None,
        acknowledged_by="oncall1" if ack_after is not None else None,
        resolved_at=created + resolve_after if resolve_after is not None else None,
        resolved_by=resolved_by if resolved else None,
    )
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def october(session: Session) -> dict[str, int]:
    """Six incidents that started in October 2026 (Shanghai) and one that did not."""
    alpha1 = make_cloud(session, "alpha-1", "Alpha")
    alpha2 = make_cloud(session, "alpha-2", "Alpha")
    beta1 = make_cloud(session, "beta-1", "Beta")
    x, y = Department(code="dept-x", name="X"), Department(code="dept-y", name="Y")
    session.add_all([x, y])
    session.flush()
    made = {
        # P1 acked in 3 minutes (met), fixed in an hour.
        "A": incident(session, "A", Severity.P1, utc("2026-10-05T02:00"), cloud=alpha1,
                      department=x, ack_after=3 * MIN, resolve_after=60 * MIN),
        # P1 acked in 10 minutes (breached), fixed in two hours.
        "B": incident(session, "B", Severity.P1, utc("2026-10-10T02:00"), cloud=alpha2,
                      department=y, ack_after=10 * MIN, resolve_after=120 * MIN),
        # P1 opened 23:00 Shanghai on 31 Oct, resolved 01:00 on 1 Nov: October's, whole.
        "C": incident(session, "C", Severity.P1, utc("2026-10-31T15:00"), cloud=beta1,
                      department=x, ack_after=2 * MIN, resolve_after=120 * MIN),
        # P1 nobody acknowledged, still open.
        "D": incident(session, "D", Severity.P1, utc("2026-10-20T00:00"), cloud=alpha1,
                      department=x),
        # P3 at 23:30 Shanghai on the month's last day (15:30 UTC): October; cleared itself.
        "E": incident(session, "E", Severity.P3, utc("2026-10-31T15:30"), cloud=beta1,
                      department=y, resolve_after=60 * MIN, resolved_by="auto"),
        # P2 at 23:30 Shanghai on 30 September: September's, though 30 Sep UTC too.
        "F": incident(session, "F", Severity.P2, utc("2026-09-30T15:30"), cloud=beta1,
                      ack_after=MIN, resolve_after=10 * MIN),
        # P4 at 00:30 Shanghai on 1 October (still 30 Sep in UTC): October's; acked, open.
        "G": incident(session, "G", Severity.P4, utc("2026-09-30T16:30"), department=y,
                      ack_after=30 * MIN),
    }  # fmt: skip
    session.commit()
    return {name: row.id or 0 for name, row in made.items()}


def row(rows: list[MetricRow], group: str) -> MetricRow:
    return next(r for r in rows if r.group == group)


def figures(r: MetricRow) -> tuple[object, ...]:
    return (r.incidents, r.acknowledged, r.unacknowledged, r.resolved, r.open,
            r.mtta_seconds, r.mttr_seconds)  # fmt: skip


def test_month_bounds_are_shanghai_calendar_months() -> None:
    assert month_bounds("2026-10") == (utc("2026-09-30T16:00"), utc("2026-10-31T16:00"))
    assert month_bounds("2026-12") == (utc("2026-11-30T16:00"), utc("2026-12-31T16:00"))
    for bad in ("2026-13", "2026-1", "october", "2026-00", ""):
        with pytest.raises(Invalid) as caught:
            month_bounds(bad)
        assert caught.value.field == "month"


def test_the_default_month_is_the_last_full_one_in_shanghai() -> None:
    assert previous_month(utc("2026-11-30T15:30")) == "2026-10"  # 23:30 on 30 Nov, Shanghai
    assert previous_month(utc("2026-11-30T16:30")) == "2026-11"  # 00:30 on 1 Dec, Shanghai
    assert previous_month(utc("2027-01-01T00:00")) == "2026-12"


def test_overall_mtta_mttr_count_the_unacknowledged_and_open(
    session: Session, october: dict[str, int]
) -> None:
    got = incident_metrics(session, "2026-10", NOW)
    ids = october
    assert got.overall.incident_ids == sorted(ids[k] for k in "ABCDEG")
    # MTTA over A, B, C, G: (180 + 600 + 120 + 1800) / 4; MTTR over A, B, C, E:
    # (3600 + 7200 + 7200 + 3600) / 4. D and E were never acked; D and G are open.
    assert figures(got.overall) == (6, 4, 2, 4, 2, 675.0, 5400.0)


def test_by_severity_cloud_vendor_and_department(session: Session, october: dict[str, int]) -> None:
    got: IncidentMetrics = incident_metrics(session, "2026-10", NOW)
    assert [r.group for r in got.by_severity] == ["P1", "P3", "P4"]
    assert figures(row(got.by_severity, "P1")) == (4, 3, 1, 3, 1, 300.0, 6000.0)
    assert figures(row(got.by_severity, "P3")) == (1, 0, 1, 1, 0, None, 3600.0)
    assert figures(row(got.by_severity, "P4")) == (1, 1, 0, 0, 1, 1800.0, None)
    assert figures(row(got.by_vendor, "Alpha")) == (3, 2, 1, 2, 1, 390.0, 5400.0)
    assert figures(row(got.by_vendor, "Beta")) == (2, 1, 1, 2, 0, 120.0, 5400.0)
    assert figures(row(got.by_vendor, "(none)")) == (1, 1, 0, 0, 1, 1800.0, None)
    assert [r.group for r in got.by_cloud] == ["(none)", "alpha-1", "alpha-2", "beta-1"]
    assert row(got.by_cloud, "alpha-1").incident_ids == sorted([october["A"], october["D"]])
    assert figures(row(got.by_department, "dept-x")) == (3, 2, 1, 2, 1, 150.0, 5400.0)
    assert figures(row(got.by_department, "dept-y")) == (3, 2, 1, 2, 1, 1200.0, 5400.0)


def test_p1_compliance_counts_the_unanswered_as_missed_once_past_target(
    session: Session, october: dict[str, int]
) -> None:
    late = incident_metrics(session, "2026-10", NOW).overall.p1_compliance
    # A and C met, B acked late, D never acked and long past its 5 minutes.
    assert (late.incidents, late.met, late.breached, late.pending, late.ratio) == (
        4, 2, 2, 0, 0.5,
    )  # fmt: skip
    # Two minutes after D opened it is still within target: pending, not missed.
    early = incident_metrics(session, "2026-10", utc("2026-10-20T00:02")).overall
    got = early.p1_compliance
    assert (got.met, got.breached, got.pending, got.ratio) == (2, 1, 1, 0.6667)
    assert incident_metrics(session, "2026-10", NOW).p1_ack_within_minutes == 5


def test_month_boundaries_in_shanghai_time(session: Session, october: dict[str, int]) -> None:
    september = incident_metrics(session, "2026-09", NOW).overall
    assert september.incident_ids == [october["F"]]
    assert (september.mtta_seconds, september.mttr_seconds) == (60.0, 600.0)
    # C ran into November but started in October: November does not count it again.
    november = incident_metrics(session, "2026-11", NOW).overall
    assert figures(november) == (0, 0, 0, 0, 0, None, None)
