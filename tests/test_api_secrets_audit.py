"""Secrets never leave the API, and every write is audited."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from adapters import registry
from adapters.simulator import SimulatorAdapter
from inventory.models import (
    Cloud,
)
from tests import factories
from tests.factories import World
from tests.roles_matrix import API, assert_error


class PasswordCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str


class PasswordSimulator(SimulatorAdapter):
    """The simulator, but with credentials like a real cloud's."""

    kind: ClassVar[str] = "password-sim"
    credentials_model: ClassVar[type[BaseModel]] = PasswordCredentials


SECRETS = ("s3cret", "n3w-s3cret", "t0p-s3cret")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_cloud_credentials_are_never_returned(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.REGISTRY, PasswordSimulator.kind, PasswordSimulator)
    e, client = world.estate, world.client
    admin = e.admin.headers
    created = client.post(
        f"{API}/clouds",
        headers=admin,
        json={
            "name": "secret-cloud",
            "kind": PasswordSimulator.kind,
            "vendor": "Secretive",
            "region": "rs",
            "security_level": 3,
            "settings": {"hosts_per_zone": 1, "workloads": 1},
            "credentials": {"password": "s3cret"},
        },
    )
    assert created.status_code == 201, created.text
    assert_no_secret(created.text)
    assert "credentials" not in created.json() and created.json()["has_credentials"] is True
    cloud_id = created.json()["id"]

    changed = client.patch(
        f"{API}/clouds/{cloud_id}", headers=admin, json={"credentials": {"password": "n3w-s3cret"}}
    )
    assert changed.status_code == 200, changed.text
    assert_no_secret(changed.text)
    # Rejected credentials name the field but do not echo the value.
    rejected = client.patch(
        f"{API}/clouds/{cloud_id}",
        headers=admin,
        json={"credentials": {"password": "x", "token": "t0p-s3cret"}},
    )
    assert "credentials.token" in assert_error(rejected, 422)["error"]
    assert_no_secret(rejected.text)

    checked = client.get(f"{API}/clouds/{cloud_id}/check", headers=admin)
    assert checked.status_code == 200, checked.text
    assert_no_secret(checked.text)
    synced = client.post(f"{API}/clouds/{cloud_id}/sync", headers=admin)
    assert synced.status_code == 200 and synced.json()["ok"], synced.text
    assert_no_secret(synced.text)
    for actor in (e.admin, e.manager, e.oncall, e.dept_a):
        assert_no_secret(client.get(f"{API}/clouds?limit=500", headers=actor.headers).text)
        assert_no_secret(client.get(f"{API}/clouds/{cloud_id}", headers=actor.headers).text)
    audit = client.get(f"{API}/audit?limit=500&target_type=cloud", headers=admin)
    assert_no_secret(audit.text)
    actions = {
        (item["action"], json.dumps(item["after"]))
        for item in audit.json()["items"]
        if item["target_id"] == str(cloud_id)
    }
    assert ("cloud.update", json.dumps({"credentials": "replaced"})) in actions
    assert any(action == "cloud.create" for action, _ in actions)

    # At rest the credentials are encrypted, so not even the database holds the password.
    with Session(world.engine) as own:
        stored = own.get(Cloud, cloud_id)
        assert stored is not None and stored.credentials_encrypted
        assert_no_secret(stored.credentials_encrypted)
        assert world.box.decrypt_json(stored.credentials_encrypted) == {"password": "n3w-s3cret"}


def test_password_hashes_are_never_returned(world: World) -> None:
    e, client = world.estate, world.client
    listed = client.get(f"{API}/users?limit=500", headers=e.admin.headers)
    audit = client.get(f"{API}/audit?limit=500", headers=e.admin.headers)
    for text in (listed.text, audit.text):
        assert "$argon2" not in text
        assert "password_hash" not in text
        assert "token_hash" not in text


# --- Every mutation is audited ------------------------------------------------------------


def latest_event(world: World) -> dict[str, Any]:
    response = world.client.get(f"{API}/audit?limit=1", headers=world.estate.admin.headers)
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["items"][0]
    return event


def assert_audited(world: World, action: str, actor: str, target_id: object) -> dict[str, Any]:
    event = latest_event(world)
    assert (event["action"], event["actor"], event["target_id"]) == (
        action,
        actor,
        str(target_id),
    ), event
    return event


def test_every_write_is_audited(world: World) -> None:
    e, client = world.estate, world.client
    admin = e.admin.headers

    login = client.post(
        f"{API}/auth/login", json={"username": "manager1", "password": factories.PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert_audited(world, "auth.login", "manager1", e.manager.user.id)
    manager = {"Authorization": f"Bearer {login.json()['access_token']}"}

    token = client.post(f"{API}/tokens", headers=manager, json={"name": "audited"}).json()
    event = assert_audited(world, "token.create", "manager1", token["id"])
    assert event["after"]["prefix"] == token["prefix"]
    assert token["token"] not in json.dumps(event)
    assert client.delete(f"{API}/tokens/{token['id']}", headers=manager).status_code == 204
    assert_audited(world, "token.revoke", "manager1", token["id"])
    assert client.post(f"{API}/auth/logout", headers=manager).status_code == 204
    assert_audited(world, "auth.logout", "manager1", e.manager.user.id)

    cloud = client.post(
        f"{API}/clouds",
        headers=admin,
        json={
            "name": "audited-cloud",
            "kind": "simulator",
            "vendor": "Audit",
            "region": "ra",
            "security_level": 4,
            "settings": {"hosts_per_zone": 1, "workloads": 1, "seed": 9, "region": "ra"},
        },
    ).json()
    event = assert_audited(world, "cloud.create", "admin1", cloud["id"])
    assert event["after"]["name"] == "audited-cloud"
    client.patch(f"{API}/clouds/{cloud['id']}", headers=admin, json={"security_level": 5})
    event = assert_audited(world, "cloud.update", "admin1", cloud["id"])
    assert (event["before"], event["after"]) == ({"security_level": 4}, {"security_level": 5})
    assert client.post(f"{API}/clouds/{cloud['id']}/sync", headers=admin).json()["ok"]
    assert_audited(world, "inventory.sync", "admin1", cloud["id"])

    department = client.post(
        f"{API}/departments", headers=admin, json={"code": "audited", "name": "Audited"}
    ).json()
    assert_audited(world, "department.create", "admin1", department["id"])
    client.patch(f"{API}/departments/{department['id']}", headers=admin, json={"name": "Renamed"})
    event = assert_audited(world, "department.update", "admin1", department["id"])
    assert event["after"] == {"name": "Renamed"}
    client.put(f"{API}/departments/{department['id']}/quotas", headers=admin, json={"vcpus": 8})
    event = assert_audited(world, "department.quotas", "admin1", department["id"])
    assert event["after"] == {"vcpus": 8}

    made = client.post(
        f"{API}/users",
        headers=admin,
        json={"username": "audited-user", "role": "manager", "password": "audited-password"},
    ).json()
    event = assert_audited(world, "user.create", "admin1", made["id"])
    assert "audited-password" not in json.dumps(event)
    client.patch(f"{API}/users/{made['id']}", headers=admin, json={"password": "another-password"})
    event = assert_audited(world, "user.update", "admin1", made["id"])
    assert event["after"] == {"password": "changed"}
    assert "another-password" not in json.dumps(event)
