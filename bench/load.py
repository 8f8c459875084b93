"""Load: list and approval endpoints under concurrent clients, 2,000 hosts and 20,000 replicas.

A throwaway durable PostgreSQL gets a simulated cloud (10 zones x 200 hosts, 8,000 workloads
of 1-4 replicas: ~20,000 replicas, synced through the adapter like any cloud), 500 firing
alerts through the Alertmanager intake, and a department with N requests whose plans are
proposed and wait for a decision. `yunheng serve` (`--workers` processes, default 1) then
runs on 127.0.0.1 with the alert loop on, as in production.

The load: C concurrent asyncio clients (httpx2, keep-alive, an admin API token) for D seconds
pick endpoints round-robin from the mix: GET /hosts, /workloads, /requests, /alerts (first
page, limit 50) and, while prepared plans last, POST /plans/{id}/approve or /reject (each plan
decided once; approval provisions on the simulator after the response). Every request's
latency is recorded; reported: requests per second overall and p50/p95/p99 per endpoint.
The client runs on the same 2 cores as the server, so it takes CPU the server could use.

    .venv/bin/python -m bench.load [--clients 16] [--seconds 30] [--plans 60] [--workers 1]
        [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlmodel import Session, col

from adapters import service as clouds
from adapters.simulator import DEFAULT_DEPARTMENTS
from alerts.state import ingest_alertmanager
from bench.alerts import database
from bench.table import render
from inventory import accounts, departments
from inventory.access import Viewer
from inventory.accounts import viewer_of
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.models import (
    CloudCreate,
    Department,
    Host,
    Plan,
    Replica,
    RequestCreate,
    Resource,
    Role,
    UserCreate,
)
from inventory.settings import Settings
from inventory.types import utcnow
from scheduler import workflow
from tests.browser import serving

LISTS = ["/hosts", "/workloads", "/requests", "/alerts"]
API = "/api/v1"
TARGET_RPS, TARGET_P99_MS = 200, 200


def build(url: str, box: SecretBox, plans: int) -> tuple[str, list[int]]:
    """The estate; returns an admin API token and the ids of plans awaiting a decision."""
    engine = make_engine(url)
    system = Viewer.system("bench")
    with Session(engine, expire_on_commit=False) as session:
        for code in DEFAULT_DEPARTMENTS:
            session.add(Department(code=code, name=f"部门 {code}"))
        session.flush()
        cloud = clouds.register_cloud(
            session,
            system,
            CloudCreate(
                name="load-cloud",
                kind="simulator",
                vendor="bench",
                region="r1",
                security_level=3,
                settings={"zones": 10, "hosts_per_zone": 200, "workloads": 8000},
            ),
            box,
        )
        session.flush()
        outcome = clouds.sync(session, system, cloud.id or 0, box)
        assert outcome.ok, outcome.error
        admin = accounts.create_user(
            session, system, UserCreate(username="load", role=Role.admin, password="x" * 12)
        )
        token = accounts.issue_token(
            session, admin, name="load", kind="api", ttl=timedelta(days=1)
        ).token
        asker = accounts.create_user(
            session,
            system,
            UserCreate(
                username="asker",
                role=Role.department,
                department_id=_department_id(session, DEFAULT_DEPARTMENTS[0]),
                password="x" * 12,
            ),
        )
        department = asker.department_id or 0
        departments.set_quotas(
            session, system, department, {Resource.vcpus: 100_000, Resource.instances: 10_000}
        )
        alerts = [
            {
                "status": "firing",
                "labels": {"alertname": f"LoadAlert{i % 20}", "instance": f"host-{i}",
                           "severity": ["critical", "warning", "info"][i % 3]},
                "annotations": {"summary": f"load alert {i}"},
                "startsAt": utcnow().isoformat(),
            }
            for i in range(500)
        ]  # fmt: skip
        ingest_alertmanager(
            session, {"version": "4", "status": "firing", "alerts": alerts}, utcnow()
        )
        session.commit()
        viewer = viewer_of(asker)
        for i in range(plans):
            data = RequestCreate(service_name=f"load-{i}", replicas=2, vcpus=1, memory_mb=512)
            workflow.submit(session, viewer, data, time_limit=1)
            session.commit()
        proposed = session.execute(sa.select(col(Plan.id)).order_by(col(Plan.id))).scalars()
        plan_ids = [int(p) for p in proposed]
        count = sa.select(sa.func.count())
        hosts = session.execute(count.select_from(Host)).scalar_one()
        replicas = session.execute(count.select_from(Replica)).scalar_one()
    engine.dispose()
    print(f"estate: {hosts} hosts, {replicas} replicas, {len(plan_ids)} proposed plans")
    return token, plan_ids


def _department_id(session: Session, code: str) -> int:
    found = session.execute(sa.select(col(Department.id)).where(col(Department.code) == code))
    return int(found.scalar_one())


async def hammer(
    base: str, token: str, plan_ids: list[int], clients: int, seconds: float
) -> tuple[dict[str, list[float]], dict[str, int], float]:
    """Latencies (s) per endpoint, non-2xx counts per endpoint, and the wall time."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    plans = iter(plan_ids)
    decisions = itertools.cycle(["approve", "reject"])
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(index: int, http: httpx2.AsyncClient, stop: float) -> None:
        mix = itertools.cycle([*LISTS, "decide"])
        for _ in range(index):  # clients start at different points of the mix
            next(mix)
        while time.perf_counter() < stop:
            what = next(mix)
            if what == "decide":
                plan = next(plans, None)
                if plan is None:
                    continue
                decision = next(decisions)
                name = f"POST /plans/{{id}}/{decision}"
                body = {"comment": "load test: plan is fine" if decision == "approve" else
                        "load test: not needed"}  # fmt: skip
                started = time.perf_counter()
                response = await http.post(
                    f"{base}{API}/plans/{plan}/{decision}", json=body, headers=headers
                )
            else:
                name = f"GET {what}"
                started = time.perf_counter()
                response = await http.get(f"{base}{API}{what}?limit=50", headers=headers)
            latencies[name].append(time.perf_counter() - started)
            if response.status_code >= 300:
                errors[name] += 1

    async with httpx2.AsyncClient(limits=limits, timeout=60) as http:
        for path in LISTS:  # warm-up: imports, caches, the connection pool
            (await http.get(f"{base}{API}{path}?limit=50", headers=headers)).raise_for_status()
        began = time.perf_counter()
        stop = began + seconds
        await asyncio.gather(*(client(i, http, stop) for i in range(clients)))
        wall = time.perf_counter() - began
    return latencies, errors, wall


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def rows_of(
    latencies: dict[str, list[float]], errors: dict[str, int], wall: float
) -> list[list[str]]:
    def row(name: str, values: list[float], failed: int) -> list[str]:
        return [
            name,
            str(len(values)),
            f"{len(values) / wall:.0f}",
            f"{statistics.median(values) * 1000:.0f}",
            f"{pct(values, 0.95):.0f}",
            f"{pct(values, 0.99):.0f}",
            str(failed),
        ]

    rows = [row(name, values, errors[name]) for name, values in sorted(latencies.items())]
    everything = [v for values in latencies.values() for v in values]
    rows.append(row("all (the mix)", everything, sum(errors.values())))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of the load")
    parser.add_argument("--plans", type=int, default=60, help="plans prepared for decisions")
    parser.add_argument("--workers", type=int, default=1, help="yunheng serve --workers")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    os.environ["YUNHENG_WORKERS"] = str(args.workers)  # `serving` passes the environment on
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = stack.enter_context(database("postgresql", folder))
        settings = Settings(
            database_url=url, data_dir=folder / "data", secret_key=Fernet.generate_key().decode()
        )
        token, plan_ids = build(url, SecretBox.from_settings(settings), args.plans)
        base = stack.enter_context(serving(settings, folder / "serve.log"))
        server = _server_processes(base)
        before = (_cpu(server), psutil.Process().cpu_times(), psutil.cpu_times())
        latencies, errors, wall = asyncio.run(
            hammer(base, token, plan_ids, args.clients, args.seconds)
        )
        after = (_cpu(server), psutil.Process().cpu_times(), psutil.cpu_times())
    headers = ["endpoint", "requests", "rps", "p50 ms", "p95 ms", "p99 ms", "non-2xx"]
    print(render(headers, rows_of(latencies, errors, wall), {1, 2, 3, 4, 5, 6}, args.markdown))
    total = sum(len(v) for v in latencies.values())
    everything = [v for values in latencies.values() for v in values]
    print(
        f"{args.clients} clients, {wall:.1f} s: {total / wall:.0f} requests/s, p99 "
        f"{pct(everything, 0.99):.0f} ms (target {TARGET_RPS} at p99 < {TARGET_P99_MS} ms), "
        f"{args.workers} server process(es)"
    )
    print(cpu_split(before, after, wall))


