"""Neutral snapshot types: what any adapter reports about one cloud at one moment.

They live in inventory (not adapters) because imports flow adapters -> inventory and
`reconcile()` consumes them. Vendor detail that has no column goes in `extra`.
Plain frozen dataclasses: a 20,000-replica snapshot must be cheap to build and compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inventory.models.enums import HostState, ItemState


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    external_id: str
    name: str
    region: str
    availability: float = 0.999
    state: ItemState = ItemState.active
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostInfo:
    external_id: str
    name: str
    zone: str | None  # ZoneInfo.external_id
    vcpus: int
    memory_mb: int
    disk_gb: int
    gpus: int = 0
    arch: str = "x86_64"
    state: HostState = HostState.up
    cpu_ratio: float = 1.0
    ram_ratio: float = 1.0
    disk_ratio: float = 1.0
    vcpus_used: int = 0
    memory_mb_used: int = 0
    disk_gb_used: int = 0
    gpus_used: int = 0
    traits: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkloadInfo:
    external_id: str
    name: str
    department: str | None = None  # Department.code, when the cloud carries it (project, namespace)
    kind: str = "service"
    replicas_desired: int = 1
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    gpus: int = 0
    sla_target: float | None = None
    security_level: int | None = None
    state: ItemState = ItemState.active
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReplicaInfo:
    external_id: str
    name: str
    # WorkloadInfo.external_id; None for a replica Yunheng provisioned itself, which stays
    # attached to the Yunheng service it was made for (see inventory.sync).
    workload: str | None
    host: str | None  # HostInfo.external_id; None while unscheduled
    state: ItemState = ItemState.active
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    zones: list[ZoneInfo]
    hosts: list[HostInfo]
    workloads: list[WorkloadInfo]
    replicas: list[ReplicaInfo]
    taken_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Inconsistencies that would corrupt the inventory; reconcile refuses such a snapshot."""
        found: list[str] = []
        for kind, items in (
            ("zone", self.zones),
            ("host", self.hosts),
            ("workload", self.workloads),
            ("replica", self.replicas),
        ):
            seen: set[str] = set()
            for item in items:
                if item.external_id in seen:
                    found.append(f"duplicate {kind} external_id {item.external_id!r}")
                seen.add(item.external_id)
        zones = {z.external_id for z in self.zones}
        hosts = {h.external_id for h in self.hosts}
        workloads = {w.external_id for w in self.workloads}
        found += [
            f"host {h.external_id!r} names unknown zone {h.zone!r}"
            for h in self.hosts
            if h.zone is not None and h.zone not in zones
        ]
        for r in self.replicas:
            if r.workload is not None and r.workload not in workloads:
                found.append(f"replica {r.external_id!r} names unknown workload {r.workload!r}")
            if r.host is not None and r.host not in hosts:
                found.append(f"replica {r.external_id!r} names unknown host {r.host!r}")
        return found
