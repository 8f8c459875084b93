"""Delivery KPIs: request fulfilment lead time and provisioning success.

Decisions:
- lead_time: a request counts in the month (Shanghai) its `fulfilled_at` falls in, its lead
  time being fulfilled_at - created_at (set once, when every replica is first provisioned,
  by scheduler.apply). Requests still open are not counted here (a failed allocation shows
  in provisioning_success). Departments: their own requests. Vendors: the requests any of
  whose provisioned allocations went to one of their clouds (a request across two vendors
  counts for both). The figure is the mean in hours; the score is the mean over the target.
- provisioning_success: allocations of plans decided (approved or rejected) in the month;
  provisioned / (provisioned + failed), pending ones not yet counted. The status is the
  allocation's current one, so a failure an admin retried successfully counts as success.
  Vendors by the allocation's cloud, departments by the plan's request. Rebalance moves are
  not counted: they answer no request.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.models import Allocation, AllocationStatus, Plan, ResourceRequest
from sla.kpi import Kpi, KpiConfig, score_compliance, score_time_ratio
from sla.period import DEPARTMENT, VENDOR, Found, Period

HOUR = 3600.0


def _fulfilled_in(period: Period) -> list[sa.ColumnElement[bool]]:
    return [
        col(ResourceRequest.fulfilled_at) >= period.start,
        col(ResourceRequest.fulfilled_at) < period.stop,
    ]


def lead_time(session: Session, period: Period, config: KpiConfig) -> Found:
    """Mean fulfilment lead time per department and vendor (module doc); two queries."""
    requests = session.execute(
        sa.select(
            col(ResourceRequest.id),
            col(ResourceRequest.department_id),
            col(ResourceRequest.created_at),
            col(ResourceRequest.fulfilled_at),
        ).where(*_fulfilled_in(period))
    ).all()
    hours = {int(i): (done - made).total_seconds() / HOUR for i, _, made, done in requests}
    groups: dict[tuple[str, str], set[int]] = defaultdict(set)
    for request_id, department_id, _, _ in requests:
        if department_id in period.departments:
            groups[(DEPARTMENT, period.departments[department_id])].add(int(request_id))
    went_to = session.execute(
        sa.select(col(Plan.request_id), col(Allocation.cloud_id))
        .join(Plan, col(Plan.id) == col(Allocation.plan_id))
        .join(ResourceRequest, col(ResourceRequest.id) == col(Plan.request_id))
        .where(col(Allocation.status) == AllocationStatus.provisioned, *_fulfilled_in(period))
        .distinct()
    ).all()
    for request_id, cloud_id in went_to:
        vendor = period.vendor(cloud_id)
        if vendor is not None:
            groups[(VENDOR, vendor)].add(int(request_id))
    target = config.lead_time_target_hours
    found: Found = {}
    for key, ids in groups.items():
        exact = sum(hours[i] for i in ids) / len(ids)
        mean = round(exact, 4)
        found[key] = Kpi(
            name="lead_time",
            value=mean,
            score=score_time_ratio(exact / target, config),
            weight=config.weights.get("lead_time", 0.0),
            detail=f"mean {mean:.2f} h over {len(ids)} requests fulfilled (target {target:g} h)",
            incident_ids=[],
            request_ids=sorted(ids),
        )
    return found


def provisioning_success(session: Session, period: Period, config: KpiConfig) -> Found:
    """Provisioned over provisioned + failed allocations per vendor and department; one query
    (counts grouped in SQL by plan, cloud, department and status)."""
    rows = session.execute(
        sa.select(
            col(Plan.id),
            col(Allocation.cloud_id),
            col(ResourceRequest.department_id),
            col(Allocation.status),
            sa.func.count(col(Allocation.id)),
        )
        .join(Plan, col(Plan.id) == col(Allocation.plan_id))
        .outerjoin(ResourceRequest, col(ResourceRequest.id) == col(Plan.request_id))
        .where(
            col(Plan.decided_at) >= period.start,
            col(Plan.decided_at) < period.stop,
            col(Allocation.status).in_([AllocationStatus.provisioned, AllocationStatus.failed]),
        )
        .group_by(
            col(Plan.id),
            col(Allocation.cloud_id),
            col(ResourceRequest.department_id),
            col(Allocation.status),
        )
    ).all()
    counts: dict[tuple[str, str], dict[AllocationStatus, int]] = defaultdict(
        lambda: dict.fromkeys(AllocationStatus, 0)
    )
    plans: dict[tuple[str, str], set[int]] = defaultdict(set)
    for plan_id, cloud_id, department_id, status, count in rows:
        keys = []
        if (vendor := period.vendor(cloud_id)) is not None:
            keys.append((VENDOR, vendor))
        if department_id in period.departments:
            keys.append((DEPARTMENT, period.departments[department_id]))
        for key in keys:
            counts[key][AllocationStatus(status)] += int(count)
            plans[key].add(int(plan_id))
    found: Found = {}
    for key, by_status in counts.items():
        made, failed = by_status[AllocationStatus.provisioned], by_status[AllocationStatus.failed]
        ratio = made / (made + failed)
        found[key] = Kpi(
            name="provisioning_success",
            value=round(ratio, 4),
            score=score_compliance(ratio),
            weight=config.weights.get("provisioning_success", 0.0),
            detail=f"{made} of {made + failed} allocations provisioned ({failed} failed)",
            incident_ids=[],
            plan_ids=sorted(plans[key]),
        )
    return found
