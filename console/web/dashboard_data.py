"""What the dashboard shows, each in one aggregate query (2,000 hosts and 1,000 firing alerts
are normal): capacity and allocation per cloud and zone, firing alerts by severity, SLA
status per vendor this month, and the plans awaiting a decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.models import (
    Alert,
    AlertState,
    Cloud,
    Host,
    HostState,
    Plan,
    PlanStatus,
    ResourceRequest,
    Severity,
    Zone,
)
from sla.availability import SHANGHAI
from sla.settlement import Settlement, monthly_settlement


@dataclass
class Usage:
    """Schedulable capacity ((capacity) x allocation ratio) and what the cloud reports used."""

    vcpus: float = 0.0
    vcpus_used: float = 0.0
    memory_mb: float = 0.0
    memory_mb_used: float = 0.0
    hosts: int = 0

    def add(self, other: Usage) -> None:
        self.vcpus += other.vcpus
        self.vcpus_used += other.vcpus_used
        self.memory_mb += other.memory_mb
        self.memory_mb_used += other.memory_mb_used
        self.hosts += other.hosts

    @property
    def cpu(self) -> float | None:
        return self.vcpus_used / self.vcpus if self.vcpus else None

    @property
    def memory(self) -> float | None:
        return self.memory_mb_used / self.memory_mb if self.memory_mb else None


@dataclass
class ZoneUsage:
    vendor: str
    cloud: str
    zone: str
    usage: Usage


@dataclass
class Dashboard:
    zones: list[ZoneUsage]
    vendors: dict[str, Usage]
    clouds: dict[str, Usage]
    firing: dict[str, int]  # severity -> firing alerts
    settlement: Settlement | None
    pending_plans: list[tuple[Plan, str | None]] = field(default_factory=list)  # plan, service
    pending_total: int = 0


def capacity(session: Session) -> list[ZoneUsage]:
    host = Host.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(
            col(Cloud.vendor),
            col(Cloud.name),
            sa.func.coalesce(col(Zone.name), "-"),
            sa.func.sum(host.vcpus * host.cpu_ratio),
            sa.func.sum(host.vcpus_used),
            sa.func.sum(host.memory_mb * host.ram_ratio),
            sa.func.sum(host.memory_mb_used),
            sa.func.count(),
        )
        .select_from(Host)
        .join(Cloud, col(Cloud.id) == host.cloud_id)
        .outerjoin(Zone, col(Zone.id) == host.zone_id)
        .where(host.gone_at.is_(None), host.state != HostState.down)
        .group_by(col(Cloud.vendor), col(Cloud.name), col(Zone.name))
        .order_by(col(Cloud.vendor), col(Cloud.name), col(Zone.name))
    ).all()
    return [
        ZoneUsage(
            vendor,
            cloud,
            zone,
            Usage(float(v or 0), float(vu or 0), float(m or 0), float(mu or 0), n),
        )
        for vendor, cloud, zone, v, vu, m, mu, n in rows
    ]


def firing_by_severity(session: Session) -> dict[str, int]:
    counts = dict(
        session.execute(
            sa.select(col(Alert.severity), sa.func.count())
            .where(col(Alert.state) == AlertState.firing)
            .group_by(col(Alert.severity))
        ).all()
    )
    return {s.value: int(counts.get(s, 0)) for s in Severity}


def dashboard(session: Session, now: datetime) -> Dashboard:
    zones = capacity(session)
    vendors: dict[str, Usage] = {}
    clouds: dict[str, Usage] = {}
    for z in zones:
        vendors.setdefault(z.vendor, Usage()).add(z.usage)
        clouds.setdefault(z.cloud, Usage()).add(z.usage)
    pending = col(Plan.status) == PlanStatus.proposed
    total = session.execute(sa.select(sa.func.count()).select_from(Plan).where(pending)).scalar()
    plans = [
        (plan, service)
        for plan, service in session.execute(
            sa.select(Plan, col(ResourceRequest.service_name))
            .outerjoin(ResourceRequest, col(ResourceRequest.id) == col(Plan.request_id))
            .where(pending)
            .order_by(col(Plan.created_at))
            .limit(5)
        ).all()
    ]
    return Dashboard(
        zones=zones,
        vendors=vendors,
        clouds=clouds,
        firing=firing_by_severity(session),
        settlement=monthly_settlement(session, now.astimezone(SHANGHAI).strftime("%Y-%m"), now),
        pending_plans=plans,
        pending_total=int(total or 0),
    )
