"""The alert noise KPI: alerts that reached the on-call, per host (vendors) or replica
(departments), in the month.

Decisions:
- An Alert row is one series for ever and keeps only its latest episode, so the count comes
  from the incident timeline: each `alert_added` (an alert joined an incident) or
  `alert_refired` (it fired again within one) event in the month is one episode that paged
  someone. Suppressed alerts (silenced, in maintenance, inhibited) never join an incident,
  so they are not noise: the on-call never saw them.
- Vendors: the episodes of alerts labelled with one of their clouds, over their hosts that
  were in the inventory at any time in the month (first seen before its end, not gone
  before its start). No hosts: no data; hosts and no alert: 0 per host, scored 100.
- Departments: the episodes of alerts labelled with the department, over its replicas present
  in the month (sla.cloud_availability.replicas_by_department). No replicas: no data.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.models import Alert, Host, IncidentEvent
from sla.cloud_availability import Placed
from sla.kpi import Kpi, KpiConfig, score_time_ratio
from sla.period import DEPARTMENT, VENDOR, Found, Period

EPISODE_EVENTS = ("alert_added", "alert_refired")


class _Tally:
    def __init__(self) -> None:
        self.episodes = 0
        self.alerts: set[int] = set()
        self.incidents: set[int] = set()


def _kpi(tally: _Tally, units: int, unit: str, config: KpiConfig, cloud_ids: list[int]) -> Kpi:
    exact = tally.episodes / units
    value, target = round(exact, 4), config.alert_noise_target
    return Kpi(
        name="alert_noise",
        value=value,
        score=score_time_ratio(exact / target, config),
        weight=config.weights.get("alert_noise", 0.0),
        detail=f"{tally.episodes} alerts over {units} {unit}s: {value:g} per {unit} "
        f"(target {target:g})",
        incident_ids=sorted(tally.incidents),
        alert_ids=sorted(tally.alerts),
        cloud_ids=cloud_ids,
    )


def alert_noise(
    session: Session, period: Period, config: KpiConfig, placed: dict[int, Placed]
) -> Found:
    """Alert episodes per host (vendor) and per replica (department); two queries."""
    alert_id = col(IncidentEvent.data)["alert_id"].as_integer()
    episodes = session.execute(
        sa.select(
            col(IncidentEvent.incident_id),
            col(Alert.id),
            col(Alert.cloud_id),
            col(Alert.department_id),
        )
        .join(Alert, col(Alert.id) == alert_id)
        .where(
            col(IncidentEvent.kind).in_(EPISODE_EVENTS),
            col(IncidentEvent.at) >= period.start,
            col(IncidentEvent.at) < period.stop,
        )
    ).all()
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    for incident_id, alert, cloud_id, department_id in episodes:
        keys = []
        if (vendor := period.vendor(cloud_id)) is not None:
            keys.append((VENDOR, vendor))
        if department_id in period.departments:
            keys.append((DEPARTMENT, period.departments[department_id]))
        for key in keys:
            tallies[key].episodes += 1
            tallies[key].alerts.add(int(alert))
            tallies[key].incidents.add(int(incident_id))
    hosts = session.execute(
        sa.select(col(Host.cloud_id), sa.func.count(col(Host.id)))
        .where(
            col(Host.first_seen_at) < period.stop,
            sa.or_(col(Host.gone_at).is_(None), col(Host.gone_at) > period.start),
        )
        .group_by(col(Host.cloud_id))
    ).all()
    per_vendor: dict[str, int] = defaultdict(int)
    clouds: dict[str, list[int]] = defaultdict(list)
    for cloud_id, count in hosts:
        if (vendor := period.vendor(cloud_id)) is not None:
            per_vendor[vendor] += int(count)
            clouds[vendor].append(int(cloud_id))
    found: Found = {}
    for vendor, count in per_vendor.items():
        if count:
            found[(VENDOR, vendor)] = _kpi(
                tallies[(VENDOR, vendor)], count, "host", config, sorted(clouds[vendor])
            )
    for department_id, where in placed.items():
        code = period.departments.get(department_id)
        if code is not None and where.total:
            found[(DEPARTMENT, code)] = _kpi(
                tallies[(DEPARTMENT, code)], where.total, "replica", config, []
            )
    return found
