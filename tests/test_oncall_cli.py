"""`yunheng oncall now|schedule|override|swap`, in-process against the test database."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import Session, col
from typer.testing import CliRunner

from console.cli import app
from inventory.db import make_engine
from inventory.models import AuditEvent, Role
from tests import factories
from tests.test_oncall_schedule import people, rotation, sh

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


def test_now_schedule_override_and_swap(cli_env: str) -> None:
    engine = make_engine(cli_env)
    with Session(engine) as session:
        ann, bob = people(session, "ann", "bob")
        factories.user(session, "clerk", Role.department)
        rotation(
            session,
            [{"name": "primary", "member_ids": [ann.id, bob.id], "starts_at": sh(2030, 3, 4, 9)}],
        )

    code, out = run("oncall", "now", "--at", "2030-03-04T12:00")  # read in Asia/Shanghai
    assert code == 0, out
    assert "ann" in out and "primary" in out and "2030-03-05 09:00" in out
    code, out = run("oncall", "now", "--at", "2030-03-05T12:00+08:00", "--json")
    assert code == 0, out
    assert [u["username"] for u in json.loads(out)[0]["users"]] == ["bob"]

    code, out = run(
        *("oncall", "override", "ops", "--user", "bob"),
        *(
            "--start",
            "2030-03-04T12:00",
            "--end",
            "2030-03-04T14:00",
            "--comment",
            "ann at the doctor",
        ),
    )
    assert code == 0, out
    assert "2030-03-04 12:00 to 2030-03-04 14:00 (Asia/Shanghai)" in out
    code, out = run("oncall", "now", "--rotation", "ops", "--at", "2030-03-04T13:00", "--json")
    assert json.loads(out)[0]["override"]["comment"] == "ann at the doctor"

    code, out = run(
        "oncall", "swap", "ops", "--at", "2030-03-06T12:00", "--with", "2030-03-07T12:00"
    )
    assert code == 0, out
    assert "bob from 2030-03-06 09:00 to 2030-03-07 09:00" in out
    assert "ann from 2030-03-07 09:00 to 2030-03-08 09:00" in out
    code, out = run("oncall", "schedule", "ops", "--since", "2030-03-06T09:00", "--days", "2")
    assert code == 0, out
    assert out.index("bob") < out.index("ann") and out.count("override") == 2

    with Session(engine) as session:
        events = session.execute(
            sa.select(col(AuditEvent.action), col(AuditEvent.actor)).where(
                col(AuditEvent.action).startswith("rotation.")
            )
        ).all()
    assert {action for action, actor in events if actor.startswith("cli:")} == {
        "rotation.override.create",
        "rotation.swap",
    }
    engine.dispose()


def test_errors_name_the_option_and_exit_2(cli_env: str) -> None:
    engine = make_engine(cli_env)
    with Session(engine) as session:
        (ann,) = people(session, "ann")
        factories.user(session, "clerk", Role.department)
        rotation(session, [{"name": "p", "member_ids": [ann.id], "starts_at": sh(2030, 3, 4, 9)}])
    engine.dispose()
    code, out = run("oncall", "now", "--at", "tomorrow")
    assert code == 2 and "--at" in out
    code, out = run("oncall", "now", "--rotation", "nope")
    assert code == 2 and "ROTATION" in out and "nope" in out
    base = ("oncall", "override", "ops", "--start", "2030-03-04T12:00")
    code, out = run(*base, "--user", "ghost", "--end", "2030-03-04T14:00")
    assert code == 2 and "--user" in out
    code, out = run(*base, "--user", "clerk", "--end", "2030-03-04T14:00")
    assert code == 2 and "user_id" in out and "only oncall and admin" in out
    code, out = run(*base, "--user", "ann", "--end", "2030-03-04T11:00")
    assert code == 2 and "ends_at must be after starts_at" in out
