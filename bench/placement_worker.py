"""The measuring side of bench.placement: one solver run per fresh subprocess.

Kept apart from the parent (bench/placement.py) so each run's peak RSS (ru_maxrss) is its
own: the interpreter, the imports, the problem read from its JSON file and the solve. The
independent validator runs after the peak has been read, so it does not count.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scheduler.plan import PlanResult
from scheduler.problem import Problem

ROOT = Path(__file__).resolve().parents[1]
RESULT_MARK = "BENCH-RESULT "
SOLVERS = ("ffd", "least-allocated", "cp-sat")
SOLVER_LABELS = {"ffd": "greedy FFD", "least-allocated": "greedy least-allocated"}


@dataclass
class Spec:
    """What one worker subprocess runs; passed to it as JSON."""

    instance: str
    problem_file: str
    solver: str  # one of SOLVERS, or "single" (repeated solves of one request)
    time_limit: float
    seed: int
    workers: int
    repeat: int = 1
    optimum: int | None = None


@dataclass
class Row:
    instance: str
    hosts: int
    replicas: int
    solver: str
    time_limit: float | None
    status: str
    hosts_used: int | None = None
    cost_per_hour: float | None = None
    weighted: float | None = None
    violations: int | None = None  # None: no plan to check
    first_violation: str | None = None
    bound_hosts: int | None = None
    gap: float | None = None
    objective_gap: float | None = None  # weighted objective against the LP / CP-SAT bound
    first_s: float | None = None
    total_s: float = 0.0  # wall clock around the solver call, in the worker
    rss_peak_mib: float = 0.0
    optimum: int | None = None
    # A greedy that left services out: the replicas its partial plan placed (hosts used and
    # cost above are then that partial plan's).
    placed: int | None = None
    notes: list[str] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)  # "single": every repeat

    @property
    def label(self) -> str:
        if self.solver == "cp-sat" and self.time_limit is not None:
            return f"solve ({self.time_limit:g} s)"
        return SOLVER_LABELS.get(self.solver, self.solver)

    @property
    def has_plan(self) -> bool:
        return self.status in ("optimal", "feasible")

    @property
    def excess(self) -> int | None:
        if self.optimum is None or self.hosts_used is None:
            return None
        return self.hosts_used - self.optimum


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _runner(spec: Spec) -> Callable[[Problem], PlanResult]:
    if spec.solver == "ffd":
        from scheduler.greedy import first_fit_decreasing

        return first_fit_decreasing
    if spec.solver == "least-allocated":
        from scheduler.greedy import least_allocated

        return least_allocated
    from scheduler.solver import solve

    def run(problem: Problem) -> PlanResult:
        return solve(problem, time_limit=spec.time_limit, workers=spec.workers, seed=spec.seed)

    return run


def _row(spec: Spec, problem: Problem, result: PlanResult, wall: float, rss: float) -> Row:
    from scheduler.validate import violations

    row = Row(
        instance=spec.instance,
        hosts=len(problem.hosts),
        replicas=sum(s.replicas for s in problem.services),
        solver="cp-sat" if spec.solver == "single" else spec.solver,
        time_limit=spec.time_limit if spec.solver in ("cp-sat", "single") else None,
        status=result.status,
        bound_hosts=result.bound.hosts_used if result.bound else None,
        gap=result.gap,
        objective_gap=result.objective_gap,
        first_s=result.seconds_to_first,
        total_s=wall,
        rss_peak_mib=rss,
        optimum=spec.optimum,
        notes=list(getattr(result, "notes", []) or [])[:6] + list(result.conflicts)[:3],
    )
    if result.objective is not None:
        row.hosts_used = result.objective.hosts_used
        row.cost_per_hour = result.objective.cost_per_hour
        row.weighted = result.objective.weighted
    if result.status in ("optimal", "feasible"):
        found = violations(problem, result.assignments)
        row.violations = len(found)
        row.first_violation = found[0] if found else None
    return row


def _partial(row: Row, problem: Problem, *, spread: bool) -> None:
    """What a greedy that could not place every service did place (it is deterministic,
    so placing again gives the same partial plan): compared with solve()'s complete plan,
    so "better than greedy" is not judged against nothing."""
    from scheduler.evaluate import objective
    from scheduler.greedy import place
    from scheduler.index import build_index

    index = build_index(problem)
    placement, _ = place(index, spread=spread)
    partial = objective(index, placement)
    row.placed = sum(len(hosts) for hosts in placement.values())
    row.hosts_used, row.cost_per_hour = partial.hosts_used, partial.cost_per_hour


def worker(spec: Spec) -> list[Row]:
    problem = Problem.model_validate_json(Path(spec.problem_file).read_text())
    run = _runner(spec)
    if spec.solver != "single":
        start = time.perf_counter()
        result = run(problem)
        wall = time.perf_counter() - start
        row = _row(spec, problem, result, wall, _peak_mib())
        if spec.solver in SOLVER_LABELS and not row.has_plan:
            _partial(row, problem, spread=spec.solver == "least-allocated")
        return [row]
    times: list[float] = []
    results: list[PlanResult] = []
    for _ in range(spec.repeat):
        start = time.perf_counter()
        results.append(run(problem))
        times.append(time.perf_counter() - start)
    rss = _peak_mib()
    rows = [_row(spec, problem, r, t, rss) for r, t in zip(results, times, strict=True)]
    worst = max(rows, key=lambda r: (r.violations or 0, not r.has_plan))
    worst.times_s = [round(t, 4) for t in times]
    worst.total_s = statistics.median(times)
    return [worst]
