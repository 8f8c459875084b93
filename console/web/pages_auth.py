"""Login, logout and the language switch."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from console.deps import SessionDep, SettingsDep
from console.web.i18n import LANG_COOKIE, LOCALES
from console.web.render import home_for, render
from console.web.session import (
    SESSION_COOKIE,
    check_csrf,
    new_csrf_seed,
    remember_csrf,
    safe_next,
    set_cookie,
)
from console.web.throttle import LoginThrottle, client_of
from inventory import accounts, audit
from inventory.accounts import resolve_token, viewer_of

router = APIRouter(include_in_schema=False)


def throttle_of(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


@router.get("/login")
def login_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    user = resolve_token(session, token) if token else None
    if user is not None:
        return RedirectResponse(safe_next(next) if next else home_for(user.role), 303)
    return render(request, "login.html", next=safe_next(next), error=None, username="")


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    check_csrf(request, csrf_token)
    client, throttle = client_of(request), throttle_of(request)
    wait = throttle.retry_after(client)
    if wait:
        response = render(
            request,
            "login.html",
            next=safe_next(next),
            error=("login.throttled", {"seconds": wait}),
            username=username,
            status_code=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        user = accounts.authenticate(
            session,
            username,
            password,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )
    except accounts.LoginFailed:
        session.commit()  # keep the failure count
        throttle.failed(client)
        # One message for every failure: which part was wrong is for the audit log only.
        return render(
            request,
            "login.html",
            next=safe_next(next),
            error=("login.failed", {}),
            username=username,
            status_code=401,
        )
    throttle.succeeded(client)
    ttl = timedelta(hours=settings.token_ttl_hours)
    issued = accounts.issue_token(session, user, name="web", kind="login", ttl=ttl)
    audit.record(
        session, actor=user.username, action="auth.login", target_type="user", target_id=user.id
    )
    session.commit()
    target = safe_next(next)
    redirect = RedirectResponse(home_for(user.role) if target == "/" else target, 303)
    set_cookie(request, redirect, SESSION_COOKIE, issued.token, int(ttl.total_seconds()))
    new_csrf_seed(request)  # a seed planted before login is worthless after it
    remember_csrf(request, redirect)
    return redirect


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    token = request.cookies.get(SESSION_COOKIE)
    user = resolve_token(session, token) if token else None
    if token and user is not None:
        accounts.revoke_by_value(session, token)
        audit.record(
            session,
            actor=viewer_of(user).username,
            action="auth.logout",
            target_type="user",
            target_id=user.id,
        )
        session.commit()
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{locale}")
def switch_language(request: Request, locale: str, next: str | None = None) -> Response:
    """A preference, not a change of data: a plain link may set it (no CSRF needed)."""
    response = RedirectResponse(safe_next(next), 303)
    if locale in LOCALES:
        set_cookie(request, response, LANG_COOKIE, locale, 365 * 24 * 3600)
    return response
