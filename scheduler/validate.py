"""The independent plan validator: every hard constraint of a placement, checked from scratch.

This module is deliberately written without reference to the solvers (greedy or CP-SAT): it
re-derives each rule from the problem contract (docs/problem-format.md), so a bug in a solver
cannot hide in the check. It is pure and fast: everything is indexed by dicts, one pass over
the assignments, no quadratic loops (20,000 assignments over 3,000 hosts take well under a
second).

`violations(problem, assignments)` returns one sentence per broken rule, written for a cloud
admin and naming the service, host, zone and resource with the numbers; an empty list means the
plan is valid.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from scheduler.plan import Assignment, ServiceReport
from scheduler.problem import RESOURCES, Cloud, Host, Problem, Service, Zone
from sla.availability import replicas_across_zones, required_weight, weights_meet, zone_weight

# Relative tolerance on the SLA comparison (in -log(1 - availability) space): absorbs float
# rounding only; any real shortfall is orders of magnitude larger.
SLA_REL_TOL = 1e-12
# Longest list of names (zones, services, hosts) spelled out inside one sentence.
_MAX_NAMES = 5


def predicted_availability(zone_availabilities: Iterable[float]) -> float:
    """1 - prod(1 - a) over the zones a service uses: up while at least one zone is up.

    Zones fail independently. The formula is sla.availability's, the one SLA reports measure
    against; no zones at all is 0.0.
    """
    return replicas_across_zones(zone_availabilities)


def meets_sla(target: float | None, zone_availabilities: Iterable[float]) -> bool:
    """Whether the zones reach the target: sum(-log(1 - a_z)) >= -log(1 - target), within
    a relative tolerance of SLA_REL_TOL. No target is always met."""
    if target is None:
        return True
    have = math.fsum(zone_weight(a) for a in zone_availabilities)
    return weights_meet(have, required_weight(target), SLA_REL_TOL)


@dataclass
class _ServicePlan:
    """What the plan gives one service, derived from its assignments."""

    assignments: list[Assignment] = field(default_factory=list)
    hosts: Counter[str] = field(default_factory=Counter)  # known host -> replicas on it
    zones: Counter[str] = field(default_factory=Counter)  # host's real zone -> replicas


class _Index:
    """The problem's lookups, built once per call."""

    def __init__(self, problem: Problem) -> None:
        self.clouds: dict[str, Cloud] = {c.id: c for c in problem.clouds}
        self.zones: dict[str, Zone] = {z.id: z for z in problem.zones}
        self.hosts: dict[str, Host] = {h.id: h for h in problem.hosts}
        self.services: dict[str, Service] = {s.id: s for s in problem.services}
        self.place = problem.mode == "place"


def _group(index: _Index, assignments: Sequence[Assignment]) -> dict[str, _ServicePlan]:
    plans: dict[str, _ServicePlan] = {s: _ServicePlan() for s in index.services}
    for a in assignments:
        plan = plans.get(a.service)
        if plan is None:
            continue
        plan.assignments.append(a)
        host = index.hosts.get(a.host)
        if host is not None:
            plan.hosts[a.host] += 1
            plan.zones[host.zone] += 1
    return plans


def _names(items: Iterable[str]) -> str:
    ordered = sorted(items)
    shown = ", ".join(ordered[:_MAX_NAMES])
    more = len(ordered) - _MAX_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _num(x: float) -> str:
    """A number as an admin reads it: integers plain, others with enough digits to differ."""
    return str(int(x)) if float(x).is_integer() else f"{x:.10g}"


def violations(problem: Problem, assignments: Sequence[Assignment]) -> list[str]:
    """Every hard constraint the plan breaks, one sentence each; [] means the plan is valid.

    Checks, in this order: unknown services and hosts, zone/cloud fields, eligibility
    (security level, region, cloud, arch, traits), replica count, distinct hosts, host
    capacity, SLA target, zone loss (min_healthy), affinity, department quotas, and the
    mode rules (place: existing replicas stay, nothing moves; rebalance: migration budget,
    and the existing/moved_from flags agree with `current`).
    """
    index = _Index(problem)
    out: list[str] = []
    out += _check_assignments(index, assignments)
    plans = _group(index, assignments)
    out += _check_replicas(problem, plans)
    out += _check_capacity(problem, index, assignments)
    out += _check_sla_and_zone_loss(problem, index, plans)
    out += _check_affinity(problem, plans)
    out += _check_quotas(problem)
    out += _check_mode(problem, plans)
    return out


