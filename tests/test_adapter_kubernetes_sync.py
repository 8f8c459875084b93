"""The Kubernetes adapter behind adapters.service and the request workflow, on a real database
(SQLite and PostgreSQL), against the replay API server (tests/k8s_replay)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col

from adapters import service as clouds
from inventory.crypto import SecretBox
from inventory.models import (
    Cloud,
    CloudCreate,
    CloudStatus,
    Host,
    HostState,
    Replica,
    Resource,
    Role,
    Workload,
)
from tests import factories
from tests.k8s_replay.estates import small_cluster
from tests.k8s_replay.server import ReplayServer, kubeconfig_text, serve

API = "/api/v1"
FAST = {"retries": 1, "backoff_seconds": 0.01, "connect_timeout_seconds": 2}


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with serve(small_cluster()) as server:
        yield server


def _register(session: Session, box: SecretBox, replay: ReplayServer) -> Cloud:
    """The replay cluster as a registered cloud; the kubeconfig is an encrypted credential."""
    data = CloudCreate(
        name="k8s-replay",
        kind="kubernetes",
        vendor="Replay",
        region="prov-dc2",
        security_level=3,
        settings={"context": "replay", **FAST},
        credentials={"kubeconfig": kubeconfig_text(replay.url, "admin-token")},
    )
    cloud = clouds.register_cloud(session, factories.SYSTEM, data, box)
    session.commit()
    return cloud


def _sync(session: Session, box: SecretBox, cloud: Cloud) -> Any:
    outcome = clouds.sync(session, factories.SYSTEM, cloud.id or 0, box)
    session.commit()
    return outcome


def _live(session: Session, cloud_id: int) -> dict[str, int]:
    counts = {}
    for table, gone in ((Host, HostState.gone), (Workload, "gone"), (Replica, "gone")):
        t: Any = table
        counts[table.__name__] = session.execute(
            sa.select(sa.func.count()).where(t.cloud_id == cloud_id, t.state != gone)
        ).scalar_one()
    return counts


@pytest.mark.parametrize("fault", ["revoked token", "server stopped"])
def test_failing_cluster_degrades_the_cloud_and_keeps_its_inventory(
    session: Session, box: SecretBox, replay: ReplayServer, fault: str
) -> None:
    cloud = _register(session, box, replay)
    first = _sync(session, box, cloud)
    assert first.ok, first.error
    before = _live(session, cloud.id or 0)
    assert before == {"Host": 6, "Workload": 4, "Replica": 8}
    down = session.execute(
        sa.select(col(Host.state)).where(col(Host.external_id) == "node-b2")
    ).scalar_one()
    assert down == HostState.down

    if fault == "revoked token":
        replay.cluster.tokens.clear()
        expected = "HTTP 401 Unauthorized"
    else:
        replay.stop()
        expected = "cannot reach the API server"
    outcome = _sync(session, box, cloud)
    assert not outcome.ok
    session.refresh(cloud)
    assert cloud.status == CloudStatus.degraded
    assert cloud.last_error is not None
    assert f"kubernetes cluster {replay.url}: list nodes failed" in cloud.last_error
    assert expected in cloud.last_error
    assert "admin-token" not in cloud.last_error
    assert _live(session, cloud.id or 0) == before, "nothing marked gone"


def test_request_is_provisioned_on_the_planned_nodes_and_kept_by_sync(
    client: TestClient, session: Session, box: SecretBox, replay: ReplayServer
) -> None:
    department = factories.department(
        session, "health", {Resource.vcpus: 64, Resource.instances: 10}
    )
    admin = factories.user(session, "admin1", Role.admin)
    user = factories.user(session, "health1", Role.department, department.id)
    cloud = _register(session, box, replay)
    assert _sync(session, box, cloud).ok

    ask = {"service_name": "clinic-api", "replicas": 2, "vcpus": 2, "memory_mb": 4096}
    made = client.post(f"{API}/requests", json={**ask, "min_healthy": 1}, headers=user.headers)
    assert made.status_code == 201, made.text
    plan = made.json()["plans"][0]
    planned = {a["host"] for a in plan["allocations"]}
    assert len(planned) == 2
    approved = client.post(
        f"{API}/plans/{plan['id']}/approve", json={"comment": "ok"}, headers=admin.headers
    )
    assert approved.status_code == 200, approved.text
    done = client.get(f"{API}/requests/{made.json()['id']}", headers=user.headers).json()
    assert done["status"] == "fulfilled", done

    # In the cluster: one pinned Deployment per replica, in the department's namespace.
    pinned = {
        d["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0]
        for (namespace, _), d in replay.cluster.deployments.items()
        if namespace == "health"
    }
    assert pinned == planned
    external = {a["external_id"] for a in done["plans"][0]["allocations"]}
    assert external == {
        f"health/{name}" for (ns, name) in replay.cluster.deployments if ns == "health"
    }

    # After a sync the service keeps its two replicas, on the planned nodes, still active.
    assert _sync(session, box, cloud).ok
    workload = client.get(f"{API}/workloads/{done['workload_id']}", headers=user.headers).json()
    assert {r["host"] for r in workload["replicas"]} == pinned
    assert {r["state"] for r in workload["replicas"]} == {"active"}
