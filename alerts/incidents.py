"""Incidents: firing alerts grouped by route, notified by group_wait / group_interval /
repeat_interval, escalated, and resolved when their alerts are.

`process` is one pass of the loop. It writes everything it decides in the caller's
transaction: the incident's `notified_state` (which alerts each notification covered, and
its sequence number) and the pending deliveries are committed together, and each
notification's dedupe key is `incident:<id>:notify:<seq>`, so a process killed at any
point and started again neither forgets an alert nor pages anyone twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts import dispatch, escalation
from alerts.grouping import Routes, group_of
from alerts.noise import Noise
from alerts.timeline import add_event
from inventory.crypto import SecretBox
from inventory.models import Alert, AlertRoute, AlertState, Incident, IncidentStatus, Severity

OPEN = (IncidentStatus.open, IncidentStatus.acknowledged)
CHUNK = 500
MAX_TITLE = 300


def _labels_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _title(alert: Alert, group_labels: dict[str, str]) -> str:
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    rest = {k: v for k, v in group_labels.items() if k != "alertname"}
    parts = [alert.name, f"({_labels_text(rest)})" if rest else "", summary]
    return " ".join(p for p in parts if p)[:MAX_TITLE]


def _open_incident(
    session: Session,
    alert: Alert,
    route: AlertRoute,
    key: str,
    group: dict[str, str],
    now: datetime,
) -> Incident:
    incident = Incident(
        group_key=key,
        group_labels=group,
        title=_title(alert, group),
        severity=alert.severity,
        status=IncidentStatus.open,
        route_id=route.id,
        first_notify_at=now + timedelta(seconds=route.group_wait_seconds),
        notified_state={"seq": 0, "firing": [], "resolved": []},
        cloud_id=alert.cloud_id,
        department_id=alert.department_id,
        created_at=now,
    )
    session.add(incident)
    session.flush()
    add_event(
        session,
        incident.id or 0,
        "created",
        at=now,
        detail=f"route {route.name}; group {_labels_text(group) or '(all)'}",
        data={"route_id": route.id, "group_labels": group},
    )
    escalation.start(session, incident, now)
    return incident


def _attach(session: Session, incident: Incident, alert: Alert, now: datetime) -> None:
    alert.incident_id = incident.id
    add_event(
        session,
        incident.id or 0,
        "alert_added",
        at=now,
        detail=f"{alert.name} {_labels_text(alert.labels)}",
        data={"alert_id": alert.id, "fingerprint": alert.fingerprint},
    )
    if alert.severity < incident.severity:  # "P1" < "P2": more urgent
        add_event(
            session,
            incident.id or 0,
            "severity",
            at=now,
            detail=f"{incident.severity.value} -> {alert.severity.value}",
            data={"from": incident.severity.value, "to": alert.severity.value},
        )
        incident.severity = Severity(alert.severity)


def _update_suppression(session: Session, noise: Noise, now: datetime) -> None:
    for alert in noise.firing:
        why = noise.why(alert)
        if why == alert.suppressed_by:
            continue
        alert.suppressed_by = why
        alert.updated_at = now
        if alert.incident_id is not None:
            add_event(
                session,
                alert.incident_id,
                "suppressed" if why else "unsuppressed",
                at=now,
                detail=f"{alert.name}: {why or 'notified again'}",
                data={"alert_id": alert.id, "why": why},
            )


def _group_new_alerts(session: Session, noise: Noise, routes: Routes, now: datetime) -> None:
    """Unsuppressed firing alerts without an incident join (or open) their group's.

    An alert whose incident was resolved by hand while it still fires stays with that
    incident; only a new episode (resolved, then firing again) opens a new one.
    """
    unsuppressed = [a for a in noise.firing if a.suppressed_by is None]
    closed = _resolved_at(session, {a.incident_id for a in unsuppressed if a.incident_id})
    waiting = [
        a
        for a in unsuppressed
        if a.incident_id is None
        or (a.incident_id in closed and a.active_since >= closed[a.incident_id])
    ]
    if not waiting:
        return
    rows = session.execute(
        sa.select(Incident).where(col(Incident.status).in_(OPEN)).order_by(col(Incident.id))
    ).scalars()
    by_key = {incident.group_key: incident for incident in rows}
    for alert in sorted(waiting, key=lambda a: (a.severity, a.id or 0)):
        route = routes.match(alert.labels)
        key, group = group_of(route, alert.labels)
        incident = by_key.get(key)
        if incident is None:
            incident = by_key[key] = _open_incident(session, alert, route, key, group, now)
        _attach(session, incident, alert, now)


def _resolved_at(session: Session, ids: set[int]) -> dict[int, datetime]:
    """Of these incidents, the resolved ones and when."""
    found: dict[int, datetime] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            sa.select(col(Incident.id), col(Incident.resolved_at)).where(
                col(Incident.id).in_(wanted[start : start + CHUNK]),
                col(Incident.status) == IncidentStatus.resolved,
            )
        ).all()
        found.update({int(i): at for i, at in rows if at is not None})
    return found


def notify(
    session: Session, incident: Incident, reason: str, now: datetime, members: list[Alert]
) -> None:
    """Queue one notification of the incident as it is now and remember what it covered."""
    state = dict(incident.notified_state or {})
    seq = int(state.get("seq", 0)) + 1
    dedupe = f"incident:{incident.id}:notify:{seq}"
    deliveries = dispatch.notify_incident(session, incident, reason=reason, now=now, dedupe=dedupe)
    firing, resolved = _firing_and_resolved(members)
    state.update(seq=seq, firing=sorted(firing), resolved=sorted(resolved))
    incident.notified_state = state  # a new dict, so the JSON column is written
    incident.last_notified_at = now
    add_event(
        session,
        incident.id or 0,
        "notified",
        at=now,
        detail=f"{reason}: {len(deliveries)} delivery(ies) queued"
        if deliveries
        else f"{reason}: no channel to notify"
        + (" (its escalation policy pages people)" if incident.escalation_policy_id else ""),
        data={
            "reason": reason,
            "seq": seq,
            "dedupe": dedupe,
            "deliveries": [
                {"id": d.id, "channel_id": d.channel_id, "user_id": d.user_id} for d in deliveries
            ],
        },
    )


def _firing_and_resolved(members: list[Alert]) -> tuple[set[str], set[str]]:
    firing = {
        a.fingerprint for a in members if a.state == AlertState.firing and a.suppressed_by is None
    }
    resolved = {a.fingerprint for a in members if a.state == AlertState.resolved}
    return firing, resolved


def _log_resolved_members(
    session: Session, incident: Incident, members: list[Alert], now: datetime
) -> None:
    logged = set((incident.notified_state or {}).get("logged_resolved", []))
    resolved = {a.fingerprint for a in members if a.state == AlertState.resolved}
    for alert in members:
        if (alert.fingerprint in resolved) == (alert.fingerprint in logged):
            continue
        add_event(
            session,
            incident.id or 0,
            "alert_resolved" if alert.fingerprint in resolved else "alert_refired",
            at=now,
            detail=f"{alert.name} {_labels_text(alert.labels)}",
            data={"alert_id": alert.id, "fingerprint": alert.fingerprint},
        )
    if resolved != logged:
        incident.notified_state = {**incident.notified_state, "logged_resolved": sorted(resolved)}


def remember_resolved(incident: Incident, fingerprints: list[str]) -> None:
    """These members' resolution is on the timeline already."""
    if not fingerprints:
        return
    state = dict(incident.notified_state or {})
    state["logged_resolved"] = sorted(set(state.get("logged_resolved", [])) | set(fingerprints))
    incident.notified_state = state


