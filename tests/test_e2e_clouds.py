"""End to end: three real kinds of cloud in one inventory, and one request placed across them.

The OpenStack test bed, moto's EC2 server (through libcloud) and the Kubernetes replay are
registered with `yunheng cloud add` (each checked before it is saved) and synced with
`yunheng sync`, into one database (SQLite, then PostgreSQL). A department asks through the API
for three replicas that may not share a zone, on x86_64: exactly one zone of each cloud
qualifies, so the plan must span all three. After an admin approves, each peer is asked
directly whether the replica it holds is where the plan put it.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from console.cli import app
from inventory.models import Resource, Role
from tests import factories

if TYPE_CHECKING:
    from tests.adapter_peers import Peer
    from tests.k8s_replay.server import ReplayServer
    from tests.moto_peer import MotoServer
    from tests.openstack_bed import Bed

pytest_plugins = ("tests.adapter_peers",)

API = "/api/v1"
KINDS = {"os-bed": "openstack", "ec2-moto": "libcloud", "k8s-replay": "kubernetes"}
ASK_ARCH = "x86_64"
REQUEST = {"service_name": "e2e-portal", "vcpus": 1, "memory_mb": 1024, "disk_gb": 10}

runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def by_cloud(items: list[dict[str, Any]], field: str = "external_id") -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for item in items:
        grouped.setdefault(item["cloud"], set()).add(item[field])
    return grouped


def kube_get(replay: ReplayServer, path: str) -> Any:
    """Ask the Kubernetes peer itself, over its API, as kubectl would."""
    from tests.adapter_peers import K8S_ADMIN_TOKEN

    request = urllib.request.Request(  # noqa: S310 (the replay's http URL on 127.0.0.1)
        replay.url + path, headers={"Authorization": f"Bearer {K8S_ADMIN_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.load(answer)


# Where each peer itself says a replica is, in the inventory's host ids.


def openstack_host(bed: Bed, server_id: str) -> str:
    server = bed.server(server_id)
    assert server["status"] == "ACTIVE", server["status"]
    return str(server["OS-EXT-SRV-ATTR:hypervisor_hostname"])


def ec2_host(moto: MotoServer, instance_id: str) -> str:
    from tests.moto_peer import ec2_driver

    (node,) = [n for n in ec2_driver(moto).list_nodes() if str(n.id) == instance_id]
    assert node.state == "running", node.state
    return f"pool:{node.extra['availability']}"


def kubernetes_host(replay: ReplayServer, replica_id: str) -> str:
    """The node the Deployment's required node affinity names, checked against its pod's."""
    namespace, name = replica_id.split("/")
    deployment = kube_get(replay, f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    affinity = deployment["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    (term,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    (pinned,) = term["matchExpressions"][0]["values"]
    ours = [
        p["spec"].get("nodeName")
        for p in kube_get(replay, "/api/v1/pods")["items"]
        if p["metadata"]["namespace"] == namespace and p["metadata"]["name"].startswith(f"{name}-")
    ]
    assert ours == [pinned], f"its one pod runs on {ours}, pinned to {pinned}"
    assert namespace == "e2e-dept", "a namespace per department"
    return str(pinned)


def test_three_clouds_in_one_inventory_and_a_request_placed_across_them(
    cli_env: str,
    client: TestClient,
    session: Session,
    tmp_path: Path,
    osbed: Bed,
    moto_ec2: MotoServer,
    k8s_replay: ReplayServer,
) -> None:
    from tests.adapter_peers import ec2_peer, kubernetes_peer, openstack_peer

    moto_ec2.reset()
    peers: dict[str, Peer] = {
        "os-bed": openstack_peer(osbed),
        "ec2-moto": ec2_peer(moto_ec2, locations=["us-east-1a"]),
        "k8s-replay": kubernetes_peer(k8s_replay),
    }
    for name, peer in peers.items():
        out = cli(*peer.cli_add(name, tmp_path))
        assert "check list: ok" in out and "check provision: ok" in out, out
    synced = cli("sync")
    for name in peers:
        assert f"ok {name}:" in synced, synced

    # --- one inventory ----------------------------------------------------------------------
    admin = factories.user(session, "e2e-admin", Role.admin).headers
    clouds = client.get(f"{API}/clouds?limit=500", headers=admin).json()["items"]
    assert {c["name"]: (c["kind"], c["status"]) for c in clouds} == {
        name: (kind, "ok") for name, kind in KINDS.items()
    }
    zones = by_cloud(client.get(f"{API}/zones?limit=500", headers=admin).json()["items"])
    nova = osbed.get("compute", "/os-availability-zone/detail")["availabilityZoneInfo"]
    assert zones == {
        "os-bed": {z["zoneName"] for z in nova if z["zoneName"] != "internal"},
        "ec2-moto": {"us-east-1a"},
        "k8s-replay": {"prov-dc2-az1", "prov-dc2-az2"},
    }
    hosts = client.get(f"{API}/hosts?limit=500", headers=admin).json()["items"]
    listed = by_cloud(hosts)
    assert {"fake-compute-1", "fake-compute-2", "fake-compute-3"} <= listed["os-bed"]
    assert listed["ec2-moto"] == {"pool:us-east-1a"}
    assert listed["k8s-replay"] == {"cp-1", "node-a1", "node-a2", "node-b1", "node-b2", "node-gpu1"}
    placement = osbed.providers()
    for host in hosts:
        if host["cloud"] == "os-bed":  # sizes as Placement reports them
            inventory = placement[host["external_id"]]["inventories"]["VCPU"]
            assert host["vcpus"] == inventory["total"] - inventory["reserved"]
    pool = next(h for h in hosts if h["cloud"] == "ec2-moto")
    assert (pool["vcpus"], pool["extra"]["pool"]) == (
        64,
        "elastic capacity pool bounded by account quota",
    )
    external = {(h["cloud"], h["name"]): h["external_id"] for h in hosts}

    # --- a request placed across them --------------------------------------------------------
    # As many replicas as there are zones with an x86_64 host up, and losing any zone must
    # leave all but one: so one replica in every such zone, and every cloud has one.
    usable = {
        (h["cloud"], h["zone"]) for h in hosts if h["state"] == "up" and h["arch"] == ASK_ARCH
    }
    assert {cloud for cloud, _ in usable} == set(KINDS)
    ask = {**REQUEST, "arch": ASK_ARCH, "replicas": len(usable), "min_healthy": len(usable) - 1}
    dept = factories.department(session, "e2e-dept", {Resource.vcpus: 64, Resource.instances: 8})
    user = factories.user(session, "e2e-user", Role.department, dept.id)
    asked = client.post(f"{API}/requests", json=ask, headers=user.headers)
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["status"] == "planned", request["reason"]
    plan = request["plans"][0]
    assert {(a["cloud"], a["zone"]) for a in plan["allocations"]} == usable, "one in each zone"
    planned = {
        a["id"]: (a["cloud"], external[(a["cloud"], a["host"])]) for a in plan["allocations"]
    }
    assert ("ec2-moto", "pool:us-east-1a") in planned.values()

    made: list[tuple[str, str]] = []
    try:
        approved = client.post(
            f"{API}/plans/{plan['id']}/approve", json={"comment": "e2e"}, headers=admin
        )
        assert approved.status_code == 200, approved.text
        done = client.get(f"{API}/requests/{request['id']}", headers=user.headers).json()
        allocations = done["plans"][0]["allocations"]
        made = [(a["cloud"], a["external_id"]) for a in allocations if a["external_id"]]
        assert done["status"] == "fulfilled", (done["reason"], allocations)
        peer_says: dict[str, Callable[[str], str]] = {
            "os-bed": lambda server_id: openstack_host(osbed, server_id),
            "ec2-moto": lambda instance_id: ec2_host(moto_ec2, instance_id),
            "k8s-replay": lambda replica_id: kubernetes_host(k8s_replay, replica_id),
        }
        for allocation in allocations:
            cloud, host = planned[allocation["id"]]
            assert peer_says[cloud](allocation["external_id"]) == host, (cloud, allocation)

        # A later sync keeps every replica with the one service that spans the clouds.
        cli("sync")
        workload = client.get(f"{API}/workloads/{done['workload_id']}", headers=user.headers)
        replicas = workload.json()["replicas"]
        assert sorted(r["external_id"] for r in replicas) == sorted(e for _, e in made)
        assert {r["state"] for r in replicas} == {"active"}
    finally:
        for cloud, external_id in made:
            peers[cloud].remove(external_id)
    assert made, "nothing was provisioned"
