"""FastAPI dependencies, declared once: the DB session, the caller, role checks, paging.

FastAPI runs every sync dependency in the thread pool, one hop each (under load the hops
cost about a quarter of the CPU). So everything here that does no blocking I/O is
`async def` and runs on the event loop; the token check is the one hop before the route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from inventory.access import Viewer
from inventory.accounts import hash_token, resolve_viewer
from inventory.crypto import SecretBox
from inventory.models import Role, User
from inventory.paging import MAX_LIMIT, PageParams
from inventory.settings import Settings
from inventory.token_cache import TokenCache


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One Session per request, opened on the event loop (a Session connects lazily, so
    creating it does no I/O) instead of costing a thread-pool hop on the way in.

    Routes commit explicitly after a successful write; anything else is rolled back at close.
    Closing may talk to the database (ROLLBACK, return to the pool), so it runs in the thread
    pool unless the session holds no transaction (after a commit, or if it never queried).
    """
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.box
    return box


# The dependency forms are async (no I/O, so no thread hop); the plain functions above
# stay sync for the web console, which calls them directly.
async def _settings_dep(request: Request) -> Settings:
    return get_settings(request)


async def _box_dep(request: Request) -> SecretBox:
    return get_box(request)


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(_settings_dep)]
BoxDep = Annotated[SecretBox, Depends(_box_dep)]

_bearer = HTTPBearer(
    auto_error=False, description="A login or API token: `Authorization: Bearer yh_...`"
)


def _authenticate(session: Session, token: str, cache: TokenCache) -> Viewer | None:
    viewer, wrote = resolve_viewer(session, token, remember=cache)
    if wrote:
        session.commit()  # last_used_at, at most once a minute per token
    elif viewer is None:
        session.close()  # the request ends in a 401: end its transaction in this hop
    return viewer


async def current_viewer(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Viewer:
    """The caller, or 401. A token seen in the last few seconds is answered from memory
    (inventory.token_cache); otherwise the check is the request's one database hop before
    the route. Everything else here is in memory."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers=challenge)
    cache: TokenCache = request.app.state.token_cache
    viewer = cache.get(hash_token(credentials.credentials))
    if viewer is None:
        viewer = await run_in_threadpool(_authenticate, session, credentials.credentials, cache)
    if viewer is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid, expired or revoked token", headers=challenge
        )
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def current_user(session: SessionDep, viewer: ViewerDep) -> User:
    """The caller's account as a model, for the few routes that change or show it."""
    user = session.get(User, viewer.user_id)
    if user is None:  # deleted between the token check and here
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid, expired or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role) -> Callable[[Viewer], Awaitable[Viewer]]:
    """A dependency that answers 403 before the route runs; services check again.
    Async: it does no I/O, so it runs on the event loop rather than costing a thread hop."""

    async def check(viewer: ViewerDep) -> Viewer:
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


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Items to skip")] = 0,
    sort: Annotated[
        str | None, Query(max_length=64, description="Field, or -field for descending")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, offset=offset, sort=sort)  # async: no I/O, no thread hop


PageDep = Annotated[PageParams, Depends(page_params)]


# Ids are 32-bit on both databases; a larger one is a 422 here rather than a 404 on
# SQLite and a driver error on PostgreSQL.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
