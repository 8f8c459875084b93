"""The console's own Prometheus metrics: HTTP traffic and the inventory's health.

Each app gets its own registry (tests build many apps). Inventory gauges are read from
the database at scrape time, so every replica reports the same truth without a cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import sqlalchemy as sa
from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inventory.models import Cloud, Host

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
API_PREFIX = "/api/v1"


class InventoryCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "yunheng_cloud_up", "1 when the cloud's last sync succeeded", labels=["cloud", "kind"]
        )
        last = GaugeMetricFamily(
            "yunheng_cloud_last_sync_timestamp_seconds",
            "Unix time of the last good sync",
            labels=["cloud"],
        )
        hosts = GaugeMetricFamily(
            "yunheng_hosts", "Hosts by cloud and state", labels=["cloud", "state"]
        )
        scrape_ok = GaugeMetricFamily(
            "yunheng_inventory_scrape_ok", "1 when the database answered this scrape"
        )
        try:
            with self.engine.connect() as conn:
                clouds = conn.execute(
                    sa.select(
                        col(Cloud.id),
                        col(Cloud.name),
                        col(Cloud.kind),
                        col(Cloud.status),
                        col(Cloud.last_sync_at),
                    )
                ).all()
                counts = conn.execute(
                    sa.select(col(Host.cloud_id), col(Host.state), sa.func.count()).group_by(
                        col(Host.cloud_id), col(Host.state)
                    )
                ).all()
        except SQLAlchemyError:
            scrape_ok.add_metric([], 0)
            yield scrape_ok
            return
        names = {cid: name for cid, name, *_ in clouds}
        for _cid, name, kind, status, last_sync in clouds:
            up.add_metric([name, kind], 1 if status == "ok" else 0)
            if last_sync is not None:
                last.add_metric([name], last_sync.timestamp())
        for cid, state, n in counts:
            hosts.add_metric([names.get(cid, str(cid)), state], n)
        scrape_ok.add_metric([], 1)
        yield from (up, last, hosts, scrape_ok)


class ObserveHttp:
    """Counts and times every HTTP request, as a plain ASGI middleware: the
    `@app.middleware("http")` form (BaseHTTPMiddleware) costs a task and stream per
    request, a measurable share of a list request's CPU under load."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        # As before, a request whose handler raises past the error handlers is not counted.
        await self.app(scope, receive, observed)
        # The router writes the matched route into this same scope. Record the template,
        # not the raw path: ids must not explode label cardinality. Included routers report
        # their template without the /api/v1 prefix; put it back.
        route = scope.get("route")
        name = getattr(route, "path", "unmatched")
        if route is not None and scope["path"].startswith(API_PREFIX + "/"):
            name = API_PREFIX + name
        method = scope["method"]
        self.requests.labels(method, name, str(status)).inc()
        self.latency.labels(method, name).observe(time.perf_counter() - start)


def install(app: FastAPI, engine: Engine) -> None:
    registry = CollectorRegistry()
    requests = Counter(
        "yunheng_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "yunheng_http_request_duration_seconds",
        "HTTP request latency",
        ["method", "route"],
        registry=registry,
    )
    registry.register(InventoryCollector(engine))

    app.add_middleware(ObserveHttp, requests=requests, latency=latency)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)
