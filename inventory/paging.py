"""Pagination and sorting shared by every list endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, SQLModel

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
            raise Invalid.of("page.limit", field="limit", most=MAX_LIMIT)
        if self.offset < 0:
            raise Invalid.of("page.offset", field="offset")


def order_by(sort: str | None, allowed: dict[str, Any], default: Any) -> list[Any]:
    """`name` or `-name` among `allowed`; the id column always breaks ties for stable pages."""
    if not sort:
        return [default]
    key = sort.lstrip("-")
    if key not in allowed:
        raise Invalid.of("page.sort", field="sort", column=key, choices=", ".join(allowed))
    column = allowed[key]
    return [column.desc() if sort.startswith("-") else column.asc(), default]


def table_columns(model: type[SQLModel]) -> list[sa.ColumnElement[Any]]:
    """A table model's columns, to SELECT core rows where a list's hot path need not load
    ORM objects (identity map, state tracking): the row's `_mapping` has the model's field
    names and the same converted values (the column types do the converting)."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    return list(table.columns)


def core_execute(session: Session, query: sa.Executable) -> sa.CursorResult[*tuple[Any, ...]]:
    """Run a SELECT of columns as plain Core on the session's connection and transaction.

    `session.execute` sends even a column SELECT through the ORM's compile and loading
    layers; on the list endpoints' hot path that was a large share of the request's CPU.
    Pending changes are flushed first, as the Session's autoflush would."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(query)


def row_dicts(result: sa.Result[Any]) -> list[dict[str, Any]]:
    """Every row of `result` as a dict of column name to value. `Row._asdict()` and
    `{**row._mapping}` go through the row's mapping view key by key, about four times the
    cost of zipping the result's keys, which on a list page's hundreds of rows showed."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]  # all: fetchall


def count(session: Session, query: AnySelect) -> int:
    """The rows `query` would return, without its ORDER BY. The subquery selects a constant
    rather than the list's columns: building and compiling a subquery of twenty column
    proxies on every page was a measurable share of a list request's CPU. A DISTINCT query
    keeps its columns, as they decide which rows count."""
    if query._distinct:
        inner = query.subquery("counted")
    else:
        inner = (
            query.with_only_columns(sa.literal(1), maintain_column_froms=True)
            .order_by(None)
            .subquery("counted")  # named: an anonymous one costs an os.urandom() call
        )
    total = core_execute(session, sa.select(sa.func.count()).select_from(inner)).scalar()
    return int(total or 0)


def ref_filter(value: str, id_column: Any, name_column: Any) -> sa.ColumnElement[bool]:
    """A filter given as an id ("3") or a name ("dc1-az1")."""
    value = value.strip()
    by_name: sa.ColumnElement[bool] = name_column == value
    if value.isdigit():
        return sa.or_(id_column == int(value), by_name)
    return by_name
