"""API routes that cost one thread-pool hop, not three.

FastAPI runs a sync route in the thread pool, then validates its result in the pool again
(a second hop), and our session dependency closes a read transaction in the pool (a
third). Under load each hop is a hand-off between threads fighting for the GIL; together
they were about a fifth of a list request's CPU. `OneHopRoute` wraps every sync endpoint in
an async one that runs the route *and* ends the session in one hop; the result is then
validated and serialised on the event loop (a model instance's validation is a type check,
and serialising to JSON is pydantic's Rust core).

A route marked `@on_loop` makes no hop at all: it runs on the event loop. That is for the
bounded reads clients poll (a page of a list, one row by id): measured under 16 concurrent
connections, the one hop still cost a third of a host page's CPU (7.6 -> 5.0 ms per
request), because the loop thread and the pool thread then take turns at the GIL for every
request. On the loop, a process serves such reads one at a time, as a pre-forked worker
would; `yunheng serve --workers N` supplies the concurrency. Only reads of a bounded number
of rows qualify: anything that calls a cloud or Prometheus, solves, renders a report or
writes keeps its hop, so a slow call never holds up the process's other requests.

A route commits its own writes; what a failed route, or one that returned with writes left
uncommitted, leaves is rolled back, as before. A transaction that only read ends in COMMIT
(inventory.read_only: a ROLLBACK makes psycopg forget its prepared statements). Either way
the objects the route returns keep their loaded state, so serialising them afterwards needs
no database.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from inventory.read_only import end_transaction

ON_LOOP = "_yunheng_on_loop"


def on_loop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a sync route as a bounded read that runs on the event loop (see above). Put it
    under the `@router.get(...)` line, so the route is registered marked."""
    setattr(endpoint, ON_LOOP, True)
    return endpoint


def one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """An async endpoint that runs the sync `endpoint` and closes its session in one hop
    (or on the loop if it is marked `on_loop`). FastAPI reads the parameters and their
    types through `__wrapped__`."""
    inline = getattr(endpoint, ON_LOOP, False)

    def run(kwargs: dict[str, Any]) -> Any:
        sessions = [value for value in kwargs.values() if isinstance(value, Session)]
        if inline:
            for session in sessions:
                if not session.in_transaction():
                    # A bounded read needs no transaction: in autocommit psycopg sends no
                    # BEGIN and no COMMIT, two of a list page's five round trips, each a
                    # switch between this process and its PostgreSQL backend. (The page and
                    # its total are then two snapshots; a write between them can make them
                    # disagree by that write, as any paging API's next page can.)
                    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        try:
            result = endpoint(**kwargs)
        except BaseException:
            for session in sessions:
                session.close()  # rolls back whatever the failed route left
            raise
        for session in sessions:
            end_transaction(session)  # COMMIT if it only read: keeps prepared statements
        return result

    @functools.wraps(endpoint)
    async def wrapper(**kwargs: Any) -> Any:
        if inline:
            return run(kwargs)
        return await run_in_threadpool(run, kwargs)

    return wrapper


class OneHopRoute(APIRoute):
    """The API's route class: sync endpoints run as `one_hop`; async ones as they are."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = one_hop(endpoint)
        super().__init__(path, endpoint, **kwargs)
