"""On-call rotations (layers, shifts, handoffs, overrides) and escalation policies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from inventory.types import JSONType, UTCDateTime, utcnow


class Rotation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RotationLayer(SQLModel, table=True):
    """Members take turns in shifts of `shift_hours`, handing off at `handoff_time` (local,
    "HH:MM") from `starts_at` on; a higher `position` wins where layers overlap. Optional
    `active_weekdays` / `active_hours` restrict the layer (e.g. a night layer)."""

    __tablename__ = "rotation_layer"
    id: int | None = Field(default=None, primary_key=True)
    rotation_id: int = Field(foreign_key="rotation.id", index=True)
    position: int = 0
    name: str = Field(max_length=120)
    member_ids: list[int] = Field(default_factory=list, sa_type=JSONType)  # user ids, in turn
    shift_hours: int = Field(default=24, ge=1, le=24 * 28)
    handoff_time: str = Field(default="09:00", max_length=5)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    active_weekdays: list[int] = Field(default_factory=list, sa_type=JSONType)  # empty: all
    active_hours: list[str] = Field(default_factory=list, sa_type=JSONType)  # ["20:00", "08:00"]


class RotationOverride(SQLModel, table=True):
    """`user_id` is on call instead of whoever the layers say, from `starts_at` to
    `ends_at`; a swap is two overrides."""

    __tablename__ = "rotation_override"
    id: int | None = Field(default=None, primary_key=True)
    rotation_id: int = Field(foreign_key="rotation.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_by: str = Field(max_length=64)
    comment: str = Field(default="", sa_type=sa.Text)


class EscalationPolicy(SQLModel, table=True):
    """Steps run in order until the incident is acknowledged: each waits `wait_minutes`
    after the previous one, then notifies its targets; the whole list repeats `repeat`
    times. A step: {"wait_minutes": 5, "targets": [{"type": "rotation" | "user" |
    "channel", "id": 3}]}."""

    __tablename__ = "escalation_policy"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    repeat: int = Field(default=0, ge=0, le=10)
    description: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
