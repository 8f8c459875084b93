"""Login, lockout, logout, API tokens and their revocation; the audit log cannot be rewritten.

The tests share one app and database per backend (see factories.world); each makes its own
users, so what one test does to an account (lock it, revoke its tokens) touches no other.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, col

from inventory import accounts, audit
from inventory.models import ApiToken, AuditEvent, Role, User
from inventory.settings import Settings
from inventory.types import utcnow
from tests import factories
from tests.factories import Actor, World

API = "/api/v1"
NEW_PASSWORD = "a-brand-new-password"
_names = itertools.count(1)


@pytest.fixture(scope="module", params=factories.BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with factories.world(request, request.param, tmp_path_factory.mktemp("auth")) as built:
        yield built


@pytest.fixture
def client(world: World) -> TestClient:
    return world.client


@pytest.fixture
def settings(world: World) -> Settings:
    configured: Settings = world.app.state.settings
    return configured


@pytest.fixture
def db(world: World) -> Iterator[Session]:
    with Session(world.engine, expire_on_commit=False) as session:
        yield session


def new_user(db: Session, role: Role, department_id: int | None = None) -> Actor:
    """A user of this test only, with a login token."""
    return factories.user(db, f"user{next(_names)}", role, department_id)


def login(client: TestClient, username: str, password: str) -> Response:
    return client.post(f"{API}/auth/login", json={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me(client: TestClient, headers: dict[str, str]) -> int:
    return client.get(f"{API}/me", headers=headers).status_code


def assert_unauthorized(response: Response) -> str:
    assert response.status_code == 401, response.text
    assert response.headers.get("www-authenticate") == "Bearer"
    message: str = response.json()["error"]
    assert message
    return message


def test_login_returns_a_bearer_token_that_works(
    client: TestClient, db: Session, settings: Settings
) -> None:
    alice = new_user(db, Role.oncall)
    name = alice.user.username
    before = utcnow()
    response = login(client, name, factories.PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith(accounts.TOKEN_PREFIX)
    assert body["user"]["username"] == name and body["user"]["role"] == "oncall"
    assert "password" not in response.text and "$argon2" not in response.text
    expires = datetime.fromisoformat(body["expires_at"])
    ttl = timedelta(hours=settings.token_ttl_hours)
    assert before + ttl - timedelta(minutes=1) < expires < utcnow() + ttl + timedelta(minutes=1)

    whoami = client.get(f"{API}/me", headers=bearer(body["access_token"]))
    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["username"] == name
    assert whoami.json()["last_login_at"] is not None
    # Only the hash is kept: the database cannot hand out a working token.
    stored = db.execute(sa.select(col(ApiToken.token_hash))).scalars().all()
    assert body["access_token"] not in stored
    assert accounts.hash_token(body["access_token"]) in stored


def test_wrong_password_and_unknown_user_answer_alike(client: TestClient, db: Session) -> None:
    alice = new_user(db, Role.oncall)
    wrong = login(client, alice.user.username, "not-the-password")
    unknown = login(client, "nobody-at-all", factories.PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "access_token" not in wrong.text
    assert alice.user.username not in wrong.text


def test_lockout_after_repeated_failures(
    client: TestClient, db: Session, settings: Settings
) -> None:
    alice = new_user(db, Role.oncall)
    name = alice.user.username
    assert settings.login_max_failures == 3
    for _ in range(settings.login_max_failures):
        failed = login(client, name, "guess-again")
        assert failed.status_code == 401
    locked = login(client, name, factories.PASSWORD)
    assert locked.status_code == 401, locked.text
    # The same words as a wrong password: a caller cannot probe which accounts exist.
    assert locked.json() == failed.json()
    assert "access_token" not in locked.text
    # The audit log, which only admins read, says what happened.
    reasons = db.execute(
        sa.select(col(AuditEvent.detail))
        .where(col(AuditEvent.action) == "auth.login_failed", col(AuditEvent.actor) == name)
        .order_by(col(AuditEvent.id))
    ).scalars()
    assert list(reasons) == ["wrong password"] * settings.login_max_failures + ["account locked"]
    # The lock is audited; a token issued before it still works (it proves nothing new).
    locks = db.execute(
        sa.select(col(AuditEvent.target_id)).where(col(AuditEvent.action) == "user.locked")
    ).scalars()
    assert str(alice.user.id) in list(locks)
    assert me(client, alice.headers) == 200

    # When the lock runs out, the right password works again.
    db.execute(
        sa.update(User)
        .where(col(User.id) == alice.user.id)
        .values(locked_until=utcnow() - timedelta(seconds=1))
    )
    db.commit()
    assert login(client, name, factories.PASSWORD).status_code == 200


def test_a_good_login_resets_the_failure_count(
    client: TestClient, db: Session, settings: Settings
) -> None:
    name = new_user(db, Role.oncall).user.username
    for _ in range(settings.login_max_failures - 1):
        assert login(client, name, "guess-again").status_code == 401
    assert login(client, name, factories.PASSWORD).status_code == 200
    # Without the reset, this one failure would reach the limit and lock the account.
    assert login(client, name, "guess-again").status_code == 401
    assert login(client, name, factories.PASSWORD).status_code == 200


def test_logout_revokes_the_token_used(client: TestClient, db: Session) -> None:
    alice = new_user(db, Role.manager)
    other = accounts.issue_token(
        db, alice.user, name="second", kind="login", ttl=timedelta(hours=1)
    )
    db.commit()
    assert client.post(f"{API}/auth/logout", headers=alice.headers).status_code == 204
    assert_unauthorized(client.get(f"{API}/me", headers=alice.headers))
    assert_unauthorized(client.post(f"{API}/auth/logout", headers=alice.headers))
    assert me(client, bearer(other.token)) == 200  # only the token used is revoked


def test_api_token_is_shown_once_and_can_be_revoked(
    world: World, client: TestClient, db: Session
) -> None:
    alice = new_user(db, Role.department, world.estate.department_a.id)
    created = client.post(
        f"{API}/tokens", headers=alice.headers, json={"name": "ci", "expires_in_days": 7}
    )
    assert created.status_code == 201, created.text
    issued = created.json()
    token = issued["token"]
    assert token.startswith(accounts.TOKEN_PREFIX) and issued["prefix"] == token[:10]
    expires = datetime.fromisoformat(issued["expires_at"])
    assert abs(expires - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    assert me(client, bearer(token)) == 200

    listed = client.get(f"{API}/tokens", headers=bearer(token))
    assert listed.status_code == 200
    mine = {t["id"]: t for t in listed.json()}
    assert mine[issued["id"]]["prefix"] == issued["prefix"]
    assert mine[issued["id"]]["kind"] == "api"
    assert token not in listed.text
    assert accounts.hash_token(token) not in listed.text
    assert all("token" not in t and "token_hash" not in t for t in listed.json())

    # Someone else's token is "not found", not "forbidden", and not in their list.
    bob = new_user(db, Role.oncall)
    assert client.delete(f"{API}/tokens/{issued['id']}", headers=bob.headers).status_code == 404
    assert me(client, bearer(token)) == 200
    bobs = client.get(f"{API}/tokens", headers=bob.headers).json()
    assert issued["id"] not in {t["id"] for t in bobs}

    revoked = client.delete(f"{API}/tokens/{issued['id']}", headers=alice.headers)
    assert revoked.status_code == 204, revoked.text
    assert "revoked" in assert_unauthorized(client.get(f"{API}/me", headers=bearer(token)))
    after = {t["id"]: t for t in client.get(f"{API}/tokens", headers=alice.headers).json()}
    assert after[issued["id"]]["revoked_at"] is not None


def test_expired_token_is_refused(client: TestClient, db: Session) -> None:
    alice = new_user(db, Role.oncall)
    bob = new_user(db, Role.oncall)
    db.execute(
        sa.update(ApiToken)
        .where(col(ApiToken.user_id) == alice.user.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.commit()
    assert "expired" in assert_unauthorized(client.get(f"{API}/me", headers=alice.headers))
    assert me(client, bob.headers) == 200  # the control: a live token of the same age


def test_deactivated_users_tokens_stop_working(
    world: World, client: TestClient, db: Session
) -> None:
    admin = world.estate.admin.headers
    alice = new_user(db, Role.oncall)
    issued = accounts.issue_token(db, alice.user, name="ci", kind="api", ttl=timedelta(days=1))
    db.commit()
    assert me(client, bearer(issued.token)) == 200

    off = client.patch(f"{API}/users/{alice.user.id}", headers=admin, json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert_unauthorized(client.get(f"{API}/me", headers=alice.headers))
    assert_unauthorized(client.get(f"{API}/me", headers=bearer(issued.token)))
    refused = login(client, alice.user.username, factories.PASSWORD)
    assert refused.status_code == 401 and "access_token" not in refused.text

    # Turning the account back on does not bring the old tokens back.
    on = client.patch(f"{API}/users/{alice.user.id}", headers=admin, json={"is_active": True})
    assert on.status_code == 200
    assert_unauthorized(client.get(f"{API}/me", headers=bearer(issued.token)))
    assert me(client, admin) == 200


def test_password_change_revokes_tokens(world: World, client: TestClient, db: Session) -> None:
    admin = world.estate.admin.headers
    alice = new_user(db, Role.manager)
    issued = accounts.issue_token(db, alice.user, name="ci", kind="api", ttl=timedelta(days=1))
    db.commit()
    changed = client.patch(
        f"{API}/users/{alice.user.id}", headers=admin, json={"password": NEW_PASSWORD}
    )
    assert changed.status_code == 200, changed.text
    assert NEW_PASSWORD not in changed.text
    assert_unauthorized(client.get(f"{API}/me", headers=alice.headers))
    assert_unauthorized(client.get(f"{API}/me", headers=bearer(issued.token)))
    assert me(client, admin) == 200  # the admin's own session is untouched
    assert login(client, alice.user.username, factories.PASSWORD).status_code == 401
    assert login(client, alice.user.username, NEW_PASSWORD).status_code == 200


MALFORMED = [
    "",
    "Bearer",
    "Bearer ",
    "Basic YWRtaW46cGFzcw==",
    "Token yh_abc",
    "Bearer yh_" + "x" * 43,
]


def test_malformed_authorization_is_401(client: TestClient, db: Session) -> None:
    alice = new_user(db, Role.admin)
    # The last two carry a real token, but not as a bearer token.
    for authorization in [*MALFORMED, f"Token {alice.token}", f"Basic {alice.token}"]:
        headers = {"Authorization": authorization} if authorization else {}
        assert_unauthorized(client.get(f"{API}/me", headers=headers))
    assert me(client, alice.headers) == 200


def test_audit_log_is_append_only_in_the_database(db: Session) -> None:
    event = audit.record(db, actor="tester", action="test.write", target_type="test")
    db.commit()
    event_id = event.id
    total = db.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one()
    attempts = [
        sa.update(AuditEvent).where(col(AuditEvent.id) == event_id).values(actor="forger"),
        sa.update(AuditEvent).values(detail="rewritten"),
        sa.delete(AuditEvent).where(col(AuditEvent.id) == event_id),
        sa.delete(AuditEvent),
    ]
    for statement in attempts:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.execute(statement)
            db.commit()
        db.rollback()
    # Through the ORM too.
    row = db.get(AuditEvent, event_id)
    assert row is not None
    row.actor = "forger"
    db.add(row)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.commit()
    db.rollback()
    db.delete(db.get(AuditEvent, event_id))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.commit()
    db.rollback()

    db.expire_all()
    kept = db.get(AuditEvent, event_id)
    assert kept is not None and (kept.actor, kept.detail) == ("tester", None)
    # Appending still works.
    audit.record(db, actor="tester", action="test.again", target_type="test")
    db.commit()
    assert db.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one() == total + 1
