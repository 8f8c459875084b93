"""Who is on call: a rotation's layers and overrides read from the database and resolved at
an instant (`on_call`), for every rotation at once (`who_is_on_call`, GET /oncall/now), or
as a schedule over a period.

The arithmetic lives in alerts.schedule; this module loads rows and shapes answers. Every
function takes `now` (the injected clock).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts import schedule
from alerts.oncall_schemas import (
    LayerPublic,
    LayerRef,
    OnCallNow,
    OverridePublic,
    RotationPublic,
    Stretch,
    UserRef,
)
from inventory.errors import Invalid, NotFound
from inventory.models import Rotation, RotationLayer, RotationOverride, User

log = logging.getLogger(__name__)
MAX_SCHEDULE = timedelta(days=35)


@dataclass
class Loaded:
    """One rotation with the rows its answers depend on."""

    rotation: Rotation
    tz: ZoneInfo
    layers: list[RotationLayer]
    overrides: list[RotationOverride]

    def segment(self, t: datetime) -> schedule.Segment:
        return schedule.segment(self.layers, self.overrides, self.tz, t)


def get_rotation_row(session: Session, rotation_id: int) -> Rotation:
    rotation = session.get(Rotation, rotation_id)
    if rotation is None:
        raise NotFound.of("rotation.not_found", rotation=rotation_id)
    return rotation


def load(
    session: Session, rotation: Rotation, since: datetime, until: datetime | None = None
) -> Loaded:
    """The rotation's layers and the overrides overlapping [since, until)."""
    layers = list(
        session.execute(
            sa.select(RotationLayer)
            .where(col(RotationLayer.rotation_id) == rotation.id)
            .order_by(col(RotationLayer.position), col(RotationLayer.id))
        ).scalars()
    )
    query = sa.select(RotationOverride).where(
        col(RotationOverride.rotation_id) == rotation.id, col(RotationOverride.ends_at) > since
    )
    if until is not None:
        query = query.where(col(RotationOverride.starts_at) < until)
    overrides = list(session.execute(query.order_by(col(RotationOverride.id))).scalars())
    return Loaded(rotation, ZoneInfo(rotation.timezone), layers, overrides)


def users_by_id(session: Session, ids: Iterable[int]) -> dict[int, User]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.execute(sa.select(User).where(col(User.id).in_(wanted))).scalars()
    return {u.id or 0: u for u in rows}


def on_call(session: Session, rotation_id: int, now: datetime) -> list[User]:
    """The active users on call in the rotation at `now` (empty when nobody is: a gap in
    the schedule, or only deactivated members; callers record that, never page nobody)."""
    loaded = load(session, get_rotation_row(session, rotation_id), now, now + schedule.TICK)
    answer = schedule.resolve(loaded.layers, loaded.overrides, loaded.tz, now)
    users = users_by_id(session, answer.user_ids)
    return [users[i] for i in answer.user_ids if i in users and users[i].is_active]


def user_ref(user: User) -> UserRef:
    return UserRef(id=user.id or 0, username=user.username, display_name=user.display_name)


def _refs(users: dict[int, User], ids: Iterable[int], *, active_only: bool) -> list[UserRef]:
    return [
        user_ref(users[i]) for i in ids if i in users and (users[i].is_active or not active_only)
    ]


def override_public(row: RotationOverride, users: dict[int, User]) -> OverridePublic:
    user = users.get(row.user_id)
    ref = user_ref(user) if user else UserRef(id=row.user_id, username="?", display_name="")
    return OverridePublic(
        id=row.id or 0,
        rotation_id=row.rotation_id,
        user=ref,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
    )


def _source(answer: schedule.Answer) -> Any:
    if answer.override is not None:
        return "override"
    return "layer" if answer.layers else "nobody"


