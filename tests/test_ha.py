"""High availability on a real PostgreSQL: two `yunheng serve` replicas, one killed.

(a) Failover: the lease holder runs the alert loop; SIGKILL it and the survivor holds the
lease within two intervals, every alert (one firing before the kill, one during the gap) is
paged exactly once, and the survivor's API answers throughout.
(b) Restarts mid-apply: SIGTERM drains the approval's apply before the process exits; after
SIGKILL the survivor's resume job (scheduler.resume) finishes the plan. Every allocation is
provisioned by exactly one committed call.

Only order and counts are asserted, except the issue's own bound ("within two intervals"),
which is measured by polling and compared with an allowance explained where it is used.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters import service as clouds
from alerts.leader import TTL_INTERVALS, current
from alerts.loop import LEASE_NAME
from inventory.crypto import SecretBox
from inventory.models import Allocation, AuditEvent, Plan, PlanStatus, Replica, Resource, Role
from inventory.settings import Settings
from tests import factories
from tests.ha_cluster import Cluster, call, running_cluster
from tests.prom_peer import (
    INTERVAL,
    LOAD_RULE,
    MetricsTarget,
    WebhookReceiver,
    prometheus,
    require_peers,
    wait_until,
    webhook_route,
    write_rules,
)

pytestmark = pytest.mark.postgres

# The lease bound is 1.75 intervals (alerts.leader). The rest of the allowance covers a
# heartbeat that APScheduler's thread pool starts late and the takeover's commit, on this
# 2-core machine running PostgreSQL, Prometheus and two replicas at once.
TAKEOVER_ALLOWANCE = 0.5
MEMORY_RULE = {**LOAD_RULE, "alert": "HighMemory", "expr": "yh_mem > 0.8"}
PROVISION_DELAY = 1.0  # per replica: a 4-replica apply is still running when it is signalled


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    yield from running_cluster(request, tmp_path)


class Poller(threading.Thread):
    """GETs /readyz and a list endpoint of each replica, back to back, until stopped."""

    def __init__(self, urls: dict[str, str], token: str) -> None:
        super().__init__(daemon=True)
        self.urls, self.token = dict(urls), token
        self.ok: Counter[str] = Counter()
        self.failed: dict[str, list[str]] = {name: [] for name in urls}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.1):
            for name, url in self.urls.items():
                for path in ("/readyz", "/api/v1/alerts?limit=5"):
                    try:
                        code, _ = call(url + path, self.token)
                    except (URLError, OSError) as exc:
                        self.failed[name].append(f"{path}: {type(exc).__name__}")
                        continue
                    if code == 200:
                        self.ok[name] += 1
                    else:
                        self.failed[name].append(f"{path}: HTTP {code}")


def pages(hook: WebhookReceiver, alertname: str, status: str) -> int:
    return sum(
        1
        for got in hook.received
        if got.body.get("groupLabels", {}).get("alertname") == alertname
        and got.body.get("status") == status
    )


def test_failover_within_two_intervals_pages_once_and_keeps_answering(
    cluster: Cluster, tmp_path: Path
) -> None:
    require_peers()
    with Session(cluster.engine) as session:
        token = factories.user(session, "admin-ha", Role.admin).token
    rules = write_rules(tmp_path / "rules.yml", [{"name": "ha", "rules": [LOAD_RULE, MEMORY_RULE]}])
    with MetricsTarget() as target, WebhookReceiver() as hook:
        target.set("yh_load", 0.1, node="n1")
        target.set("yh_mem", 0.1, node="n1")
        with Session(cluster.engine) as session:
            webhook_route(session, hook.url, group_wait=0)
        with prometheus(tmp_path / "prom", targets=[target.address]) as prom:
            cluster.env |= {"YUNHENG_PROMETHEUS_URL": prom.url, "YUNHENG_RULE_FILES": str(rules)}
            cluster.start("a")
            cluster.start("b")
            # Both serve; exactly one holds the lease, and keeps it while both live.
            wait_until(lambda: current(cluster.engine, LEASE_NAME) is not None, 30, "a leader")
            first = cluster.lease()
            cluster.leads_for(3)
            assert cluster.lease().acquired_at == first.acquired_at
            leader = cluster.by_holder(first)
            survivor = next(name for name in cluster.nodes if name != leader)

            poller = Poller(cluster.urls, token)
            poller.start()
            target.set("yh_load", 0.95, node="n1")
            hook.wait_for(lambda _: pages(hook, "HighLoad", "firing") >= 1, 60, "HighLoad's page")
            # The second alert starts firing while nobody leads: it must not be lost.
            target.set("yh_mem", 0.95, node="n1")
            killed_at = datetime.now(UTC)
            cluster.nodes[leader].send_signal(signal.SIGKILL)
            cluster.nodes[leader].wait()
            wait_until(
                lambda: cluster.by_holder(cluster.lease()) == survivor, 30, "the takeover", 0.02
            )
            takeover = (cluster.lease().acquired_at - killed_at).total_seconds()
            assert takeover <= 2 * INTERVAL + TAKEOVER_ALLOWANCE, takeover

            hook.wait_for(lambda _: pages(hook, "HighMemory", "firing") >= 1, 60, "HighMemory")
            cluster.leads_for(3)  # room for a second page, were there to be one
            target.set("yh_load", 0.1, node="n1")
            target.set("yh_mem", 0.1, node="n1")
            hook.wait_for(
                lambda _: all(pages(hook, n, "resolved") for n in ("HighLoad", "HighMemory")),
                60,
                "both recoveries",
            )
            cluster.leads_for(3)
            poller.halt.set()
            poller.join()

    for name in ("HighLoad", "HighMemory"):
        assert (pages(hook, name, "firing"), pages(hook, name, "resolved")) == (1, 1), name
    assert poller.failed[survivor] == [] and poller.ok[survivor] > 10
    assert cluster.by_holder(cluster.lease()) == survivor
    assert (cluster.lease().expires_at - cluster.lease().acquired_at).total_seconds() > (
        TTL_INTERVALS * INTERVAL
    )


# --- (b) restarts while a plan is being applied ----------------------------------------------


def estate(cluster: Cluster) -> tuple[str, int]:
    """An admin's token, and a department whose requests land on a slow simulated cloud."""
    box = SecretBox.from_settings(Settings(secret_key=cluster.env["YUNHENG_SECRET_KEY"]))
    with Session(cluster.engine) as session:
        dept = factories.department(
            session, "dept-ha", {Resource.vcpus: 1000, Resource.instances: 100}
        )
        cloud = factories.cloud(
            session,
            box,
            "sim-slow",
            {
                "profile": "openstack",
                "seed": 11,
                "region": "ha",
                "hosts_per_zone": 4,
                "workloads": 0,
                "faults": {"provision_delay_seconds": PROVISION_DELAY},
            },
        )
        assert clouds.sync(session, factories.SYSTEM, cloud.id or 0, box).ok
        session.commit()
        return factories.user(session, "admin-ha", Role.admin).token, dept.id or 0


