"""Bad input on every write endpoint and list: a 4xx with a JSON error, and nothing lost."""

from __future__ import annotations

from typing import Any

import pytest
from httpx2 import Response

from tests.bad_inputs import API, AUDIT, CASES, CLOUD, USER, WATCH, Bad, with_
from tests.factories import World


def fill(world: World, value: Any) -> Any:
    """Put the world's ids into paths and bodies ("{department}" -> 1)."""
    ids = {
        "{cloud}": world.estate.clouds[0].id,
        "{disabled}": world.disabled_cloud.id,
        "{department}": world.estate.department_a.id,
        "{user}": world.target.user.id,
        "{admin}": world.estate.admin.user.id,
    }
    if isinstance(value, str):
        if value in ids:
            return ids[value]
        for key, id_ in ids.items():
            value = value.replace(key, str(id_))
        return value
    if isinstance(value, dict):
        return {k: fill(world, v) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(world, v) for v in value]
    return value


def read(world: World, path: str) -> Any:
    """What an admin reads at `path`, minus the one field that reading itself moves."""
    response = world.client.get(API + fill(world, path), headers=world.estate.admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    if isinstance(body, list):  # /tokens
        body = [{k: v for k, v in t.items() if k != "last_used_at"} for t in body]
    return body


class Watcher:
    """The last state read at each path. Nothing in this module may change it, so a case
    only reads after its request and compares with what was read last (before it)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seen: dict[str, Any] = {}

    def before(self, paths: list[str]) -> None:
        for path in paths:
            if path not in self.seen:
                self.seen[path] = read(self.world, path)

    def assert_unchanged(self, paths: list[str]) -> None:
        for path in paths:
            now = read(self.world, path)
            previous, self.seen[path] = self.seen[path], now
            assert now == previous, f"{path} changed"


@pytest.fixture(scope="module")
def watcher(world: World) -> Watcher:
    return Watcher(world)


def watched(path: str) -> list[str]:
    if path in WATCH:
        return WATCH[path]
    # A missing or malformed id: watch the collection it is in.
    collection = "/" + path.strip("/").split("/")[0]
    return WATCH[collection]


def assert_rejected(response: Response, status: int, mentions: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    error = response.json().get("error")
    assert isinstance(error, str) and error.strip(), response.text
    assert mentions in error, error
    return error


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_write_is_rejected_and_loses_nothing(world: World, watcher: Watcher, case: Bad) -> None:
    headers = {} if case.anonymous else world.estate.admin.headers
    watch = watched(case.path)
    watcher.before(watch)
    if case.raw is not None:
        response = world.client.request(
            case.method,
            API + fill(world, case.path),
            headers={**headers, "Content-Type": "application/json"},
            content=case.raw,
        )
    else:
        response = world.client.request(
            case.method, API + fill(world, case.path), headers=headers, json=fill(world, case.body)
        )
    assert_rejected(response, case.status, case.mentions)
    watcher.assert_unchanged(watch)


def test_rejections_do_not_echo_secrets(world: World) -> None:
    headers = world.estate.admin.headers
    rejected = [
        world.client.post(
            f"{API}/users", headers=headers, json=with_(USER, password="tiny-pw", role="root")
        ),
        world.client.post(
            f"{API}/clouds",
            headers=headers,
            json=with_(CLOUD, credentials={"password": "hunter2-secret"}),
        ),
        world.client.post(f"{API}/auth/login", json={"username": 7, "password": "hunter2-secret"}),
    ]
    for response in rejected:
        assert 400 <= response.status_code < 500, response.text
        assert "tiny-pw" not in response.text and "hunter2-secret" not in response.text


# --- Values the database cannot hold: 4xx on both backends, never 500 ----------------------

HUGE = 10**20  # beyond any integer column
UNSTORABLE = [
    ("GET", f"/clouds/{HUGE}", None),
    ("GET", f"/clouds/{2**40}", None),  # beyond PostgreSQL's integer
    ("GET", f"/hosts/{2**40}", None),
    ("GET", f"/workloads/{2**40}", None),
    ("GET", f"/departments/{2**40}", None),
    ("PATCH", f"/clouds/{HUGE}", {"vendor": "x"}),
    ("POST", f"/clouds/{2**40}/sync", None),
    ("PATCH", f"/departments/{HUGE}", {"name": "x"}),
    ("PUT", f"/departments/{2**40}/quotas", {"vcpus": 1}),
    ("PATCH", f"/users/{2**40}", {"display_name": "x"}),
    ("DELETE", f"/tokens/{HUGE}", None),
    ("GET", f"/clouds?cloud={2**40}", None),
    ("GET", f"/hosts?zone={HUGE}", None),
    ("GET", f"/workloads?department={2**40}", None),
    ("GET", "/workloads?q=%00", None),
    ("POST", "/auth/login", {"username": "admin\x00", "password": "x"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), UNSTORABLE, ids=[f"{m} {p}" for m, p, _ in UNSTORABLE]
)
def test_unstorable_values_never_answer_500(
    world: World, watcher: Watcher, method: str, path: str, body: Any
) -> None:
    watch = [AUDIT, "/clouds?limit=500", "/departments?limit=500", "/users?limit=500"]
    watcher.before(watch)
    response = world.client.request(
        method, API + path, headers=world.estate.admin.headers, json=body
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]
    watcher.assert_unchanged(watch)
