"""The loop without Prometheus: built-in estate rules from the database, the dead man's
switch against a Prometheus that does not answer, a restart mid-incident and two replicas
on PostgreSQL, with the other helpers' incidents, escalation and notifiers for real."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters import service as clouds
from alerts.builtin import EstateLimits, evaluate_builtin
from alerts.evaluate import BLIND_ALERTNAME, Evaluator
from alerts.loop import AlertLoop, run_cycle
from alerts.promql import PrometheusSource
from inventory.crypto import SecretBox
from inventory.models import (
    Alert,
    AlertState,
    Cloud,
    CloudUpdate,
    Delivery,
    DeliveryStatus,
    Incident,
    IncidentStatus,
)
from inventory.settings import Settings
from inventory.types import utcnow
from tests import factories
from tests.factories import SYSTEM, fresh_database
from tests.prom_peer import WebhookReceiver, free_port, statuses, wait_until, webhook_route

SMALL = {"zones": 2, "hosts_per_zone": 4, "workloads": 0, "departments": []}
HOST = "sim-r1-os-az1-0001"
ZONE_1 = [f"sim-r1-os-az1-{i:04d}" for i in range(1, 5)]


def _faults(session: Session, box: SecretBox, cloud_id: int, **faults: object) -> None:
    clouds.update_cloud(session, SYSTEM, cloud_id, CloudUpdate(settings={"faults": faults}), box)
    session.flush()
    clouds.sync(session, SYSTEM, cloud_id, box)
    session.commit()


def _alerts(engine: Engine, **where: object) -> list[Alert]:
    with Session(engine) as session:
        query = sa.select(Alert).order_by(col(Alert.id))
        for key, value in where.items():
            query = query.where(getattr(Alert, key) == value)
        return list(session.execute(query).scalars())


def test_builtin_rules_follow_the_estate(session: Session, box: SecretBox) -> None:
    cloud = factories.cloud(session, box, "c1", {**SMALL, "region": "r1", "seed": 1})
    clouds.sync(session, SYSTEM, cloud.id or 0, box)
    now = utcnow()
    assert all(not found for found in evaluate_builtin(session, now).values())

    _faults(session, box, cloud.id or 0, hosts_down=[HOST])
    found = evaluate_builtin(session, utcnow())
    [down] = found["builtin:HostDown"]
    assert down.labels == {
        "alertname": "HostDown",
        "severity": "major",
        "cloud": "c1",
        "zone": "r1-os-az1",
        "host": HOST,
    }
    assert not found["builtin:ZoneDegraded"]

    _faults(session, box, cloud.id or 0, hosts_down=ZONE_1[:2])  # half the zone
    found = evaluate_builtin(session, utcnow())
    [zone] = found["builtin:ZoneDegraded"]
    assert zone.labels["zone"] == "r1-os-az1" and zone.value == 0.5
    assert len(found["builtin:HostDown"]) == 2

    _faults(session, box, cloud.id or 0, unreachable=True, hosts_down=[])
    found = evaluate_builtin(session, utcnow())
    [unreachable] = found["builtin:CloudUnreachable"]
    assert unreachable.labels["cloud"] == "c1" and unreachable.labels["severity"] == "critical"
    assert "unreachable" in unreachable.annotations["description"]
    # The last known inventory is kept: its two down hosts still count.
    assert len(found["builtin:HostDown"]) == 2

    later = utcnow() + timedelta(minutes=61)
    [stale] = evaluate_builtin(session, later, EstateLimits())["builtin:InventorySyncStale"]
    assert stale.labels == {"alertname": "InventorySyncStale", "severity": "warning", "cloud": "c1"}
    assert stale.value is not None and stale.value > 3600

    disabled = session.get(Cloud, cloud.id)
    assert disabled is not None
    clouds.update_cloud(session, SYSTEM, cloud.id or 0, CloudUpdate(enabled=False), box)
    session.flush()
    assert all(not found for found in evaluate_builtin(session, later).values())


def _settings(url: str, tmp_path: Path, box_key: str, **more: object) -> Settings:
    return Settings(
        database_url=url,
        data_dir=tmp_path / "data",
        secret_key=box_key,
        alert_interval_seconds=1.0,
        alert_blind_for_seconds=0,
        **more,  # type: ignore[arg-type]
    )


def test_host_down_pages_once_survives_a_restart_and_resolves(
    engine: Engine, session: Session, box: SecretBox, settings: Settings
) -> None:
    """Injected clock: fault -> firing -> one notification; a new evaluator (a restarted
    process) on the same database pages nobody again; the fault clears -> resolved."""
    hook = WebhookReceiver()
    try:
        webhook_route(session, hook.url, group_wait=0)
        cloud = factories.cloud(session, box, "c1", {**SMALL, "region": "r1", "seed": 1})
        clouds.sync(session, SYSTEM, cloud.id or 0, box)
        session.commit()
        now = utcnow()
        first = Evaluator([], None)
        report = run_cycle(engine, box, first, now, send_timeout=5)
        assert report.failed_steps == {} and not _alerts(engine)

        _faults(session, box, cloud.id or 0, hosts_down=[HOST])
        for step in range(1, 4):
            report = run_cycle(engine, box, first, now + timedelta(seconds=step), send_timeout=5)
            assert report.failed_steps == {}
        [alert] = _alerts(engine)
        assert alert.state == AlertState.firing and alert.name == "HostDown"
        assert statuses(hook.received) == ["firing"]

        restarted = Evaluator([], None)  # the process died; nothing was kept in memory
        for step in range(4, 8):
            run_cycle(engine, box, restarted, now + timedelta(seconds=step), send_timeout=5)
        assert statuses(hook.received) == ["firing"]  # nobody paged twice
        with Session(engine) as fresh:
            [incident] = fresh.execute(sa.select(Incident)).scalars().all()
            assert incident.status == IncidentStatus.open

        _faults(session, box, cloud.id or 0, hosts_down=[])
        for step in range(8, 11):
            run_cycle(engine, box, restarted, now + timedelta(seconds=step), send_timeout=5)
        [alert] = _alerts(engine)
        assert alert.state == AlertState.resolved
        assert statuses(hook.received) == ["firing", "resolved"]
        with Session(engine) as fresh:
            [incident] = fresh.execute(sa.select(Incident)).scalars().all()
            assert incident.status == IncidentStatus.resolved
    finally:
        hook.close()


def test_prometheus_not_answering_raises_the_blind_alert(
    engine: Engine, session: Session, box: SecretBox
) -> None:
    """Connection refused on every query: MonitoringBlind fires and notifies, and rule
    alerts already firing are left as they are (an outage is not "all clear")."""
    hook = WebhookReceiver()
    try:
        webhook_route(session, hook.url, group_wait=0)
        source = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout=2)
        evaluator = Evaluator([], source, blind_for_seconds=0)
        now = utcnow()
        report = run_cycle(engine, box, evaluator, now, send_timeout=5)
        assert report.round is not None and report.round.blind is not None
        run_cycle(engine, box, evaluator, now + timedelta(seconds=1), send_timeout=5)
        [blind] = _alerts(engine, name=BLIND_ALERTNAME)
        assert blind.state == AlertState.firing and blind.severity == "P1"
        assert blind.labels["prometheus"] == source.url
        hook.wait_for(lambda got: len(got) >= 1, 10, "the blind alert's page")
        [page] = hook.received
        assert page.body["status"] == "firing"
        assert BLIND_ALERTNAME in str(page.body["alerts"])
    finally:
        hook.close()


@pytest.mark.postgres
def test_two_loops_on_postgres_one_pages(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Two replicas run the real loop (APScheduler, lease) on one PostgreSQL: a fault is
    paged exactly once, and only one replica ever runs cycles."""
    from cryptography.fernet import Fernet

    from inventory.db import make_engine

    key = Fernet.generate_key().decode()
    hook = WebhookReceiver()
    with fresh_database(request, "postgresql", tmp_path) as url:
        engine = make_engine(url)
        settings = _settings(url, tmp_path, key)
        box = SecretBox.from_settings(settings)
        loops: list[AlertLoop] = []
        try:
            with Session(engine, expire_on_commit=False) as session:
                webhook_route(session, hook.url, group_wait=0)
                cloud = factories.cloud(session, box, "c1", {**SMALL, "region": "r1", "seed": 1})
                _faults(session, box, cloud.id or 0, hosts_down=[HOST])
            loops = [AlertLoop(make_engine(url), box, settings) for _ in range(2)]
            for loop in loops:
                loop.start()
            hook.wait_for(lambda got: len(got) >= 1, 30, "the page")
            ran = sum(loop.cycles for loop in loops)
            wait_until(lambda: sum(loop.cycles for loop in loops) >= ran + 3, 30, "3 more cycles")
            assert statuses(hook.received) == ["firing"]
            assert sorted(loop.cycles > 0 for loop in loops) == [False, True]
            with Session(engine) as session:
                sent = session.execute(
                    sa.select(sa.func.count()).where(col(Delivery.status) == DeliveryStatus.sent)
                ).scalar_one()
            assert sent == 1
        finally:
            for loop in loops:
                loop.stop()
                loop.engine.dispose()
            engine.dispose()
            hook.close()


