"""The utilisation KPI: allocated over capacity, for vendors' hosts and departments' quotas.

Decisions:
- The inventory keeps no history of allocation, so utilisation is a **snapshot** taken when
  the report is made, said so in `detail`. The month before (the trend) gets no data rather
  than the same snapshot twice; a report stored on the 1st keeps the month-end figure.
- Vendors: the allocation the cloud reports (vcpus_used, memory_mb_used) over schedulable
  capacity (vcpus x cpu_ratio, memory_mb x ram_ratio, as Placement counts overcommit) of its
  clouds' hosts that are not gone. Summed per resource over the hosts, in SQL.
- Departments: quota usage, what their live replicas use over their quota limit. A quota is
  the share of the estate planned for the department: far below it the capacity sits idle,
  at it the department's next request is refused; so the same band rule applies. A resource
  without a quota (or a 0 limit) is not counted; with neither, no data.
- The figure is the binding resource, the fuller of vcpu and memory: it is what stops the
  next placement, and the other resource's slack cannot be released without it.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.departments import usage
from inventory.models import Host, HostState, Quota, Resource
from sla.kpi import Kpi, KpiConfig, score_band
from sla.period import DEPARTMENT, VENDOR, Found, Period

RESOURCES = (Resource.vcpus, Resource.memory_mb)
SNAPSHOT = "a snapshot of now: the inventory keeps no history"


def _kpi(
    used: dict[Resource, float], capacity: dict[Resource, float], config: KpiConfig, where: str
) -> Kpi | None:
    ratios = {r: used[r] / capacity[r] for r in RESOURCES if capacity.get(r, 0) > 0}
    if not ratios:
        return None
    binding = max(ratios, key=lambda r: ratios[r])
    value = ratios[binding]
    parts = ", ".join(
        f"{r.value} {ratios[r]:.4f} ({used[r]:g}/{capacity[r]:g})" for r in RESOURCES if r in ratios
    )
    return Kpi(
        name="utilisation",
        value=round(value, 4),
        score=score_band(value, config),
        weight=config.weights.get("utilisation", 0.0),
        detail=f"{parts} {where}; binding {binding.value}; {SNAPSHOT}",
        incident_ids=[],
    )


def _vendors(session: Session, period: Period, config: KpiConfig) -> Found:
    rows = session.execute(
        sa.select(
            col(Host.cloud_id),
            sa.func.sum(col(Host.vcpus_used)),
            sa.func.sum(col(Host.vcpus) * col(Host.cpu_ratio)),
            sa.func.sum(col(Host.memory_mb_used)),
            sa.func.sum(col(Host.memory_mb) * col(Host.ram_ratio)),
        )
        .where(col(Host.state) != HostState.gone)
        .group_by(col(Host.cloud_id))
    ).all()
    used: dict[str, dict[Resource, float]] = defaultdict(lambda: dict.fromkeys(RESOURCES, 0.0))
    capacity: dict[str, dict[Resource, float]] = defaultdict(lambda: dict.fromkeys(RESOURCES, 0.0))
    clouds: dict[str, list[int]] = defaultdict(list)
    for cloud_id, vcpus_used, vcpus, memory_used, memory in rows:
        vendor = period.vendor(cloud_id)
        if vendor is None:
            continue
        clouds[vendor].append(int(cloud_id))
        used[vendor][Resource.vcpus] += float(vcpus_used or 0)
        capacity[vendor][Resource.vcpus] += float(vcpus or 0)
        used[vendor][Resource.memory_mb] += float(memory_used or 0)
        capacity[vendor][Resource.memory_mb] += float(memory or 0)
    found: Found = {}
    for vendor, ids in clouds.items():
        kpi = _kpi(used[vendor], capacity[vendor], config, "of schedulable host capacity")
        if kpi is not None:
            kpi.cloud_ids = sorted(ids)
            found[(VENDOR, vendor)] = kpi
    return found


def _departments(session: Session, period: Period, config: KpiConfig) -> Found:
    limits: dict[int, dict[Resource, float]] = defaultdict(dict)
    for quota in session.execute(
        sa.select(Quota).where(col(Quota.resource).in_(RESOURCES), col(Quota.limit) > 0)
    ).scalars():
        limits[quota.department_id][Resource(quota.resource)] = float(quota.limit)
    ids = [d for d in period.departments if d in limits]
    used = usage(session, ids) if ids else {}
    found: Found = {}
    for department_id in ids:
        taken = {r: float(used[department_id][r]) for r in RESOURCES}
        kpi = _kpi(taken, limits[department_id], config, "of quota")
        if kpi is not None:
            found[(DEPARTMENT, period.departments[department_id])] = kpi
    return found


def utilisation(session: Session, period: Period, config: KpiConfig) -> Found:
    """Vendors' host utilisation and departments' quota usage, as of now (module doc)."""
    return {**_vendors(session, period, config), **_departments(session, period, config)}
