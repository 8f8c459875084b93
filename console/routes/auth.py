"""Login, logout, who-am-I and personal API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from console.deps import CurrentUser, Id, SessionDep, SettingsDep, ViewerDep
from console.one_hop import OneHopRoute, on_loop
from console.web.throttle import client_of
from inventory import accounts, audit
from inventory.models import ApiTokenCreate, ApiTokenIssued, ApiTokenPublic, UserPublic
from inventory.models.auth import USERNAME_PATTERN

router = APIRouter(route_class=OneHopRoute, tags=["auth"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_at: datetime
    user: UserPublic


@router.post(
    "/auth/login", response_model=LoginResponse, summary="Exchange a password for a bearer token"
)
def login(
    body: LoginRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> LoginResponse:
    # The same per-client throttle as the login page: one client may not guess its way
    # through many accounts, whichever door it uses.
    throttle, client = request.app.state.login_throttle, client_of(request)
    wait = throttle.retry_after(client)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins from this address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        user = accounts.authenticate(
            session,
            body.username,
            body.password,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )
    except accounts.LoginFailed as exc:
        session.commit()  # keep the failure count
        throttle.failed(client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    throttle.succeeded(client)
    issued = accounts.issue_token(
        session, user, name="login", kind="login", ttl=timedelta(hours=settings.token_ttl_hours)
    )
    audit.record(
        session, actor=user.username, action="auth.login", target_type="user", target_id=user.id
    )
    session.commit()
    return LoginResponse(
        access_token=issued.token,
        expires_at=issued.expires_at,
        user=accounts.user_public(session, user),
    )


@router.post("/auth/logout", status_code=204, summary="Revoke the token used for this call")
def logout(
    session: SessionDep,
    user: CurrentUser,
    credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))
    ],
) -> None:
    if credentials is not None:
        accounts.revoke_by_value(session, credentials.credentials)
        audit.record(
            session,
            actor=user.username,
            action="auth.logout",
            target_type="user",
            target_id=user.id,
        )
        session.commit()


@router.get("/me", response_model=UserPublic, summary="The caller")
@on_loop
def me(session: SessionDep, user: CurrentUser) -> UserPublic:
    return accounts.user_public(session, user)


@router.get("/tokens", response_model=list[ApiTokenPublic], summary="The caller's tokens")
def list_tokens(session: SessionDep, viewer: ViewerDep) -> list[ApiTokenPublic]:
    return accounts.list_tokens(session, viewer)


@router.post(
    "/tokens",
    response_model=ApiTokenIssued,
    status_code=201,
    summary="Create an API token (shown once)",
)
def create_token(body: ApiTokenCreate, session: SessionDep, user: CurrentUser) -> ApiTokenIssued:
    issued = accounts.issue_token(
        session, user, name=body.name, kind="api", ttl=timedelta(days=body.expires_in_days)
    )
    session.commit()
    return issued


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
def revoke_token(token_id: Id, session: SessionDep, viewer: ViewerDep) -> None:
    accounts.revoke_token(session, viewer, token_id)
    session.commit()
