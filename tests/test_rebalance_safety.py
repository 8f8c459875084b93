"""A rebalance never passes through a state that breaks a service's rules: moves pair old
and new replicas by zone, and apply keeps an old replica while its service still needs it."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from inventory.crypto import SecretBox
from inventory.models import ItemState, Plan, PlanStatus, Replica, Workload
from inventory.models.requests import MoveStatus, PlanKind, PlanMove
from scheduler import rebalance_apply
from scheduler.evaluate import assignments
from scheduler.index import build_index
from scheduler.problem import Problem
from tests import rebalance_estate
from tests.rebalance_estate import Fragmented

API = "/api/v1"


def test_moves_pair_old_and_new_replicas_in_the_same_zone() -> None:
    problem = Problem.model_validate(
        {
            "mode": "rebalance",
            "migration_budget": 2,
            "clouds": [{"id": "c", "region": "r", "security_level": 3}],
            "zones": [
                {"id": z, "cloud": "c", "region": "r", "availability": 0.999} for z in ("z1", "z2")
            ],
            "hosts": [
                {"id": f"{z}-h{i}", "zone": z, "capacity": {"vcpus": 16, "memory_mb": 32768}}
                for z in ("z1", "z2")
                for i in range(2)
            ],
            "services": [
                {
                    "id": "s",
                    "department": "d",
                    "replicas": 2,
                    "demand": {"vcpus": 2, "memory_mb": 1024},
                    "min_healthy": 1,
                    "current": ["z1-h0", "z2-h0"],
                }
            ],
            "departments": [{"id": "d"}],
        }
    )
    index = build_index(problem)
    hosts = {h: i for i, h in enumerate(index.host_ids)}
    # Both replicas leave their hosts: whatever the solver's order, each new one replaces
    # the old one of its own zone, never a swap of zones.
    for order in (["z1-h1", "z2-h1"], ["z2-h1", "z1-h1"]):
        placed = assignments(index, {0: [hosts[h] for h in order]})
        assert {(a.moved_from, a.host) for a in placed} == {
            ("z1-h0", "z1-h1"),
            ("z2-h0", "z2-h1"),
        }


def test_a_move_keeps_its_old_replica_while_a_failed_move_of_its_service_needs_it(
    client: TestClient, session: Session, engine: Engine, box: SecretBox
) -> None:
    frag: Fragmented = rebalance_estate.build(session, engine, box)
    cloud = frag.clouds[0]
    zone_a, zone_b = rebalance_estate.hosts_by_zone(session, cloud)
    workload = session.execute(
        sa.select(Workload).where(col(Workload.name) == f"{cloud.name}-svc0")
    ).scalar_one()
    on = {
        r.host_id: r
        for r in session.execute(
            sa.select(Replica).where(col(Replica.workload_id) == workload.id)
        ).scalars()
    }
    in_a, in_b = on[zone_a[0].id], on[zone_b[0].id]
    # A zone swap (as arbitrary pairing once proposed): b's replica to zone a, a's to zone b.
    # The first move's new replica never shows up as running.
    plan = Plan(kind=PlanKind.rebalance, status=PlanStatus.approved, solver="test")
    session.add(plan)
    session.flush()
    for position, (replica, target) in enumerate(((in_b, zone_a[1]), (in_a, zone_b[1]))):
        session.add(
            PlanMove(
                plan_id=plan.id or 0,
                position=position,
                workload_id=workload.id or 0,
                replica_id=replica.id or 0,
                from_host_id=replica.host_id or 0,
                to_host_id=target.id or 0,
                cloud_id=cloud.id or 0,
                idempotency_key=f"yh-rb-test-{position}",
                status=MoveStatus.pending,
            )
        )
    session.commit()
    faults = {"settings": {"faults": {"hosts_missing": [zone_a[1].external_id]}}}
    patched = client.patch(f"{API}/clouds/{cloud.id}", json=faults, headers=frag.admin.headers)
    assert patched.status_code == 200, patched.text

    status = rebalance_apply.apply_moves(engine, box, plan.id or 0, actor="admin1", timeout=10)

    assert status == PlanStatus.partial
    first, second = moves_of(session, plan.id or 0)
    assert first.status == MoveStatus.provisioned and "not active" in (first.error or "")
    # The second move's new replica runs in zone b, but removing the old one from zone a
    # would leave both running replicas in zone b: min_healthy 1 would not survive losing it.
    assert second.status == MoveStatus.provisioned
    assert "is kept" in (second.error or "") and "losing zone" in (second.error or "")
    session.expire_all()
    assert all(session.get(Replica, r.id).state == ItemState.active for r in (in_a, in_b))  # type: ignore[union-attr]

    client.patch(
        f"{API}/clouds/{cloud.id}", json={"settings": {"faults": None}}, headers=frag.admin.headers
    )
    retried = client.post(f"{API}/plans/{plan.id}/retry", headers=frag.admin.headers)
    assert retried.status_code == 200, retried.text
    session.expire_all()
    assert session.get(Plan, plan.id).status == PlanStatus.applied  # type: ignore[union-attr]
    assert all(
        m.status == MoveStatus.moved and m.attempts == 1 for m in moves_of(session, plan.id or 0)
    )
    running = session.execute(
        sa.select(col(Replica.host_id)).where(
            col(Replica.workload_id) == workload.id, col(Replica.state) == ItemState.active
        )
    ).scalars()
    assert set(running) == {zone_a[1].id, zone_b[1].id}


def moves_of(session: Session, plan_id: int) -> list[PlanMove]:
    session.expire_all()
    return list(
        session.execute(
            sa.select(PlanMove)
            .where(col(PlanMove.plan_id) == plan_id)
            .order_by(col(PlanMove.position))
        ).scalars()
    )
