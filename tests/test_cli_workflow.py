"""The workflow from the command line: list requests, export a problem, approve, retry."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import Session
from typer.testing import CliRunner

from console.cli import app
from inventory.crypto import SecretBox
from inventory.models import Plan, RequestStatus, ResourceRequest
from scheduler.problem import Problem
from tests import factories

runner = CliRunner()


def test_export_then_approve_from_the_cli(
    cli_env: str, session: Session, box: SecretBox, tmp_path: Path
) -> None:
    estate = factories.estate(session, box)
    requests, plans = factories.open_requests(session, estate)
    env = {"COLUMNS": "200"}

    listed = runner.invoke(app, ["request", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "matrix-approve" in listed.output and "proposed" in listed.output

    target = tmp_path / "problem.json"
    exported = runner.invoke(
        app, ["plan", "export", "--request", str(requests["approve"]), "-o", str(target)]
    )
    assert exported.exit_code == 0, exported.output
    problem = Problem.model_validate_json(target.read_text())
    assert [s.id for s in problem.services] == ["matrix-approve"]
    assert len(problem.hosts) == 16
    solved = runner.invoke(app, ["plan", "solve", str(target), "--json"])
    assert solved.exit_code == 0 and json.loads(solved.output)["status"] == "optimal"

    approved = runner.invoke(
        app, ["plan", "approve", str(plans["approve"]), "--comment", "ok"], env=env
    )
    assert approved.exit_code == 0, approved.output
    assert "applied" in approved.output
    session.expire_all()
    request = session.get(ResourceRequest, requests["approve"])
    assert request is not None and request.status == RequestStatus.fulfilled

    again = runner.invoke(app, ["plan", "approve", str(plans["approve"])], env=env)
    assert again.exit_code == 2 and "only a proposed plan" in again.output
    missing = runner.invoke(app, ["plan", "export", "--request", "9999"])
    assert missing.exit_code == 2 and "--request" in missing.output


def test_reject_needs_a_comment(cli_env: str, session: Session, box: SecretBox) -> None:
    estate = factories.estate(session, box)
    _, plans = factories.open_requests(session, estate)
    result = runner.invoke(app, ["plan", "reject", str(plans["reject"])])
    assert result.exit_code == 2 and "--comment" in result.output
    done = runner.invoke(app, ["plan", "reject", str(plans["reject"]), "--comment", "换区域"])
    assert done.exit_code == 0
    session.expire_all()
    plan = session.get(Plan, plans["reject"])
    assert plan is not None and plan.comment == "换区域"
