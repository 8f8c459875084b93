"""Load: list and approval endpoints under concurrent clients, 2,000 hosts and 20,000 replicas.

A throwaway durable PostgreSQL gets a simulated cloud (10 zones x 200 hosts, 8,000 workloads
of 1-4 replicas: ~20,000 replicas, synced through the adapter like any cloud), 500 firing
alerts through the Alertmanager intake, and a department with N requests whose plans are
proposed and wait for a decision. `yunheng serve` (`--workers` processes, default 1) then
runs on 127.0.0.1 with the alert loop on, as in production.

The load (bench.load_drive; an admin API token, keep-alive connections of bench.wire) takes
GET /hosts, /workloads, /requests, /alerts (first page, limit 50) round-robin and, spread
evenly over the run, POST /plans/{id}/approve or /reject on each prepared plan (each decided
once; approval provisions on the simulator after the response: --plans 60 over 30 s is two
decisions a second, steadily). Without --rate, C
clients send as fast as they are answered for D seconds (closed loop: the throughput at
saturation). With --rate R, R requests a second are sent on a fixed schedule over up to C
connections (open loop), and each latency counts from when its request was due: the test
of "R requests/s at p99 under 200 ms". Reported: requests per second and p50/p95/p99 per
endpoint, and where the machine's CPU went. The client runs on the same 2 cores as the
server, so it takes CPU the server could use (bench.wire keeps that small).

    .venv/bin/python -m bench.load [--rate R] [--clients 16] [--seconds 30] [--plans 60]
        [--workers 1] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlmodel import Session, col

from adapters import service as clouds
from adapters.simulator import DEFAULT_DEPARTMENTS
from alerts.state import ingest_alertmanager
from bench.alerts import database
from bench.load_drive import Mix, closed_loop, open_loop, warm_up
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
    parser.add_argument(
        "--rate", type=float, default=0, help="requests/s on a fixed schedule (0: closed loop)"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections")
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
        auth = {"Authorization": f"Bearer {token}"}
        asyncio.run(warm_up(base, auth, args.clients))
        mix = Mix(plan_ids, args.seconds)
        load = (
            open_loop(base, auth, mix, args.rate, args.clients, args.seconds)
            if args.rate
            else closed_loop(base, auth, mix, args.clients, args.seconds)
        )
        recorded = asyncio.run(load)
        latencies, errors, wall = recorded.latencies, recorded.errors, recorded.wall
        after = (_cpu(server), psutil.Process().cpu_times(), psutil.cpu_times())
    headers = ["endpoint", "requests", "rps", "p50 ms", "p95 ms", "p99 ms", "non-2xx"]
    print(render(headers, rows_of(latencies, errors, wall), {1, 2, 3, 4, 5, 6}, args.markdown))
    total = sum(len(v) for v in latencies.values())
    everything = [v for values in latencies.values() for v in values]
    how = f"open loop at {args.rate:g}/s over" if args.rate else "closed loop,"
    print(
        f"{how} {args.clients} connections, {wall:.1f} s: {total / wall:.0f} requests/s, p99 "
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
    """CPU seconds (user + system) of the server's processes so far (a helper process
    that has exited since, such as multiprocessing's, no longer counts)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


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
