"""Greedy placements: the baseline, the fallback and the CP-SAT hint.

Both honour every hard constraint the same way; they differ where a real scheduler does:
- first_fit_decreasing: biggest services first, each replica on the first host (in a fixed
  order, hosts already in use first) that fits: packs tightly, like bin-packing FFD;
- least_allocated: kube-scheduler's default scoring: each replica on the emptiest host,
  spread evenly across every eligible zone (topology spread): balanced, but opens hosts.
A service the greedy cannot place is left out and reported, not half-placed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scheduler.index import Index, ServiceView, build_index, meets
from scheduler.plan import PlanResult
from scheduler.problem import Problem

Placement = dict[int, list[int]]  # service index -> host indices of all its replicas


def first_fit_decreasing(problem: Problem) -> PlanResult:
    return _run(problem, "greedy-ffd", spread=False)


def least_allocated(problem: Problem) -> PlanResult:
    return _run(problem, "greedy-least-allocated", spread=True)


def _run(problem: Problem, name: str, *, spread: bool) -> PlanResult:
    from scheduler.evaluate import InvalidPlan, result_for
    from scheduler.explain import prechecks

    start = time.perf_counter()
    index = build_index(problem)
    conflicts = prechecks(index)
    if conflicts:
        return PlanResult(status="infeasible", solver=name, conflicts=conflicts)
    placement, unplaced = place(index, spread=spread)
    try:
        return result_for(index, placement, solver=name, start=start, unplaced=unplaced)
    except InvalidPlan as exc:
        # The greedy never migrates more than needed; over a small budget it has no plan.
        return PlanResult(status="infeasible", solver=name, conflicts=[str(exc)])


def _sizer(index: Index) -> Callable[[ServiceView], float]:
    """Item size for the decreasing order: the demand's share of an average host, summed."""
    hosts = max(1, len(index.schedulable))
    mean = [max(1.0, sum(col) / hosts) for col in zip(*index.schedulable, strict=True)]

    def size(view: ServiceView) -> float:
        return float(sum(d / m for d, m in zip(view.demand, mean, strict=True)))

    return size


def place(index: Index, *, spread: bool) -> tuple[Placement, list[str]]:
    """Place every service; returns the placement and the ids of services left out."""
    free = [row[:] for row in index.free]
    opened = set(h for h, busy in enumerate(index.busy) if busy)
    placement: Placement = {}
    # Existing replicas stay where they are, in a rebalance too: the greedy never migrates
    # (CP-SAT does, within the budget), so its plan is valid for any budget.
    rebalance = index.problem.mode == "rebalance"
    kept: dict[int, list[int]] = {}
    for view in index.services:
        eligible = set(view.eligible)
        kept[view.index] = []
        for h in view.pinned:
            # In a rebalance a replica on a host it may no longer use, or that it overfills,
            # has to move; in place mode it stays whatever (prechecks refuse an overfull host).
            if rebalance and (h not in eligible or not index.fits(view.index, h, free)):
                continue
            kept[view.index].append(h)
            _take(free, h, view.demand)
            opened.add(h)
        placement[view.index] = list(kept[view.index])
    size = _sizer(index)
    # Affinity followers after their partners; otherwise the largest replicas first.
    order = sorted(index.services, key=lambda v: (v.affinity is not None, -size(v)))
    unplaced: list[str] = []
    for view in order:
        fixed = kept[view.index]
        chosen = _place_service(index, view, free, opened, fixed, placement, spread=spread)
        if chosen is None:
            unplaced.append(view.spec.id)
            placement.pop(view.index, None)
            continue
        for h in chosen:
            _take(free, h, view.demand)
            opened.add(h)
        placement[view.index] = fixed + chosen
    return placement, unplaced


def _take(free: list[list[int]], host: int, demand: tuple[int, ...]) -> None:
    row = free[host]
    for r, d in enumerate(demand):
        row[r] -= d


