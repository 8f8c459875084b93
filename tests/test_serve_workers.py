"""`yunheng serve --workers N` (YUNHENG_WORKERS): N processes share the port, each serving
the API from the same database, on SQLite and PostgreSQL; the alert loop runs in one more
process of its own (console.jobs), which `serve` starts again if it dies and which stops
with `serve`, even when `serve` is killed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlmodel import Session

from alerts.leader import LEASE
from alerts.loop import LEASE_NAME
from console.jobs import JobsProcess
from inventory import accounts
from inventory.access import Viewer
from inventory.db import make_engine
from inventory.models import Role, UserCreate
from inventory.types import utcnow
from tests.browser import start_serve
from tests.factories import fresh_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request, request.param, tmp_path) as url:
        yield url


def _get(url: str, token: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urlopen(Request(url, headers=headers), timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


def test_two_workers_serve_the_api(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    with Session(engine) as session:
        user = accounts.create_user(
            session,
            Viewer.system("test"),
            UserCreate(username="reader", role=Role.manager, password="x" * 12),
        )
        token = accounts.issue_token(
            session, user, name="t", kind="api", ttl=timedelta(hours=1)
        ).token
        session.commit()
    engine.dispose()
    env = {
        "YUNHENG_DATABASE_URL": database_url,
        "YUNHENG_DATA_DIR": str(tmp_path / "data"),
        "YUNHENG_SECRET_KEY": Fernet.generate_key().decode(),
        "YUNHENG_WORKERS": "2",
    }
    proc, url = start_serve(env, tmp_path / "serve.log")
    try:
        # /healthz answered from one worker; the other may still be starting.
        assert _wait_for(lambda: len(_listening(proc.pid, url)) == 2, 30)
        workers = _listening(proc.pid, url)
        # Keep-alive is off here, so each request is a new connection that either worker
        # may accept; all must give the same answers.
        for _ in range(10):
            assert _get(f"{url}/api/v1/hosts", token) == (
                200,
                {"items": [], "total": 0, "limit": 50, "offset": 0},
            )
        status, body = _get(f"{url}/api/v1/hosts", None)
        assert (status, body) == (401, {"error": "missing bearer token"})
        status, body = _get(f"{url}/api/v1/users", token)
        assert status == 403 and "manager" in str(body["error"])
        assert _wait_for(lambda: _holder_pid(database_url) is not None, 10)
        children = psutil.Process(proc.pid).children()
        # The alert loop runs in a child of its own, not in a server process.
        assert _holder_pid(database_url) in {c.pid for c in children} - set(workers)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # SIGTERM took them all down (the jobs process released the lease on its way out).
    assert _wait_for(lambda: not any(c.is_running() for c in children), 10)
    assert _holder_pid(database_url) is None


def test_new_connections_are_spread_over_the_workers(tmp_path: Path) -> None:
    """Each worker listens on a socket of its own (SO_REUSEPORT), so a burst of new
    connections is shared out by the kernel rather than taken by whichever process woke
    first (one shared socket gave one process 25 of 32 in the load test)."""
    env = {
        "YUNHENG_DATABASE_URL": f"sqlite:///{tmp_path / 'y.db'}",
        "YUNHENG_DATA_DIR": str(tmp_path / "data"),
        "YUNHENG_SECRET_KEY": Fernet.generate_key().decode(),
        "YUNHENG_WORKERS": "2",
        "YUNHENG_ALERT_LOOP": "false",
    }
    proc, url = start_serve(env, tmp_path / "serve.log")
    port = int(url.rsplit(":", 1)[1])
    try:
        assert _wait_for(lambda: len(_listening(proc.pid, url)) == 2, 30)
        burst = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        try:

            def held() -> list[int]:
                return [
                    sum(1 for c in psutil.Process(pid).net_connections("tcp") if c.raddr)
                    for pid in _listening(proc.pid, url)
                ]

            assert _wait_for(lambda: sum(held()) == 40, 10), held()
            # A fair coin puts fewer than 8 of 40 on one side about once in 20,000 bursts.
            assert min(held()) >= 8, held()
        finally:
            for conn in burst:
                conn.close()
        # A second `serve` on the same port is refused, not let in to share it.
        second = subprocess.run(
            [str(Path(sys.executable).with_name("yunheng")), "serve", "--port", str(port)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0 and "already served" in second.stderr, second.stderr[-500:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _listening(serve: int, url: str) -> list[int]:
    """The children of `serve` that listen on its port: the server processes."""
    port = int(url.rsplit(":", 1)[1])
    return [
        child.pid
        for child in psutil.Process(serve).children()
        if any(c.laddr and c.laddr.port == port for c in child.net_connections("tcp"))
    ]


def _holder_pid(url: str) -> int | None:
    """The pid in the alert-loop lease's holder (host:pid:random), if it is held (a
    released lease is expired at once)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(LEASE.c.holder).where(
                    LEASE.c.name == LEASE_NAME, LEASE.c.expires_at > utcnow()
                )
            ).first()
    finally:
        engine.dispose()
    if row is None or row.holder is None:
        return None
    return int(row.holder.split(":")[1])


def _wait_for(what: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.2)
    return what()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_the_alert_loop_runs_in_a_jobs_process_that_serve_keeps_and_takes_down(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "YUNHENG_DATABASE_URL": database_url,
        "YUNHENG_DATA_DIR": str(tmp_path / "data"),
        "YUNHENG_SECRET_KEY": Fernet.generate_key().decode(),
        "YUNHENG_WORKERS": "2",
        "YUNHENG_ALERT_INTERVAL_SECONDS": "1",
    }
    proc, url = start_serve(env, tmp_path / "serve.log")
    try:
        serve = psutil.Process(proc.pid)
        assert _wait_for(lambda: len(_listening(proc.pid, url)) == 2, 30)
        servers = _listening(proc.pid, url)
        assert _wait_for(lambda: _holder_pid(database_url) is not None, 10)
        jobs = _holder_pid(database_url)
        # The holder is serve's third child, not one of the processes serving the port.
        assert jobs in [c.pid for c in serve.children()] and jobs not in servers
        psutil.Process(jobs).kill()  # SIGKILL: serve starts another, which takes the lease
        assert _wait_for(lambda: _holder_pid(database_url) not in (None, jobs), 20)
        jobs = _holder_pid(database_url)
        assert jobs in [c.pid for c in serve.children()] and jobs not in servers
        assert _listening(proc.pid, url) == servers  # the server processes were not touched
        serve.kill()  # SIGKILL: the jobs process sees its parent gone and stops
        assert _wait_for(lambda: not psutil.pid_exists(jobs or 0), 10)
    finally:
        for child in psutil.Process(proc.pid).children() if psutil.pid_exists(proc.pid) else []:
            child.kill()
        proc.kill()
        proc.wait(timeout=30)
        for pid in servers:  # uvicorn's workers outlive a SIGKILLed supervisor
            if psutil.pid_exists(pid):
                psutil.Process(pid).kill()


def test_a_restart_the_watcher_decided_on_before_stop_starts_nothing() -> None:
    jobs = JobsProcess()
    jobs.stop()
    jobs._spawn()  # the watcher's restart, its pause having ended just before stop()
    assert jobs.pid is None
