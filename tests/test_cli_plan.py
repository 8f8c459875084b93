"""`yunheng plan solve` on problem files: offline, no database."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from console.cli import app
from scheduler.plan import PlanResult
from scheduler.problem import Problem
from scheduler.validate import violations
from tests.test_scheduler import estate

runner = CliRunner()


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(data))
    return path


def test_solve_prints_json_result_that_validates(tmp_path: Path) -> None:
    path = _write(tmp_path, estate())
    result = runner.invoke(app, ["plan", "solve", str(path), "--time-limit", "5", "--json"])
    assert result.exit_code == 0, result.output
    plan = PlanResult.model_validate_json(result.output)
    assert plan.status == "optimal"
    assert violations(Problem.model_validate(estate()), plan.assignments) == []


def test_solve_summary_and_infeasible_exit_code(tmp_path: Path) -> None:
    ok = runner.invoke(
        app, ["plan", "solve", str(_write(tmp_path, estate()))], env={"COLUMNS": "200"}
    )
    assert ok.exit_code == 0 and "status optimal" in ok.output and "web" in ok.output
    tight = estate(departments=[{"id": "d1", "quota": {"vcpus": 10}}])
    bad = runner.invoke(
        app, ["plan", "solve", str(_write(tmp_path, tight))], env={"COLUMNS": "200"}
    )
    assert bad.exit_code == 1
    assert "department d1: vcpus quota 10" in bad.output


def test_malformed_problem_names_the_field(tmp_path: Path) -> None:
    broken = estate()
    broken["hosts"][0]["capacity"]["vcpus"] = -1
    result = runner.invoke(
        app, ["plan", "solve", str(_write(tmp_path, broken))], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "hosts.0.capacity.vcpus" in result.output
    missing = runner.invoke(
        app, ["plan", "solve", str(tmp_path / "nope.json")], env={"COLUMNS": "500"}
    )
    assert missing.exit_code == 2 and "nope.json" in missing.output
