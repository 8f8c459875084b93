"""The incident timeline: one IncidentEvent per thing that happened, in order.

Kinds written by alerts.incidents and alerts.actions: created, alert_added, alert_resolved,
alert_refired, suppressed, unsuppressed, severity, notified, acked, resolved, note;
alerts.escalation and alerts.dispatch add escalation_started, escalated, escalation_ended,
delivered and delivery_failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from inventory.access import SYSTEM_ACTOR
from inventory.models import IncidentEvent

MAX_DETAIL = 4000


def add_event(
    session: Session,
    incident_id: int,
    kind: str,
    *,
    at: datetime,
    actor: str = SYSTEM_ACTOR,
    detail: str = "",
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    event = IncidentEvent(
        incident_id=incident_id,
        at=at,
        kind=kind[:32],
        actor=actor[:64],
        detail=detail[:MAX_DETAIL],
        data=data or {},
    )
    session.add(event)
    return event
