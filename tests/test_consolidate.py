"""Minimum-bin-slack consolidation, exact fills, the LP bound and the greedy's retries."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from bench.instances import synthetic
from bench.known import known_optimum
from scheduler import greedy
from scheduler.bound import lp_bounds
from scheduler.consolidate import consolidate
from scheduler.cpsat import full_candidates
from scheduler.evaluate import lower_bound, result_for
from scheduler.fill import best_fill, exact_completion
from scheduler.index import build_index
from scheduler.problem import Problem
from scheduler.solver import solve
from scheduler.validate import violations
from tests.test_scheduler import estate, problem


def rows(*vectors: tuple[int, ...]) -> np.ndarray:
    return np.array(vectors, dtype=np.int64)


@pytest.mark.parametrize(
    ("demands", "room", "expected"),
    [
        (rows((5, 5), (3, 3), (7, 7)), (7, 7), [2]),
        (rows((5, 1), (2, 6), (3, 3), (1, 1)), (7, 7), [0, 1]),
        (rows((4, 1), (1, 4), (2, 2), (6, 6)), (7, 7), [2, 0, 1]),
        (rows((4, 1), (1, 4), (3, 3)), (7, 7), None),  # 8 x 8 or 5 x 5 or 7 x 4: no exact set
    ],
)
def test_exact_completion_finds_one_two_or_three_rows(
    demands: np.ndarray, room: tuple[int, ...], expected: list[int] | None
) -> None:
    found = exact_completion(demands, np.array(room, dtype=np.int64))
    if expected is None:
        assert found is None
        return
    assert found is not None and sorted(found) == sorted(expected)
    assert demands[found].sum(axis=0).tolist() == list(room)


def test_best_fill_never_overfills_and_prefers_the_exact_fill() -> None:
    rng = random.Random(7)
    for _ in range(200):
        demands = np.array(
            [[rng.randint(1, 9), rng.randint(1, 9)] for _ in range(rng.randint(1, 30))],
            dtype=np.int64,
        )
        room = np.array([rng.randint(0, 20), rng.randint(0, 20)], dtype=np.int64)
        values = demands.sum(axis=1).astype(np.float64)
        for shuffle in (None, rng):
            chosen = best_fill(demands, values, room, 0.05, 0, shuffle)
            assert len(set(chosen)) == len(chosen)
            assert (demands[chosen].sum(axis=0) <= room).all()
            exact = exact_completion(demands[(demands <= room).all(axis=1)], room)
            if exact is not None:
                assert demands[chosen].sum(axis=0).tolist() == room.tolist()


@pytest.mark.parametrize(("pieces", "resources"), [(60, 2), (120, 3), (250, 3)])
def test_consolidation_reaches_the_known_optimum(pieces: int, resources: int) -> None:
    p, optimum = known_optimum(pieces, resources, seed=3)
    index = build_index(p)
    placement, left_out = greedy.place(index, spread=False)
    assert not left_out
    packed, stats = consolidate(index, placement, deadline=time.perf_counter() + 20)
    plan = result_for(index, packed, solver="consolidate", start=time.perf_counter())
    assert plan.objective and plan.objective.hosts_used == optimum  # validated by result_for
    assert stats.hosts_closed > 0


def test_solve_proves_a_cut_to_fit_instance_optimal_by_its_bound() -> None:
    p, optimum = known_optimum(120, 2, seed=5)
    plan = solve(p, time_limit=10)
    assert plan.status == "optimal"
    assert plan.objective and plan.objective.hosts_used == optimum
    assert plan.bound and plan.bound.hosts_used == optimum and plan.gap == 0
    assert violations(p, plan.assignments) == []


def test_consolidation_keeps_zones_per_service_and_pinned_replicas() -> None:
    base = estate()
    base["hosts"] = [
        {"id": f"h{i}", "zone": ["os-1", "os-2", "pub-1"][i % 3],
         "capacity": {"vcpus": 16, "memory_mb": 32768, "disk_gb": 500}}
        for i in range(30)
    ]  # fmt: skip
    base["services"] = [
        {"id": f"s{i}", "department": "d1", "replicas": 2, "demand": {"vcpus": 2 + i % 5},
         "sla_target": 0.999, "min_healthy": 1, "current": ["h0"] if i == 0 else []}
        for i in range(24)
    ]  # fmt: skip
    base["departments"] = [{"id": "d1"}]
    p = Problem.model_validate(base)
    index = build_index(p)
    # Least-allocated spreads replicas over many hosts: lots to consolidate.
    placement, left_out = greedy.place(index, spread=True)
    assert not left_out
    packed, stats = consolidate(index, placement, deadline=time.perf_counter() + 20)
    before = result_for(index, placement, solver="spread", start=0)
    after = result_for(index, packed, solver="consolidate", start=0)  # raises if invalid
    assert after.objective and before.objective
    assert after.objective.hosts_used < before.objective.hosts_used and stats.improved
    zones = [index.host_zone[h] for h in index.host_zone]
    for s in placement:
        assert sorted(zones[h] for h in packed[s]) == sorted(zones[h] for h in placement[s])
    assert index.host_by_id["h0"] in packed[0]  # s0's existing replica stays put


def test_lp_bound_is_between_the_volume_bound_and_the_optimum() -> None:
    p = problem()
    index = build_index(p)
    lp = lp_bounds(index, full_candidates(index))
    assert lp is not None
    assert lower_bound(index).hosts_used <= lp.hosts <= 4  # 4 is proven optimal here
    best = solve(p, time_limit=10)
    assert best.status == "optimal" and best.objective
    assert lp.weighted is not None and lp.weighted <= best.objective.weighted


def test_lp_bound_is_skipped_when_too_large() -> None:
    p, _ = known_optimum(500, 3, seed=1)
    index = build_index(p)
    assert lp_bounds(index, full_candidates(index)) is None


def test_greedy_retries_left_out_services_first() -> None:
    # On this seeded estate the first pass fills the GPU zones before a 4-replica GPU
    # service that needs two of them; with that service first, everything fits.
    p = synthetic(100, 500, 1)
    index = build_index(p)
    first_try, left_out = greedy.place(index, spread=False)
    assert left_out
    retry, none_left = greedy.place(
        index, spread=False, first=frozenset(index.service_by_id[s] for s in left_out)
    )
    assert none_left == []
    result_for(index, retry, solver="retry", start=0)  # raises if invalid
    del first_try


def test_greedy_leaves_out_a_service_no_host_has_room_for() -> None:
    p = problem(
        services=[{"id": "huge", "department": "d1", "replicas": 1, "demand": {"vcpus": 64}}]
    )
    placement, left_out = greedy.place(build_index(p), spread=False)
    assert left_out == ["huge"] and not placement.get(0)
