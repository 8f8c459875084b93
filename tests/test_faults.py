"""Faults: the database restarts mid-traffic, the SQLite disk fills up, secrets under full
logging, and login brute force over the API alone.

Covered elsewhere, not repeated here:
- an adapter that hangs times out and degrades its cloud:
  tests/test_sync.py::test_discover_that_hangs_times_out_and_degrades;
- Prometheus down raises MonitoringBlind: tests/test_alert_loop.py::
  test_prometheus_not_answering_raises_the_blind_alert, and against a real Prometheus that is
  stopped, tests/test_alert_loop_prometheus.py;
- brute force through the login page (and the API answering 429 afterwards):
  tests/test_web_console.py::test_login_throttled_per_client.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from adapters import registry
from console.app import create_app
from inventory.db import make_engine
from inventory.migrate import upgrade
from inventory.models import Role
from inventory.settings import Settings
from tests import factories
from tests.conftest import skip_or_fail
from tests.factories import World
from tests.notify_receivers import closed_port
from tests.pg import PostgresUnavailable, find_bin, throwaway_postgres
from tests.test_api_secrets_audit import PasswordSimulator

API = "/api/v1"


def _app(url: str, folder: Path) -> tuple[Engine, TestClient, factories.Actor]:
    settings = Settings(
        database_url=url, data_dir=folder / "data", secret_key=Fernet.generate_key().decode()
    )
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        admin = factories.user(session, "admin1", Role.admin)
    return engine, TestClient(create_app(settings, engine), raise_server_exceptions=False), admin


# --- PostgreSQL restarts while requests run ------------------------------------------------


def _data_directory(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SHOW data_directory")).scalar_one())


def _pg_ctl(data: str, action: str) -> None:
    """Stop the cluster, or `restart` it: that reuses the options it was started with
    (postmaster.opts) and starts it when it is not running."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # The server's output goes to a log file: a pipe would be held open by the daemon.
    log = str(Path(data).parent / "restart.log")
    subprocess.run(
        [*prefix, find_bin("pg_ctl"), "-D", data, "-l", log, "-m", "immediate", "-w", action],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.mark.postgres
def test_postgres_restart_fails_cleanly_and_recovers(tmp_path: Path) -> None:
    """Requests during the outage get 503 with a message (never 500, never a hang); after
    the restart the pool reconnects by itself (pre-ping) and the same client gets 200."""
    try:
        # Durable: `-m immediate` is a crash, and with fsync and synchronous_commit off the
        # last commits (the login token, say) may be lost with it, which no product survives.
        cluster = throwaway_postgres(durable=True)
        url = cluster.__enter__()
    except PostgresUnavailable as exc:
        skip_or_fail(str(exc))
    try:
        upgrade(url)
        engine, client, admin = _app(url, tmp_path)
        statuses: list[int] = []
        bodies: list[dict[str, Any]] = []
        stop = threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                response = client.get(f"{API}/departments", headers=admin.headers)
                statuses.append(response.status_code)
                if response.status_code != 200:
                    bodies.append(response.json())

        data = _data_directory(engine)
        with client:
            worker = threading.Thread(target=traffic, daemon=True)
            worker.start()
            try:
                _pg_ctl(data, "stop")
                down = client.get(f"{API}/departments", headers=admin.headers)
                assert down.status_code == 503, down.text
                assert down.json()["error"] == "database unavailable; retry shortly"
                assert down.headers["retry-after"] == "5"
                _pg_ctl(data, "restart")
            finally:
                stop.set()
                worker.join(timeout=60)
            assert not worker.is_alive(), "a request hung through the restart"
            # No manual step: requests are served again from fresh connections (a few may
            # still meet the server finishing its crash recovery: those are 503 too).
            after = [client.get(f"{API}/departments", headers=admin.headers) for _ in range(3)]
            while after[-1].status_code != 200 and len(after) < 200:
                after.append(client.get(f"{API}/departments", headers=admin.headers))
            assert after[-1].status_code == 200, after[-1].text
            statuses.extend(response.status_code for response in after)
            made = client.post(
                f"{API}/departments", headers=admin.headers, json={"code": "after", "name": "后"}
            )
            assert made.status_code == 201, made.text
        assert set(statuses) <= {200, 503}, statuses
        assert all(body["error"] == "database unavailable; retry shortly" for body in bodies)
        engine.dispose()
    finally:
        cluster.__exit__(None, None, None)


# --- The SQLite demo's disk fills up -------------------------------------------------------


@contextmanager
def tiny_disk(size: str = "3m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on a temp dir (root only); unmounted whatever happens."""
    if os.geteuid() != 0:
        skip_or_fail("mounting a tmpfs needs root")
    mountpoint = Path(tempfile.mkdtemp(prefix="yunheng-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        mountpoint.rmdir()
        skip_or_fail(f"cannot mount a tmpfs: {mounted.stderr.decode(errors='replace')}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True)
        mountpoint.rmdir()


def fill(folder: Path) -> Path:
    """Write zeros until the file system says it is full."""
    filler = folder / "filler"
    chunk = b"\0" * 4096
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_sqlite_disk_full_is_a_clear_error_and_corrupts_nothing(
    sqlite_template: Path, tmp_path: Path
) -> None:
    with tiny_disk() as disk:
        db = disk / "yunheng.db"
        shutil.copy(sqlite_template, db)
        engine, client, admin = _app(f"sqlite:///{db}", tmp_path)
        with client:
            before = client.post(
                f"{API}/departments", headers=admin.headers, json={"code": "d0", "name": "前"}
            )
            assert before.status_code == 201, before.text
            filler = fill(disk)
            # The WAL may still hold free pages: write until the disk refuses (bounded).
            saved, refused = 1, None
            for i in range(1, 400):
                response = client.post(
                    f"{API}/departments",
                    headers=admin.headers,
                    json={"code": f"d{i}", "name": "满" * 120},
                )
                if response.status_code != 201:
                    refused = response
                    break
                saved += 1
            assert refused is not None, "the disk never filled"
            assert refused.status_code == 507, refused.text
            assert "disk is full" in refused.json()["error"]
            # Reads still work, and show exactly what was saved.
            listed = client.get(f"{API}/departments?limit=500", headers=admin.headers)
            assert listed.status_code == 200 and listed.json()["total"] == saved
            # Space back: writes work again, no restart needed.
            filler.unlink()
            again = client.post(
                f"{API}/departments", headers=admin.headers, json={"code": "dz", "name": "后"}
            )
            assert again.status_code == 201, again.text
        engine.dispose()
        with sqlite3.connect(db) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            codes = [row[0] for row in check.execute("SELECT code FROM department ORDER BY id")]
        assert codes == [f"d{i}" for i in range(saved)] + ["dz"]


# --- Secrets: never in responses, the audit table or the logs ------------------------------

CLOUD_SECRET = "pl4nted-cl0ud-s3cret-7f3a"
CHANNEL_SECRET = "pl4nted-ch4nnel-s3cret-91c"


def test_planted_secrets_appear_nowhere(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One sweep over create, read, list, update, sync, check, test and audit, with every
    logger at DEBUG; the secrets must not appear in any body, audit row or log record."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setitem(registry.REGISTRY, PasswordSimulator.kind, PasswordSimulator)
    e, client, admin = world.estate, world.client, world.estate.admin.headers
    texts: list[str] = []

    def keep(response: Any, expected: int) -> Any:
        assert response.status_code == expected, response.text
        texts.append(response.text)
        return response.json() if response.content else None

    cloud = keep(
        client.post(
            f"{API}/clouds",
            headers=admin,
            json={
                "name": "planted",
                "kind": PasswordSimulator.kind,
                "vendor": "Planted",
                "region": "rp",
                "security_level": 3,
                "settings": {"hosts_per_zone": 1, "workloads": 1},
                "credentials": {"password": CLOUD_SECRET},
            },
        ),
        201,
    )
    url = f"{API}/clouds/{cloud['id']}"
    keep(client.patch(url, headers=admin, json={"credentials": {"password": CLOUD_SECRET}}), 200)
    keep(client.post(f"{url}/sync?force=true", headers=admin), 200)
    keep(client.get(f"{url}/check", headers=admin), 200)
    # Wrong credentials are refused by field, the value not echoed.
    keep(client.patch(url, headers=admin, json={"credentials": {"token": CLOUD_SECRET}}), 422)
    channel = keep(
        client.post(
            f"{API}/channels",
            headers=admin,
            json={
                "name": "planted-ding",
                "kind": "dingtalk",
                "settings": {"base_url": f"http://127.0.0.1:{closed_port()}"},
                "secrets": {"access_token": CHANNEL_SECRET, "secret": CHANNEL_SECRET},
            },
        ),
        201,
    )
    chan = f"{API}/channels/{channel['id']}"
    keep(client.patch(chan, headers=admin, json={"secrets": {"secret": CHANNEL_SECRET}}), 200)
    keep(client.post(f"{chan}/test", headers=admin), 200)  # fails to deliver: logged
    for actor in (e.admin, e.oncall, e.manager, e.dept_a):
        for path in ("/clouds?limit=500", f"/clouds/{cloud['id']}", "/channels", "/deliveries"):
            texts.append(client.get(f"{API}{path}", headers=actor.headers).text)
    keep(client.get(f"{API}/audit?limit=500", headers=admin), 200)

    for text in texts:
        assert CLOUD_SECRET not in text and CHANNEL_SECRET not in text
    with world.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM audit_event")).mappings().all()
    dumped = json.dumps([dict(row) for row in rows], default=str)
    assert '"planted"' in dumped or "planted" in dumped, "the control: the sweep was audited"
    assert CLOUD_SECRET not in dumped and CHANNEL_SECRET not in dumped
    assert len(caplog.records) > 0, "the control: something was logged"
    for record in caplog.records:
        logged = record.getMessage() + (record.exc_text or "")
        assert CLOUD_SECRET not in logged and CHANNEL_SECRET not in logged, record.name


# --- Brute force over the API alone --------------------------------------------------------


def test_api_login_brute_force_is_throttled(world: World) -> None:
    """Guessing through /auth/login alone (no web page): 401s, then 429 with Retry-After,
    even for the right password, until the window passes."""
    throttle = world.app.state.login_throttle
    client = world.client
    try:
        for i in range(throttle.max_failures):
            guess = client.post(
                f"{API}/auth/login", json={"username": f"nobody{i}", "password": "guess"}
            )
            assert guess.status_code == 401, guess.text
        right = client.post(
            f"{API}/auth/login", json={"username": "admin1", "password": factories.PASSWORD}
        )
        assert right.status_code == 429, right.text
        assert int(right.headers["retry-after"]) > 0 and "error" in right.json()
    finally:
        throttle.succeeded("testclient")
