"""Silences, maintenance windows, inhibition rules and routes: create, change, remove.

Silences and maintenance windows are on-call work (oncall and admin); inhibition rules and
routes decide who is paged at all, so only admins change them. Every change is audited
with what it was and what it became. A silence is never deleted: expiring it ends it now
and keeps the record of who silenced what.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, assert_never

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session, SQLModel, col

from alerts.matchers import MatcherInput, dump, matches_empty_only, parse_matchers
from alerts.schemas import (
    InhibitCreate,
    InhibitUpdate,
    RouteCreate,
    RouteUpdate,
    SilenceCreate,
    SilenceUpdate,
    WindowCreate,
    WindowUpdate,
)
from inventory import audit
from inventory.access import Viewer
from inventory.errors import Conflict, Invalid, NotFound
from inventory.models import (
    AlertRoute,
    EscalationPolicy,
    Incident,
    InhibitRule,
    MaintenanceWindow,
    NotificationChannel,
    Role,
    Silence,
)
from inventory.unique import require_free_name

T = TypeVar("T", bound=SQLModel)
AlertRow = Literal["silence", "maintenance window", "inhibit rule", "route"]
ON_CALL = (Role.oncall, Role.admin)
DEFAULT_SILENCE = timedelta(hours=2)


def silence_state(silence: Silence, now: datetime) -> Literal["pending", "active", "expired"]:
    if now >= silence.ends_at:
        return "expired"
    return "active" if now >= silence.starts_at else "pending"


def not_found(what: AlertRow, row_id: int) -> NotFound:
    """The error for a missing row, keyed so that a console page says it in its reader's
    language (the API: "<what> <row_id> not found")."""
    match what:
        case "silence":
            return NotFound.of("silence.not_found", silence=row_id)
        case "maintenance window":
            return NotFound.of("window.not_found", window=row_id)
        case "inhibit rule":
            return NotFound.of("inhibit.not_found", rule=row_id)
        case "route":
            return NotFound.of("route.not_found", route=row_id)
        case _:
            assert_never(what)


def _get(session: Session, model: type[T], row_id: int, what: AlertRow) -> T:
    row = session.get(model, row_id)
    if row is None:
        raise not_found(what, row_id)
    return row


def _changed(
    session: Session, viewer: Viewer, action: str, row: SQLModel, before: dict[str, Any]
) -> None:
    after = audit.state_of(row)
    old, new = audit.diff(before, after) if before else ({}, after)
    audit.record(
        session,
        actor=viewer.username,
        action=action,
        target_type=action.split(".")[0],
        target_id=getattr(row, "id", None),
        before=old or None,
        after=new,
    )


def _updates(body: BaseModel) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


# --- Silences ---------------------------------------------------------------------------------


def _check_silence_times(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= starts_at:
        raise Invalid.of("silence.ends_before_start", field="ends_at")
    if ends_at <= now:
        raise Invalid.of("silence.ends_past", field="ends_at")


def stored(matchers: list[MatcherInput], field: str = "matchers") -> list[dict[str, str]]:
    """Matchers as the JSON columns keep them: {"name", "op", "value"} each."""
    return dump(parse_matchers(matchers, where=field))


def _not_everything(matchers: list[dict[str, str]], field: str) -> list[dict[str, str]]:
    if matches_empty_only(parse_matchers(matchers, where=field)):
        raise Invalid.of("matcher.everything", field=field)
    return matchers


def create_silence(session: Session, viewer: Viewer, body: SilenceCreate, now: datetime) -> Silence:
    viewer.require(*ON_CALL)
    matchers = _not_everything(stored(body.matchers), "matchers")
    starts_at = body.starts_at or now
    if body.ends_at is not None and body.duration_minutes is not None:
        raise Invalid.of("silence.end_twice", field="duration_minutes")
    if body.ends_at is not None:
        ends_at = body.ends_at
    elif body.duration_minutes is not None:
        ends_at = starts_at + timedelta(minutes=body.duration_minutes)
    else:
        ends_at = starts_at + DEFAULT_SILENCE
    _check_silence_times(starts_at, ends_at, now)
    silence = Silence(
        matchers=matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=viewer.username[:64],
        comment=body.comment.strip(),
        created_at=now,
    )
    session.add(silence)
    session.flush()
    _changed(session, viewer, "silence.create", silence, {})
    return silence


def update_silence(
    session: Session, viewer: Viewer, silence_id: int, body: SilenceUpdate, now: datetime
) -> Silence:
    viewer.require(*ON_CALL)
    silence = _get(session, Silence, silence_id, "silence")
    if silence_state(silence, now) == "expired":
        raise Conflict.of("silence.expired", silence=silence_id)
    before = audit.state_of(silence)
    changes = _updates(body)
    if "matchers" in changes:
        changes["matchers"] = _not_everything(stored(changes["matchers"]), "matchers")
    silence.sqlmodel_update(changes)
    _check_silence_times(silence.starts_at, silence.ends_at, now)
    _changed(session, viewer, "silence.update", silence, before)
    session.flush()
    return silence


def expire_silence(session: Session, viewer: Viewer, silence_id: int, now: datetime) -> Silence:
    """End it now; the row stays, so who silenced what remains on record."""
    viewer.require(*ON_CALL)
    silence = _get(session, Silence, silence_id, "silence")
    if silence_state(silence, now) == "expired":
        raise Conflict.of("silence.already_expired", silence=silence_id)
    before = audit.state_of(silence)
    silence.ends_at = now
    if silence.starts_at > now:
        silence.starts_at = now
    _changed(session, viewer, "silence.expire", silence, before)
    session.flush()
    return silence


# --- Maintenance windows ----------------------------------------------------------------------


def _check_window(window: MaintenanceWindow) -> None:
    if window.valid_until is not None and window.valid_until <= window.valid_from:
        raise Invalid.of("window.valid_until", field="valid_until")


def create_window(
    session: Session, viewer: Viewer, body: WindowCreate, now: datetime
) -> MaintenanceWindow:
    viewer.require(*ON_CALL)
    require_free_name(session, MaintenanceWindow, body.name.strip(), None, "maintenance window")
    window = MaintenanceWindow(
        name=body.name.strip(),
        matchers=_not_everything(stored(body.matchers), "matchers"),
        timezone=body.timezone,
        weekdays=body.weekdays,
        start_time=body.start_time,
        duration_minutes=body.duration_minutes,
        valid_from=body.valid_from or now,
        valid_until=body.valid_until,
        created_by=viewer.username[:64],
        comment=body.comment,
        created_at=now,
    )
    _check_window(window)
    session.add(window)
    session.flush()
    _changed(session, viewer, "maintenance_window.create", window, {})
    return window


def update_window(
    session: Session, viewer: Viewer, window_id: int, body: WindowUpdate
) -> MaintenanceWindow:
    viewer.require(*ON_CALL)
    window = _get(session, MaintenanceWindow, window_id, "maintenance window")
    before = audit.state_of(window)
    changes = _updates(body)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        name = changes["name"]
        require_free_name(session, MaintenanceWindow, name, window.id, "maintenance window")
    if "matchers" in changes:
        changes["matchers"] = _not_everything(stored(changes["matchers"]), "matchers")
    window.sqlmodel_update(changes)
    _check_window(window)
    _changed(session, viewer, "maintenance_window.update", window, before)
    session.flush()
    return window


def delete_window(session: Session, viewer: Viewer, window_id: int) -> None:
    viewer.require(*ON_CALL)
    window = _get(session, MaintenanceWindow, window_id, "maintenance window")
    audit.record(
        session,
        actor=viewer.username,
        action="maintenance_window.delete",
        target_type="maintenance_window",
        target_id=window_id,
        before=audit.state_of(window),
    )
    session.delete(window)
    session.flush()


# --- Inhibition rules -------------------------------------------------------------------------


def create_inhibit_rule(
    session: Session, viewer: Viewer, body: InhibitCreate, now: datetime
) -> InhibitRule:
    viewer.require(Role.admin)
    rule = InhibitRule(
        source_matchers=stored(body.source_matchers, "source_matchers"),
        target_matchers=stored(body.target_matchers, "target_matchers"),
        equal=[name.strip() for name in body.equal],
        comment=body.comment,
        created_by=viewer.username[:64],
        created_at=now,
    )
    session.add(rule)
    session.flush()
    _changed(session, viewer, "inhibit_rule.create", rule, {})
    return rule


def update_inhibit_rule(
    session: Session, viewer: Viewer, rule_id: int, body: InhibitUpdate
) -> InhibitRule:
    viewer.require(Role.admin)
    rule = _get(session, InhibitRule, rule_id, "inhibit rule")
    before = audit.state_of(rule)
    changes = _updates(body)
    for side in ("source_matchers", "target_matchers"):
        if side in changes:
            changes[side] = stored(changes[side], side)
    rule.sqlmodel_update(changes)
    _changed(session, viewer, "inhibit_rule.update", rule, before)
    session.flush()
    return rule


def delete_inhibit_rule(session: Session, viewer: Viewer, rule_id: int) -> None:
    viewer.require(Role.admin)
    rule = _get(session, InhibitRule, rule_id, "inhibit rule")
    audit.record(
        session,
        actor=viewer.username,
        action="inhibit_rule.delete",
        target_type="inhibit_rule",
        target_id=rule_id,
        before=audit.state_of(rule),
    )
    session.delete(rule)
    session.flush()


# --- Routes -----------------------------------------------------------------------------------


def _check_targets(session: Session, changes: dict[str, Any]) -> None:
    policy = changes.get("escalation_policy_id")
    if policy is not None and session.get(EscalationPolicy, policy) is None:
        raise Invalid.of("policy.not_found", field="escalation_policy_id", policy=policy)
    wanted = set(changes.get("channel_ids") or [])
    if wanted:
        found = set(
            session.execute(
                sa.select(col(NotificationChannel.id)).where(
                    col(NotificationChannel.id).in_(wanted)
                )
            ).scalars()
        )
        missing = sorted(wanted - found)
        if missing:
            raise Invalid.of(
                "channel.missing", field="channel_ids", channels=", ".join(map(str, missing))
            )


def create_route(session: Session, viewer: Viewer, body: RouteCreate) -> AlertRoute:
    viewer.require(Role.admin)
    data = body.model_dump()
    data["name"] = data["name"].strip()
    data["matchers"] = stored(body.matchers)
    data["channel_ids"] = list(dict.fromkeys(body.channel_ids))
    require_free_name(session, AlertRoute, data["name"], None, "route")
    _check_targets(session, data)
    route = AlertRoute.model_validate(data)
    session.add(route)
    session.flush()
    _changed(session, viewer, "alert_route.create", route, {})
    return route


def update_route(session: Session, viewer: Viewer, route_id: int, body: RouteUpdate) -> AlertRoute:
    viewer.require(Role.admin)
    route = _get(session, AlertRoute, route_id, "route")
    before = audit.state_of(route)
    changes = _updates(body)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        require_free_name(session, AlertRoute, changes["name"], route.id, "route")
    if "matchers" in changes:
        changes["matchers"] = stored(changes["matchers"])
    if "channel_ids" in changes:
        changes["channel_ids"] = list(dict.fromkeys(changes["channel_ids"]))
    _check_targets(session, changes)
    route.sqlmodel_update(changes)
    _changed(session, viewer, "alert_route.update", route, before)
    session.flush()
    return route


def delete_route(session: Session, viewer: Viewer, route_id: int) -> None:
    """Open incidents of a deleted route carry on under the default route's timings."""
    viewer.require(Role.admin)
    route = _get(session, AlertRoute, route_id, "route")
    session.execute(
        sa.update(Incident).where(col(Incident.route_id) == route_id).values(route_id=None)
    )
    audit.record(
        session,
        actor=viewer.username,
        action="alert_route.delete",
        target_type="alert_route",
        target_id=route_id,
        before=audit.state_of(route),
    )
    session.delete(route)
    session.flush()
