"""Stored monthly assessment reports: what managers were shown, kept as generated.

A report is recomputed from live data on demand, but data changes (an incident resolved late,
a contract edited), so the copy made on the 1st of the month is what a vendor is scored on.
One row per month; a later run for the same month replaces it and says so in `generated_at`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from inventory.types import JSONType, UTCDateTime, utcnow


class StoredReport(SQLModel, table=True):
    __tablename__ = "assessment_report"
    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7, unique=True)  # YYYY-MM, Asia/Shanghai
    trigger: str = Field(max_length=16)  # "schedule" or "on_demand"
    generated_by: str | None = Field(default=None, max_length=64)  # a user; None: scheduler
    generated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    body: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)  # sla.report.Report


class StoredReportPublic(SQLModel):
    month: str
    trigger: str
    generated_by: str | None
    generated_at: datetime
