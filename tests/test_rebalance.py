"""Rebalance proposals over the API and the CLI: fewer hosts within the budget, nothing
proposed when nothing can be saved, admins only, scope errors naming the field."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from typer.testing import CliRunner

from console.cli import app
from inventory.accounts import viewer_of
from inventory.crypto import SecretBox
from inventory.models import Plan, PlanStatus, Role
from inventory.models.requests import PlanKind
from scheduler.problem import Problem
from scheduler.rebalance_order import Step, waves
from tests import factories, rebalance_estate
from tests.rebalance_estate import Fragmented

API = "/api/v1"
runner = CliRunner()


@pytest.fixture
def frag(session: Session, engine: Engine, box: SecretBox) -> Fragmented:
    return rebalance_estate.build(session, engine, box)


def propose(client: TestClient, frag: Fragmented, **body: Any) -> dict[str, Any]:
    response = client.post(f"{API}/rebalance", json=body, headers=frag.admin.headers)
    assert response.status_code == 200, response.text
    outcome: dict[str, Any] = response.json()
    return outcome


def test_propose_frees_hosts_within_the_budget(client: TestClient, frag: Fragmented) -> None:
    outcome = propose(client, frag, migration_budget=2)
    assert outcome["proposed"] and outcome["reason"] is None
    summary, plan = outcome["summary"], outcome["plan"]
    assert summary["services"] == 8 and summary["replicas"] == 16
    assert summary["hosts_before"] == 16
    assert 1 <= summary["moves"] <= 2 == summary["migration_budget"]
    # Each host holds one replica, so every move frees the host it leaves.
    assert summary["hosts_after"] == 16 - summary["moves"]
    assert len(summary["hosts_freed"]) == summary["moves"] and summary["hosts_opened"] == []
    assert plan["kind"] == "rebalance" and plan["status"] == "proposed"
    assert plan["request_id"] is None and plan["allocations"] == []
    moves = plan["moves"]
    assert len(moves) == summary["moves"]
    for move in moves:
        assert move["status"] == "pending" and move["from_host"] != move["to_host"]
        assert move["from_host"] in {h.rsplit("/", 1)[1] for h in summary["hosts_freed"]}
        # Residency: a service of cloud frag-a stays in frag-a.
        assert move["service"].startswith(move["cloud"])
    assert plan["result"]["objective"]["migrations"] == len(moves)

    listed = client.get(f"{API}/rebalance", headers=frag.admin.headers).json()
    assert [p["id"] for p in listed["items"]] == [plan["id"]]
    one = client.get(f"{API}/rebalance/{plan['id']}", headers=frag.manager.headers)
    assert one.status_code == 200 and one.json()["moves"] == moves
    # A newer proposal supersedes the older one: only one is up for decision.
    newer = propose(client, frag, migration_budget=3)["plan"]
    statuses = {
        p["id"]: p["status"]
        for p in client.get(f"{API}/rebalance", headers=frag.admin.headers).json()["items"]
    }
    assert statuses == {plan["id"]: "superseded", newer["id"]: "proposed"}


def test_budget_zero_or_nothing_to_move_proposes_nothing(
    client: TestClient, frag: Fragmented, session: Session
) -> None:
    outcome = propose(client, frag, migration_budget=0)
    assert not outcome["proposed"] and outcome["plan"] is None
    assert "budget of 0" in outcome["reason"]
    assert outcome["summary"]["hosts_before"] == 16
    # A zone of a cloud no managed service fits into alone: each service spans two zones.
    scoped = propose(client, frag, migration_budget=5, cloud="frag-a", zone="ra-os-az1")
    assert not scoped["proposed"] and "no Yunheng-managed replica" in scoped["reason"]
    assert scoped["summary"]["scope"]["cloud"] == "frag-a"
    assert len(scoped["summary"]["left_in_place"]) == 8
    assert all("outside the scope" in line for line in scoped["summary"]["left_in_place"])
    assert client.get(f"{API}/rebalance", headers=frag.admin.headers).json()["total"] == 0
    stored = sa.select(sa.func.count()).where(col(Plan.kind) == PlanKind.rebalance)
    assert session.execute(stored).scalar_one() == 0


def test_only_admins_propose_and_decide_managers_read(client: TestClient, frag: Fragmented) -> None:
    for actor in (frag.dept, frag.oncall, frag.manager):
        denied = client.post(
            f"{API}/rebalance", json={"migration_budget": 2}, headers=actor.headers
        )
        assert denied.status_code == 403 and "may not" in denied.json()["error"]
    plan = propose(client, frag, migration_budget=2)["plan"]
    for actor, code in ((frag.dept, 403), (frag.oncall, 403), (frag.manager, 200)):
        assert client.get(f"{API}/rebalance", headers=actor.headers).status_code == code
        one = client.get(f"{API}/rebalance/{plan['id']}", headers=actor.headers)
        assert one.status_code == code
    # Through the request endpoints it is no department's plan.
    for actor, code in ((frag.dept, 404), (frag.oncall, 404), (frag.manager, 200)):
        assert client.get(f"{API}/plans/{plan['id']}", headers=actor.headers).status_code == code
    for path in ("approve", "reject"):
        response = client.post(
            f"{API}/plans/{plan['id']}/{path}",
            json={"comment": "x"},
            headers=frag.manager.headers,
        )
        assert response.status_code == 403
    # A rejection says why, and is final.
    silent = client.post(f"{API}/plans/{plan['id']}/reject", json={}, headers=frag.admin.headers)
    assert silent.status_code == 422 and silent.json()["field"] == "comment"
    rejected = client.post(
        f"{API}/plans/{plan['id']}/reject", json={"comment": "月底再迁"}, headers=frag.admin.headers
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    again = client.post(f"{API}/plans/{plan['id']}/approve", json={}, headers=frag.admin.headers)
    assert again.status_code == 409 and "rejected" in again.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"migration_budget": 2, "cloud": "nope"}, "cloud"),
        ({"migration_budget": 2, "zone": "nope"}, "zone"),
        ({"migration_budget": -1}, "body.migration_budget"),
        ({"migration_budget": 2, "time_limit": 0}, "body.time_limit"),
        ({"migration_budget": 2, "moves": 1}, "body.moves"),
        ({}, "body.migration_budget"),
    ],
)
def test_bad_input_names_the_field(
    client: TestClient, session: Session, body: dict[str, Any], field: str
) -> None:
    admin = factories.user(session, "admin1", Role.admin)  # checked before any solving
    response = client.post(f"{API}/rebalance", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error.get("field") == field or field in error["error"], error


def test_cli_proposes_approves_and_applies(
    cli_env: str, session: Session, engine: Engine, box: SecretBox
) -> None:
    rebalance_estate.build(session, engine, box)
    env = {"COLUMNS": "200"}
    nothing = runner.invoke(app, ["plan", "rebalance", "--budget", "0"], env=env)
    assert nothing.exit_code == 1 and "nothing proposed: a migration budget of 0" in nothing.output

    shown = runner.invoke(app, ["plan", "rebalance", "--budget", "2", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    outcome = json.loads(shown.output)
    assert outcome["proposed"] and len(outcome["plan"]["moves"]) <= 2
    text = runner.invoke(app, ["plan", "rebalance", "--budget", "2"], env=env)
    assert text.exit_code == 0, text.output
    assert "hosts in use 16 -> 14" in text.output and "yunheng plan approve" in text.output
    found = re.search(r"plan (\d+) proposed", text.output)
    assert found is not None
    plan_id = int(found[1])  # the text run proposed again, superseding the JSON run's plan

    stale = runner.invoke(app, ["plan", "approve", str(outcome["plan"]["id"])], env=env)
    assert stale.exit_code == 2 and "superseded" in stale.output
    approved = runner.invoke(app, ["plan", "approve", str(plan_id), "--comment", "ok"], env=env)
    assert approved.exit_code == 0, approved.output
    assert f"plan {plan_id}: applied" in approved.output
    session.expire_all()
    plan = session.get(Plan, plan_id)
    assert plan is not None and plan.status == PlanStatus.applied
    bad = runner.invoke(app, ["plan", "rebalance", "--budget", "2", "--cloud", "nope"], env=env)
    assert bad.exit_code == 2 and "cloud" in bad.output
    helped = runner.invoke(app, ["plan", "rebalance", "--help"], env=env)
    assert helped.exit_code == 0 and "--budget" in helped.output


def test_a_world_without_managed_replicas_has_nothing_to_rebalance(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)  # discovered workloads only
    response = client.post(
        f"{API}/rebalance", json={"migration_budget": 10}, headers=estate.admin.headers
    )
    assert response.status_code == 200
    assert response.json()["reason"] == "no Yunheng-managed replica in scope can move"


def _tight(hosts: int) -> tuple[Problem, dict[str, list[int]]]:
    """Hosts of 8 vCPU; service sN of 8 vCPU runs alone on host hN (for N < 2)."""
    problem = Problem.model_validate(
        {
            "mode": "rebalance",
            "migration_budget": 2,
            "clouds": [{"id": "c", "region": "r", "security_level": 3}],
            "zones": [{"id": "z", "cloud": "c", "region": "r", "availability": 0.999}],
            "hosts": [{"id": f"h{i}", "zone": "z", "capacity": {"vcpus": 8}} for i in range(hosts)],
            "services": [
                {
                    "id": f"s{i}",
                    "department": "d",
                    "replicas": 1,
                    "demand": {"vcpus": 8},
                    "current": [f"h{i}"],
                }
                for i in range(2)
            ],
        }
    )
    return problem, {f"h{i}": [8 if i < 2 else 0, 0, 0, 0] for i in range(hosts)}


def test_moves_run_make_before_break_in_an_order_that_fits() -> None:
    # s0 to h1 fits only once s1 has left h1 for the empty h2: s1 goes first.
    problem, load = _tight(3)
    first = Step(0, "s0", (8, 0, 0, 0), "h0", "h1")
    second = Step(1, "s1", (8, 0, 0, 0), "h1", "h2")
    ordered, blocked = waves(problem, load, [first, second])
    assert ordered == [[second], [first]] and blocked == []
    # Two full hosts swapping replicas: no order lets the new replica in before the old
    # one leaves, so the swap is refused, with the numbers.
    problem, load = _tight(2)
    swap = [Step(0, "s0", (8, 0, 0, 0), "h0", "h1"), Step(1, "s1", (8, 0, 0, 0), "h1", "h0")]
    ordered, blocked = waves(problem, load, swap)
    assert ordered == [] and [why for _, why in blocked] == [
        "target host h1 has no room for s0: vcpus needs 8, 0 free",
        "target host h0 has no room for s1: vcpus needs 8, 0 free",
    ]


def test_a_move_to_a_cheaper_cloud_is_proposed_for_the_cost(
    client: TestClient, frag: Fragmented, session: Session, engine: Engine, box: SecretBox
) -> None:
    dear, cheap = frag.clouds[1], frag.clouds[0]
    for cloud, price in ((dear, 1.0), (cheap, 0.1)):
        client.patch(
            f"{API}/clouds/{cloud.id}",
            json={"prices": {"vcpus": price}},
            headers=frag.admin.headers,
        )
    # A service with no residency, placed on the dearer cloud next to another service.
    host = rebalance_estate.hosts_by_zone(session, dear)[0][0]
    viewer = viewer_of(frag.admin.user)
    dept = frag.dept.user.department_id or 0
    rebalance_estate.pinned(session, engine, box, viewer, dept, dear, "roamer", [host], None)
    outcome = propose(client, frag, migration_budget=13)
    summary = outcome["summary"]
    assert outcome["proposed"] and summary["cost_after"] < summary["cost_before"]
    roamer = [m for m in outcome["plan"]["moves"] if m["service"] == "frag-b-roamer"]
    assert [m["cloud"] for m in roamer] == ["frag-a"]
    assert summary["cost_before"] - summary["cost_after"] == pytest.approx(8 * (1.0 - 0.1))
