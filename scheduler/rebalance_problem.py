"""The rebalance problem: Yunheng-managed replicas in a scope, free to move within a budget.

Only replicas Yunheng provisioned itself move. A workload discovered on a cloud belongs to
whoever runs it there (an OpenStack project, a Kubernetes namespace): Yunheng does not know
its constraints (data residency, licences pinned to hosts, local disks) and may not remove
it, so its load stays where it is, as outside usage, like any other tenant's.

A managed service moves only as a whole scope member: every one of its live replicas must
be on an `up` host of a placeable cloud inside the scope, and its current placement must
keep its own rules (SLA, zone loss, eligibility). Otherwise it is left in place and the
summary says why, so one odd service never blocks the rest of the estate.

Host load is the cloud's last report corrected by what Yunheng did since: replicas it made
after the last sync are added, replicas it removed since are taken off. So a plan proposed
or checked between an apply and the next sync sees the estate as it is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.errors import Invalid
from inventory.models import (
    Cloud,
    Department,
    Host,
    HostState,
    ItemState,
    Replica,
    ResourceRequest,
    Workload,
    Zone,
)
from inventory.paging import ref_filter
from scheduler.from_inventory import PLACEABLE
from scheduler.plan import Assignment
from scheduler.problem import RESOURCES, Problem, Vector, Weights
from scheduler.problem import Host as ProblemHost
from scheduler.validate import violations

Load = list[int]  # vcpus, memory_mb, disk_gb, gpus
# Rows as the database has them now, even if the caller's session holds older copies.
FRESH = {"populate_existing": True}


@dataclass(frozen=True)
class Scope:
    cloud_id: int | None = None
    zone_id: int | None = None


@dataclass
class Estate:
    """A rebalance Problem and the rows behind its ids."""

    problem: Problem
    hosts: dict[str, Host] = field(default_factory=dict)  # problem host id -> row
    host_keys: dict[int, str] = field(default_factory=dict)  # row id -> problem host id
    workloads: dict[str, Workload] = field(default_factory=dict)  # service id -> row
    replicas: dict[tuple[str, str], Replica] = field(default_factory=dict)  # (service, host)
    load: dict[str, Load] = field(default_factory=dict)  # host -> everything on it now
    left_in_place: list[str] = field(default_factory=list)

    def current(self) -> list[Assignment]:
        """Every service where it runs now."""
        return _placed(self.problem)


def resolve_scope(session: Session, cloud: str | None, zone: str | None) -> Scope:
    """Scope filters as the list endpoints take them; unknown or ambiguous is a 422."""
    cloud_id = zone_id = None
    if cloud:
        found = list(
            session.execute(
                sa.select(col(Cloud.id)).where(ref_filter(cloud, col(Cloud.id), col(Cloud.name)))
            ).scalars()
        )
        if len(found) != 1:
            raise Invalid.of("scope.no_cloud", field="cloud", cloud=cloud)
        cloud_id = found[0]
    if zone:
        query = sa.select(col(Zone.id)).where(
            sa.or_(ref_filter(zone, col(Zone.id), col(Zone.name)), col(Zone.external_id) == zone),
            col(Zone.state) != ItemState.gone,
        )
        if cloud_id is not None:
            query = query.where(col(Zone.cloud_id) == cloud_id)
        zones = list(session.execute(query).scalars())
        if not zones:
            raise Invalid.of("scope.no_zone", field="zone", zone=zone)
        if len(zones) > 1:
            raise Invalid.of("scope.zone_ambiguous", field="zone", zone=zone, count=len(zones))
        zone_id = zones[0]
    return Scope(cloud_id=cloud_id, zone_id=zone_id)


def build(
    session: Session,
    scope: Scope,
    *,
    budget: int,
    ignore: frozenset[int] = frozenset(),
    weights: Weights | None = None,
) -> Estate:
    """The problem for `scope`. Replicas in `ignore` are treated as not made yet (a plan's
    own half-done moves, when the plan is checked again before a retry)."""
    clouds = {
        c.id or 0: c
        for c in session.execute(
            sa.select(Cloud).where(col(Cloud.status).in_(PLACEABLE)).order_by(col(Cloud.id)),
            execution_options=FRESH,
        ).scalars()
        if scope.cloud_id is None or c.id == scope.cloud_id
    }
    zones = {
        z.id or 0: z
        for z in session.execute(
            sa.select(Zone)
            .where(col(Zone.cloud_id).in_(list(clouds)), col(Zone.state) != ItemState.gone)
            .order_by(col(Zone.id)),
            execution_options=FRESH,
        ).scalars()
        if scope.zone_id is None or z.id == scope.zone_id
    }
    zone_key = {zid: f"{clouds[z.cloud_id].name}/{z.external_id}" for zid, z in zones.items()}
    estate = Estate(problem=Problem(clouds=[], zones=[], hosts=[], services=[]))
    host_specs: dict[str, dict[str, Any]] = {}
    for h in session.execute(
        sa.select(Host)
        .where(col(Host.zone_id).in_(list(zones)), col(Host.state) == HostState.up)
        .order_by(col(Host.id)),
        execution_options=FRESH,
    ).scalars():
        key = f"{clouds[h.cloud_id].name}/{h.external_id}"
        estate.hosts[key] = h
        estate.host_keys[h.id or 0] = key
        host_specs[key] = _host_spec(key, zone_key[h.zone_id or 0], h)
    synced = {c: clouds[c].last_sync_at for c in clouds}
    live = live_load(session, list(estate.hosts.values()), synced, ignore)
    estate.load = {estate.host_keys[h]: load for h, load in live.items()}
    base = {
        "mode": "rebalance",
        "migration_budget": budget,
        "clouds": [
            {
                "id": c.name,
                "vendor": c.vendor,
                "region": c.region,
                "security_level": c.security_level,
                "prices": c.prices,
            }
            for c in clouds.values()
        ],
        "zones": [
            {
                "id": zone_key[zid],
                "cloud": clouds[z.cloud_id].name,
                "region": z.region,
                "availability": min(max(z.availability, 1e-9), 1 - 1e-9),
            }
            for zid, z in zones.items()
        ],
        "weights": (weights or Weights()).model_dump(),
    }
    services = _movable(session, estate, base, host_specs, ignore)
    outside = {key: list(load) for key, load in estate.load.items()}
    for spec in services:
        demand = spec["demand"]
        for key in spec["current"]:
            outside[key] = [u - demand[r] for u, r in zip(outside[key], RESOURCES, strict=True)]
    for key, spec in host_specs.items():
        # A report can lag a removal by a sync; usage below zero means none.
        spec["used"] = dict(zip(RESOURCES, (max(0, u) for u in outside[key]), strict=True))
    estate.problem = Problem.model_validate(
        {
            **base,
            "hosts": list(host_specs.values()),
            "services": services,
            # No quotas: moves change where replicas run, not how much a department uses,
            # and a quota lowered since must not freeze the estate.
            "departments": [{"id": d} for d in sorted({s["department"] for s in services})],
        }
    )
    return estate


def _host_spec(key: str, zone: str, h: Host) -> dict[str, Any]:
    return {
        "id": key,
        "zone": zone,
        "capacity": {"vcpus": h.vcpus, "memory_mb": h.memory_mb, "disk_gb": h.disk_gb,
                     "gpus": h.gpus},
        "allocation_ratio": [h.cpu_ratio, h.ram_ratio, h.disk_ratio, 1.0],
        "arch": h.arch,
        "traits": h.traits,
    }  # fmt: skip


def schedulable(h: Host) -> Vector:
    """What the placement model may fill on a host: (capacity - reserved) x ratio."""
    return ProblemHost.model_validate(_host_spec("host", "zone", h)).schedulable()


def live_load(
    session: Session,
    hosts: list[Host],
    synced: dict[int, datetime | None],
    ignore: frozenset[int] = frozenset(),
) -> dict[int, Load]:
    """What runs on each host now: the cloud's last report, plus the managed replicas made
    since that report, minus those removed since (and minus `ignore`, as if not made)."""
    load: dict[int, Load] = {
        h.id or 0: [h.vcpus_used, h.memory_mb_used, h.disk_gb_used, h.gpus_used] for h in hosts
    }
    rows = session.execute(
        sa.select(
            col(Replica.id),
            col(Replica.host_id),
            col(Replica.cloud_id),
            col(Replica.state),
            col(Replica.first_seen_at),
            col(Replica.gone_at),
            col(Workload.vcpus),
            col(Workload.memory_mb),
            col(Workload.disk_gb),
            col(Workload.gpus),
        )
        .join(Workload, col(Workload.id) == col(Replica.workload_id))
        .where(col(Workload.cloud_id).is_(None), col(Replica.host_id).in_(list(load)))
    ).all()
    for rid, host_id, cloud_id, state, seen, gone_at, *demand in rows:
        at = synced.get(cloud_id)
        reported = at is not None and seen <= at and (gone_at is None or gone_at > at)
        present = state != ItemState.gone and rid not in ignore
        sign = int(present) - int(reported)
        if sign:
            load[host_id] = [u + sign * d for u, d in zip(load[host_id], demand, strict=True)]
    return load


def _movable(
    session: Session,
    estate: Estate,
    base: dict[str, Any],
    host_specs: dict[str, dict[str, Any]],
    ignore: frozenset[int],
) -> list[dict[str, Any]]:
    """Service specs of the managed services that may move; the rest left in place, why."""
    rows = session.execute(
        sa.select(Replica, Workload)
        .join(Workload, col(Workload.id) == col(Replica.workload_id))
        .where(
            col(Workload.cloud_id).is_(None),
            col(Workload.state) != ItemState.gone,
            col(Replica.state) != ItemState.gone,
        )
        .order_by(col(Workload.id), col(Replica.id)),
        execution_options=FRESH,
    ).all()
    replicas: dict[int, list[Replica]] = defaultdict(list)
    workloads: dict[int, Workload] = {}
    for replica, workload in rows:
        if replica.id not in ignore:
            replicas[workload.id or 0].append(replica)
            workloads[workload.id or 0] = workload
    # Keyed by the column as read now, not by a possibly stale object in the session.
    requests: dict[int, ResourceRequest] = {
        wid: r
        for wid, r in session.execute(
            sa.select(col(ResourceRequest.workload_id), ResourceRequest).where(
                col(ResourceRequest.workload_id).in_(list(workloads))
            )
        ).all()
    }
    codes = {i: c for i, c in session.execute(sa.select(col(Department.id), col(Department.code)))}
    room = {k: ProblemHost.model_validate(s).schedulable() for k, s in host_specs.items()}
    over = {
        key
        for key, load in estate.load.items()
        if any(u > c for u, c in zip(load, room[key], strict=True))
    }
    specs: list[dict[str, Any]] = []
    for wid, workload in workloads.items():
        service_id = f"{workload.name}#{wid}"
        keys = [estate.host_keys.get(r.host_id or 0) for r in replicas[wid]]
        request = requests.get(wid)
        reason = _unmovable(workload, replicas[wid], keys, request, over)
        spec: dict[str, Any] = {}
        if reason is None and request is not None:
            spec = _service_spec(service_id, workload, request, codes, [k or "" for k in keys])
            reason = _breaks_own_rules(base, host_specs, spec)
        if reason is not None:
            estate.left_in_place.append(f"{service_id}: {reason}")
            continue
        specs.append(spec)
        estate.workloads[service_id] = workload
        for replica, key in zip(replicas[wid], keys, strict=True):
            estate.replicas[service_id, key or ""] = replica
    return specs


def _unmovable(
    workload: Workload,
    replicas: list[Replica],
    keys: list[str | None],
    request: ResourceRequest | None,
    over: set[str],
) -> str | None:
    if request is None:
        return "no request records its constraints"
    if any(r.state != ItemState.active for r in replicas):
        return "a replica is not active"
    if any(k is None for k in keys):
        return "a replica runs outside the scope, or on a host that is not up"
    if len(set(keys)) != len(keys):
        return "two replicas share a host"
    if request.min_healthy and request.min_healthy >= len(replicas):
        return f"runs {len(replicas)} replicas, not more than min_healthy {request.min_healthy}"
    full = sorted(k for k in keys if k in over)
    if full:
        return f"host {full[0]} is over capacity now; move by hand first"
    return None


def _service_spec(
    service_id: str,
    workload: Workload,
    request: ResourceRequest,
    codes: dict[int, str],
    keys: list[str],
) -> dict[str, Any]:
    return {
        "id": service_id,
        "department": codes.get(workload.department_id or 0, "none"),
        "replicas": len(keys),
        "demand": {
            "vcpus": workload.vcpus,
            "memory_mb": workload.memory_mb,
            "disk_gb": workload.disk_gb,
            "gpus": workload.gpus,
        },
        "sla_target": request.sla_target,
        "min_healthy": request.min_healthy,
        "min_security_level": request.security_level,
        "regions": [request.region] if request.region else None,
        "arch": request.arch,
        "traits": request.traits,
        "current": keys,
    }


def _breaks_own_rules(
    base: dict[str, Any], host_specs: dict[str, dict[str, Any]], spec: dict[str, Any]
) -> str | None:
    """A service whose placement already breaks its own rules (a zone's availability
    estimate dropped, a cloud's level was lowered) stays put: requiring the rebalance to
    fix it could make every plan infeasible."""
    sub = Problem.model_validate(
        {**base, "hosts": [host_specs[k] for k in spec["current"]], "services": [spec]}
    )
    # Capacity is the whole estate's business, checked over all services by the solver.
    found = [v for v in violations(sub, _placed(sub)) if not v.startswith("host ")]
    return f"its placement breaks its own rules now: {found[0]}" if found else None


def _placed(problem: Problem) -> list[Assignment]:
    zone_cloud = {z.id: z.cloud for z in problem.zones}
    host_zone = {h.id: h.zone for h in problem.hosts}
    return [
        Assignment(
            service=s.id, host=h, zone=host_zone[h], cloud=zone_cloud[host_zone[h]], existing=True
        )
        for s in problem.services
        for h in s.current
    ]
