"""What the inventory pages need beyond the list services: filter choices, a cloud's capacity
and host states, a host's capacity against use, and the replicas on a host.

Each is one query whatever the estate's size (2,000 hosts is normal): the lists themselves
come from inventory.estate and inventory.workloads, the same services the API uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col

from console.web.dashboard_data import Usage, ZoneUsage, capacity
from inventory.models import (
    Cloud,
    Department,
    Host,
    HostPublic,
    HostState,
    ItemState,
    Replica,
    Workload,
    Zone,
)

# Enum value -> message key. Kept as literal keys (not built from a prefix at run time) so the
# catalogue tests see every one; tests/test_web_inventory.py checks they all exist.
CLOUD_STATUS = {
    "new": "inventory.cloud_status.new",
    "ok": "inventory.cloud_status.ok",
    "degraded": "inventory.cloud_status.degraded",
    "disabled": "inventory.cloud_status.disabled",
}
HOST_STATE = {
    "up": "inventory.host_state.up",
    "down": "inventory.host_state.down",
    "maintenance": "inventory.host_state.maintenance",
    "gone": "inventory.host_state.gone",
}
ITEM_STATE = {
    "active": "inventory.item_state.active",
    "degraded": "inventory.item_state.degraded",
    "gone": "inventory.item_state.gone",
}
LABELS = {"cloud_status": CLOUD_STATUS, "host_state": HOST_STATE, "item_state": ITEM_STATE}


@dataclass(frozen=True)
class Choices:
    """Options for the filter selects: small lists (clouds, zones, architectures, departments)."""

    clouds: list[tuple[int, str]]
    zones: list[tuple[int, str]]  # id, "cloud / zone"
    arches: list[str]
    departments: list[tuple[str, str]]  # code, name


def choices(session: Session) -> Choices:
    clouds = session.execute(sa.select(col(Cloud.id), col(Cloud.name)).order_by(col(Cloud.name)))
    zones = session.execute(
        sa.select(col(Zone.id), col(Cloud.name), col(Zone.name))
        .join(Cloud, col(Cloud.id) == col(Zone.cloud_id))
        .where(col(Zone.state) != ItemState.gone)
        .order_by(col(Cloud.name), col(Zone.name))
    )
    arches = session.execute(
        sa.select(col(Host.arch)).where(col(Host.state) != HostState.gone).distinct()
    ).scalars()
    departments = session.execute(
        sa.select(col(Department.code), col(Department.name)).order_by(col(Department.code))
    )
    return Choices(
        clouds=[(int(i), str(n)) for i, n in clouds],
        zones=[(int(i), f"{c} / {z}") for i, c, z in zones],
        arches=sorted(str(a) for a in arches),
        departments=[(str(c), str(n)) for c, n in departments],
    )


@dataclass(frozen=True)
class CloudSummary:
    zones: list[ZoneUsage]  # schedulable capacity and use per zone (hosts not down)
    total: Usage
    states: dict[str, int]  # host state -> hosts, gone left out


def cloud_summary(session: Session, cloud: Cloud) -> CloudSummary:
    zones = [z for z in capacity(session) if z.cloud == cloud.name]
    total = Usage()
    for zone in zones:
        total.add(zone.usage)
    rows = session.execute(
        sa.select(col(Host.state), sa.func.count())
        .where(col(Host.cloud_id) == cloud.id, col(Host.state) != HostState.gone)
        .group_by(col(Host.state))
    ).all()
    counts = {str(state): int(n) for state, n in rows}
    states = {s.value: counts.get(s.value, 0) for s in HostState if s != HostState.gone}
    return CloudSummary(zones=zones, total=total, states=states)


@dataclass(frozen=True)
class Dimension:
    """One capacity dimension of a host: schedulable = capacity x overcommit ratio."""

    key: str  # message key of its name
    unit: str  # message key of its unit
    capacity: int
    ratio: float
    used: int

    @property
    def schedulable(self) -> float:
        return self.capacity * self.ratio

    @property
    def use(self) -> float | None:
        return self.used / self.schedulable if self.schedulable else None

    @property
    def free(self) -> float:
        return self.schedulable - self.used


def dimensions(host: HostPublic) -> list[Dimension]:
    return [
        Dimension("inventory.dim.vcpus", "inventory.unit.cores", host.vcpus, host.cpu_ratio,
                  host.vcpus_used),
        Dimension("inventory.dim.memory", "inventory.unit.mb", host.memory_mb, host.ram_ratio,
                  host.memory_mb_used),
        Dimension("inventory.dim.disk", "inventory.unit.gb", host.disk_gb, host.disk_ratio,
                  host.disk_gb_used),
        Dimension("inventory.dim.gpus", "inventory.unit.cards", host.gpus, 1.0, host.gpus_used),
    ]  # fmt: skip


@dataclass(frozen=True)
class HostReplica:
    id: int
    name: str
    state: str
    workload_id: int
    workload: str
    department: str | None


def host_replicas(session: Session, host_id: int) -> list[HostReplica]:
    """The live replicas on a host with their workload and department (staff pages only)."""
    rows = session.execute(
        sa.select(
            col(Replica.id),
            col(Replica.name),
            col(Replica.state),
            col(Workload.id),
            col(Workload.name),
            col(Department.code),
        )
        .join(Workload, col(Workload.id) == col(Replica.workload_id))
        .outerjoin(Department, col(Department.id) == col(Workload.department_id))
        .where(col(Replica.host_id) == host_id, col(Replica.state) != ItemState.gone)
        .order_by(col(Workload.name), col(Replica.name))
    ).all()
    return [HostReplica(int(i), str(n), str(s), int(wi), str(wn), d) for i, n, s, wi, wn, d in rows]
