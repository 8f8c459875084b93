"""Bad input on every write endpoint and list: a 4xx with a JSON error, and nothing lost."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from httpx2 import Response

from tests import factories
from tests.factories import World

API = "/api/v1"
NOT_JSON = "this is not json"


@pytest.fixture(scope="module", params=factories.BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with factories.world(request, request.param, tmp_path_factory.mktemp("input")) as built:
        yield built


@dataclass(frozen=True)
class Bad:
    method: str
    path: str  # {cloud}, {disabled}, {department}, {user}, {admin} are filled in from the world
    body: Any = None
    raw: str | None = None  # sent as-is with a JSON content type instead of `body`
    status: int = 422
    mentions: str = ""  # the error message must contain this (a field name, usually)
    anonymous: bool = False


# What a rejected write could have changed; each is read before and after and must not move.
AUDIT = "/audit?limit=20"
WATCH = {
    "/auth/login": ["/users?limit=500", AUDIT],
    "/tokens": ["/tokens", AUDIT],
    "/clouds": ["/clouds?limit=500", AUDIT],
    "/clouds/{cloud}": ["/clouds/{cloud}", AUDIT],
    "/clouds/{disabled}/sync": ["/clouds/{disabled}", "/hosts?cloud={disabled}", AUDIT],
    "/departments": ["/departments?limit=500", AUDIT],
    "/departments/{department}": ["/departments/{department}", AUDIT],
    "/departments/{department}/quotas": ["/departments/{department}", AUDIT],
    "/users": ["/users?limit=500", AUDIT],
    "/users/{user}": ["/users?limit=500", AUDIT],
    "/users/{admin}": ["/users?limit=500", AUDIT],
}

LONG = "x" * 300
CLOUD = {
    "name": "new-cloud",
    "kind": "simulator",
    "vendor": "V",
    "region": "r",
    "security_level": 3,
}
DEPARTMENT = {"code": "new-dept", "name": "New"}
USER = {"username": "new-user", "role": "oncall", "password": "long-enough-password"}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def without(base: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != key}


LOGIN = {"username": "admin1", "password": factories.PASSWORD}

CASES = {
    # POST /auth/login
    "login: missing password": Bad(
        "POST", "/auth/login", without(LOGIN, "password"), mentions="body.password", anonymous=True
    ),
    "login: username not a string": Bad(
        "POST", "/auth/login", with_(LOGIN, username=5), mentions="body.username", anonymous=True
    ),
    "login: empty username": Bad(
        "POST", "/auth/login", with_(LOGIN, username=""), mentions="body.username", anonymous=True
    ),
    "login: username too long": Bad(
        "POST", "/auth/login", with_(LOGIN, username=LONG), mentions="body.username", anonymous=True
    ),
    "login: password too long": Bad(
        "POST", "/auth/login", with_(LOGIN, password=LONG), mentions="body.password", anonymous=True
    ),
    "login: body is a list": Bad("POST", "/auth/login", [LOGIN], mentions="body", anonymous=True),
    "login: not JSON": Bad("POST", "/auth/login", raw=NOT_JSON, mentions="body", anonymous=True),
    "login: empty body": Bad("POST", "/auth/login", raw="", mentions="body", anonymous=True),
    # POST /tokens
    "token: missing name": Bad("POST", "/tokens", {}, mentions="body.name"),
    "token: empty name": Bad("POST", "/tokens", {"name": ""}, mentions="body.name"),
    "token: name too long": Bad("POST", "/tokens", {"name": LONG}, mentions="body.name"),
    "token: zero days": Bad(
        "POST", "/tokens", {"name": "t", "expires_in_days": 0}, mentions="body.expires_in_days"
    ),
    "token: too many days": Bad(
        "POST", "/tokens", {"name": "t", "expires_in_days": 366}, mentions="body.expires_in_days"
    ),
    "token: days not a number": Bad(
        "POST", "/tokens", {"name": "t", "expires_in_days": "ten"}, mentions="body.expires_in_days"
    ),
    "token: huge days": Bad(
        "POST", "/tokens", {"name": "t", "expires_in_days": 10**30}, mentions="expires_in_days"
    ),
    "token: not JSON": Bad("POST", "/tokens", raw=NOT_JSON, mentions="body"),
    # POST /clouds
    "cloud: missing kind": Bad("POST", "/clouds", without(CLOUD, "kind"), mentions="body.kind"),
    "cloud: missing security level": Bad(
        "POST", "/clouds", without(CLOUD, "security_level"), mentions="body.security_level"
    ),
    "cloud: security level 0": Bad(
        "POST", "/clouds", with_(CLOUD, security_level=0), mentions="body.security_level"
    ),
    "cloud: security level 6": Bad(
        "POST", "/clouds", with_(CLOUD, security_level=6), mentions="body.security_level"
    ),
    "cloud: security level a word": Bad(
        "POST", "/clouds", with_(CLOUD, security_level="high"), mentions="body.security_level"
    ),
    "cloud: name too long": Bad(
        "POST", "/clouds", with_(CLOUD, name="c" * 65), mentions="body.name"
    ),
    "cloud: name with a slash": Bad(
        "POST", "/clouds", with_(CLOUD, name="bad/name"), mentions="body.name"
    ),
    "cloud: blank name": Bad("POST", "/clouds", with_(CLOUD, name="   "), mentions="body.name"),
    "cloud: blank vendor": Bad(
        "POST", "/clouds", with_(CLOUD, vendor="  "), mentions="body.vendor"
    ),
    "cloud: region too long": Bad(
        "POST", "/clouds", with_(CLOUD, region=LONG), mentions="body.region"
    ),
    "cloud: unknown kind": Bad(
        "POST", "/clouds", with_(CLOUD, kind="vmware"), mentions="unknown cloud kind"
    ),
    "cloud: simulator setting out of range": Bad(
        "POST", "/clouds", with_(CLOUD, settings={"zones": 0}), mentions="settings.zones"
    ),
    "cloud: simulator setting of the wrong type": Bad(
        "POST", "/clouds", with_(CLOUD, settings={"seed": "abc"}), mentions="settings.seed"
    ),
    "cloud: unknown simulator setting": Bad(
        "POST", "/clouds", with_(CLOUD, settings={"zonez": 2}), mentions="settings.zonez"
    ),
    "cloud: unknown simulator profile": Bad(
        "POST", "/clouds", with_(CLOUD, settings={"profile": "vmware"}), mentions="settings.profile"
    ),
    "cloud: nested simulator setting": Bad(
        "POST",
        "/clouds",
        with_(CLOUD, settings={"faults": {"unreachable": "maybe"}}),
        mentions="settings.faults.unreachable",
    ),
    "cloud: settings not an object": Bad(
        "POST", "/clouds", with_(CLOUD, settings="zones=2"), mentions="body.settings"
    ),
    "cloud: credentials the simulator does not take": Bad(
        "POST", "/clouds", with_(CLOUD, credentials={"password": "x"}), mentions="credentials"
    ),
    "cloud: duplicate name": Bad(
        "POST", "/clouds", with_(CLOUD, name="cloud-os"), status=409, mentions="cloud-os"
    ),
    "cloud: not JSON": Bad("POST", "/clouds", raw=NOT_JSON, mentions="body"),
    # PATCH /clouds/{id}
    "cloud patch: security level 9": Bad(
        "PATCH", "/clouds/{cloud}", {"security_level": 9}, mentions="body.security_level"
    ),
    "cloud patch: empty vendor": Bad(
        "PATCH", "/clouds/{cloud}", {"vendor": ""}, mentions="body.vendor"
    ),
    "cloud patch: vendor too long": Bad(
        "PATCH", "/clouds/{cloud}", {"vendor": LONG}, mentions="body.vendor"
    ),
    "cloud patch: null vendor": Bad(
        "PATCH", "/clouds/{cloud}", {"vendor": None}, mentions="body.vendor"
    ),
    "cloud patch: null region": Bad(
        "PATCH", "/clouds/{cloud}", {"region": None}, mentions="body.region"
    ),
    "cloud patch: null security level": Bad(
        "PATCH", "/clouds/{cloud}", {"security_level": None}, mentions="body.security_level"
    ),
    "cloud patch: enabled not a boolean": Bad(
        "PATCH", "/clouds/{cloud}", {"enabled": "maybe"}, mentions="body.enabled"
    ),
    "cloud patch: simulator setting of the wrong type": Bad(
        "PATCH", "/clouds/{cloud}", {"settings": {"zones": "many"}}, mentions="settings.zones"
    ),
    "cloud patch: unknown simulator setting": Bad(
        "PATCH", "/clouds/{cloud}", {"settings": {"colour": "red"}}, mentions="settings.colour"
    ),
    "cloud patch: null settings": Bad(
        "PATCH", "/clouds/{cloud}", {"settings": None}, mentions="settings"
    ),
    "cloud patch: no such cloud": Bad(
        "PATCH", "/clouds/999999", {"vendor": "x"}, status=404, mentions="999999"
    ),
    "cloud patch: id not a number": Bad(
        "PATCH", "/clouds/first", {"vendor": "x"}, mentions="path.cloud_id"
    ),
    "cloud patch: not JSON": Bad("PATCH", "/clouds/{cloud}", raw=NOT_JSON, mentions="body"),
    # POST /clouds/{id}/sync
    "sync: disabled cloud": Bad("POST", "/clouds/{disabled}/sync", mentions="disabled"),
    "sync: no such cloud": Bad("POST", "/clouds/999999/sync", status=404, mentions="999999"),
    # POST /departments
    "department: missing code": Bad(
        "POST", "/departments", without(DEPARTMENT, "code"), mentions="body.code"
    ),
    "department: missing name": Bad(
        "POST", "/departments", without(DEPARTMENT, "name"), mentions="body.name"
    ),
    "department: code with capitals": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="Dept-X"), mentions="body.code"
    ),
    "department: code starting with a digit": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="1dept"), mentions="body.code"
    ),
    "department: code of one letter": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="d"), mentions="body.code"
    ),
    "department: code with an underscore": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="dept_x"), mentions="body.code"
    ),
    "department: code too long": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="d" * 33), mentions="body.code"
    ),
    "department: code not a string": Bad(
        "POST", "/departments", with_(DEPARTMENT, code=42), mentions="body.code"
    ),
    "department: empty name": Bad(
        "POST", "/departments", with_(DEPARTMENT, name=""), mentions="body.name"
    ),
    "department: name too long": Bad(
        "POST", "/departments", with_(DEPARTMENT, name=LONG), mentions="body.name"
    ),
    "department: contact too long": Bad(
        "POST", "/departments", with_(DEPARTMENT, contact=LONG), mentions="body.contact"
    ),
    "department: unknown quota resource": Bad(
        "POST", "/departments", with_(DEPARTMENT, quotas={"cores": 1}), mentions="body.quotas"
    ),
    "department: negative quota": Bad(
        "POST", "/departments", with_(DEPARTMENT, quotas={"vcpus": -1}), mentions="quotas.vcpus"
    ),
    "department: huge quota": Bad(
        "POST",
        "/departments",
        with_(DEPARTMENT, quotas={"vcpus": 10**12}),
        mentions="quotas.vcpus",
    ),
    "department: quota a word": Bad(
        "POST",
        "/departments",
        with_(DEPARTMENT, quotas={"vcpus": "many"}),
        mentions="quotas.vcpus",
    ),
    "department: duplicate code": Bad(
        "POST", "/departments", with_(DEPARTMENT, code="dept-a"), status=409, mentions="dept-a"
    ),
    "department: not JSON": Bad("POST", "/departments", raw=NOT_JSON, mentions="body"),
    # PATCH /departments/{id}
    "department patch: empty name": Bad(
        "PATCH", "/departments/{department}", {"name": ""}, mentions="body.name"
    ),
    "department patch: null name": Bad(
        "PATCH", "/departments/{department}", {"name": None}, mentions="body.name"
    ),
    "department patch: name not a string": Bad(
        "PATCH", "/departments/{department}", {"name": 7}, mentions="body.name"
    ),
    "department patch: contact too long": Bad(
        "PATCH", "/departments/{department}", {"contact": LONG}, mentions="body.contact"
    ),
    "department patch: no such department": Bad(
        "PATCH", "/departments/999999", {"name": "x"}, status=404, mentions="999999"
    ),
    "department patch: not JSON": Bad(
        "PATCH", "/departments/{department}", raw=NOT_JSON, mentions="body"
    ),
    # PUT /departments/{id}/quotas
    "quotas: negative": Bad(
        "PUT", "/departments/{department}/quotas", {"vcpus": -1}, mentions="body.vcpus"
    ),
    "quotas: too large": Bad(
        "PUT", "/departments/{department}/quotas", {"vcpus": 10**10}, mentions="body.vcpus"
    ),
    "quotas: fractional": Bad(
        "PUT", "/departments/{department}/quotas", {"vcpus": 1.5}, mentions="body.vcpus"
    ),
    "quotas: a word": Bad(
        "PUT", "/departments/{department}/quotas", {"vcpus": "lots"}, mentions="body.vcpus"
    ),
    "quotas: unknown resource": Bad(
        "PUT", "/departments/{department}/quotas", {"cores": 1}, mentions="body.cores"
    ),
    "quotas: a list": Bad(
        "PUT", "/departments/{department}/quotas", [{"vcpus": 1}], mentions="body"
    ),
    "quotas: no such department": Bad(
        "PUT", "/departments/999999/quotas", {"vcpus": 1}, status=404, mentions="999999"
    ),
    "quotas: not JSON": Bad(
        "PUT", "/departments/{department}/quotas", raw=NOT_JSON, mentions="body"
    ),
    # POST /users
    "user: missing password": Bad(
        "POST", "/users", without(USER, "password"), mentions="body.password"
    ),
    "user: missing role": Bad("POST", "/users", without(USER, "role"), mentions="body.role"),
    "user: short password": Bad(
        "POST", "/users", with_(USER, password="short"), mentions="body.password"
    ),
    "user: password too long": Bad(
        "POST", "/users", with_(USER, password=LONG), mentions="body.password"
    ),
    "user: username with a space": Bad(
        "POST", "/users", with_(USER, username="new user"), mentions="body.username"
    ),
    "user: username of one letter": Bad(
        "POST", "/users", with_(USER, username="n"), mentions="body.username"
    ),
    "user: username too long": Bad(
        "POST", "/users", with_(USER, username="u" * 65), mentions="body.username"
    ),
    "user: display name too long": Bad(
        "POST", "/users", with_(USER, display_name=LONG), mentions="body.display_name"
    ),
    "user: unknown role": Bad("POST", "/users", with_(USER, role="root"), mentions="body.role"),
    "user: department user without a department": Bad(
        "POST", "/users", with_(USER, role="department"), mentions="department_id"
    ),
    "user: no such department": Bad(
        "POST",
        "/users",
        with_(USER, role="department", department_id=999999),
        mentions="department 999999",
    ),
    "user: staff in a department": Bad(
        "POST", "/users", with_(USER, department_id="{department}"), mentions="department"
    ),
    "user: department id a word": Bad(
        "POST", "/users", with_(USER, department_id="finance"), mentions="body.department_id"
    ),
    "user: duplicate username": Bad(
        "POST", "/users", with_(USER, username="admin1"), status=409, mentions="admin1"
    ),
    "user: not JSON": Bad("POST", "/users", raw=NOT_JSON, mentions="body"),
    # PATCH /users/{id}
    "user patch: unknown role": Bad("PATCH", "/users/{user}", {"role": "root"}, mentions="role"),
    "user patch: null role": Bad("PATCH", "/users/{user}", {"role": None}, mentions="body.role"),
    "user patch: null is_active": Bad(
        "PATCH", "/users/{user}", {"is_active": None}, mentions="body.is_active"
    ),
    "user patch: is_active a word": Bad(
        "PATCH", "/users/{user}", {"is_active": "maybe"}, mentions="body.is_active"
    ),
    "user patch: null display name": Bad(
        "PATCH", "/users/{user}", {"display_name": None}, mentions="body.display_name"
    ),
    "user patch: short password": Bad(
        "PATCH", "/users/{user}", {"password": "short"}, mentions="body.password"
    ),
    "user patch: department role without a department": Bad(
        "PATCH", "/users/{user}", {"role": "department"}, mentions="department_id"
    ),
    "user patch: staff in a department": Bad(
        "PATCH", "/users/{user}", {"department_id": "{department}"}, mentions="department"
    ),
    "user patch: no such department": Bad(
        "PATCH",
        "/users/{user}",
        {"role": "department", "department_id": 999999},
        mentions="department 999999",
    ),
    "user patch: admin demotes themself": Bad(
        "PATCH", "/users/{admin}", {"role": "oncall"}, status=403, mentions="themselves"
    ),
    "user patch: admin deactivates themself": Bad(
        "PATCH", "/users/{admin}", {"is_active": False}, status=403, mentions="themselves"
    ),
    "user patch: no such user": Bad(
        "PATCH", "/users/999999", {"display_name": "x"}, status=404, mentions="999999"
    ),
    "user patch: not JSON": Bad("PATCH", "/users/{user}", raw=NOT_JSON, mentions="body"),
}


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


# --- List parameters ----------------------------------------------------------------------

LISTS = ["/clouds", "/zones", "/hosts", "/workloads", "/departments", "/users", "/audit"]
WITH_STATE = {"/clouds", "/zones", "/hosts", "/workloads"}
BAD_PARAMS = [
    ("limit", "0"),
    ("limit", "501"),
    ("limit", "ten"),
    ("limit", "2.5"),
    ("offset", "-1"),
    ("offset", "x"),
    ("offset", str(HUGE)),
    ("sort", "no_such_field"),
    ("sort", "-"),
    ("sort", "s" * 65),
    ("state", "bogus"),
    ("state", ","),
]
LIST_CASES = [
    pytest.param(path, name, value, id=f"{path}?{name}={value[:12]}")
    for path in LISTS
    for name, value in BAD_PARAMS
    if name != "state" or path in WITH_STATE
] + [
    pytest.param("/audit", "since", "yesterday", id="/audit?since=yesterday"),
    pytest.param("/audit", "since", "2024-01-01T00:00:00", id="/audit?since=naive"),
    pytest.param("/audit", "action", "a" * 65, id="/audit?action=long"),
    pytest.param("/hosts", "q", "q" * 129, id="/hosts?q=long"),
]


@pytest.mark.parametrize(("path", "name", "value"), LIST_CASES)
def test_bad_list_parameter_names_the_parameter(
    world: World, path: str, name: str, value: str
) -> None:
    response = world.client.get(
        API + path, params={name: value}, headers=world.estate.admin.headers
    )
    assert_rejected(response, 422, name)


def test_good_list_parameters_still_work(world: World) -> None:
    """The control for the table above: the same parameters, with sane values."""
    headers = world.estate.admin.headers
    for path in LISTS:
        response = world.client.get(API + path, params={"limit": 2, "offset": 1}, headers=headers)
        assert response.status_code == 200, response.text
        assert (response.json()["limit"], response.json()["offset"]) == (2, 1)
    hosts = world.client.get(
        f"{API}/hosts", params={"sort": "-vcpus", "state": "up,down"}, headers=headers
    )
    assert hosts.status_code == 200, hosts.text
    audit = world.client.get(
        f"{API}/audit", params={"since": "2000-01-01T00:00:00+08:00"}, headers=headers
    )
    assert audit.status_code == 200 and audit.json()["total"] > 0
