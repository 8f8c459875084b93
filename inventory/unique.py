"""One check for "this name is taken", shared by every table with a unique `name`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.errors import Conflict


def require_free_name(
    session: Session, model: Any, name: str, own_id: int | None, what: str
) -> None:
    """409 naming the field when another row of `model` (a table with `id` and `name`) has
    `name`; `own_id` is the row being renamed, which may keep its own name."""
    found = session.execute(sa.select(col(model.id)).where(col(model.name) == name)).scalar()
    if found is not None and found != own_id:
        raise _taken(what, name)


def _taken(what: str, name: str) -> Conflict:
    """Keyed per kind, so that a console page names the kind in its reader's language."""
    match what:
        case "maintenance window":
            return Conflict.of("window.taken", field="name", name=name)
        case "route":
            return Conflict.of("route.taken", field="name", name=name)
        case "escalation policy":
            return Conflict.of("policy.taken", field="name", name=name)
        case "rotation":
            return Conflict.of("rotation.taken", field="name", name=name)
    return Conflict(f"a {what} named {name!r} exists", field="name")
