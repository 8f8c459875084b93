"""Engine and sessions, built from Settings; nothing else opens connections."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from inventory import read_only
from inventory.settings import Settings


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    sa_url = sa.make_url(url)
    kwargs.setdefault("json_deserializer", _json_loads)
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        # pre_ping: a restarted PostgreSQL must not leave dead connections in the pool.
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        engine = sa.create_engine(url, **kwargs)
    read_only.track(engine)  # read-only transactions end in COMMIT (see inventory.read_only)
    return engine


def _json_loads(text: str | bytes) -> Any:
    """JSON columns as Python values, with orjson: plans' solver results made reading
    them a large share of the request list's CPU with the standard library's parser. What
    orjson refuses but `json` reads (NaN, Infinity, written to SQLite by `json.dumps`) still
    reads as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def engine_from_settings(settings: Settings) -> Engine:
    return make_engine(settings.effective_database_url)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
