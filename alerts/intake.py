"""The Alertmanager webhook payload (version "4"), parsed defensively.

Unknown fields are allowed (Alertmanager adds some now and then), and older Alertmanagers
send no `notification_reason` or `routeLabels`; nothing Yunheng relies on is optional in
every version, so only `alerts` with their `status` and `labels` are required. A payload
that is wrong is refused whole, naming the first bad field, before anything is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inventory.errors import Invalid

SUPPORTED_VERSION = "4"
MAX_ALERTS = 10_000


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime | None = None  # noqa: N815 (Alertmanager's spelling)
    endsAt: datetime | None = None  # noqa: N815
    generatorURL: str | None = None  # noqa: N815
    fingerprint: str | None = None  # Alertmanager's own hash; Yunheng computes its own


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str = SUPPORTED_VERSION
    groupKey: str | None = None  # noqa: N815
    truncatedAlerts: int = 0  # noqa: N815
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    groupLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonLabels: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: dict[str, str] = Field(default_factory=dict)  # noqa: N815
    externalURL: str | None = None  # noqa: N815
    # Newer Alertmanagers only; kept when present, never required.
    notification_reason: str | None = None
    routeLabels: dict[str, str] | None = None  # noqa: N815
    alerts: list[WebhookAlert] = Field(max_length=MAX_ALERTS)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value != SUPPORTED_VERSION:
            raise ValueError(f'webhook version {value!r} is not supported; expected "4"')
        return value


def parse_payload(payload: Any) -> WebhookPayload:
    """The payload, or an Invalid naming the first bad field (e.g. `alerts.0.labels`)."""
    if not isinstance(payload, dict):
        raise Invalid.of("intake.not_object", field="body")
    try:
        return WebhookPayload.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise Invalid.of("intake.payload", field=where, where=where, why=first["msg"]) from None