def test_receiver_down_retries_then_records_the_failure(
    engine: Engine, session: Session, box: SecretBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop keeps trying a dead webhook with backoff, then marks the delivery failed
    with the reason, and the incident stays open for a human to see."""
    from inventory.settings import get_settings

    monkeypatch.setenv("YUNHENG_NOTIFY_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("YUNHENG_NOTIFY_BACKOFF_SECONDS", "2")
    get_settings.cache_clear()
    try:
        webhook_route(session, f"http://127.0.0.1:{free_port()}/down", group_wait=0)
        cloud = factories.cloud(session, box, "c1", {**SMALL, "region": "r1", "seed": 1})
        _faults(session, box, cloud.id or 0, hosts_down=[HOST])
        evaluator = Evaluator([], None)
        now = utcnow()
        attempts = []
        for step in range(12):
            run_cycle(engine, box, evaluator, now + timedelta(seconds=step), send_timeout=2)
            with Session(engine) as fresh:
                rows = fresh.execute(sa.select(Delivery)).scalars().all()
            attempts.append(sum(d.attempts for d in rows))
        [delivery] = rows
        assert delivery.status == DeliveryStatus.failed and delivery.attempts == 3
        assert delivery.error and "127.0.0.1" in delivery.error
        assert attempts[0] == 1 and attempts[-1] == 3 and attempts[1] == 1  # backed off
        with Session(engine) as fresh:
            [incident] = fresh.execute(sa.select(Incident)).scalars().all()
        assert incident.status == IncidentStatus.open
    finally:
        get_settings.cache_clear()
