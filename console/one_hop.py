"""API routes that cost one thread-pool hop, not three.

FastAPI runs a sync route in the thread pool, then validates its result in the pool again
(a second hop), and our session dependency closes a read transaction in the pool (a
third). Under load each hop is a hand-off between threads fighting for the GIL; together
they were about a fifth of a list request's CPU. `OneHopRoute` wraps every sync endpoint in
an async one that runs the route *and* ends the session in one hop; the result is then
validated and serialised on the event loop (a model instance's validation is a type check,
and serialising to JSON is pydantic's Rust core).

The session is closed, not committed: a route commits its own writes, and anything it left
uncommitted is rolled back, as before. Closing keeps the loaded state of the objects the
route returns, so serialising them afterwards needs no database.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session


def one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """An async endpoint that runs the sync `endpoint` and closes its session in one hop.
    FastAPI reads the parameters and their types through `__wrapped__`."""

    def run(kwargs: dict[str, Any]) -> Any:
        try:
            return endpoint(**kwargs)
        finally:
            for value in kwargs.values():
                if isinstance(value, Session) and value.in_transaction():
                    value.close()

    @functools.wraps(endpoint)
    async def wrapper(**kwargs: Any) -> Any:
        return await run_in_threadpool(run, kwargs)

    return wrapper


class OneHopRoute(APIRoute):
    """The API's route class: sync endpoints run as `one_hop`; async ones as they are."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = one_hop(endpoint)
        super().__init__(path, endpoint, **kwargs)
