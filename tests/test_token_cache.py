"""The API's token cache: what it remembers, for how long, and what makes it forget.

A change made in this process (revocation, deactivation, a role change) must take effect on
the next request; one made elsewhere (another worker or replica: here, a direct database
write) within the configured seconds; with the cache off, at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from console.app import create_app
from inventory import token_cache
from inventory.access import Viewer
from inventory.models import ApiToken, Role
from inventory.settings import Settings
from inventory.token_cache import TokenCache
from inventory.types import utcnow
from tests import factories

ME = "/api/v1/me"
NOW = datetime(2026, 11, 23, 8, 0)
ALICE = Viewer(username="alice", role=Role.oncall, user_id=7)


class Clock:
    """Stands in for time.monotonic in inventory.token_cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("inventory.token_cache.time.monotonic", fake)
    return fake


def test_remembers_for_the_ttl_then_asks_again(clock: Clock) -> None:
    cache = TokenCache(5)
    cache.put("h", ALICE, NOW + timedelta(hours=1), NOW)
    assert cache.get("h") == ALICE
    assert cache.get("other") is None
    clock.now += 4.9
    assert cache.get("h") == ALICE
    clock.now += 0.2
    assert cache.get("h") is None


def test_never_outlives_the_token(clock: Clock) -> None:
    cache = TokenCache(5)
    cache.put("soon", ALICE, NOW + timedelta(seconds=2), NOW)
    cache.put("gone", ALICE, NOW - timedelta(seconds=1), NOW)
    assert cache.get("soon") == ALICE and cache.get("gone") is None
    clock.now += 2.1
    assert cache.get("soon") is None


def test_zero_seconds_turns_it_off(clock: Clock) -> None:
    cache = TokenCache(0)
    cache.put("h", ALICE, NOW + timedelta(hours=1), NOW)
    assert cache.get("h") is None


def test_forget_all_empties_every_cache(clock: Clock) -> None:
    first, second = TokenCache(5), TokenCache(5)
    first.put("a", ALICE, NOW + timedelta(hours=1), NOW)
    second.put("b", ALICE, NOW + timedelta(hours=1), NOW)
    token_cache.forget_all()
    assert first.get("a") is None and second.get("b") is None
    first.put("a", ALICE, NOW + timedelta(hours=1), NOW)  # and it fills again afterwards
    assert first.get("a") == ALICE


def test_bounded(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_cache, "MAX_ENTRIES", 3)
    cache = TokenCache(5)
    for name in "abcd":
        cache.put(name, ALICE, NOW + timedelta(hours=1), NOW)
    assert len(cache._entries) <= 3 and cache.get("d") == ALICE


def test_forgets_after_commit_only(session: Session) -> None:
    cache = TokenCache(5)
    cache.put("h", ALICE, NOW + timedelta(hours=1), NOW)
    token_cache.forget_after_commit(session)
    assert cache.get("h") == ALICE  # not yet: the change is not visible to others
    session.commit()
    assert cache.get("h") is None


@pytest.fixture
def app_with(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The app with a 5 s cache (the default), and a session to change the database."""
    app = create_app(settings.model_copy(update={"token_cache_seconds": 5}), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _revoke_elsewhere(engine: Engine, user_id: int) -> None:
    """As another process would: straight to the database, no forgetting here."""
    with Session(engine) as other:
        other.execute(
            sa.update(ApiToken).where(col(ApiToken.user_id) == user_id).values(revoked_at=utcnow())
        )
        other.commit()


def test_change_elsewhere_takes_effect_within_the_ttl(
    app_with: TestClient, engine: Engine, session: Session, clock: Clock
) -> None:
    alice = factories.user(session, "alice", Role.oncall)
    assert app_with.get(ME, headers=alice.headers).status_code == 200
    _revoke_elsewhere(engine, alice.user.id or 0)
    clock.now += 5.1
    answer = app_with.get(ME, headers=alice.headers)
    assert answer.status_code == 401 and "revoked" in answer.text


def test_without_the_cache_a_change_elsewhere_is_immediate(
    settings: Settings, engine: Engine, session: Session
) -> None:
    app = create_app(settings.model_copy(update={"token_cache_seconds": 0}), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        alice = factories.user(session, "alice", Role.oncall)
        assert client.get(ME, headers=alice.headers).status_code == 200
        _revoke_elsewhere(engine, alice.user.id or 0)
        assert client.get(ME, headers=alice.headers).status_code == 401


def test_role_change_here_is_seen_on_the_next_request(
    app_with: TestClient, session: Session
) -> None:
    admin = factories.user(session, "root", Role.admin)
    alice = factories.user(session, "alice", Role.manager)
    assert app_with.get("/api/v1/users", headers=alice.headers).status_code == 403
    changed = app_with.patch(
        f"/api/v1/users/{alice.user.id}", headers=admin.headers, json={"role": "admin"}
    )
    assert changed.status_code == 200, changed.text
    assert app_with.get("/api/v1/users", headers=alice.headers).status_code == 200
