"""The append-only audit log: who did what, when, with the state before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from inventory.types import JSONType, UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=128, index=True)  # username, "cli:<os user>" or "system"
    action: str = Field(max_length=64, index=True)  # e.g. cloud.create, inventory.sync
    target_type: str = Field(max_length=32)
    target_id: str | None = Field(default=None, max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    detail: str | None = Field(default=None, sa_type=sa.Text)


class AuditEventPublic(SQLModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str | None
