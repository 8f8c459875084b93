"""Templates: one Jinja2 environment, autoescaped, with what every page needs in its context."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from console.web.i18n import LANG_COOKIE, Translator, pick_locale
from console.web.session import CSRF_FIELD, csrf_token, remember_csrf
from inventory.access import Viewer
from inventory.models import Role
from sla.availability import SHANGHAI

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class NavItem:
    key: str  # the message key of its label
    path: str
    roles: tuple[Role, ...]
    section: str = ""  # the path prefix its pages share; default: the path itself

    def current(self, path: str) -> bool:
        prefix = self.section or self.path
        return path == prefix or path.startswith(prefix + "/")


NAV = (
    NavItem("nav.dashboard", "/dashboard", (Role.admin, Role.oncall, Role.manager)),
    NavItem(
        "nav.inventory", "/inventory/clouds", (Role.admin, Role.oncall, Role.manager), "/inventory"
    ),
    NavItem("nav.requests", "/requests", (Role.admin, Role.department)),
    NavItem("nav.approvals", "/approvals", (Role.admin,)),
    NavItem("nav.alerts", "/alerts", (Role.admin, Role.oncall)),
    NavItem("nav.reports", "/reports", (Role.admin, Role.manager)),
    NavItem("nav.admin", "/admin", (Role.admin,)),
)


def home_for(role: Role) -> str:
    return "/requests" if role == Role.department else "/dashboard"


def _json_attr(value: Any) -> Markup:
    """Data for scripts travels in data-* attributes (CSP forbids inline scripts); Jinja's
    autoescape then makes the JSON safe inside the quoted attribute."""
    return Markup.escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _shanghai(value: datetime | None) -> str:
    """Times are stored in UTC and shown as the users live them: Asia/Shanghai."""
    return "—" if value is None else value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["json_attr"] = _json_attr
_env.filters["pct"] = _pct
_env.filters["shanghai"] = _shanghai


def translator(request: Request) -> Translator:
    return Translator(pick_locale(request.cookies.get(LANG_COOKIE)))


def render(
    request: Request,
    template: str,
    viewer: Viewer | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    t = translator(request)
    nav = [n for n in NAV if viewer is not None and viewer.role in n.roles]
    body = _env.get_template(template).render(
        t=t,
        locale=t.locale,
        viewer=viewer,
        nav=nav,
        path=request.url.path,
        full_path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(request),
        **context,
    )
    response = HTMLResponse(body, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # pages carry one user's data
    remember_csrf(request, response)
    return response
