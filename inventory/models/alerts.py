"""Alerts, incidents and their timeline, noise control, notification channels, deliveries,
the in-console inbox and the evaluator's lease.

Everything the alerting loop knows lives here, so a restart loses nothing: an alert's state
and its incident, what was sent to whom (a delivery's `dedupe_key` is unique, so a restart
never pages twice), and who holds the evaluator lease.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from inventory.types import JSONType, UTCDateTime, str_enum, utcnow


class Severity(StrEnum):
    """P1 is the most urgent; each has a response target (alerts.severity)."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class AlertState(StrEnum):
    pending = "pending"  # condition true, `for` not yet elapsed
    firing = "firing"
    resolved = "resolved"


class AlertSource(StrEnum):
    rule = "rule"  # a Prometheus rule file evaluated by Yunheng
    builtin = "builtin"  # Yunheng's own estate rules (cloud unreachable, host down, ...)
    alertmanager = "alertmanager"  # posted to the intake by an Alertmanager
    blind = "blind"  # the dead man's switch: Prometheus cannot be queried


class IncidentStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class ChannelKind(StrEnum):
    webhook = "webhook"  # generic JSON
    alertmanager = "alertmanager"  # Alertmanager-compatible v4 webhook payload
    dingtalk = "dingtalk"
    wecom = "wecom"
    feishu = "feishu"
    email = "email"
    inbox = "inbox"  # the in-console inbox of the users paged


class DeliveryStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"  # retries exhausted; `error` says why


