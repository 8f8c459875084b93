"""A real `yunheng serve` killed with SIGKILL mid-incident and started again, against a real
Prometheus: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts.leader import TTL_INTERVALS
from alerts.loop import LEASE_NAME
from inventory.db import make_engine
from inventory.models import Alert, AlertState, Incident, Lease
from tests.factories import fresh_database
from tests.prom_peer import (
    INTERVAL,
    MetricsTarget,
    WebhookReceiver,
    alert_named,
    free_port,
    load_rules,
    prometheus,
    require_peers,
    statuses,
    wait_until,
    webhook_route,
)

SERVE = "from console.cli import app; app(['serve'])"


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parents[1]
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", SERVE],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _lease(engine: Engine) -> Lease:
    with Session(engine) as session:
        lease = session.get(Lease, LEASE_NAME)
    assert lease is not None
    return lease


def _alert(engine: Engine, name: str) -> Alert | None:
    found: Alert | None = alert_named(engine, name)
    return found


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with fresh_database(request, "sqlite", tmp_path) as url:
        engine = make_engine(url)
        yield url, engine
        engine.dispose()


def test_process_killed_mid_incident_nothing_lost_nothing_doubled(
    tmp_path: Path, db: tuple[str, Engine]
) -> None:
    """`yunheng serve` pages, is killed with SIGKILL while the incident is open, and starts
    again: the same alert and incident carry on, nobody is paged twice, and the recovery
    is notified exactly once."""
    require_peers()
    with MetricsTarget() as target, WebhookReceiver() as hook:
        _killed_mid_incident(tmp_path, db, target, hook)


def _killed_mid_incident(
    tmp_path: Path, db: tuple[str, Engine], target: MetricsTarget, hook: WebhookReceiver
) -> None:
    url, engine = db
    target.set("yh_load", 0.1, node="n1")
    rules = load_rules(tmp_path)
    with Session(engine) as session:
        webhook_route(session, hook.url, group_wait=0)
    log = tmp_path / "serve.log"
    with prometheus(tmp_path / "prom", targets=[target.address]) as prom:
        env = {
            "YUNHENG_DATABASE_URL": url,
            "YUNHENG_DATA_DIR": str(tmp_path / "data"),
            "YUNHENG_SECRET_KEY": Fernet.generate_key().decode(),
            "YUNHENG_PROMETHEUS_URL": prom.url,
            "YUNHENG_RULE_FILES": str(rules),
            "YUNHENG_ALERT_INTERVAL_SECONDS": str(INTERVAL),
            "YUNHENG_PORT": str(free_port()),
            "YUNHENG_LOG_LEVEL": "WARNING",
        }
        first = _serve(env, log)
        second: subprocess.Popen[bytes] | None = None
        try:
            target.set("yh_load", 0.95, node="n1")
            hook.wait_for(lambda got: len(got) >= 1, 60, f"the page ({log})")
            before = _alert(engine, "HighLoad")
            assert before is not None and before.incident_id is not None
            killed_holder = _lease(engine).holder
            first.send_signal(signal.SIGKILL)
            first.wait()
            second = _serve(env, log)
            # An unchanged firing alert is not rewritten every cycle (alerts.state), so the
            # new process's lease tells that its loop has run: taken over, then renewed by
            # its cycles for 3 intervals.
            wait_until(
                lambda: (
                    (lease := _lease(engine)).holder != killed_holder
                    and (lease.expires_at - lease.acquired_at).total_seconds()
                    >= (3 + TTL_INTERVALS) * INTERVAL
                ),
                60,
                f"the restarted loop to run for 3 intervals ({log})",
            )
            after = _alert(engine, "HighLoad")
            assert after is not None
            assert (after.id, after.incident_id, after.state) == (
                before.id,
                before.incident_id,
                AlertState.firing,
            )
            assert after.active_since == before.active_since
            assert statuses(hook.received) == ["firing"]  # nobody paged twice

            target.set("yh_load", 0.2, node="n1")
            hook.wait_for(lambda got: len(got) >= 2, 60, "the resolved notification")
            with Session(engine) as session:
                incidents = session.execute(sa.select(Incident)).scalars().all()
            assert len(incidents) == 1 and incidents[0].resolved_at is not None
            assert statuses(hook.received) == ["firing", "resolved"]
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
