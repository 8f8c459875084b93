"""Large-neighbourhood search: re-pack small sets of hosts exactly, starting from a plan.

For estates too large for one CP-SAT model. Each step takes a few hosts of one zone (the
emptiest ones in use, plus some partly full ones to pack into), frees the replicas on them
and places those replicas again on the same hosts with a small exact CP-SAT model that
minimises the hosts in use. Replicas never leave their zone, so every service keeps its
zones and per-zone counts: SLA, zone-loss, affinity and quotas hold by construction, and
only capacity, distinct hosts and host eligibility need modelling.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.evaluate import Placement
from scheduler.index import Index

STEP_SECONDS = 0.3  # small models: many quick steps beat a few long ones


@dataclass
class Stats:
    steps: int = 0
    improved: int = 0
    hosts_closed: int = 0


def improve(
    index: Index, placement: Placement, *, deadline: float, seed: int = 0, workers: int = 1
) -> tuple[Placement, Stats]:
    """Return a plan using no more hosts than `placement` (same zones per service)."""
    rng = random.Random(seed)  # noqa: S311 (search diversification, not security)
    # A replica on its current host stays: in place mode it is pinned, and in a rebalance
    # moving it would spend migration budget this search does not account for.
    fixed = {(v.index, h) for v in index.services for h in v.pinned}
    on_host: dict[int, list[int]] = {}
    for s, hosts in placement.items():
        for h in hosts:
            on_host.setdefault(h, []).append(s)
    zones: dict[int, list[int]] = {}
    for h in range(len(index.host_ids)):
        zones.setdefault(index.host_zone[h], []).append(h)
    stats = Stats()
    while time.perf_counter() < deadline:
        zone = _pick_zone(rng, zones, on_host, index)
        if zone is None:
            break
        hood = _neighbourhood(rng, index, zones[zone], on_host)
        if len(hood) < 2:
            continue
        stats.steps += 1
        budget = min(STEP_SECONDS, deadline - time.perf_counter())
        if budget <= 0.05:
            break
        moved = _repack(index, hood, on_host, fixed, budget, workers, rng.randrange(1 << 30))
        if moved is None:
            continue
        before = sum(1 for h in hood if on_host.get(h) or index.busy[h])
        for h in hood:
            on_host[h] = [s for s in on_host.get(h, []) if (s, h) in fixed]
        for s, h in moved:
            on_host.setdefault(h, []).append(s)
        after = sum(1 for h in hood if on_host.get(h) or index.busy[h])
        if after < before:
            stats.improved += 1
            stats.hosts_closed += before - after
    result: Placement = {}
    for h, services in on_host.items():
        for s in services:
            result.setdefault(s, []).append(h)
    for s in placement:
        result.setdefault(s, [])
    return result, stats


def _pick_zone(
    rng: random.Random, zones: dict[int, list[int]], on_host: dict[int, list[int]], index: Index
) -> int | None:
    """A zone with at least two hosts in use, weighted by how many it has."""
    weights = {
        z: sum(1 for h in hosts if on_host.get(h) and not index.busy[h])
        for z, hosts in zones.items()
    }
    candidates = [(z, w) for z, w in weights.items() if w >= 2]
    if not candidates:
        return None
    return rng.choices([z for z, _ in candidates], [w for _, w in candidates])[0]


def _utilisation(index: Index, h: int, on_host: dict[int, list[int]]) -> float:
    sched = index.schedulable[h]
    load = [s - f for s, f in zip(sched, index.free[h], strict=True)]
    for s in on_host.get(h, []):
        for r, d in enumerate(index.services[s].demand):
            load[r] += d
    return max((load[r] / c for r, c in enumerate(sched) if c > 0), default=0.0)


def _neighbourhood(
    rng: random.Random, index: Index, hosts: list[int], on_host: dict[int, list[int]]
) -> list[int]:
    """The emptiest hosts in use (to close) and random other used hosts (to fill)."""
    used = [h for h in hosts if on_host.get(h) and not index.busy[h]]
    used.sort(key=lambda h: _utilisation(index, h, on_host))
    emptiest = used[: rng.randint(2, 6)]
    others = [h for h in used if h not in emptiest]
    fill = rng.sample(others, min(len(others), rng.randint(4, 14)))
    return emptiest + fill


def _repack(
    index: Index,
    hood: list[int],
    on_host: dict[int, list[int]],
    fixed: set[tuple[int, int]],
    seconds: float,
    workers: int,
    seed: int,
) -> list[tuple[int, int]] | None:
    """Place the freed replicas on `hood` with the fewest hosts in use; None if no better."""
    freed: dict[int, int] = {}  # service -> replicas to place in the neighbourhood
    base = {h: _outside(index, h) for h in hood}
    held: dict[int, set[int]] = {}  # service -> hood hosts it keeps (pinned)
    for h in hood:
        for s in on_host.get(h, []):
            if (s, h) in fixed:
                held.setdefault(s, set()).add(h)
                for r, d in enumerate(index.services[s].demand):
                    base[h][r] += d
            else:
                freed[s] = freed.get(s, 0) + 1
    if not freed:
        return None
    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    eligible = {s: set(index.services[s].eligible) for s in freed}
    for s, count in freed.items():
        options = [h for h in hood if h in eligible[s] and h not in held.get(s, set())]
        if len(options) < count:
            return None
        for h in options:
            x[s, h] = model.new_bool_var("")
        model.add(sum(x[s, h] for h in options) == count)
    opened = {h: model.new_bool_var("") for h in hood}
    for h in hood:
        keys = [k for k in x if k[1] == h]
        for r in range(4):
            cap = index.schedulable[h][r] - base[h][r]
            terms = [
                index.services[s].demand[r] * x[s, hh]
                for s, hh in keys
                if index.services[s].demand[r]
            ]
            if terms:
                model.add(sum(terms) <= cap)
        for k in keys:
            model.add_implication(x[k], opened[h])
        if base[h] != _outside(index, h):  # pinned replicas keep it in use
            model.add(opened[h] == 1)
    current = sum(1 for h in hood if on_host.get(h))
    model.add(sum(opened.values()) <= current - 1)  # only an improvement is worth taking
    model.minimize(sum(opened.values()))
    for (s, h), var in x.items():
        model.add_hint(var, s in on_host.get(h, []))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return [k for k, v in x.items() if solver.boolean_value(v)]


def _outside(index: Index, h: int) -> list[int]:
    return [s - f for s, f in zip(index.schedulable[h], index.free[h], strict=True)]
