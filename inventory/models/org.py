"""Departments (委办局) and their quotas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from inventory.models.enums import Resource
from inventory.models.inputs import STRICT_INPUT, not_null
from inventory.types import UTCDateTime, str_enum, utcnow

CODE_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"


class DepartmentBase(SQLModel):
    code: str = Field(
        max_length=32, schema_extra={"pattern": CODE_PATTERN}, unique=True, index=True
    )
    name: str = Field(min_length=1, max_length=128)
    contact: str | None = Field(default=None, max_length=128)


class Department(DepartmentBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Quota(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("department_id", "resource"),)
    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    resource: Resource = Field(sa_type=str_enum(Resource))
    limit: int = Field(ge=0)


class DepartmentCreate(DepartmentBase):
    model_config = STRICT_INPUT

    quotas: dict[Resource, Annotated[int, Field(ge=0, le=10**9)]] = Field(default_factory=dict)


class DepartmentUpdate(SQLModel):
    model_config = STRICT_INPUT

    name: str | None = Field(default=None, min_length=1, max_length=128)
    contact: str | None = Field(default=None, max_length=128)

    _not_null = not_null("name")


class QuotaPublic(SQLModel):
    resource: Resource
    limit: int
    used: int


class DepartmentPublic(DepartmentBase):
    id: int
    quotas: list[QuotaPublic]
    workload_count: int
