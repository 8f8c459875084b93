"""Applying rebalance plans against the simulator: make-before-break moves, partial failure
that keeps the old replica, retry, stale plans refused, and the audit trail."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters.simulator import SimulatorAdapter
from inventory.accounts import viewer_of
from inventory.crypto import SecretBox
from inventory.models import Cloud, Host, ItemState, Replica, Workload
from tests import rebalance_estate
from tests.rebalance_estate import Fragmented

API = "/api/v1"


@pytest.fixture
def frag(session: Session, engine: Engine, box: SecretBox) -> Fragmented:
    return rebalance_estate.build(session, engine, box)


def propose(client: TestClient, frag: Fragmented, budget: int) -> dict[str, Any]:
    response = client.post(
        f"{API}/rebalance", json={"migration_budget": budget}, headers=frag.admin.headers
    )
    assert response.status_code == 200 and response.json()["proposed"], response.text
    plan: dict[str, Any] = response.json()["plan"]
    return plan


def get(client: TestClient, frag: Fragmented, plan_id: int) -> dict[str, Any]:
    response = client.get(f"{API}/rebalance/{plan_id}", headers=frag.admin.headers)
    assert response.status_code == 200, response.text
    plan: dict[str, Any] = response.json()
    return plan


def placement(session: Session) -> dict[str, set[str]]:
    """Each managed service's live replicas by host name, as the inventory has them."""
    session.expire_all()
    rows = session.execute(
        sa.select(col(Workload.name), col(Host.name))
        .join(Replica, col(Replica.workload_id) == col(Workload.id))
        .join(Host, col(Host.id) == col(Replica.host_id))
        .where(col(Workload.cloud_id).is_(None), col(Replica.state) != ItemState.gone)
    ).all()
    found: dict[str, set[str]] = {}
    for service, host in rows:
        found.setdefault(service, set()).add(host)
    return found


def expected(before: dict[str, set[str]], moves: list[dict[str, Any]]) -> dict[str, set[str]]:
    after = {service: set(hosts) for service, hosts in before.items()}
    for m in moves:
        after[m["service"]] = (after[m["service"]] - {m["from_host"]}) | {m["to_host"]}
    return after


def made_by_simulator() -> set[str]:
    return {ext for made in SimulatorAdapter._made.values() for ext in made}


def actions_for(client: TestClient, frag: Fragmented, plan_id: int) -> list[str]:
    events = client.get(
        f"{API}/audit?limit=200&target_type=plan", headers=frag.admin.headers
    ).json()["items"]
    return [e["action"] for e in reversed(events) if e["target_id"] == str(plan_id)]


def test_approve_moves_replicas_and_sync_shows_the_new_hosts(
    client: TestClient, session: Session, box: SecretBox, frag: Fragmented
) -> None:
    before = placement(session)
    assert len(set().union(*before.values())) == 16
    plan = propose(client, frag, budget=12)
    assert plan["summary"]["hosts_after"] < 16
    approved = client.post(
        f"{API}/plans/{plan['id']}/approve",
        json={"comment": "夜间窗口"},
        headers=frag.admin.headers,
    )
    assert approved.status_code == 200, approved.text
    done = get(client, frag, plan["id"])
    assert done["status"] == "applied", done["summary"].get("outcome")
    assert {m["status"] for m in done["moves"]} == {"moved"}
    assert all(m["external_id"] and m["attempts"] == 1 for m in done["moves"])
    want = expected(before, done["moves"])
    assert placement(session) == want

    # The clouds agree: the new replicas run, the old ones are gone, after a sync too.
    made = made_by_simulator()
    assert {m["external_id"] for m in done["moves"]} <= made
    old = session.execute(
        sa.select(col(Replica.external_id)).where(
            col(Replica.id).in_([m["replica_id"] for m in done["moves"]])
        )
    ).scalars()
    assert made.isdisjoint(old)
    rebalance_estate.sync_all(session, box, frag.clouds)
    assert placement(session) == want
    assert len(set().union(*want.values())) == plan["summary"]["hosts_after"]

    # Packed now: nothing more to save.
    again = client.post(
        f"{API}/rebalance", json={"migration_budget": 12}, headers=frag.admin.headers
    ).json()
    assert not again["proposed"] and again["reason"].startswith("nothing to save")
    assert again["summary"]["hosts_before"] == plan["summary"]["hosts_after"]
    assert actions_for(client, frag, plan["id"]) == ["plan.propose", "plan.approve", "plan.applied"]


