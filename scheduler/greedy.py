"""Greedy placements: the baseline, the fallback and the CP-SAT hint.

Both honour every hard constraint the same way; they differ where a real scheduler does:
- first_fit_decreasing: the most constrained and then the biggest services first, each
  replica on the first host that fits, hosts already in use first and plain hosts before
  special ones (aarch64, GPU, traits) the service does not need: packs tightly, like FFD;
- least_allocated: kube-scheduler's default scoring: each replica on the emptiest host,
  spread over as many zones as it has replicas (topology spread): balanced, opens hosts.
A service the greedy cannot place is left out and reported, not half-placed.

Host filtering and ranking are numpy operations over a service's eligible hosts, so one
pass over 20,000 replicas on 3,000 hosts takes about a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from scheduler.index import Index, ServiceView, build_index, meets
from scheduler.plan import PlanResult
from scheduler.problem import Problem

Placement = dict[int, list[int]]  # service index -> host indices of all its replicas
IntArray = npt.NDArray[np.int64]


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


class _State:
    """Free capacity and hosts in use, as arrays the ranking can work on."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.free: IntArray = np.array(index.free, dtype=np.int64).reshape(-1, 4)
        self.sched: IntArray = np.array(index.schedulable, dtype=np.int64).reshape(-1, 4)
        self.opened = np.array(index.busy, dtype=bool)
        self.zone: IntArray = np.array(index.host_zone, dtype=np.int64)
        self.special: IntArray = np.array(index.specialness, dtype=np.int64)
        self.eligible = [np.array(v.eligible, dtype=np.int64) for v in index.services]
        self.pressure = self._pressure()

    def _pressure(self) -> npt.NDArray[np.float64]:
        """How much of each host restricted services will need: for every service that may
        use only part of the estate (security level, residency, arch, traits), the share
        of its pool's vCPUs it asks for, summed over the hosts of that pool. Services with
        a choice avoid contested hosts, so the restricted ones still find room."""
        pressure = np.zeros(len(self.index.host_ids))
        everyone = len(self.index.host_ids)
        for view, pool in zip(self.index.services, self.eligible, strict=True):
            if 0 < len(pool) < everyone:
                supply = float(self.sched[pool, 0].sum()) or 1.0
                pressure[pool] += view.demand[0] * view.spec.replicas / supply
        return pressure

    def take(self, host: int, demand: tuple[int, ...]) -> None:
        self.free[host] -= np.array(demand, dtype=np.int64)
        self.opened[host] = True


def place(
    index: Index, *, spread: bool, first: frozenset[int] = frozenset()
) -> tuple[Placement, list[str]]:
    """Place every service; returns the placement and the ids of services left out.
    Services in `first` (indices) go before all others."""
    state = _State(index)
    placement: Placement = {}
    # Existing replicas stay where they are, in a rebalance too, unless they may no longer
    # run there or overfill the host: the greedy never migrates otherwise (CP-SAT does,
    # within the budget), so its plan is valid for any budget.
    rebalance = index.problem.mode == "rebalance"
    kept: dict[int, list[int]] = {}
    for view in index.services:
        eligible = set(view.eligible)
        kept[view.index] = []
        for h in view.pinned:
            fits = bool(np.all(state.free[h] >= np.array(view.demand)))
            if rebalance and (h not in eligible or not fits):
                continue
            kept[view.index].append(h)
            state.take(h, view.demand)
        placement[view.index] = list(kept[view.index])
    size = _sizer(index)
    partners = {v.affinity for v in index.services if v.affinity is not None}
    order = _order(index, size, first)
    unplaced: list[str] = []
    for view in order:
        fixed = kept[view.index]
        # A partner spreads wider, so the services that must follow it find room.
        wide = spread or view.index in partners
        chosen = _place_service(state, view, fixed, placement, spread=spread, wide=wide)
        if chosen is None:
            unplaced.append(view.spec.id)
            placement.pop(view.index, None)
            continue
        for h in chosen:
            state.take(h, view.demand)
        placement[view.index] = fixed + chosen
    return placement, unplaced


def _order(
    index: Index, size: Callable[[ServiceView], float], first: frozenset[int] = frozenset()
) -> list[ServiceView]:
    """Scarcest first: services only a few hosts can take (GPU models, aarch64, residency,
    high security) before those that could otherwise fill those hosts; among equals the
    largest first. Each affinity follower right after its partner, while the partner's
    zones still have room."""
    followers: dict[int, list[ServiceView]] = {}
    leaders: list[ServiceView] = []
    for view in index.services:
        if view.affinity is not None and view.affinity != view.index:
            followers.setdefault(view.affinity, []).append(view)
        else:
            leaders.append(view)
    key = lambda v: (v.index not in first, len(v.eligible), -size(v))  # noqa: E731
    order: list[ServiceView] = []
    seen: set[int] = set()

    def visit(view: ServiceView) -> None:
        if view.index in seen:
            return
        seen.add(view.index)
        order.append(view)
        for follower in sorted(followers.get(view.index, []), key=key):
            visit(follower)

    for view in sorted(leaders, key=key):
        visit(view)
    for view in sorted(index.services, key=key):  # affinity cycles: whatever is left
        visit(view)
    return order


