"""Request and response bodies of the alerts API: alerts, incidents and their timeline,
silences, maintenance windows, inhibition rules and routes.

Inputs reject unknown fields and name the field at fault; matchers are parsed when they
arrive (a bad regex is a 422 naming `matchers[2].value`), and times must carry an offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from alerts.matchers import MatcherInput, dump, parse_matchers
from alerts.noise import parse_time_of_day, zone
from inventory.errors import Invalid
from inventory.models import AlertSource, AlertState, IncidentStatus, Severity
from inventory.models.inputs import not_null

_STRICT = ConfigDict(extra="forbid")
MAX_MATCHERS = 50


def _matchers(value: list[MatcherInput] | None) -> list[dict[str, str]] | None:
    if value is None:
        return None
    if len(value) > MAX_MATCHERS:
        raise ValueError(f"at most {MAX_MATCHERS} matchers")
    try:
        return dump(parse_matchers(value, where=""))
    except Invalid as exc:
        raise ValueError(f"{(exc.field or '').lstrip('.')}: {exc.message}".lstrip(": ")) from None


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _labels(value: list[str] | None) -> list[str] | None:
    if value is not None and any(not v.strip() for v in value):
        raise ValueError("label names must not be blank")
    return value


# --- Alerts and incidents -------------------------------------------------------------------


class AlertPublic(BaseModel):
    id: int
    fingerprint: str
    name: str
    state: AlertState
    severity: Severity
    source: AlertSource
    source_key: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    generator_url: str | None
    active_since: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    last_seen_at: datetime
    keep_firing_until: datetime | None
    suppressed_by: str | None
    incident_id: int | None
    acked_by: str | None
    acked_at: datetime | None
    cloud_id: int | None
    department_id: int | None


class EventPublic(BaseModel):
    id: int
    at: datetime
    kind: str
    actor: str
    detail: str
    data: dict[str, Any]


class IncidentPublic(BaseModel):
    id: int
    title: str
    severity: Severity
    status: IncidentStatus
    group_key: str
    group_labels: dict[str, str]
    route_id: int | None
    escalation_policy_id: int | None
    escalation_step: int
    next_escalation_at: datetime | None
    first_notify_at: datetime | None
    last_notified_at: datetime | None
    cloud_id: int | None
    department_id: int | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    alert_count: int = Field(description="Alerts grouped into it, resolved ones included")
    firing_count: int = Field(description="Of those, firing and not suppressed")
    ack_due: datetime = Field(description="Opened + its severity's acknowledgement target")


class IncidentDetail(IncidentPublic):
    alerts: list[AlertPublic]
    timeline: list[EventPublic]


class Note(BaseModel):
    model_config = _STRICT
    text: str = Field(min_length=1, max_length=4000)


class ResolveBody(BaseModel):
    model_config = _STRICT
    comment: str = Field(default="", max_length=4000)


class IntakeResult(BaseModel):
    received: int
    firing: int
    resolved: int
    alert_ids: list[int]


# --- Silences ---------------------------------------------------------------------------------


class SilenceCreate(BaseModel):
    model_config = _STRICT
    matchers: list[MatcherInput] = Field(
        min_length=1,
        description='{"name", "op", "value"} objects or text like severity=~"P3|P4"',
    )
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now")
    ends_at: AwareDatetime | None = Field(default=None, description="Or give duration_minutes")
    duration_minutes: int | None = Field(default=None, ge=1, le=366 * 24 * 60)
    comment: str = Field(min_length=1, max_length=2000)

    _m = field_validator("matchers")(_matchers)
    _t = field_validator("starts_at", "ends_at")(_utc)


class SilenceUpdate(BaseModel):
    model_config = _STRICT
    matchers: list[MatcherInput] | None = Field(default=None, min_length=1)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    comment: str | None = Field(default=None, min_length=1, max_length=2000)

    _m = field_validator("matchers")(_matchers)
    _t = field_validator("starts_at", "ends_at")(_utc)
    _nn = not_null("matchers", "starts_at", "ends_at", "comment")


class SilencePublic(BaseModel):
    id: int
    matchers: list[dict[str, str]]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    state: Literal["pending", "active", "expired"]


# --- Maintenance windows ----------------------------------------------------------------------


def _weekdays(value: list[int] | None) -> list[int] | None:
    if value is None:
        return None
    if any(not 0 <= day <= 6 for day in value):
        raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
    return sorted(set(value))


def _start_time(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_time_of_day(value)
    except Invalid as exc:
        raise ValueError(exc.message) from None
    return value


def _timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        zone(value)
    except Invalid as exc:
        raise ValueError(exc.message) from None
    return value


class WindowCreate(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=120)
    matchers: list[MatcherInput] = Field(min_length=1)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    weekdays: list[int] = Field(
        default_factory=list, max_length=7, description="0 = Monday ... 6 = Sunday; empty: daily"
    )
    start_time: str = Field(description="Local HH:MM, on each listed weekday")
    duration_minutes: int = Field(ge=1, le=7 * 24 * 60)
    valid_from: AwareDatetime | None = Field(default=None, description="Default: now")
    valid_until: AwareDatetime | None = None
    comment: str = Field(default="", max_length=2000)

    _m = field_validator("matchers")(_matchers)
    _w = field_validator("weekdays")(_weekdays)
    _s = field_validator("start_time")(_start_time)
    _z = field_validator("timezone")(_timezone)
    _t = field_validator("valid_from", "valid_until")(_utc)


class WindowUpdate(BaseModel):
    """Leave out what does not change; only valid_until may be null (no end)."""

    model_config = _STRICT
    name: str | None = Field(default=None, min_length=1, max_length=120)
    matchers: list[MatcherInput] | None = Field(default=None, min_length=1)
    timezone: str | None = Field(default=None, max_length=64)
    weekdays: list[int] | None = Field(default=None, max_length=7)
    start_time: str | None = None
    duration_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    comment: str | None = Field(default=None, max_length=2000)

    _m = field_validator("matchers")(_matchers)
    _w = field_validator("weekdays")(_weekdays)
    _s = field_validator("start_time")(_start_time)
    _z = field_validator("timezone")(_timezone)
    _t = field_validator("valid_from", "valid_until")(_utc)
    _nn = not_null("name", "matchers", "timezone", "weekdays", "start_time")
    _nn2 = not_null("duration_minutes", "valid_from", "comment")


class WindowPublic(BaseModel):
    id: int
    name: str
    matchers: list[dict[str, str]]
    timezone: str
    weekdays: list[int]
    start_time: str
    duration_minutes: int
    valid_from: datetime
    valid_until: datetime | None
    created_by: str
    comment: str
    created_at: datetime
    active_now: bool


# --- Inhibition rules and routes ----------------------------------------------------------


class InhibitCreate(BaseModel):
    model_config = _STRICT
    source_matchers: list[MatcherInput] = Field(min_length=1)
    target_matchers: list[MatcherInput] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list, max_length=20)
    comment: str = Field(default="", max_length=2000)

    _m = field_validator("source_matchers", "target_matchers")(_matchers)
    _e = field_validator("equal")(_labels)


class InhibitUpdate(BaseModel):
    model_config = _STRICT
    source_matchers: list[MatcherInput] | None = Field(default=None, min_length=1)
    target_matchers: list[MatcherInput] | None = Field(default=None, min_length=1)
    equal: list[str] | None = Field(default=None, max_length=20)
    comment: str | None = Field(default=None, max_length=2000)

    _m = field_validator("source_matchers", "target_matchers")(_matchers)
    _e = field_validator("equal")(_labels)
    _nn = not_null("source_matchers", "target_matchers", "equal", "comment")


class InhibitPublic(BaseModel):
    id: int
    source_matchers: list[dict[str, str]]
    target_matchers: list[dict[str, str]]
    equal: list[str]
    comment: str
    created_by: str
    created_at: datetime


class RouteCreate(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=120)
    position: int = Field(default=0, ge=0, le=1_000_000, description="First match wins")
    matchers: list[MatcherInput] = Field(default_factory=list, description="Empty: every alert")
    group_by: list[str] = Field(
        default_factory=lambda: ["alertname", "cloud"],
        min_length=1,
        max_length=20,
        description='Labels whose equal values share an incident; ["..."]: every label',
    )
    group_wait_seconds: int = Field(default=30, ge=0, le=86_400)
    group_interval_seconds: int = Field(default=300, ge=1, le=86_400)
    repeat_interval_seconds: int = Field(default=4 * 3600, ge=60, le=30 * 86_400)
    escalation_policy_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    channel_ids: list[int] = Field(default_factory=list, max_length=50)

    _m = field_validator("matchers")(_matchers)
    _g = field_validator("group_by")(_labels)


class RouteUpdate(BaseModel):
    """Leave out what does not change; escalation_policy_id may be null (none)."""

    model_config = _STRICT
    name: str | None = Field(default=None, min_length=1, max_length=120)
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    matchers: list[MatcherInput] | None = None
    group_by: list[str] | None = Field(default=None, min_length=1, max_length=20)
    group_wait_seconds: int | None = Field(default=None, ge=0, le=86_400)
    group_interval_seconds: int | None = Field(default=None, ge=1, le=86_400)
    repeat_interval_seconds: int | None = Field(default=None, ge=60, le=30 * 86_400)
    escalation_policy_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    channel_ids: list[int] | None = Field(default=None, max_length=50)

    _m = field_validator("matchers")(_matchers)
    _g = field_validator("group_by")(_labels)
    _nn = not_null("name", "position", "matchers", "group_by", "group_wait_seconds")
    _nn2 = not_null("group_interval_seconds", "repeat_interval_seconds", "channel_ids")


class RoutePublic(BaseModel):
    id: int
    name: str
    position: int
    matchers: list[dict[str, str]]
    group_by: list[str]
    group_wait_seconds: int
    group_interval_seconds: int
    repeat_interval_seconds: int
    escalation_policy_id: int | None
    channel_ids: list[int]
