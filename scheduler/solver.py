"""solve(): prechecks, then greedy first-fit-decreasing, then CP-SAT with the greedy as its
hint; every plan re-checked by the independent validator before it is returned."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from scheduler import cpsat, greedy, lns, repair
from scheduler.bound import LP_MAX_PAIRS, lp_bounds
from scheduler.consolidate import consolidate
from scheduler.evaluate import InvalidPlan, Placement, at_bound, lower_bound, result_for
from scheduler.explain import binding, prechecks
from scheduler.index import Index, build_index
from scheduler.plan import Bound, PlanResult
from scheduler.problem import Problem

log = logging.getLogger(__name__)
# A repair model stays small so it builds in well under a second even on large estates.
REPAIR_VARS = 40_000
# Consolidation takes up to this share of the time limit; CP-SAT or LNS gets the rest.
CONSOLIDATE_SHARE = 0.3
GREEDY_RETRIES = 3
REPORT_MARGIN = 0.3  # seconds kept for validation and the report after the search
LP_SECONDS = 3.0  # the LP bound is worth at most this much of a solve


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

    placement, unplaced, retried = _greedy(index, start, time_limit)
    notes: list[str] = []
    if retried:
        notes.append(f"greedy retried with {retried} left-out services first")
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
    if baseline is not None:
        better = _consolidated(index, placement, baseline, start, time_limit, seed, bound)
        if better is not None:
            baseline, placement = better
            notes.append(f"consolidated by minimum bin slack: {baseline.notes[0]}")
            if at_bound(index, baseline):
                # Nothing can beat a plan at the lower bound: skip the search.
                baseline.status = "optimal"
                baseline.notes = [*notes, "every objective term is at its lower bound"]
                return _finish(index, baseline, start)
    hint = placement if not unplaced else {s: h for s, h in placement.items() if h}

    options = cpsat.Options(
        time_limit=max(0.1, time_limit - (time.perf_counter() - start)),
        workers=workers,
        seed=seed,
        max_vars=max_vars,
    )
    full = cpsat.full_candidates(index)
    pairs = sum(len(hosts) for hosts in full.values())
    too_big = pairs > options.max_vars
    options = replace(options, min_hosts=bound.hosts_used)
    # Time kept for the LP bound, which runs only if CP-SAT does not prove optimality.
    lp_reserve = min(LP_SECONDS, time_limit * 0.15) if pairs <= LP_MAX_PAIRS else 0.0
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
    # What is left, less a margin to validate and report: the whole solve keeps its limit.
    left = time_limit - (time.perf_counter() - start) - REPORT_MARGIN - lp_reserve
    outcome = cpsat.solve(index, hint, replace(options, time_limit=max(0.1, left)), (full, False))
    if lp_reserve and outcome.status != "optimal":
        bound = _with_lp(index, full, bound, lp_reserve)
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
    if outcome.objective_bound is not None and outcome.objective_bound > (bound.weighted or 0):
        bound = bound.model_copy(
            update={
                "weighted": round(outcome.objective_bound, 6),
                "method": bound.method + "+cp-sat",
            }
        )
    for candidate in (result, baseline):
        if candidate is not None:
            _with_objective_bound(candidate, bound)
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
        notes.append(f"CP-SAT found no better plan in time; returning the {baseline.solver} plan")
        result = baseline
    if result is None:
        from scheduler.cores import explain_infeasible  # only a request without a plan pays

        # Which constraint groups clash, with numbers. The count model behind it is a
        # relaxation, so a clash it finds proves there is no plan even when CP-SAT ran out
        # of time first; a clash only in how replicas pack onto hosts it cannot name.
        why = explain_infeasible(
            index, time_limit=max(1.0, time_limit - (time.perf_counter() - start)), seed=seed
        )
        status = "infeasible" if outcome.status == "infeasible" or why else "unknown"
        if why and outcome.status != "infeasible":
            notes.append("CP-SAT found no plan in time; the count model proved that none exists")
        conflicts = why or [
            "no placement satisfies every constraint together (each service passes its own "
            "checks; they compete for the same capacity)"
            if status == "infeasible"
            else f"no plan found within {time_limit:g} s"
        ]
        return PlanResult(
            status=status,
            solver="cp-sat",
            bound=bound,
            seconds_total=round(time.perf_counter() - start, 4),
            conflicts=conflicts + [f"greedy could not place service {s!r}" for s in unplaced],
            notes=notes,
        )
    result.notes = notes
    return _finish(index, result, start)


def _greedy(index: Index, start: float, time_limit: float) -> tuple[Placement, list[str], int]:
    """Greedy FFD; if it leaves services out, again with those first ("squeaky wheel"),
    while a retry costs little of the time limit. Cheaper than a CP-SAT repair."""
    began = time.perf_counter()
    placement, unplaced = greedy.place(index, spread=False)
    took = time.perf_counter() - began
    first: set[int] = set()
    for _ in range(GREEDY_RETRIES):
        if not unplaced or time.perf_counter() + took > start + time_limit * 0.2:
            break
        first |= {index.service_by_id[s] for s in unplaced}
        again, left = greedy.place(index, spread=False, first=frozenset(first))
        if len(left) < len(unplaced):
            placement, unplaced = again, left
    return placement, unplaced, len(first)


def _with_lp(index: Index, full: dict[int, list[int]], bound: Bound, seconds: float) -> Bound:
    """The bound with the LP relaxation's figures where they are stronger."""
    lp = lp_bounds(index, full, seconds=seconds)
    if lp is None:
        return bound
    update: dict[str, object] = {"method": "lp"}
    if lp.weighted is not None:
        update["weighted"] = round(lp.weighted, 6)
    if lp.hosts > bound.hosts_used:
        update["hosts_used"] = lp.hosts
    return bound.model_copy(update=update)


def _rebound(result: PlanResult, bound: Bound) -> PlanResult:
    result.bound = bound
    if result.objective and result.objective.hosts_used:
        used = result.objective.hosts_used
        result.gap = round(max(0.0, (used - bound.hosts_used) / used), 6)
    return result


def _with_objective_bound(result: PlanResult, bound: Bound) -> None:
    _rebound(result, bound)
    if result.objective and bound.weighted is not None and result.objective.weighted > 0:
        gap = (result.objective.weighted - bound.weighted) / result.objective.weighted
        result.objective_gap = round(max(0.0, gap), 6)


def _consolidated(
    index: Index,
    placement: Placement,
    baseline: PlanResult,
    start: float,
    time_limit: float,
    seed: int,
    bound: Bound,
) -> tuple[PlanResult, Placement] | None:
    """The plan re-packed by minimum bin slack, if valid and better than `baseline`."""
    # A share of the time left: the search after it needs the rest.
    now = time.perf_counter()
    deadline = now + max(0.0, start + time_limit - now) * CONSOLIDATE_SHARE
    packed, stats = consolidate(index, placement, deadline=deadline, seed=seed)
    if not stats.improved:
        return None
    try:
        result = result_for(index, packed, solver="consolidate", start=start, bound=bound)
    except InvalidPlan as exc:  # a bug: keep the greedy plan
        log.error("%s", exc)
        return None
    if not (result.objective and baseline.objective):
        return None
    if result.objective.weighted >= baseline.objective.weighted:
        return None
    result.seconds_to_first = baseline.seconds_to_first
    result.notes = [f"{stats.hosts_closed} hosts emptied in {stats.improved} zones"]
    return result, packed


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
