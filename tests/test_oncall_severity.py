"""Severities' response targets and the "P1 acknowledged within 5 minutes" compliance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from alerts import severity
from alerts.severity import Outcome
from inventory.models import Incident, IncidentStatus, Severity
from inventory.settings import Settings

T0 = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)


def incident(level: Severity = Severity.P1, **fields: Any) -> Incident:
    return Incident(
        group_key="g",
        title="t",
        severity=level,
        status=fields.pop("status", IncidentStatus.open),
        created_at=T0,
        **fields,
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_default_targets_and_settings_override() -> None:
    defaults = severity.ack_targets(Settings())
    assert {s.value: int(t.total_seconds() // 60) for s, t in defaults.items()} == {
        "P1": 5,
        "P2": 15,
        "P3": 60,
        "P4": 240,
    }
    stricter = Settings(severity_ack_minutes={"P1": 3})
    assert severity.ack_targets(stricter)[Severity.P1] == timedelta(minutes=3)
    assert severity.ack_targets(stricter)[Severity.P2] == timedelta(minutes=15)
    assert severity.ack_due(incident(), severity.ack_targets(stricter)) == at(3)
    with pytest.raises(ValidationError, match="unknown severity 'P5'"):
        Settings(severity_ack_minutes={"P5": 3})
    with pytest.raises(ValidationError, match=r"severity_ack_minutes\.P1"):
        Settings(severity_ack_minutes={"P1": 0})


@pytest.mark.parametrize(
    ("fields", "now", "expected"),
    [
        ({"status": IncidentStatus.acknowledged, "acknowledged_at": at(5)}, at(60), Outcome.met),
        (
            {"status": IncidentStatus.acknowledged, "acknowledged_at": at(5.01)},
            at(60),
            Outcome.breached,
        ),
        ({}, at(4), Outcome.pending),
        ({}, at(5.01), Outcome.breached),
        # Resolved by a person before anyone acked: that person answered in time.
        (
            {"status": IncidentStatus.resolved, "resolved_at": at(2), "resolved_by": "ann"},
            at(60),
            Outcome.met,
        ),
        # Cleared by itself within the target: nobody had to answer.
        (
            {"status": IncidentStatus.resolved, "resolved_at": at(2), "resolved_by": "auto"},
            at(60),
            Outcome.not_applicable,
        ),
        # Cleared by itself, but only after the target passed unanswered.
        (
            {"status": IncidentStatus.resolved, "resolved_at": at(9), "resolved_by": "auto"},
            at(60),
            Outcome.breached,
        ),
    ],
)
def test_p1_acknowledged_within_five_minutes(
    fields: dict[str, Any], now: datetime, expected: Outcome
) -> None:
    targets = severity.ack_targets(Settings())
    assert severity.outcome(incident(**fields), now, targets) == expected


def test_acked_in_time_answers_the_contract_question() -> None:
    assert severity.acked_in_time(incident(acknowledged_at=at(4)), at(60)) is True
    assert severity.acked_in_time(incident(acknowledged_at=at(6)), at(60)) is False
    assert severity.acked_in_time(incident(), at(1)) is None
    # A P3 has an hour.
    assert severity.acked_in_time(incident(Severity.P3, acknowledged_at=at(59)), at(60)) is True


def test_compliance_per_severity_over_a_period(session: Session) -> None:
    rows = [
        incident(acknowledged_at=at(1), status=IncidentStatus.acknowledged),
        incident(acknowledged_at=at(7), status=IncidentStatus.acknowledged),
        incident(acknowledged_at=at(2), status=IncidentStatus.acknowledged),
        incident(),  # open, past 5 minutes at `now`
        incident(Severity.P2),  # open, within 15 minutes
        incident(
            Severity.P4, status=IncidentStatus.resolved, resolved_at=at(3), resolved_by="auto"
        ),
    ]
    outside = incident(acknowledged_at=at(1))
    outside.created_at = T0 - timedelta(days=40)
    session.add_all([*rows, outside])
    session.commit()
    report = {
        r.severity.value: r
        for r in severity.compliance(
            session, at(10), T0 - timedelta(days=30), at(11), settings=Settings()
        )
    }
    p1 = report["P1"]
    assert (p1.incidents, p1.met, p1.breached, p1.pending, p1.ack_within_minutes) == (4, 2, 2, 0, 5)
    assert p1.ratio == 0.5
    assert (report["P2"].pending, report["P2"].ratio) == (1, None)
    assert report["P4"].not_applicable == 1
    assert report["P3"].incidents == 0
