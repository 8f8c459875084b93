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
import time
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
    deadline = time.perf_counter() + seconds
    solver.SetTimeLimit(max(1, int(seconds * 1000)))
    rebalance = index.problem.mode == "rebalance"
    inf = solver.infinity()
    # Rows built with SetCoefficient, not natural-API expressions: several times faster to
    # build, which is most of the LP's cost at this size.
    x: dict[tuple[int, int], pywraplp.Variable] = {}
    for s, hosts in candidates.items():
        view = index.services[s]
        pinned = set(view.pinned) if not rebalance else set()
        row = solver.Constraint(view.spec.replicas, view.spec.replicas)
        for h in hosts:
            x[s, h] = var = solver.NumVar(1.0 if h in pinned else 0.0, 1.0, "")
            row.SetCoefficient(var, 1)
    on_host: dict[int, list[int]] = {}
    for s, h in x:
        on_host.setdefault(h, []).append(s)
    opened = {h: solver.NumVar(0.0, 1.0, "") for h in on_host if not index.busy[h]}
    peak = solver.NumVar(0.0, 1.0, "peak")
    for h, services in on_host.items():
        o = opened.get(h)
        if o is not None:
            for s in services:
                # x <= open: without it a host could be "a tenth open" for a tenth of a
                # replica, and the LP is no better than the volume bound.
                link = solver.Constraint(-inf, 0)
                link.SetCoefficient(x[s, h], 1)
                link.SetCoefficient(o, -1)
        for r, cap in enumerate(index.schedulable[h]):
            users = [s for s in services if index.services[s].demand[r]]
            if not users:
                continue
            room = index.free[h][r]
            # load <= room x open (or room, on a host in use anyway)
            fits = solver.Constraint(-inf, 0 if o is not None else room)
            if o is not None:
                fits.SetCoefficient(o, -room)
            # outside + load <= cap x peak
            level = solver.Constraint(-inf, -(cap - room)) if cap > 0 else None
            if level is not None:
                level.SetCoefficient(peak, -cap)
            for s in users:
                d = index.services[s].demand[r]
                fits.SetCoefficient(x[s, h], d)
                if level is not None:
                    level.SetCoefficient(x[s, h], d)
    busy = sum(1 for b in index.busy if b)
    objective = solver.Objective()
    for o in opened.values():
        objective.SetCoefficient(o, 1)
    objective.SetMinimization()
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    fewest = busy + math.ceil(float(objective.Value()) - EPSILON)
    u, w = units(index), index.problem.weights
    # The one integral step an LP can take: the host count is at least the rounded-up bound.
    enough = solver.Constraint(fewest - busy, inf)
    for o in opened.values():
        enough.SetCoefficient(o, 1)
        objective.SetCoefficient(o, w.hosts * u.host)
    for (s, h), var in x.items():
        objective.SetCoefficient(var, w.cost * index.cost(s, h))
    objective.SetCoefficient(peak, w.balance * u.balance)
    constant = w.hosts * u.host * busy
    if rebalance:
        # A move is a current host not kept: migrations = pinned count - sum of x on them.
        for v in index.services:
            for h in v.pinned:
                if (v.index, h) in x:
                    var = x[v.index, h]
                    price = objective.GetCoefficient(var)  # its cost, set above
                    objective.SetCoefficient(var, price - w.migrations * u.migration)
                    constant += w.migrations * u.migration
    left = deadline - time.perf_counter()
    if left <= 0.05:
        return LpBounds(hosts=fewest, weighted=None)
    solver.SetTimeLimit(max(1, int(left * 1000)))  # the two solves share `seconds`
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return LpBounds(hosts=fewest, weighted=None)
    weighted = float(objective.Value()) + constant
    return LpBounds(hosts=fewest, weighted=max(0.0, weighted - EPSILON))
