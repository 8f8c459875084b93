"""List parameters: a bad limit, offset, sort, state or filter is a 422 naming it."""

from __future__ import annotations

import pytest

from tests.bad_inputs import API
from tests.factories import World
from tests.test_api_input import HUGE, assert_rejected

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
