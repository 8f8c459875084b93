"""The replayed cluster's state, and what the API server and its controllers do to it.

Stateful, so create-then-list works: creating a Deployment also does what the Deployment
and ReplicaSet controllers and kube-scheduler would do, in one step. Its pod is bound to the
node the required node affinity names, if that node is Ready and has room for the requests,
and is Pending with the scheduler's message otherwise. Deleting a Deployment removes its
pod, as garbage collection would with propagationPolicy=Background.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from tests.k8s_replay.objects import (
    Obj,
    make_namespace,
    make_pod,
    pod_template_hash,
    recorded,
    status,
    uid,
)

NOW = "2025-03-18T08:20:11Z"


class ApiError(Exception):
    """Answer with this HTTP status and Status body."""

    def __init__(self, code: int, body: Obj) -> None:
        super().__init__(body.get("message"))
        self.code = code
        self.body = body


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    qualified = f"{resource}.{group}" if group else resource
    return ApiError(
        404,
        status(
            "not_found", f'{qualified} "{name}" not found', name=name, group=group, kind=resource
        ),
    )


@dataclass
class ReplayCluster:
    nodes: dict[str, Obj] = field(default_factory=dict)
    namespaces: dict[str, Obj] = field(default_factory=dict)
    pods: dict[tuple[str, str], Obj] = field(default_factory=dict)
    deployments: dict[tuple[str, str], Obj] = field(default_factory=dict)
    # bearer token -> role: "admin" may do everything, "reader" may only get and list.
    tokens: dict[str, str] = field(default_factory=lambda: {"admin-token": "admin"})
    log: list[tuple[str, str]] = field(default_factory=list)  # (method, path) served
    # Fault injection: this many of the next authenticated calls answer 503 (overloaded).
    fail_next: int = 0
    resource_version: int = 30000
    list_cache: dict[tuple[str, str | None, str | None, int], list[Obj]] = field(
        default_factory=dict
    )
    lock: threading.RLock = field(default_factory=threading.RLock)

    def add(self, obj: Obj) -> None:
        self.resource_version += 1
        meta = obj["metadata"]
        kind = obj.get("kind")
        if kind == "Node":
            self.nodes[meta["name"]] = obj
        elif kind == "Namespace":
            self.namespaces[meta["name"]] = obj
        elif kind == "Pod":
            self.pods[(meta["namespace"], meta["name"])] = obj
        else:
            raise ValueError(f"cannot add a {kind}")

    def next_version(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)

    # --- namespaces ---------------------------------------------------------------------

    def create_namespace(self, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        if name in self.namespaces:
            raise ApiError(
                409,
                status(
                    "already_exists",
                    f'namespaces "{name}" already exists',
                    name=name,
                    kind="namespaces",
                ),
            )
        ns = make_namespace(name, body["metadata"].get("labels"))
        ns["metadata"]["resourceVersion"] = self.next_version()
        ns["metadata"]["creationTimestamp"] = NOW
        self.namespaces[name] = ns
        return ns

    # --- deployments --------------------------------------------------------------------

    def create_deployment(self, namespace: str, body: Obj) -> Obj:
        if namespace not in self.namespaces:
            raise not_found("namespaces", namespace)
        name = body["metadata"]["name"]
        if (namespace, name) in self.deployments:
            raise ApiError(
                409,
                status(
                    "already_exists",
                    f'deployments.apps "{name}" already exists',
                    name=name,
                    group="apps",
                    kind="deployments",
                ),
            )
        deployment = _with_defaults(body, namespace, self.next_version())
        self.deployments[(namespace, name)] = deployment
        self._run_controllers(deployment)
        return deployment

    def delete_deployment(self, namespace: str, name: str) -> Obj:
        deployment = self.deployments.pop((namespace, name), None)
        if deployment is None:
            raise not_found("deployments", name, "apps")
        self.next_version()
        prefix = f"{name}-{pod_template_hash(deployment)}-"
        for key in [k for k in self.pods if k[0] == namespace and k[1].startswith(prefix)]:
            del self.pods[key]
        return status(
            "deleted",
            name=name,
            group="apps",
            kind="deployments",
            uid=deployment["metadata"]["uid"],
        )

    def _run_controllers(self, deployment: Obj) -> None:
        """ReplicaSet `<name>-<hash>`, its one pod, and the scheduler's decision."""
        meta = deployment["metadata"]
        template = deployment["spec"]["template"]
        replica_set = f"{meta['name']}-{pod_template_hash(deployment)}"
        pod_name = f"{replica_set}-{uid(replica_set)[:5]}"
        container = template["spec"]["containers"][0]
        resources = container.get("resources") or {}
        node = self._schedule(template["spec"], resources.get("requests") or {})
        pod = make_pod(
            meta["namespace"],
            pod_name,
            node,
            owner=("ReplicaSet", replica_set),
            requests=resources.get("requests"),
            limits=resources.get("limits"),
            labels={**template["metadata"]["labels"]},
        )
        pod["metadata"]["labels"]["pod-template-hash"] = replica_set.rsplit("-", 1)[-1]
        pod["spec"]["containers"][0].update(name=container["name"], image=container["image"])
        pod["spec"]["affinity"] = copy.deepcopy(template["spec"].get("affinity"))
        self.pods[(meta["namespace"], pod_name)] = pod
        if node is not None:
            available = recorded("deployment_available_status")
            progressing = available["conditions"][1]
            progressing["message"] = progressing["message"].replace("REPLICASET", replica_set)
            deployment["status"] = available

    def _schedule(self, spec: Obj, requests: dict[str, str]) -> str | None:
        terms = (
            ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
                "requiredDuringSchedulingIgnoredDuringExecution"
            )
            or {}
        ).get("nodeSelectorTerms") or []
        wanted: set[str] = set()
        for term in terms:
            for expr in term.get("matchExpressions") or []:
                if expr["key"] == "kubernetes.io/hostname" and expr["operator"] == "In":
                    wanted.update(expr["values"])
        for name, node in self.nodes.items():
            hostname = node["metadata"]["labels"].get("kubernetes.io/hostname", name)
            if terms and hostname not in wanted:
                continue
            if _ready(node) and self._fits(name, node, requests):
                return name
        return None

    def _fits(self, name: str, node: Obj, requests: dict[str, str]) -> bool:
        """Room for `requests` next to the pods bound to the node (first containers only:
        every pod the replay makes has one)."""
        allocatable = node["status"]["allocatable"]
        on_node = [
            (p["spec"]["containers"][0].get("resources") or {}).get("requests") or {}
            for p in self.pods.values()
            if p["spec"].get("nodeName") == name
        ]
        for resource in ("cpu", "memory"):
            used = sum((_q(r.get(resource, "0")) for r in on_node), Decimal(0))
            if used + _q(requests.get(resource, "0")) > _q(allocatable.get(resource, "0")):
                return False
        return True


