"""Request and response bodies of the on-call API: rotations, layers, overrides, swaps,
escalation policies, "who is on call now" and severities' response targets.

Input models reject unknown fields and name the field at fault; times must carry an offset
(a naive time is ambiguous in a rotation that is not in the server's zone) and are kept UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.schedule import parse_hhmm
from inventory.models import Severity

_STRICT = ConfigDict(extra="forbid")
MAX_MEMBERS = 50
MAX_STEPS = 20


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
UserId = Annotated[int, Field(ge=1, le=2_147_483_647)]


def _in_range(value: datetime) -> datetime:
    """Times within 2000-2199 (kept UTC): schedule arithmetic a month either side of any
    of them stays within what a datetime can hold."""
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 2000-01-01 and 2200-01-01")
    return value.astimezone(UTC)


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name like Asia/Shanghai)") from None
    return value


def _check_hours(value: list[str]) -> list[str]:
    if len(value) not in (0, 2):
        raise ValueError('give none (all day) or two times, start and end: ["20:00", "08:00"]')
    for i, item in enumerate(value):
        parse_hhmm(item, f"active_hours.{i}")
    return value


def _check_weekdays(value: list[int]) -> list[int]:
    if any(not 0 <= d <= 6 for d in value):
        raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
    if len(set(value)) != len(value):
        raise ValueError("a weekday is listed twice")
    return sorted(value)


def _no_nulls(cls: type[BaseModel], data: Any) -> Any:
    """For PATCH bodies: leaving a field out keeps it; an explicit null is refused."""
    if isinstance(data, dict):
        for key, value in data.items():
            if value is None:
                raise ValueError(f"{key}: may be left out, but not null")
    return data


def _check_members(value: list[int]) -> list[int]:
    if len(set(value)) != len(value):
        raise ValueError("a member is listed twice")
    return value


class LayerCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=120)
    position: int = Field(default=0, ge=0, le=100, description="A higher layer wins")
    member_ids: list[UserId] = Field(
        min_length=1, max_length=MAX_MEMBERS, description="User ids (oncall or admin), in turn"
    )
    shift_hours: int = Field(default=24, ge=1, le=24 * 28)
    handoff_time: str = Field(default="09:00", description="Local HH:MM of a handoff")
    starts_at: AwareDatetime = Field(description="The first member's shift contains this")
    active_weekdays: list[int] = Field(default_factory=list, description="0 = Monday; empty: all")
    active_hours: list[str] = Field(
        default_factory=list, description='Local ["start", "end"], may cross midnight; empty: all'
    )

    _members = field_validator("member_ids")(_check_members)
    _weekdays = field_validator("active_weekdays")(_check_weekdays)
    _hours = field_validator("active_hours")(_check_hours)
    _starts = field_validator("starts_at")(_in_range)

    @field_validator("handoff_time")
    @classmethod
    def _handoff(cls, value: str) -> str:
        parse_hhmm(value, "handoff_time")
        return value


class LayerUpdate(BaseModel):
    """A PATCH: what is left out stays; null is refused."""

    model_config = _STRICT

    name: str | None = Field(default=None, min_length=1, max_length=120)
    position: int | None = Field(default=None, ge=0, le=100)
    member_ids: list[UserId] | None = Field(default=None, min_length=1, max_length=MAX_MEMBERS)
    shift_hours: int | None = Field(default=None, ge=1, le=24 * 28)
    handoff_time: str | None = None
    starts_at: AwareDatetime | None = None
    active_weekdays: list[int] | None = None
    active_hours: list[str] | None = None

    _members = field_validator("member_ids")(_check_members)
    _weekdays = field_validator("active_weekdays")(_check_weekdays)
    _hours = field_validator("active_hours")(_check_hours)
    _starts = field_validator("starts_at")(_in_range)

    @field_validator("handoff_time")
    @classmethod
    def _handoff(cls, value: str) -> str:
        parse_hhmm(value, "handoff_time")
        return value

    _nulls = model_validator(mode="before")(_no_nulls)


class RotationCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=120)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    layers: list[LayerCreate] = Field(default_factory=list, max_length=20)

    _tz = field_validator("timezone")(check_timezone)


class RotationUpdate(BaseModel):
    model_config = _STRICT

    name: str | None = Field(default=None, min_length=1, max_length=120)
    timezone: str | None = Field(default=None, max_length=64)

    _nulls = model_validator(mode="before")(_no_nulls)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class UserRef(BaseModel):
    id: int
    username: str
    display_name: str


class LayerPublic(BaseModel):
    id: int
    rotation_id: int
    name: str
    position: int
    member_ids: list[int]
    members: list[UserRef]
    shift_hours: int
    handoff_time: str
    starts_at: datetime
    active_weekdays: list[int]
    active_hours: list[str]


class OverridePublic(BaseModel):
    id: int
    rotation_id: int
    user: UserRef
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


class RotationPublic(BaseModel):
    id: int
    name: str
    timezone: str
    created_at: datetime
    layers: list[LayerPublic]
    overrides: list[OverridePublic] = Field(description="Current and future overrides")


class OverrideCreate(BaseModel):
    model_config = _STRICT

    user_id: int | None = Field(
        default=None, ge=1, le=2_147_483_647, description="Who takes over; left out: the caller"
    )
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    comment: str = Field(default="", max_length=2000)

    _times = field_validator("starts_at", "ends_at")(_in_range)

    @model_validator(mode="after")
    def _order(self) -> OverrideCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class SwapCreate(BaseModel):
    """Exchange two on-call stretches: whoever is on at `with_shift_at` covers the stretch
    containing `shift_at`, and the other way round (two overrides)."""

    model_config = _STRICT

    shift_at: AwareDatetime
    with_shift_at: AwareDatetime
    comment: str = Field(default="", max_length=2000)

    _times = field_validator("shift_at", "with_shift_at")(_in_range)


class LayerRef(BaseModel):
    id: int
    name: str
    position: int
    shift_starts_at: datetime
    shift_ends_at: datetime


class OnCallNow(BaseModel):
    rotation_id: int
    rotation: str
    timezone: str
    users: list[UserRef]
    source: Literal["override", "layer", "nobody"]
    since: datetime | None = Field(description="When these people took over (None: long ago)")
    until: datetime | None = Field(
        description="The next change of hands (None: none within 35 days)"
    )
    until_local: str | None = Field(description="`until` in the rotation's time zone")
    layers: list[LayerRef]
    override: OverridePublic | None
    error: str | None = Field(
        default=None, description="Why this rotation could not be worked out (bad stored data)"
    )


class Stretch(BaseModel):
    starts_at: datetime
    ends_at: datetime
    users: list[UserRef]
    source: Literal["override", "layer", "nobody"]
    layer_ids: list[int]
    override_id: int | None


class Target(BaseModel):
    model_config = _STRICT

    type: Literal["rotation", "user", "channel"]
    id: int = Field(ge=1, le=2_147_483_647)


class Step(BaseModel):
    model_config = _STRICT

    wait_minutes: int = Field(
        default=0,
        ge=0,
        le=24 * 60,
        description="After the previous step (the first: after the incident opens)",
    )
    targets: list[Target] = Field(min_length=1, max_length=20)


def check_repeat(steps: list[Step], repeat: int) -> None:
    """A repeat round starts `repeat_gap` after the last step; with no gap every round
    would page at once."""
    if repeat and steps and repeat_gap(steps) == 0:
        raise ValueError(
            "repeat: a repeating policy needs step 0 or the last step to wait at least a "
            "minute, or every round pages at the same moment"
        )


def repeat_gap(steps: list[Step] | list[dict[str, Any]]) -> int:
    """Minutes between a round's last step and the next round's step 0: step 0's wait, or
    the last step's wait when step 0 has none (0, 10 repeats as 0, 10, 20, 30, ...)."""
    waits = [s.wait_minutes if isinstance(s, Step) else int(s["wait_minutes"]) for s in steps]
    return waits[0] or waits[-1]


class PolicyCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    repeat: int = Field(default=0, ge=0, le=10, description="Run the steps again this often")

    @model_validator(mode="after")
    def _repeat(self) -> PolicyCreate:
        check_repeat(self.steps, self.repeat)
        return self


class PolicyUpdate(BaseModel):
    model_config = _STRICT

    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    steps: list[Step] | None = Field(default=None, min_length=1, max_length=MAX_STEPS)
    repeat: int | None = Field(default=None, ge=0, le=10)

    _nulls = model_validator(mode="before")(_no_nulls)


class PolicyPublic(BaseModel):
    id: int
    name: str
    description: str
    steps: list[Step]
    repeat: int
    created_at: datetime


class SeverityTarget(BaseModel):
    severity: Severity
    ack_within_minutes: int


class ComplianceRow(BaseModel):
    severity: Severity
    ack_within_minutes: int
    incidents: int = Field(description="Incidents opened in the period")
    met: int = Field(description="Acknowledged (or resolved by a person) within the target")
    breached: int = Field(description="Acknowledged late, or not yet and past the target")
    pending: int = Field(description="Open, not yet acknowledged, still within the target")
    not_applicable: int = Field(description="Cleared by itself before the target, unacknowledged")
    ratio: float | None = Field(description="met / (met + breached); None when both are 0")
