"""Changing rotations: rotations and layers (admins), overrides and swaps (admins for anyone,
on-call staff for themselves). Every change is audited; the caller commits.

On-call users may add an override that puts themselves on call, end or remove overrides
that name them or that they made, and swap a stretch of their own with a colleague's; they
cannot rearrange other people's time. Ended overrides stay as history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts import oncall, schedule
from alerts.oncall_schemas import (
    LayerCreate,
    LayerUpdate,
    OverrideCreate,
    RotationCreate,
    RotationUpdate,
    SwapCreate,
)
from inventory import audit
from inventory.access import Viewer
from inventory.errors import Conflict, Forbidden, Invalid, NotFound
from inventory.models import EscalationPolicy, Role, Rotation, RotationLayer, RotationOverride
from inventory.unique import require_free_name

MAX_OVERRIDE = timedelta(days=90)
ON_CALL_ROLES = (Role.admin, Role.oncall)


def check_people(session: Session, ids: list[int], field: str) -> None:
    """Only active oncall and admin users go on call; the error names the list entry."""
    users = oncall.users_by_id(session, ids)
    for i, user_id in enumerate(ids):
        user = users.get(user_id)
        where = f"{field}.{i}" if len(ids) > 1 or field.endswith("ids") else field
        if user is None:
            raise Invalid.of("user.not_found", field=where, user=user_id)
        if not user.is_active:
            raise Invalid.of("user.deactivated", field=where, username=user.username)
        if user.role not in ON_CALL_ROLES:
            raise Invalid.of(
                "oncall.role", field=where, username=user.username, role=user.role.value
            )


def create_rotation(session: Session, viewer: Viewer, body: RotationCreate) -> Rotation:
    viewer.require(Role.admin)
    require_free_name(session, Rotation, body.name, None, "rotation")
    for i, layer in enumerate(body.layers):
        check_people(session, layer.member_ids, f"layers.{i}.member_ids")
    rotation = Rotation(name=body.name, timezone=body.timezone)
    session.add(rotation)
    session.flush()
    layers = [_new_layer(rotation.id or 0, layer) for layer in body.layers]
    session.add_all(layers)
    session.flush()
    after = audit.state_of(rotation)
    after["layers"] = [audit.state_of(layer) for layer in layers]
    audit.record(
        session,
        actor=viewer.username,
        action="rotation.create",
        target_type="rotation",
        target_id=rotation.id,
        after=after,
    )
    return rotation


def _new_layer(rotation_id: int, body: LayerCreate) -> RotationLayer:
    return RotationLayer(rotation_id=rotation_id, **body.model_dump())


def update_rotation(
    session: Session, viewer: Viewer, rotation_id: int, body: RotationUpdate
) -> Rotation:
    viewer.require(Role.admin)
    rotation = oncall.get_rotation_row(session, rotation_id)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes:
        require_free_name(session, Rotation, changes["name"], rotation_id, "rotation")
    before = audit.state_of(rotation)
    rotation.sqlmodel_update(changes)
    session.add(rotation)
    session.flush()
    old, new = audit.diff(before, audit.state_of(rotation))
    audit.record(
        session,
        actor=viewer.username,
        action="rotation.update",
        target_type="rotation",
        target_id=rotation_id,
        before=old,
        after=new,
    )
    return rotation


def policies_using(session: Session, kind: str, target_id: int) -> list[str]:
    """Names of the escalation policies with a step targeting this rotation/user/channel."""
    return sorted(
        policy.name
        for policy in session.execute(sa.select(EscalationPolicy)).scalars()
        if any(
            t.get("type") == kind and t.get("id") == target_id
            for step in policy.steps
            for t in step.get("targets", [])
        )
    )


def delete_rotation(session: Session, viewer: Viewer, rotation_id: int) -> None:
    viewer.require(Role.admin)
    rotation = oncall.get_rotation_row(session, rotation_id)
    used = policies_using(session, "rotation", rotation_id)
    if used:
        raise Conflict.of("rotation.in_use", name=rotation.name, policies=", ".join(used))
    before = audit.state_of(rotation)
    for model in (RotationOverride, RotationLayer):
        session.execute(sa.delete(model).where(col(model.rotation_id) == rotation_id))
    session.delete(rotation)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="rotation.delete",
        target_type="rotation",
        target_id=rotation_id,
        before=before,
    )


def add_layer(
    session: Session, viewer: Viewer, rotation_id: int, body: LayerCreate
) -> RotationLayer:
    viewer.require(Role.admin)
    oncall.get_rotation_row(session, rotation_id)
    check_people(session, body.member_ids, "member_ids")
    layer = _new_layer(rotation_id, body)
    session.add(layer)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="rotation.layer.create",
        target_type="rotation_layer",
        target_id=layer.id,
        after=audit.state_of(layer),
    )
    return layer


def _layer(session: Session, rotation_id: int, layer_id: int) -> RotationLayer:
    layer = session.get(RotationLayer, layer_id)
    if layer is None or layer.rotation_id != rotation_id:
        raise NotFound.of("rotation.layer_not_found", layer=layer_id, rotation=rotation_id)
    return layer


def update_layer(
    session: Session, viewer: Viewer, rotation_id: int, layer_id: int, body: LayerUpdate
) -> RotationLayer:
    viewer.require(Role.admin)
    layer = _layer(session, rotation_id, layer_id)
    changes = body.model_dump(exclude_unset=True)
    if "member_ids" in changes:
        check_people(session, changes["member_ids"], "member_ids")
    before = audit.state_of(layer)
    layer.sqlmodel_update(changes)
    session.add(layer)
    session.flush()
    old, new = audit.diff(before, audit.state_of(layer))
    audit.record(
        session,
        actor=viewer.username,
        action="rotation.layer.update",
        target_type="rotation_layer",
        target_id=layer_id,
        before=old,
        after=new,
    )
    return layer


def delete_layer(session: Session, viewer: Viewer, rotation_id: int, layer_id: int) -> None:
    viewer.require(Role.admin)
    layer = _layer(session, rotation_id, layer_id)
    before = audit.state_of(layer)
    session.delete(layer)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="rotation.layer.delete",
        target_type="rotation_layer",
        target_id=layer_id,
        before=before,
    )


def create_override(
    session: Session, viewer: Viewer, rotation_id: int, body: OverrideCreate, now: datetime
) -> RotationOverride:
    viewer.require(*ON_CALL_ROLES)
    oncall.get_rotation_row(session, rotation_id)
    user_id = body.user_id or viewer.user_id
    if user_id is None:
        raise Invalid.of("override.user_required", field="user_id")
    if viewer.role != Role.admin and user_id != viewer.user_id:
        raise Forbidden.of("override.for_others", role=viewer.role.value)
    if body.ends_at <= now:
        raise Invalid.of("override.ends_past", field="ends_at")
    if body.ends_at - body.starts_at > MAX_OVERRIDE:
        raise Invalid.of("override.too_long", field="ends_at")
    check_people(session, [user_id], "user_id")
    row = RotationOverride(
        rotation_id=rotation_id,
        user_id=user_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        created_by=viewer.username,
        comment=body.comment,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="rotation.override.create",
        target_type="rotation_override",
        target_id=row.id,
        after=audit.state_of(row),
    )
    return row


def end_override(
    session: Session, viewer: Viewer, rotation_id: int, override_id: int, now: datetime
) -> None:
    """A future override is removed; a running one ends now; an ended one stays (409)."""
    viewer.require(*ON_CALL_ROLES)
    row = session.get(RotationOverride, override_id)
    if row is None or row.rotation_id != rotation_id:
        raise NotFound.of("override.not_found", override=override_id, rotation=rotation_id)
    own = row.user_id == viewer.user_id or row.created_by == viewer.username
    if viewer.role != Role.admin and not own:
        raise Forbidden.of("override.remove_others", role=viewer.role.value)
    if row.ends_at <= now:
        raise Conflict.of("override.ended", override=override_id)
    before = audit.state_of(row)
    if row.starts_at < now:
        row.ends_at = now
        session.add(row)
        action, after = "rotation.override.end", audit.state_of(row)
    else:
        session.delete(row)
        action, after = "rotation.override.delete", None
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action=action,
        target_type="rotation_override",
        target_id=override_id,
        before=before,
        after=after,
    )


def _stretch(loaded: oncall.Loaded, t: datetime, now: datetime, field: str) -> schedule.Segment:
    seg = loaded.segment(t)
    if not seg.answer.user_ids:
        raise Invalid.of("swap.nobody", field=field)
    if len(seg.answer.user_ids) > 1:
        raise Invalid.of("swap.several", field=field)
    if seg.since is None or seg.until is None:
        raise Invalid.of("swap.no_handoff", field=field)
    if seg.until <= now:
        raise Invalid.of("swap.over", field=field)
    return seg


def swap(
    session: Session, viewer: Viewer, rotation_id: int, body: SwapCreate, now: datetime
) -> list[RotationOverride]:
    """Two overrides: the person on at `with_shift_at` covers the stretch containing
    `shift_at` and the other way round (only what is still ahead of `now`)."""
    viewer.require(*ON_CALL_ROLES)
    rotation = oncall.get_rotation_row(session, rotation_id)
    early, late = sorted((body.shift_at, body.with_shift_at))
    loaded = oncall.load(session, rotation, early - schedule.HORIZON, late + schedule.HORIZON)
    first = _stretch(loaded, body.shift_at, now, "shift_at")
    second = _stretch(loaded, body.with_shift_at, now, "with_shift_at")
    (a,), (b,) = first.answer.user_ids, second.answer.user_ids
    if a == b:
        raise Invalid.of("swap.same_person", field="with_shift_at")
    if viewer.role != Role.admin and viewer.user_id not in (a, b):
        raise Forbidden.of("swap.others", role=viewer.role.value)
    check_people(session, [a, b], "users")
    names = oncall.users_by_id(session, [a, b])
    note = f"swap: {names[a].username} <-> {names[b].username}"
    made = []
    for seg, taker in ((first, b), (second, a)):
        assert seg.since is not None and seg.until is not None  # checked by _stretch
        row = RotationOverride(
            rotation_id=rotation_id,
            user_id=taker,
            starts_at=max(seg.since, now),
            ends_at=seg.until,
            created_by=viewer.username,
            comment=f"{note}; {body.comment}" if body.comment else note,
        )
        session.add(row)
        made.append(row)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="rotation.swap",
        target_type="rotation",
        target_id=rotation_id,
        after={"overrides": [audit.state_of(row) for row in made]},
        detail=note,
    )
    return made
