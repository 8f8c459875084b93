"""Objective terms, the lower bound and the PlanResult for a placement, from any solver.

The weighted objective is in money per hour so its terms compare: cost is the replicas'
price; a host in use is charged the mean price of a whole host (consolidation, energy);
a migration the mean price of a replica; imbalance the price of a host times the fullest
host's utilisation. Without prices (as in the known-optimum benchmark) a host counts 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from scheduler.index import Index
from scheduler.plan import Assignment, Bound, Objective, PlanResult, Status
from scheduler.validate import service_reports, violations

Placement = dict[int, list[int]]


class InvalidPlan(AssertionError):
    """A solver produced a plan the independent validator rejects: a bug, never returned."""


@dataclass(frozen=True)
class Units:
    host: float  # price of one host in use, per hour
    migration: float
    balance: float


def units(index: Index) -> Units:
    host_prices = [
        sum(p * c for p, c in zip(index.cloud_prices[index.host_cloud[h]], cap, strict=True))
        for h, cap in enumerate(index.schedulable)
    ]
    host = sum(host_prices) / len(host_prices) if host_prices and sum(host_prices) > 0 else 1.0
    replica_prices = [index.cost(s.index, s.eligible[0]) for s in index.services if s.eligible]
    replica = sum(replica_prices) / len(replica_prices) if replica_prices else 0.0
    return Units(host=host, migration=replica if replica > 0 else host / 10, balance=host)


def assignments(index: Index, placement: Placement) -> list[Assignment]:
    rebalance = index.problem.mode == "rebalance"
    out: list[Assignment] = []
    for s, hosts in sorted(placement.items()):
        view = index.services[s]
        current = set(view.pinned)
        replaces = _pair(index, [h for h in hosts if h not in current], view.pinned, hosts)
        for h in hosts:
            zone = index.host_zone[h]
            out.append(
                Assignment(
                    service=view.spec.id,
                    host=index.host_ids[h],
                    zone=index.zone_ids[zone],
                    cloud=index.cloud_ids[index.zone_cloud[zone]],
                    moved_from=(
                        index.host_ids[replaces[h]] if rebalance and h in replaces else None
                    ),
                    existing=h in current,
                )
            )
    return out


def _pair(index: Index, arriving: list[int], pinned: list[int], hosts: list[int]) -> dict[int, int]:
    """Which host each new replica of a service leaves: one in the same zone first, then in the
    same cloud, then any. Replicas are alike, so the pairing is free; pairing by zone means a
    move changes zones only where the plan changes the service's count per zone. Each zone
    then only gains or only loses replicas, so no order of the moves ever holds more of them
    in one zone than the start or the end does (arbitrary pairs could swap two replicas'
    zones and pass through a state with both in one zone)."""
    staying = set(hosts)
    leaving = [h for h in pinned if h not in staying]
    out: dict[int, int] = {}
    for tier in (_zone, _cloud, _anywhere):
        for h in arriving:
            match = None if h in out else next((o for o in leaving if tier(index, o, h)), None)
            if match is not None:
                out[h] = match
                leaving.remove(match)
    return out


def objective(index: Index, placement: Placement) -> Objective:
    load = [[0, 0, 0, 0] for _ in index.host_ids]
    cost = 0.0
    migrations = 0
    for s, hosts in placement.items():
        view = index.services[s]
        for h in hosts:
            cost += index.cost(s, h)
            for r, d in enumerate(view.demand):
                load[h][r] += d
        if index.problem.mode == "rebalance":
            migrations += len(set(view.pinned) - set(hosts))
    used = [h for h in range(len(index.host_ids)) if index.busy[h] or any(load[h])]
    utilisation = 0.0
    for h in used:
        sched = index.schedulable[h]
        outside = [s - f for s, f in zip(sched, index.free[h], strict=True)]
        for r, cap in enumerate(sched):
            if cap > 0:
                utilisation = max(utilisation, (outside[r] + load[h][r]) / cap)
    u = units(index)
    w = index.problem.weights
    weighted = (
        w.cost * cost
        + w.hosts * u.host * len(used)
        + w.migrations * u.migration * migrations
        + w.balance * u.balance * utilisation
    )
    return Objective(
        cost_per_hour=round(cost, 6),
        hosts_used=len(used),
        migrations=migrations,
        max_utilisation=round(utilisation, 6),
        weighted=round(weighted, 6),
    )


def lower_bound(index: Index) -> Bound:
    """Hosts: those busy anyway, plus the fewest empty hosts whose capacity covers what
    the busy ones cannot hold, per resource (largest first); and at least the largest
    service's replica count. Cost: each replica on its cheapest eligible cloud."""
    demand = [0, 0, 0, 0]
    for view in index.services:
        for r, d in enumerate(view.demand):
            demand[r] += d * view.spec.replicas
    busy = [h for h, b in enumerate(index.busy) if b]
    empty = [h for h, b in enumerate(index.busy) if not b]
    extra = 0
    for r in range(4):
        left = demand[r] - sum(max(0, index.free[h][r]) for h in busy)
        if left <= 0:
            continue
        for n, cap in enumerate(sorted((index.free[h][r] for h in empty), reverse=True), 1):
            left -= cap
            if left <= 0:
                extra = max(extra, n)
                break
        else:
            extra = max(extra, len(empty))
    widest = max((v.spec.replicas for v in index.services), default=0)
    hosts = max(len(busy) + extra, widest)
    cost = sum(v.spec.replicas * index.cheapest(v.index) for v in index.services)
    return Bound(hosts_used=hosts, cost_per_hour=round(cost, 6), method="volume")


