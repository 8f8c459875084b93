"""`yunheng demo`'s alerting: faults injected into the simulated estate fire the built-in
rules, the demo on-call user's inbox gets the page, and each fault clears by itself. Also
the app's lifespan: the loop runs where asked (serve, demo) and not in apps built by tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from alerts.demo_faults import DemoFaults
from alerts.evaluate import Evaluator
from alerts.loop import AlertLoop, run_cycle
from console.app import create_app
from console.demo import seed
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.models import Alert, AlertState, Cloud, InboxMessage, IncidentStatus, User
from inventory.models import Incident as IncidentRow
from inventory.settings import Settings
from inventory.types import utcnow
from tests.factories import fresh_database


@pytest.fixture
def demo_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, SecretBox]]:
    with fresh_database(request, "sqlite", tmp_path) as url:
        engine = make_engine(url)
        box = SecretBox(Fernet.generate_key())
        with Session(engine, expire_on_commit=False) as session:
            seed(session, box, actor="test")
            session.commit()
        yield engine, box
        engine.dispose()


def _firing(engine: Engine) -> dict[str, list[Alert]]:
    with Session(engine) as session:
        rows = session.execute(
            sa.select(Alert).where(col(Alert.state) == AlertState.firing)
        ).scalars()
        found: dict[str, list[Alert]] = {}
        for alert in rows:
            found.setdefault(alert.name, []).append(alert)
        return found


def _inbox(engine: Engine, username: str) -> list[str]:
    with Session(engine) as session:
        return list(
            session.execute(
                sa.select(col(InboxMessage.title))
                .join(User, col(User.id) == col(InboxMessage.user_id))
                .where(col(User.username) == username)
                .order_by(col(InboxMessage.id))
            ).scalars()
        )


def _cycles(engine: Engine, box: SecretBox, start: datetime, seconds: list[int]) -> None:
    evaluator = Evaluator([], None)
    for s in seconds:
        report = run_cycle(engine, box, evaluator, start + timedelta(seconds=s), send_timeout=5)
        assert report.failed_steps == {}


def test_demo_faults_page_the_oncall_inbox_and_clear(demo_db: tuple[Engine, SecretBox]) -> None:
    engine, box = demo_db
    t = utcnow()
    faults = DemoFaults(engine, box, every=timedelta(minutes=3), first_after=timedelta(0))
    _cycles(engine, box, t, [0])
    assert _firing(engine) == {}

    assert (faults.step(t) or "").startswith("injected: host sim-")
    _cycles(engine, box, t, [1, 12])  # the demo route waits 10 s to group
    firing = _firing(engine)
    assert list(firing) == ["HostDown"]
    inbox = _inbox(engine, "oncall")
    assert len(inbox) == 1 and "HostDown" in inbox[0]

    assert (faults.step(t + timedelta(seconds=90)) or "").startswith("cleared: host sim-")
    _cycles(engine, box, t, [91, 92])
    assert _firing(engine) == {}
    with Session(engine) as session:
        [incident] = session.execute(sa.select(IncidentRow)).scalars().all()
        assert incident.status == IncidentStatus.resolved
    assert len(_inbox(engine, "oncall")) == 2  # fired, then resolved: nothing twice

    # Next round: a zone degraded. Its hosts' alerts are inhibited by the zone's.
    assert "degraded" in (faults.step(t + timedelta(seconds=181)) or "")
    _cycles(engine, box, t, [182, 193])
    firing = _firing(engine)
    assert sorted(firing) == ["HostDown", "ZoneDegraded"]
    assert all(a.suppressed_by for a in firing["HostDown"])
    assert len(_inbox(engine, "oncall")) == 3
    faults.step(t + timedelta(seconds=271))

    # Then a cloud unreachable.
    assert "unreachable" in (faults.step(t + timedelta(seconds=361)) or "")
    _cycles(engine, box, t, [362, 373])
    assert "CloudUnreachable" in _firing(engine)
    with Session(engine) as session:
        degraded = session.execute(
            sa.select(col(Cloud.name)).where(col(Cloud.status) == "degraded")
        ).scalars()
        assert len(list(degraded)) == 1


def test_a_restarted_demo_clears_faults_left_behind(demo_db: tuple[Engine, SecretBox]) -> None:
    engine, box = demo_db
    killed = DemoFaults(engine, box, every=timedelta(minutes=3), first_after=timedelta(0))
    assert killed.step(utcnow())  # injected, then the process "dies"
    restarted = DemoFaults(engine, box, every=timedelta(minutes=3))
    restarted.step(utcnow())
    with Session(engine) as session:
        for cloud in session.execute(sa.select(Cloud)).scalars():
            faults = cloud.settings.get("faults") or {}
            assert not faults.get("hosts_down") and not faults.get("unreachable")


def test_the_loop_runs_only_in_apps_that_ask_for_it(engine: Engine, tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    url = str(engine.url.render_as_string(hide_password=False))
    on = Settings(database_url=url, data_dir=tmp_path, secret_key=key, alert_interval_seconds=1)
    with TestClient(create_app(on, engine)) as client:
        assert client.app.state.alert_loop is None  # type: ignore[attr-defined]
    with TestClient(create_app(on, engine, alert_loop=True)) as client:
        loop = client.app.state.alert_loop  # type: ignore[attr-defined]
        assert isinstance(loop, AlertLoop)
        from tests.prom_peer import wait_until

        wait_until(lambda: loop.cycles >= 1, 20, "a cycle of the app's loop")
    assert not loop.leader.is_leader  # stopped with the app; the lease was released
    off = on.model_copy(update={"alert_loop": False})
    with TestClient(create_app(off, engine, alert_loop=True)) as client:
        assert client.app.state.alert_loop is None  # type: ignore[attr-defined]
