"""Local users, password login with lockout, and bearer tokens.

Passwords are hashed with argon2id. Tokens are 256-bit random strings; only their
SHA-256 is stored, so a stolen database yields no usable token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import NoReturn

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col

from inventory import audit
from inventory.access import Viewer
from inventory.errors import Conflict, Forbidden, Invalid, NotFound
from inventory.models import (
    ApiToken,
    ApiTokenIssued,
    ApiTokenPublic,
    Department,
    Role,
    User,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from inventory.paging import Page, PageParams, count, order_by
from inventory.token_cache import TokenCache, forget_after_commit
from inventory.types import utcnow

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing the same.
_DUMMY_HASH = _hasher.hash("yunheng-no-such-user")
TOKEN_PREFIX = "yh_"  # noqa: S105  (a visible prefix, not a secret)


class LoginFailed(Exception):
    """Wrong name or password, or locked; the message never says which user exists."""


LOGIN_FAILED = "login failed: wrong username or password, or the account is locked for a while"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def viewer_of(user: User) -> Viewer:
    return Viewer(
        username=user.username,
        role=Role(user.role),
        department_id=user.department_id,
        user_id=user.id,
    )


def _check_department(session: Session, role: Role, department_id: int | None) -> None:
    if role == Role.department:
        if department_id is None:
            raise Invalid.of("user.needs_department", field="department_id")
        if session.get(Department, department_id) is None:
            raise Invalid.of("department.missing", field="department_id", department=department_id)
    elif department_id is not None:
        raise Invalid.of("user.no_department", field="department_id")


def user_public(session: Session, user: User) -> UserPublic:
    department = session.get(Department, user.department_id) if user.department_id else None
    return UserPublic.model_validate(
        {**user.model_dump(), "department": department.code if department else None}
    )


def create_user(session: Session, viewer: Viewer, data: UserCreate) -> User:
    viewer.require(Role.admin)
    _check_department(session, data.role, data.department_id)
    if session.execute(sa.select(col(User.id)).where(col(User.username) == data.username)).first():
        raise Conflict.of("user.taken", field="username", username=data.username)
    user = User(
        username=data.username,
        display_name=data.display_name,
        role=data.role,
        department_id=data.department_id,
        password_hash=hash_password(data.password),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="user.create",
        target_type="user",
        target_id=user.id,
        after=audit.state_of(user, exclude={"failed_logins", "locked_until", "last_login_at"}),
    )
    return user


def update_user(session: Session, viewer: Viewer, user_id: int, data: UserUpdate) -> User:
    viewer.require(Role.admin)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound.of("user.not_found", user=user_id)
    changes = data.model_dump(exclude_unset=True)
    role = Role(changes.get("role", user.role))
    department_id = changes.get("department_id", user.department_id)
    if role != Role.department and "role" in changes and "department_id" not in changes:
        department_id = None  # moving out of the department role drops the department
    _check_department(session, role, department_id)
    if user.id == viewer.user_id and (changes.get("is_active") is False or role != Role.admin):
        raise Forbidden.of("user.self_demote")
    before = audit.state_of(user)
    password = changes.pop("password", None)
    user.sqlmodel_update({**changes, "role": role, "department_id": department_id})
    if password is not None:
        user.password_hash = hash_password(password)
        user.failed_logins = 0
        user.locked_until = None
    session.add(user)
    old, new = audit.diff(before, audit.state_of(user))
    if password is not None:
        new["password"] = "changed"  # noqa: S105  (a marker, not a secret)
    audit.record(
        session,
        actor=viewer.username,
        action="user.update",
        target_type="user",
        target_id=user_id,
        before=old,
        after=new,
    )
    if changes.get("is_active") is False or password is not None:
        revoke_all_tokens(session, user_id)
    forget_after_commit(session)  # cached callers carry the old role and department
    return user


def list_users(session: Session, viewer: Viewer, page: PageParams) -> Page[UserPublic]:
    viewer.require(Role.admin)
    query = sa.select(User)
    rows = session.execute(
        query.order_by(
            *order_by(
                page.sort, {"username": col(User.username), "role": col(User.role)}, col(User.id)
            )
        )
        .offset(page.offset)
        .limit(page.limit)
    ).scalars()
    return Page(
        items=[user_public(session, u) for u in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def authenticate(
    session: Session, username: str, password: str, *, max_failures: int, lockout: timedelta
) -> User:
    """Check a password; after `max_failures` wrong tries the account locks for `lockout`.

    Every failure answers the same words, so a caller cannot tell an unknown user, a wrong
    password and a locked account apart; the audit log (admins only) records which it was.
    """
    now = utcnow()
    username = username.strip().lower()
    user: User | None = session.execute(
        sa.select(User).where(col(User.username) == username)
    ).scalar()
    if user is None:
        _verify(_DUMMY_HASH, password)
        _failed(session, username, None, "unknown user")
    elif user.locked_until is not None and user.locked_until > now:
        _failed(session, username, user.id, "account locked")
    elif not _verify(user.password_hash, password) or not user.is_active:
        user.failed_logins += 1
        reason = "wrong password" if user.is_active else "account deactivated"
        if user.failed_logins >= max_failures:
            user.locked_until = now + lockout
            user.failed_logins = 0
            audit.record(
                session,
                actor="system",
                action="user.locked",
                target_type="user",
                target_id=user.id,
                after={"locked_until": user.locked_until.isoformat()},
            )
        session.add(user)
        _failed(session, username, user.id, reason)
    assert user is not None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.add(user)
    return user


def _failed(session: Session, username: str, user_id: int | None, reason: str) -> NoReturn:
    # 等保 (MLPS) audits expect failed logins on record, not only successful ones.
    audit.record(
        session,
        actor=username[:64] or "(empty)",
        action="auth.login_failed",
        target_type="user",
        target_id=user_id,
        detail=reason,
    )
    raise LoginFailed(LOGIN_FAILED)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(
    session: Session, user: User, *, name: str, kind: str, ttl: timedelta
) -> ApiTokenIssued:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id or 0,
        name=name,
        kind=kind,
        token_hash=hash_token(token),
        prefix=token[:10],
        expires_at=utcnow() + ttl,
    )
    session.add(row)
    session.flush()
    if kind == "api":
        audit.record(
            session,
            actor=user.username,
            action="token.create",
            target_type="token",
            target_id=row.id,
            after={"name": name, "prefix": row.prefix, "expires_at": row.expires_at.isoformat()},
        )
    return ApiTokenIssued.model_validate({**row.model_dump(), "token": token})


def resolve_token(session: Session, token: str, *, now: datetime | None = None) -> User | None:
    """The active user a live token belongs to, or None."""
    now = now or utcnow()
    row = session.execute(
        sa.select(ApiToken, User)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(col(ApiToken.token_hash) == hash_token(token))
    ).first()
    if row is None:
        return None
    api_token: ApiToken = row[0]
    user: User = row[1]
    if api_token.revoked_at is not None or api_token.expires_at <= now or not user.is_active:
        return None
    # Touch last_used_at at most once a minute: a busy token must not write on every call.
    if api_token.last_used_at is None or now - api_token.last_used_at > timedelta(minutes=1):
        api_token.last_used_at = now
        session.add(api_token)
    return user


def resolve_viewer(
    session: Session,
    token: str,
    *,
    now: datetime | None = None,
    remember: TokenCache | None = None,
) -> tuple[Viewer | None, bool]:
    """The caller a live token belongs to, or None, and whether it wrote (the caller commits).

    The API's hot path: one indexed core SELECT of the few columns a Viewer needs, no ORM
    objects (about a tenth of a request's CPU went to loading the two rows as models). The
    same rules as resolve_token; last_used_at is touched at most once a minute by an UPDATE.
    A live token's caller is put in `remember`, for the next requests to find without a query.
    """
    now = now or utcnow()
    token_hash = hash_token(token)
    row = session.execute(
        sa.select(
            col(ApiToken.id),
            col(ApiToken.expires_at),
            col(ApiToken.revoked_at),
            col(ApiToken.last_used_at),
            col(User.id),
            col(User.username),
            col(User.role),
            col(User.department_id),
            col(User.is_active),
        )
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(col(ApiToken.token_hash) == token_hash)
    ).first()
    if row is None:
        return None, False
    token_id, expires_at, revoked_at, last_used_at, user_id, username, role, dept, active = row
    if revoked_at is not None or expires_at <= now or not active:
        return None, False
    viewer = Viewer(username=username, role=Role(role), department_id=dept, user_id=user_id)
    if remember is not None:
        remember.put(token_hash, viewer, expires_at, now)
    if last_used_at is not None and now - last_used_at <= timedelta(minutes=1):
        return viewer, False
    session.execute(
        sa.update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now)
    )
    return viewer, True


def list_tokens(session: Session, viewer: Viewer) -> list[ApiTokenPublic]:
    rows = session.execute(
        sa.select(ApiToken)
        .where(col(ApiToken.user_id) == viewer.user_id)
        .order_by(col(ApiToken.id))
    ).scalars()
    return [ApiTokenPublic.model_validate(r.model_dump()) for r in rows]


def revoke_token(session: Session, viewer: Viewer, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != viewer.user_id and viewer.role != Role.admin):
        raise NotFound.of("token.not_found", token=token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        forget_after_commit(session)
        audit.record(
            session,
            actor=viewer.username,
            action="token.revoke",
            target_type="token",
            target_id=token_id,
        )


def revoke_by_value(session: Session, token: str) -> None:
    row = session.execute(
        sa.select(ApiToken).where(col(ApiToken.token_hash) == hash_token(token))
    ).scalar()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        forget_after_commit(session)


def revoke_all_tokens(session: Session, user_id: int) -> None:
    session.execute(
        sa.update(ApiToken)
        .where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    forget_after_commit(session)