def at_bound(index: Index, result: PlanResult) -> bool:
    """True when every weighted term of the plan's objective equals its lower bound, which
    proves the plan optimal. Balance has no bound, so a weight on it never proves."""
    terms, bound, w = result.objective, result.bound, index.problem.weights
    if terms is None or bound is None or w.balance > 0:
        return False
    return (
        (w.hosts == 0 or terms.hosts_used <= bound.hosts_used)
        and (w.cost == 0 or terms.cost_per_hour <= bound.cost_per_hour + 1e-6)
        and (w.migrations == 0 or terms.migrations == 0)
    )


def result_for(
    index: Index,
    placement: Placement,
    *,
    solver: str,
    start: float,
    status: Status = "feasible",
    unplaced: list[str] | None = None,
    first: float | None = None,
    bound: Bound | None = None,
) -> PlanResult:
    bound = bound or lower_bound(index)
    elapsed = time.perf_counter() - start
    if unplaced:
        return PlanResult(
            status="infeasible",
            solver=solver,
            bound=bound,
            seconds_total=round(elapsed, 4),
            conflicts=[f"{solver} could not place service {s!r}" for s in unplaced],
        )
    planned = assignments(index, placement)
    problems = violations(index.problem, planned)
    if problems:
        raise InvalidPlan(f"{solver} produced an invalid plan: " + "; ".join(problems[:5]))
    terms = objective(index, placement)
    gap = (terms.hosts_used - bound.hosts_used) / terms.hosts_used if terms.hosts_used else 0.0
    return PlanResult(
        status=status,
        solver=solver,
        assignments=planned,
        objective=terms,
        bound=bound,
        gap=round(max(0.0, gap), 6),
        seconds_to_first=round(first if first is not None else elapsed, 4),
        seconds_total=round(elapsed, 4),
        services=service_reports(index.problem, planned),
    )


def _zone(index: Index, a: int, b: int) -> bool:
    return index.host_zone[a] == index.host_zone[b]


def _cloud(index: Index, a: int, b: int) -> bool:
    return index.zone_cloud[index.host_zone[a]] == index.zone_cloud[index.host_zone[b]]


def _anywhere(index: Index, a: int, b: int) -> bool:
    return True
