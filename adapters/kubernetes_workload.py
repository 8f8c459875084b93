"""What Yunheng creates in a Kubernetes cluster for one planned replica, and how it finds it again.

One Deployment with `replicas: 1` per planned replica, pinned to the planned node by a
required node affinity on `kubernetes.io/hostname`. Why this shape:
- A Deployment's pods share one template, so one Deployment for the whole service could not
  put replica 0 on node A and replica 1 on node B; neither could a StatefulSet.
- A bare Pod pinned with `nodeName` is not recreated when it is deleted or evicted. A
  one-replica Deployment is: its controller makes a new pod, and the required affinity puts
  it back on the planned node (or leaves it Pending, visibly, rather than somewhere unplanned).
- `strategy: Recreate`: a rolling update of a one-replica Deployment starts the new pod before
  stopping the old one, which would need the replica's resources twice on the pinned node.
Requests equal limits (Guaranteed QoS for CPU and memory), so what the plan reserved is what
the node gives. Names and labels come from the plan's idempotency key, so a retry finds the
Deployment an earlier try made instead of creating a second one.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "yunheng"
KEY_LABEL = "yunheng.io/idempotency-key"  # the key as a label value: also the Deployment name
KEY_ANNOTATION = "yunheng.io/idempotency-key"  # the key exactly as the plan gave it
PLANNED_NODE_ANNOTATION = "yunheng.io/planned-node"
REPLICA_NAME_ANNOTATION = "yunheng.io/replica-name"
DEPARTMENT_LABEL = "yunheng.io/department"  # on namespaces: which department a namespace is
HOSTNAME_LABEL = "kubernetes.io/hostname"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_MAX = 63


def is_dns_label(value: str) -> bool:
    return len(value) <= _LABEL_MAX and bool(_DNS_LABEL.match(value))


def object_name(key: str) -> str:
    """A DNS-1123 label (valid as a Deployment name and a label value) derived from the key.

    A key that already is one is used as it is; any other is lower-cased, stripped of what
    names cannot hold and suffixed with a hash of the original, so distinct keys never meet.
    """
    if is_dns_label(key):
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    cleaned = re.sub(r"[^a-z0-9-]+", "-", key.lower()).strip("-")
    cleaned = cleaned[: _LABEL_MAX - len(digest) - 1].strip("-")
    return f"{cleaned}-{digest}" if cleaned else f"yh-{digest}"


def replica_id(namespace: str, name: str) -> str:
    """A provisioned replica's external id: its Deployment, which outlives any one pod."""
    return f"{namespace}/{name}"


def split_replica_id(external_id: str) -> tuple[str, str] | None:
    namespace, sep, name = external_id.partition("/")
    if not sep or not is_dns_label(namespace) or not is_dns_label(name):
        return None
    return namespace, name


def namespace_manifest(namespace: str, department: str | None) -> dict[str, Any]:
    labels = {MANAGED_BY: MANAGED_BY_VALUE}
    if department:
        labels[DEPARTMENT_LABEL] = department
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": labels},
    }


def deployment_manifest(
    *,
    name: str,
    namespace: str,
    key: str,
    replica_name: str,
    hostname: str,
    node: str,
    image: str,
    resources: dict[str, str],
    tolerated_taints: list[str],
) -> dict[str, Any]:
    """The Deployment for one replica; `resources` are Kubernetes quantities by resource name."""
    selector = {KEY_LABEL: name}
    labels = {
        **selector,
        MANAGED_BY: MANAGED_BY_VALUE,
        "app.kubernetes.io/name": object_name(replica_name),
    }
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": HOSTNAME_LABEL, "operator": "In", "values": [hostname]}
                        ]
                    }
                ]
            }
        }
    }
    pod_spec: dict[str, Any] = {
        "affinity": affinity,
        "containers": [
            {
                "name": "app",
                "image": image,
                "resources": {"requests": dict(resources), "limits": dict(resources)},
            }
        ],
    }
    if tolerated_taints:
        pod_spec["tolerations"] = [
            {"key": taint, "operator": "Exists"} for taint in sorted(tolerated_taints)
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                KEY_ANNOTATION: key,
                PLANNED_NODE_ANNOTATION: node,
                REPLICA_NAME_ANNOTATION: replica_name,
            },
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def requested_resources(
    vcpus: int, memory_mb: int, disk_gb: int, gpus: int, gpu_resource: str
) -> dict[str, str]:
    """ProvisionRequest sizes as Kubernetes quantities (binary units, as the inventory counts)."""
    out = {"cpu": str(vcpus), "memory": f"{memory_mb}Mi"}
    if disk_gb:
        out["ephemeral-storage"] = f"{disk_gb}Gi"
    if gpus:
        out[gpu_resource] = str(gpus)
    return out
