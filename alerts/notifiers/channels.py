"""Notification channels: create, change, list and delete them, with their secrets
encrypted at rest (inventory.crypto) and never returned, logged or audited."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from adapters.service import merge_patch
from alerts import notifiers
from alerts.notifiers.base import ConfigError
from inventory import audit
from inventory.access import Viewer
from inventory.crypto import SecretBox, SecretBoxError
from inventory.errors import Conflict, Invalid, NotFound
from inventory.models import (
    AlertRoute,
    ChannelKind,
    Delivery,
    Incident,
    NotificationChannel,
    Role,
)
from inventory.models.inputs import STRICT_INPUT, not_null
from inventory.paging import Page, PageParams, count, order_by

log = logging.getLogger(__name__)

BUILTIN_INBOX = "inbox"
# Every channel may set these besides its kind's own settings.
COMMON_SETTINGS = ("language", "default")


class ChannelCreate(BaseModel):
    model_config = STRICT_INPUT

    name: str = Field(min_length=1, max_length=120)
    kind: ChannelKind
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, Any] = Field(
        default_factory=dict, description="Write-only: encrypted at rest, never returned"
    )
    enabled: bool = True


class ChannelUpdate(BaseModel):
    model_config = STRICT_INPUT

    name: str | None = Field(default=None, min_length=1, max_length=120)
    settings: dict[str, Any] | None = Field(default=None, description="A JSON merge patch")
    secrets: dict[str, Any] | None = Field(
        default=None, description="A JSON merge patch of the secrets (null removes a key)"
    )
    enabled: bool | None = None

    _not_null = not_null("name", "settings", "secrets", "enabled")


class ChannelPublic(BaseModel):
    id: int
    name: str
    kind: ChannelKind
    settings: dict[str, Any]
    secret_keys: list[str] = Field(description="Which secrets are set; their values never leave")
    enabled: bool
    created_at: datetime
    updated_at: datetime


def own_settings(kind: ChannelKind, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings the kind's notifier reads: the common keys left out (the inbox reads
    `default` itself)."""
    keep = {"default"} if kind == ChannelKind.inbox else set()
    return {k: v for k, v in settings.items() if k not in COMMON_SETTINGS or k in keep}


def _check_common(settings: dict[str, Any]) -> None:
    if settings.get("language", "zh-CN") not in ("zh-CN", "en"):
        raise Invalid.of("channel.language", field="settings.language")
    if not isinstance(settings.get("default", False), bool):
        raise Invalid.of("channel.default", field="settings.default")


def _validated(kind: ChannelKind, settings: dict[str, Any], secrets: dict[str, Any]) -> None:
    _check_common(settings)
    try:
        notifiers.validate(kind, own_settings(kind, settings), secrets)
    except ConfigError as exc:
        raise Invalid(str(exc), field=exc.field) from None


def secrets_of(channel: NotificationChannel, box: SecretBox) -> dict[str, Any]:
    return box.decrypt_json(channel.secrets_encrypted) if channel.secrets_encrypted else {}