class Alert(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # sha256 of the sorted label set (alertname included): one row per series, ever.
    fingerprint: str = Field(max_length=64, unique=True)
    source: AlertSource = Field(sa_type=str_enum(AlertSource), index=True)
    # The rule group or sender it came from ("rule:<file>:<group>", "builtin:estate",
    # "alertmanager", ...): an alert absent from a complete round of its own source resolves,
    # while other sources' rounds leave it alone (migration 0005).
    source_key: str = Field(default="", max_length=200, index=True)
    name: str = Field(max_length=200, index=True)  # alertname
    labels: dict[str, str] = Field(default_factory=dict, sa_type=JSONType)
    annotations: dict[str, str] = Field(default_factory=dict, sa_type=JSONType)
    severity: Severity = Field(default=Severity.P3, sa_type=str_enum(Severity), index=True)
    state: AlertState = Field(sa_type=str_enum(AlertState), index=True)
    value: float | None = None
    generator_url: str | None = Field(default=None, sa_type=sa.Text)
    active_since: datetime = Field(sa_type=UTCDateTime)  # condition first true (this episode)
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    keep_firing_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The rule's keep_firing_for, kept so a round without the alert knows how long to hold it.
    keep_firing_for_seconds: float = 0
    # Why it is not notified now (silence id, maintenance window, inhibiting alert), or None.
    suppressed_by: str | None = Field(default=None, max_length=200)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    acked_by: str | None = Field(default=None, max_length=64)
    acked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cloud_id: int | None = Field(default=None, foreign_key="cloud.id", index=True)
    # From a `department` label (code or id): department users see only their own.
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Incident(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # The values of the route's group_by labels: alerts with equal values share an incident.
    group_key: str = Field(max_length=500, index=True)
    group_labels: dict[str, str] = Field(default_factory=dict, sa_type=JSONType)
    title: str = Field(max_length=300)
    severity: Severity = Field(sa_type=str_enum(Severity), index=True)
    status: IncidentStatus = Field(sa_type=str_enum(IncidentStatus), index=True)
    route_id: int | None = Field(default=None, foreign_key="alert_route.id")
    escalation_policy_id: int | None = Field(default=None, foreign_key="escalation_policy.id")
    escalation_step: int = 0  # the next step to run
    escalation_round: int = 0  # how many times the policy has repeated
    next_escalation_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    first_notify_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # + group_wait
    last_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    notified_state: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    cloud_id: int | None = Field(default=None, foreign_key="cloud.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    resolved_by: str | None = Field(default=None, max_length=64)  # a user, or "auto"


class IncidentEvent(SQLModel, table=True):
    """The incident timeline: created, alert added or resolved, notified whom, acked,
    escalated, resolved, notes."""

    __tablename__ = "incident_event"
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    # indexed: the assessment's alert-noise KPI reads a month of every incident's timeline
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    kind: str = Field(max_length=32)
    actor: str = Field(max_length=64)  # a username or "system"
    detail: str = Field(default="", sa_type=sa.Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class Silence(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # [{"name": ..., "value": ..., "op": "=" | "!=" | "=~" | "!~"}], all must match
    matchers: list[dict[str, str]] = Field(default_factory=list, sa_type=JSONType)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_by: str = Field(max_length=64)
    comment: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MaintenanceWindow(SQLModel, table=True):
    """A recurring window in local time: on `weekdays` (0 = Monday; empty = every day) from
    `start_time` for `duration_minutes`, between `valid_from` and `valid_until`."""

    __tablename__ = "maintenance_window"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    matchers: list[dict[str, str]] = Field(default_factory=list, sa_type=JSONType)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    weekdays: list[int] = Field(default_factory=list, sa_type=JSONType)
    start_time: str = Field(max_length=5)  # "HH:MM"
    duration_minutes: int = Field(ge=1, le=7 * 24 * 60)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    comment: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InhibitRule(SQLModel, table=True):
    """While an alert matching `source_matchers` fires, alerts matching `target_matchers`
    with equal values of the `equal` labels are not notified (e.g. a cloud down silences
    its hosts' alerts)."""

    __tablename__ = "inhibit_rule"
    id: int | None = Field(default=None, primary_key=True)
    source_matchers: list[dict[str, str]] = Field(default_factory=list, sa_type=JSONType)
    target_matchers: list[dict[str, str]] = Field(default_factory=list, sa_type=JSONType)
    equal: list[str] = Field(default_factory=list, sa_type=JSONType)
    comment: str = Field(default="", sa_type=sa.Text)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AlertRoute(SQLModel, table=True):
    """Alertmanager-style routing, first match by `position`: how alerts are grouped into
    incidents, when they are notified, through which policy and channels."""

    __tablename__ = "alert_route"
    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(default=0, index=True)
    name: str = Field(max_length=120, unique=True)
    matchers: list[dict[str, str]] = Field(default_factory=list, sa_type=JSONType)
    group_by: list[str] = Field(default_factory=lambda: ["alertname", "cloud"], sa_type=JSONType)
    group_wait_seconds: int = Field(default=30, ge=0)
    group_interval_seconds: int = Field(default=300, ge=1)
    repeat_interval_seconds: int = Field(default=4 * 3600, ge=60)
    escalation_policy_id: int | None = Field(default=None, foreign_key="escalation_policy.id")
    channel_ids: list[int] = Field(default_factory=list, sa_type=JSONType)  # besides the policy's


class NotificationChannel(SQLModel, table=True):
    __tablename__ = "notification_channel"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    kind: ChannelKind = Field(sa_type=str_enum(ChannelKind))
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)  # no secrets
    # Fernet token (inventory.crypto) of a JSON object: robot tokens, signing secrets,
    # SMTP passwords, bearer tokens. Never returned by the API.
    secrets_encrypted: str | None = Field(default=None, sa_type=sa.Text)
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """One notification to one channel (and, for person-addressed channels, one user)."""

    id: int | None = Field(default=None, primary_key=True)
    # e.g. "incident:12:step:0:round:0:channel:3:user:7": unique, so a restart that runs the
    # same step again finds the row instead of paging twice.
    dedupe_key: str = Field(max_length=300, unique=True)
    channel_id: int = Field(foreign_key="notification_channel.id", index=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    reason: str = Field(max_length=32)  # firing, resolved, repeat, escalation, test
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    status: DeliveryStatus = Field(sa_type=str_enum(DeliveryStatus), index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class InboxMessage(SQLModel, table=True):
    """The in-console inbox: a notifier whose endpoint is the console itself."""

    __tablename__ = "inbox_message"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    title: str = Field(max_length=300)
    body: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Lease(SQLModel, table=True):
    """Who runs a singleton job (the alert loop, scheduled reports). Taken and renewed with
    a conditional UPDATE, so two replicas on one database never both hold it."""

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)  # host:pid:random
    acquired_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
