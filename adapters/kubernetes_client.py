"""The Kubernetes adapter's connection: one private ApiClient, bounded retries, named errors.

Every adapter instance builds its own `kubernetes.client.Configuration` and `ApiClient` and
never touches the library's process-wide default configuration, so two clusters registered
in one Yunheng process cannot leak credentials or hosts into each other.

All four ways to connect end in the library's own loaders: a kubeconfig file, a kubeconfig
text from the encrypted credentials, an explicit API server URL with a token or a client
certificate (turned into a one-context kubeconfig in memory) and the in-cluster service
account. The library then handles TLS, client-certificate temp files and token refresh.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from adapters.base import AdapterError

T = TypeVar("T")

# Worth another try: the API server or a proxy in front of it is overloaded or restarting.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_CAP_SECONDS = 5.0


@dataclass(frozen=True)
class ConnectionSpec:
    """Where and how to connect; exactly one source is set (validated by the adapter)."""

    kubeconfig_text: str | None = None
    kubeconfig_path: str | None = None
    context: str | None = None
    in_cluster: bool = False
    api_server: str | None = None
    token: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None
    ca_cert_pem: str | None = None
    insecure_skip_tls_verify: bool = False


@dataclass(frozen=True)
class CallPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 2  # extra attempts after the first, for connection faults and 429/5xx
    backoff: float = 0.5  # seconds before the first retry; doubles each time


class KubeConnection:
    """A lazily built ApiClient plus `call()`, which retries and turns failures into
    AdapterError messages naming the cluster, the operation and the cause."""

    def __init__(self, spec: ConnectionSpec, policy: CallPolicy) -> None:
        self.spec = spec
        self.policy = policy
        self._api: Any = None

    @property
    def where(self) -> str:
        """How errors name the cloud: the API server, or the configured source before connecting."""
        if self._api is not None:
            return f"kubernetes cluster {self._api.configuration.host}"
        if self.spec.api_server:
            return f"kubernetes cluster {self.spec.api_server}"
        if self.spec.in_cluster:
            return "kubernetes cluster (in-cluster service account)"
        context = f" context {self.spec.context!r}" if self.spec.context else ""
        source = self.spec.kubeconfig_path or "kubeconfig from credentials"
        return f"kubernetes cluster ({source}{context})"

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = self._build()
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def _build(self) -> Any:
        configuration = k8s.Configuration()  # a fresh one: never the library-wide default
        # Our own retry loop below decides what is retried; urllib3 must not retry silently.
        configuration.retries = 0
        spec = self.spec
        try:
            if spec.in_cluster:
                k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            elif spec.kubeconfig_path:
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=spec.kubeconfig_path,
                    context=spec.context,
                    client_configuration=configuration,
                    persist_config=False,  # never write refreshed tokens back to the file
                )
            else:
                k8s_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                    config_dict=self._config_dict(),
                    context=spec.context,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
            raise AdapterError(f"{self.where}: cannot load connection settings: {exc}") from None
        return k8s.ApiClient(configuration=configuration)

    def _config_dict(self) -> dict[str, Any]:
        spec = self.spec
        if spec.kubeconfig_text is not None:
            import yaml  # type: ignore[import-untyped,unused-ignore]

            try:
                loaded = yaml.safe_load(spec.kubeconfig_text)
            except yaml.YAMLError as exc:
                # Only the position: YAML's own message quotes the text, which holds secrets.
                mark = getattr(exc, "problem_mark", None)
                where = f" at line {mark.line + 1}" if mark is not None else ""
                raise ValueError(f"credentials.kubeconfig is not valid YAML{where}") from None
            if not isinstance(loaded, dict):
                raise ValueError("credentials.kubeconfig is not a kubeconfig mapping")
            return loaded
        cluster: dict[str, Any] = {"server": spec.api_server}
        if spec.ca_cert_pem:
            cluster["certificate-authority-data"] = _b64(spec.ca_cert_pem)
        if spec.insecure_skip_tls_verify:
            cluster["insecure-skip-tls-verify"] = True
        user: dict[str, Any] = {}
        if spec.token:
            user["token"] = spec.token
        if spec.client_cert_pem and spec.client_key_pem:
            user["client-certificate-data"] = _b64(spec.client_cert_pem)
            user["client-key-data"] = _b64(spec.client_key_pem)
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "yunheng", "cluster": cluster}],
            "users": [{"name": "yunheng", "user": user}],
            "contexts": [{"name": "yunheng", "context": {"cluster": "yunheng", "user": "yunheng"}}],
            "current-context": "yunheng",
        }

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.policy.connect_timeout, self.policy.read_timeout)

    def call(self, operation: str, fn: Callable[[], T], expect: tuple[int, ...] = ()) -> T:
        """Run one API call with bounded retries and exponential backoff.

        Retried: connection faults and 429/5xx. Not retried: 4xx answers (a wrong token stays
        wrong). A create retried after a lost answer meets 409 AlreadyExists, which the
        caller treats as "made by the earlier try", so retrying writes is safe here.
        An answer whose status is in `expect` (say 404 on a read) is re-raised as the
        ApiException for the caller to handle; any other failure becomes an AdapterError.
        """
        attempts = self.policy.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                return fn()
            except ApiException as exc:
                if exc.status in RETRYABLE_STATUS and not last:
                    self._sleep(attempt)
                    continue
                if exc.status in expect:
                    raise
                raise AdapterError(self.describe(operation, exc, attempt + 1)) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if not last:
                    self._sleep(attempt)
                    continue
                raise AdapterError(self.describe(operation, exc, attempt + 1)) from None
            except ValueError as exc:  # an answer that is not the JSON asked for (a proxy's page)
                raise AdapterError(self.describe(operation, exc)) from None
        raise AssertionError("unreachable: the loop returns or raises")

    def _sleep(self, attempt: int) -> None:
        time.sleep(min(self.policy.backoff * (2**attempt), BACKOFF_CAP_SECONDS))

    def describe(self, operation: str, exc: BaseException, attempts: int = 1) -> str:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return f"{self.where}: {operation} failed{tries}: {cause(exc)}"

    def raw(
        self,
        operation: str,
        fn: Callable[..., Any],
        expect: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Call and return the answer as plain JSON, skipping the client's model classes:
        deserialising 20,000 pods into them costs far more than the HTTP round trips."""

        def once() -> dict[str, Any]:
            response = fn(**kwargs, _preload_content=False, _request_timeout=self.timeout)
            data: dict[str, Any] = json.loads(response.data)
            return data

        return self.call(operation, once, expect)

    def list_all(
        self, operation: str, fn: Callable[..., Any], page_size: int, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list call, in pages of `page_size` (limit/continue), so a big
        cluster's API server is never asked for one giant response."""
        token: str | None = None
        while True:
            page = self.raw(operation, fn, limit=page_size, _continue=token, **kwargs)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return


def cause(exc: BaseException) -> str:
    """The API server's own words for a failure: HTTP status, reason and Status message."""
    if isinstance(exc, ApiException):
        message = ""
        try:
            status = json.loads(exc.body or "")
            if isinstance(status, dict):
                message = str(status.get("message") or "")
        except ValueError:
            message = (exc.body or "").strip()[:200]
        if exc.status == 0:  # the client reports TLS failures as status 0
            return f"TLS error: {exc.reason}"
        head = f"HTTP {exc.status} {exc.reason}".strip()
        return f"{head}: {message}" if message else head
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return f"cannot reach the API server: {exc.reason}"
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return f"cannot reach the API server: {type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def status_reason(exc: ApiException) -> str:
    """The Status object's machine reason (NotFound, AlreadyExists, ...), or ''."""
    try:
        status = json.loads(exc.body or "")
    except ValueError:
        return ""
    return str(status.get("reason") or "") if isinstance(status, dict) else ""


def _b64(pem: str) -> str:
    return base64.standard_b64encode(pem.encode()).decode()
