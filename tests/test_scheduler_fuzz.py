"""Random small problems: every solver answers, every plan it returns is valid, and CP-SAT
is never worse than the greedy it starts from (the independent validator judges)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from scheduler import greedy
from scheduler.problem import Problem
from scheduler.solver import solve
from scheduler.validate import service_reports, violations

SEEDS = range(120)


def random_problem(rng: random.Random) -> Problem:
    clouds = [
        {"id": f"c{i}", "region": f"r{i % 2}", "security_level": rng.randint(1, 5),
         "prices": {"vcpus": rng.choice([0.05, 0.1, 0.2]), "memory_mb": 0.00001}}
        for i in range(rng.randint(1, 3))
    ]  # fmt: skip
    zones = [
        {"id": f"z{i}", "cloud": rng.choice(clouds)["id"], "region": f"r{rng.randint(0, 1)}",
         "availability": rng.choice([0.9, 0.95, 0.99, 0.995, 0.999])}
        for i in range(rng.randint(1, 5))
    ]  # fmt: skip
    hosts = [
        {"id": f"h{i}", "zone": rng.choice(zones)["id"],
         "capacity": {"vcpus": rng.choice([8, 16, 32]), "memory_mb": rng.choice([16384, 65536]),
                      "disk_gb": 500, "gpus": rng.choice([0, 0, 2])},
         "allocation_ratio": [rng.choice([1.0, 1.5, 4.0]), 1.0, 1.0, 1.0],
         "used": {"vcpus": rng.randint(0, 6)},
         "arch": rng.choice(["x86_64", "x86_64", "aarch64"]),
         "traits": rng.sample(["ssd", "gpu", "fast"], rng.randint(0, 2))}
        for i in range(rng.randint(2, 14))
    ]  # fmt: skip
    services: list[dict[str, Any]] = []
    for i in range(rng.randint(1, 5)):
        replicas = rng.randint(1, 4)
        current = (
            rng.sample([h["id"] for h in hosts], rng.randint(0, min(replicas, 2)))
            if rng.random() < 0.4
            else []
        )
        spec: dict[str, Any] = {
            "id": f"s{i}", "department": f"d{rng.randint(0, 1)}", "replicas": replicas,
            "demand": {"vcpus": rng.randint(1, 8), "memory_mb": rng.choice([1024, 4096, 8192]),
                       "disk_gb": 20, "gpus": 1 if rng.random() < 0.1 else 0},
            "current": current,
        }  # fmt: skip
        if rng.random() < 0.4:
            spec["sla_target"] = rng.choice([0.99, 0.999, 0.9999])
        if replicas > 1 and rng.random() < 0.4:
            spec["min_healthy"] = rng.randint(1, replicas - 1)
        if rng.random() < 0.3:
            spec["min_security_level"] = rng.randint(1, 4)
        if rng.random() < 0.2:
            spec["regions"] = ["r0"]
        if rng.random() < 0.2:
            spec["traits"] = ["ssd"]
        if i > 0 and rng.random() < 0.2:
            spec["affinity"] = f"s{rng.randrange(i)}"
        services.append(spec)
    departments = [
        {"id": "d0", "quota": {"vcpus": rng.choice([20, 60, 200])},
         "instances_quota": rng.choice([None, 8, 30])},
        {"id": "d1"},
    ]  # fmt: skip
    return Problem.model_validate(
        {"mode": rng.choice(["place", "rebalance"]), "migration_budget": rng.randint(0, 3),
         "clouds": clouds, "zones": zones, "hosts": hosts, "services": services,
         "departments": departments}
    )  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
def test_random_problem(seed: int) -> None:
    problem = random_problem(random.Random(seed))
    plans = {
        "ffd": greedy.first_fit_decreasing(problem),
        "spread": greedy.least_allocated(problem),
        "cp-sat": solve(problem, time_limit=2.0),
    }
    for name, plan in plans.items():
        if plan.status in ("optimal", "feasible"):
            assert violations(problem, plan.assignments) == [], name
            assert plan.services == service_reports(problem, plan.assignments), name
        else:
            assert plan.assignments == [] and plan.conflicts, name
    best = plans["cp-sat"]
    for name in ("ffd", "spread"):
        other = plans[name]
        if other.status == "feasible":
            assert best.status in ("optimal", "feasible"), f"{name} found a plan, CP-SAT did not"
            assert best.objective and other.objective
            if name == "ffd":
                assert best.objective.weighted <= other.objective.weighted + 1e-6