def _place_service(
    index: Index,
    view: ServiceView,
    free: list[list[int]],
    opened: set[int],
    fixed: list[int],
    placement: Placement,
    *,
    spread: bool,
) -> list[int] | None:
    allowed_zones: set[int] | None = None
    if view.affinity is not None:
        partner = placement.get(view.affinity)
        if not partner:
            return None
        allowed_zones = {index.host_zone[h] for h in partner}
    taken = set(fixed)
    by_zone: dict[int, list[int]] = {}
    for h in view.eligible:
        z = index.host_zone[h]
        if h in taken or (allowed_zones is not None and z not in allowed_zones):
            continue
        if index.fits(view.index, h, free):
            by_zone.setdefault(z, []).append(h)
    counts: dict[int, int] = {}
    for h in fixed:
        counts[index.host_zone[h]] = counts.get(index.host_zone[h], 0) + 1
    zones = _choose_zones(index, view, by_zone, counts, opened, spread=spread)
    if zones is None:
        return None
    chosen: list[int] = []
    remaining = view.spec.replicas - len(fixed)
    # Round-robin over the chosen zones, so each gets a replica before any gets two.
    while remaining:
        progressed = False
        for z in zones:
            if not remaining or counts.get(z, 0) >= view.zone_cap or not by_zone[z]:
                continue
            host = _pick_host(index, view, by_zone[z], free, opened, spread=spread)
            by_zone[z].remove(host)
            chosen.append(host)
            counts[z] = counts.get(z, 0) + 1
            remaining -= 1
            progressed = True
        if not progressed:
            return None
    return chosen


def _choose_zones(
    index: Index,
    view: ServiceView,
    by_zone: dict[int, list[int]],
    counts: dict[int, int],
    opened: set[int],
    *,
    spread: bool,
) -> list[int] | None:
    """Zones to use: enough SLA weight, and room for every replica under the per-zone cap."""
    to_place = view.spec.replicas - sum(counts.values())

    def room(z: int) -> int:
        return min(len(by_zone.get(z, [])), view.zone_cap - counts.get(z, 0))

    def open_room(z: int) -> int:
        return sum(1 for h in by_zone[z] if h in opened)

    candidates = [z for z in by_zone if room(z) > 0]
    reliable = sorted(candidates, key=lambda z: (-index.zone_weight[z], z))
    if spread:
        # Topology spread: as many zones as replicas, the most reliable first.
        orders = [reliable[:to_place]]
    else:
        # Few zones, preferring ones the service already uses, then ones with hosts in use
        # that have room (packing), then the most reliable; if that order cannot reach the
        # SLA with the replicas there are, the most reliable zones first.
        packing = sorted(
            candidates,
            key=lambda z: (counts.get(z, 0) == 0, -open_room(z), -index.zone_weight[z], z),
        )
        orders = [_prefix(index, view, packing, counts, room, to_place), reliable]
    for chosen in orders:
        weight = sum(index.zone_weight[z] for z in set(chosen) | set(counts))
        fits_all = sum(room(z) for z in chosen) >= to_place
        new_zones = [z for z in chosen if z not in counts]
        if meets(weight, view.required) and fits_all and len(new_zones) <= to_place:
            # New zones must each get a replica for their SLA weight to count: put them
            # first in the round-robin.
            return new_zones + [z for z in chosen if z in counts]
    return None


def _prefix(
    index: Index,
    view: ServiceView,
    order: list[int],
    counts: dict[int, int],
    room: Callable[[int], int],
    to_place: int,
) -> list[int]:
    """The shortest prefix of `order` with enough SLA weight and room for every replica."""
    chosen: list[int] = []
    weight = sum(index.zone_weight[z] for z in counts)
    for z in order:
        if meets(weight, view.required) and sum(room(c) for c in chosen) >= to_place:
            break
        chosen.append(z)
        if z not in counts:
            weight += index.zone_weight[z]
    return chosen


def _pick_host(
    index: Index,
    view: ServiceView,
    hosts: list[int],
    free: list[list[int]],
    opened: set[int],
    *,
    spread: bool,
) -> int:
    if spread:
        # LeastAllocated: the host with the most free share after placing, on average.
        def score(h: int) -> float:
            sched = index.schedulable[h]
            after = [
                (f - d) / s for f, d, s in zip(free[h], view.demand, sched, strict=True) if s > 0
            ]
            return -sum(after) / max(1, len(after))

        return min(hosts, key=score)
    # First fit: hosts already in use first (lowest index), then the first empty one.
    in_use = [h for h in hosts if h in opened]
    return min(in_use) if in_use else min(hosts)