def _server_processes(base: str) -> list[psutil.Process]:
    """`yunheng serve` and, with --workers, the worker processes it started."""
    port = base.rsplit(":", 1)[1]
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "serve" in cmdline and port in cmdline:
            return [proc, *proc.children(recursive=True)]
    raise RuntimeError(f"no `yunheng serve` on port {port}")


def _cpu(processes: list[psutil.Process]) -> float:
    """CPU seconds (user + system) of the server's processes so far."""
    return float(sum(p.cpu_times().user + p.cpu_times().system for p in processes))


def cpu_split(before: tuple[Any, Any, Any], after: tuple[Any, Any, Any], wall: float) -> str:
    """Where the machine's CPU went during the load: the server process, this client, and
    the rest (mostly PostgreSQL), in cores (2.0 = both cores busy)."""

    def busy(times: Any) -> float:
        return float(times.user + times.system)

    def machine(times: Any) -> float:
        return float(times.user + times.system + times.nice + getattr(times, "softirq", 0.0))

    server = (after[0] - before[0]) / wall
    client = (busy(after[1]) - busy(before[1])) / wall
    total = (machine(after[2]) - machine(before[2])) / wall
    return (
        f"CPU in cores: server {server:.2f}, load client {client:.2f}, "
        f"rest (PostgreSQL, others) {total - server - client:.2f}, machine {total:.2f}"
        f" of {psutil.cpu_count()}"
    )


if __name__ == "__main__":
    main()
