"""List filters a user relies on: by cloud, zone, region, state and department, with paging."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from inventory.crypto import SecretBox
from tests import factories


def _get(client: TestClient, path: str, actor: factories.Actor) -> Any:
    response = client.get(path, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_host_filters(client: TestClient, session: Session, box: SecretBox) -> None:
    estate = factories.estate(session, box)
    admin = estate.admin
    assert _get(client, "/api/v1/hosts?limit=500", admin)["total"] == 16
    by_cloud = _get(client, "/api/v1/hosts?cloud=cloud-k8s&limit=500", admin)
    assert by_cloud["total"] == 8 and {h["cloud"] for h in by_cloud["items"]} == {"cloud-k8s"}
    cloud_id = estate.clouds[0].id
    assert _get(client, f"/api/v1/hosts?cloud={cloud_id}", admin)["total"] == 8
    by_region = _get(client, "/api/v1/hosts?region=r2&limit=500", admin)
    assert {h["region"] for h in by_region["items"]} == {"r2"} and by_region["total"] == 8
    zone = by_region["items"][0]["zone"]
    by_zone = _get(client, f"/api/v1/hosts?zone={zone}&limit=500", admin)
    assert by_zone["total"] == 4 and {h["zone"] for h in by_zone["items"]} == {zone}
    arm = _get(client, "/api/v1/hosts?arch=aarch64", admin)
    assert arm["total"] >= 1 and all(h["arch"] == "aarch64" for h in arm["items"])
    assert _get(client, "/api/v1/hosts?state=down", admin)["total"] == 0
    assert _get(client, "/api/v1/hosts?q=os-az1", admin)["total"] == 4


def test_department_filter_narrows_hosts_zones_clouds_workloads(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)
    admin = estate.admin
    workloads = _get(client, "/api/v1/workloads?department=dept-a&limit=500", admin)
    assert workloads["total"] >= 1
    assert {w["department"] for w in workloads["items"]} == {"dept-a"}
    hosts_of_a = {r["host"] for w in workloads["items"] for r in w["replicas"]}
    hosts = _get(client, "/api/v1/hosts?department=dept-a&limit=500", admin)
    assert {h["name"] for h in hosts["items"]} == hosts_of_a
    zones = _get(client, "/api/v1/zones?department=dept-a&limit=500", admin)
    assert {z["name"] for z in zones["items"]} == {
        r["zone"] for w in workloads["items"] for r in w["replicas"]
    }
    clouds = _get(client, "/api/v1/clouds?department=dept-a", admin)
    assert {c["name"] for c in clouds["items"]} == {w["cloud"] for w in workloads["items"]}
    missing = client.get("/api/v1/hosts?department=nope", headers=admin.headers)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_paging_is_stable_and_complete(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)
    seen: list[int] = []
    for offset in range(0, 16, 5):
        page = _get(client, f"/api/v1/hosts?limit=5&offset={offset}&sort=-name", estate.oncall)
        assert page["total"] == 16 and page["limit"] == 5 and page["offset"] == offset
        seen += [h["id"] for h in page["items"]]
    assert len(seen) == 16 and len(set(seen)) == 16
    names = [
        h["name"] for h in _get(client, "/api/v1/hosts?limit=16&sort=-name", estate.oncall)["items"]
    ]
    assert names == sorted(names, reverse=True)


def test_zone_and_cloud_lists(client: TestClient, session: Session, box: SecretBox) -> None:
    estate = factories.estate(session, box)
    zones = _get(client, "/api/v1/zones", estate.manager)
    assert zones["total"] == 4
    assert all(z["host_count"] == 4 and 0.99 < z["availability"] <= 1 for z in zones["items"])
    assert _get(client, "/api/v1/zones?region=r1", estate.manager)["total"] == 2
    clouds = _get(client, "/api/v1/clouds?state=ok", estate.manager)
    assert clouds["total"] == 2
    assert (
        _get(client, "/api/v1/clouds?region=r2", estate.manager)["items"][0]["name"] == "cloud-k8s"
    )