def _check_assignments(index: _Index, assignments: Sequence[Assignment]) -> list[str]:
    """Per assignment: known service and host, zone/cloud fields true, host eligible."""
    out: list[str] = []
    for a in assignments:
        service = index.services.get(a.service)
        host = index.hosts.get(a.host)
        if service is None:
            out.append(f"assignment to host {a.host}: unknown service {a.service!r}")
        if host is None:
            out.append(f"service {a.service}: assigned to unknown host {a.host!r}")
        if host is None:
            continue
        zone = index.zones[host.zone]
        cloud = index.clouds[zone.cloud]
        where = f"host {host.id} (zone {zone.id}, cloud {cloud.id})"
        if a.zone != zone.id:
            out.append(f"service {a.service} on {where}: assignment says zone {a.zone!r}")
        if a.cloud != cloud.id:
            out.append(f"service {a.service} on {where}: assignment says cloud {a.cloud!r}")
        # An existing replica left in place is a fact, not a decision of this plan: a host
        # since downgraded must not make placing the rest impossible. A rebalance may move
        # it, so there it must be eligible like any other.
        exempt = index.place and a.existing and service is not None and a.host in service.current
        if service is not None and not exempt:
            out += _ineligible(service, host, zone, cloud, where)
    return out


def _ineligible(service: Service, host: Host, zone: Zone, cloud: Cloud, where: str) -> list[str]:
    out: list[str] = []
    prefix = f"service {service.id} on {where}"
    if cloud.security_level < service.min_security_level:
        out.append(
            f"{prefix}: cloud security level {cloud.security_level} is below the required "
            f"{service.min_security_level}"
        )
    if service.regions is not None and zone.region not in service.regions:
        out.append(
            f"{prefix}: region {zone.region} is outside the allowed regions "
            f"({_names(service.regions)})"
        )
    if service.clouds is not None and cloud.id not in service.clouds:
        out.append(f"{prefix}: cloud {cloud.id} is not an allowed cloud ({_names(service.clouds)})")
    if service.arch is not None and host.arch != service.arch:
        out.append(f"{prefix}: host arch {host.arch} but the service needs {service.arch}")
    missing = service.traits - host.traits
    if missing:
        out.append(f"{prefix}: host lacks required traits {_names(missing)}")
    return out


def _check_replicas(problem: Problem, plans: dict[str, _ServicePlan]) -> list[str]:
    """Exactly `replicas` assignments per service, on distinct hosts."""
    out: list[str] = []
    for s in problem.services:
        plan = plans[s.id]
        n = len(plan.assignments)
        if n != s.replicas:
            out.append(f"service {s.id}: {n} replicas placed, needs exactly {s.replicas}")
        per_host = Counter(a.host for a in plan.assignments)
        for host_id, k in sorted(per_host.items()):
            if k > 1:
                out.append(
                    f"service {s.id}: {k} replicas on host {host_id}; "
                    "replicas of one service need distinct hosts"
                )
    return out


