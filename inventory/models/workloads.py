"""Workloads (services) and their replicas, as discovered on a cloud."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlmodel import Field, SQLModel

from inventory.models.enums import ItemState
from inventory.types import JSONType, UTCDateTime, str_enum, utcnow


class WorkloadBase(SQLModel):
    name: str = Field(max_length=255, index=True)
    kind: str = Field(default="service", max_length=32, description="vm, deployment, service...")
    replicas_desired: int = Field(default=1, ge=0)
    # Per-replica demand.
    vcpus: int = Field(default=0, ge=0)
    memory_mb: int = Field(default=0, ge=0)
    disk_gb: int = Field(default=0, ge=0)
    gpus: int = Field(default=0, ge=0)
    sla_target: float | None = Field(default=None, gt=0, lt=1, description="e.g. 0.9995")
    security_level: int | None = Field(default=None, ge=1, le=5)


class Workload(WorkloadBase, table=True):
    __table_args__ = (sa.UniqueConstraint("cloud_id", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    # Null for a Yunheng-managed service that spans clouds (placement issue); set when discovered.
    cloud_id: int | None = Field(default=None, foreign_key="cloud.id", index=True)
    external_id: str | None = Field(default=None, max_length=255)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    state: ItemState = Field(default=ItemState.active, sa_type=str_enum(ItemState), index=True)
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    gone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Replica(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("cloud_id", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    workload_id: int = Field(foreign_key="workload.id", index=True)
    cloud_id: int = Field(foreign_key="cloud.id", index=True)
    host_id: int | None = Field(default=None, foreign_key="host.id", index=True)
    external_id: str = Field(max_length=255)
    name: str = Field(max_length=255)
    state: ItemState = Field(default=ItemState.active, sa_type=str_enum(ItemState), index=True)
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    gone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReplicaPublic(BaseModel):
    # plain pydantic: nested in lists, a SQLModel is built through its Python __init__
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    external_id: str
    state: ItemState
    host_id: int | None
    host: str | None
    zone: str | None


class WorkloadPublic(WorkloadBase):
    id: int
    cloud_id: int | None
    cloud: str | None
    external_id: str | None
    department_id: int | None
    department: str | None
    state: ItemState
    extra: dict[str, Any]
    replicas: list[ReplicaPublic]
