"""Role checks for pages: the same rule as the API's `require`, answered as a page."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, status

from console.web.session import PageViewer
from inventory.access import Viewer
from inventory.models import Role


def page_roles(*roles: Role) -> Callable[[Viewer], Viewer]:
    def check(viewer: PageViewer) -> Viewer:
        if viewer.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "forbidden")
        return viewer

    return check
