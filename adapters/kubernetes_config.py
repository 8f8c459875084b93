"""Settings and credentials of the Kubernetes adapter, and which way to connect they name.

Secrets (a bearer token, a client certificate and key, or a whole kubeconfig text) live in
the credentials, which Yunheng stores encrypted; everything else is a setting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from adapters.kubernetes_client import ConnectionSpec

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class KubernetesSettings(BaseModel):
    """Non-secret settings. Connect through exactly one of: `kubeconfig_path`, `in_cluster`,
    `api_server` (with credentials.token or a client certificate), or credentials.kubeconfig."""

    model_config = ConfigDict(extra="forbid")
    kubeconfig_path: str | None = Field(default=None, min_length=1, max_length=4096)
    context: str | None = Field(default=None, min_length=1, max_length=253)
    in_cluster: bool = False
    api_server: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    ca_cert_pem: str | None = Field(default=None, description="PEM of the API server's CA")
    insecure_skip_tls_verify: bool = False
    region: str = Field(default="default", min_length=1, max_length=64)
    default_zone: str = Field(default="default", min_length=1, max_length=64)
    zone_availability: float = Field(default=0.999, gt=0, lt=1)
    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    read_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    retries: int = Field(default=2, ge=0, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0, le=30)
    page_size: int = Field(default=500, ge=1, le=10_000)
    namespace_prefix: str = Field(default="", max_length=30, pattern=r"^([a-z0-9][-a-z0-9]*-)?$")
    default_namespace: str = Field(default="yunheng", max_length=63, pattern=DNS_LABEL)
    system_namespaces: list[str] = Field(
        default_factory=lambda: ["kube-system", "kube-public", "kube-node-lease"]
    )
    tolerated_taints: list[str] = Field(default_factory=list)
    workload_image: str = Field(default="registry.k8s.io/pause:3.10", min_length=1)
    gpu_resource: str = Field(default="nvidia.com/gpu", min_length=1)
    trait_label_prefix: str = Field(default="feature.yunheng.io/", min_length=1)


class KubernetesCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: SecretStr | None = None
    client_cert_pem: SecretStr | None = None
    client_key_pem: SecretStr | None = None
    kubeconfig: SecretStr | None = Field(default=None, description="a whole kubeconfig text")


def connection_spec(settings: KubernetesSettings, secrets: KubernetesCredentials) -> ConnectionSpec:
    """Check that settings and credentials name exactly one way to connect."""
    # Imported here: adapters.registry imports this module to register it.
    from adapters.registry import AdapterConfigError

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    sources = [
        name
        for name, given in (
            ("settings.kubeconfig_path", settings.kubeconfig_path),
            ("settings.in_cluster", settings.in_cluster),
            ("settings.api_server", settings.api_server),
            ("credentials.kubeconfig", secrets.kubeconfig),
        )
        if given
    ]
    if len(sources) != 1:
        detail = f"got {', '.join(sources)}" if sources else "got none"
        raise AdapterConfigError(
            "settings: give exactly one way to connect: kubeconfig_path, in_cluster, "
            f"api_server (with a token or client certificate) or credentials.kubeconfig; {detail}",
            "settings",
        )
    if (secrets.client_cert_pem is None) != (secrets.client_key_pem is None):
        missing = "client_key_pem" if secrets.client_key_pem is None else "client_cert_pem"
        raise AdapterConfigError(
            f"credentials.{missing}: client_cert_pem and client_key_pem go together",
            f"credentials.{missing}",
        )
    has_identity = secrets.token is not None or secrets.client_cert_pem is not None
    if settings.api_server and not has_identity:
        raise AdapterConfigError(
            "credentials.token: settings.api_server needs a token or a client certificate",
            "credentials.token",
        )
    if not settings.api_server and has_identity:
        raise AdapterConfigError(
            "credentials.token: a token or client certificate is only used with "
            "settings.api_server (a kubeconfig carries its own)",
            "credentials.token",
        )
    if settings.context and not (settings.kubeconfig_path or secrets.kubeconfig):
        raise AdapterConfigError(
            "settings.context: a context only applies to a kubeconfig", "settings.context"
        )
    return ConnectionSpec(
        kubeconfig_text=secret(secrets.kubeconfig),
        kubeconfig_path=settings.kubeconfig_path,
        context=settings.context,
        in_cluster=settings.in_cluster,
        api_server=settings.api_server,
        token=secret(secrets.token),
        client_cert_pem=secret(secrets.client_cert_pem),
        client_key_pem=secret(secrets.client_key_pem),
        ca_cert_pem=settings.ca_cert_pem,
        insecure_skip_tls_verify=settings.insecure_skip_tls_verify,
    )
