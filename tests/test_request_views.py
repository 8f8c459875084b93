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


def test_the_department_filter_narrows_staff_and_pins_department_users(world: World) -> None:
    estate = world.estate
    code_a, code_b = estate.department_a.code, estate.department_b.code
    admin = world.headers(estate.admin)

    def items(path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
        response = world.client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["items"]
        return found

    every = items("/api/v1/requests?limit=500", admin)
    only_a = items(f"/api/v1/requests?limit=500&department={code_a}", admin)
    assert only_a and all(item["department"] == code_a for item in only_a)
    assert len(only_a) == sum(item["department"] == code_a for item in every)
    by_id = items(f"/api/v1/requests?limit=500&department={estate.department_a.id}", admin)
    assert [i["id"] for i in by_id] == [i["id"] for i in only_a]
    unknown = world.client.get("/api/v1/requests?department=nope", headers=admin)
    assert unknown.status_code == 404

    dept_a = world.headers(estate.dept_a)
    assert [i["id"] for i in items("/api/v1/requests?limit=500", dept_a)] == [
        i["id"] for i in only_a
    ]
    other = world.client.get(f"/api/v1/requests?department={code_b}", headers=dept_a)
    assert other.status_code == 403