def test_failed_provision_keeps_the_old_replica_and_retry_completes(
    client: TestClient, session: Session, box: SecretBox, frag: Fragmented
) -> None:
    before = placement(session)
    plan = propose(client, frag, budget=12)
    victim = frag.clouds[1]
    assert {m["cloud"] for m in plan["moves"]} == {"frag-a", "frag-b"}
    fault = {"settings": {"faults": {"unreachable": True}}}
    client.patch(f"{API}/clouds/{victim.id}", json=fault, headers=frag.admin.headers)
    client.post(f"{API}/plans/{plan['id']}/approve", json={}, headers=frag.admin.headers)

    partial = get(client, frag, plan["id"])
    assert partial["status"] == "partial"
    failed = [m for m in partial["moves"] if m["status"] != "moved"]
    assert failed and {m["cloud"] for m in failed} == {victim.name}
    for m in failed:
        assert m["status"] == "failed" and "unreachable" in m["error"]
        assert "old replica is kept" in m["error"]
    assert f"{len(failed)} move(s) not done" in partial["summary"]["outcome"]
    # Nothing was deprovisioned whose replacement did not come up.
    moved = [m for m in partial["moves"] if m["status"] == "moved"]
    assert placement(session) == expected(before, moved)
    kept = session.execute(
        sa.select(Replica).where(col(Replica.id).in_([m["replica_id"] for m in failed]))
    ).scalars()
    assert all(r.state == ItemState.active for r in kept)

    # While the cloud is still down a sync degrades it, and the plan may not go on.
    client.post(f"{API}/clouds/{victim.id}/sync", headers=frag.admin.headers)
    refused = client.post(f"{API}/plans/{partial['id']}/retry", headers=frag.admin.headers)
    assert refused.status_code == 409, refused.text
    assert "stale" in refused.json()["error"] and "degraded" in refused.json()["error"]

    clear = {"settings": {"faults": None}}
    client.patch(f"{API}/clouds/{victim.id}", json=clear, headers=frag.admin.headers)
    assert client.post(f"{API}/clouds/{victim.id}/sync", headers=frag.admin.headers).json()["ok"]
    retried = client.post(f"{API}/plans/{plan['id']}/retry", headers=frag.admin.headers)
    assert retried.status_code == 200, retried.text
    final = get(client, frag, plan["id"])
    assert final["status"] == "applied"
    assert {m["status"] for m in final["moves"]} == {"moved"}
    assert all(m["attempts"] == 2 for m in final["moves"] if m["cloud"] == victim.name)
    want = expected(before, final["moves"])
    rebalance_estate.sync_all(session, box, frag.clouds)
    assert placement(session) == want
    assert actions_for(client, frag, plan["id"]) == [
        "plan.propose",
        "plan.approve",
        "plan.partial",
        "plan.retry",
        "plan.applied",
    ]


