"""Listing requests costs a fixed number of queries, however many requests a page holds."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.factories import World


def _statements(world: World, path: str) -> tuple[int, list[Any]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(world.engine, "before_cursor_execute", count)
    try:
        response = world.client.get(path, headers=world.headers(world.estate.admin))
    finally:
        sa.event.remove(world.engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.text
    return len(seen), response.json()["items"]


def test_a_page_of_requests_is_built_in_a_fixed_number_of_queries(world: World) -> None:
    one, first = _statements(world, "/api/v1/requests?limit=1")
    many, items = _statements(world, "/api/v1/requests?limit=50")
    assert len(first) == 1 and len(items) >= 3
    assert many == one  # not one more per request, plan or allocation
    assert all(item["plans"] and item["plans"][0]["allocations"] for item in items)
    assert items[0]["department"] == "dept-a" and items[0]["requested_by"]
