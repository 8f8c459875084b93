"""What the approvals pages show: the plans awaiting a decision and the decided ones (place
and rebalance plans alike) a page at a time in one query, and a plan's replicas per cloud and
zone with its chart.

Reading one plan goes through scheduler.views.get_plan, the API's own service, so the access
rule is the API's; the queue here is for admins only (the page checks the role).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from console.web.charts import PALETTE
from console.web.i18n import Translator
from inventory.models import Department, Plan, PlanPublic, PlanStatus, ResourceRequest
from inventory.models.requests import PlanKind
from inventory.paging import Page, PageParams, count, order_by

PAGE_SIZE = 50
# Decided and not replaced: what an admin looks back on. Superseded proposals were never
# decided, so they stay out of both lists.
DECIDED = (
    PlanStatus.approved,
    PlanStatus.rejected,
    PlanStatus.applying,
    PlanStatus.applied,
    PlanStatus.partial,
)
# While provisioning runs the detail page polls for progress; it stops once the plan settles.
IN_FLIGHT = (PlanStatus.approved, PlanStatus.applying)


@dataclass(frozen=True)
class PlanRow:
    id: int
    kind: PlanKind
    status: PlanStatus
    service: str | None  # the request's service; None for a rebalance plan
    department: str | None
    replicas: int  # a request's replicas, or a rebalance plan's moves
    cost_per_hour: float
    predicted_availability: float | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class ZoneCount:
    cloud: str
    zone: str
    replicas: int


def list_plans(
    session: Session, page: PageParams, *, decided: bool, kind: PlanKind | None = None
) -> Page[PlanRow]:
    """Proposed plans oldest first (a queue), or decided ones latest decision first."""
    query = (
        sa.select(
            Plan,
            col(ResourceRequest.service_name),
            col(ResourceRequest.replicas),
            col(Department.code),
        )
        .outerjoin(ResourceRequest, col(ResourceRequest.id) == col(Plan.request_id))
        .outerjoin(Department, col(Department.id) == col(ResourceRequest.department_id))
        .where(col(Plan.status).in_(DECIDED if decided else (PlanStatus.proposed,)))
    )
    if kind is not None:
        query = query.where(col(Plan.kind) == kind)
    default = col(Plan.decided_at).desc() if decided else col(Plan.created_at).asc()
    sort = {"created_at": col(Plan.created_at), "cost": col(Plan.cost_per_hour)}
    rows = session.execute(
        query.order_by(*order_by(page.sort, sort, default), col(Plan.id).desc())
        .offset(page.offset)
        .limit(page.limit)
    ).all()
    items = [
        PlanRow(
            id=plan.id or 0,
            kind=plan.kind,
            status=plan.status,
            service=service,
            department=department,
            replicas=int(replicas if replicas is not None else plan.summary.get("moves", 0)),
            cost_per_hour=plan.cost_per_hour,
            predicted_availability=plan.predicted_availability,
            created_at=plan.created_at,
            decided_by=plan.decided_by,
            decided_at=plan.decided_at,
        )
        for plan, service, replicas, department in rows
    ]
    return Page(items=items, total=count(session, query), limit=page.limit, offset=page.offset)


def zone_counts(plan: PlanPublic) -> list[ZoneCount]:
    """Where the plan puts replicas: a place plan's allocations, a rebalance plan's targets."""
    places: Counter[tuple[str, str]] = Counter()
    for a in plan.allocations:
        places[(a.cloud, a.zone or "-")] += 1
    for m in plan.moves:
        places[(m.cloud, m.to_zone or "-")] += 1
    return [ZoneCount(cloud, zone, n) for (cloud, zone), n in sorted(places.items())]


def zone_chart(zones: list[ZoneCount], t: Translator) -> dict[str, Any]:
    return {
        "color": PALETTE,
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 48, "right": 16, "bottom": 56, "top": 16},
        "xAxis": {
            "type": "category",
            "data": [f"{z.cloud} / {z.zone}" for z in zones],
            "axisLabel": {"interval": 0, "rotate": 20},
        },
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": t("approvals.col.replicas"),
                "type": "bar",
                "data": [z.replicas for z in zones],
            }
        ],
    }


def status_labels(t: Translator) -> dict[str, str]:
    """Literal keys (not built from the value) so the catalogue test sees each one."""
    return {
        "proposed": t("approvals.status.proposed"),
        "approved": t("approvals.status.approved"),
        "rejected": t("approvals.status.rejected"),
        "applying": t("approvals.status.applying"),
        "applied": t("approvals.status.applied"),
        "partial": t("approvals.status.partial"),
        "superseded": t("approvals.status.superseded"),
        "pending": t("approvals.step.pending"),
        "provisioned": t("approvals.step.provisioned"),
        "failed": t("approvals.step.failed"),
        "moved": t("approvals.step.moved"),
        "place": t("approvals.kind.place"),
        "rebalance": t("approvals.kind.rebalance"),
    }