def _q(value: str) -> Decimal:
    return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]


def _ready(node: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def _with_defaults(body: Obj, namespace: str, version: str) -> Obj:
    """What the API server stores for a posted Deployment: the fields its defaulting adds,
    taken from the recorded 201 answer, plus identity and bookkeeping."""
    answer = recorded("deployment_created")
    deployment = copy.deepcopy(body)
    deployment.setdefault("apiVersion", "apps/v1")
    deployment.setdefault("kind", "Deployment")
    meta = deployment["metadata"]
    meta.update(
        namespace=namespace,
        uid=uid(f"deployment/{namespace}/{meta['name']}/{version}"),
        resourceVersion=version,
        generation=1,
        creationTimestamp=NOW,
    )
    spec = deployment["spec"]
    for key in ("revisionHistoryLimit", "progressDeadlineSeconds", "strategy"):
        spec.setdefault(key, copy.deepcopy(answer["spec"][key]))
    template_spec = spec["template"]["spec"]
    recorded_spec = answer["spec"]["template"]["spec"]
    for key in (
        "restartPolicy",
        "terminationGracePeriodSeconds",
        "dnsPolicy",
        "securityContext",
        "schedulerName",
    ):
        template_spec.setdefault(key, copy.deepcopy(recorded_spec[key]))
    recorded_container = recorded_spec["containers"][0]
    for container in template_spec["containers"]:
        for key in ("terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy"):
            container.setdefault(key, recorded_container[key])
    spec["template"]["metadata"].setdefault("creationTimestamp", None)
    deployment["status"] = {}
    return deployment


def forbidden(verb: str, resource: str, group: str, namespace: str | None) -> ApiError:
    qualified = f"{resource}.{group}" if group else resource
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    message = (
        f'{qualified} is forbidden: User "system:serviceaccount:yunheng:reader" cannot {verb} '
        f'resource "{resource}" in API group "{group}"{where}'
    )
    return ApiError(403, status("forbidden", message, group=group, kind=resource))


def access_review(role: str, review: Obj) -> Obj:
    """A SelfSubjectAccessReview answer for `role`."""
    answer: Obj = recorded("self_subject_access_review")
    attributes = (review.get("spec") or {}).get("resourceAttributes") or {}
    answer["spec"] = {"resourceAttributes": attributes}
    allowed = role == "admin" or attributes.get("verb") in ("get", "list", "watch")
    answer["status"] = answer["status"] if allowed else {"allowed": False, "reason": ""}
    return answer


def matches(selector: str | None, values: Callable[[str], str | None]) -> bool:
    """A label or field selector: `k=v`, `k==v`, `k!=v`, `k` and `!k`, comma-joined (AND)."""
    for part in filter(None, (selector or "").split(",")):
        if "!=" in part:
            key, value = part.split("!=", 1)
            if values(key.strip()) == value.strip():
                return False
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            if values(key.strip()) != value.strip():
                return False
        elif part.startswith("!"):
            if values(part[1:].strip()) is not None:
                return False
        elif values(part.strip()) is None:
            return False
    return True


def field_value(obj: Obj, path: str) -> Any:
    node: Any = obj
    for step in path.split("."):
        node = node.get(step) if isinstance(node, dict) else None
    return node
