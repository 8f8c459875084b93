"""`yunheng alerts` and `yunheng incidents`, run in-process against the test database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col
from typer.testing import CliRunner

from alerts import incidents
from console.cli import app
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.models import AuditEvent, Incident
from inventory.types import utcnow
from tests.alert_builders import obs, round_

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


def _seed(url: str, box: SecretBox) -> int:
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            now = utcnow()
            round_(session, [obs("HostDown", cloud="c1", host="h1", severity="critical")], now)
            incidents.process(session, box, now)
            session.commit()
            return int(session.execute(sa.select(sa.func.max(col(Incident.id)))).scalar_one())
    finally:
        engine.dispose()


def test_alerts_and_incidents_commands(cli_env: str, box: SecretBox) -> None:
    incident_id = _seed(cli_env, box)
    code, out = _run("alerts", "list")
    assert code == 0, out
    assert "HostDown" in out and "firing" in out and "P1" in out and "1 alert(s)" in out
    code, out = _run("alerts", "list", "--state", "resolved")
    assert code == 0 and "0 alert(s)" in out
    code, out = _run("incidents", "list")
    assert code == 0 and "HostDown" in out and "1 incident(s)" in out

    code, out = _run("incidents", "ack", str(incident_id))
    assert code == 0 and "acknowledged" in out
    code, out = _run("incidents", "ack", str(incident_id))
    assert code == 2 and "already acknowledged" in out
    code, out = _run("incidents", "note", str(incident_id), "looking at it")
    assert code == 0, out
    code, out = _run("incidents", "show", str(incident_id))
    assert code == 0 and "created" in out and "acked" in out and "looking at it" in out
    code, out = _run("incidents", "resolve", str(incident_id), "--comment", "fixed")
    assert code == 0 and "resolved" in out
    code, out = _run("incidents", "escalate", str(incident_id))
    assert code == 2 and "resolved" in out
    code, out = _run("incidents", "show", "999999")
    assert code == 2 and "incident 999999 not found" in out


def test_silence_commands(cli_env: str, box: SecretBox) -> None:
    code, out = _run("alerts", "silence", 'alertname="HostDown"', "cloud=~c.*", "--comment", "work")
    assert code == 0, out
    silence_id = out.split()[1]
    code, out = _run("alerts", "silences")
    assert code == 0 and "HostDown" in out and "active" in out and "work" in out
    code, out = _run("alerts", "expire", silence_id)
    assert code == 0 and "expired" in out
    code, out = _run("alerts", "expire", silence_id)
    assert code == 2 and "already expired" in out
    code, out = _run("alerts", "silence", 'host=~"("', "--comment", "x")
    assert code == 2 and "invalid regex" in out and "matchers" in out
    engine = make_engine(cli_env)
    with Session(engine) as session:
        actors = session.execute(
            sa.select(col(AuditEvent.actor)).where(col(AuditEvent.action).startswith("silence."))
        ).scalars()
        assert [a.split(":")[0] for a in actors] == ["cli", "cli"]  # create, expire
    engine.dispose()
