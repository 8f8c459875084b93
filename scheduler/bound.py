"""An LP lower bound on hosts in use (OR-Tools GLOP), stronger than the volume bound.

The volume bound pools every host's capacity; the LP keeps eligibility: replicas of a
service can only use the hosts it may run on, each host holds at most one replica of a
service, and a host pays for what it holds (load <= capacity x open). So GPU, aarch64,
security-level and residency pools each need their own hosts. It is the LP relaxation of
the CP-SAT model's hosts-in-use part; solved only where it is cheap (LP_MAX_PAIRS), else
the volume bound stands.
"""

from __future__ import annotations

import math

from ortools.linear_solver import pywraplp

from scheduler.index import Index

LP_MAX_PAIRS = 15_000  # measured: 10,000 pairs take about 1-3 s; above, the volume bound stands
EPSILON = 1e-6  # LP optimum rounding before the ceiling


def lp_hosts_bound(
    index: Index, candidates: dict[int, list[int]], seconds: float = 2.0
) -> int | None:
    """Fewest hosts in use over the LP relaxation, rounded up; None if too big or not solved.

    `candidates` lists, per service, every host it could use (cpsat.full_candidates).
    """
    pairs = sum(len(hosts) for hosts in candidates.values())
    if pairs > LP_MAX_PAIRS or pairs == 0:
        return None
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:
        return None
    solver.SetTimeLimit(max(1, int(seconds * 1000)))
    opened: dict[int, pywraplp.Variable] = {}
    on_host: dict[int, list[tuple[int, pywraplp.Variable]]] = {}
    fixed_open = 0
    for s, hosts in candidates.items():
        view = index.services[s]
        pinned = set(view.pinned) if index.problem.mode == "place" else set()
        row = []
        for h in hosts:
            low = 1.0 if h in pinned else 0.0
            var = solver.NumVar(low, 1.0, "")
            row.append(var)
            on_host.setdefault(h, []).append((s, var))
        solver.Add(solver.Sum(row) == view.spec.replicas)
    for h in on_host:
        if index.busy[h]:
            fixed_open += 1
            continue
        opened[h] = solver.NumVar(0.0, 1.0, "")
    for h, items in on_host.items():
        for r in range(4):
            terms = [
                (index.services[s].demand[r], v) for s, v in items if index.services[s].demand[r]
            ]
            if not terms:
                continue
            load = solver.Sum([c * v for c, v in terms])
            if h in opened:
                solver.Add(load <= index.free[h][r] * opened[h])
                # x <= open: without it a host could be "a tenth open" for a tenth of a
                # replica, and the LP is no better than the volume bound.
                for _, v in terms:
                    solver.Add(v <= opened[h])
            else:
                solver.Add(load <= index.free[h][r])
    solver.Minimize(solver.Sum(list(opened.values())))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    busy_elsewhere = sum(1 for h, b in enumerate(index.busy) if b and h not in on_host)
    lp_value = float(solver.Objective().Value())
    return fixed_open + busy_elsewhere + math.ceil(lp_value - EPSILON)
