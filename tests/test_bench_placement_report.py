"""bench.placement's verdict on "better than greedy" when neither greedy places everything:
judged against the greedy's partial plan, never passed for want of a comparison."""

from __future__ import annotations

from bench.placement_report import FAIL, PASS, _beats_greedy_1000, cells
from bench.placement_worker import Row


def row(solver: str, status: str, hosts_used: int, cost: float, placed: int | None = None) -> Row:
    limit = 60.0 if solver == "cp-sat" else None
    found = Row("synthetic-1000", 1000, 5000, solver, limit, status, hosts_used, cost)
    found.placed = placed
    found.violations = 0 if placed is None else None
    return found


def rows(solve_hosts: int) -> list[Row]:
    return [
        row("ffd", "infeasible", 693, 13_050.0, placed=4997),
        row("least-allocated", "infeasible", 998, 13_040.0, placed=4997),
        row("cp-sat", "feasible", solve_hosts, 13_081.1),
    ]


def test_a_complete_plan_on_fewer_hosts_beats_the_greedy_partial_plan() -> None:
    _, said, verdict = _beats_greedy_1000(rows(674))
    assert verdict == PASS
    assert said == (
        "greedy FFD placed 4,997 of 5,000 replicas on 693 hosts (13,050.0/h); "
        "solve (60 s) placed all on 674 hosts (13,081.1/h)"
    )


def test_more_hosts_and_more_cost_than_the_partial_plan_is_a_fail() -> None:
    assert _beats_greedy_1000(rows(700))[2] == FAIL


def test_the_table_says_how_much_a_partial_greedy_placed() -> None:
    assert cells(rows(674)[0])[4] == "infeasible (4,997 placed)"
