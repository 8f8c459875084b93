"""The in-console inbox: a notifier whose endpoint is the console's own database.

An inbox delivery is one user's: dispatch writes the InboxMessage in the same transaction
that marks the delivery sent, so an inbox message exists exactly once. Channel settings say
whom a route-level notification reaches (usernames and roles); escalation names users
directly.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import Field
from sqlmodel import Session, col

from alerts.message import Message
from alerts.notifiers.base import Strict
from inventory.errors import NotFound
from inventory.models import InboxMessage, Role, User
from inventory.paging import Page, PageParams, count, order_by


class Settings(Strict):
    users: list[str] = Field(default_factory=list, description="Usernames to notify")
    roles: list[Role] = Field(default_factory=list, description="Every active user of these")
    default: bool = Field(
        default=False,
        description="Used for incidents whose route names no channel and that have no "
        "escalation policy",
    )


class Secrets(Strict):
    pass


def recipients(session: Session, settings: Settings) -> list[int]:
    """Active users named by username or role, in id order."""
    if not settings.users and not settings.roles:
        return []
    query = sa.select(col(User.id)).where(col(User.is_active).is_(True))
    query = query.where(
        sa.or_(
            col(User.username).in_([u.lower() for u in settings.users]),
            col(User.role).in_(settings.roles),
        )
    )
    return [int(i) for i in session.execute(query.order_by(col(User.id))).scalars()]


def deliver(session: Session, user_id: int, message: Message, now: datetime) -> InboxMessage:
    row = InboxMessage(
        user_id=user_id,
        incident_id=message.incident_id,
        title=message.title[:300],
        body=message.text,
        created_at=now,
    )
    session.add(row)
    return row


# --- The reader's side ---------------------------------------------------------------------


def list_own(
    session: Session, user_id: int, page: PageParams, *, unread: bool | None = None
) -> Page[InboxMessage]:
    query = sa.select(InboxMessage).where(col(InboxMessage.user_id) == user_id)
    if unread is True:
        query = query.where(col(InboxMessage.read_at).is_(None))
    elif unread is False:
        query = query.where(col(InboxMessage.read_at).is_not(None))
    newest = col(InboxMessage.id).desc()
    rows = session.execute(
        query.order_by(*order_by(page.sort, {"created_at": col(InboxMessage.created_at)}, newest))
        .offset(page.offset)
        .limit(page.limit)
    ).scalars()
    return Page(items=list(rows), total=count(session, query), limit=page.limit, offset=page.offset)


def mark_read(session: Session, user_id: int, message_id: int, now: datetime) -> InboxMessage:
    row = session.get(InboxMessage, message_id)
    # Another user's message answers like a missing one: its existence is not theirs to know.
    if row is None or row.user_id != user_id:
        raise NotFound.of("inbox.not_found", message=message_id)
    if row.read_at is None:
        row.read_at = now
        session.add(row)
    return row
