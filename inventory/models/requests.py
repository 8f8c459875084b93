"""A department's resource request, the placement plans proposed for it, and their allocations;
rebalance plans (moves of existing Yunheng-managed replicas) and their moves."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from sqlmodel import Field, SQLModel

from inventory.models.inputs import STRICT_INPUT
from inventory.types import JSONType, UTCDateTime, str_enum, utcnow

SLA_TIERS = (0.995, 0.999, 0.9995, 0.9999)
SERVICE_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"


class RequestStatus(StrEnum):
    planned = "planned"  # a plan awaits an admin's decision
    unplaceable = "unplaceable"  # no plan exists; `reason` says why
    approved = "approved"  # being provisioned
    fulfilled = "fulfilled"
    partial = "partial"  # some allocations failed; can be retried
    rejected = "rejected"


class PlanStatus(StrEnum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"
    applying = "applying"
    applied = "applied"
    partial = "partial"  # partially applied: see the failed allocations
    superseded = "superseded"  # a newer plan replaced it before a decision


class PlanKind(StrEnum):
    place = "place"  # new replicas for a department's request
    rebalance = "rebalance"  # moves of existing Yunheng-managed replicas; no request


class MoveStatus(StrEnum):
    pending = "pending"
    provisioned = "provisioned"  # the new replica exists; the old one still runs
    moved = "moved"  # the new replica is active and the old one removed
    failed = "failed"  # the new replica did not come up; the old one is kept


class AllocationStatus(StrEnum):
    pending = "pending"
    provisioned = "provisioned"
    failed = "failed"


class RequestBase(SQLModel):
    service_name: str = Field(max_length=63, schema_extra={"pattern": SERVICE_PATTERN})
    replicas: int = Field(ge=1, le=100)
    vcpus: int = Field(ge=1, le=256)
    memory_mb: int = Field(ge=128, le=4 * 1024 * 1024)
    disk_gb: int = Field(default=0, ge=0, le=100_000)
    gpus: int = Field(default=0, ge=0, le=16)
    sla_target: float | None = Field(default=None, description=f"one of {SLA_TIERS}")
    min_healthy: int = Field(default=0, ge=0, description="replicas left after losing a zone")
    security_level: int = Field(default=1, ge=1, le=5, description="minimum MLPS level")
    region: str | None = Field(default=None, max_length=64, description="data residency")
    arch: str | None = Field(default=None, max_length=16)
    traits: list[str] = Field(default_factory=list, sa_type=JSONType)


class ResourceRequest(RequestBase, table=True):
    __tablename__ = "resource_request"
    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    requested_by: int = Field(foreign_key="user_account.id")
    status: RequestStatus = Field(sa_type=str_enum(RequestStatus), index=True)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    workload_id: int | None = Field(default=None, foreign_key="workload.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # When every replica was first provisioned: the end of the request's lead time
    # (updated_at moves on with later edits, so it cannot say).
    fulfilled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RequestCreate(RequestBase):
    model_config = STRICT_INPUT

    department_id: int | None = Field(default=None, description="admins only: on whose behalf")

    @field_validator("sla_target")
    @classmethod
    def _tier(cls, value: float | None) -> float | None:
        if value is not None and value not in SLA_TIERS:
            raise ValueError(f"choose an SLA tier: {', '.join(map(str, SLA_TIERS))}")
        return value

    @model_validator(mode="after")
    def _survivable(self) -> RequestCreate:
        if self.min_healthy and self.min_healthy >= self.replicas:
            raise ValueError("min_healthy must be below replicas: losing a zone must be survivable")
        return self


class Plan(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: PlanKind = Field(default=PlanKind.place, sa_type=str_enum(PlanKind), index=True)
    # Null for a rebalance plan: it answers no department's request.
    request_id: int | None = Field(default=None, foreign_key="resource_request.id", index=True)
    status: PlanStatus = Field(sa_type=str_enum(PlanStatus), index=True)
    solver: str = Field(max_length=32)
    result: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)  # PlanResult
    cost_per_hour: float = 0.0
    predicted_availability: float | None = None
    # Rebalance: scope, budget, hosts in use and cost before and after (scheduler.rebalance).
    summary: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    comment: str | None = Field(default=None, sa_type=sa.Text)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PlanMove(SQLModel, table=True):
    """One replica of a rebalance plan: made anew on `to_host`, then the old one removed."""

    __tablename__ = "plan_move"
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    position: int = Field(ge=0)  # the order moves are applied in
    workload_id: int = Field(foreign_key="workload.id")
    replica_id: int = Field(foreign_key="replica.id")  # the replica that moves
    from_host_id: int = Field(foreign_key="host.id")
    to_host_id: int = Field(foreign_key="host.id")
    cloud_id: int = Field(foreign_key="cloud.id")  # the target host's cloud
    # Sent with the create call, like an allocation's: a retry finds what it made.
    idempotency_key: str = Field(max_length=64, unique=True)
    status: MoveStatus = Field(sa_type=str_enum(MoveStatus))
    external_id: str | None = Field(default=None, max_length=255)  # the new replica's
    error: str | None = Field(default=None, sa_type=sa.Text)
    attempts: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Allocation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    replica_index: int = Field(ge=0)
    host_id: int = Field(foreign_key="host.id")
    cloud_id: int = Field(foreign_key="cloud.id")
    # Sent to the cloud with the create call: a retry or a restart finds, not duplicates.
    idempotency_key: str = Field(max_length=64, unique=True)
    status: AllocationStatus = Field(sa_type=str_enum(AllocationStatus))
    external_id: str | None = Field(default=None, max_length=255)
    error: str | None = Field(default=None, sa_type=sa.Text)
    attempts: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# Response-only models nested in lists are plain pydantic models: pydantic-core builds a
# nested SQLModel through SQLModel's Python __init__ (validating it twice), which was a
# large share of the request list's CPU. from_attributes as SQLModel has it.
class AllocationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    replica_index: int
    host: str
    zone: str | None
    cloud: str
    status: AllocationStatus
    external_id: str | None
    error: str | None
    attempts: int


class MovePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    service: str
    workload_id: int
    replica: str
    replica_id: int
    from_host: str
    from_zone: str | None
    to_host: str
    to_zone: str | None
    cloud: str
    status: MoveStatus
    external_id: str | None
    error: str | None
    attempts: int


class PlanPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: PlanKind
    request_id: int | None
    status: PlanStatus
    solver: str
    cost_per_hour: float
    predicted_availability: float | None
    comment: str | None
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    result: dict[str, Any]
    summary: dict[str, Any]
    allocations: list[AllocationPublic]
    moves: list[MovePublic]


class RequestPublic(RequestBase):
    id: int
    department_id: int
    department: str
    requested_by: str
    status: RequestStatus
    reason: str | None
    workload_id: int | None
    created_at: datetime
    updated_at: datetime
    plans: list[PlanPublic]


class Decision(SQLModel):
    model_config = STRICT_INPUT

    comment: str | None = Field(default=None, max_length=2000)


class RebalanceCreate(SQLModel):
    model_config = STRICT_INPUT

    migration_budget: int = Field(ge=0, le=10_000, description="replicas that may move")
    time_limit: float | None = Field(
        default=None, gt=0, le=600, description="solver seconds; default the placement setting"
    )
    cloud: str | None = Field(default=None, max_length=64, description="scope: cloud id or name")
    zone: str | None = Field(
        default=None, max_length=255, description="scope: zone id, name or external id"
    )


class RebalanceOutcome(SQLModel):
    proposed: bool
    reason: str | None = Field(description="why no plan was proposed")
    summary: dict[str, Any]
    plan: PlanPublic | None
