"""Writing the demo's simulated incident history: episodes in, Alert, Incident and
IncidentEvent rows out, as the alerting loop would have left them.

Rows are written directly, not by replaying `alerts.state.observe` / `alerts.incidents.process`
at past instants: replaying would queue 90 days of deliveries for the live loop to send and
start escalations, which is exactly what backdating must not do. What the loop's own code
decides is reused instead: fingerprints (`alerts.fingerprint`), severities from labels
(`alerts.state.severity_of`) and incident groups from the route (`alerts.grouping.group_of`),
and the timeline goes through `alerts.timeline.add_event` with the loop's event kinds.

Decisions:
- One Alert row per series, ever (the model's rule): a series seen in several episodes keeps
  the latest one; earlier incidents still name it on their timelines. A series the live loop
  already wrote (a demo run before the history) is left as the loop left it.
- A still-open episode's alerts come from the Alertmanager source, which no complete round
  resolves, so the live loop keeps them open instead of closing them at its first pass; a
  resolved episode's estate alerts carry their built-in source, like the live rules'.
- A manual resolution closes the incident while its alert still fires (the alert clears a
  little later, unlogged, as the loop does for resolved incidents); an automatic one is the
  alert clearing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts.builtin import BUILTIN_RULES
from alerts.fingerprint import fingerprint
from alerts.grouping import default_route, group_of
from alerts.severity import AUTO
from alerts.state import ALERTMANAGER_SOURCE_KEY, severity_of
from alerts.timeline import add_event
from inventory.access import SYSTEM_ACTOR
from inventory.models import (
    Alert,
    AlertRoute,
    AlertSource,
    AlertState,
    Cloud,
    Department,
    Incident,
    IncidentStatus,
)

BUILTIN_NAMES = {rule.name for rule in BUILTIN_RULES}
NOTIFY_AFTER = timedelta(seconds=10)  # the demo route's group_wait
ALERT_CLEARS_AFTER = timedelta(minutes=2)  # after a manual resolution
CHUNK = 500


@dataclass
class Episode:
    """One incident as it happened: its alerts' label sets (the first decides the group),
    when it started, and how long until a person acked and until it was resolved."""

    series: list[dict[str, str]]
    summary: str
    start: datetime
    ack_after: timedelta | None = None  # None: nobody acknowledged it
    resolve_after: timedelta | None = None  # None: still open
    resolved_by: str = AUTO  # "auto" (the alerts cleared) or the username who resolved it
    acked_by: str = "oncall"
    notes: list[tuple[str, str]] = field(default_factory=list)  # (author, text) after the end

    @property
    def acked_at(self) -> datetime | None:
        return self.start + self.ack_after if self.ack_after is not None else None

    @property
    def resolved_at(self) -> datetime | None:
        return self.start + self.resolve_after if self.resolve_after is not None else None


def _existing(session: Session, fingerprints: list[str]) -> dict[str, Alert]:
    found: dict[str, Alert] = {}
    for begin in range(0, len(fingerprints), CHUNK):
        rows = session.execute(
            sa.select(Alert).where(col(Alert.fingerprint).in_(fingerprints[begin : begin + CHUNK]))
        ).scalars()
        found.update({row.fingerprint: row for row in rows})
    return found


class _Writer:
    def __init__(self, session: Session, now: datetime, route: AlertRoute | None) -> None:
        self.session = session
        self.now = now
        self.route = route or default_route()
        self.clouds = {
            name: id_ for id_, name in session.execute(sa.select(col(Cloud.id), col(Cloud.name)))
        }
        self.departments = {
            code: id_
            for id_, code in session.execute(sa.select(col(Department.id), col(Department.code)))
        }

    def alert(self, labels: dict[str, str], episode: Episode, summary: str) -> Alert:
        """A new Alert row for this series, in the state this episode left it."""
        name = labels["alertname"]
        builtin = name in BUILTIN_NAMES and episode.resolved_at is not None
        alert = Alert(
            fingerprint=fingerprint(labels),
            source=AlertSource.builtin if builtin else AlertSource.alertmanager,
            source_key=f"builtin:{name}" if builtin else ALERTMANAGER_SOURCE_KEY,
            name=name,
            labels=dict(labels),
            annotations={"summary": summary},
            state=AlertState.firing,
            active_since=episode.start,
        )
        self.update(alert, episode)
        return alert

    def update(self, alert: Alert, episode: Episode) -> None:
        """Move a history-made alert on to this (later) episode."""
        end = episode.resolved_at
        if end is not None and episode.resolved_by != AUTO:
            end += ALERT_CLEARS_AFTER
        alert.severity = severity_of(alert.labels)
        alert.state = AlertState.resolved if end is not None else AlertState.firing
        alert.value = 1.0
        alert.active_since = alert.fired_at = episode.start
        alert.resolved_at = end
        alert.last_seen_at = alert.updated_at = min(end or self.now, self.now)
        alert.acked_by = episode.acked_by if episode.acked_at else None
        alert.acked_at = episode.acked_at
        alert.cloud_id = self.clouds.get(alert.labels.get("cloud", ""))
        alert.department_id = self.departments.get(alert.labels.get("department", ""))

    def incident(self, episode: Episode, alerts: list[Alert]) -> Incident:
        key, group = group_of(self.route, episode.series[0])
        rest = ", ".join(f"{k}={v}" for k, v in sorted(group.items()) if k != "alertname")
        name = episode.series[0]["alertname"]
        title = " ".join(p for p in (name, f"({rest})" if rest else "", episode.summary) if p)
        end, acked = episode.resolved_at, episode.acked_at
        firing = sorted(a.fingerprint for a in alerts)
        return Incident(
            group_key=key,
            group_labels=group,
            title=title[:300],
            severity=min(a.severity for a in alerts),  # "P1" < "P2": the most urgent
            status=(
                IncidentStatus.resolved
                if end is not None
                else IncidentStatus.acknowledged
                if acked is not None
                else IncidentStatus.open
            ),
            route_id=self.route.id,
            escalation_policy_id=self.route.escalation_policy_id,
            first_notify_at=episode.start + NOTIFY_AFTER,
            last_notified_at=end or episode.start + NOTIFY_AFTER,
            notified_state={
                "seq": 2 if end is not None else 1,
                "firing": [] if end is not None else firing,
                "resolved": firing if end is not None else [],
                "logged_resolved": firing if end is not None else [],
            },
            cloud_id=alerts[0].cloud_id,
            department_id=alerts[0].department_id,
            created_at=episode.start,
            acknowledged_at=acked,
            acknowledged_by=episode.acked_by if acked is not None else None,
            resolved_at=end,
            resolved_by=episode.resolved_by if end is not None else None,
        )

    def timeline(self, incident: Incident, episode: Episode, alerts: list[Alert]) -> None:
        iid, start = incident.id or 0, episode.start
        add_event(
            self.session,
            iid,
            "created",
            at=start,
            detail=f"route {self.route.name}; group "
            + (", ".join(f"{k}={v}" for k, v in sorted(incident.group_labels.items())) or "(all)"),
            data={"route_id": self.route.id, "group_labels": incident.group_labels},
        )
        for alert in alerts:
            add_event(
                self.session,
                iid,
                "alert_added",
                at=start,
                detail=f"{alert.name} "
                + ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())),
                data={"alert_id": alert.id, "fingerprint": alert.fingerprint},
            )
        self._notified(iid, "firing", 1, start + NOTIFY_AFTER)
        if episode.acked_at is not None:
            add_event(self.session, iid, "acked", at=episode.acked_at, actor=episode.acked_by)
        end = episode.resolved_at
        if end is None:
            return
        if episode.resolved_by == AUTO:
            for alert in alerts:
                add_event(
                    self.session,
                    iid,
                    "alert_resolved",
                    at=end,
                    detail=f"{alert.name} cleared",
                    data={"alert_id": alert.id, "fingerprint": alert.fingerprint},
                )
            add_event(self.session, iid, "resolved", at=end, detail="all alerts resolved")
        else:
            add_event(
                self.session,
                iid,
                "resolved",
                at=end,
                actor=episode.resolved_by,
                detail=f"resolved by {episode.resolved_by}",
            )
        self._notified(iid, "resolved", 2, end)
        for i, (author, text) in enumerate(episode.notes, start=1):
            at = end + timedelta(minutes=30 * i)
            if at <= self.now:
                add_event(self.session, iid, "note", at=at, actor=author, detail=text)

    def _notified(self, incident_id: int, reason: str, seq: int, at: datetime) -> None:
        add_event(
            self.session,
            incident_id,
            "notified",
            at=at,
            actor=SYSTEM_ACTOR,
            detail=f"{reason}: the on-call inbox (simulated history; no delivery kept)",
            data={"reason": reason, "seq": seq, "history": True},
        )


def write_episodes(
    session: Session, episodes: list[Episode], now: datetime, route: AlertRoute | None
) -> tuple[int, int]:
    """Write the episodes (in any order) as alerts, incidents and timelines, in three batched
    flushes. Returns (incidents, alerts written)."""
    writer = _Writer(session, now, route)
    ordered = sorted(episodes, key=lambda e: e.start)
    wanted = sorted({fingerprint(s) for e in ordered for s in e.series})
    live = _existing(session, wanted)  # written by the live loop: left alone
    made: dict[str, Alert] = {}
    members: list[list[Alert]] = []
    for episode in ordered:
        alerts = []
        for labels in episode.series:
            fp = fingerprint(labels)
            alert = live.get(fp) or made.get(fp)
            if alert is None:
                alert = made[fp] = writer.alert(labels, episode, episode.summary)
            elif fp in made:
                writer.update(alert, episode)
            alerts.append(alert)
        members.append(alerts)
    session.add_all(made.values())
    session.flush()
    incidents = [writer.incident(e, m) for e, m in zip(ordered, members, strict=True)]
    session.add_all(incidents)
    session.flush()
    for incident, episode, alerts in zip(incidents, ordered, members, strict=True):
        for alert in alerts:
            if alert.fingerprint in made and alert.active_since == episode.start:
                alert.incident_id = incident.id  # the alert's latest episode is this one
        writer.timeline(incident, episode, alerts)
    session.flush()
    return len(incidents), len(made)
