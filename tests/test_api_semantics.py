"""What PATCH means, how names compare, and what department users can learn."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from inventory.crypto import SecretBox
from tests import factories

API = "/api/v1"


def test_patch_settings_is_a_merge_patch(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)
    cloud = estate.clouds[0]
    before = client.get(f"{API}/clouds/{cloud.id}", headers=estate.admin.headers).json()["settings"]
    patched = client.patch(
        f"{API}/clouds/{cloud.id}",
        json={"settings": {"faults": {"hosts_down": ["sim-r1-os-az1-0001"]}, "max_replicas": None}},
        headers=estate.admin.headers,
    )
    assert patched.status_code == 200, patched.text
    after = patched.json()["settings"]
    assert after["faults"] == {"hosts_down": ["sim-r1-os-az1-0001"]}
    assert "max_replicas" not in after  # null removes a key
    assert {k: v for k, v in after.items() if k not in ("faults", "max_replicas")} == {
        k: v for k, v in before.items() if k not in ("faults", "max_replicas")
    }
    synced = client.post(f"{API}/clouds/{cloud.id}/sync", headers=estate.admin.headers).json()
    assert synced["ok"] and synced["changes"]["hosts"]["updated"] == 1


def test_unknown_fields_are_rejected_not_ignored(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)
    dept = estate.department_a
    response = client.patch(
        f"{API}/departments/{dept.id}", json={"code": "renamed"}, headers=estate.admin.headers
    )
    assert response.status_code == 422
    assert "body.code" in response.json()["error"]
    assert (
        client.get(f"{API}/departments/{dept.id}", headers=estate.admin.headers).json()["code"]
        == "dept-a"
    )


def test_usernames_are_case_insensitive(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)
    body = {"username": "Zhang.San", "role": "oncall", "password": "long-enough-password"}
    created = client.post(f"{API}/users", json=body, headers=estate.admin.headers)
    assert created.status_code == 201 and created.json()["username"] == "zhang.san"
    again = client.post(
        f"{API}/users", json={**body, "username": "ZHANG.SAN"}, headers=estate.admin.headers
    )
    assert again.status_code == 409
    login = client.post(
        f"{API}/auth/login", json={"username": "ZHANG.san", "password": body["password"]}
    )
    assert login.status_code == 200


def test_department_users_cannot_probe_other_departments(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)
    for ref in ("dept-b", "no-such-dept", str(estate.department_b.id), "999999"):
        for path in ("workloads", "clouds", "zones"):
            response = client.get(f"{API}/{path}?department={ref}", headers=estate.dept_a.headers)
            assert response.status_code == 403, (path, ref, response.text)
    own = client.get(f"{API}/workloads?department=dept-a", headers=estate.dept_a.headers)
    assert own.status_code == 200 and own.json()["total"] >= 1
    staff = client.get(f"{API}/workloads?department=no-such-dept", headers=estate.admin.headers)
    assert staff.status_code == 404


def test_cloud_prices_are_stored_validated_and_priced_into_plans(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)
    body = {
        "name": "priced",
        "kind": "simulator",
        "vendor": "V",
        "region": "rp",
        "security_level": 3,
        "prices": {"vcpus": 0.5},
        "settings": {"region": "rp", "hosts_per_zone": 2, "workloads": 0},
    }
    created = client.post(f"{API}/clouds", json=body, headers=estate.admin.headers)
    assert created.status_code == 201 and created.json()["prices"] == {"vcpus": 0.5}
    bad = client.post(
        f"{API}/clouds",
        json={**body, "name": "bad", "prices": {"cpu": 1}},
        headers=estate.admin.headers,
    )
    assert bad.status_code == 422 and "cpu" in bad.json()["error"]
    client.post(f"{API}/clouds/{created.json()['id']}/sync", headers=estate.admin.headers)
    client.put(
        f"{API}/departments/{estate.department_a.id}/quotas",
        json={"vcpus": 10_000, "instances": 1_000},
        headers=estate.admin.headers,
    )
    ask = {
        "service_name": "priced-svc",
        "replicas": 1,
        "vcpus": 2,
        "memory_mb": 1024,
        "region": "rp",
    }
    request = client.post(f"{API}/requests", json=ask, headers=estate.dept_a.headers).json()
    assert request["plans"][0]["cost_per_hour"] == 1.0  # 2 vCPU x 0.5 on the only cloud in rp
