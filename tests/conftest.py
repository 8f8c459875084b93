"""Fixtures: every database test runs on SQLite and again on a real, throwaway PostgreSQL."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from adapters.base import ProvisionRequest, ProvisionResult
from adapters.simulator import SimulatorAdapter
from console.app import create_app
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.migrate import upgrade
from inventory.settings import Settings, get_settings
from tests import factories
from tests.factories import World, fresh_database
from tests.pg import PostgresUnavailable, throwaway_postgres


def skip_or_fail(reason: str) -> None:
    """A missing real peer skips locally; under CI=true it fails: CI cannot go green by skipping."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required peer missing under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    url = os.environ.get("YUNHENG_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        with throwaway_postgres() as started:
            yield started
    except PostgresUnavailable as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    """A database migrated once; each test clones it (CREATE DATABASE ... TEMPLATE), ~50 ms."""
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS yh_template"))
        conn.execute(sa.text("CREATE DATABASE yh_template"))
    admin.dispose()
    url = sa.make_url(pg_server).set(database="yh_template").render_as_string(hide_password=False)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key=Fernet.generate_key().decode(),
        login_max_failures=3,
    )


@pytest.fixture
def box(settings: Settings) -> SecretBox:
    return SecretBox.from_settings(settings)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings, engine)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _fresh_simulator() -> Iterator[None]:
    """What the simulator 'provisioned' lives in the process; no test inherits another's."""
    from adapters.simulator import SimulatorAdapter

    SimulatorAdapter._made.clear()
    yield
    SimulatorAdapter._made.clear()


@pytest.fixture
def cli_env(
    database_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The CLI pointed at the test database, with the same key as the `box` fixture."""
    monkeypatch.setenv("YUNHENG_DATABASE_URL", database_url)
    monkeypatch.setenv("YUNHENG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("YUNHENG_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One migrated database, estate and app per module and backend, for suites of many
    small cases that only read, are rejected, or write rows nothing else looks at."""
    with factories.world(request, request.param, tmp_path_factory.mktemp("world")) as built:
        yield built


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every provision() call the simulator gets, by idempotency key."""
    seen: Counter[str] = Counter()
    real = SimulatorAdapter.provision

    def counting(self: SimulatorAdapter, request: ProvisionRequest) -> ProvisionResult:
        seen[request.idempotency_key] += 1
        return real(self, request)

    monkeypatch.setattr(SimulatorAdapter, "provision", counting)
    yield seen
