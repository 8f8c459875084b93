"""Who may call what: the role x endpoint matrix and department isolation."""

from __future__ import annotations

import json

import pytest

from tests.factories import World
from tests.roles_matrix import (
    API,
    CASES,
    MATRIX,
    Rule,
    assert_error,
    concrete,
    headers_for,
)


def test_matrix_covers_every_api_route(world: World) -> None:
    spec = world.app.openapi()
    routes = {
        (method.upper(), path.removeprefix(API))
        for path, operations in spec["paths"].items()
        if path.startswith(API + "/")
        for method in operations
    }
    ruled = [(rule.method, rule.path) for rule in MATRIX]
    assert len(ruled) == len(set(ruled)), "a route is listed twice"
    assert routes - set(ruled) == set(), "routes without a matrix entry"
    assert set(ruled) - routes == set(), "matrix entries for routes that no longer exist"
    for rule in MATRIX:
        assert set(rule.expect) >= {"admin", "department", "oncall", "manager"}, rule


@pytest.mark.parametrize(("rule", "role", "expected"), CASES)
def test_role_matrix(world: World, rule: Rule, role: str, expected: int) -> None:
    url = concrete(world, rule.path, role)
    body = rule.body(world) if callable(rule.body) else rule.body
    response = world.client.request(rule.method, url, headers=headers_for(world, role), json=body)
    if expected >= 400:
        body = assert_error(response, expected)
        if expected == 401:
            assert response.headers.get("www-authenticate") == "Bearer"
        if expected == 403:
            assert "may not" in body["error"]
    else:
        assert response.status_code == expected, response.text
        if rule.path.endswith(".csv"):  # a download, not JSON
            assert response.headers["content-type"].startswith("text/csv")
        elif rule.path.endswith((".html", ".pdf")):  # the assessment as a page or a download
            kind = "text/html" if rule.path.endswith(".html") else "application/pdf"
            assert response.headers["content-type"].startswith(kind)
        elif expected != 204:
            assert response.headers["content-type"].startswith("application/json")
            response.json()


# --- Department isolation ------------------------------------------------------------------


def test_department_user_sees_only_its_own_workloads(world: World) -> None:
    e = world.estate
    mine = world.client.get(f"{API}/workloads?limit=500", headers=e.dept_b.headers).json()
    everything = world.client.get(f"{API}/workloads?limit=500", headers=e.admin.headers).json()
    assert mine["total"] > 0
    assert mine["total"] < everything["total"]
    assert {w["department"] for w in mine["items"]} == {"dept-b"}
    assert {w["department_id"] for w in mine["items"]} == {e.department_b.id}
    theirs = {w["id"] for w in everything["items"] if w["department"] == "dept-a"}
    assert theirs, "the estate must give department A workloads"
    assert theirs.isdisjoint(w["id"] for w in mine["items"])


def test_department_user_cannot_open_another_departments_things(world: World) -> None:
    e, client = world.estate, world.client
    b = e.dept_b.headers
    # Another department's workload answers like a missing one: 404, never 403.
    theirs = client.get(f"{API}/workloads/{world.workload_a}", headers=b)
    missing = client.get(f"{API}/workloads/999999", headers=b)
    assert_error(theirs, 404)
    assert_error(missing, 404)
    assert theirs.json()["error"] == f"workload {world.workload_a} not found"
    assert "dept-a" not in theirs.text
    # The same workload is there for its own department and for staff.
    assert client.get(f"{API}/workloads/{world.workload_a}", headers=e.dept_a.headers).is_success
    assert client.get(f"{API}/workloads/{world.workload_a}", headers=e.oncall.headers).is_success

    other = client.get(f"{API}/departments/{e.department_a.id}", headers=b)
    assert_error(other, 404)
    assert "dept-a" not in other.text
    own = client.get(f"{API}/departments/{e.department_b.id}", headers=b)
    assert own.status_code == 200 and own.json()["code"] == "dept-b"


def test_department_list_shows_only_its_own_department(world: World) -> None:
    e, client = world.estate, world.client
    listed = client.get(f"{API}/departments", headers=e.dept_b.headers).json()
    assert [d["code"] for d in listed["items"]] == ["dept-b"]
    assert listed["total"] == 1
    searched = client.get(f"{API}/departments?q=dept-a", headers=e.dept_b.headers).json()
    assert searched["items"] == [] and searched["total"] == 0
    staff = client.get(f"{API}/departments", headers=e.manager.headers).json()
    assert {"dept-a", "dept-b"} <= {d["code"] for d in staff["items"]}


@pytest.mark.parametrize("ref", ["code", "id"])
@pytest.mark.parametrize("path", ["/workloads", "/clouds", "/zones"])
def test_department_filter_for_another_department_is_forbidden(
    world: World, path: str, ref: str
) -> None:
    e = world.estate
    a = e.department_a.code if ref == "code" else str(e.department_a.id)
    b = e.department_b.code if ref == "code" else str(e.department_b.id)
    denied = world.client.get(f"{API}{path}?department={a}", headers=e.dept_b.headers)
    assert "own department" in assert_error(denied, 403)["error"]
    allowed = world.client.get(f"{API}{path}?department={b}", headers=e.dept_b.headers)
    assert allowed.status_code == 200 and allowed.json()["total"] > 0
    # Staff may filter by any department.
    staff = world.client.get(f"{API}{path}?department={a}", headers=e.manager.headers)
    assert staff.status_code == 200 and staff.json()["total"] > 0


def test_department_users_see_clouds_without_settings_or_errors(world: World) -> None:
    e, client = world.estate, world.client
    broken = world.broken_cloud.id
    staff = client.get(f"{API}/clouds?limit=500", headers=e.oncall.headers).json()["items"]
    staff_broken = next(c for c in staff if c["id"] == broken)
    assert staff_broken["last_error"], "the control: staff see why the sync failed"
    assert all(c["settings"] for c in staff)

    listed = client.get(f"{API}/clouds?limit=500", headers=e.dept_a.headers).json()["items"]
    assert {c["id"] for c in listed} == {c["id"] for c in staff}
    for item in listed:
        assert item["settings"] == {}
        assert item["last_error"] is None
    one = client.get(f"{API}/clouds/{broken}", headers=e.dept_a.headers).json()
    assert one["settings"] == {} and one["last_error"] is None
    assert one["status"] == "degraded"  # the state itself is not secret
    assert "unreachable" not in json.dumps(listed) + json.dumps(one)


# --- Secrets -------------------------------------------------------------------------------