def approve(url: str, token: str, department_id: int, name: str) -> int:
    """Request 4 replicas and approve the plan on the replica at `url`: its plan id."""
    ask = {"service_name": name, "replicas": 4, "vcpus": 2, "memory_mb": 2048}
    code, made = call(f"{url}/api/v1/requests", token, {**ask, "department_id": department_id})
    assert code == 201, made
    plan_id = int(made["plans"][0]["id"])
    code, approved = call(f"{url}/api/v1/plans/{plan_id}/approve", token, {})
    assert code == 200, approved
    return plan_id


def allocations(engine: Engine, plan_id: int) -> list[Allocation]:
    with Session(engine) as session:
        query = sa.select(Allocation).where(col(Allocation.plan_id) == plan_id)
        return list(session.execute(query.order_by(col(Allocation.replica_index))).scalars())


def provisioned(engine: Engine, plan_id: int) -> int:
    return sum(a.status == "provisioned" for a in allocations(engine, plan_id))


def assert_applied_once(engine: Engine, plan_id: int) -> list[str]:
    """The plan is applied, each allocation by exactly one committed call, one replica each;
    returns the plan's audit actions."""
    with Session(engine) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None and plan.status == PlanStatus.applied
        rows = allocations(engine, plan_id)
        assert [a.attempts for a in rows] == [1] * 4
        replicas = session.execute(
            sa.select(col(Replica.external_id)).where(
                col(Replica.external_id).in_([a.external_id for a in rows])
            )
        ).scalars()
        assert sorted(replicas) == sorted(f"sim-made-{a.idempotency_key}" for a in rows)
        actions = session.execute(
            sa.select(col(AuditEvent.action)).where(
                col(AuditEvent.target_type) == "plan", col(AuditEvent.target_id) == str(plan_id)
            )
        ).scalars()
        return list(actions)


def test_restarts_mid_apply_lose_no_approval(cluster: Cluster) -> None:
    token, department = estate(cluster)
    cluster.start("a")
    cluster.start("b")

    # Rolling restart: SIGTERM waits for the apply in flight, then the replica comes back.
    plan = approve(cluster.urls["a"], token, department, "svc-term")
    wait_until(lambda: provisioned(cluster.engine, plan) >= 1, 30, "the first replica")
    assert provisioned(cluster.engine, plan) < 4, "signalled before the apply ended"
    cluster.nodes["a"].send_signal(signal.SIGTERM)
    # uvicorn drains, shuts down, then re-raises the signal it caught: -SIGTERM is a clean end.
    assert cluster.nodes["a"].wait(timeout=30) == -signal.SIGTERM
    actions = assert_applied_once(cluster.engine, plan)
    assert actions.count("plan.applied") == 1 and "plan.resume" not in actions  # not stolen
    restarted = cluster.start("a")
    assert call(f"{restarted}/readyz")[0] == 200

    # SIGKILL mid-apply: the other replica's resume job finishes the plan.
    plan = approve(restarted, token, department, "svc-kill")
    wait_until(lambda: provisioned(cluster.engine, plan) >= 1, 30, "the first replica")
    cluster.nodes["a"].send_signal(signal.SIGKILL)
    cluster.nodes["a"].wait()
    before = {a.id: a.updated_at for a in allocations(cluster.engine, plan)}
    made_before = [a.id for a in allocations(cluster.engine, plan) if a.status == "provisioned"]
    assert 1 <= len(made_before) < 4, "killed before the apply ended"
    wait_until(lambda: _status(cluster.engine, plan) == PlanStatus.applied, 60, "the resume")
    actions = assert_applied_once(cluster.engine, plan)
    assert actions.count("plan.resume") == 1 and actions.count("plan.applied") == 1
    after = {a.id: a.updated_at for a in allocations(cluster.engine, plan)}
    assert all(after[i] == before[i] for i in made_before), "made before the kill, not redone"


def _status(engine: Engine, plan_id: int) -> Any:
    with Session(engine) as session:
        plan = session.get(Plan, plan_id)
        return plan.status if plan else None