def close(
    session: Session, incident: Incident, members: list[Alert], now: datetime, *, by: str
) -> None:
    """Resolve the incident; those told it fired are told it is resolved."""
    incident.status = IncidentStatus.resolved
    incident.resolved_at = now
    incident.resolved_by = by[:64]
    incident.next_escalation_at = None
    add_event(
        session,
        incident.id or 0,
        "resolved",
        at=now,
        actor=by if by != "auto" else "system",
        detail="all alerts resolved" if by == "auto" else f"resolved by {by}",
    )
    if int((incident.notified_state or {}).get("seq", 0)) > 0:
        notify(session, incident, "resolved", now, members)


def _due_reason(
    incident: Incident, route: AlertRoute, members: list[Alert], now: datetime
) -> str | None:
    """What to notify now, if anything: Alertmanager's rules, per incident."""
    firing, resolved = _firing_and_resolved(members)
    if incident.last_notified_at is None:
        ready = incident.first_notify_at is None or now >= incident.first_notify_at
        return "firing" if firing and ready else None
    state = incident.notified_state or {}
    told_firing = set(state.get("firing", []))
    told_resolved = set(state.get("resolved", []))
    changed = bool(firing - told_firing) or bool((resolved & told_firing) - told_resolved)
    since = now - incident.last_notified_at
    if changed and since >= timedelta(seconds=route.group_interval_seconds):
        return "firing"
    # Acknowledged means someone is on it: changes are still sent, reminders are not.
    if (
        not changed
        and firing
        and incident.status == IncidentStatus.open
        and since >= timedelta(seconds=route.repeat_interval_seconds)
    ):
        return "repeat"
    return None


def process(session: Session, box: SecretBox, now: datetime) -> None:
    """One pass: update suppression, group new firing alerts into incidents, notify what is
    due, resolve incidents whose alerts all resolved. The caller commits (alerts.loop does,
    after each step). `box` is accepted for symmetry with the other loop steps; sending
    (which decrypts channel secrets) is dispatch.send_due's job."""
    del box
    routes = Routes.load(session)
    noise = Noise.load(session, now)
    _update_suppression(session, noise, now)
    _group_new_alerts(session, noise, routes, now)
    session.flush()
    incidents = list(
        session.execute(
            sa.select(Incident).where(col(Incident.status).in_(OPEN)).order_by(col(Incident.id))
        ).scalars()
    )
    members: dict[int, list[Alert]] = defaultdict(list)
    ids = [i.id for i in incidents]
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            sa.select(Alert).where(col(Alert.incident_id).in_(ids[start : start + CHUNK]))
        ).scalars()
        for alert in rows:
            members[alert.incident_id or 0].append(alert)
    for incident in incidents:
        mine = members[incident.id or 0]
        _log_resolved_members(session, incident, mine, now)
        if mine and all(a.state == AlertState.resolved for a in mine):
            close(session, incident, mine, now, by="auto")
            continue
        reason = _due_reason(incident, routes.of(incident.route_id), mine, now)
        if reason:
            notify(session, incident, reason, now, mine)
    session.flush()


def members_of(session: Session, incident_id: int) -> list[Alert]:
    return list(
        session.execute(
            sa.select(Alert).where(col(Alert.incident_id) == incident_id).order_by(col(Alert.id))
        ).scalars()
    )
