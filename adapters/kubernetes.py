"""Kubernetes clusters through the official `kubernetes` client.

Connects from a kubeconfig (a file, or its whole text in the encrypted credentials), from an
API server URL with a bearer token or client certificate, or in-cluster through the pod's
service account. How nodes and pods become hosts, workloads and replicas is explained in
adapters/kubernetes_discover.py; what provision() creates, and why, in
adapters/kubernetes_workload.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel

from adapters.base import (
    Adapter,
    AdapterError,
    Capability,
    CheckResult,
    ProvisionRequest,
    ProvisionResult,
)
from adapters.kubernetes_client import CallPolicy, KubeConnection, cause
from adapters.kubernetes_config import KubernetesCredentials, KubernetesSettings, connection_spec
from adapters.kubernetes_discover import DiscoverOptions, build_snapshot
from adapters.kubernetes_workload import (
    HOSTNAME_LABEL,
    KEY_ANNOTATION,
    KEY_LABEL,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    deployment_manifest,
    is_dns_label,
    namespace_manifest,
    object_name,
    replica_id,
    requested_resources,
    split_replica_id,
)
from inventory.snapshot import Snapshot

# Pods that hold resources on their node: kube-scheduler and `kubectl describe node` skip
# finished ones the same way.
M = TypeVar("M")


@dataclass(frozen=True)
class Listed:
    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    namespaces: list[dict[str, Any]]
    managed: list[dict[str, Any]]  # Yunheng's own Deployments


UNFINISHED_PODS = "status.phase!=Succeeded,status.phase!=Failed"


class KubernetesAdapter(Adapter):
    kind: ClassVar[str] = "kubernetes"
    label: ClassVar[str] = "Kubernetes (kubernetes client)"
    settings_model: ClassVar[type[BaseModel]] = KubernetesSettings
    credentials_model: ClassVar[type[BaseModel]] = KubernetesCredentials

    def __init__(self, settings: BaseModel, credentials: BaseModel | None = None) -> None:
        super().__init__(settings, credentials or KubernetesCredentials())
        c = self.config
        self.connection = KubeConnection(
            connection_spec(c, self.secrets),
            CallPolicy(
                connect_timeout=c.connect_timeout_seconds,
                read_timeout=c.read_timeout_seconds,
                retries=c.retries,
                backoff=c.backoff_seconds,
            ),
        )

    @property
    def config(self) -> KubernetesSettings:
        assert isinstance(self.settings, KubernetesSettings)
        return self.settings

    @property
    def secrets(self) -> KubernetesCredentials:
        assert isinstance(self.credentials, KubernetesCredentials)
        return self.credentials

    def close(self) -> None:
        self.connection.close()

    # --- discover -----------------------------------------------------------------------

    def discover(self) -> Snapshot:
        return self.snapshot(self.fetch())

    def fetch(self) -> Listed:
        """Everything discover() reads, as the API answered it (pages of `page_size`)."""
        conn, size = self.connection, self.config.page_size
        core, apps = k8s.CoreV1Api(conn.api), k8s.AppsV1Api(conn.api)
        return Listed(
            nodes=list(conn.list_all("list nodes", core.list_node, size)),
            pods=list(
                conn.list_all(
                    "list pods",
                    core.list_pod_for_all_namespaces,
                    size,
                    field_selector=UNFINISHED_PODS,
                )
            ),
            namespaces=list(conn.list_all("list namespaces", core.list_namespace, size)),
            managed=list(
                conn.list_all(
                    "list Yunheng deployments",
                    apps.list_deployment_for_all_namespaces,
                    size,
                    label_selector=f"{MANAGED_BY}={MANAGED_BY_VALUE}",
                )
            ),
        )

    def snapshot(self, listed: Listed) -> Snapshot:
        c = self.config
        options = DiscoverOptions(
            region=c.region,
            default_zone=c.default_zone,
            zone_availability=c.zone_availability,
            skip_namespaces=frozenset(c.system_namespaces),
            tolerated_taints=frozenset(c.tolerated_taints),
            trait_label_prefix=c.trait_label_prefix,
        )
        try:
            return build_snapshot(
                listed.nodes, listed.pods, listed.namespaces, listed.managed, options
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise AdapterError(
                f"{self.connection.where}: discover failed: an object of unexpected shape: {exc!r}"
            ) from None

    # --- provision / deprovision ------------------------------------------------------

    def provision(self, request: ProvisionRequest) -> ProvisionResult:
        conn, c = self.connection, self.config
        namespace = self._namespace(request.department)
        name = object_name(request.idempotency_key)
        apps = k8s.AppsV1Api(conn.api)
        namespace_exists = self._namespace_exists(namespace)
        if namespace_exists:  # a retry finds what an earlier try made by the key's label
            found = conn.raw(
                f"find deployment for key {request.idempotency_key!r}",
                apps.list_namespaced_deployment,
                namespace=namespace,
                label_selector=f"{KEY_LABEL}={name}",
            )
            for item in found.get("items") or []:
                return self._existing(item, request, namespace, name)
        hostname = self._hostname(request.host)
        if not namespace_exists:
            self._create_namespace(namespace, request.department)
        manifest = deployment_manifest(
            name=name,
            namespace=namespace,
            key=request.idempotency_key,
            replica_name=request.name,
            hostname=hostname,
            node=request.host,
            image=str(request.extra.get("image") or c.workload_image),
            resources=requested_resources(
                request.vcpus, request.memory_mb, request.disk_gb, request.gpus, c.gpu_resource
            ),
            tolerated_taints=c.tolerated_taints,
        )
        operation = f"create deployment {namespace}/{name}"
        try:
            conn.call(
                operation,
                lambda: apps.create_namespaced_deployment(
                    namespace=namespace,
                    body=model(k8s.V1Deployment, manifest),
                    _request_timeout=conn.timeout,
                ),
                expect=(409,),
            )
        except ApiException:  # 409: an earlier try (whose answer was lost) made it
            existing = conn.raw(
                operation, apps.read_namespaced_deployment, name=name, namespace=namespace
            )
            return self._existing(existing, request, namespace, name)
        return ProvisionResult(
            external_id=replica_id(namespace, name),
            host=request.host,
            created=True,
            extra={"namespace": namespace, "deployment": name},
        )

    def deprovision(self, external_id: str) -> bool:
        conn = self.connection
        parts = split_replica_id(external_id)
        if parts is None:
            raise AdapterError(
                f"{conn.where}: deprovision {external_id!r} failed: "
                "not a Yunheng replica id (namespace/deployment)"
            )
        namespace, name = parts
        apps = k8s.AppsV1Api(conn.api)
        operation = f"delete deployment {namespace}/{name}"
        try:
            current = conn.raw(
                operation,
                apps.read_namespaced_deployment,
                name=name,
                namespace=namespace,
                expect=(404,),
            )
            labels = (current.get("metadata") or {}).get("labels") or {}
            if labels.get(MANAGED_BY) != MANAGED_BY_VALUE:
                raise AdapterError(
                    f"{conn.where}: {operation} refused: it was not made by Yunheng "
                    f"(no {MANAGED_BY}={MANAGED_BY_VALUE} label)"
                )
            conn.raw(
                operation,
                apps.delete_namespaced_deployment,
                name=name,
                namespace=namespace,
                propagation_policy="Background",  # its ReplicaSet and pod go with it
                expect=(404,),
            )
        except ApiException:  # 404: already gone
            return False
        return True

    # --- check --------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        conn = self.connection
        results: list[CheckResult] = []
        try:
            core = k8s.CoreV1Api(conn.api)
            conn.raw("list nodes", core.list_node, limit=1)
            results.append(CheckResult(Capability.list, True, f"{conn.where}: can list nodes"))
        except Exception as exc:  # check() reports, it never raises
            results.append(CheckResult(Capability.list, False, _reason(exc)))
        results.append(self._check_provision())
        return results

    def _check_provision(self) -> CheckResult:
        """Ask the API server (SelfSubjectAccessReview) whether these credentials may create
        what provision() creates; nothing is created to find out."""
        conn = self.connection
        denied: list[str] = []
        try:
            auth = k8s.AuthorizationV1Api(conn.api)
            for group, resource in (("apps", "deployments"), ("", "namespaces")):
                review = model(
                    k8s.V1SelfSubjectAccessReview,
                    {
                        "apiVersion": "authorization.k8s.io/v1",
                        "kind": "SelfSubjectAccessReview",
                        "spec": {
                            "resourceAttributes": {
                                "verb": "create",
                                "group": group,
                                "resource": resource,
                            }
                        },
                    },
                )
                answer = conn.raw(
                    f"review access to create {resource}",
                    auth.create_self_subject_access_review,
                    body=review,
                )
                status = answer.get("status") or {}
                if not status.get("allowed"):
                    why = (
                        status.get("reason") or status.get("evaluationError") or "no rule allows it"
                    )
                    denied.append(f"create {resource}: {why}")
        except Exception as exc:  # check() reports, it never raises
            return CheckResult(Capability.provision, False, _reason(exc))
        if denied:
            return CheckResult(
                Capability.provision, False, f"{conn.where}: not allowed to " + "; ".join(denied)
            )
        return CheckResult(
            Capability.provision, True, f"{conn.where}: may create namespaces and deployments"
        )

    # --- helpers ------------------------------------------------------------------------

    def _namespace(self, department: str | None) -> str:
        c = self.config
        namespace = f"{c.namespace_prefix}{department}" if department else c.default_namespace
        if not is_dns_label(namespace):
            raise AdapterError(
                f"{self.connection.where}: provision failed: namespace {namespace!r} for "
                f"department {department!r} is not a valid Kubernetes name"
            )
        return namespace

    def _namespace_exists(self, namespace: str) -> bool:
        conn = self.connection
        core = k8s.CoreV1Api(conn.api)
        try:
            conn.raw(
                f"read namespace {namespace}", core.read_namespace, name=namespace, expect=(404,)
            )
        except ApiException:
            return False
        return True

    def _create_namespace(self, namespace: str, department: str | None) -> None:
        conn = self.connection
        core = k8s.CoreV1Api(conn.api)
        body = model(k8s.V1Namespace, namespace_manifest(namespace, department))
        try:
            conn.call(
                f"create namespace {namespace}",
                lambda: core.create_namespace(body=body, _request_timeout=conn.timeout),
                expect=(409,),
            )
        except ApiException:  # 409: made meanwhile by a concurrent provision
            return

    def _hostname(self, node: str) -> str:
        """The planned node's `kubernetes.io/hostname` label, which the affinity matches; it
        can differ from the node name. A node that is no longer there is a clear error."""
        conn = self.connection
        core = k8s.CoreV1Api(conn.api)
        try:
            found = conn.raw(f"read node {node}", core.read_node, name=node, expect=(404,))
        except ApiException as exc:
            raise AdapterError(
                f"{conn.where}: provision failed: planned node {node!r} is not in the cluster "
                f"({cause(exc)})"
            ) from None
        labels = (found.get("metadata") or {}).get("labels") or {}
        return str(labels.get(HOSTNAME_LABEL) or node)

    def _existing(
        self, item: dict[str, Any], request: ProvisionRequest, namespace: str, name: str
    ) -> ProvisionResult:
        annotations = (item.get("metadata") or {}).get("annotations") or {}
        if annotations.get(KEY_ANNOTATION) != request.idempotency_key:
            raise AdapterError(
                f"{self.connection.where}: create deployment {namespace}/{name} failed: the "
                f"name is taken by a deployment not made for key {request.idempotency_key!r}"
            )
        return ProvisionResult(
            external_id=replica_id(namespace, name),
            host=request.host,
            created=False,
            extra={"namespace": namespace, "deployment": name},
        )


def model(cls: type[M], data: dict[str, Any]) -> M:
    """A client model from its JSON form (the manifests are written as plain JSON)."""
    built: M | None = cls.from_dict(data)  # type: ignore[attr-defined]
    assert built is not None
    return built


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, AdapterError) else f"{type(exc).__name__}: {exc}"
