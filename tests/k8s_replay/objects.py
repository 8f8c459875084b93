"""Kubernetes objects built from the recorded API answers in recorded/ (see README.md there).

Each builder deep-copies a recorded object and changes only what makes it a different node,
pod or namespace, so every object the replay server returns keeps the real v1 JSON shape.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).parent / "recorded"
Obj = dict[str, Any]


@cache
def _recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def recorded(name: str) -> Any:
    """A fresh copy of a recorded answer (recorded/<name>.json); parsing the text again is
    several times faster than deep-copying, which matters for 20,000 pods."""
    return json.loads(_recorded(f"{name}.json"))


def uid(seed: str) -> str:
    return str(uuid.UUID(hashlib.md5(seed.encode()).hexdigest()))  # noqa: S324 - not security


def make_node(
    name: str,
    *,
    zone: str | None = "prov-dc2-az1",
    region: str | None = "prov-dc2",
    arch: str = "amd64",
    cpu: str = "8",
    cpu_allocatable: str = "7800m",
    memory_ki: int = 32863628,
    ready: bool = True,
    taints: list[Obj] | None = None,
    gpus: int = 0,
    unschedulable: bool = False,
    labels: dict[str, str] | None = None,
) -> Obj:
    node: Obj = recorded("node")
    meta, status = node["metadata"], node["status"]
    meta["name"] = name
    meta["uid"] = uid(f"node/{name}")
    node_labels: dict[str, str] = meta["labels"]
    node_labels["kubernetes.io/hostname"] = name
    node_labels["kubernetes.io/arch"] = node_labels["beta.kubernetes.io/arch"] = arch
    status["nodeInfo"]["architecture"] = arch
    for key, value in (("zone", zone), ("region", region)):
        if value is None:
            del node_labels[f"topology.kubernetes.io/{key}"]
        else:
            node_labels[f"topology.kubernetes.io/{key}"] = value
    node_labels.update(labels or {})
    status["capacity"]["cpu"] = cpu
    status["allocatable"]["cpu"] = cpu_allocatable
    status["capacity"]["memory"] = f"{memory_ki}Ki"
    status["allocatable"]["memory"] = f"{memory_ki - 1150976}Ki"  # kube/system-reserved
    if gpus:
        status["capacity"]["nvidia.com/gpu"] = status["allocatable"]["nvidia.com/gpu"] = str(gpus)
    status["addresses"][1]["address"] = name
    if not ready:
        status["conditions"] = recorded("node_not_ready_conditions")
    if taints:
        node["spec"]["taints"] = taints
    if unschedulable:
        node["spec"]["unschedulable"] = True
    return node


def make_namespace(name: str, labels: dict[str, str] | None = None) -> Obj:
    ns: Obj = recorded("namespace")
    ns["metadata"]["name"] = name
    ns["metadata"]["uid"] = uid(f"namespace/{name}")
    ns["metadata"]["labels"] = {"kubernetes.io/metadata.name": name, **(labels or {})}
    return ns


def make_pod(
    namespace: str,
    name: str,
    node: str | None,
    *,
    owner: tuple[str, str] | None = None,
    requests: dict[str, str] | None = None,
    limits: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    init_containers: list[Obj] | None = None,
) -> Obj:
    """A pod; `owner` is (kind, name) of its controller. A ReplicaSet owner named
    `<deployment>-<hash>` gets the pod-template-hash label the Deployment controller sets."""
    pod: Obj = recorded("pod")
    meta, spec = pod["metadata"], pod["spec"]
    meta.update(name=name, namespace=namespace, uid=uid(f"pod/{namespace}/{name}"))
    meta["labels"] = dict(labels or {"app": name})
    if owner is None:
        del meta["ownerReferences"], meta["generateName"]
    else:
        kind, owner_name = owner
        ref = meta["ownerReferences"][0]
        ref.update(
            kind=kind,
            name=owner_name,
            uid=uid(f"{kind}/{namespace}/{owner_name}"),
            apiVersion="batch/v1" if kind == "Job" else "apps/v1",
        )
        meta["generateName"] = f"{owner_name}-"
        if kind == "ReplicaSet":
            meta["labels"]["pod-template-hash"] = owner_name.rsplit("-", 1)[-1]
    container = spec["containers"][0]
    container["resources"] = {}
    if requests is not None:
        container["resources"]["requests"] = dict(requests)
    if limits is not None:
        container["resources"]["limits"] = dict(limits)
    if init_containers:
        spec["initContainers"] = init_containers
    if node is None:
        del spec["nodeName"]
        pod["status"] = recorded("pod_pending_status")
    else:
        spec["nodeName"] = node
    if phase != "Running" and node is not None:
        pod["status"]["phase"] = phase
        for condition in pod["status"]["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady"):
                condition["status"] = "False"
                condition["reason"] = "PodCompleted" if phase == "Succeeded" else "PodFailed"
    return pod


def status(which: str, message: str | None = None, /, **details: str) -> Obj:
    """A recorded Status answer (recorded/status_<which>.json) with this call's message
    and details."""
    body: Obj = recorded(f"status_{which}")
    if message is not None:
        body["message"] = message
    if details or "details" in body:
        body["details"] = {k: v for k, v in details.items() if v}
    return body


def pod_template_hash(deployment: Obj) -> str:
    """Stable per template, like the Deployment controller's hash (10 characters)."""
    template = json.dumps(deployment["spec"]["template"], sort_keys=True)
    return hashlib.sha256(template.encode()).hexdigest()[:10]
