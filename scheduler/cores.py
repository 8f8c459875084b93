"""Why no plan exists, in words: an unsatisfiable core of named constraint groups.

CP-SAT proves "no placement" for the host-level model but cannot say which constraints
clash. The count model (scheduler/core_model.py) guards each constraint group -- a
service's SLA spread, zone-loss rule, distinct hosts, security level, residency,
architecture and traits, affinity; a zone's capacity; a department's quota -- with an
assumption literal. Solved under all of them, CP-SAT's
`sufficient_assumptions_for_infeasibility` names groups that cannot hold together; a
deletion filter drops each group in turn while the rest stay infeasible, so what is left
is minimal; and each group is rendered with its numbers (scheduler/core_words.py).

CP-SAT computes cores only with one worker (it reports every assumption otherwise), and
assumptions have had bugs with parallel search, so every solve here uses one worker.
"""

from __future__ import annotations

import logging
import time

from ortools.sat.python import cp_model

from scheduler.core_model import CountModel, Group, build, gather
from scheduler.core_words import Context, render, together
from scheduler.index import Index

log = logging.getLogger(__name__)
HEADER = "these constraints conflict (no placement meets them all)"


def explain_infeasible(index: Index, *, time_limit: float = 2.0, seed: int = 0) -> list[str]:
    """Lines saying which constraints conflict, or [] if none is found in time (the
    count model is a relaxation, so a conflict in how replicas pack onto hosts has none)."""
    deadline = time.perf_counter() + max(0.05, time_limit)
    facts = gather(index)
    if facts is None:
        return []
    counts = build(facts)
    if counts is None or not counts.literals:
        return []
    core = _core(counts, list(counts.literals.values()), deadline, seed)
    if not core:
        return []
    core = _minimise(counts, core, deadline, seed)
    by_index = {lit.index: group for group, lit in counts.literals.items()}
    groups = sorted((by_index[lit.index] for lit in core), key=_order)
    least: dict[tuple[int, int], int | None] = {}

    def at_least(service: int, zone: int) -> int | None:
        if (service, zone) not in least:
            least[service, zone] = _least(counts, groups, service, zone, deadline, seed)
        return least[service, zone]

    context = Context(facts, groups, at_least)
    lines = [render(context, group) for group in groups]
    summary = together(context)
    return [HEADER, *lines, *([summary] if summary else [])]


# Services first (each one's groups from its request outwards), then zones, then quotas.
_KINDS = ("sla", "min_healthy", "distinct", "security", "residency", "arch", "affinity")


def _order(group: Group) -> tuple[int, int, int, int, str, int]:
    if group.kind in _KINDS:
        return (0, group.service, _KINDS.index(group.kind), 0, "", 0)
    return (
        1 if group.kind == "capacity" else 2,
        0,
        0,
        group.zone,
        group.department,
        group.resource,
    )


def _solve(
    counts: CountModel, assumed: list[cp_model.IntVar], deadline: float, seed: int
) -> tuple[cp_model.CpSolverStatus, list[int]]:
    model = counts.model
    model.clear_assumptions()
    model.add_assumptions(assumed)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = max(0.01, deadline - time.perf_counter())
    status = solver.solve(model)
    core = list(solver.sufficient_assumptions_for_infeasibility())
    return status, core if status == cp_model.INFEASIBLE else []


def _core(
    counts: CountModel, assumed: list[cp_model.IntVar], deadline: float, seed: int
) -> list[cp_model.IntVar]:
    status, core = _solve(counts, assumed, deadline, seed)
    if status != cp_model.INFEASIBLE:
        # Feasible (only host-level packing conflicts) or out of time: nothing to name.
        log.info("no conflict core: count model status %s", status)
        return []
    chosen = set(core)
    return [lit for lit in assumed if lit.index in chosen]


def _minimise(
    counts: CountModel, core: list[cp_model.IntVar], deadline: float, seed: int
) -> list[cp_model.IntVar]:
    """Deletion filter: drop one group; if the rest are still infeasible, keep the (maybe
    smaller) core CP-SAT reports for them; if feasible, the group is needed."""
    i = 0
    while i < len(core) and time.perf_counter() < deadline:
        trial = core[:i] + core[i + 1 :]
        status, smaller = _solve(counts, trial, deadline, seed)
        if status == cp_model.INFEASIBLE:
            keep = set(smaller) or {lit.index for lit in trial}
            core = [lit for lit in trial if lit.index in keep]
        elif status in (cp_model.FEASIBLE, cp_model.OPTIMAL):
            i += 1
        else:
            break  # out of time: the core so far is still a true conflict, just not minimal
    return core


def _least(
    counts: CountModel, groups: list[Group], service: int, zone: int, deadline: float, seed: int
) -> int | None:
    """The fewest replicas of `service` that must go to `zone` under the core's other groups
    (the zone's own capacity lifted): what the zone would have to hold."""
    n = counts.count.get(service, {}).get(zone)
    if n is None or time.perf_counter() >= deadline:
        return None
    model = counts.model.clone()
    model.clear_assumptions()
    lifted = Group("capacity", zone=zone)
    for group in groups:
        if group != lifted:
            model.add(model.get_bool_var_from_proto_index(counts.literals[group].index) == 1)
    model.minimize(model.get_int_var_from_proto_index(n.index))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = max(0.01, deadline - time.perf_counter())
    if solver.solve(model) != cp_model.OPTIMAL:
        return None
    return int(solver.objective_value)
