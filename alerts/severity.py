"""Severities P1-P4 and their response targets: how soon a person must acknowledge.

The defaults follow common government-cloud O&M contracts (P1 acknowledged within 5
minutes); `YUNHENG_SEVERITY_ACK_MINUTES='{"P1": 3}'` overrides any of them. Compliance is
judged per incident from its first human response: an acknowledgement, or a resolution by
a person (an incident resolved before anyone acked it was still answered).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts.oncall_schemas import ComplianceRow, SeverityTarget
from inventory.models import Incident, IncidentStatus, Severity
from inventory.settings import Settings, get_settings

DEFAULT_ACK_MINUTES: dict[Severity, int] = {
    Severity.P1: 5,
    Severity.P2: 15,
    Severity.P3: 60,
    Severity.P4: 240,
}
AUTO = "auto"  # Incident.resolved_by when the alerts cleared by themselves


def ack_targets(settings: Settings | None = None) -> dict[Severity, timedelta]:
    """Each severity's acknowledgement target, with the settings' overrides applied."""
    overrides = (settings or get_settings()).severity_ack_minutes
    return {
        severity: timedelta(minutes=overrides.get(severity.value, minutes))
        for severity, minutes in DEFAULT_ACK_MINUTES.items()
    }


def targets_public(settings: Settings | None = None) -> list[SeverityTarget]:
    return [
        SeverityTarget(severity=s, ack_within_minutes=int(t.total_seconds() // 60))
        for s, t in ack_targets(settings).items()
    ]


def ack_due(incident: Incident, targets: Mapping[Severity, timedelta] | None = None) -> datetime:
    """When the incident must be acknowledged by: opened + its severity's target."""
    chosen = targets if targets is not None else ack_targets()
    return incident.created_at + chosen[Severity(incident.severity)]


def first_response(incident: Incident) -> datetime | None:
    """The first time a person answered: acknowledged, or resolved by hand."""
    times = [incident.acknowledged_at] if incident.acknowledged_at else []
    if incident.resolved_at and incident.resolved_by and incident.resolved_by != AUTO:
        times.append(incident.resolved_at)
    return min(times) if times else None


class Outcome(StrEnum):
    met = "met"
    breached = "breached"
    pending = "pending"  # open, unanswered, still within the target
    not_applicable = "not_applicable"  # cleared by itself in time, nobody needed to answer


def outcome(
    incident: Incident, now: datetime, targets: Mapping[Severity, timedelta] | None = None
) -> Outcome:
    """Whether the incident was answered within its severity's target, as of `now`."""
    due = ack_due(incident, targets)
    answered = first_response(incident)
    if answered is not None:
        return Outcome.met if answered <= due else Outcome.breached
    if incident.status == IncidentStatus.resolved and incident.resolved_at is not None:
        return Outcome.not_applicable if incident.resolved_at <= due else Outcome.breached
    return Outcome.breached if now > due else Outcome.pending


def acked_in_time(incident: Incident, now: datetime) -> bool | None:
    """The question the contract asks, e.g. "was this P1 acknowledged within 5 minutes?":
    True or False once it is decided, None while it is still open within the target or when
    it cleared by itself before anyone had to answer."""
    decided = outcome(incident, now)
    if decided in (Outcome.met, Outcome.breached):
        return decided == Outcome.met
    return None


@dataclass
class _Tally:
    incidents: int = 0
    met: int = 0
    breached: int = 0
    pending: int = 0
    not_applicable: int = 0


def compliance(
    session: Session,
    now: datetime,
    since: datetime,
    until: datetime,
    *,
    settings: Settings | None = None,
) -> list[ComplianceRow]:
    """Per severity, how the incidents opened in [since, until) met their response target."""
    targets = ack_targets(settings)
    tallies = {severity: _Tally() for severity in Severity}
    rows = session.execute(
        sa.select(Incident).where(
            col(Incident.created_at) >= since, col(Incident.created_at) < until
        )
    ).scalars()
    for incident in rows:
        tally = tallies[Severity(incident.severity)]
        tally.incidents += 1
        decided = outcome(incident, now, targets)
        setattr(tally, decided.value, getattr(tally, decided.value) + 1)
    return [
        ComplianceRow(
            severity=severity,
            ack_within_minutes=int(targets[severity].total_seconds() // 60),
            incidents=t.incidents,
            met=t.met,
            breached=t.breached,
            pending=t.pending,
            not_applicable=t.not_applicable,
            ratio=round(t.met / (t.met + t.breached), 4) if t.met + t.breached else None,
        )
        for severity, t in tallies.items()
    ]
