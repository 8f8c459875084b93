"""The placement engine on small problems whose right answers are known."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.greedy import first_fit_decreasing, least_allocated
from scheduler.problem import Problem
from scheduler.solver import solve
from scheduler.validate import violations


def estate(**overrides: Any) -> dict[str, Any]:
    """2 clouds, 3 zones, 9 hosts of 16 vCPU / 32 GiB; three services of one department."""
    base: dict[str, Any] = {
        "clouds": [
            {"id": "os", "region": "a", "security_level": 3, "prices": {"vcpus": 0.1}},
            {"id": "pub", "region": "b", "security_level": 2, "prices": {"vcpus": 0.05}},
        ],
        "zones": [
            {"id": "os-1", "cloud": "os", "region": "a", "availability": 0.999},
            {"id": "os-2", "cloud": "os", "region": "a", "availability": 0.999},
            {"id": "pub-1", "cloud": "pub", "region": "b", "availability": 0.9995},
        ],
        "hosts": [
            {
                "id": f"h{i}",
                "zone": ["os-1", "os-2", "pub-1"][i % 3],
                "capacity": {"vcpus": 16, "memory_mb": 32768, "disk_gb": 500},
            }
            for i in range(9)
        ],
        "services": [
            {"id": "web", "department": "d1", "replicas": 4,
             "demand": {"vcpus": 4, "memory_mb": 8192},
             "sla_target": 0.9999, "min_healthy": 2, "min_security_level": 3},
            {"id": "db", "department": "d1", "replicas": 2,
             "demand": {"vcpus": 8, "memory_mb": 16384},
             "sla_target": 0.9995, "min_healthy": 1},
            {"id": "batch", "department": "d1", "replicas": 3,
             "demand": {"vcpus": 2, "memory_mb": 2048}},
        ],
        "departments": [{"id": "d1", "quota": {"vcpus": 100, "memory_mb": 200_000}}],
    }  # fmt: skip
    base.update(overrides)
    return base


def problem(**overrides: Any) -> Problem:
    return Problem.model_validate(estate(**overrides))


def test_cp_sat_beats_greedy_and_proves_optimal() -> None:
    p = problem()
    ffd, spread = first_fit_decreasing(p), least_allocated(p)
    best = solve(p, time_limit=10)
    assert best.status == "optimal"
    for plan in (ffd, spread, best):
        assert violations(p, plan.assignments) == []
    assert best.objective and ffd.objective and spread.objective
    assert best.objective.hosts_used <= min(ffd.objective.hosts_used, spread.objective.hosts_used)
    assert best.objective.weighted <= ffd.objective.weighted
    assert best.bound and best.objective.hosts_used == best.bound.hosts_used == 4
    assert best.gap == 0
    web = next(s for s in best.services if s.service == "web")
    assert web.meets_target and web.survives_zone_loss and set(web.zones) == {"os-1", "os-2"}


def test_every_plan_is_explained() -> None:
    plan = solve(problem(), time_limit=5)
    assert any("security level >= 3" in line for line in plan.binding)
    assert any("SLA 0.9999 needs 2 zones" in line for line in plan.binding)
    assert plan.notes and "CP-SAT" in plan.notes[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"departments": [{"id": "d1", "quota": {"vcpus": 30}}]}, "department d1: vcpus quota 30"),
        (
            {"services": [{"id": "gpu", "department": "d1", "replicas": 1, "demand": {"gpus": 1}}]},
            "only 0 have room",
        ),
        (
            {"services": [{"id": "arm", "department": "d1", "replicas": 1, "demand": {"vcpus": 1},
                           "arch": "aarch64"}]},
            "service arm: no host matches arch aarch64",
        ),
        (
            {"services": [{"id": "s", "department": "d1", "replicas": 2, "demand": {"vcpus": 1},
                           "sla_target": 0.99999999, "min_security_level": 3}]},
            "availability target 0.99999999 needs more independent zones",
        ),
        (
            {"services": [{"id": "s", "department": "d1", "replicas": 3, "demand": {"vcpus": 1},
                           "min_healthy": 2, "regions": ["b"]}]},
            "losing any one zone must leave 2 of 3",
        ),
    ],
)  # fmt: skip
def test_unplaceable_requests_say_why(change: dict[str, Any], expected: str) -> None:
    plan = solve(problem(**change), time_limit=2)
    assert plan.status == "infeasible"
    assert plan.assignments == []
    assert any(expected in line for line in plan.conflicts), plan.conflicts


def test_existing_replicas_stay_put_when_placing() -> None:
    services = estate()["services"]
    services[2] = {**services[2], "current": ["h2", "h5"]}  # two of batch's three run on pub-1
    plan = solve(problem(services=services), time_limit=5)
    batch = [a for a in plan.assignments if a.service == "batch"]
    assert {a.host for a in batch if a.existing} == {"h2", "h5"}
    assert len(batch) == 3 and all(a.moved_from is None for a in plan.assignments)
    assert violations(problem(services=services), plan.assignments) == []


def test_rebalance_consolidates_within_the_migration_budget() -> None:
    # Three small services spread one per host over six hosts; packing needs moves.
    services = [
        {
            "id": f"s{i}",
            "department": "d1",
            "replicas": 1,
            "demand": {"vcpus": 4},
            "current": [f"h{i}"],
        }
        for i in range(6)
    ]
    for budget, hosts in ((0, 6), (2, 4), (6, 2)):
        p = problem(services=services, mode="rebalance", migration_budget=budget)
        plan = solve(p, time_limit=5)
        assert plan.objective is not None, plan.conflicts
        assert plan.objective.migrations <= budget
        assert plan.objective.hosts_used == hosts, (budget, plan.objective)
        assert violations(p, plan.assignments) == []
        moved = [a for a in plan.assignments if a.moved_from]
        assert len(moved) == plan.objective.migrations


def test_affinity_keeps_a_service_in_its_partners_zones() -> None:
    services = estate()["services"]
    services[2] = {**services[2], "affinity": "web"}
    plan = solve(problem(services=services), time_limit=5)
    web = {a.zone for a in plan.assignments if a.service == "web"}
    batch = {a.zone for a in plan.assignments if a.service == "batch"}
    assert batch <= web


def test_too_large_for_one_model_goes_to_lns_and_never_claims_optimal() -> None:
    plan = solve(problem(), time_limit=2, max_vars=5)
    assert plan.status == "feasible" and plan.solver == "lns"
    assert any("re-packing" in note for note in plan.notes)
    ffd = first_fit_decreasing(problem())
    assert plan.objective and ffd.objective
    assert plan.objective.hosts_used <= ffd.objective.hosts_used
    assert violations(problem(), plan.assignments) == []


def test_a_tight_time_limit_still_returns_a_valid_plan() -> None:
    hosts = [
        {"id": f"h{i}", "zone": ["os-1", "os-2", "pub-1"][i % 3],
         "capacity": {"vcpus": 32, "memory_mb": 65536, "disk_gb": 500}}
        for i in range(150)
    ]  # fmt: skip
    services = [
        {"id": f"s{i}", "department": "d1", "replicas": 1 + i % 4,
         "demand": {"vcpus": [2, 4, 8][i % 3], "memory_mb": [4096, 8192, 16384][i % 3]}}
        for i in range(120)
    ]  # fmt: skip
    p = problem(hosts=hosts, services=services, departments=[{"id": "d1"}])
    plan = solve(p, time_limit=0.5)
    assert plan.status in ("feasible", "optimal")
    assert violations(p, plan.assignments) == []
