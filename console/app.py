"""The FastAPI application factory: one engine, one settings object, every router."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.engine import Engine

from console import errors, metrics
from console.routes import (
    admin,
    alert_config,
    alerts,
    auth,
    departments,
    estate,
    health,
    notifications,
    oncall,
    rebalance,
    reports,
    requests,
    sla,
    workloads,
)
from console.web import install as web
from inventory.crypto import SecretBox
from inventory.db import engine_from_settings
from inventory.settings import Settings, get_settings
from inventory.token_cache import TokenCache
from sla.kpi import kpi_config

DESCRIPTION = """
云衡 Yunheng: one inventory of the province's vendor clouds, SLA-aware placement
and 7x24 operations.

Authenticate with `POST /api/v1/auth/login`, then send `Authorization: Bearer <token>`.
Lists take `limit`, `offset` and `sort` (`name` or `-name`) and answer
`{items, total, limit, offset}`.
Errors answer `{"error": "..."}` in English, with `field` when one input is at fault and
`code` when the message has a key in the error catalogues (inventory/locales), for a
client that shows it in another language.
"""


# The modules whose routers make up /api/v1, in the order their routes are matched.
API_MODULES = (
    auth,
    estate,
    workloads,
    departments,
    requests,
    rebalance,
    admin,
    oncall,
    notifications,
    alerts,
    alert_config,
    sla,
    reports,
)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # APScheduler logs every job run at INFO (the lease heartbeat is several a minute): only
    # its warnings and errors (missed runs, a job that raised) are worth an operator's log.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.root.level))
    # /readyz compares the database's Alembic revision with the code's; Alembic logs two
    # INFO lines per look, which a probe every few seconds turns into noise.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.root.level))


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    alert_loop: bool = False,
    demo: bool = False,
) -> FastAPI:
    """`alert_loop`: this process contends for the alert-loop lease while it serves
    (`yunheng serve` and `yunheng demo` ask for it; tests build apps without it).
    `demo`: the loop also injects simulated faults (console.demo)."""
    settings = settings or get_settings()
    configure_logging(settings)
    kpi_config(settings)  # a bad YUNHENG_ASSESSMENT_KPIS stops start-up, naming the field
    engine = engine or engine_from_settings(settings)
    run_loop = alert_loop and settings.alert_loop
    box = SecretBox.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = None
        if run_loop:
            from alerts.loop import AlertLoop, demo_jobs

            jobs = demo_jobs(engine, box, settings) if demo else None
            loop = AlertLoop(engine, box, settings, extra_jobs=jobs)
            loop.start()
        app.state.alert_loop = loop
        try:
            yield
        finally:
            if loop is not None:
                await asyncio.to_thread(loop.stop)

    # Swagger UI's assets come from the fastapi-offline package: no CDN on an offline intranet.
    app = FastAPIOffline(
        title="Yunheng 云衡 API",
        version=version("yunheng"),
        description=DESCRIPTION,
        docs_url=None,  # console.web serves /docs without an inline script
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.box = box
    app.state.token_cache = TokenCache(settings.token_cache_seconds)
    app.state.alert_loop = None
    errors.install(app)
    metrics.install(app, engine)

    api = APIRouter(prefix=metrics.API_PREFIX)
    for module in API_MODULES:
        api.include_router(module.router)
    app.include_router(health.router)
    app.include_router(api)

    web.install(app, settings)
    return app


def serve_app() -> FastAPI:
    """The app of one `yunheng serve --workers N` process (uvicorn calls this factory in
    each worker): settings from the environment. It only serves: the alert loop and the
    scheduled jobs run in the jobs process `serve` starts beside the workers (console.jobs)."""
    app = create_app(alert_loop=False)
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Leave what start-up made (modules, the app, SQLAlchemy's and pydantic's metadata:
    about 300,000 objects) out of the garbage collector's full collections. Each full
    collection otherwise walks them all, measured at 80-170 ms here: a pause of every
    request of the process, which the load test saw as its p99. For serving processes only:
    a test process that made many apps would keep their garbage for good."""
    gc.collect()
    gc.freeze()