def _check_capacity(
    problem: Problem, index: _Index, assignments: Sequence[Assignment]
) -> list[str]:
    """Per host and resource: used + assigned demand <= schedulable."""
    demand = {s.id: s.demand.vector() for s in problem.services}
    load: dict[str, list[int]] = {}
    count: Counter[str] = Counter()
    for a in assignments:
        d = demand.get(a.service)
        if d is None or a.host not in index.hosts:
            continue
        acc = load.get(a.host)
        if acc is None:
            acc = load[a.host] = [0, 0, 0, 0]
        for i in range(4):
            acc[i] += d[i]
        count[a.host] += 1
    out: list[str] = []
    for h in problem.hosts:
        assigned = load.get(h.id)
        if assigned is None:
            continue
        schedulable = h.schedulable()
        used = h.used.vector()
        for i, name in enumerate(RESOURCES):
            total = used[i] + assigned[i]
            if total > schedulable[i]:
                n = count[h.id]
                out.append(
                    f"host {h.id} (zone {h.zone}): {name} {total} > {schedulable[i]} schedulable "
                    f"(used {used[i]} + assigned {assigned[i]} by {n} "
                    f"replica{'s' if n != 1 else ''})"
                )
    return out


def _check_sla_and_zone_loss(
    problem: Problem, index: _Index, plans: dict[str, _ServicePlan]
) -> list[str]:
    out: list[str] = []
    for s in problem.services:
        plan = plans[s.id]
        if not plan.zones:
            continue  # nothing placed on a known host: already reported as a replica count
        if s.sla_target is not None:
            avail = [index.zones[z].availability for z in plan.zones]
            if not meets_sla(s.sla_target, avail):
                out.append(
                    f"service {s.id}: predicted availability "
                    f"{_num(predicted_availability(avail))} over zones {_names(plan.zones)} "
                    f"is below its SLA target {_num(s.sla_target)}"
                )
        n = sum(plan.zones.values())  # replicas on known hosts
        for z, k in sorted(plan.zones.items()):
            if n - k < s.min_healthy:
                out.append(
                    f"service {s.id}: losing zone {z} leaves {n - k} of {n} replicas, "
                    f"below min_healthy {s.min_healthy} ({k} replicas in that zone)"
                )
    return out


def _check_affinity(problem: Problem, plans: dict[str, _ServicePlan]) -> list[str]:
    out: list[str] = []
    for s in problem.services:
        if s.affinity is None or s.affinity == s.id:
            continue
        theirs = plans[s.affinity].zones
        outside = [z for z in sorted(plans[s.id].zones) if z not in theirs]
        if outside:
            used = _names(theirs) if theirs else "none"
            out.append(
                f"service {s.id}: uses zone{'s' if len(outside) > 1 else ''} {_names(outside)} "
                f"where its affinity service {s.affinity} has no replica "
                f"({s.affinity} uses zones: {used})"
            )
    return out


def _check_quotas(problem: Problem) -> list[str]:
    """Department used + replicas x demand of its services <= quota (whole services count)."""
    by_dept: dict[str, list[Service]] = defaultdict(list)
    for s in problem.services:
        by_dept[s.department].append(s)
    out: list[str] = []
    for d in problem.departments:
        services = by_dept.get(d.id, [])
        if d.quota is not None:
            quota, used = d.quota.vector(), d.used.vector()
            for i, name in enumerate(RESOURCES):
                limit = quota[i]
                if limit is None:
                    continue  # a resource left out of the quota is unlimited
                parts = sorted(
                    ((s.replicas * s.demand.vector()[i], s) for s in services),
                    key=lambda p: (-p[0], p[1].id),
                )
                asked = sum(p[0] for p in parts)
                if used[i] + asked > limit:
                    shown = [
                        f"{s.id} {s.replicas}x{s.demand.vector()[i]}"
                        for amount, s in parts[:_MAX_NAMES]
                        if amount
                    ]
                    more = sum(1 for amount, _ in parts[_MAX_NAMES:] if amount)
                    detail = ", ".join(shown) + (f" and {more} more" if more else "")
                    out.append(
                        f"department {d.id}: {name} {used[i] + asked} > quota {limit} "
                        f"(used {used[i]} + services {asked}: {detail})"
                    )
        if d.instances_quota is not None:
            replicas = sum(s.replicas for s in services)
            if d.used_instances + replicas > d.instances_quota:
                out.append(
                    f"department {d.id}: {d.used_instances + replicas} instances > instances "
                    f"quota {d.instances_quota} (used {d.used_instances} + {replicas} replicas "
                    f"of {len(services)} service{'s' if len(services) != 1 else ''})"
                )
    return out


