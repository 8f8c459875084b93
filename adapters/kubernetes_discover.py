"""Turn the API server's nodes, pods, namespaces and Yunheng's Deployments into a Snapshot.

Pure functions over the JSON the API returns, so they are cheap to test and fast on 20,000
pods. The choices, in short:
- **Capacity and usage.** A host's size is the node's `capacity` (whole CPUs, MiB, GiB).
  What the kubelet holds back (`capacity - allocatable`) counts as used, plus the requests
  of every pod bound to the node that has not finished, so free = allocatable - requests,
  exactly the room kube-scheduler sees. Sizes are rounded down and usage up: never more
  room than there is. Exact figures stay in `extra`.
- **Pod requests** follow kube-scheduler: the sum over containers plus sidecars (restartable
  init containers), or the largest init container if that is more, plus the pod overhead.
- **State.** Ready condition not True -> down. Ready but cordoned, or tainted NoSchedule /
  NoExecute with a taint Yunheng does not tolerate -> maintenance (plain pods cannot land
  there). Otherwise up.
- **Workloads.** Pods are grouped by their controlling owner. A ReplicaSet made by a
  Deployment is recognised by the `pod-template-hash` label the Deployment controller puts on
  its pods (the ReplicaSet is `<deployment>-<hash>`), so the grouping needs no extra list of
  ReplicaSets. StatefulSets, DaemonSets, Jobs and bare ReplicaSets are their own owners; a
  pod without an owner is a workload of one. `replicas_desired` counts the pods seen and the
  per-replica size is the largest pod's requests (controllers' specs are not listed). A
  namespace is a department: the namespace's `yunheng.io/department` label, else its name.
  Pods in system namespaces count towards node usage but are not reported as workloads.
- **Yunheng's own replicas** (its Deployments) are reported with `workload=None` and keyed
  by `namespace/deployment`, which survives pod restarts.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from adapters.kubernetes_workload import (
    DEPARTMENT_LABEL,
    KEY_ANNOTATION,
    KEY_LABEL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    PLANNED_NODE_ANNOTATION,
    REPLICA_NAME_ANNOTATION,
    replica_id,
)
from inventory.models.enums import HostState, ItemState
from inventory.snapshot import HostInfo, ReplicaInfo, Snapshot, WorkloadInfo, ZoneInfo

log = logging.getLogger(__name__)

MIB = 2**20
GIB = 2**30
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
ARCH_LABELS = ("kubernetes.io/arch", "beta.kubernetes.io/arch")
ARCH_MAP = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l"}
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
STATE_MAP = {True: HostState.up, False: HostState.down}  # by the node's Ready condition


@dataclass(frozen=True)
class DiscoverOptions:
    region: str = "default"
    default_zone: str = "default"
    zone_availability: float = 0.999
    skip_namespaces: frozenset[str] = frozenset()
    tolerated_taints: frozenset[str] = frozenset()
    trait_label_prefix: str = "feature.yunheng.io/"
    gpu_suffix: str = "/gpu"


@dataclass
class _Group:
    namespace: str
    kind: str
    name: str
    pods: int = 0
    peak: Counter[str] = field(default_factory=Counter)


@lru_cache(maxsize=4096)  # a cluster repeats the same few sizes ("500m", "1Gi") many times
def quantity(value: Any) -> Decimal:
    """A Kubernetes quantity ("3800m", "16Gi", "1e3") as a number; 0 if it will not parse."""
    try:
        return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, InvalidOperation):
        log.warning("unparsable Kubernetes quantity %r counted as 0", value)
        return Decimal(0)


def resources(values: dict[str, Any] | None, gpu_suffix: str) -> Counter[str]:
    """cpu in millicores, memory and ephemeral-storage in bytes, gpus summed over vendors."""
    out: Counter[str] = Counter()
    for name, raw in (values or {}).items():
        amount = quantity(raw)
        if name == "cpu":
            out["cpu"] += math.ceil(amount * 1000)
        elif name in ("memory", "ephemeral-storage"):
            out[name] += math.ceil(amount)
        elif name.endswith(gpu_suffix):
            out["gpu"] += math.ceil(amount)
    return out


def pod_requests(spec: dict[str, Any], gpu_suffix: str = "/gpu") -> Counter[str]:
    """What kube-scheduler reserves for a pod (see the module docstring)."""

    def of(container: dict[str, Any]) -> Counter[str]:
        res = container.get("resources") or {}
        # The API server defaults requests to limits; do the same for objects that skipped it.
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        return resources(merged, gpu_suffix)

    app: Counter[str] = Counter()
    for container in spec.get("containers") or []:
        app.update(of(container))
    if not spec.get("initContainers") and not spec.get("overhead"):
        return app  # most pods: nothing else to weigh
    sidecars: Counter[str] = Counter()
    init_peak: Counter[str] = Counter()
    for container in spec.get("initContainers") or []:
        need = of(container)
        if container.get("restartPolicy") == "Always":  # a sidecar keeps running
            sidecars.update(need)
        else:  # runs alone, next to the sidecars started before it
            init_peak = _max(init_peak, need + sidecars)
    total = _max(app + sidecars, init_peak)
    total.update(resources(spec.get("overhead"), gpu_suffix))
    return total


def _max(a: Counter[str], b: Counter[str]) -> Counter[str]:
    return Counter({k: max(a[k], b[k]) for k in set(a) | set(b)})


def _label(labels: dict[str, str], keys: Iterable[str]) -> str | None:
    return next((labels[k] for k in keys if labels.get(k)), None)


def _ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _taint(t: dict[str, Any]) -> str:
    value = f"={t['value']}" if t.get("value") else ""
    return f"{t.get('key', '')}{value}:{t.get('effect', '')}"


def node_state(node: dict[str, Any], tolerated: frozenset[str]) -> HostState:
    if not _ready(node):
        return STATE_MAP[False]
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return HostState.maintenance
    for taint in spec.get("taints") or []:
        if taint.get("effect") in BLOCKING_EFFECTS and taint.get("key") not in tolerated:
            return HostState.maintenance
    return STATE_MAP[True]


def to_host(
    node: dict[str, Any], requested: Counter[str], zone: str, region: str, opts: DiscoverOptions
) -> HostInfo:
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    labels: dict[str, str] = meta.get("labels") or {}
    capacity = resources(status.get("capacity"), opts.gpu_suffix)
    allocatable = resources(status.get("allocatable") or status.get("capacity"), opts.gpu_suffix)

    def used(name: str, unit: int) -> int:
        reserved = max(capacity[name] - allocatable[name], 0)
        return math.ceil((reserved + requested[name]) / unit)

    raw_arch = _label(labels, ARCH_LABELS) or (status.get("nodeInfo") or {}).get("architecture")
    prefix = opts.trait_label_prefix
    traits = sorted(k[len(prefix) :] for k, v in labels.items() if k.startswith(prefix) and v)
    taints = [_taint(t) for t in (node.get("spec") or {}).get("taints") or []]
    extra: dict[str, Any] = {
        "region": region,
        "allocatable": dict(status.get("allocatable") or {}),
        "requested": {"cpu_millicores": requested["cpu"], "memory_bytes": requested["memory"]},
        "taints": taints,
    }
    if (node.get("spec") or {}).get("unschedulable"):
        extra["unschedulable"] = True
    if labels.get("node.kubernetes.io/instance-type"):
        extra["instance_type"] = labels["node.kubernetes.io/instance-type"]
    return HostInfo(
        external_id=meta["name"],
        name=meta["name"],
        zone=zone,
        vcpus=capacity["cpu"] // 1000,
        memory_mb=capacity["memory"] // MIB,
        disk_gb=capacity["ephemeral-storage"] // GIB,
        gpus=capacity["gpu"],
        arch=ARCH_MAP.get(raw_arch or "amd64", raw_arch or "x86_64"),
        state=node_state(node, opts.tolerated_taints),
        vcpus_used=used("cpu", 1000),
        memory_mb_used=used("memory", MIB),
        disk_gb_used=used("ephemeral-storage", GIB),
        gpus_used=requested["gpu"],
        traits=tuple(traits),
        extra=extra,
    )


def _controller(pod: dict[str, Any]) -> tuple[str, str]:
    meta = pod["metadata"]
    owners = meta.get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if owner is None:
        return "Pod", meta["name"]
    kind, name = owner.get("kind", "Pod"), owner.get("name", meta["name"])
    pod_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if kind == "ReplicaSet" and pod_hash and name.endswith(f"-{pod_hash}"):
        return "Deployment", name[: -len(pod_hash) - 1]
    return kind, name


def _pod_state(pod: dict[str, Any]) -> ItemState:
    running = (pod.get("status") or {}).get("phase") == "Running"
    return ItemState.active if running and _ready(pod) else ItemState.degraded


def build_snapshot(
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    namespaces: list[dict[str, Any]],
    managed: list[dict[str, Any]],
    opts: DiscoverOptions,
) -> Snapshot:
    """The snapshot of one cluster; `pods` are the unfinished ones (phase not Succeeded/Failed)."""
    departments = {
        ns["metadata"]["name"]: (ns["metadata"].get("labels") or {}).get(DEPARTMENT_LABEL)
        or ns["metadata"]["name"]
        for ns in namespaces
    }
    known_nodes = {n["metadata"]["name"] for n in nodes}
    requested: dict[str, Counter[str]] = defaultdict(Counter)
    groups: dict[tuple[str, str, str], _Group] = {}
    replicas: list[ReplicaInfo] = []
    managed_pods: dict[tuple[str, str], dict[str, Any]] = {}
    for pod in pods:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        need = pod_requests(spec, opts.gpu_suffix)
        node = spec.get("nodeName")
        if node:
            requested[node].update(need)
        labels = meta.get("labels") or {}
        namespace = meta.get("namespace", "default")
        if labels.get(MANAGED_BY) == MANAGED_BY_VALUE and labels.get(KEY_LABEL):
            current = managed_pods.get((namespace, labels[KEY_LABEL]))
            if current is None or _pod_state(current) != ItemState.active:
                managed_pods[(namespace, labels[KEY_LABEL])] = pod
            continue
        if namespace in opts.skip_namespaces:
            continue
        kind, name = _controller(pod)
        group = groups.setdefault(
            (namespace, kind, name), _Group(namespace=namespace, kind=kind, name=name)
        )
        group.pods += 1
        for resource, amount in need.items():  # in place: this runs once per pod
            if amount > group.peak[resource]:
                group.peak[resource] = amount
        replicas.append(
            ReplicaInfo(
                external_id=f"{namespace}/{meta['name']}",
                name=meta["name"],
                workload=_workload_id(namespace, kind, name),
                host=node if node in known_nodes else None,
                state=_pod_state(pod),
                extra={"namespace": namespace, "pod": meta["name"]},
            )
        )
    replicas += [_managed_replica(d, managed_pods, known_nodes) for d in managed]

    zones: dict[str, ZoneInfo] = {}
    hosts: list[HostInfo] = []
    for node in nodes:
        labels = node["metadata"].get("labels") or {}
        zone = _label(labels, ZONE_LABELS) or opts.default_zone
        region = _label(labels, REGION_LABELS) or opts.region
        zones.setdefault(
            zone,
            ZoneInfo(
                external_id=zone, name=zone, region=region, availability=opts.zone_availability
            ),
        )
        hosts.append(to_host(node, requested[node["metadata"]["name"]], zone, region, opts))
    workloads = [
        _to_workload(g, departments.get(g.namespace, g.namespace)) for g in groups.values()
    ]
    return Snapshot(
        zones=list(zones.values()),
        hosts=hosts,
        workloads=workloads,
        replicas=replicas,
        extra={"source": "kubernetes"},
    )


def _workload_id(namespace: str, kind: str, name: str) -> str:
    return f"{namespace}/{kind.lower()}/{name}"


def _to_workload(group: _Group, department: str) -> WorkloadInfo:
    peak = group.peak
    return WorkloadInfo(
        external_id=_workload_id(group.namespace, group.kind, group.name),
        name=group.name,
        department=department,
        kind=group.kind.lower(),
        replicas_desired=group.pods,
        vcpus=math.ceil(peak["cpu"] / 1000),
        memory_mb=math.ceil(peak["memory"] / MIB),
        disk_gb=math.ceil(peak["ephemeral-storage"] / GIB),
        gpus=peak["gpu"],
        extra={
            "namespace": group.namespace,
            "controller": f"{group.kind}/{group.name}",
            "cpu_millicores": peak["cpu"],
            "memory_bytes": peak["memory"],
        },
    )


def _managed_replica(
    deployment: dict[str, Any],
    pods: dict[tuple[str, str], dict[str, Any]],
    known_nodes: set[str],
) -> ReplicaInfo:
    meta = deployment["metadata"]
    namespace, name = meta.get("namespace", "default"), meta["name"]
    annotations = meta.get("annotations") or {}
    pod = pods.get((namespace, (meta.get("labels") or {}).get(KEY_LABEL, name)))
    node = ((pod or {}).get("spec") or {}).get("nodeName") or annotations.get(
        PLANNED_NODE_ANNOTATION
    )
    extra: dict[str, Any] = {
        "idempotency_key": annotations.get(KEY_ANNOTATION, name),
        "namespace": namespace,
        "deployment": name,
    }
    if pod is not None:
        extra["pod"] = pod["metadata"]["name"]
    return ReplicaInfo(
        external_id=replica_id(namespace, name),
        name=annotations.get(REPLICA_NAME_ANNOTATION, name),
        workload=None,
        host=node if node in known_nodes else None,
        state=_pod_state(pod) if pod is not None else ItemState.degraded,
        extra=extra,
    )
