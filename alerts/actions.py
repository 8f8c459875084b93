"""What people do to incidents and alerts: acknowledge, resolve, escalate, add a note.

On-call staff and admins act; every action lands on the incident's timeline and in the
audit log. Acting twice (acknowledging an acknowledged incident, resolving a resolved one)
is a 409 saying who did it first, not a silent success.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from alerts import escalation
from alerts.incidents import close, members_of, remember_resolved
from alerts.timeline import add_event
from inventory import audit
from inventory.access import Viewer
from inventory.errors import Conflict, Invalid, NotFound
from inventory.models import Alert, AlertState, Incident, IncidentStatus, Role

ACTORS = (Role.oncall, Role.admin)
MAX_NOTE = 4000


def load_incident(session: Session, viewer: Viewer, incident_id: int) -> Incident:
    """The incident, if the viewer may see it; another department's answers like a
    missing one (404), never 403, so ids do not leak what exists."""
    incident = session.get(Incident, incident_id)
    if incident is None or (
        viewer.is_department and incident.department_id != viewer.department_id
    ):
        raise NotFound.of("incident.not_found", incident=incident_id)
    return incident


def load_alert(session: Session, viewer: Viewer, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or (viewer.is_department and alert.department_id != viewer.department_id):
        raise NotFound.of("alert.not_found", alert=alert_id)
    return alert


def _still_open(incident: Incident) -> None:
    if incident.status == IncidentStatus.resolved:
        if incident.resolved_at is None:
            raise Conflict.of("incident.resolved", incident=incident.id)
        raise Conflict.of(
            "incident.resolved_by",
            incident=incident.id,
            who=incident.resolved_by,
            at=f"{incident.resolved_at:%Y-%m-%d %H:%M:%S}",
        )


def _audit(
    session: Session, viewer: Viewer, action: str, incident: Incident, detail: str = ""
) -> None:
    audit.record(
        session,
        actor=viewer.username,
        action=action,
        target_type="incident",
        target_id=incident.id,
        after={"status": incident.status.value},
        detail=detail or None,
    )


def _acknowledge(session: Session, viewer: Viewer, incident: Incident, now: datetime) -> None:
    incident.status = IncidentStatus.acknowledged
    incident.acknowledged_at = now
    incident.acknowledged_by = viewer.username[:64]
    for alert in members_of(session, incident.id or 0):
        if alert.state != AlertState.resolved and alert.acked_at is None:
            alert.acked_by, alert.acked_at, alert.updated_at = viewer.username[:64], now, now
    add_event(session, incident.id or 0, "acked", at=now, actor=viewer.username)
    _audit(session, viewer, "incident.ack", incident)


def ack(session: Session, viewer: Viewer, incident_id: int, now: datetime) -> Incident:
    """Someone is on it: escalation stops and reminders ("repeat") are no longer sent."""
    viewer.require(*ACTORS)
    incident = load_incident(session, viewer, incident_id)
    _still_open(incident)
    if incident.status == IncidentStatus.acknowledged:
        raise Conflict.of(
            "incident.acknowledged", incident=incident_id, who=incident.acknowledged_by
        )
    _acknowledge(session, viewer, incident, now)
    session.flush()
    return incident


def resolve(
    session: Session, viewer: Viewer, incident_id: int, now: datetime, comment: str = ""
) -> Incident:
    """Resolved by hand; its alerts keep their own state (one still firing stays with this
    incident and opens a new one only if it resolves and fires again)."""
    viewer.require(*ACTORS)
    incident = load_incident(session, viewer, incident_id)
    _still_open(incident)
    close(session, incident, members_of(session, incident_id), now, by=viewer.username)
    if comment.strip():
        add_event(session, incident_id, "note", at=now, actor=viewer.username, detail=comment)
    _audit(session, viewer, "incident.resolve", incident, comment.strip())
    session.flush()
    return incident


def escalate(session: Session, viewer: Viewer, incident_id: int, now: datetime) -> Incident:
    """Page the next step of the escalation policy now, without waiting for it."""
    viewer.require(*ACTORS)
    incident = load_incident(session, viewer, incident_id)
    _still_open(incident)
    # The escalation module writes the "escalated" timeline event, naming whom it paged.
    run = escalation.escalate_now(session, incident, now, actor=viewer.username)
    paged = [u.username for u in run.users] + [c.name for c in run.channels]
    _audit(session, viewer, "incident.escalate", incident, f"paged {', '.join(paged) or 'nobody'}")
    session.flush()
    return incident


def add_note(session: Session, viewer: Viewer, incident_id: int, text: str, now: datetime) -> None:
    """A note on the timeline; resolved incidents take notes too (the post-mortem)."""
    viewer.require(*ACTORS)
    text = text.strip()
    if not text:
        raise Invalid.of("note.blank", field="text")
    if len(text) > MAX_NOTE:
        raise Invalid.of("note.too_long", field="text", limit=MAX_NOTE)
    incident = load_incident(session, viewer, incident_id)
    add_event(session, incident_id, "note", at=now, actor=viewer.username, detail=text)
    _audit(session, viewer, "incident.note", incident, text[:200])
    session.flush()


def ack_alert(session: Session, viewer: Viewer, alert_id: int, now: datetime) -> Alert:
    """Acknowledge an alert, and with it its incident if that is still open."""
    viewer.require(*ACTORS)
    alert = load_alert(session, viewer, alert_id)
    if alert.state == AlertState.resolved:
        raise Conflict.of("alert.resolved", alert=alert_id)
    if alert.acked_at is not None:
        raise Conflict.of("alert.acknowledged", alert=alert_id, who=alert.acked_by)
    alert.acked_by, alert.acked_at, alert.updated_at = viewer.username[:64], now, now
    incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
    if incident is not None and incident.status == IncidentStatus.open:
        _acknowledge(session, viewer, incident, now)
    audit.record(
        session,
        actor=viewer.username,
        action="alert.ack",
        target_type="alert",
        target_id=alert.id,
        after={"acked_by": alert.acked_by},
    )
    session.flush()
    return alert


def resolve_alert(session: Session, viewer: Viewer, alert_id: int, now: datetime) -> Alert:
    """Mark an alert resolved by hand: for a sender that will never say so (an Alertmanager
    that lost it). If its rule still holds, the next round starts a new episode."""
    viewer.require(*ACTORS)
    alert = load_alert(session, viewer, alert_id)
    if alert.state == AlertState.resolved:
        raise Conflict.of("alert.already_resolved", alert=alert_id)
    before = alert.state.value
    alert.state = AlertState.resolved
    alert.resolved_at, alert.updated_at, alert.keep_firing_until = now, now, None
    incident = session.get(Incident, alert.incident_id) if alert.incident_id else None
    if incident is not None and alert.incident_id is not None:
        remember_resolved(incident, [alert.fingerprint])  # process() must not log it again
        add_event(
            session,
            alert.incident_id,
            "alert_resolved",
            at=now,
            actor=viewer.username,
            detail=f"{alert.name} resolved by {viewer.username}",
            data={"alert_id": alert.id, "fingerprint": alert.fingerprint},
        )
    audit.record(
        session,
        actor=viewer.username,
        action="alert.resolve",
        target_type="alert",
        target_id=alert.id,
        before={"state": before},
        after={"state": "resolved"},
    )
    session.flush()
    return alert