def _check_mode(problem: Problem, plans: dict[str, _ServicePlan]) -> list[str]:
    """Place: existing replicas stay and nothing moves. Rebalance: moves within the budget.
    Both: the existing/moved_from flags agree with `current`."""
    out: list[str] = []
    moved_total = 0
    moved_by_service: list[tuple[str, int]] = []
    for s in problem.services:
        plan = plans[s.id]
        current = set(s.current)
        carrying = {a.host for a in plan.assignments}
        left = [h for h in s.current if h not in carrying]  # current hosts that lost it
        if problem.mode == "place":
            for h in left:
                out.append(
                    f"service {s.id}: its existing replica on host {h} must stay (place mode) "
                    "but the plan does not keep it there"
                )
        elif left:
            moved_total += len(left)
            moved_by_service.append((s.id, len(left)))
        # Flags: on a current host the replica is the existing one, left in place; elsewhere
        # it is new, or (rebalance) moved from a current host that no longer carries it.
        recorded: Counter[str] = Counter()
        for a in plan.assignments:
            on = f"service {s.id} on host {a.host}"
            if a.host in current:
                if not a.existing:
                    out.append(f"{on}: the replica already runs there but is not flagged existing")
                if a.moved_from is not None:
                    out.append(
                        f"{on}: flagged as moved from host {a.moved_from}, but its existing "
                        "replica already runs on this host"
                    )
                continue
            if a.existing:
                out.append(f"{on}: flagged existing, but the service has no replica there now")
            if a.moved_from is None:
                continue
            if problem.mode == "place":
                out.append(
                    f"{on}: moved from host {a.moved_from}, but a place plan moves no "
                    "existing replica"
                )
                continue
            recorded[a.moved_from] += 1
            if a.moved_from not in current:
                out.append(
                    f"{on}: moved from host {a.moved_from}, where the service has no "
                    "existing replica"
                )
            elif a.moved_from in carrying:
                out.append(
                    f"{on}: moved from host {a.moved_from}, but the plan still keeps a "
                    "replica there"
                )
        for h, k in sorted(recorded.items()):
            if k > 1:
                out.append(
                    f"service {s.id}: {k} replicas claim to move from host {h}, which has one"
                )
        if problem.mode == "rebalance":
            for h in left:
                if h not in recorded:
                    out.append(
                        f"service {s.id}: the replica on host {h} is gone from the plan but no "
                        f"assignment records moved_from {h}"
                    )
    if problem.mode == "rebalance" and moved_total > problem.migration_budget:
        detail = ", ".join(f"{sid} {k}" for sid, k in moved_by_service[:_MAX_NAMES])
        if len(moved_by_service) > _MAX_NAMES:
            detail += f" and {len(moved_by_service) - _MAX_NAMES} more services"
        out.append(
            f"rebalance moves {moved_total} existing replicas, over the migration budget "
            f"{problem.migration_budget} ({detail})"
        )
    return out


def service_reports(problem: Problem, assignments: Sequence[Assignment]) -> list[ServiceReport]:
    """One ServiceReport per service of the problem, in problem order, describing the plan.

    `replicas` and `zones` count what the plan places (on known hosts, by the host's real
    zone); `meets_target` uses the same tolerance as `violations`; `survives_zone_loss` is
    whether at least min_healthy replicas remain after losing any one zone.
    """
    index = _Index(problem)
    plans = _group(index, assignments)
    reports: list[ServiceReport] = []
    for s in problem.services:
        plan = plans[s.id]
        n = sum(plan.zones.values())
        avail = [index.zones[z].availability for z in plan.zones]
        worst = max(plan.zones.values(), default=0)
        reports.append(
            ServiceReport(
                service=s.id,
                replicas=n,
                zones=dict(sorted(plan.zones.items())),
                sla_target=s.sla_target,
                predicted_availability=predicted_availability(avail),
                meets_target=meets_sla(s.sla_target, avail),
                survives_zone_loss=n - worst >= s.min_healthy,
            )
        )
    return reports