def now_of(session: Session, loaded: Loaded, now: datetime) -> OnCallNow:
    seg = loaded.segment(now)
    answer = seg.answer
    users = users_by_id(session, answer.user_ids)
    until_local = (
        seg.until.astimezone(loaded.tz).strftime("%Y-%m-%d %H:%M %Z") if seg.until else None
    )
    return OnCallNow(
        rotation_id=loaded.rotation.id or 0,
        rotation=loaded.rotation.name,
        timezone=loaded.rotation.timezone,
        users=_refs(users, answer.user_ids, active_only=True),
        source=_source(answer),
        since=seg.since,
        until=seg.until,
        until_local=until_local,
        layers=[
            LayerRef(
                id=layer.id or 0,
                name=layer.name,
                position=layer.position,
                shift_starts_at=shift.starts_at,
                shift_ends_at=shift.ends_at,
            )
            for layer, shift in zip(answer.layers, answer.shifts, strict=True)
        ],
        override=override_public(answer.override, users) if answer.override else None,
    )


def who_is_on_call(
    session: Session, now: datetime, rotation_id: int | None = None
) -> list[dict[str, Any]]:
    """For GET /oncall/now: per rotation, who is on call, since and until when, and why
    (the winning layers with their shift, or the override)."""
    query = sa.select(Rotation).order_by(col(Rotation.name))
    if rotation_id is not None:
        query = query.where(col(Rotation.id) == rotation_id)
    answers = []
    for rotation in session.execute(query).scalars():
        try:
            loaded = load(session, rotation, now - schedule.HORIZON, now + schedule.HORIZON)
            answers.append(now_of(session, loaded, now).model_dump())
        except (OverflowError, ValueError) as exc:  # one bad rotation must not hide the rest
            log.warning("rotation %s cannot be worked out at %s: %s", rotation.id, now, exc)
            answers.append(_broken(rotation, exc))
    return answers


def _broken(rotation: Rotation, exc: Exception) -> dict[str, Any]:
    return OnCallNow(
        rotation_id=rotation.id or 0,
        rotation=rotation.name,
        timezone=rotation.timezone,
        users=[],
        source="nobody",
        since=None,
        until=None,
        until_local=None,
        layers=[],
        override=None,
        error=f"{type(exc).__name__}: {exc}",
    ).model_dump()


def stretches(session: Session, rotation_id: int, start: datetime, end: datetime) -> list[Stretch]:
    """The rotation's schedule from `start` to `end` (at most 35 days), overrides applied."""
    if end <= start:
        raise Invalid.of("schedule.until", field="until")
    if end - start > MAX_SCHEDULE:
        raise Invalid.of("schedule.too_long", field="until")
    loaded = load(session, get_rotation_row(session, rotation_id), start, end)
    parts = schedule.timeline(loaded.layers, loaded.overrides, loaded.tz, start, end)
    users = users_by_id(session, {u for _, _, a in parts for u in a.user_ids})
    return [
        Stretch(
            starts_at=s,
            ends_at=e,
            users=_refs(users, a.user_ids, active_only=True),
            source=_source(a),
            layer_ids=[layer.id or 0 for layer in a.layers],
            override_id=a.override.id if a.override else None,
        )
        for s, e, a in parts
    ]


def rotation_public(session: Session, rotation: Rotation, now: datetime) -> RotationPublic:
    loaded = load(session, rotation, now)
    users = users_by_id(
        session,
        {m for layer in loaded.layers for m in layer.member_ids}
        | {o.user_id for o in loaded.overrides},
    )
    return RotationPublic(
        id=rotation.id or 0,
        name=rotation.name,
        timezone=rotation.timezone,
        created_at=rotation.created_at,
        layers=[
            LayerPublic(
                id=layer.id or 0,
                rotation_id=layer.rotation_id,
                name=layer.name,
                position=layer.position,
                member_ids=list(layer.member_ids),
                members=_refs(users, layer.member_ids, active_only=False),
                shift_hours=layer.shift_hours,
                handoff_time=layer.handoff_time,
                starts_at=layer.starts_at,
                active_weekdays=list(layer.active_weekdays),
                active_hours=list(layer.active_hours),
            )
            for layer in loaded.layers
        ],
        overrides=[override_public(o, users) for o in loaded.overrides],
    )
