"""solve(): prechecks, then greedy first-fit-decreasing, then CP-SAT with the greedy as its
hint; every plan re-checked by the independent validator before it is returned."""

from __future__ import annotations

import logging
import time

from scheduler import cpsat, greedy, lns, repair
from scheduler.evaluate import InvalidPlan, Placement, lower_bound, result_for
from scheduler.explain import binding, prechecks
from scheduler.index import Index, build_index
from scheduler.plan import PlanResult
from scheduler.problem import Problem

log = logging.getLogger(__name__)
# A repair model stays small so it builds in well under a second even on large estates.
REPAIR_VARS = 40_000


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
    notes: list[str] = []
    if unplaced:
        repaired, note = repair.repair(
            index,
            placement,
            unplaced,
            cpsat.Options(
                # A complete plan matters more than polishing one: most of what is left.
                time_limit=max(1.0, (time_limit - (time.perf_counter() - start)) * 0.8),
                workers=workers,
                seed=seed,
                first_solution=True,
                max_vars=REPAIR_VARS,
            ),
        )
        notes.append(note)
        if repaired is not None:
            placement, unplaced = repaired, []
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
    full = cpsat.full_candidates(index)
    too_big = sum(len(hosts) for hosts in full.values()) > options.max_vars
    if too_big and baseline is None:
        # Too large for one model and no complete plan to improve: building the model
        # alone would overrun the time limit. Say what could not be placed.
        return PlanResult(
            status="unknown",
            solver="greedy+repair",
            bound=bound,
            seconds_total=round(time.perf_counter() - start, 4),
            conflicts=[
                f"no complete plan: services left out: {', '.join(unplaced[:20])}"
                if unplaced
                else "the greedy plan breaks the migration budget, and the estate is too "
                "large for one CP-SAT model"
            ],
            notes=notes,
        )
    if too_big and baseline is not None:
        # Too large for one model: improve the greedy plan by exact re-packing instead.
        improved = _by_lns(index, placement, start, time_limit, seed, workers)
        improved.notes = notes + improved.notes
        return _finish(index, improved, start)
    outcome = cpsat.solve(index, hint, options, (full, False))
    notes += outcome.notes
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
    result.notes = notes
    return _finish(index, result, start)


def _by_lns(
    index: Index, placement: Placement, start: float, time_limit: float, seed: int, workers: int
) -> PlanResult:
    first = time.perf_counter() - start
    # Leave time to validate and report, so the whole solve keeps to its limit.
    deadline = start + max(0.1, time_limit * 0.95 - 1.0)
    improved, stats = lns.improve(
        index, placement, deadline=deadline, seed=seed, workers=min(workers, 2)
    )
    result = result_for(index, improved, solver="lns", start=start, first=first)
    result.notes = [
        f"{sum(len(v.eligible) for v in index.services):,} service-host pairs: too many for one "
        "CP-SAT model, so the greedy plan was improved by re-packing hosts zone by zone",
        f"LNS: {stats.steps} neighbourhoods, {stats.improved} improved, "
        f"{stats.hosts_closed} hosts emptied",
    ]
    return result


def _finish(index: Index, result: PlanResult, start: float) -> PlanResult:
    placed: dict[int, list[int]] = {index.service_by_id[a.service]: [] for a in result.assignments}
    for a in result.assignments:
        placed[index.service_by_id[a.service]].append(index.host_by_id[a.host])
    result.binding = binding(index, placed)
    result.seconds_total = round(time.perf_counter() - start, 4)
    return result
