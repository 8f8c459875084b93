"""Pagination and sorting shared by every list endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session

from inventory.errors import Invalid

T = TypeVar("T")
AnySelect = sa.Select[*tuple[Any, ...]]  # a query of any row shape
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int = 50
    offset: int = 0
    sort: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
        if self.offset < 0:
            raise Invalid("offset must be 0 or more", field="offset")


def order_by(sort: str | None, allowed: dict[str, Any], default: Any) -> list[Any]:
    """`name` or `-name` among `allowed`; the id column always breaks ties for stable pages."""
    if not sort:
        return [default]
    key = sort.lstrip("-")
    if key not in allowed:
        raise Invalid(f"cannot sort by {key!r}; choose one of: {', '.join(allowed)}", field="sort")
    column = allowed[key]
    return [column.desc() if sort.startswith("-") else column.asc(), default]


def count(session: Session, query: AnySelect) -> int:
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar()
    return int(total or 0)


def ref_filter(value: str, id_column: Any, name_column: Any) -> sa.ColumnElement[bool]:
    """A filter given as an id ("3") or a name ("dc1-az1")."""
    value = value.strip()
    by_name: sa.ColumnElement[bool] = name_column == value
    if value.isdigit():
        return sa.or_(id_column == int(value), by_name)
    return by_name
