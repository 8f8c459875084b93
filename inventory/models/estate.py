"""Clouds, their zones (failure domains) and hosts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from inventory.models.enums import CloudStatus, HostState, ItemState
from inventory.models.inputs import STRICT_INPUT, not_null
from inventory.types import JSONType, UTCDateTime, str_enum, utcnow

PRICED = frozenset({"vcpus", "memory_mb", "disk_gb", "gpus"})
NAME_PATTERN = r"^[\w\u4e00-\u9fff][\w\u4e00-\u9fff .()（）·-]{0,62}$"


def _check_prices(value: dict[str, float] | None) -> dict[str, float] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - PRICED)
    if unknown:
        raise ValueError(f"unknown resource {', '.join(unknown)}; use {', '.join(sorted(PRICED))}")
    if any(v < 0 for v in value.values()):
        raise ValueError("prices must be 0 or more")
    return value


class CloudBase(SQLModel):
    name: str = Field(
        max_length=64, schema_extra={"pattern": NAME_PATTERN}, unique=True, index=True
    )
    kind: str = Field(max_length=32, description="Adapter kind, a key of adapters.registry")
    vendor: str = Field(max_length=64, min_length=1)
    region: str = Field(max_length=64, min_length=1, index=True)
    security_level: int = Field(
        ge=1, le=5, description="MLPS (等保) level the cloud is certified for"
    )
    prices: dict[str, float] = Field(
        default_factory=dict,
        sa_type=JSONType,
        description="Price per unit per hour of vcpus, memory_mb, disk_gb, gpus (placement cost)",
    )

    _prices = field_validator("prices")(_check_prices)


class Cloud(CloudBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Non-secret endpoint settings (URLs, project names, simulator seed...). Secrets never go here.
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    # Fernet token of the JSON credentials; see inventory.crypto.
    credentials_encrypted: str | None = Field(default=None, sa_type=sa.Text)
    status: CloudStatus = Field(default=CloudStatus.new, sa_type=str_enum(CloudStatus))
    last_sync_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CloudCreate(CloudBase):
    model_config = STRICT_INPUT

    settings: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, Any] | None = Field(
        default=None, description="Stored encrypted; never returned by the API."
    )

    @field_validator("name", "vendor", "region")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class CloudUpdate(SQLModel):
    model_config = STRICT_INPUT

    vendor: str | None = Field(default=None, max_length=64, min_length=1)
    region: str | None = Field(default=None, max_length=64, min_length=1)
    security_level: int | None = Field(default=None, ge=1, le=5)
    prices: dict[str, float] | None = Field(default=None, description="Replaces all prices")
    settings: dict[str, Any] | None = Field(
        default=None, description="A JSON merge patch (RFC 7396): only the keys given change"
    )
    credentials: dict[str, Any] | None = Field(
        default=None, description="Replaces all credentials; stored encrypted, never returned"
    )
    enabled: bool | None = Field(default=None, description="false stops syncing (status disabled)")

    _not_null = not_null("vendor", "region", "security_level", "settings", "prices")
    _prices = field_validator("prices")(_check_prices)


class CloudPublic(CloudBase):
    id: int
    settings: dict[str, Any]
    has_credentials: bool
    status: CloudStatus
    last_sync_at: datetime | None
    last_error: str | None
    created_at: datetime


class ZoneBase(SQLModel):
    name: str = Field(max_length=128)
    region: str = Field(max_length=64, index=True)
    availability: float = Field(
        ge=0.0, le=1.0, description="Estimated probability the zone is up (e.g. 0.999)"
    )


class Zone(ZoneBase, table=True):
    __table_args__ = (sa.UniqueConstraint("cloud_id", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    cloud_id: int = Field(foreign_key="cloud.id", index=True)
    external_id: str = Field(max_length=255)
    state: ItemState = Field(default=ItemState.active, sa_type=str_enum(ItemState), index=True)
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    gone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ZonePublic(ZoneBase):
    id: int
    cloud_id: int
    cloud: str
    external_id: str
    state: ItemState
    host_count: int
    extra: dict[str, Any]


class HostBase(SQLModel):
    name: str = Field(max_length=255, index=True)
    arch: str = Field(default="x86_64", max_length=16)
    vcpus: int = Field(ge=0)
    memory_mb: int = Field(ge=0)
    disk_gb: int = Field(ge=0)
    gpus: int = Field(default=0, ge=0)
    # Overcommit ratios: schedulable capacity is (capacity - reserved) * ratio.
    cpu_ratio: float = Field(default=1.0, gt=0)
    ram_ratio: float = Field(default=1.0, gt=0)
    disk_ratio: float = Field(default=1.0, gt=0)
    # Allocation as the cloud itself reports it (Placement usages, pod requests...).
    vcpus_used: int = Field(default=0, ge=0)
    memory_mb_used: int = Field(default=0, ge=0)
    disk_gb_used: int = Field(default=0, ge=0)
    gpus_used: int = Field(default=0, ge=0)


class Host(HostBase, table=True):
    __table_args__ = (sa.UniqueConstraint("cloud_id", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    cloud_id: int = Field(foreign_key="cloud.id", index=True)
    zone_id: int | None = Field(default=None, foreign_key="zone.id", index=True)
    external_id: str = Field(max_length=255)
    state: HostState = Field(default=HostState.up, sa_type=str_enum(HostState), index=True)
    traits: list[str] = Field(default_factory=list, sa_type=JSONType)
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    gone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class HostPublic(HostBase):
    id: int
    cloud_id: int
    cloud: str
    zone_id: int | None
    zone: str | None
    region: str
    external_id: str
    state: HostState
    traits: list[str]
    extra: dict[str, Any]
    replica_count: int
