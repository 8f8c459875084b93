"""The `yunheng` CLI, run in-process against the test database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from console.cli import app
from inventory import accounts
from inventory.db import make_engine
from inventory.models import Cloud, CloudStatus, Host, User
from inventory.settings import get_settings

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


def test_cloud_add_sync_list(cli_env: str) -> None:
    code, out = _run(
        *("cloud", "add", "cli-cloud", "--kind", "simulator", "--vendor", "Sim", "--region", "r9"),
        *("--setting", "profile=kubernetes", "--setting", "hosts_per_zone=3"),
        *("--setting", "region=r9"),
    )
    assert code == 0, out
    code, out = _run("sync")
    assert code == 0, out
    assert "ok" in out and "cli-cloud" in out
    engine = make_engine(cli_env)
    with Session(engine) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Host)).scalar_one() == 6
    engine.dispose()
    code, out = _run("cloud", "list")
    assert code == 0 and "cli-cloud" in out and "ok" in out


def test_cloud_add_rejects_bad_setting_naming_the_field(cli_env: str) -> None:
    code, out = _run(
        "cloud", "add", "bad", "--kind", "simulator", "--vendor", "Sim", "--region", "r",
        "--setting", "hosts_per_zone=lots",
    )  # fmt: skip
    assert code == 2
    assert "settings.hosts_per_zone" in out
    code, out = _run("cloud", "add", "bad", "--kind", "nope", "--vendor", "V", "--region", "r")
    assert code == 2 and "kind" in out and "simulator" in out
    add = ("cloud", "add", "bad", "--kind", "simulator", "--vendor", "V", "--region", "r")
    code, out = _run(*add, "--setting", "oops")
    assert code == 2 and "--setting" in out


def test_sync_of_failing_cloud_exits_nonzero_and_degrades(cli_env: str) -> None:
    faults = json.dumps({"unreachable": True})
    add = ("cloud", "add", "down", "--kind", "simulator", "--vendor", "V", "--region", "r")
    code, out = _run(*add, "--setting", f"faults={faults}")
    assert code == 2 and "'down' was not registered" in out and "unreachable" in out
    code, out = _run(*add, "--setting", f"faults={faults}", "--no-check")  # down for now
    assert code == 0 and "without a check" in out, out
    code, out = _run("sync", "--cloud", "down")
    assert code == 1 and "degraded" in out
    engine = make_engine(cli_env)
    with Session(engine) as session:
        cloud = session.execute(sa.select(Cloud)).scalar_one()
        assert cloud.status == CloudStatus.degraded
    engine.dispose()
    code, out = _run("sync", "--cloud", "missing")
    assert code == 2 and "--cloud" in out


def test_user_add_and_token_create(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YUNHENG_NEW_PASSWORD", "a-long-enough-password")
    code, out = _run("user", "add", "ops1", "--role", "oncall")
    assert code == 0, out
    code, out = _run("user", "add", "ops1", "--role", "oncall")
    assert code == 2 and "taken" in out
    code, out = _run("user", "add", "d1", "--role", "department", "--department", "nope")
    assert code == 2 and "--department" in out
    code, out = _run("token", "create", "--user", "ops1", "--name", "grafana")
    assert code == 0, out
    token = out.strip()
    engine = make_engine(cli_env)
    with Session(engine) as session:
        user = accounts.resolve_token(session, token)
        assert user is not None and user.username == "ops1"
    engine.dispose()


def test_cli_refuses_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YUNHENG_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()
    try:
        code, out = _run("cloud", "list")
        assert code == 2 and "yunheng db upgrade" in out
        code, out = _run("db", "upgrade")
        assert code == 0, out
        code, out = _run("cloud", "list")
        assert code == 0
    finally:
        get_settings.cache_clear()


def test_demo_seeds_estate_and_prints_working_logins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("YUNHENG_DATABASE_URL", url)
    monkeypatch.setenv("YUNHENG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("YUNHENG_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    try:
        code, out = _run("demo", "--no-serve")
        assert code == 0, out
        rows = [line.split("│") for line in out.splitlines() if line.count("│") == 5]
        logins = {
            cells[2].strip(): cells[3].strip() for cells in rows if cells[2].strip() != "username"
        }
        assert set(logins) == {"admin", "dept", "oncall", "manager"}
        key = tmp_path / "data" / "secret.key"
        assert key.stat().st_mode & 0o777 == 0o600
        engine = make_engine(url)
        with Session(engine) as session:
            hosts = session.execute(sa.select(sa.func.count()).select_from(Host)).scalar_one()
            clouds = session.execute(sa.select(Cloud)).scalars().all()
            assert hosts == 120 and len(clouds) == 3
            assert {c.region for c in clouds} == {"prov-dc1", "prov-dc2"}
            assert all(c.status == CloudStatus.ok for c in clouds)
            user = accounts.authenticate(
                session, "dept", logins["dept"], max_failures=5, lockout=timedelta(minutes=1)
            )
            assert isinstance(user, User) and user.department_id is not None
        engine.dispose()
        # Again: nothing duplicated, old passwords replaced.
        code, out = _run("demo", "--no-serve")
        assert code == 0, out
        engine = make_engine(url)
        with Session(engine) as session:
            assert session.execute(sa.select(sa.func.count()).select_from(Cloud)).scalar_one() == 3
            assert session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 4
            with pytest.raises(accounts.LoginFailed):
                accounts.authenticate(
                    session, "dept", logins["dept"], max_failures=5, lockout=timedelta(minutes=1)
                )
        engine.dispose()
    finally:
        get_settings.cache_clear()
