"""Probes and the console's own /metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from inventory.crypto import SecretBox
from tests import factories


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_metrics_report_traffic_by_route_template_and_inventory(
    client: TestClient, session: Session, box: SecretBox
) -> None:
    estate = factories.estate(session, box)
    host_id = client.get("/api/v1/hosts?limit=1", headers=estate.admin.headers).json()["items"][0][
        "id"
    ]
    client.get(f"/api/v1/hosts/{host_id}", headers=estate.admin.headers)
    client.get("/api/v1/hosts")  # 401
    text = client.get("/metrics").text
    assert 'route="/api/v1/hosts/{host_id}",status="200"' in text
    assert 'route="/api/v1/hosts",status="401"' in text
    assert f"/api/v1/hosts/{host_id}" not in text, "raw ids must not become labels"
    assert 'yunheng_cloud_up{cloud="cloud-os",kind="simulator"} 1.0' in text
    assert 'yunheng_hosts{cloud="cloud-k8s",state="up"} 8.0' in text
    assert "yunheng_inventory_scrape_ok 1.0" in text


def test_docs_are_served_without_any_external_asset(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "swagger-ui-bundle.js" in page
    assert "http://" not in page and "https://" not in page
    asset = client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    index = client.get("/").text
    assert '<html lang="zh-CN">' in index and "https://" not in index