def test_a_stale_plan_is_refused_with_what_changed(
    client: TestClient, session: Session, engine: Engine, box: SecretBox, frag: Fragmented
) -> None:
    # A source host decommissioned since the proposal.
    plan = propose(client, frag, budget=2)
    source = plan["moves"][0]["from_host"]
    cloud = session.execute(sa.select(Cloud).where(col(Cloud.name) == plan["moves"][0]["cloud"]))
    row = cloud.scalar_one()
    gone = {"settings": {"faults": {"hosts_missing": [source]}}}
    client.patch(f"{API}/clouds/{row.id}", json=gone, headers=frag.admin.headers)
    assert client.post(f"{API}/clouds/{row.id}/sync", headers=frag.admin.headers).json()["ok"]
    refused = client.post(f"{API}/plans/{plan['id']}/approve", json={}, headers=frag.admin.headers)
    assert refused.status_code == 409
    assert f"source host {source} is gone" in refused.json()["error"]
    assert get(client, frag, plan["id"])["status"] == "proposed"  # nothing was decided

    # A target host filled up by another service since the proposal.
    client.patch(
        f"{API}/clouds/{row.id}", json={"settings": {"faults": None}}, headers=frag.admin.headers
    )
    client.post(f"{API}/clouds/{row.id}/sync", headers=frag.admin.headers)
    plan = propose(client, frag, budget=2)
    move = plan["moves"][0]
    target = session.execute(sa.select(Host).where(col(Host.name) == move["to_host"])).scalar_one()
    target_cloud = session.get(Cloud, target.cloud_id)
    assert target_cloud is not None
    free = int(target.vcpus * target.cpu_ratio) - target.vcpus_used
    rebalance_estate.pinned(
        session,
        engine,
        box,
        viewer_of(frag.admin.user),
        frag.dept.user.department_id or 0,
        target_cloud,
        "filler",
        [target],
        vcpus=free - 4,
        memory_mb=1024,
        disk_gb=10,
    )
    refused = client.post(f"{API}/plans/{plan['id']}/approve", json={}, headers=frag.admin.headers)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert "stale" in error and move["to_host"] in error and "vcpus" in error
    assert "Propose a new rebalance" in error


def test_a_replacement_the_cloud_does_not_list_active_never_costs_the_old_replica(
    client: TestClient, session: Session, box: SecretBox, frag: Fragmented
) -> None:
    before = placement(session)
    plan = propose(client, frag, budget=2)
    move = plan["moves"][0]
    cloud = session.execute(sa.select(Cloud).where(col(Cloud.name) == move["cloud"])).scalar_one()
    # The cloud accepts the create call but then does not list the target host (as if it
    # failed right after): the new replica is not running there, whatever provision said.
    lost = {"settings": {"faults": {"hosts_missing": [move["to_host"]]}}}
    client.patch(f"{API}/clouds/{cloud.id}", json=lost, headers=frag.admin.headers)
    client.post(f"{API}/plans/{plan['id']}/approve", json={}, headers=frag.admin.headers)
    partial = get(client, frag, plan["id"])
    assert partial["status"] == "partial"
    waiting = [m for m in partial["moves"] if m["to_host"] == move["to_host"]]
    for m in waiting:
        assert m["status"] == "provisioned" and "not active" in m["error"]
        assert "old one is kept" in m["error"]
    done = [m for m in partial["moves"] if m["status"] == "moved"]
    assert len(done) == len(partial["moves"]) - len(waiting)
    old = {r.id: r for r in session.execute(sa.select(Replica)).scalars()}
    assert all(old[m["replica_id"]].state == ItemState.active for m in waiting)
    assert {old[m["replica_id"]].external_id for m in waiting} <= made_by_simulator()
    # Half-done moves finish before another rebalance may start.
    blocked = client.post(
        f"{API}/rebalance", json={"migration_budget": 2}, headers=frag.admin.headers
    )
    assert blocked.status_code == 409 and "half-done" in blocked.json()["error"]

    client.patch(
        f"{API}/clouds/{cloud.id}", json={"settings": {"faults": None}}, headers=frag.admin.headers
    )
    retried = client.post(f"{API}/plans/{plan['id']}/retry", headers=frag.admin.headers)
    assert retried.status_code == 200, retried.text
    final = get(client, frag, plan["id"])
    assert final["status"] == "applied"
    # The retry confirmed the replica the first try made; it did not make another.
    assert all(m["attempts"] == 1 for m in final["moves"])
    assert placement(session) == expected(before, final["moves"])
    rebalance_estate.sync_all(session, box, frag.clouds)
    assert placement(session) == expected(before, final["moves"])
