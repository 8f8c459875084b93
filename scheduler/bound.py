"""LP lower bounds (OR-Tools GLOP) on hosts in use and on the weighted objective.

The volume bound pools every host's capacity; the LP keeps eligibility: replicas of a
service can only use the hosts it may run on, each host holds at most one replica of a
service, and a host pays for what it holds (load <= capacity x open). So GPU, aarch64,
security-level and residency pools each need their own hosts. It is the LP relaxation of
the CP-SAT model; solved only where it is cheap (LP_MAX_PAIRS), else the volume bound
stands. The weighted bound is the same LP minimising the weighted objective with the hosts
bound added, since rounding the host count up is the one integral step an LP can take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from scheduler.evaluate import units
from scheduler.index import Index

LP_MAX_PAIRS = 15_000  # measured: 10,000 pairs take about 1-3 s; above, the volume bound stands
EPSILON = 1e-6  # LP optimum rounding before the ceiling


@dataclass(frozen=True)
class LpBounds:
    hosts: int  # fewest hosts in use, rounded up
    weighted: float | None  # lowest weighted objective (money per hour); None if not solved


def lp_bounds(
    index: Index, candidates: dict[int, list[int]], seconds: float = 2.0
) -> LpBounds | None:
    """Both bounds from one LP model, solved for two objectives; None if too big or not
    solved in time. `candidates` lists, per service, every host it could use
    (cpsat.full_candidates)."""
    pairs = sum(len(hosts) for hosts in candidates.values())
    if pairs > LP_MAX_PAIRS or pairs == 0:
        return None
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:
        return None
    solver.SetTimeLimit(max(1, int(seconds * 1000)))
    rebalance = index.problem.mode == "rebalance"
    x: dict[tuple[int, int], pywraplp.Variable] = {}
    for s, hosts in candidates.items():
        view = index.services[s]
        pinned = set(view.pinned) if not rebalance else set()
        for h in hosts:
            x[s, h] = solver.NumVar(1.0 if h in pinned else 0.0, 1.0, "")
        solver.Add(solver.Sum([x[s, h] for h in hosts]) == view.spec.replicas)
    on_host: dict[int, list[int]] = {}
    for s, h in x:
        on_host.setdefault(h, []).append(s)
    opened = {h: solver.NumVar(0.0, 1.0, "") for h in on_host if not index.busy[h]}
    peak = solver.NumVar(0.0, 1.0, "peak")
    for h, services in on_host.items():
        for s in services:
            if h in opened:
                # x <= open: without it a host could be "a tenth open" for a tenth of a
                # replica, and the LP is no better than the volume bound.
                solver.Add(x[s, h] <= opened[h])
        for r, cap in enumerate(index.schedulable[h]):
            terms = [
                index.services[s].demand[r] * x[s, h]
                for s in services
                if index.services[s].demand[r]
            ]
            if not terms:
                continue
            load = solver.Sum(terms)
            solver.Add(load <= index.free[h][r] * opened.get(h, 1))
            if cap > 0:
                solver.Add((cap - index.free[h][r]) + load <= cap * peak)
    busy = sum(1 for b in index.busy if b)
    solver.Minimize(solver.Sum(list(opened.values())))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    fewest = busy + math.ceil(float(solver.Objective().Value()) - EPSILON)
    u, w = units(index), index.problem.weights
    objective: list[pywraplp.LinearExpr] = [
        w.cost * index.cost(s, h) * var for (s, h), var in x.items() if index.cost(s, h)
    ]
    objective.append(w.hosts * u.host * solver.Sum(list(opened.values())))
    objective.append(w.balance * u.balance * peak)
    if rebalance:
        moves = [1 - x[v.index, h] for v in index.services for h in v.pinned if (v.index, h) in x]
        objective.append(w.migrations * u.migration * solver.Sum(moves))
    # The one integral step an LP can take: the host count is at least the rounded-up bound.
    solver.Add(solver.Sum(list(opened.values())) >= fewest - busy)
    solver.Minimize(solver.Sum(objective))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return LpBounds(hosts=fewest, weighted=None)
    weighted = float(solver.Objective().Value()) + w.hosts * u.host * busy
    return LpBounds(hosts=fewest, weighted=max(0.0, weighted - EPSILON))
