"""Availability per cloud from incidents, and the department availability KPI built on it.

Decisions:
- Per-cloud downtime is sla.settlement's maths (P1/P2 incidents are downtime, overlaps count
  once, an incident across a month boundary is split, a cloud is watched from its
  registration), kept per cloud instead of summed per vendor: the sum of a vendor's clouds
  here is exactly `availability_from_incidents`'s figure for it.
- A department's availability is the replica-weighted mean availability of the clouds its
  workloads' replicas ran on during the month (a replica counts if it was in the inventory at
  any time in the month): what the vendors delivered to that department. It is not the
  services' own availability, which replicas across zones raise above any one cloud's.
- It is judged against the strictest (highest) sla_target among the workloads counted: the
  department's most critical service sets the bar. With no target on any of them the figure
  is shown but not scored (no target to judge it by), so it stays out of the total.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.models import Cloud, Incident, Replica, Workload
from sla.kpi import Kpi, KpiConfig, score_availability
from sla.period import DEPARTMENT, Found, Period
from sla.settlement import DOWNTIME_SEVERITIES, merged_seconds


@dataclass
class CloudDowntime:
    window_minutes: float = 0.0
    downtime_minutes: float = 0.0
    incident_ids: list[int] = field(default_factory=list)

    @property
    def availability(self) -> float:
        return round(1.0 - self.downtime_minutes / self.window_minutes, 9)


@dataclass
class Placed:
    """A department's replicas in the month: count per cloud, and the strictest SLA target."""

    replicas: dict[int, int] = field(default_factory=dict)
    strictest: float | None = None

    @property
    def total(self) -> int:
        return sum(self.replicas.values())


def cloud_downtime(
    session: Session, start: datetime, end: datetime, now: datetime
) -> dict[int, CloudDowntime]:
    """Each cloud watched in [start, min(end, now)): its downtime from P1/P2 incidents."""
    stop = min(end, now)
    incidents = session.execute(
        sa.select(Incident).where(
            col(Incident.cloud_id).is_not(None),
            col(Incident.severity).in_(DOWNTIME_SEVERITIES),
            col(Incident.created_at) < stop,
            sa.or_(col(Incident.resolved_at).is_(None), col(Incident.resolved_at) > start),
        )
    ).scalars()
    by_cloud: dict[int, list[Incident]] = defaultdict(list)
    for incident in incidents:
        by_cloud[incident.cloud_id or 0].append(incident)
    result: dict[int, CloudDowntime] = {}
    for cloud in session.execute(sa.select(Cloud)).scalars():
        begin = max(start, cloud.created_at)
        if begin >= stop:
            continue  # not watched at all this month
        mine = by_cloud.get(cloud.id or 0, [])
        spans = [(max(i.created_at, begin), min(i.resolved_at or stop, stop)) for i in mine]
        result[cloud.id or 0] = CloudDowntime(
            window_minutes=(stop - begin).total_seconds() / 60,
            downtime_minutes=merged_seconds(spans) / 60,
            incident_ids=sorted(i.id or 0 for i in mine),
        )
    return result


def replicas_by_department(session: Session, period: Period) -> dict[int, Placed]:
    """Department id -> its replicas present at any time in the month, per cloud (one query)."""
    rows = session.execute(
        sa.select(
            col(Workload.department_id),
            col(Replica.cloud_id),
            sa.func.count(col(Replica.id)),
            sa.func.max(col(Workload.sla_target)),
        )
        .join(Workload, col(Workload.id) == col(Replica.workload_id))
        .where(
            col(Workload.department_id).is_not(None),
            col(Replica.first_seen_at) < period.stop,
            sa.or_(col(Replica.gone_at).is_(None), col(Replica.gone_at) > period.start),
        )
        .group_by(col(Workload.department_id), col(Replica.cloud_id))
    ).all()
    found: dict[int, Placed] = defaultdict(Placed)
    for department_id, cloud_id, count, target in rows:
        placed = found[int(department_id)]
        placed.replicas[int(cloud_id)] = int(count)
        if target is not None:
            placed.strictest = max(placed.strictest or 0.0, float(target))
    return dict(found)


def department_availability(
    period: Period,
    config: KpiConfig,
    downtime: dict[int, CloudDowntime],
    placed: dict[int, Placed],
) -> Found:
    """The replica-weighted availability of the clouds each department ran on (module doc)."""
    found: Found = {}
    weight = config.weights.get("availability", 0.0)
    for department_id, where in placed.items():
        code = period.departments.get(department_id)
        watched = {c: n for c, n in where.replicas.items() if c in downtime}
        if code is None or not watched:
            continue
        replicas = sum(watched.values())
        measured = round(
            sum(n * downtime[c].availability for c, n in watched.items()) / replicas, 9
        )
        target = where.strictest
        judged = (
            f"against target {target} (strictest of its workloads)"
            if target
            else "not scored: none of its workloads has an SLA target"
        )
        detail = f"{measured:.6f} over {replicas} replicas on {len(watched)} clouds; {judged}"
        found[(DEPARTMENT, code)] = Kpi(
            name="availability",
            value=measured,
            score=score_availability(measured, target, config) if target else None,
            weight=weight,
            detail=detail,
            incident_ids=sorted({i for c in watched for i in downtime[c].incident_ids}),
            cloud_ids=sorted(watched),
        )
    return found
