"""The CP-SAT model: one boolean per (service, candidate host).

Identical replicas of a service are aggregated by construction: x[s, h] says "one replica
of s on h" (replicas need distinct hosts, so one is all a host can take), and the sum over
h is the replica count. That is services x hosts booleans, not replicas x hosts. When even
that is too large, each service keeps only a bounded set of candidate hosts per zone (the
greedy's hosts first); the result is then feasible but not claimed optimal.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from scheduler.evaluate import Placement, units
from scheduler.hint import peak as peak_of
from scheduler.hint import symmetric
from scheduler.index import SLA_SCALE, Index
from scheduler.plan import Status

MONEY_SCALE = 1000  # objective in thousandths of a money unit per hour


@dataclass(frozen=True)
class Options:
    time_limit: float = 10.0
    workers: int = 2
    seed: int = 0
    max_vars: int = 300_000  # above this, candidate hosts are filtered
    first_solution: bool = False  # stop at the first feasible plan (repair wants only that)
    min_hosts: int = 0  # a proven lower bound on hosts in use, given to the model


@dataclass
class Outcome:
    placement: Placement | None
    status: Status
    seconds_to_first: float | None
    filtered: bool
    variables: int
    notes: list[str] = field(default_factory=list)
    # CP-SAT's proven lower bound on the weighted objective (money per hour); None when the
    # model's candidates were filtered, since then it bounds only the filtered model.
    objective_bound: float | None = None


class _Incumbent(cp_model.CpSolverSolutionCallback):
    """Keeps the best solution so far, so a time-out still returns it."""

    def __init__(
        self, keys: list[tuple[int, int]], variables: list[cp_model.IntVar], start: float
    ) -> None:
        super().__init__()
        self.keys = keys
        self.variables = variables
        self.start = start
        self.first: float | None = None
        self.best: list[tuple[int, int]] | None = None

    def on_solution_callback(self) -> None:
        if self.first is None:
            self.first = time.perf_counter() - self.start
        self.best = [
            k for k, v in zip(self.keys, self.variables, strict=True) if self.boolean_value(v)
        ]


def full_candidates(index: Index) -> dict[int, list[int]]:
    """Every host each service could use: eligible with room now, plus its current hosts
    (pinned in place mode, free to leave in a rebalance)."""
    full: dict[int, list[int]] = {}
    for view in index.services:
        full[view.index] = sorted(set(view.pinned) | set(index.roomy(view.index)))
    return full


def candidates(
    index: Index, hint: Placement | None, max_vars: int
) -> tuple[dict[int, list[int]], bool]:
    """Hosts each service may use in the model; filtered (True) when the full set is too big."""
    full = full_candidates(index)
    if sum(len(c) for c in full.values()) <= max_vars:
        return full, False
    # Keep per service: its hint and current hosts, then per zone the hosts already in use
    # (by outside load or the hint) and the best-fitting others, up to a share of the budget.
    in_use = np.array(index.busy, dtype=bool)
    for hosts in (hint or {}).values():
        in_use[hosts] = True
    free = np.array(index.free, dtype=np.float64).reshape(-1, 4)
    sched = np.array(index.schedulable, dtype=np.float64).reshape(-1, 4)
    per_service = max(8, max_vars // max(1, len(index.services)))
    kept: dict[int, list[int]] = {}
    for view in index.services:
        must = set(view.pinned) | set((hint or {}).get(view.index, []))
        others = np.array([h for h in full[view.index] if h not in must], dtype=np.int64)
        chosen = set(must)
        if len(others):
            # Slack after placing one replica (small is a tight, best fit), hosts in use first.
            demand = np.array(view.demand, dtype=np.float64)
            room = (free[others] - demand) / np.where(sched[others] > 0, sched[others], 1.0)
            score = (~in_use[others]) * 1e6 + room.sum(axis=1)
            zones = np.array([index.host_zone[h] for h in others.tolist()])
            share = max(view.spec.replicas + 2, per_service // max(1, len(set(zones.tolist()))))
            for z in set(zones.tolist()):
                mine = others[zones == z]
                best = mine[np.argsort(score[zones == z], kind="stable")[:share]]
                chosen.update(int(h) for h in best)
        kept[view.index] = sorted(chosen)
    return kept, True


def _break_symmetry(
    model: cp_model.CpModel, index: Index, opened: dict[int, cp_model.IntVar]
) -> list[list[int]]:
    """Identical empty hosts are interchangeable: open them in index order. Without this a
    bin-packing proof explores every permutation of which identical host is used. Returns
    the groups of identical hosts, in that order."""
    pinned = {h for v in index.services for h in v.pinned}
    groups: dict[tuple[object, ...], list[int]] = {}
    for h in sorted(opened):
        if h in pinned:
            continue
        host = index.problem.hosts[h]
        signature = (
            index.host_zone[h],
            index.schedulable[h],
            tuple(index.free[h]),
            host.arch,
            host.traits,
        )
        groups.setdefault(signature, []).append(h)
    for hosts in groups.values():
        for first, second in itertools.pairwise(hosts):
            model.add(opened[first] >= opened[second])
    return list(groups.values())


def _busy_elsewhere(index: Index, on_host: dict[int, list[tuple[int, int]]]) -> int:
    """Hosts in use by outside load that no service of this model could use."""
    return sum(1 for h, busy in enumerate(index.busy) if busy and h not in on_host)


def solve(
    index: Index,
    hint: Placement | None,
    options: Options,
    chosen: tuple[dict[int, list[int]], bool] | None = None,
) -> Outcome:
    start = time.perf_counter()
    cands, filtered = chosen or candidates(index, hint, options.max_vars)
    model = cp_model.CpModel()
    rebalance = index.problem.mode == "rebalance"
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for s, hosts in cands.items():
        sid = index.services[s].spec.id
        for h in hosts:
            x[s, h] = model.new_bool_var(f"x[{sid},{index.host_ids[h]}]")

    zone_used: dict[tuple[int, int], cp_model.IntVar] = {}
    on_host: dict[int, list[tuple[int, int]]] = {}
    for view in index.services:
        s = view.index
        hosts = cands[s]
        model.add(sum(x[s, h] for h in hosts) == view.spec.replicas)
        eligible = set(view.eligible)
        for h in view.pinned:
            if not rebalance:
                model.add(x[s, h] == 1)
            elif h not in eligible:
                model.add(x[s, h] == 0)  # it may no longer run there: it must move
        by_zone: dict[int, list[cp_model.IntVar]] = {}
        for h in hosts:
            by_zone.setdefault(index.host_zone[h], []).append(x[s, h])
            on_host.setdefault(h, []).append((s, h))
        for z, lits in by_zone.items():
            used = model.new_bool_var(f"zone[{view.spec.id},{index.zone_ids[z]}]")
            model.add_max_equality(used, lits)
            zone_used[s, z] = used
            if view.zone_cap < len(lits):
                model.add(sum(lits) <= view.zone_cap)  # losing zone z leaves min_healthy
        if view.required > 0:
            # Both sides floored; each zone's floor may lose one unit, so allow that much
            # (a true shortfall that small is caught by the validator).
            need = math.floor(view.required * SLA_SCALE) - len(by_zone)
            model.add(
                sum(math.floor(index.zone_weight[z] * SLA_SCALE) * zone_used[s, z] for z in by_zone)
                >= need
            )
    for view in index.services:
        if view.affinity is None:
            continue
        for (s, z), used in list(zone_used.items()):
            if s != view.index:
                continue
            partner = zone_used.get((view.affinity, z))
            if partner is None:
                model.add(used == 0)
            else:
                model.add_implication(used, partner)

    demand = [view.demand for view in index.services]
    u = units(index)
    weights = index.problem.weights
    objective: list[cp_model.LinearExprT] = []
    opened: dict[int, cp_model.IntVar] = {}
    host_price = round(weights.hosts * u.host * MONEY_SCALE)
    for h, keys in on_host.items():
        if index.busy[h]:
            continue  # in use whatever the plan
        o = model.new_bool_var(f"open[{index.host_ids[h]}]")
        for key in keys:
            model.add_implication(x[key], o)
        opened[h] = o
    for h, keys in on_host.items():
        for r in range(4):
            terms = [(demand[s][r], x[s, hh]) for s, hh in keys if demand[s][r] > 0]
            if not terms:
                continue
            load = sum(c * v for c, v in terms)
            if h in opened:
                # Capacity times "open", not capacity alone: the LP relaxation then has to
                # pay for a host in proportion to what it holds, which is what makes
                # CP-SAT's bound on hosts in use as strong as the volume bound.
                model.add(load <= index.free[h][r] * opened[h])
            elif sum(c for c, _ in terms) > index.free[h][r]:
                model.add(load <= index.free[h][r])
    for r in range(4):
        total = sum(demand[v.index][r] * v.spec.replicas for v in index.services)
        if total and opened:
            # Redundant, but it gives the LP the volume bound directly.
            outside = sum(max(0, index.free[h][r]) for h in on_host if h not in opened)
            model.add(sum(index.free[h][r] * o for h, o in opened.items()) >= total - outside)
    if options.min_hosts and opened:
        busy = sum(1 for h in on_host if h not in opened)
        model.add(
            sum(opened.values()) >= options.min_hosts - busy - _busy_elsewhere(index, on_host)
        )
    groups = _break_symmetry(model, index, opened) if not filtered else []
    if host_price:
        objective.append(host_price * sum(opened.values()))
    if weights.cost:
        objective.append(
            sum(round(weights.cost * index.cost(s, h) * MONEY_SCALE) * v for (s, h), v in x.items())
        )
    if rebalance:
        moves = [1 - x[view.index, h] for view in index.services for h in view.pinned]
        if moves:
            model.add(sum(moves) <= index.problem.migration_budget)
            objective.append(round(weights.migrations * u.migration * MONEY_SCALE) * sum(moves))
    # The peak counts utilisation in steps that each cost one objective unit (0.001/h), so
    # the balance price is exact to 0.001/h. A per-mille step priced round(price / 1000)
    # turned 2.25 into 2 and 1.70 into 2: the "optimal" plan optimised another objective,
    # and CP-SAT's bound could exceed the plan's own weighted objective.
    steps = round(weights.balance * u.balance * MONEY_SCALE)
    peak: cp_model.IntVar | None = None
    if steps:
        peak = model.new_int_var(0, steps, "max_utilisation")
        for h in range(len(index.host_ids)):
            for r, cap in enumerate(index.schedulable[h]):
                if cap <= 0:
                    continue
                outside = cap - index.free[h][r]
                loads = [demand[s][r] * x[s, hh] for s, hh in on_host.get(h, []) if demand[s][r]]
                model.add(steps * (outside + sum(loads)) <= cap * peak)
        objective.append(peak)
    model.minimize(sum(objective))

    if hint:
        # Complete and consistent with the symmetry breaking, so CP-SAT starts from it.
        hint = symmetric(hint, groups)
        if peak is not None:
            model.add_hint(peak, min(steps, peak_of(index, hint, steps)))
        hinted = {(s, h) for s, hosts in hint.items() for h in hosts}
        for key, var in x.items():
            model.add_hint(var, key in hinted)
        for h, o in opened.items():
            model.add_hint(o, any((s, h) in hinted for s, _ in on_host[h]))
        for (s, z), used in zone_used.items():
            model.add_hint(used, any(index.host_zone[h] == z for h in hint.get(s, [])))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(
        0.1, options.time_limit - (time.perf_counter() - start)
    )
    solver.parameters.num_workers = options.workers
    solver.parameters.random_seed = options.seed
    solver.parameters.stop_after_first_solution = options.first_solution
    keys = list(x)
    incumbent = _Incumbent(keys, [x[k] for k in keys], start)
    code = solver.solve(model, incumbent)
    statuses: dict[cp_model.CpSolverStatus, Status] = {
        cp_model.OPTIMAL: "optimal",
        cp_model.FEASIBLE: "feasible",
        cp_model.INFEASIBLE: "infeasible",
    }
    status: Status = statuses.get(code, "unknown")
    notes: list[str] = []
    if filtered:
        notes.append(f"candidate hosts filtered to {len(x):,} variables; optimality not proven")
        if status == "optimal":
            status = "feasible"
    objective_bound: float | None = None
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE) and not filtered:
        # Hosts busy with outside load are in use whatever the plan, so the model leaves
        # them out of its objective; the weighted objective counts them.
        in_use_anyway = weights.hosts * u.host * sum(index.busy)
        objective_bound = solver.best_objective_bound / MONEY_SCALE + in_use_anyway
    placement: Placement | None = None
    if incumbent.best is not None:
        placement = {}
        for s, h in incumbent.best:
            placement.setdefault(s, []).append(h)
    return Outcome(
        placement=placement,
        status=status,
        seconds_to_first=incumbent.first,
        filtered=filtered,
        variables=len(x),
        notes=notes,
        objective_bound=objective_bound,
    )
