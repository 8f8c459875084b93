"""FastAPI dependencies, declared once: the DB session, the caller, role checks, paging."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from inventory.access import Viewer
from inventory.accounts import resolve_token, viewer_of
from inventory.crypto import SecretBox
from inventory.models import Role, User
from inventory.paging import MAX_LIMIT, PageParams
from inventory.settings import Settings


def get_session(request: Request) -> Iterator[Session]:
    # Routes commit explicitly after a successful write; anything else is rolled back here.
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.box
    return box


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
BoxDep = Annotated[SecretBox, Depends(get_box)]

_bearer = HTTPBearer(
    auto_error=False, description="A login or API token: `Authorization: Bearer yh_...`"
)


def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=challenge)
    user = resolve_token(session, credentials.credentials)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid, expired or revoked token", headers=challenge
        )
    session.commit()  # last_used_at
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def current_viewer(user: CurrentUser) -> Viewer:
    return viewer_of(user)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def require(*roles: Role) -> Callable[[Viewer], Viewer]:
    """A dependency that answers 403 before the route runs; services check again."""

    def check(viewer: ViewerDep) -> Viewer:
        if viewer.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {viewer.role.value!r} may not do this (needs one of: {allowed})",
            )
        return viewer

    return check


AdminDep = Annotated[Viewer, Depends(require(Role.admin))]
StaffDep = Annotated[Viewer, Depends(require(Role.admin, Role.oncall, Role.manager))]


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Items to skip")] = 0,
    sort: Annotated[
        str | None, Query(max_length=64, description="Field, or -field for descending")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, offset=offset, sort=sort)


PageDep = Annotated[PageParams, Depends(page_params)]


# Ids are 32-bit on both databases; a larger one is a 422 here rather than a 404 on
# SQLite and a driver error on PostgreSQL.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
