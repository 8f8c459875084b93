"""The CP-SAT hint: renamed onto the first of identical hosts, the peak computed, and taken
by CP-SAT as its first incumbent."""

from __future__ import annotations

from bench.instances import synthetic
from scheduler import cpsat, greedy
from scheduler.evaluate import Placement, assignments, objective
from scheduler.hint import peak, symmetric
from scheduler.index import Index, build_index
from scheduler.validate import violations
from tests.test_scheduler import problem

# In tests.test_scheduler's estate every host of a zone is identical (h0, h3, h6 in os-1 ...).
GROUPS = [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


def _spread(index: Index) -> Placement:
    """A valid plan on as many hosts as the greedy can spread over, moved onto the last
    hosts of each zone: what the symmetry breaking forbids."""
    plan, unplaced = greedy.place(index, spread=True)
    assert not unplaced
    last = {h: group[-1 - group.index(h)] for group in GROUPS for h in group}
    return {s: [last[h] for h in hosts] for s, hosts in plan.items()}


def _valid(index: Index, plan: Placement) -> bool:
    return violations(index.problem, assignments(index, plan)) == []


def test_symmetric_moves_used_hosts_to_the_front_of_their_group() -> None:
    index = build_index(problem())
    plan = _spread(index)
    renamed = symmetric(plan, GROUPS)
    assert _valid(index, plan) and _valid(index, renamed)
    assert objective(index, renamed) == objective(index, plan)
    used = {h for hosts in renamed.values() for h in hosts}
    for group in GROUPS:
        opened = [h in used for h in group]
        assert opened == sorted(opened, reverse=True)  # open hosts first, in index order


def test_peak_is_the_max_utilisation_rounded_up() -> None:
    index = build_index(problem())
    plan = _spread(index)
    utilisation = objective(index, plan).max_utilisation  # rounded to 6 decimals
    found = peak(index, plan, 1000)
    assert (found - 1) / 1000 < utilisation <= found / 1000 + 1e-6
    assert peak(index, {}, 1000) == 0  # nothing placed, no outside load


def test_cp_sat_starts_from_the_hinted_plan() -> None:
    # A spread-out greedy plan on a synthetic estate (large enough that presolve does not
    # solve it outright): CP-SAT's first solution is that plan, renamed, only when the
    # hint is complete and consistent with the model's symmetry breaking.
    index = build_index(synthetic(30, 90, 3))
    plan, unplaced = greedy.place(index, spread=True)
    assert not unplaced
    outcome = cpsat.solve(
        index, plan, cpsat.Options(time_limit=10, workers=2, seed=0, first_solution=True)
    )
    assert outcome.placement is not None
    assert objective(index, outcome.placement) == objective(index, plan)
