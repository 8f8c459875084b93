"""Links for list pages: sort headers and a pager that keep every other query parameter.

Lists are driven only by the query string (filters, `sort`, `limit`, `offset`), so a page can
be bookmarked, shared and reloaded; the links here change one parameter and keep the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from markupsafe import Markup

from inventory.paging import Page, PageParams

PAGE_SIZES = (25, 50, 100, 200)


def link(request: Request, **changes: object) -> str:
    """This page's path with some parameters changed (None or "" drops one)."""
    params = {k: v for k, v in request.query_params.items()}
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode({k: v for k, v in params.items() if v != ""})
    return request.url.path + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Sorter:
    """Header links: a click sorts by that column, a second click reverses it."""

    request: Request
    current: str | None

    def href(self, key: str) -> str:
        target = f"-{key}" if self.current == key else key
        return link(self.request, sort=target, offset=None)

    def aria(self, key: str) -> str:
        if self.current == key:
            return "ascending"
        if self.current == f"-{key}":
            return "descending"
        return "none"


@dataclass(frozen=True)
class Pager:
    first: int  # 1-based index of the first row shown; 0 when the page is empty
    last: int
    total: int
    previous: str | None
    next: str | None


def pager(request: Request, page: Page[Any], params: PageParams) -> Pager:
    shown = len(page.items)
    before = max(params.offset - params.limit, 0)
    after = params.offset + params.limit
    return Pager(
        first=params.offset + 1 if shown else 0,
        last=params.offset + shown,
        total=page.total,
        previous=link(request, offset=before or None) if params.offset > 0 else None,
        next=link(request, offset=after) if after < page.total else None,
    )


def invalid_attrs(messages: dict[str, str]) -> dict[str, Markup]:
    """field -> the attributes that mark its control invalid and point at its message's id;
    built here because the template tests read markup outside tags as text."""
    return {
        name: Markup(' aria-invalid="true" aria-describedby="{}"').format(message_id)
        for name, message_id in messages.items()
    }
