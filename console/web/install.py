"""Mounts the web console on the app: static assets, pages, security headers, page errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlmodel import Session

from console.web import (
    pages_admin,
    pages_alerts,
    pages_approvals,
    pages_auth,
    pages_dashboard,
    pages_inventory,
    pages_reports,
    pages_requests,
)
from console.web.render import home_for, render, translator
from console.web.security import SecurityHeaders
from console.web.session import (
    SESSION_COOKIE,
    LoginRequired,
    login_redirect_target,
)
from console.web.throttle import LoginThrottle
from inventory.accounts import resolve_token, viewer_of
from inventory.errors import DomainError
from inventory.settings import Settings

STATIC = Path(__file__).parent.parent / "static"
PAGE_ROUTERS = (pages_auth, pages_dashboard, pages_approvals, pages_inventory, pages_requests,
                pages_admin, pages_reports, pages_alerts)  # fmt: skip


class AssetFiles(StaticFiles):
    """Vendored files carry their version in their name, so browsers may keep them for a
    year without asking again (ECharts is 1.1 MB); the console's own CSS and JS are
    revalidated on each load (a 304 when unchanged), so an upgrade shows at once."""

    def file_response(
        self, full_path: Any, stat_result: Any, scope: Any, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = "/vendor/" in str(full_path).replace("\\", "/")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "no-cache"
        )
        return response


def _page_error(request: Request, status_code: int, error: str | DomainError) -> Response:
    message = error if isinstance(error, str) else translator(request).error(error)
    return render(
        request, "error.html", None, status_code=status_code, status=status_code, message=message
    )


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(login_redirect_target(exc), 303)


def install(app: FastAPI, settings: Settings) -> None:
    app.state.login_throttle = LoginThrottle(
        settings.login_client_max_failures, settings.login_client_window_seconds
    )
    app.state.page_errors = _page_error
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", AssetFiles(directory=STATIC), name="static")
    for module in PAGE_ROUTERS:
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        with Session(app.state.engine) as session:
            user = resolve_token(session, token) if token else None
            target = home_for(viewer_of(user).role) if user else "/login"
        return RedirectResponse(target, 303)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        # FastAPI's own Swagger page starts the UI from an inline script, which the CSP
        # forbids; the same start-up lives in static/swagger-init.js instead.
        return HTMLResponse(SWAGGER_PAGE)


SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Yunheng 云衡 API</title>
<link rel="stylesheet" href="/static-offline-docs/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml"></head>
<body><div id="swagger-ui"></div>
<script src="/static-offline-docs/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body></html>
"""
