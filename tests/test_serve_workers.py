"""`yunheng serve --workers N` (YUNHENG_WORKERS): N processes share the port, each serving
the API from the same database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra
import pytest
from cryptography.fernet import Fernet
from sqlmodel import Session

from inventory import accounts
from inventory.access import Viewer
from inventory.db import make_engine
from inventory.models import Role, UserCreate
from tests.browser import start_serve
from tests.factories import fresh_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request, request.param, tmp_path) as url:
        yield url


def _get(url: str, token: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urlopen(Request(url, headers=headers), timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


def test_two_workers_serve_the_api(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    with Session(engine) as session:
        user = accounts.create_user(
            session,
            Viewer.system("test"),
            UserCreate(username="reader", role=Role.manager, password="x" * 12),
        )
        token = accounts.issue_token(
            session, user, name="t", kind="api", ttl=timedelta(hours=1)
        ).token
        session.commit()
    engine.dispose()
    env = {
        "YUNHENG_DATABASE_URL": database_url,
        "YUNHENG_DATA_DIR": str(tmp_path / "data"),
        "YUNHENG_SECRET_KEY": Fernet.generate_key().decode(),
        "YUNHENG_WORKERS": "2",
    }
    proc, url = start_serve(env, tmp_path / "serve.log")
    try:
        workers = [
            child
            for child in psutil.Process(proc.pid).children()
            if "spawn_main" in " ".join(child.cmdline())
        ]
        assert len(workers) == 2
        # Keep-alive is off here, so each request is a new connection that either worker
        # may accept; all must give the same answers.
        for _ in range(10):
            assert _get(f"{url}/api/v1/hosts", token) == (
                200,
                {"items": [], "total": 0, "limit": 50, "offset": 0},
            )
        status, body = _get(f"{url}/api/v1/hosts", None)
        assert (status, body) == (401, {"error": "missing bearer token"})
        status, body = _get(f"{url}/api/v1/users", token)
        assert status == 403 and "manager" in str(body["error"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
