"""A kube-apiserver stand-in on 127.0.0.1 that answers from a ReplayCluster.

Only the calls the Kubernetes adapter makes are served, over plain HTTP with bearer-token
authentication, in the API server's JSON shapes: lists with `limit`/`continue` paging and
label/field selectors (list items carry no kind/apiVersion, as on a real server), 201 for a
create, Status objects for 401/403/404/409 and for a delete. Anything else is a 404 Status.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.k8s_replay.cluster import (
    ApiError,
    ReplayCluster,
    access_review,
    field_value,
    forbidden,
    matches,
    not_found,
)
from tests.k8s_replay.objects import Obj, status

NS = r"(?P<ns>[a-z0-9-]+)"
NAME = r"(?P<name>[a-z0-9.-]+)"
# (method, path pattern, handler name, verb, resource, group) for authorisation.
ROUTES: list[tuple[str, re.Pattern[str], str, str, str, str]] = [
    (m, re.compile(f"^{p}$"), h, v, r, g)
    for m, p, h, v, r, g in [
        ("GET", "/api/v1/nodes", "list_nodes", "list", "nodes", ""),
        ("GET", f"/api/v1/nodes/{NAME}", "get_node", "get", "nodes", ""),
        ("GET", "/api/v1/pods", "list_pods", "list", "pods", ""),
        ("GET", "/api/v1/namespaces", "list_namespaces", "list", "namespaces", ""),
        ("POST", "/api/v1/namespaces", "create_namespace", "create", "namespaces", ""),
        ("GET", f"/api/v1/namespaces/{NAME}", "get_namespace", "get", "namespaces", ""),
        ("GET", "/apis/apps/v1/deployments", "list_deployments", "list", "deployments", "apps"),
        (
            "GET",
            f"/apis/apps/v1/namespaces/{NS}/deployments",
            "list_deployments",
            "list",
            "deployments",
            "apps",
        ),
        (
            "POST",
            f"/apis/apps/v1/namespaces/{NS}/deployments",
            "create_deployment",
            "create",
            "deployments",
            "apps",
        ),
        (
            "GET",
            f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}",
            "get_deployment",
            "get",
            "deployments",
            "apps",
        ),
        (
            "DELETE",
            f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}",
            "delete_deployment",
            "delete",
            "deployments",
            "apps",
        ),
        (
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            "access_review",
            "create",
            "selfsubjectaccessreviews",
            "authorization.k8s.io",
        ),
    ]
]
LIST_KINDS = {"nodes": "NodeList", "pods": "PodList", "namespaces": "NamespaceList"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real API server
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        cluster = self.server.cluster
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        try:
            with cluster.lock:
                cluster.log.append((method, url.path))
                code, answer = self._route(cluster, method, url.path, query, body)
        except ApiError as exc:
            code, answer = exc.code, exc.body
        except Exception as exc:  # a replay bug answers like an API server's internal error
            code = 500
            answer = status("internal_error", f"Internal error occurred: {exc!r}")
        data = json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(
        self, cluster: ReplayCluster, method: str, path: str, query: dict[str, str], body: Obj
    ) -> tuple[int, Obj]:
        auth = self.headers.get("Authorization") or ""
        role = cluster.tokens.get(auth.removeprefix("Bearer ").strip())
        if not auth.startswith("Bearer ") or role is None:
            raise ApiError(401, status("unauthorized"))
        if cluster.fail_next > 0:
            cluster.fail_next -= 1
            raise ApiError(503, status("service_unavailable"))
        for route_method, pattern, handler, verb, resource, group in ROUTES:
            found = pattern.match(path)
            if route_method != method or not found:
                continue
            args = found.groupdict()
            if role != "admin" and verb not in ("get", "list") and handler != "access_review":
                raise forbidden(verb, resource, group, args.get("ns"))
            return self._handle(cluster, handler, role, args, query, body)
        raise ApiError(
            404,
            status("not_found", "the server could not find the requested resource"),
        )

    def _handle(
        self,
        cluster: ReplayCluster,
        handler: str,
        role: str,
        args: dict[str, str],
        query: dict[str, str],
        body: Obj,
    ) -> tuple[int, Obj]:
        name, ns = args.get("name", ""), args.get("ns")
        if handler == "list_nodes":
            return 200, _list(cluster, "nodes", list(cluster.nodes.values()), query)
        if handler == "list_pods":
            return 200, _list(cluster, "pods", list(cluster.pods.values()), query)
        if handler == "list_namespaces":
            return 200, _list(cluster, "namespaces", list(cluster.namespaces.values()), query)
        if handler == "list_deployments":
            items = [d for (n, _), d in cluster.deployments.items() if ns is None or n == ns]
            return 200, _list(cluster, "deployments", items, query)
        if handler == "get_node":
            return 200, _get(cluster.nodes.get(name), "nodes", name)
        if handler == "get_namespace":
            return 200, _get(cluster.namespaces.get(name), "namespaces", name)
        if handler == "get_deployment":
            return 200, _get(cluster.deployments.get((ns or "", name)), "deployments", name)
        if handler == "create_namespace":
            return 201, cluster.create_namespace(body)
        if handler == "create_deployment":
            return 201, cluster.create_deployment(ns or "", body)
        if handler == "delete_deployment":
            return 200, cluster.delete_deployment(ns or "", name)
        if handler == "access_review":
            return 201, access_review(role, body)
        raise AssertionError(handler)


def _get(obj: Obj | None, resource: str, name: str) -> Obj:
    if obj is None:
        raise not_found(resource, name, "apps" if resource == "deployments" else "")
    return obj


def _list(cluster: ReplayCluster, resource: str, items: list[Obj], query: dict[str, str]) -> Obj:
    """One page of a list answer. The continue token is opaque base64, as on a real server,
    and later pages come from the snapshot the first page was cut from."""
    label, fields = query.get("labelSelector"), query.get("fieldSelector")
    start, version = 0, cluster.resource_version
    if query.get("continue"):
        token = json.loads(base64.b64decode(query["continue"]))
        start, version = token["start"], token["rv"]
    key = (resource, label, fields, version)
    selected = cluster.list_cache.get(key)
    if selected is None:
        selected = sorted(
            (
                item
                for item in items
                if matches(label, (item["metadata"].get("labels") or {}).get)
                and matches(fields, partial(_field, item))
            ),
            key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
        )
        cluster.list_cache = {key: selected}  # one list in flight at a time is enough here
    limit = int(query.get("limit") or 0) or len(selected) or 1
    page = selected[start : start + limit]
    meta: Obj = {"resourceVersion": str(version)}
    if start + limit < len(selected):
        token = {"v": "meta.k8s.io/v1", "rv": version, "start": start + limit}
        meta["continue"] = base64.b64encode(json.dumps(token).encode()).decode()
        meta["remainingItemCount"] = len(selected) - start - limit
    kind = LIST_KINDS.get(resource, "DeploymentList")
    return {
        "kind": kind,
        "apiVersion": "apps/v1" if kind == "DeploymentList" else "v1",
        "metadata": meta,
        "items": [{k: v for k, v in i.items() if k not in ("kind", "apiVersion")} for i in page],
    }


def _field(item: Obj, path: str) -> str | None:
    value = field_value(item, path)
    return None if value is None else str(value)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cluster: ReplayCluster) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cluster = cluster


@dataclass
class ReplayServer:
    cluster: ReplayCluster
    url: str
    _server: _Server
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop answering; the port is closed, so clients see connection refused."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def kubeconfig(self, path: Path, token: str = "admin-token", context: str = "replay") -> Path:  # noqa: S107
        path.write_text(kubeconfig_text(self.url, token, context))
        path.chmod(0o600)
        return path


@contextmanager
def serve(cluster: ReplayCluster) -> Iterator[ReplayServer]:
    """Serve `cluster` on an ephemeral port of 127.0.0.1 until the block ends."""
    server = _Server(cluster)
    thread = threading.Thread(target=server.serve_forever, name="k8s-replay", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    replay = ReplayServer(cluster, f"http://{host!s}:{port}", server, thread)
    try:
        yield replay
    finally:
        if thread.is_alive():
            replay.stop()


def kubeconfig_text(url: str, token: str, context: str = "replay") -> str:
    """A kubeconfig (YAML) with one cluster, one token user and one context."""
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {context}\n"
        "  cluster:\n"
        f"    server: {url}\n"
        "users:\n"
        f"- name: {context}-user\n"
        "  user:\n"
        f"    token: {token}\n"
        "contexts:\n"
        f"- name: {context}\n"
        "  context:\n"
        f"    cluster: {context}\n"
        f"    user: {context}-user\n"
        f"current-context: {context}\n"
    )
