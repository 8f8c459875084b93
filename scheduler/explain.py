"""Explanations in words a cloud admin can act on: why a request cannot be placed, and
which constraints shaped a plan that could."""

from __future__ import annotations

import math

import numpy as np

from scheduler.evaluate import Placement
from scheduler.index import Index, ServiceView, meets, zone_weight
from scheduler.problem import RESOURCES

_UNITS = {"vcpus": "vCPU", "memory_mb": "MiB memory", "disk_gb": "GB disk", "gpus": "GPU"}


def size(demand: tuple[int, ...]) -> str:
    return ", ".join(f"{d} {_UNITS[r]}" for r, d in zip(RESOURCES, demand, strict=True) if d)


def prechecks(index: Index) -> list[str]:
    """Conflicts visible before solving: quotas, eligibility, room, SLA reach, zone loss."""
    found = _quota_conflicts(index) + _pinned_overload(index)
    for view in index.services:
        found += _service_conflicts(index, view)
    return found


def _quota_conflicts(index: Index) -> list[str]:
    found: list[str] = []
    for dept in index.problem.departments:
        services = [v for v in index.services if v.spec.department == dept.id]
        need = [sum(v.demand[r] * v.spec.replicas for v in services) for r in range(4)]
        if dept.quota is not None:
            quota, used = dept.quota.vector(), dept.used.vector()
            for r, name in enumerate(RESOURCES):
                limit = quota[r]
                if limit is not None and need[r] and used[r] + need[r] > limit:
                    found.append(
                        f"department {dept.id}: {name} quota {limit}, already used {used[r]}, "
                        f"this needs {need[r]} more ({used[r] + need[r] - limit} over)"
                    )
        replicas = sum(v.spec.replicas for v in services)
        if (
            dept.instances_quota is not None
            and dept.used_instances + replicas > dept.instances_quota
        ):
            found.append(
                f"department {dept.id}: instance quota {dept.instances_quota}, already used "
                f"{dept.used_instances}, this needs {replicas} more"
            )
    return found


def _pinned_overload(index: Index) -> list[str]:
    """Place mode: existing replicas stay, so a host they already overfill blocks any plan."""
    if index.problem.mode != "place":
        return []
    load: dict[int, list[int]] = {}
    for view in index.services:
        for h in view.pinned:
            row = load.setdefault(h, [0, 0, 0, 0])
            for r, d in enumerate(view.demand):
                row[r] += d
    found = []
    for h, row in sorted(load.items()):
        for r, name in enumerate(RESOURCES):
            if row[r] > index.free[h][r]:
                found.append(
                    f"host {index.host_ids[h]}: existing replicas need {row[r]} {name} but only "
                    f"{index.free[h][r]} is schedulable beside other load; "
                    "move them (rebalance) first"
                )
    return found


def _filters(view: ServiceView) -> str:
    spec = view.spec
    parts = []
    if spec.min_security_level > 1:
        parts.append(f"security level >= {spec.min_security_level}")
    if spec.regions is not None:
        parts.append(f"region in {sorted(spec.regions)}")
    if spec.clouds is not None:
        parts.append(f"cloud in {sorted(spec.clouds)}")
    if spec.arch:
        parts.append(f"arch {spec.arch}")
    if spec.traits:
        parts.append(f"traits {sorted(spec.traits)}")
    return " and ".join(parts) or "no placement limits"


def _service_conflicts(index: Index, view: ServiceView) -> list[str]:
    sid, spec = view.spec.id, view.spec
    if not view.eligible:
        return [f"service {sid}: no host matches {_filters(view)}"]
    roomy = index.roomy_array(view.index)
    if view.pinned:
        roomy = np.union1d(roomy, np.array(view.pinned, dtype=np.int64))
    per_zone = np.bincount(index.zone_array()[roomy], minlength=len(index.zone_ids))
    rooms = {int(z): int(per_zone[z]) for z in np.flatnonzero(per_zone)}
    what = f"room for {size(view.demand)}"
    if len(roomy) < spec.replicas:
        return [
            f"service {sid}: needs {spec.replicas} distinct hosts with {what} and "
            f"{_filters(view)}; only {len(roomy)} have room"
        ]
    found: list[str] = []
    reach = sum(index.zone_weight[z] for z in rooms)
    if not meets(reach, view.required):
        best = 1 - math.exp(-reach)
        zones = ", ".join(
            f"{index.zone_ids[z]} ({index.problem.zones[z].availability})" for z in rooms
        )
        found.append(
            f"service {sid}: availability target {spec.sla_target} needs more independent zones "
            f"with {what} and {_filters(view)}; those with room ({zones}) give at most {best:.6f}"
        )
    spreadable = sum(min(n, view.zone_cap) for n in rooms.values())
    if spreadable < spec.replicas:
        zones_needed = math.ceil(spec.replicas / max(1, view.zone_cap))
        found.append(
            f"service {sid}: losing any one zone must leave {spec.min_healthy} of {spec.replicas} "
            f"replicas, so at most {view.zone_cap} per zone across at least {zones_needed} zones; "
            f"only {len(rooms)} zone(s) have {what} and {_filters(view)}"
        )
    return found


def binding(index: Index, placement: Placement) -> list[str]:
    """Constraints that shaped the plan: narrowed eligibility, SLA spread, full zones, quotas."""
    notes: list[str] = []
    hosts = len(index.host_ids)
    for view in index.services:
        placed = placement.get(view.index, [])
        if len(view.eligible) < hosts:
            notes.append(
                f"service {view.spec.id}: {_filters(view)} allows "
                f"{len(view.eligible)} of {hosts} hosts"
            )
        zones = sorted({index.host_zone[h] for h in placed})
        if view.required > 0 and len(zones) > 1:
            single = max(zone_weight(index.problem.zones[z].availability) for z in zones)
            if single < view.required:
                notes.append(
                    f"service {view.spec.id}: SLA {view.spec.sla_target} needs {len(zones)} zones "
                    f"({', '.join(index.zone_ids[z] for z in zones)}); one zone cannot meet it"
                )
    load = [row[:] for row in index.free]
    for s, placed in placement.items():
        for h in placed:
            for r, d in enumerate(index.services[s].demand):
                load[h][r] -= d
    for z, zid in enumerate(index.zone_ids):
        members = [h for h in range(hosts) if index.host_zone[h] == z]
        for r, name in enumerate(RESOURCES):
            cap = sum(index.schedulable[h][r] for h in members)
            left = sum(load[h][r] for h in members)
            if cap > 0 and left / cap < 0.05:
                notes.append(
                    f"zone {zid}: {name} {100 - 100 * left / cap:.0f}% allocated after this plan"
                )
    return notes
