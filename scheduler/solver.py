"""solve(): prechecks, then greedy first-fit-decreasing, then CP-SAT with the greedy as its
hint; every plan re-checked by the independent validator before it is returned."""

from __future__ import annotations

import logging
import time

from scheduler import cpsat, greedy
from scheduler.evaluate import InvalidPlan, lower_bound, result_for
from scheduler.explain import binding, prechecks
from scheduler.index import build_index
from scheduler.plan import PlanResult
from scheduler.problem import Problem

log = logging.getLogger(__name__)


def solve(
    problem: Problem,
    *,
    time_limit: float = 10.0,
    workers: int = 2,
    seed: int = 0,
    max_vars: int = cpsat.Options.max_vars,
) -> PlanResult:
    start = time.perf_counter()
    index = build_index(problem)
    bound = lower_bound(index)
    conflicts = prechecks(index)
    if conflicts:
        return PlanResult(
            status="infeasible",
            solver="precheck",
            bound=bound,
            seconds_total=round(time.perf_counter() - start, 4),
            conflicts=conflicts,
        )

    placement, unplaced = greedy.place(index, spread=False)
    baseline: PlanResult | None = None
    if not unplaced:
        try:
            baseline = result_for(index, placement, solver="greedy-ffd", start=start, bound=bound)
        except InvalidPlan as exc:
            # E.g. a rebalance whose ineligible replicas must move past the budget: the
            # greedy has no valid plan, but CP-SAT may still find one (or prove none).
            log.info("%s", exc)
    hint = placement if not unplaced else {s: h for s, h in placement.items() if h}

    options = cpsat.Options(
        time_limit=max(0.1, time_limit - (time.perf_counter() - start)),
        workers=workers,
        seed=seed,
        max_vars=max_vars,
    )
    outcome = cpsat.solve(index, hint, options)
    notes = list(outcome.notes)
    notes.append(f"CP-SAT: {outcome.variables:,} placement variables, status {outcome.status}")
    result: PlanResult | None = None
    if outcome.placement is not None:
        first = baseline.seconds_to_first if baseline else outcome.seconds_to_first
        try:
            result = result_for(
                index,
                outcome.placement,
                solver="cp-sat",
                start=start,
                status=outcome.status,
                first=first,
                bound=bound,
            )
        except InvalidPlan as exc:  # a solver bug must never reach a user
            log.error("%s", exc)
            notes.append("CP-SAT plan failed validation and was discarded (a bug; logged)")
    if (
        result is not None
        and baseline is not None
        and baseline.objective
        and result.objective
        and baseline.objective.weighted < result.objective.weighted
    ):
        notes.append("the greedy plan scored better than CP-SAT's within the time limit")
        result = baseline
    if result is None and baseline is not None:
        notes.append("CP-SAT found no plan in time; returning the greedy plan")
        result = baseline
    if result is None:
        status = "infeasible" if outcome.status == "infeasible" else "unknown"
        why = (
            "no placement satisfies every constraint together (each service passes its own checks; "
            "they compete for the same capacity)"
            if status == "infeasible"
            else f"no plan found within {time_limit:g} s"
        )
        return PlanResult(
            status=status,
            solver="cp-sat",
            bound=bound,
            seconds_total=round(time.perf_counter() - start, 4),
            conflicts=[why] + [f"greedy could not place service {s!r}" for s in unplaced],
            notes=notes,
        )
    placed: dict[int, list[int]] = {index.service_by_id[a.service]: [] for a in result.assignments}
    for a in result.assignments:
        placed[index.service_by_id[a.service]].append(index.host_by_id[a.host])
    result.binding = binding(index, placed)
    result.notes = notes
    result.seconds_total = round(time.perf_counter() - start, 4)
    return result
