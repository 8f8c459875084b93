from fastapi.testclient import TestClient
from sqlmodel import Session

from inventory.crypto import SecretBox
from tests import factories


def test_admin_lists_hosts(client: TestClient, session: Session, box: SecretBox) -> None:
    estate = factories.estate(session, box)
    response = client.get("/api/v1/hosts?limit=5", headers=estate.admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 16
    assert len(body["items"]) == 5