def public(channel: NotificationChannel, box: SecretBox) -> ChannelPublic:
    try:
        keys = sorted(secrets_of(channel, box))
    except SecretBoxError:  # a key rotated away: the channel is still listed
        keys = ["<undecryptable>"]
    return ChannelPublic(
        id=channel.id or 0,
        name=channel.name,
        kind=channel.kind,
        settings=channel.settings,
        secret_keys=keys,
        enabled=channel.enabled,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


def _audit_state(channel: NotificationChannel) -> dict[str, Any]:
    return audit.state_of(channel, exclude={"secrets_encrypted"})


def _require_free_name(session: Session, name: str, but: int | None = None) -> None:
    query = sa.select(col(NotificationChannel.id)).where(col(NotificationChannel.name) == name)
    found = session.execute(query).scalar_one_or_none()
    if found is not None and found != but:
        raise Conflict.of("channel.taken", field="name", name=name)


def create(
    session: Session, viewer: Viewer, data: ChannelCreate, box: SecretBox, now: datetime
) -> NotificationChannel:
    viewer.require(Role.admin)
    _validated(data.kind, data.settings, data.secrets)
    _require_free_name(session, data.name)
    channel = NotificationChannel(
        name=data.name,
        kind=data.kind,
        settings=data.settings,
        secrets_encrypted=box.encrypt_json(data.secrets) if data.secrets else None,
        enabled=data.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(channel)
    session.flush()
    audit.record(
        session,
        actor=viewer.username,
        action="channel.create",
        target_type="notification_channel",
        target_id=channel.id,
        after={**_audit_state(channel), "secret_keys": sorted(data.secrets)},
    )
    return channel


def update(
    session: Session,
    viewer: Viewer,
    channel_id: int,
    data: ChannelUpdate,
    box: SecretBox,
    now: datetime,
) -> NotificationChannel:
    viewer.require(Role.admin)
    channel = get(session, channel_id)
    changes = data.model_dump(exclude_unset=True)
    secrets_patch = changes.pop("secrets", None)
    if "name" in changes:
        _require_free_name(session, changes["name"], but=channel.id)
    settings = merge_patch(channel.settings, changes.get("settings", {}))
    secrets = secrets_of(channel, box)
    if secrets_patch is not None:
        secrets = merge_patch(secrets, secrets_patch)
    _validated(channel.kind, settings, secrets)
    before = _audit_state(channel)
    channel.sqlmodel_update({**changes, "settings": settings, "updated_at": now})
    if secrets_patch is not None:
        channel.secrets_encrypted = box.encrypt_json(secrets) if secrets else None
    session.add(channel)
    old, new = audit.diff(before, _audit_state(channel))
    for changed in (old, new):
        changed.pop("updated_at", None)
    if secrets_patch is not None:
        new["secrets"] = f"replaced: {', '.join(sorted(secrets_patch)) or 'none'}"
    if new:
        audit.record(
            session,
            actor=viewer.username,
            action="channel.update",
            target_type="notification_channel",
            target_id=channel.id,
            before=old,
            after=new,
        )
    return channel


def delete(session: Session, viewer: Viewer, channel_id: int) -> None:
    viewer.require(Role.admin)
    channel = get(session, channel_id)
    used = session.execute(
        sa.select(sa.func.count()).where(col(Delivery.channel_id) == channel_id)
    ).scalar_one()
    if used:
        raise Conflict.of("channel.has_deliveries", name=channel.name, count=used)
    audit.record(
        session,
        actor=viewer.username,
        action="channel.delete",
        target_type="notification_channel",
        target_id=channel.id,
        before=_audit_state(channel),
    )
    session.delete(channel)


def get(session: Session, channel_id: int) -> NotificationChannel:
    channel = session.get(NotificationChannel, channel_id)
    if channel is None:
        raise NotFound.of("channel.not_found", channel=channel_id)
    return channel


def by_ref(session: Session, ref: str) -> NotificationChannel:
    """A channel by id or by name (the CLI takes either)."""
    query = sa.select(NotificationChannel).where(col(NotificationChannel.name) == ref)
    found: NotificationChannel | None = session.execute(query).scalar_one_or_none()
    if found is None and ref.isdigit():
        found = session.get(NotificationChannel, int(ref))
    if found is None:
        raise NotFound.of("channel.ref_not_found", channel=ref)
    return found


def list_channels(
    session: Session, page: PageParams, *, kind: ChannelKind | None = None
) -> Page[NotificationChannel]:
    query = sa.select(NotificationChannel)
    if kind is not None:
        query = query.where(col(NotificationChannel.kind) == kind)
    rows = session.execute(
        query.order_by(
            *order_by(
                page.sort, {"name": col(NotificationChannel.name)}, col(NotificationChannel.id)
            )
        )
        .offset(page.offset)
        .limit(page.limit)
    ).scalars()
    return Page(items=list(rows), total=count(session, query), limit=page.limit, offset=page.offset)


# --- Which channels an incident reaches ----------------------------------------------------


def for_incident(session: Session, incident: Incident) -> list[NotificationChannel]:
    """The incident's route's channels; with none named, and no escalation policy to decide
    who hears of it, the default channels: nobody is left unpaged by a missing setting."""
    route = session.get(AlertRoute, incident.route_id) if incident.route_id else None
    if route is not None and route.channel_ids:
        rows = session.execute(
            sa.select(NotificationChannel)
            .where(col(NotificationChannel.id).in_(route.channel_ids))
            .order_by(col(NotificationChannel.id))
        ).scalars()
        return list(rows)
    if incident.escalation_policy_id is not None:
        return []
    return defaults(session)


def defaults(session: Session) -> list[NotificationChannel]:
    """Channels whose settings say `"default": true`; the built-in inbox if there are none."""
    rows = session.execute(
        sa.select(NotificationChannel)
        .where(col(NotificationChannel.enabled).is_(True))
        .order_by(col(NotificationChannel.id))
    ).scalars()
    chosen = [c for c in rows if c.settings.get("default") is True]
    return chosen or [builtin_inbox(session)]


def builtin_inbox(session: Session) -> NotificationChannel:
    """The inbox channel that escalation's user targets go through, made on first use.

    As a default channel it reaches every on-call user (settings.roles)."""
    found: NotificationChannel | None = session.execute(
        sa.select(NotificationChannel)
        .where(col(NotificationChannel.kind) == ChannelKind.inbox)
        .order_by(col(NotificationChannel.id))
        .limit(1)
    ).scalar_one_or_none()
    if found is not None:
        return found
    taken = session.execute(
        sa.select(col(NotificationChannel.id)).where(col(NotificationChannel.name) == BUILTIN_INBOX)
    ).first()
    channel = NotificationChannel(
        name=BUILTIN_INBOX if taken is None else f"{BUILTIN_INBOX}-builtin",
        kind=ChannelKind.inbox,
        settings={"roles": [Role.oncall.value], "default": True},
    )
    try:
        with session.begin_nested():
            session.add(channel)
    except IntegrityError:  # another writer made it first
        return builtin_inbox(session)
    log.info("made the built-in inbox channel %r", channel.name)
    return channel
