"""Browser sessions and CSRF for the pages.

A session is a login token (the same kind the API issues, so revocation, expiry and the
lockout rules are shared) kept in an HttpOnly, SameSite=Strict cookie, Secure when served over
https. Pages never see the token in script.

CSRF: a random seed in its own HttpOnly cookie; every form carries HMAC(seed) under a key
derived from the secret key. A forged cross-site post has neither the seed (SameSite=Strict
keeps the cookie off it, and script elsewhere cannot read it) nor the key. The seed is renewed
at login so a seed planted before login is useless after it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import Response

from console.deps import SessionDep, get_box
from inventory.access import Viewer
from inventory.accounts import resolve_token, viewer_of
from inventory.models import User

SESSION_COOKIE = "yh_session"
CSRF_COOKIE = "yh_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to /login?next=..."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def login_redirect_target(exc: LoginRequired) -> str:
    return "/login?next=" + quote(exc.next_path, safe="/")


def safe_next(value: str | None) -> str:
    """Only a path on this site: `//evil.example` and `https://...` fall back to /."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def csrf_seed(request: Request) -> str:
    """This request's seed: the cookie's, or a new one that `remember_csrf` will set."""
    seed = getattr(request.state, "csrf_seed", None) or request.cookies.get(CSRF_COOKIE)
    if not seed:
        seed = secrets.token_urlsafe(24)
        request.state.csrf_new = True
    request.state.csrf_seed = seed
    return seed


def csrf_token(request: Request) -> str:
    return get_box(request).mac("csrf", csrf_seed(request))


def new_csrf_seed(request: Request) -> None:
    request.state.csrf_seed = secrets.token_urlsafe(24)
    request.state.csrf_new = True


def remember_csrf(request: Request, response: Response) -> None:
    if getattr(request.state, "csrf_new", False):
        set_cookie(request, response, CSRF_COOKIE, request.state.csrf_seed, 7 * 24 * 3600)


def check_csrf(request: Request, submitted: str | None) -> None:
    seed = request.cookies.get(CSRF_COOKIE)
    expected = get_box(request).mac("csrf", seed) if seed else ""
    if not seed or not submitted or not hmac.compare_digest(expected, submitted):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "the form's security token is missing or stale: reload the page and try again",
        )


def page_user(request: Request, session: SessionDep) -> User:
    token = request.cookies.get(SESSION_COOKIE)
    user = resolve_token(session, token) if token else None
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    session.commit()  # last_used_at
    return user


PageUser = Annotated[User, Depends(page_user)]


def page_viewer(user: PageUser) -> Viewer:
    return viewer_of(user)


PageViewer = Annotated[Viewer, Depends(page_viewer)]
