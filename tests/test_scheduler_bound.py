"""CP-SAT's proven bound is reported on the weighted objective's scale, hosts busy with
outside load included (the model leaves them out: they are in use whatever the plan)."""

from __future__ import annotations

from scheduler.evaluate import units
from scheduler.index import build_index
from scheduler.solver import solve
from tests.test_scheduler import estate, problem


def test_a_proven_plan_meets_its_reported_bound() -> None:
    spec = estate()
    for host in spec["hosts"][:2]:
        host["used"] = {"vcpus": 2, "memory_mb": 2048}  # busy: in use whatever the plan
    p = problem(hosts=spec["hosts"])
    host_price = units(build_index(p)).host
    plan = solve(p, time_limit=10)
    assert plan.status == "optimal"
    assert plan.objective is not None and plan.bound is not None
    assert plan.bound.weighted is not None and "cp-sat" in plan.bound.method
    # Proven optimal: the bound is the optimum, up to the model's rounding (well under a
    # host's price); without the busy hosts it fell short by two hosts' price.
    assert plan.bound.weighted <= plan.objective.weighted + 1e-6
    assert plan.objective.weighted - plan.bound.weighted < host_price / 2
    assert plan.objective_gap is not None and plan.objective_gap < 0.05
