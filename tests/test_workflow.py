"""A department's request through plan, approval and provisioning, over the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from inventory.crypto import SecretBox
from tests import factories

API = "/api/v1"
ASK: dict[str, Any] = {
    "service_name": "tax-portal",
    "replicas": 2,
    "vcpus": 4,
    "memory_mb": 8192,
    "disk_gb": 50,
    "sla_target": 0.999,
    "min_healthy": 1,
}


def _estate(client: TestClient, session: Session, box: SecretBox) -> factories.Estate:
    """The factory estate, with room in dept-a's quota beyond its simulated workloads."""
    estate = factories.estate(session, box)
    roomy = {"vcpus": 10_000, "instances": 1_000}
    dept = estate.department_a.id
    client.put(f"{API}/departments/{dept}/quotas", json=roomy, headers=estate.admin.headers)
    return estate


def _submit(client: TestClient, actor: factories.Actor, **change: Any) -> Any:
    response = client.post(f"{API}/requests", json={**ASK, **change}, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_request_plan_approve_provision(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = _estate(client, session, box)
    request = _submit(client, estate.dept_a)
    assert request["status"] == "planned" and request["department"] == "dept-a"
    plan = request["plans"][0]
    assert plan["status"] == "proposed"
    allocations = plan["allocations"]
    assert len(allocations) == 2 and len({a["host"] for a in allocations}) == 2
    assert len({a["zone"] for a in allocations}) == 2, "min_healthy 1 needs two zones"
    assert plan["predicted_availability"] >= 0.999
    assert plan["result"]["status"] in ("optimal", "feasible")

    # Another department cannot see it, by list or by id.
    others = client.get(f"{API}/requests", headers=estate.dept_b.headers).json()
    assert all(r["id"] != request["id"] for r in others["items"])
    assert (
        client.get(f"{API}/requests/{request['id']}", headers=estate.dept_b.headers).status_code
        == 404
    )
    assert client.get(f"{API}/plans/{plan['id']}", headers=estate.dept_b.headers).status_code == 404
    # Departments cannot approve their own plans.
    denied = client.post(
        f"{API}/plans/{plan['id']}/approve", json={}, headers=estate.dept_a.headers
    )
    assert denied.status_code == 403

    approved = client.post(
        f"{API}/plans/{plan['id']}/approve", json={"comment": "ok"}, headers=estate.admin.headers
    )
    assert approved.status_code == 200, approved.text
    done = client.get(f"{API}/requests/{request['id']}", headers=estate.dept_a.headers).json()
    assert done["status"] == "fulfilled", done
    assert {a["status"] for a in done["plans"][0]["allocations"]} == {"provisioned"}
    workload = client.get(
        f"{API}/workloads/{done['workload_id']}", headers=estate.dept_a.headers
    ).json()
    assert workload["name"] == "tax-portal" and workload["department"] == "dept-a"
    assert {r["host"] for r in workload["replicas"]} == {a["host"] for a in allocations}

    # Syncing the clouds keeps the replicas with the service, twice over.
    for cloud in estate.clouds:
        client.post(f"{API}/clouds/{cloud.id}/sync", headers=estate.admin.headers)
    again = [
        client.post(f"{API}/clouds/{c.id}/sync", headers=estate.admin.headers).json()
        for c in estate.clouds
    ]
    assert all(r["ok"] and r["changes"]["replicas"]["added"] == 0 for r in again)
    assert all(r["changes"]["replicas"]["updated"] == 0 for r in again)
    after = client.get(
        f"{API}/workloads/{done['workload_id']}", headers=estate.admin.headers
    ).json()
    assert len(after["replicas"]) == 2

    actions = [
        e["action"]
        for e in client.get(f"{API}/audit?limit=50", headers=estate.admin.headers).json()["items"]
    ]
    for action in ("request.create", "plan.propose", "plan.approve", "plan.applied"):
        assert action in actions


def test_quota_is_checked_at_submit_naming_the_field(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)  # dept-a: 100 vCPU, 10 instances
    response = client.post(
        f"{API}/requests", json={**ASK, "replicas": 5, "vcpus": 32}, headers=estate.dept_a.headers
    )
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "vcpus" and "dept-a vcpus quota: limit 100" in body["error"]
    listed = client.get(f"{API}/requests", headers=estate.dept_a.headers).json()
    assert listed["total"] == 0


def test_unplaceable_request_says_why(client: TestClient, session: Session, box: SecretBox) -> None:
    estate = _estate(client, session, box)
    request = _submit(client, estate.dept_a, security_level=5)
    assert request["status"] == "unplaceable"
    assert "security level >= 5" in request["reason"]
    assert request["plans"] == []


def test_reject_needs_a_reason_and_the_department_reads_it(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = _estate(client, session, box)
    plan = _submit(client, estate.dept_a)["plans"][0]
    silent = client.post(f"{API}/plans/{plan['id']}/reject", json={}, headers=estate.admin.headers)
    assert silent.status_code == 422
    # English for programs and logs, with the key a client can translate by (console pages do).
    assert silent.json() == {
        "error": "say why the plan is rejected; the department will read it",
        "field": "comment",
        "code": "plan.reject_reason",
    }
    rejected = client.post(
        f"{API}/plans/{plan['id']}/reject",
        json={"comment": "请改用二区"},
        headers=estate.admin.headers,
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    request = client.get(
        f"{API}/requests/{plan['request_id']}", headers=estate.dept_a.headers
    ).json()
    assert request["status"] == "rejected" and "请改用二区" in request["reason"]
    twice = client.post(f"{API}/plans/{plan['id']}/approve", json={}, headers=estate.admin.headers)
    assert twice.status_code == 409


def test_partial_failure_is_named_and_retry_completes_without_duplicates(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = _estate(client, session, box)
    request = _submit(client, estate.dept_a, replicas=3, min_healthy=0, sla_target=None)
    plan = request["plans"][0]
    clouds = {a["cloud"] for a in plan["allocations"]}
    victim = next(c for c in estate.clouds if c.name in clouds)
    fault = {"settings": {"faults": {"unreachable": True}}}
    client.patch(f"{API}/clouds/{victim.id}", json=fault, headers=estate.admin.headers)

    client.post(f"{API}/plans/{plan['id']}/approve", json={}, headers=estate.admin.headers)
    partial = client.get(f"{API}/requests/{request['id']}", headers=estate.dept_a.headers).json()
    on_victim = [a for a in partial["plans"][0]["allocations"] if a["cloud"] == victim.name]
    assert partial["status"] == "partial" and "unreachable" in partial["reason"]
    assert {a["status"] for a in on_victim} == {"failed"}

    client.patch(
        f"{API}/clouds/{victim.id}",
        json={"settings": {"faults": None}},
        headers=estate.admin.headers,
    )
    retried = client.post(f"{API}/plans/{plan['id']}/retry", headers=estate.admin.headers)
    assert retried.status_code == 200, retried.text
    final = client.get(f"{API}/requests/{request['id']}", headers=estate.dept_a.headers).json()
    assert final["status"] == "fulfilled"
    allocations = final["plans"][0]["allocations"]
    assert {a["status"] for a in allocations} == {"provisioned"}
    assert len({a["external_id"] for a in allocations}) == 3
    workload = client.get(
        f"{API}/workloads/{final['workload_id']}", headers=estate.admin.headers
    ).json()
    assert len(workload["replicas"]) == 3
