"""Escalation policies (admins): ordered steps of wait-then-notify targets, repeated.

A step's targets are rotations (whoever is on call when the step runs), users and
notification channels; each must exist when the policy is saved. Every change is audited;
the caller commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts.oncall_schemas import PolicyCreate, PolicyPublic, PolicyUpdate, Step, check_repeat
from inventory import audit
from inventory.access import Viewer
from inventory.errors import Conflict, Invalid, NotFound
from inventory.models import (
    AlertRoute,
    EscalationPolicy,
    Incident,
    IncidentStatus,
    NotificationChannel,
    Role,
    Rotation,
    User,
)
from inventory.paging import Page, PageParams, count, order_by
from inventory.unique import require_free_name


def public(policy: EscalationPolicy) -> PolicyPublic:
    return PolicyPublic(
        id=policy.id or 0,
        name=policy.name,
        description=policy.description,
        steps=[Step.model_validate(s) for s in policy.steps],
        repeat=policy.repeat,
        created_at=policy.created_at,
    )


def list_policies(session: Session, page: PageParams) -> Page[PolicyPublic]:
    query = sa.select(EscalationPolicy)
    rows = session.execute(
        query.order_by(
            *order_by(page.sort, {"name": col(EscalationPolicy.name)}, col(EscalationPolicy.id))
        )
        .offset(page.offset)
        .limit(page.limit)
    ).scalars()
    return Page(
        items=[public(p) for p in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def get_policy(session: Session, policy_id: int) -> EscalationPolicy:
    policy = session.get(EscalationPolicy, policy_id)
    if policy is None:
        raise NotFound.of("policy.not_found", policy=policy_id)
    return policy


def check_targets(session: Session, steps: list[Step]) -> None:
    """Every target exists (users: active, and not department users); names the entry."""
    for i, step in enumerate(steps):
        for j, target in enumerate(step.targets):
            where = f"steps.{i}.targets.{j}.id"
            if target.type == "rotation":
                if session.get(Rotation, target.id) is None:
                    raise Invalid.of("rotation.not_found", field=where, rotation=target.id)
            elif target.type == "channel":
                if session.get(NotificationChannel, target.id) is None:
                    raise Invalid.of(
                        "channel.notification_not_found", field=where, channel=target.id
                    )
            else:
                user = session.get(User, target.id)
                if user is None:
                    raise Invalid.of("user.not_found", field=where, user=target.id)
                if not user.is_active or user.role == Role.department:
                    raise Invalid.of("user.not_pageable", field=where, username=user.username)


def create_policy(session: Session, viewer: Viewer, body: PolicyCreate) -> EscalationPolicy:
    viewer.require(Role.admin)
    require_free_name(session, EscalationPolicy, body.name, None, "escalation policy")
    check_targets(session, body.steps)
    policy = EscalationPolicy(**body.model_dump(mode="json"))
    session.add(policy)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="escalation_policy.create",
        target_type="escalation_policy",
        target_id=policy.id,
        after=audit.state_of(policy),
    )
    return policy


def update_policy(
    session: Session, viewer: Viewer, policy_id: int, body: PolicyUpdate
) -> EscalationPolicy:
    """Running incidents pick the change up at their next step (their step and round
    counters stay; a step beyond the new list ends their escalation)."""
    viewer.require(Role.admin)
    policy = get_policy(session, policy_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    if "name" in changes:
        name = changes["name"]
        require_free_name(session, EscalationPolicy, name, policy_id, "escalation policy")
    steps = body.steps if body.steps is not None else [Step.model_validate(s) for s in policy.steps]
    try:
        check_repeat(steps, body.repeat if body.repeat is not None else policy.repeat)
    except ValueError as exc:
        raise Invalid(str(exc).removeprefix("repeat: "), field="repeat") from None
    if body.steps is not None:
        check_targets(session, body.steps)
    before = audit.state_of(policy)
    policy.sqlmodel_update(changes)
    session.add(policy)
    session.flush()
    old, new = audit.diff(before, audit.state_of(policy))
    audit.record(
        session,
        actor=viewer.username,
        action="escalation_policy.update",
        target_type="escalation_policy",
        target_id=policy_id,
        before=old,
        after=new,
    )
    return policy


def delete_policy(session: Session, viewer: Viewer, policy_id: int) -> None:
    """Refused while a route or an unresolved incident uses it; resolved incidents let go
    of it (their timeline keeps the policy's name)."""
    viewer.require(Role.admin)
    policy = get_policy(session, policy_id)
    routes = session.execute(
        sa.select(col(AlertRoute.name)).where(col(AlertRoute.escalation_policy_id) == policy_id)
    ).scalars()
    named = sorted(routes)
    if named:
        raise Conflict.of("policy.in_use", name=policy.name, routes=", ".join(named))
    using = col(Incident.escalation_policy_id) == policy_id
    live = count(
        session,
        sa.select(col(Incident.id)).where(using, col(Incident.status) != IncidentStatus.resolved),
    )
    if live:
        raise Conflict.of("policy.escalating", name=policy.name, count=live)
    session.execute(sa.update(Incident).where(using).values(escalation_policy_id=None))
    before = audit.state_of(policy)
    session.delete(policy)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="escalation_policy.delete",
        target_type="escalation_policy",
        target_id=policy_id,
        before=before,
    )
