"""Console page response times with a big estate: 2,000 hosts and 1,000 firing alerts.

For each backend a fresh database gets a simulated cloud of 2,000 hosts (synced through the
adapter like any cloud), 1,000 firing alerts posted through the Alertmanager intake and one
alert-loop cycle to group them into incidents. `yunheng serve` then runs in a subprocess on
127.0.0.1 (the alert loop on, as in production) and an admin's browser session requests each
page in turn, sequentially: p50/p95/max over the timed requests after a warm-up.

    .venv/bin/python -m bench.pages [--backend sqlite|postgresql|both] [--requests N] [--markdown]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlmodel import Session, col

from adapters import service as clouds
from alerts.evaluate import Evaluator
from alerts.loop import run_cycle
from alerts.state import ingest_alertmanager
from bench.alerts import database
from bench.table import render
from console.demo import Login
from inventory import accounts
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.models import Alert, AlertState, CloudCreate, Host, Role, UserCreate
from inventory.settings import Settings
from inventory.types import utcnow
from tests.browser import serving

PAGES = ["/dashboard", "/inventory/hosts", "/alerts"]
PASSWORD = "bench-password-123"  # noqa: S105 (a throwaway database's only user)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def build(url: str, box: SecretBox, hosts: int, firing: int) -> Login:
    engine = make_engine(url)
    system = Viewer.system("bench")
    with Session(engine) as session:
        zones = 10
        cloud = clouds.register_cloud(
            session,
            system,
            CloudCreate(
                name="bench-cloud",
                kind="simulator",
                vendor="bench",
                region="r1",
                security_level=3,
                settings={"zones": zones, "hosts_per_zone": hosts // zones, "workloads": 200},
            ),
            box,
        )
        session.flush()
        outcome = clouds.sync(session, system, cloud.id or 0, box)
        assert outcome.ok, outcome.error
        accounts.create_user(
            session, system, UserCreate(username="bench", role=Role.admin, password=PASSWORD)
        )
        alerts = [
            {
                "status": "firing",
                "labels": {"alertname": f"BenchAlert{i % 20}", "instance": f"host-{i}",
                           "severity": ["critical", "warning", "info"][i % 3],
                           "cloud": "bench-cloud"},
                "annotations": {"summary": f"bench alert {i}"},
                "startsAt": utcnow().isoformat(),
            }
            for i in range(firing)
        ]  # fmt: skip
        payload = {"version": "4", "status": "firing", "receiver": "bench", "alerts": alerts}
        ingest_alertmanager(session, payload, utcnow())
        session.commit()
    run_cycle(engine, box, Evaluator([], None), utcnow(), send_timeout=1.0)
    with Session(engine) as session:  # the sizes the table claims, checked
        count = sa.select(sa.func.count())
        made = session.execute(count.select_from(Host).where(col(Host.gone_at).is_(None)))
        assert made.scalar_one() == hosts, "hosts"
        on = session.execute(count.select_from(Alert).where(col(Alert.state) == AlertState.firing))
        assert on.scalar_one() >= firing, "firing alerts"
    engine.dispose()
    return Login("bench", PASSWORD, Role.admin, None)


def log_in(base: str, login: Login) -> requests.Session:
    web = requests.Session()
    page = web.get(f"{base}/login", timeout=30)
    found = CSRF.search(page.text)
    assert found, "no CSRF field on /login"
    response = web.post(
        f"{base}/login",
        data={"username": login.username, "password": login.password, "csrf_token": found[1]},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 303, response.text[:300]
    return web


def measure(backend: str, hosts: int, firing: int, n: int) -> list[list[str]]:
    rows = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = stack.enter_context(database(backend, folder))
        settings = Settings(
            database_url=url, data_dir=folder / "data", secret_key=Fernet.generate_key().decode()
        )
        login = build(url, SecretBox.from_settings(settings), hosts, firing)
        base = stack.enter_context(serving(settings, folder / "serve.log"))
        web = log_in(base, login)
        for path in PAGES:
            for _ in range(3):  # warm-up: imports, caches, connection pool
                web.get(base + path, timeout=60).raise_for_status()
            times, size = [], 0
            for _ in range(n):
                started = time.perf_counter()
                response = web.get(base + path, timeout=60)
                times.append(time.perf_counter() - started)
                response.raise_for_status()
                size = len(response.content)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            rows.append(
                [
                    backend,
                    path,
                    f"{hosts:,}",
                    f"{firing:,}",
                    str(n),
                    f"{statistics.median(times) * 1000:.0f}",
                    f"{p95 * 1000:.0f}",
                    f"{times[-1] * 1000:.0f}",
                    f"{size / 1024:.0f}",
                ]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--firing", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rows = [row for b in backends for row in measure(b, args.hosts, args.firing, args.requests)]
    headers = ["backend", "page", "hosts", "firing", "n", "p50 ms", "p95 ms", "max ms", "KiB"]
    print(render(headers, rows, {2, 3, 4, 5, 6, 7, 8}, args.markdown))


if __name__ == "__main__":
    main()
