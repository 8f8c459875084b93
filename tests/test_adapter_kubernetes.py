"""The Kubernetes adapter end to end against the replay API server (tests/k8s_replay).

The real `kubernetes` client runs unchanged: kubeconfig loading, bearer-token auth, HTTP,
paging, JSON (de)serialisation and ApiException. Only the API server is a replay, serving
recorded v1 JSON shapes from a stateful fake cluster on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from adapters.base import AdapterError, Capability, ProvisionRequest
from adapters.kubernetes import KubernetesAdapter
from adapters.kubernetes_discover import pod_requests, quantity
from adapters.kubernetes_workload import object_name
from adapters.registry import AdapterConfigError, build_adapter
from inventory.models import HostState
from inventory.snapshot import HostInfo, Snapshot
from tests.k8s_replay.estates import small_cluster
from tests.k8s_replay.server import ReplayServer, kubeconfig_text, serve

FAST = {"retries": 1, "backoff_seconds": 0.01, "connect_timeout_seconds": 2}


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with serve(small_cluster()) as server:
        yield server


def adapter_for(replay: ReplayServer, tmp_path: Path, **settings: Any) -> KubernetesAdapter:
    path = replay.kubeconfig(tmp_path / "kubeconfig")
    built = build_adapter(
        "kubernetes", {"kubeconfig_path": str(path), "context": "replay", **FAST, **settings}
    )
    assert isinstance(built, KubernetesAdapter)
    return built


@pytest.fixture
def adapter(replay: ReplayServer, tmp_path: Path) -> KubernetesAdapter:
    return adapter_for(replay, tmp_path)


def hosts(snapshot: Snapshot) -> dict[str, HostInfo]:
    return {h.external_id: h for h in snapshot.hosts}


def ask(key: str, host: str, department: str | None = "health") -> ProvisionRequest:
    return ProvisionRequest(
        key, f"svc-{key}", department, host, vcpus=2, memory_mb=4096, disk_gb=10
    )


# --- discover ------------------------------------------------------------------------------


def test_discover_reads_nodes_zones_arch_taints_and_ready_state(
    adapter: KubernetesAdapter,
) -> None:
    snapshot = adapter.discover()
    assert {(z.external_id, z.region) for z in snapshot.zones} == {
        ("prov-dc2-az1", "prov-dc2"),
        ("prov-dc2-az2", "prov-dc2"),
    }
    by_id = hosts(snapshot)
    a1 = by_id["node-a1"]
    assert (a1.zone, a1.arch, a1.state) == ("prov-dc2-az1", "x86_64", HostState.up)
    # capacity "8" CPUs, "32863628Ki" memory, "102687672Ki" ephemeral storage
    assert (a1.vcpus, a1.memory_mb, a1.disk_gb) == (8, 32093, 97)
    # used = held back by the kubelet (capacity - allocatable: 200m, 1124Mi) + pod requests:
    # kube-proxy 100m/64Mi, portal 500m/1Gi, debug-shell 250m/256Mi, and db-0 whose init
    # container (3 CPU) outweighs app 2 CPU + sidecar 100m, while memory is 8Gi + 128Mi.
    assert a1.vcpus_used == 5  # ceil((200 + 100 + 500 + 250 + 3000) / 1000)
    assert a1.memory_mb_used == 1124 + 64 + 1024 + 256 + 8192 + 128
    # node-a2 also ran a Job pod that has Succeeded: it holds nothing and is not counted.
    assert by_id["node-a2"].vcpus_used == 4  # ceil((200 + 100 + 500 + 3000) / 1000)

    b1 = by_id["node-b1"]
    assert (b1.arch, b1.zone, b1.vcpus, b1.traits) == (
        "aarch64",
        "prov-dc2-az2",
        64,
        ("CUSTOM_XINCHUANG",),
    )
    assert by_id["node-b2"].state == HostState.down  # Ready condition Unknown
    control_plane = by_id["cp-1"]
    assert control_plane.state == HostState.maintenance
    assert control_plane.extra["taints"] == ["node-role.kubernetes.io/control-plane:NoSchedule"]
    gpu = by_id["node-gpu1"]
    assert (gpu.gpus, gpu.gpus_used, gpu.state) == (4, 2, HostState.maintenance)
    assert snapshot.problems() == []


def test_tolerated_taint_keeps_its_nodes_schedulable(replay: ReplayServer, tmp_path: Path) -> None:
    tolerant = adapter_for(replay, tmp_path, tolerated_taints=["nvidia.com/gpu"])
    assert hosts(tolerant.discover())["node-gpu1"].state == HostState.up


def test_discover_groups_pods_into_workloads_by_owner_and_namespace(
    adapter: KubernetesAdapter,
) -> None:
    snapshot = adapter.discover()
    workloads = {w.external_id: w for w in snapshot.workloads}
    assert set(workloads) == {
        "health/deployment/portal",
        "gov-service/statefulset/db",
        "gov-service/pod/debug-shell",
        "edu-apps/deployment/train",
    }, "kube-system is left out and the finished Job is not listed"
    portal = workloads["health/deployment/portal"]
    assert (portal.kind, portal.department, portal.replicas_desired) == ("deployment", "health", 3)
    assert (portal.vcpus, portal.memory_mb) == (1, 1024)  # 500m rounds up to a whole vCPU
    db = workloads["gov-service/statefulset/db"]
    assert (db.department, db.vcpus, db.memory_mb) == ("gov-service", 3, 8192 + 128)
    # A namespace's yunheng.io/department label names the department.
    assert workloads["edu-apps/deployment/train"].department == "education"
    assert workloads["edu-apps/deployment/train"].gpus == 2
    replicas = {r.external_id: r for r in snapshot.replicas}
    assert replicas["health/portal-7d4b9c8f6d-z8w4d"].host == "node-b1"
    pending = replicas["edu-apps/train-5f6d7c8b9a-t6u7v"]
    assert (pending.host, pending.state) == (None, "degraded")


# --- provision / deprovision -----------------------------------------------------------------


def test_provision_pins_each_replica_to_its_planned_node(
    adapter: KubernetesAdapter, replay: ReplayServer
) -> None:
    before = hosts(adapter.discover())
    made = [
        adapter.provision(ask("yh-r7-p9-0", "node-a2")),
        adapter.provision(ask("yh-r7-p9-1", "node-b1", department="public-security")),
    ]
    assert [(m.external_id, m.host, m.created) for m in made] == [
        ("health/yh-r7-p9-0", "node-a2", True),
        ("public-security/yh-r7-p9-1", "node-b1", True),
    ]
    cluster = replay.cluster
    stored = cluster.deployments[("health", "yh-r7-p9-0")]
    pod_spec = stored["spec"]["template"]["spec"]
    term = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"] == [
        {
            "matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-a2"]}
            ]
        }
    ]
    resources = pod_spec["containers"][0]["resources"]
    assert (
        resources["requests"]
        == resources["limits"]
        == {
            "cpu": "2",
            "memory": "4096Mi",
            "ephemeral-storage": "10Gi",
        }
    )
    assert stored["spec"]["replicas"] == 1 and stored["spec"]["strategy"] == {"type": "Recreate"}
    assert stored["metadata"]["labels"]["yunheng.io/idempotency-key"] == "yh-r7-p9-0"
    # The department's namespace did not exist: it was made, labelled with the department.
    labels = cluster.namespaces["public-security"]["metadata"]["labels"]
    assert labels["yunheng.io/department"] == "public-security"

    after = adapter.discover()
    mine = {r.external_id: r for r in after.replicas if r.workload is None}
    assert {k: (r.host, r.state) for k, r in mine.items()} == {
        "health/yh-r7-p9-0": ("node-a2", "active"),
        "public-security/yh-r7-p9-1": ("node-b1", "active"),
    }
    assert mine["health/yh-r7-p9-0"].extra["idempotency_key"] == "yh-r7-p9-0"
    assert hosts(after)["node-a2"].vcpus_used == before["node-a2"].vcpus_used + 2
    assert hosts(after)["node-b1"].memory_mb_used == before["node-b1"].memory_mb_used + 4096
    assert after.problems() == []


def test_retried_provision_finds_the_first_and_creates_nothing(
    adapter: KubernetesAdapter, replay: ReplayServer
) -> None:
    first = adapter.provision(ask("yh-r8-p1-0", "node-a1"))
    again = adapter.provision(ask("yh-r8-p1-0", "node-a1"))
    assert first.created and not again.created
    assert again.external_id == first.external_id
    posts = [p for m, p in replay.cluster.log if m == "POST" and p.endswith("/deployments")]
    assert len(posts) == 1
    assert len([d for d in replay.cluster.deployments if d[1] == "yh-r8-p1-0"]) == 1


def test_provision_refuses_a_name_taken_by_a_foreign_deployment(
    adapter: KubernetesAdapter, replay: ReplayServer
) -> None:
    foreign = {
        "metadata": {"name": "yh-r9-p1-0", "labels": {"app": "theirs"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "theirs"}},
            "template": {
                "metadata": {"labels": {"app": "theirs"}},
                "spec": {"containers": [{"name": "c", "image": "theirs:1"}]},
            },
        },
    }
    replay.cluster.create_deployment("health", foreign)
    with pytest.raises(AdapterError, match="taken by a deployment not made for key 'yh-r9-p1-0'"):
        adapter.provision(ask("yh-r9-p1-0", "node-a1"))
    # The 409 AlreadyExists answer was met and the foreign deployment left alone.
    assert ("POST", "/apis/apps/v1/namespaces/health/deployments") in replay.cluster.log
    assert replay.cluster.deployments[("health", "yh-r9-p1-0")]["metadata"]["labels"] == {
        "app": "theirs"
    }
    with pytest.raises(AdapterError, match="not made by Yunheng"):
        adapter.deprovision("health/yh-r9-p1-0")
    assert ("health", "yh-r9-p1-0") in replay.cluster.deployments


def test_provision_onto_a_vanished_node_names_it(adapter: KubernetesAdapter) -> None:
    with pytest.raises(AdapterError, match=r"planned node 'node-zz' is not in the cluster.*404"):
        adapter.provision(ask("yh-r10-p1-0", "node-zz"))


def test_deprovision_removes_the_deployment_and_its_pod(
    adapter: KubernetesAdapter, replay: ReplayServer
) -> None:
    made = adapter.provision(ask("yh-r11-p1-0", "node-a1"))
    assert adapter.deprovision(made.external_id) is True
    assert adapter.deprovision(made.external_id) is False, "already gone"
    assert not [r for r in adapter.discover().replicas if r.workload is None]
    assert not [k for k in replay.cluster.pods if k[1].startswith("yh-r11-p1-0-")]
    with pytest.raises(AdapterError, match="not a Yunheng replica id"):
        adapter.deprovision("no-slash-here")


# --- check, errors, retries ---------------------------------------------------------------


def test_check_reports_each_capability(replay: ReplayServer, tmp_path: Path) -> None:
    admin = {c.capability: c for c in adapter_for(replay, tmp_path).check()}
    assert admin[Capability.list].ok and admin[Capability.provision].ok
    reader_config = tmp_path / "reader"
    reader_config.write_text(kubeconfig_text(replay.url, "reader-token"))
    reader = build_adapter("kubernetes", {"kubeconfig_path": str(reader_config), **FAST})
    results = {c.capability: c for c in reader.check()}
    assert results[Capability.list].ok
    assert not results[Capability.provision].ok
    assert "not allowed to create deployments" in results[Capability.provision].detail
    with pytest.raises(AdapterError, match=r"HTTP 403 Forbidden: .*cannot create resource"):
        reader.provision(ask("yh-r12-p1-0", "node-a1", department="gov-service"))


def test_wrong_token_is_a_clear_error_naming_cluster_operation_and_cause(
    replay: ReplayServer, tmp_path: Path
) -> None:
    replay.cluster.tokens.clear()  # the token was revoked: every call answers 401
    adapter = adapter_for(replay, tmp_path)
    with pytest.raises(AdapterError) as caught:
        adapter.discover()
    message = str(caught.value)
    assert message.startswith(f"kubernetes cluster {replay.url}: list nodes failed")
    assert "HTTP 401 Unauthorized" in message
    assert len([p for _, p in replay.cluster.log if p == "/api/v1/nodes"]) == 1, "401 not retried"
    checks = adapter.check()
    assert [c.ok for c in checks] == [False, False]
    assert all("401" in c.detail for c in checks)


def test_overloaded_server_is_retried_with_backoff_then_reported(
    replay: ReplayServer, tmp_path: Path
) -> None:
    adapter = adapter_for(replay, tmp_path, retries=2)
    replay.cluster.fail_next = 2
    assert len(adapter.discover().hosts) == 6, "two 503 answers, then the third try succeeds"
    replay.cluster.fail_next = 3
    with pytest.raises(AdapterError, match=r"list nodes failed after 3 attempts: HTTP 503"):
        adapter.discover()


def test_stopped_server_is_a_clear_connection_error(replay: ReplayServer, tmp_path: Path) -> None:
    adapter = adapter_for(replay, tmp_path)
    replay.stop()
    with pytest.raises(AdapterError, match="list nodes failed after 2 attempts: cannot reach"):
        adapter.discover()


def test_each_adapter_has_its_own_client_configuration(tmp_path: Path) -> None:
    default_host = k8s.Configuration.get_default_copy().host
    with serve(small_cluster()) as one, serve(small_cluster()) as two:
        two.cluster.nodes.pop("node-a1")
        (tmp_path / "one").mkdir()
        (tmp_path / "two").mkdir()
        first = adapter_for(one, tmp_path / "one")
        second = adapter_for(two, tmp_path / "two")
        assert len(first.discover().hosts) == 6 and len(second.discover().hosts) == 5
        assert first.connection.where != second.connection.where
    assert k8s.Configuration.get_default_copy().host == default_host


def test_connects_with_api_server_and_token_or_kubeconfig_text(replay: ReplayServer) -> None:
    by_token = build_adapter(
        "kubernetes", {"api_server": replay.url, **FAST}, {"token": "admin-token"}
    )
    by_text = build_adapter(
        "kubernetes", FAST, {"kubeconfig": kubeconfig_text(replay.url, "admin-token")}
    )
    assert len(by_token.discover().hosts) == len(by_text.discover().hosts) == 6


@pytest.mark.parametrize(
    ("settings", "credentials", "field"),
    [
        ({}, {}, "settings"),
        ({"in_cluster": True, "kubeconfig_path": "/x"}, {}, "settings"),
        ({"api_server": "https://10.0.0.1:6443"}, {}, "credentials.token"),
        ({"in_cluster": True}, {"token": "t"}, "credentials.token"),
        ({"in_cluster": True, "context": "c"}, {}, "settings.context"),
        ({"api_server": "https://k:6443"}, {"client_cert_pem": "x"}, "credentials.client_key_pem"),
        ({"api_server": "ftp://k"}, {"token": "t"}, "settings.api_server"),
        ({"kubeconfig_path": "/x", "retries": 99}, {}, "settings.retries"),
        ({"kubeconfig_path": "/x", "colour": "red"}, {}, "settings.colour"),
    ],
)
def test_bad_settings_name_the_field(
    settings: dict[str, Any], credentials: dict[str, Any], field: str
) -> None:
    with pytest.raises(AdapterConfigError) as caught:
        build_adapter("kubernetes", settings, credentials)
    assert caught.value.field == field


def test_in_cluster_outside_a_cluster_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    adapter = build_adapter("kubernetes", {"in_cluster": True})
    with pytest.raises(AdapterError, match=r"in-cluster.*cannot load connection settings"):
        adapter.discover()
    assert [c.ok for c in adapter.check()] == [False, False]


def test_quantities_and_pod_requests_follow_kubernetes() -> None:
    assert quantity("3800m") * 1000 == 3800 and quantity("16Gi") == 16 * 2**30
    assert quantity("not-a-quantity") == 0
    spec = {
        "containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
        "initContainers": [
            {"restartPolicy": "Always", "resources": {"requests": {"cpu": "250m"}}},
            {"resources": {"requests": {"cpu": "2", "memory": "512Mi"}}},
        ],
        "overhead": {"cpu": "50m"},
    }
    # max(app 1000 + sidecar 250, init 2000 + sidecar 250) + overhead 50
    assert pod_requests(spec) == {"cpu": 2300, "memory": 2**30}
    limits_only = {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]}
    assert pod_requests(limits_only) == {"gpu": 1}


def test_object_names_from_keys_are_valid_and_distinct() -> None:
    assert object_name("yh-r1-p2-3") == "yh-r1-p2-3"
    odd = [object_name("Plan/One"), object_name("plan-one"), object_name("x" * 80)]
    assert len(set(odd)) == 3
    assert all(len(n) <= 63 and n == n.lower() for n in odd)


def test_broken_kubeconfig_text_fails_without_echoing_it() -> None:
    adapter = build_adapter("kubernetes", {}, {"kubeconfig": "users: [{token: s3cret-value"})
    with pytest.raises(AdapterError, match="not valid YAML at line") as caught:
        adapter.discover()
    assert "s3cret" not in str(caught.value)


def test_department_that_is_no_namespace_name_is_refused(adapter: KubernetesAdapter) -> None:
    with pytest.raises(AdapterError, match="namespace 'ops-' for department 'ops-'"):
        adapter.provision(ask("yh-r13-p1-0", "node-a1", department="ops-"))
