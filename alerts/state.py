"""Alert state: pending -> firing -> resolved, keyed by the fingerprint of the labels.

Every round of a rule group (or every Alertmanager post) comes through here and is written
to the database at once, so a restarted process picks up exactly where the old one stopped:
pending alerts keep their `active_since`, firing ones stay firing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts.fingerprint import fingerprint
from alerts.intake import WebhookAlert, parse_payload
from inventory.errors import Invalid
from inventory.models import Alert, AlertSource, AlertState, Cloud, Department, Severity

SEVERITY_WORDS: dict[str, Severity] = {
    "critical": Severity.P1,
    "page": Severity.P1,
    "error": Severity.P2,
    "major": Severity.P2,
    "high": Severity.P2,
    "warning": Severity.P3,
    "minor": Severity.P3,
    "info": Severity.P4,
    "low": Severity.P4,
    "none": Severity.P4,
    **{s.value.lower(): s for s in Severity},
}
ALERTMANAGER_SOURCE_KEY = "alertmanager"
CHUNK = 500  # fingerprints per IN (...) query

# An unchanged firing alert is rewritten (value, last_seen_at) at most this often.
SEEN_REFRESH_SECONDS = 300


def severity_of(labels: dict[str, str]) -> Severity:
    """labels["severity"]: critical -> P1, error/major -> P2, warning -> P3, info -> P4, or
    P1..P4 themselves; anything else (or none) is P3."""
    return SEVERITY_WORDS.get(labels.get("severity", "").strip().lower(), Severity.P3)


@dataclass
class Observation:
    """One series for which a rule's condition holds in this round."""

    labels: dict[str, str]  # alertname included
    annotations: dict[str, str]
    value: float | None
    source: AlertSource
    for_seconds: float = 0
    keep_firing_for_seconds: float = 0
    generator_url: str | None = None
    # When the condition became true, if the sender knows (Alertmanager's startsAt).
    active_since: datetime | None = field(default=None, repr=False)


class _Refs:
    """Cloud names and department codes to ids, read once per round."""

    def __init__(self, session: Session) -> None:
        clouds = session.execute(sa.select(col(Cloud.id), col(Cloud.name))).all()
        departments = session.execute(sa.select(col(Department.id), col(Department.code))).all()
        self.clouds = {name: id_ for id_, name in clouds} | {str(i): i for i, _ in clouds}
        self.departments = {code: i for i, code in departments} | {
            str(i): i for i, _ in departments
        }

    def cloud_id(self, labels: dict[str, str]) -> int | None:
        return self.clouds.get(labels.get("cloud_id", "")) or self.clouds.get(
            labels.get("cloud", "")
        )

    def department_id(self, labels: dict[str, str]) -> int | None:
        return self.departments.get(labels.get("department", ""))


def _existing(session: Session, fingerprints: Iterable[str]) -> dict[str, Alert]:
    wanted = list(fingerprints)
    found: dict[str, Alert] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            sa.select(Alert).where(col(Alert.fingerprint).in_(wanted[start : start + CHUNK]))
        ).scalars()
        found.update({row.fingerprint: row for row in rows})
    return found


def _start_episode(alert: Alert, since: datetime) -> None:
    """A resolved alert whose condition holds again: a new episode. It keeps its incident
    link: if that incident is still open the alert fires in it again; if it was resolved,
    alerts.incidents sees an episode newer than the resolution and opens a new one."""
    alert.active_since = since
    alert.fired_at = None
    alert.resolved_at = None
    alert.keep_firing_until = None
    alert.acked_by = None
    alert.acked_at = None
    alert.suppressed_by = None


def _present(
    session: Session,
    alert: Alert | None,
    fp: str,
    obs: Observation,
    source_key: str,
    refs: _Refs,
    now: datetime,
) -> Alert:
    since = obs.active_since or now
    if alert is None:
        alert = Alert(
            fingerprint=fp,
            source=obs.source,
            name="",
            state=AlertState.pending,
            active_since=since,
        )
        session.add(alert)
    elif alert.state == AlertState.resolved:
        _start_episode(alert, since)
        alert.state = AlertState.pending
    if alert.state == AlertState.pending and now - alert.active_since >= timedelta(
        seconds=obs.for_seconds
    ):
        alert.state = AlertState.firing
        # Alertmanager's alerts fired at their startsAt; ours when `for` ran out, i.e. now.
        alert.fired_at = since if obs.active_since is not None else now
    before = _meaningful(alert)
    alert.keep_firing_until = None  # the condition holds (again)
    alert.source = obs.source
    alert.source_key = source_key
    alert.name = obs.labels.get("alertname", "(no alertname)")[:200]
    alert.labels = dict(obs.labels)
    alert.annotations = dict(obs.annotations)
    alert.severity = severity_of(obs.labels)
    alert.generator_url = obs.generator_url
    alert.keep_firing_for_seconds = obs.keep_firing_for_seconds
    alert.cloud_id = refs.cloud_id(obs.labels)
    alert.department_id = refs.department_id(obs.labels)
    if (
        alert.id is not None
        and _meaningful(alert) == before
        and (now - alert.last_seen_at < timedelta(seconds=SEEN_REFRESH_SECONDS))
    ):
        # Nothing but the sample value changed: no write. At 1,000 firing alerts a write per
        # round would be millions of rows a day; the value and last_seen_at are refreshed
        # every few minutes instead.
        return alert
    alert.value = obs.value
    alert.last_seen_at = now
    alert.updated_at = now
    return alert


