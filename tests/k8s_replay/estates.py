"""Clusters to replay: a small one with every case the tests check, and a large one for bench/."""

from __future__ import annotations

import random

from tests.k8s_replay.cluster import ReplayCluster
from tests.k8s_replay.objects import Obj, make_namespace, make_node, make_pod

CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
UNREACHABLE_TAINTS = [
    {
        "key": "node.kubernetes.io/unreachable",
        "effect": "NoSchedule",
        "timeAdded": "2025-03-18T08:13:29Z",
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "effect": "NoExecute",
        "timeAdded": "2025-03-18T08:13:34Z",
    },
]
SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"]


def small_cluster() -> ReplayCluster:
    """Six nodes in two zones of region prov-dc2 (one Kunpeng arm64, one NotReady, one GPU node
    tainted for GPU work, one control plane), three department namespaces and their pods."""
    cluster = ReplayCluster(tokens={"admin-token": "admin", "reader-token": "reader"})
    nodes = [
        make_node(
            "cp-1",
            zone="prov-dc2-az1",
            taints=[CONTROL_PLANE_TAINT],
            cpu="4",
            cpu_allocatable="3800m",
            memory_ki=16393220,
        ),
        make_node("node-a1", zone="prov-dc2-az1"),
        make_node("node-a2", zone="prov-dc2-az1"),
        make_node(
            "node-b1",
            zone="prov-dc2-az2",
            arch="arm64",
            cpu="64",
            cpu_allocatable="63500m",
            memory_ki=263921516,
            labels={"feature.yunheng.io/CUSTOM_XINCHUANG": "true"},
        ),
        make_node("node-b2", zone="prov-dc2-az2", ready=False, taints=UNREACHABLE_TAINTS),
        make_node(
            "node-gpu1",
            zone="prov-dc2-az2",
            gpus=4,
            cpu="32",
            cpu_allocatable="31800m",
            memory_ki=131890324,
            taints=[GPU_TAINT],
        ),
    ]
    namespaces = [make_namespace(n) for n in SYSTEM_NAMESPACES] + [
        make_namespace("health", {"yunheng.io/department": "health"}),
        make_namespace("gov-service"),
        make_namespace("edu-apps", {"yunheng.io/department": "education"}),
    ]
    sidecar = {
        "name": "log-shipper",
        "image": "registry.prov.gov.cn/ops/fluent-bit:3.1",
        "restartPolicy": "Always",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
    }
    migrate = {
        "name": "migrate",
        "image": "registry.prov.gov.cn/gov/db-migrate:1.2",
        "resources": {"requests": {"cpu": "3", "memory": "2Gi"}},
    }
    pods = [
        # kube-system: count towards node usage, not reported as workloads
        *(
            make_pod(
                "kube-system",
                f"kube-proxy-{n}",
                n,
                owner=("DaemonSet", "kube-proxy"),
                requests={"cpu": "100m", "memory": "64Mi"},
            )
            for n in ("cp-1", "node-a1", "node-a2", "node-b1", "node-gpu1")
        ),
        make_pod(
            "kube-system",
            "coredns-7c65d6cfc9-4xk8z",
            "cp-1",
            owner=("ReplicaSet", "coredns-7c65d6cfc9"),
            requests={"cpu": "100m", "memory": "70Mi"},
            limits={"memory": "170Mi"},
        ),
        # health: a Deployment of three replicas across both zones
        *(
            make_pod(
                "health",
                f"portal-7d4b9c8f6d-{suffix}",
                node,
                owner=("ReplicaSet", "portal-7d4b9c8f6d"),
                requests={"cpu": "500m", "memory": "1Gi"},
                limits={"cpu": "1", "memory": "1Gi"},
            )
            for suffix, node in (("x2m9q", "node-a1"), ("p7k2c", "node-a2"), ("z8w4d", "node-b1"))
        ),
        # gov-service: a StatefulSet with a sidecar and a big init container
        *(
            make_pod(
                "gov-service",
                f"db-{i}",
                node,
                owner=("StatefulSet", "db"),
                requests={"cpu": "2", "memory": "8Gi"},
                init_containers=[migrate, sidecar],
            )
            for i, node in enumerate(("node-a1", "node-a2"))
        ),
        # gov-service: a pod nobody controls, and a finished Job pod (holds nothing)
        make_pod(
            "gov-service", "debug-shell", "node-a1", requests={"cpu": "250m", "memory": "256Mi"}
        ),
        make_pod(
            "edu-apps",
            "report-28994400-6bq2x",
            "node-a2",
            owner=("Job", "report-28994400"),
            requests={"cpu": "1", "memory": "1Gi"},
            phase="Succeeded",
        ),
        # edu-apps: a GPU job that tolerates the GPU taint, and a pending replica
        make_pod(
            "edu-apps",
            "train-5f6d7c8b9a-q4r5s",
            "node-gpu1",
            owner=("ReplicaSet", "train-5f6d7c8b9a"),
            requests={"cpu": "4", "memory": "16Gi"},
            limits={"nvidia.com/gpu": "2"},
        ),
        make_pod(
            "edu-apps",
            "train-5f6d7c8b9a-t6u7v",
            None,
            owner=("ReplicaSet", "train-5f6d7c8b9a"),
            requests={"cpu": "4", "memory": "16Gi"},
            limits={"nvidia.com/gpu": "2"},
        ),
    ]
    for obj in [*nodes, *namespaces, *pods]:
        cluster.add(obj)
    return cluster


def large_cluster(nodes: int = 2000, pods: int = 20_000, seed: int = 7) -> ReplayCluster:
    """`nodes` nodes in 4 zones (a third arm64) and `pods` Deployment pods in 8 namespaces."""
    rng = random.Random(seed)
    cluster = ReplayCluster()
    zones = [f"prov-dc3-az{i + 1}" for i in range(4)]
    names = [f"node-{i:05d}" for i in range(nodes)]
    for i, name in enumerate(names):
        cluster.add(
            make_node(
                name,
                zone=zones[i % 4],
                region="prov-dc3",
                arch="arm64" if i % 3 == 2 else "amd64",
                cpu="64",
                cpu_allocatable="63500m",
                memory_ki=263921516,
            )
        )
    departments = [f"dept-{i}" for i in range(8)]
    for ns in SYSTEM_NAMESPACES + departments:
        cluster.add(make_namespace(ns))
    made = 0
    while made < pods:
        ns = rng.choice(departments)
        app = f"app-{made:05d}"
        replica_set = f"{app}-{rng.getrandbits(40):010x}"
        size = rng.choice([("250m", "512Mi"), ("500m", "1Gi"), ("1", "2Gi"), ("2", "4Gi")])
        for r in range(min(rng.randint(1, 6), pods - made)):
            pod: Obj = make_pod(
                ns,
                f"{replica_set}-{r:05d}",
                rng.choice(names),
                owner=("ReplicaSet", replica_set),
                requests={"cpu": size[0], "memory": size[1]},
            )
            cluster.add(pod)
            made += 1
    return cluster
