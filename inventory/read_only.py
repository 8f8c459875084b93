"""End read-only transactions with COMMIT, so that PostgreSQL keeps its prepared statements.

psycopg prepares a statement on a connection once it has run there five times, and forgets
them all whenever the connection rolls back (a rolled-back transaction may have dropped what
they refer to). Every API read ended with a ROLLBACK, so nothing was ever prepared:
PostgreSQL parsed and planned each statement of each request, most of its CPU on a list
page. A transaction that only ran SELECTs leaves the same database whether it ends in COMMIT
or ROLLBACK, so such a transaction ends in COMMIT; one that may have written still rolls
back, unless its route committed it.

"Only SELECTs" is judged from the statements the connection ran (`track` listens to them);
anything else, a statement run many times (executemany) or unflushed ORM changes count as
writing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

WROTE = "yunheng.wrote"  # in the connection's info: this transaction may have written


def track(engine: Engine) -> None:
    """Note, per connection and transaction, whether anything but a SELECT ran."""
    sa.event.listen(engine, "before_cursor_execute", _note)
    sa.event.listen(engine, "commit", _forget)
    sa.event.listen(engine, "rollback", _forget)
    sa.event.listen(engine.pool, "checkin", _forget_record)


def end_transaction(session: Session) -> None:
    """After a route returned normally: COMMIT what only read, roll back anything else (the
    route commits its own writes). Objects keep their loaded state either way (the sessions
    are made with expire_on_commit=False, and closing detaches without expiring)."""
    if not session.in_transaction():
        return
    if session.new or session.dirty or session.deleted or session.connection().info.get(WROTE):
        session.close()
    else:
        session.commit()


def _note(
    conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    if executemany or statement.lstrip()[:6].upper() != "SELECT":
        conn.info[WROTE] = True


def _forget(conn: Connection) -> None:
    conn.info.pop(WROTE, None)


def _forget_record(dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info.pop(WROTE, None)
