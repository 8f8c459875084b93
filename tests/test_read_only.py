"""inventory.read_only: a transaction that only read ends in COMMIT, anything else as before.

The COMMIT is what lets PostgreSQL keep the statements psycopg prepared on the connection
(a ROLLBACK makes psycopg forget them all); a write a route did not commit must still be
rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from inventory import read_only
from inventory.models import Department, Role
from inventory.read_only import end_transaction
from tests import factories


@pytest.fixture
def endings(engine: Engine) -> Iterator[list[str]]:
    """How each transaction on the engine ended: "commit" or "rollback"."""
    seen: list[str] = []

    def commit(conn: sa.Connection) -> None:
        seen.append("commit")

    def rollback(conn: sa.Connection) -> None:
        seen.append("rollback")

    sa.event.listen(engine, "commit", commit)
    sa.event.listen(engine, "rollback", rollback)
    yield seen
    sa.event.remove(engine, "commit", commit)
    sa.event.remove(engine, "rollback", rollback)


def test_a_read_ends_in_commit(engine: Engine, endings: list[str]) -> None:
    with Session(engine, expire_on_commit=False) as session:
        session.execute(sa.select(col(Department.id))).all()
        end_transaction(session)
        assert not session.in_transaction()
    assert endings == ["commit"]


def test_an_uncommitted_core_write_is_rolled_back(engine: Engine, endings: list[str]) -> None:
    with Session(engine, expire_on_commit=False) as session:
        session.add(Department(code="keep", name="保留"))
        session.commit()
        endings.clear()
        session.execute(sa.update(Department).values(name="changed"))
        session.execute(sa.select(col(Department.id))).all()  # a read after it changes nothing
        end_transaction(session)
    assert endings == ["rollback"]
    with Session(engine) as check:
        assert check.execute(sa.select(col(Department.name))).scalars().all() == ["保留"]


def test_unflushed_objects_are_rolled_back(engine: Engine, endings: list[str]) -> None:
    with Session(engine, expire_on_commit=False) as session:
        session.execute(sa.select(col(Department.id))).all()
        session.add(Department(code="new", name="新"))
        end_transaction(session)
    assert endings == ["rollback"]
    with Session(engine) as check:
        assert check.execute(sa.select(sa.func.count()).select_from(Department)).scalar() == 0


def test_the_next_transaction_starts_clean(engine: Engine, endings: list[str]) -> None:
    with Session(engine, expire_on_commit=False) as session:
        session.execute(sa.update(Department).values(name="x"))
        session.commit()  # a route's own commit
        session.execute(sa.select(col(Department.id))).all()
        end_transaction(session)
    assert endings == ["commit", "commit"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_prepared_statements_survive_api_reads(engine: Engine) -> None:
    """The point of it all: psycopg prepares a statement on its fifth run on a connection,
    and keeps it across requests that end in COMMIT."""
    engine.dispose()
    small = sa.create_engine(engine.url, poolclass=sa.pool.StaticPool)  # one connection
    read_only.track(small)
    query = sa.select(col(Department.id)).where(col(Department.code) == sa.bindparam("code"))
    for _ in range(7):
        with Session(small, expire_on_commit=False) as session:
            session.execute(query, {"code": "none"}).all()
            end_transaction(session)
    with small.connect() as conn:
        prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()
    small.dispose()
    assert prepared and prepared >= 1


def test_the_api_list_still_answers_after_many_reads(client: TestClient, session: Session) -> None:
    admin = factories.user(session, "root", Role.admin)
    for _ in range(7):  # past psycopg's threshold: the prepared statements are used
        answer = client.get("/api/v1/departments", headers=admin.headers)
        assert answer.status_code == 200, answer.text
