"""The loop against real Prometheus 2.42 and Alertmanager 0.25 (Debian's binaries), a
metrics target the test sets and a webhook receiver: scrape and evaluation every second.

Waits are for outcomes (a row, a POST), never fixed sleeps; the order of events is asserted,
and the one comparison of arrival times allows the phase difference equal intervals leave.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts.evaluate import BLIND_ALERTNAME
from alerts.loop import AlertLoop
from console.app import create_app
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.models import Alert, AlertSource, AlertState, Role
from inventory.settings import Settings
from tests import factories
from tests.factories import fresh_database
from tests.prom_peer import (
    INTERVAL,
    LOAD_RULE,
    MetricsTarget,
    WebhookReceiver,
    alert_named,
    alertmanager,
    free_port,
    load_rules,
    prometheus,
    require_peers,
    statuses,
    wait_until,
    webhook_route,
)


@pytest.fixture(scope="module", autouse=True)
def _binaries() -> None:
    require_peers()


@pytest.fixture
def target() -> Iterator[MetricsTarget]:
    with MetricsTarget() as served:
        served.set("yh_load", 0.1, node="n1")
        yield served


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with fresh_database(request, "sqlite", tmp_path) as url:
        engine = make_engine(url)
        yield url, engine
        engine.dispose()


def _settings(url: str, tmp_path: Path, prom: str, rules: Path) -> Settings:
    return Settings(
        database_url=url,
        data_dir=tmp_path / "data",
        secret_key=Fernet.generate_key().decode(),
        prometheus_url=prom,
        rule_files=str(rules),
        alert_interval_seconds=INTERVAL,
        alert_blind_for_seconds=0,
        alert_query_timeout_seconds=2,
        # A starting Prometheus scrapes first after about 5 s (its discovery throttle).
        alert_recovery_grace_seconds=10,
    )


def _alert(engine: Engine, name: str) -> Alert | None:
    found: Alert | None = alert_named(engine, name)
    return found


def _rules(folder: Path, rule: dict[str, Any] | None = None) -> Path:
    return load_rules(folder, rule)


def _state(engine: Engine, name: str) -> AlertState | None:
    alert = _alert(engine, name)
    return alert.state if alert else None


def _scraped(target: MetricsTarget, loop: AlertLoop, cycles: int = 2) -> None:
    """Prometheus has the series and the loop has run `cycles` rounds with it."""
    source = loop.evaluator.source
    assert source is not None
    wait_until(lambda: bool(source.query("yh_load")), 20, "the first scrape")
    start = loop.cycles
    wait_until(lambda: loop.cycles >= start + cycles, 20, f"{cycles} cycles")


@pytest.fixture
def running() -> Iterator[list[AlertLoop]]:
    started: list[AlertLoop] = []
    yield started
    for loop in started:
        loop.stop()


def test_threshold_fires_after_for_notifies_once_and_resolves(
    tmp_path: Path,
    db: tuple[str, Engine],
    target: MetricsTarget,
    hook: WebhookReceiver,
    running: list[AlertLoop],
) -> None:
    url, engine = db
    rules = _rules(tmp_path)
    with prometheus(tmp_path / "prom", targets=[target.address]) as prom:
        settings = _settings(url, tmp_path, prom.url, rules)
        with Session(engine) as session:
            webhook_route(session, hook.url, group_wait=0)
        loop = AlertLoop(engine, SecretBox.from_settings(settings), settings)
        running.append(loop)
        loop.start()
        _scraped(target, loop)
        assert _alert(engine, "HighLoad") is None and hook.received == []

        target.set("yh_load", 0.95, node="n1")
        wait_until(lambda: _state(engine, "HighLoad") == AlertState.firing, 30, "firing")
        alert = _alert(engine, "HighLoad")
        assert alert is not None and alert.fired_at is not None
        assert (alert.fired_at - alert.active_since).total_seconds() >= 2  # `for: 2s`
        assert alert.source == AlertSource.rule and alert.severity == "P3"
        assert alert.labels["node"] == "n1" and alert.labels["job"] == "target"
        assert alert.annotations["summary"] == "load 0.95 on n1"
        hook.wait_for(lambda got: len(got) >= 1, 30, "the notification")
        seen = loop.cycles
        wait_until(lambda: loop.cycles >= seen + 3, 20, "three more cycles")
        assert statuses(hook.received) == ["firing"]  # exactly one

        target.set("yh_load", 0.2, node="n1")
        wait_until(lambda: _state(engine, "HighLoad") == AlertState.resolved, 30, "resolved")
        hook.wait_for(lambda got: len(got) >= 2, 30, "the resolved notification")
        seen = loop.cycles
        wait_until(lambda: loop.cycles >= seen + 2, 20, "two more cycles")
        assert statuses(hook.received) == ["firing", "resolved"]


def test_same_rule_file_in_prometheus_and_alertmanager_yunheng_no_later(
    tmp_path: Path,
    db: tuple[str, Engine],
    target: MetricsTarget,
    hook: WebhookReceiver,
    running: list[AlertLoop],
) -> None:
    """One rule file, evaluated by Prometheus (routed through Alertmanager) and by Yunheng,
    both every second, both waiting the same group_wait (1 s: Alertmanager's default 30 s,
    shortened on both sides): the same series fires on both sides, and Yunheng's page
    arrives no later than Alertmanager's, give or take the one interval by which two
    independent evaluation schedules can differ."""
    url, engine = db
    rules = _rules(tmp_path)
    with (
        alertmanager(tmp_path / "am", webhook_url=f"{hook.url}/am", group_wait="1s") as am,
        prometheus(
            tmp_path / "prom", targets=[target.address], rule_files=[rules], alertmanager=am.url
        ) as prom,
    ):
        settings = _settings(url, tmp_path, prom.url, rules)
        with Session(engine) as session:
            webhook_route(session, f"{hook.url}/yunheng", group_wait=1)
        loop = AlertLoop(engine, SecretBox.from_settings(settings), settings)
        running.append(loop)
        loop.start()
        _scraped(target, loop)
        target.set("yh_load", 0.95, node="n1")
        hook.wait_for(
            lambda got: {r.path for r in got} >= {"/am", "/yunheng"}, 30, "both notifications"
        )
        [am_post] = hook.on("/am")[:1]
        [ours] = hook.on("/yunheng")[:1]
        theirs = [a["labels"] for a in am_post.body["alerts"]]
        mine = [a["labels"] for a in ours.body["alerts"]]
        assert theirs == mine  # the same series, the same labels
        # Prometheus sends StartsAt = when the alert fired; Alertmanager's group_wait counts
        # from when it gets the alert, i.e. then. Yunheng fires in its own evaluation slot,
        # which the same scrape puts at most one interval from Prometheus's, and pages
        # exactly group_wait later: it adds no delay of its own to the path.
        prometheus_fired = datetime.fromisoformat(am_post.body["alerts"][0]["startsAt"])
        alert = _alert(engine, "HighLoad")
        assert alert is not None and alert.fired_at is not None
        phase = (alert.fired_at - prometheus_fired).total_seconds()
        assert phase <= INTERVAL
        queued = datetime.fromisoformat(ours.body["createdAt"])
        assert (queued - alert.fired_at).total_seconds() == 1.0  # the route's group_wait
        lag = ours.at - am_post.at
        print(f"Yunheng fired {phase:+.3f} s after Prometheus; paged {lag:+.3f} s after AM")
        assert lag <= 2 * INTERVAL  # the phase, plus the cycle that sends


def test_alertmanager_posts_to_the_intake_and_the_alert_resolves(
    tmp_path: Path, db: tuple[str, Engine], target: MetricsTarget
) -> None:
    """Prometheus -> Alertmanager -> a live Yunheng (uvicorn on 127.0.0.1) with an oncall
    API token: the alert appears, then resolves when the metric recovers."""
    url, engine = db
    settings = _settings(url, tmp_path, "", tmp_path / "none.yml")
    settings = settings.model_copy(update={"prometheus_url": "", "rule_files": ""})
    with Session(engine) as session:
        oncall = factories.user(session, "am-intake", Role.oncall)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 20, "the console to serve")
        intake = f"http://127.0.0.1:{port}/api/v1/alerts/alertmanager"
        rules = _rules(tmp_path)
        with (
            alertmanager(tmp_path / "am", webhook_url=intake, bearer_token=oncall.token) as am,
            prometheus(
                tmp_path / "prom", targets=[target.address], rule_files=[rules], alertmanager=am.url
            ),
        ):
            target.set("yh_load", 0.95, node="n1")
            wait_until(lambda: _state(engine, "HighLoad") == AlertState.firing, 30, "the intake")
            alert = _alert(engine, "HighLoad")
            assert alert is not None and alert.source == AlertSource.alertmanager
            assert alert.labels["node"] == "n1" and alert.labels["severity"] == "warning"
            target.set("yh_load", 0.2, node="n1")
            wait_until(
                lambda: _state(engine, "HighLoad") == AlertState.resolved, 30, "the resolution"
            )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_prometheus_stopped_blind_alert_fires_and_clears(
    tmp_path: Path,
    db: tuple[str, Engine],
    target: MetricsTarget,
    hook: WebhookReceiver,
    running: list[AlertLoop],
) -> None:
    """Prometheus stops: MonitoringBlind fires and pages, the rule alert that was firing
    stays firing (an outage is no "all clear"); Prometheus back: blind resolves."""
    url, engine = db
    rules = _rules(tmp_path, {**LOAD_RULE, "for": "0s"})
    port = free_port()
    with prometheus(tmp_path / "prom", targets=[target.address], port=port) as prom:
        settings = _settings(url, tmp_path, prom.url, rules)
        with Session(engine) as session:
            webhook_route(session, hook.url, group_wait=0)
        loop = AlertLoop(engine, SecretBox.from_settings(settings), settings)
        running.append(loop)
        loop.start()
        target.set("yh_load", 0.95, node="n1")
        wait_until(lambda: _state(engine, "HighLoad") == AlertState.firing, 30, "HighLoad")
    # Prometheus is stopped here.
    wait_until(lambda: _state(engine, BLIND_ALERTNAME) == AlertState.firing, 30, "blind")
    hook.wait_for(
        lambda got: any(BLIND_ALERTNAME in str(r.body.get("alerts")) for r in got),
        30,
        "the blind page",
    )
    assert _state(engine, "HighLoad") == AlertState.firing
    blind = _alert(engine, BLIND_ALERTNAME)
    assert blind is not None and blind.severity == "P1" and blind.source == AlertSource.blind
    before = _alert(engine, "HighLoad")
    # A new Prometheus where the old one was, with an empty TSDB: its first answers come
    # before its first scrape, and must not read as "HighLoad is over".
    with prometheus(tmp_path / "prom2", targets=[target.address], port=port):
        wait_until(lambda: _state(engine, BLIND_ALERTNAME) == AlertState.resolved, 30, "clear")
        blind_over = loop.cycles
        wait_until(lambda: loop.cycles >= blind_over + 12, 30, "past the recovery grace")
        after = _alert(engine, "HighLoad")
        assert before is not None and after is not None
        assert after.state == AlertState.firing and after.resolved_at is None
        assert after.incident_id == before.incident_id


def test_rules_are_asked_in_batches_and_a_broken_rule_fails_alone(
    tmp_path: Path, target: MetricsTarget
) -> None:
    from alerts.evaluate import Evaluator
    from alerts.promql import PrometheusSource, QueryError
    from alerts.rules import parse_groups
    from inventory.types import utcnow

    for node in ("n1", "n2", "n3"):
        target.set("yh_load", 0.95 if node != "n3" else 0.1, node=node)
    good = [{"alert": f"Load{i}", "expr": f'yh_load{{node="n{i}"}} > 0.8'} for i in (1, 2, 3)]
    broken = {"alert": "Broken", "expr": "yh_load >"}
    scalar = {"alert": "Scalar", "expr": "scalar(vector(1))"}
    groups = parse_groups({"groups": [{"name": "g", "rules": [*good, broken, scalar]}]}, "f.yml")
    with prometheus(tmp_path / "prom", targets=[target.address]) as prom:
        source = PrometheusSource(prom.url, timeout=5)
        wait_until(lambda: len(source.query("yh_load")) == 3, 30, "the first scrape")
        evaluator = Evaluator(groups, source)
        whole = evaluator.collect(utcnow())
        answers = {rule.name: answer for (_, rule), answer in whole.answers}
        assert whole.blind is None
        assert [s.labels["node"] for s in answers["Load1"]] == ["n1"]  # type: ignore[union-attr]
        assert [s.labels["node"] for s in answers["Load2"]] == ["n2"]  # type: ignore[union-attr]
        assert answers["Load3"] == []
        assert "yunheng_rule" not in str(answers["Load1"])
        assert isinstance(answers["Broken"], QueryError)
        [scalar_answer] = answers["Scalar"]  # type: ignore[misc]
        assert scalar_answer.value == 1.0
        # One probe + one failed batch + five single queries; all good: probe + one batch.
        assert whole.queries == 7
        evaluator.groups = parse_groups({"groups": [{"name": "g", "rules": good}]}, "f.yml")
        assert evaluator.collect(utcnow()).queries == 2