def _meaningful(alert: Alert) -> tuple[object, ...]:
    """What a reader or the incident logic acts on (not the sample value)."""
    return (
        alert.state,
        alert.fired_at,
        alert.active_since,
        alert.keep_firing_until,
        alert.source_key,
        alert.labels,
        alert.annotations,
        alert.severity,
        alert.generator_url,
        alert.keep_firing_for_seconds,
    )


def _resolve(alert: Alert, at: datetime, now: datetime) -> None:
    alert.state = AlertState.resolved
    alert.resolved_at = at
    alert.keep_firing_until = None
    alert.updated_at = now


def _absent(alert: Alert, now: datetime) -> bool:
    """The condition no longer holds; True if the alert resolved now. A pending alert
    never fired and simply ends; a firing one holds on for keep_firing_for first."""
    if alert.state == AlertState.firing and alert.keep_firing_for_seconds > 0:
        if alert.keep_firing_until is None:
            # Like Prometheus: keep_firing_for counts from the first round without it.
            alert.keep_firing_until = now + timedelta(seconds=alert.keep_firing_for_seconds)
            alert.updated_at = now
        if now < alert.keep_firing_until:
            return False
    _resolve(alert, now, now)
    return True


def _check(observation: Observation, where: str) -> None:
    if not observation.labels:
        raise Invalid.of("alert.no_labels", field=f"{where}.labels")
    if observation.for_seconds < 0 or observation.keep_firing_for_seconds < 0:
        raise Invalid.of("alert.negative_for", field=f"{where}.for")


def observe(
    session: Session,
    source_key: str,
    observations: list[Observation],
    now: datetime,
    *,
    complete: bool,
) -> list[Alert]:
    """One evaluation round of one source (a rule group, the estate rules, ...).

    New series start pending (firing at once when `for` is 0), pending ones fire once
    `for` has passed. When the round is `complete`, this source's alerts that are missing
    resolve (after keep_firing_for); an incomplete round (a failed query) resolves nothing,
    so a Prometheus outage never reads as "all clear". Returns the alerts touched.
    """
    if not source_key or len(source_key) > 200:
        raise Invalid.of("alert.source_key", field="source_key")
    by_fp: dict[str, Observation] = {}
    for index, observation in enumerate(observations):
        _check(observation, f"observations[{index}]")
        by_fp[fingerprint(observation.labels)] = observation  # a duplicate series: last wins
    refs = _Refs(session)
    existing = _existing(session, by_fp)
    touched = [
        _present(session, existing.get(fp), fp, obs, source_key, refs, now)
        for fp, obs in by_fp.items()
    ]
    if complete:
        active = session.execute(
            sa.select(Alert).where(
                col(Alert.source_key) == source_key, col(Alert.state) != AlertState.resolved
            )
        ).scalars()
        for alert in active:
            if alert.fingerprint not in by_fp:
                _absent(alert, now)
                touched.append(alert)
    session.flush()
    return touched


def _sane(value: datetime | None, now: datetime) -> datetime | None:
    """Alertmanager's zero time (0001-01-01) and times in the future mean "not known"."""
    if value is None or value.year <= 1 or value > now + timedelta(minutes=5):
        return None
    return value.astimezone(UTC)


def _observation(item: WebhookAlert, now: datetime) -> Observation:
    return Observation(
        labels=dict(item.labels),
        annotations=dict(item.annotations),
        value=None,
        source=AlertSource.alertmanager,
        generator_url=item.generatorURL,
        active_since=min(_sane(item.startsAt, now) or now, now),
    )


def ingest_alertmanager(session: Session, payload: dict[str, Any], now: datetime) -> list[Alert]:
    """An Alertmanager webhook (version "4"): firing alerts fire at once (Alertmanager has
    applied `for` already), resolved ones resolve, even if Yunheng never saw them fire (so
    the history is complete). A bad payload raises Invalid before anything is written."""
    parsed = parse_payload(payload)
    refs = _Refs(session)
    # Last status wins for a series listed twice; order kept for the answer.
    latest: dict[str, WebhookAlert] = {fingerprint(a.labels): a for a in parsed.alerts}
    existing = _existing(session, latest)
    touched: list[Alert] = []
    for fp, item in latest.items():
        obs = _observation(item, now)
        alert = existing.get(fp)
        if item.status == "firing":
            touched.append(_present(session, alert, fp, obs, ALERTMANAGER_SOURCE_KEY, refs, now))
            continue
        ended = min(_sane(item.endsAt, now) or now, now)
        if alert is None:
            alert = _present(session, None, fp, obs, ALERTMANAGER_SOURCE_KEY, refs, now)
            _resolve(alert, ended, now)
        elif alert.state != AlertState.resolved:
            _resolve(alert, max(ended, alert.active_since), now)
            alert.last_seen_at = now
        touched.append(alert)
    session.flush()
    return touched
