"""API requests cost one thread-pool hop, bounded reads none (console.one_hop,
inventory.token_cache).

Each hop is a hand-off between threads that fight for the GIL under load; a list request
used to make four (token check, route, response validation, closing the read transaction).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from console.app import API_MODULES
from console.one_hop import ON_LOOP, OneHopRoute
from inventory.models import Role
from tests import factories


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions sent to the thread pool, in order."""
    sent: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        inner = func
        while isinstance(inner, functools.partial):  # run_in_threadpool binds arguments
            inner = inner.func
        sent.append(getattr(inner, "__name__", repr(inner)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return sent


@pytest.mark.parametrize(
    "path", ["/api/v1/hosts", "/api/v1/workloads", "/api/v1/requests", "/api/v1/alerts"]
)
def test_a_list_request_runs_on_the_loop(
    client: TestClient, session: Session, hops: list[str], path: str
) -> None:
    admin = factories.user(session, "root", Role.admin)
    assert client.get(path, headers=admin.headers).status_code == 200  # checks the token
    hops.clear()
    answer = client.get(path, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] >= 0
    assert hops == [], hops


def test_a_route_that_is_not_a_bounded_read_is_one_hop(
    client: TestClient, session: Session, hops: list[str]
) -> None:
    admin = factories.user(session, "root", Role.admin)
    assert client.get("/api/v1/tokens", headers=admin.headers).status_code == 200
    hops.clear()
    answer = client.get("/api/v1/tokens", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    assert hops == ["run"], hops  # the route and closing its session, nothing else


def test_an_unknown_token_costs_the_check_and_no_route(client: TestClient, hops: list[str]) -> None:
    answer = client.get("/api/v1/hosts", headers={"Authorization": "Bearer yh_nobody"})
    assert answer.status_code == 401
    assert hops == ["_authenticate"], hops


def test_every_api_route_is_a_one_hop_route() -> None:
    routes = [r for m in API_MODULES for r in m.router.routes if isinstance(r, APIRoute)]
    assert routes
    assert all(isinstance(r, OneHopRoute) for r in routes), [
        r.path for r in routes if not isinstance(r, OneHopRoute)
    ]


def test_only_reads_run_on_the_loop() -> None:
    """A write (audit chain row lock) or a cloud call on the loop would hold up every other
    request of its process: `on_loop` is for GET routes only."""
    routes = [r for m in API_MODULES for r in m.router.routes if isinstance(r, APIRoute)]
    on_loop = [r for r in routes if getattr(r.endpoint.__wrapped__, ON_LOOP, False)]  # type: ignore[attr-defined]
    assert {r.path for r in on_loop} >= {"/hosts", "/workloads", "/requests", "/alerts"}
    assert all(r.methods == {"GET"} for r in on_loop), [(r.path, r.methods) for r in on_loop]
