"""Queueing notifications about incidents, and sending what is due.

Queueing is idempotent: a delivery's `dedupe_key` is unique (f"{dedupe}:channel:{id}", plus
f":user:{id}" for the inbox), so a loop that makes the same decision again after a restart
finds the row instead of making a second one. How rows are then sent, at least once and
never again once sent, is in alerts.notifiers.sending.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from alerts.message import Language, channel_test_message, incident_message
from alerts.notifiers import channels as channel_service
from alerts.notifiers import inbox
from alerts.notifiers.sending import RetryPolicy, send_due, send_one
from inventory.crypto import SecretBox
from inventory.errors import NotFound
from inventory.models import (
    Alert,
    ChannelKind,
    Delivery,
    DeliveryStatus,
    Incident,
    NotificationChannel,
    User,
)
from inventory.settings import Settings, get_settings

log = logging.getLogger(__name__)

MAX_KEY = 300  # Delivery.dedupe_key's length

__all__ = ["RetryPolicy", "delivery_key", "notify_incident", "send_due", "send_one", "send_test"]


# --- Queueing ------------------------------------------------------------------------------


def notify_incident(
    session: Session,
    incident: Incident,
    *,
    reason: str,
    now: datetime,
    dedupe: str,
    users: Sequence[User] | None = None,
    channels: Sequence[NotificationChannel] | None = None,
    settings: Settings | None = None,
) -> list[Delivery]:
    """Queue one notification about `incident` for each target; idempotent by `dedupe`.

    Targets: the given channels (an inbox channel reaches the users its settings name) and
    each given user's inbox. With neither given: the incident's route's channels, else, for
    an incident without an escalation policy, the default channels (see channels.defaults).
    Disabled channels are skipped. Rows are flushed, not committed; send_due sends them.
    """
    settings = settings or get_settings()
    if channels is None and users is None:
        channels = channel_service.for_incident(session, incident)
    targets: list[tuple[NotificationChannel, int | None]] = []
    for channel in channels or []:
        if not channel.enabled:
            log.info("incident %s: channel %r is disabled, skipped", incident.id, channel.name)
        elif channel.kind == ChannelKind.inbox:
            own = channel_service.own_settings(channel.kind, channel.settings)
            reached = inbox.recipients(session, inbox.Settings.model_validate(own))
            targets += [(channel, uid) for uid in reached]
        else:
            targets.append((channel, None))
    if users:
        box = channel_service.builtin_inbox(session)
        if box.enabled:
            targets += [(box, u.id) for u in users if u.id is not None and u.is_active]
        else:
            log.info("incident %s: the inbox channel is disabled; users not notified", incident.id)
    if not targets:
        log.warning("incident %s (%s): no channel or user to notify", incident.id, reason)
        return []
    alerts = list(
        session.execute(
            sa.select(Alert).where(col(Alert.incident_id) == incident.id).order_by(col(Alert.id))
        ).scalars()
    )
    made: list[Delivery] = []
    seen: set[str] = set()
    for channel, user_id in targets:
        key = delivery_key(dedupe, channel.id or 0, user_id)
        if key in seen:  # a user named twice (by role and by name) gets one message
            continue
        seen.add(key)
        message = incident_message(
            incident,
            alerts,
            key=key,
            reason=reason,
            now=now,
            language=_language(channel, settings),
            console_url=settings.console_url,
        )
        made.append(
            _queue(session, key, channel, incident.id, user_id, reason, message.to_payload(), now)
        )
    return made


def delivery_key(dedupe: str, channel_id: int, user_id: int | None) -> str:
    key = f"{dedupe}:channel:{channel_id}" + (f":user:{user_id}" if user_id else "")
    if len(key) > MAX_KEY:  # still unique: the tail is a hash of the whole key
        key = key[: MAX_KEY - 65] + "#" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _language(channel: NotificationChannel, settings: Settings) -> Language:
    wanted = channel.settings.get("language") if isinstance(channel.settings, dict) else None
    return "en" if (wanted or settings.notify_language) == "en" else "zh-CN"


def _queue(
    session: Session,
    key: str,
    channel: NotificationChannel,
    incident_id: int | None,
    user_id: int | None,
    reason: str,
    payload: dict[str, Any],
    now: datetime,
) -> Delivery:
    existing = _by_key(session, key)
    if existing is not None:
        return existing
    row = Delivery(
        dedupe_key=key,
        channel_id=channel.id or 0,
        incident_id=incident_id,
        user_id=user_id,
        reason=reason[:32],
        payload=payload,
        status=DeliveryStatus.pending,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent writer of the same key wins; we read it
            session.add(row)
    except IntegrityError:
        existing = _by_key(session, key)
        if existing is None:
            raise
        return existing
    return row


def _by_key(session: Session, key: str) -> Delivery | None:
    return session.execute(
        sa.select(Delivery).where(col(Delivery.dedupe_key) == key)
    ).scalar_one_or_none()


# --- A test notification -------------------------------------------------------------------


def send_test(
    session: Session,
    box: SecretBox,
    channel_id: int,
    now: datetime,
    *,
    user_id: int | None = None,
    timeout: float | None = None,
    settings: Settings | None = None,
) -> Delivery:
    """Send a test message through one channel now, once (no retries: the person who asked
    wants to know at once), and return the recorded delivery, sent or failed with why.

    An inbox channel's test goes to `user_id` (the person testing) only.
    """
    settings = settings or get_settings()
    channel = session.get(NotificationChannel, channel_id)
    if channel is None:
        raise NotFound.of("channel.not_found", channel=channel_id)
    key = f"test:{channel_id}:{uuid.uuid4().hex}"
    message = channel_test_message(key=key, now=now, language=_language(channel, settings))
    target = user_id if channel.kind == ChannelKind.inbox else None
    delivery = _queue(session, key, channel, None, target, "test", message.to_payload(), now)
    session.commit()
    once = RetryPolicy(max_attempts=1, workers=1)
    send_one(
        session,
        box,
        delivery.id or 0,
        now,
        timeout=timeout or settings.notify_timeout_seconds,
        retry=once,
    )
    session.refresh(delivery)
    return delivery
