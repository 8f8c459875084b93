"""MTTA and MTTR per calendar month, by severity, cloud, vendor and department.

Decisions, so the numbers can be defended:
- Months are calendar months in Asia/Shanghai: an incident opened at 23:30 Shanghai time on
  31 October (15:30 UTC) belongs to October.
- An incident belongs to the month it *started* in, whole, even when it was acknowledged or
  resolved in the next month: its MTTR is not split, and it is counted once.
- MTTA is the first acknowledgement minus the start, over acknowledged incidents only; the
  unacknowledged are reported as a count beside it, never as zero.
- MTTR is the resolution minus the start, over resolved incidents only; the still open are
  reported as a count.
- P1 response-target compliance is `alerts.severity.outcome`, judged as of `now`: an
  unanswered P1 counts as breached once past its target, as pending before then.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, col

from alerts.severity import ack_targets, outcome
from inventory.errors import Invalid
from inventory.models import Cloud, Department, Incident, Severity
from inventory.settings import Settings
from sla.availability import SHANGHAI, calendar_month

NONE = "(none)"  # the group of incidents with no cloud or department label
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`YYYY-MM` -> [first instant, first instant of the next month) in UTC, the month being
    a calendar month in Asia/Shanghai. Bad input raises Invalid naming the `month` field."""
    found = _MONTH.match(month)
    try:
        if not found:
            raise ValueError(month)
        start, end = calendar_month(int(found.group(1)), int(found.group(2)))
    except ValueError:
        raise Invalid.of("month.format", field="month", month=month) from None
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_month(now: datetime) -> str:
    """The last complete month in Shanghai time, the default for reports."""
    first = now.astimezone(SHANGHAI).replace(day=1)
    last = first - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


class Compliance(BaseModel):
    """P1 incidents against their acknowledgement target."""

    incidents: int = 0
    met: int = 0
    breached: int = 0
    pending: int = 0
    not_applicable: int = 0
    ratio: float | None = None  # met / (met + breached); None when nothing is decided


class MetricRow(BaseModel):
    group: str  # the severity, cloud name, vendor or department code
    incidents: int
    acknowledged: int
    unacknowledged: int
    resolved: int
    open: int
    mtta_seconds: float | None  # None: no incident in the group was acknowledged
    mttr_seconds: float | None  # None: none was resolved
    p1_compliance: Compliance
    incident_ids: list[int]  # the incidents behind the figures


class IncidentMetrics(BaseModel):
    month: str
    timezone: str = "Asia/Shanghai"
    start: datetime
    end: datetime
    as_of: datetime
    p1_ack_within_minutes: int
    overall: MetricRow
    by_severity: list[MetricRow]
    by_cloud: list[MetricRow]
    by_vendor: list[MetricRow]
    by_department: list[MetricRow]


def _mean_seconds(spans: list[timedelta]) -> float | None:
    if not spans:
        return None
    return round(sum(s.total_seconds() for s in spans) / len(spans), 3)


def summarise(
    group: str,
    incidents: Iterable[Incident],
    now: datetime,
    targets: Mapping[Severity, timedelta],
) -> MetricRow:
    """One row of figures over the given incidents."""
    rows = list(incidents)
    acks = [i.acknowledged_at - i.created_at for i in rows if i.acknowledged_at is not None]
    fixes = [i.resolved_at - i.created_at for i in rows if i.resolved_at is not None]
    p1 = Compliance()
    for incident in rows:
        if Severity(incident.severity) != Severity.P1:
            continue
        p1.incidents += 1
        decided = outcome(incident, now, targets)
        setattr(p1, decided.value, getattr(p1, decided.value) + 1)
    if p1.met + p1.breached:
        p1.ratio = round(p1.met / (p1.met + p1.breached), 4)
    return MetricRow(
        group=group,
        incidents=len(rows),
        acknowledged=len(acks),
        unacknowledged=len(rows) - len(acks),
        resolved=len(fixes),
        open=len(rows) - len(fixes),
        mtta_seconds=_mean_seconds(acks),
        mttr_seconds=_mean_seconds(fixes),
        p1_compliance=p1,
        incident_ids=sorted(i.id or 0 for i in rows),
    )


def incidents_started(session: Session, start: datetime, end: datetime) -> list[Incident]:
    return list(
        session.execute(
            sa.select(Incident)
            .where(col(Incident.created_at) >= start, col(Incident.created_at) < end)
            .order_by(col(Incident.created_at), col(Incident.id))
        ).scalars()
    )


def incident_metrics(
    session: Session, month: str, now: datetime, *, settings: Settings | None = None
) -> IncidentMetrics:
    """MTTA/MTTR for the incidents that started in `month` (Shanghai), as of `now`."""
    start, end = month_bounds(month)
    targets = ack_targets(settings)
    incidents = incidents_started(session, start, end)
    clouds = {c.id: c for c in session.execute(sa.select(Cloud)).scalars()}
    departments = {d.id: d.code for d in session.execute(sa.select(Department)).scalars() if d.id}
    groups: dict[str, dict[str, list[Incident]]] = {
        k: defaultdict(list) for k in ("severity", "cloud", "vendor", "department")
    }
    for incident in incidents:
        cloud = clouds.get(incident.cloud_id) if incident.cloud_id is not None else None
        groups["severity"][Severity(incident.severity).value].append(incident)
        groups["cloud"][cloud.name if cloud else NONE].append(incident)
        groups["vendor"][cloud.vendor if cloud else NONE].append(incident)
        dept = departments.get(incident.department_id or 0, NONE)
        groups["department"][dept].append(incident)

    def rows(kind: str) -> list[MetricRow]:
        return [summarise(k, v, now, targets) for k, v in sorted(groups[kind].items())]

    return IncidentMetrics(
        month=month,
        start=start,
        end=end,
        as_of=now,
        p1_ack_within_minutes=int(targets[Severity.P1].total_seconds() // 60),
        overall=summarise("all", incidents, now, targets),
        by_severity=rows("severity"),
        by_cloud=rows("cloud"),
        by_vendor=rows("vendor"),
        by_department=rows("department"),
    )