def _sizer(index: Index) -> Callable[[ServiceView], float]:
    """Item size for the decreasing order: the demand's share of an average host, summed."""
    hosts = max(1, len(index.schedulable))
    mean = [max(1.0, sum(col) / hosts) for col in zip(*index.schedulable, strict=True)]

    def size(view: ServiceView) -> float:
        return float(sum(d / m for d, m in zip(view.demand, mean, strict=True)))

    return size


def _place_service(
    state: _State,
    view: ServiceView,
    fixed: list[int],
    placement: Placement,
    *,
    spread: bool,
    wide: bool,
) -> list[int] | None:
    index = state.index
    candidates = state.eligible[view.index]
    if fixed:
        candidates = candidates[~np.isin(candidates, fixed)]
    if view.affinity is not None:
        partner = placement.get(view.affinity)
        if not partner:
            return None
        allowed = np.array(sorted({index.host_zone[h] for h in partner}), dtype=np.int64)
        candidates = candidates[np.isin(state.zone[candidates], allowed)]
    demand = np.array(view.demand, dtype=np.int64)
    candidates = candidates[np.all(state.free[candidates] >= demand, axis=1)]
    ranked = candidates[np.argsort(_rank(state, view, candidates, demand, spread), kind="stable")]
    # Per zone, its best hosts in rank order: no zone takes more than zone_cap replicas, so
    # the rest are never looked at (a Python loop over every candidate was half the time).
    keep = max(1, min(view.zone_cap, view.spec.replicas))
    zone_of = state.zone[ranked]
    by_zone_order = np.argsort(zone_of, kind="stable")
    sorted_zones = zone_of[by_zone_order]
    starts = np.flatnonzero(np.diff(sorted_zones, prepend=-1))
    ends = np.append(starts[1:], len(sorted_zones)) if len(starts) else starts
    by_zone: dict[int, list[int]] = {}
    opened: dict[int, int] = {}
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        zone_hosts = ranked[by_zone_order[a:b]]
        z = int(sorted_zones[a])
        by_zone[z] = zone_hosts[:keep].tolist()
        opened[z] = int(state.opened[zone_hosts].sum())
    counts: dict[int, int] = {}
    for h in fixed:
        counts[index.host_zone[h]] = counts.get(index.host_zone[h], 0) + 1
    zones = _choose_zones(index, view, by_zone, opened, counts, wide=wide)
    if zones is None:
        return None
    chosen: list[int] = []
    remaining = view.spec.replicas - len(fixed)
    # Round-robin over the chosen zones, so each gets a replica before any gets two; each
    # zone's hosts are already in preference order.
    while remaining:
        progressed = False
        for z in zones:
            if not remaining or counts.get(z, 0) >= view.zone_cap or not by_zone[z]:
                continue
            chosen.append(by_zone[z].pop(0))
            counts[z] = counts.get(z, 0) + 1
            remaining -= 1
            progressed = True
        if not progressed:
            return None
    return chosen


def _rank(
    state: _State, view: ServiceView, hosts: IntArray, demand: IntArray, spread: bool
) -> npt.NDArray[np.float64]:
    """Lower is preferred."""
    if spread:
        # LeastAllocated: the most free share after placing, averaged over resources.
        sched = state.sched[hosts].astype(np.float64)
        after = (state.free[hosts] - demand) / np.where(sched > 0, sched, 1.0)
        counted = (sched > 0).sum(axis=1).clip(min=1)
        scores: npt.NDArray[np.float64] = -(after * (sched > 0)).sum(axis=1) / counted
        return scores
    needs = _needs(view)
    waste = np.abs(state.special[hosts] - needs).astype(np.float64)
    empty = (~state.opened[hosts]).astype(np.float64)
    contested = np.round(state.pressure[hosts] * 100)
    # In use first; then plain before special, uncontested before contested; then the
    # lowest index (first fit).
    return empty * 1e15 + waste * 1e11 + contested * 1e6 + hosts.astype(np.float64)


def _needs(view: ServiceView) -> int:
    spec = view.spec
    special_arch = spec.arch is not None and spec.arch != "x86_64"
    return int(special_arch) + len(spec.traits) + int(view.demand[3] > 0)


def _choose_zones(
    index: Index,
    view: ServiceView,
    by_zone: dict[int, list[int]],
    opened: dict[int, int],
    counts: dict[int, int],
    *,
    wide: bool,
) -> list[int] | None:
    """Zones to use: enough SLA weight, and room for every replica under the per-zone cap."""
    to_place = view.spec.replicas - sum(counts.values())

    def room(z: int) -> int:
        return min(len(by_zone.get(z, [])), view.zone_cap - counts.get(z, 0))

    candidates = [z for z in by_zone if room(z) > 0]
    reliable = sorted(candidates, key=lambda z: (-index.zone_weight[z], z))
    if wide:
        orders = [reliable[:to_place]]
    else:
        # Few zones, preferring ones the service already uses, then ones with hosts in use
        # that have room (packing), then the most reliable; if that order cannot reach the
        # SLA with the replicas there are, the most reliable zones first.
        packing = sorted(
            candidates,
            key=lambda z: (counts.get(z, 0) == 0, -opened[z], -index.zone_weight[z], z),
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
