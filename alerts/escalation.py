"""Escalation: page an unacknowledged incident's policy steps in turn until someone acks.

State lives on the incident (policy, the next step, the round, when it is due), so a
restart carries on where it stopped. Each step run pages through
`alerts.dispatch.notify_incident` with the dedupe key `incident:<id>:step:<n>:round:<r>`
and advances the incident in the same transaction: running `escalate_due` twice, or again
after a crash before the commit, finds the same delivery rows instead of paging twice.

Timing: a step is due `wait_minutes` after the previous step actually paged (the first
after the incident opened, and not before the route's group_wait has passed), so everyone
gets the full wait to acknowledge even after a restart; steps with no wait between them
page together. After the last step the list
repeats `repeat` times, a round starting step 0's wait after the last step (or the last
step's wait, when step 0 has none). A step whose targets reach nobody (a gap in a rotation,
a deleted channel) pages the active admins instead: an alert is never dropped in silence.
The caller commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts import dispatch
from alerts.oncall import on_call
from alerts.oncall_schemas import repeat_gap
from alerts.timeline import add_event
from inventory.access import SYSTEM_ACTOR
from inventory.errors import Conflict, NotFound
from inventory.models import (
    Alert,
    AlertRoute,
    AlertState,
    Delivery,
    EscalationPolicy,
    Incident,
    IncidentStatus,
    NotificationChannel,
    Role,
    Rotation,
    User,
)
from inventory.settings import Settings, get_settings

log = logging.getLogger(__name__)
BATCH = 200  # incidents per escalate_due call; the rest wait for the next cycle


def _policy_of(session: Session, incident: Incident, settings: Settings) -> EscalationPolicy | None:
    """The incident's own policy, else its route's, else the default policy by name."""
    for policy_id in (incident.escalation_policy_id, _route_policy(session, incident)):
        if policy_id is not None:
            policy = session.get(EscalationPolicy, policy_id)
            if policy is not None:
                return policy
    return session.execute(
        sa.select(EscalationPolicy).where(
            col(EscalationPolicy.name) == settings.default_escalation_policy
        )
    ).scalar_one_or_none()


def _route_policy(session: Session, incident: Incident) -> int | None:
    route = session.get(AlertRoute, incident.route_id) if incident.route_id else None
    return route.escalation_policy_id if route else None


def _started(incident: Incident) -> bool:
    return bool(
        incident.next_escalation_at is not None
        or incident.escalation_step
        or incident.escalation_round
    )


def _wait(step: dict[str, Any]) -> timedelta:
    return timedelta(minutes=int(step.get("wait_minutes", 0)))


def start(
    session: Session, incident: Incident, now: datetime, *, settings: Settings | None = None
) -> EscalationPolicy | None:
    """Attach a new incident to its escalation policy, step 0 due after step 0's wait.
    Idempotent: an incident already escalating is left as it is."""
    if incident.status == IncidentStatus.resolved or _started(incident):
        return None
    policy = _policy_of(session, incident, settings or get_settings())
    if policy is None or not policy.steps:
        incident.escalation_policy_id = None
        session.add(incident)
        return None
    incident.escalation_policy_id = policy.id
    incident.escalation_step = 0
    incident.escalation_round = 0
    # Not before the route's group_wait: the first page then covers the grouped alerts.
    incident.next_escalation_at = max(now + _wait(policy.steps[0]), incident.first_notify_at or now)
    session.add(incident)
    add_event(
        session,
        incident.id or 0,
        "escalation_started",
        at=now,
        detail=f"escalation policy {policy.name}: {len(policy.steps)} step(s), repeated "
        f"{policy.repeat} time(s); first page at {incident.next_escalation_at.isoformat()}",
        data={"policy_id": policy.id, "policy": policy.name},
    )
    return policy


@dataclass
class StepRun:
    """What one step did: whom it paged and the deliveries queued (found, after a rerun)."""

    step: int
    round: int
    users: list[User] = field(default_factory=list)
    channels: list[NotificationChannel] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fallback: bool = False


def _targets(session: Session, step: dict[str, Any], now: datetime, run: StepRun) -> None:
    users: dict[int, User] = {}
    channels: dict[int, NotificationChannel] = {}
    for target in step.get("targets", []):
        kind, target_id = target.get("type"), int(target.get("id", 0))
        if kind == "rotation":
            try:
                people = on_call(session, target_id, now)
            except NotFound:
                run.problems.append(f"rotation {target_id} no longer exists")
                continue
            except (OverflowError, ValueError) as exc:  # bad stored data: page the others
                run.problems.append(f"rotation {target_id} cannot be worked out: {exc}")
                continue
            if not people:
                rotation = session.get(Rotation, target_id)
                run.problems.append(
                    f"nobody is on call in rotation {rotation.name if rotation else target_id}"
                )
            users.update((u.id or 0, u) for u in people)
        elif kind == "user":
            user = session.get(User, target_id)
            if user is None or not user.is_active:
                run.problems.append(f"user {target_id} is missing or deactivated")
            else:
                users[target_id] = user
        elif kind == "channel":
            channel = session.get(NotificationChannel, target_id)
            if channel is None or not channel.enabled:
                run.problems.append(f"channel {target_id} is missing or disabled")
            else:
                channels[target_id] = channel
        else:
            run.problems.append(f"unknown target type {kind!r}")
    run.users, run.channels = list(users.values()), list(channels.values())


def _admins(session: Session) -> list[User]:
    return list(
        session.execute(
            sa.select(User)
            .where(col(User.role) == Role.admin, col(User.is_active).is_(True))
            .order_by(col(User.id))
        ).scalars()
    )


def _run_step(
    session: Session, incident: Incident, policy: EscalationPolicy, now: datetime, actor: str
) -> StepRun | None:
    """Page the incident's next step and move it on; None if the policy has no such step
    (it was shortened while the incident escalated): then escalation ends."""
    n, r = incident.escalation_step, incident.escalation_round
    if n >= len(policy.steps):
        _finish(session, incident, policy, now, "the policy has no further step")
        return None
    run = StepRun(step=n, round=r)
    _targets(session, policy.steps[n], now, run)
    if not run.users and not run.channels:
        run.users, run.fallback = _admins(session), True
        log.warning(
            "incident %s step %s reaches nobody (%s); paging admins",
            incident.id,
            n,
            "; ".join(run.problems),
        )
    dedupe = f"incident:{incident.id}:step:{n}:round:{r}"
    run.deliveries = dispatch.notify_incident(
        session,
        incident,
        reason="escalation",
        now=now,
        dedupe=dedupe,
        users=run.users,
        channels=run.channels,
    )
    whom = [u.username for u in run.users] + [c.name for c in run.channels]
    add_event(
        session,
        incident.id or 0,
        "escalated",
        at=now,
        actor=actor,
        detail=f"step {n + 1}/{len(policy.steps)}"
        + (f", round {r + 1}" if r else "")
        + f" of {policy.name}: paged {', '.join(whom) or 'nobody'}"
        + (" (admins: the step reached nobody)" if run.fallback else "")
        + (f"; {'; '.join(run.problems)}" if run.problems else ""),
        data={
            "policy_id": policy.id,
            "policy": policy.name,
            "step": n,
            "round": r,
            "users": [u.username for u in run.users],
            "channels": [c.name for c in run.channels],
            "deliveries": [d.id for d in run.deliveries],
            "problems": run.problems,
            "fallback": run.fallback,
        },
    )
    _advance(session, incident, policy, now)
    return run


def _advance(session: Session, incident: Incident, policy: EscalationPolicy, now: datetime) -> None:
    steps = policy.steps
    following = incident.escalation_step + 1
    if following < len(steps):
        incident.escalation_step = following
        incident.next_escalation_at = now + _wait(steps[following])
    elif incident.escalation_round < policy.repeat:
        incident.escalation_step = 0
        incident.escalation_round += 1
        incident.next_escalation_at = now + timedelta(minutes=repeat_gap(steps))
    else:
        incident.escalation_step = len(steps)
        _finish(session, incident, policy, now, "every step has paged; nobody acknowledged")
    session.add(incident)


def _finish(
    session: Session, incident: Incident, policy: EscalationPolicy, now: datetime, why: str
) -> None:
    incident.next_escalation_at = None
    session.add(incident)
    add_event(
        session,
        incident.id or 0,
        "escalation_ended",
        at=now,
        detail=f"escalation policy {policy.name}: {why}",
        data={"policy_id": policy.id, "policy": policy.name},
    )


def escalate_due(session: Session, now: datetime) -> int:
    """Run every due step of open (unacknowledged) incidents; returns the steps run.
    Steps with no wait between them run together; later ones wait for a later call."""
    due = session.execute(
        sa.select(Incident)
        .where(
            col(Incident.status) == IncidentStatus.open,
            col(Incident.escalation_policy_id).is_not(None),
            col(Incident.next_escalation_at).is_not(None),
            col(Incident.next_escalation_at) <= now,
        )
        .order_by(col(Incident.next_escalation_at), col(Incident.id))
        .limit(BATCH)
        .with_for_update(skip_locked=True)  # PostgreSQL: two runners never share an incident
    ).scalars()
    ran = 0
    for incident in list(due):
        if _muted(session, incident):
            # Every alert still active in it is silenced, in maintenance or inhibited: a
            # silence means "stop paging". The step stays due and runs once that ends.
            continue
        policy = session.get(EscalationPolicy, incident.escalation_policy_id)
        if policy is None:  # deleted under us: nothing left to run
            incident.next_escalation_at = None
            session.add(incident)
            continue
        for _ in range(len(policy.steps) * (policy.repeat + 1)):
            at = incident.next_escalation_at
            if at is None or at > now:
                break
            if _run_step(session, incident, policy, now, SYSTEM_ACTOR) is None:
                break
            ran += 1
    session.flush()
    return ran


def _muted(session: Session, incident: Incident) -> bool:
    """True when the incident has active alerts and every one of them is suppressed."""
    active = session.execute(
        sa.select(col(Alert.suppressed_by)).where(
            col(Alert.incident_id) == incident.id, col(Alert.state) != AlertState.resolved
        )
    ).scalars()
    reasons = list(active)
    return bool(reasons) and all(reasons)


def escalate_now(
    session: Session, incident: Incident, now: datetime, *, actor: str = SYSTEM_ACTOR
) -> StepRun:
    """Page the incident's next step at once (a person asked for more help), even when it
    is acknowledged; the step after it is due after its own wait."""
    if incident.status == IncidentStatus.resolved:
        raise Conflict.of("incident.resolved", incident=incident.id)
    if incident.escalation_policy_id is None:
        start(session, incident, now)
    policy = (
        session.get(EscalationPolicy, incident.escalation_policy_id)
        if incident.escalation_policy_id is not None
        else None
    )
    if policy is None:
        raise Conflict.of("incident.no_policy", incident=incident.id)
    if incident.next_escalation_at is None and incident.escalation_step >= len(policy.steps):
        raise Conflict.of("incident.steps_done", incident=incident.id, policy=policy.name)
    run = _run_step(session, incident, policy, now, actor)
    if run is None:
        raise Conflict.of("incident.steps_done", incident=incident.id, policy=policy.name)
    session.flush()
    return run
