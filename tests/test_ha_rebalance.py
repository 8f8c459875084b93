"""A rebalance whose applying replica is SIGKILLed is finished by the other replica.

Two `yunheng serve` replicas on PostgreSQL and slow simulated clouds that keep what they
make in a shared directory (as a real cloud would outlive any one Yunheng process). The
replica applying an approved rebalance is killed mid-apply; the survivor's resume job
(scheduler.rebalance_resume) carries the plan on from the stored move statuses. In the
end every move is done, each new replica exists once, every old one is gone, and the
inventory says what the clouds say.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters.registry import build_adapter
from inventory.crypto import SecretBox
from inventory.models import AuditEvent, Cloud, ItemState, Plan, PlanStatus, Replica
from inventory.models.requests import MoveStatus
from inventory.settings import Settings
from tests import rebalance_estate
from tests.ha_cluster import Cluster, call, running_cluster
from tests.prom_peer import wait_until
from tests.rebalance_estate import moves

pytestmark = pytest.mark.postgres
PROVISION_DELAY = 1.0  # per move: the apply is still running when the replica is killed


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    yield from running_cluster(request, tmp_path)


def plan_status(engine: Engine, plan_id: int) -> Any:
    with Session(engine) as session:
        plan = session.get(Plan, plan_id)
        return plan.status if plan else None


def slow_clouds(engine: Engine) -> dict[int, dict[str, Any]]:
    """Every cloud made slow to provision; their ids and settings as they were."""
    with Session(engine) as session:
        rows = list(session.execute(sa.select(Cloud)).scalars())
        before = {row.id or 0: dict(row.settings) for row in rows}
        for row in rows:
            row.settings = {**row.settings, "faults": {"provision_delay_seconds": PROVISION_DELAY}}
            session.add(row)
        session.commit()
        return before


def test_a_rebalance_whose_replica_is_killed_is_finished_by_the_other_once(
    cluster: Cluster,
) -> None:
    shared = cluster.folder / "clouds"
    box = SecretBox.from_settings(Settings(secret_key=cluster.env["YUNHENG_SECRET_KEY"]))
    with Session(cluster.engine) as session:
        frag = rebalance_estate.build(session, cluster.engine, box, state_dir=shared)
        token = frag.admin.token
    clouds = slow_clouds(cluster.engine)
    a, _ = cluster.start("a"), cluster.start("b")

    code, proposed = call(f"{a}/api/v1/rebalance", token, {"migration_budget": 4})
    assert code == 200 and proposed["proposed"], proposed
    plan_id = int(proposed["plan"]["id"])
    assert len(proposed["plan"]["moves"]) >= 2
    code, approved = call(f"{a}/api/v1/plans/{plan_id}/approve", token, {})
    assert code == 200, approved
    started = lambda: any(m.status != MoveStatus.pending for m in moves(cluster.engine, plan_id))  # noqa: E731
    wait_until(started, 30, "the first move")
    cluster.nodes["a"].send_signal(signal.SIGKILL)
    cluster.nodes["a"].wait()
    assert any(m.status != MoveStatus.moved for m in moves(cluster.engine, plan_id)), (
        "killed before the apply ended"
    )

    wait_until(lambda: plan_status(cluster.engine, plan_id) == PlanStatus.applied, 90, "resume")
    done = moves(cluster.engine, plan_id)
    assert all(m.status == MoveStatus.moved for m in done)
    with Session(cluster.engine) as session:
        actions = list(
            session.execute(
                sa.select(col(AuditEvent.action)).where(
                    col(AuditEvent.target_type) == "plan",
                    col(AuditEvent.target_id) == str(plan_id),
                )
            ).scalars()
        )
        assert actions.count("plan.resume") == 1 and actions.count("plan.applied") == 1
        replicas = {
            (r.cloud_id, r.external_id): r
            for r in session.execute(
                sa.select(Replica).where(col(Replica.workload_id).isnot(None))
            ).scalars()
        }
    for m in done:
        old = next(r for r in replicas.values() if r.id == m.replica_id)
        assert old.state == ItemState.gone
        assert replicas[m.cloud_id, m.external_id].state == ItemState.active
    # What the clouds run: every new replica once, no old one left, nothing else made.
    active = {key for key, r in replicas.items() if r.state == ItemState.active}
    running = set()
    for cloud_id, settings in clouds.items():
        listed = build_adapter("simulator", settings).discover()
        running |= {(cloud_id, r.external_id) for r in listed.replicas if r.workload is None}
    assert running == {key for key in active if key[1].startswith("sim-made-")}
