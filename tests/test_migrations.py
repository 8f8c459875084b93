"""Migrations: up from empty, down and up again, and in step with the models, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import inventory.models  # noqa: F401  (registers the tables)
from inventory.db import make_engine
from inventory.migrate import current_revision, head_revision, is_current, upgrade


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: str = request.getfixturevalue("pg_server")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS migrate_empty WITH (FORCE)"))
        conn.execute(sa.text("CREATE DATABASE migrate_empty"))
    yield sa.make_url(server).set(database="migrate_empty").render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS migrate_empty WITH (FORCE)"))
    admin.dispose()


def test_upgrade_from_empty_reaches_head_and_matches_models(empty_url: str) -> None:
    engine = make_engine(empty_url)
    assert current_revision(engine) is None
    upgrade(empty_url)
    assert current_revision(engine) == head_revision()
    assert is_current(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_upgrade_is_repeatable_and_downgrade_clean(empty_url: str) -> None:
    from alembic import command

    from inventory.migrate import alembic_config

    upgrade(empty_url)
    upgrade(empty_url)  # a second `yunheng db upgrade` is a no-op
    command.downgrade(alembic_config(empty_url), "base")
    engine = make_engine(empty_url)
    tables = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    upgrade(empty_url)
    assert is_current(engine)
    engine.dispose()
