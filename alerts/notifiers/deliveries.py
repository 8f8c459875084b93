"""Reading the delivery record: what was sent to whom, and what failed and why."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session, col

from inventory.models import Delivery, DeliveryStatus, NotificationChannel, User
from inventory.paging import Page, PageParams, count, order_by


class DeliveryPublic(BaseModel):
    id: int
    dedupe_key: str
    channel_id: int
    channel: str | None
    incident_id: int | None
    user_id: int | None
    username: str | None
    reason: str
    title: str = Field(description="The message's title as it was sent")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    error: str | None = Field(description="Why the last attempt failed")
    created_at: datetime
    sent_at: datetime | None


def list_deliveries(
    session: Session,
    page: PageParams,
    *,
    incident_id: int | None = None,
    status: list[DeliveryStatus] | None = None,
    channel_id: int | None = None,
    reason: str | None = None,
    delivery_id: int | None = None,
) -> Page[DeliveryPublic]:
    query = (
        sa.select(Delivery, col(NotificationChannel.name), col(User.username))
        .join(NotificationChannel, col(NotificationChannel.id) == col(Delivery.channel_id))
        .outerjoin(User, col(User.id) == col(Delivery.user_id))
    )
    if delivery_id is not None:
        query = query.where(col(Delivery.id) == delivery_id)
    if incident_id is not None:
        query = query.where(col(Delivery.incident_id) == incident_id)
    if status:
        query = query.where(col(Delivery.status).in_(status))
    if channel_id is not None:
        query = query.where(col(Delivery.channel_id) == channel_id)
    if reason:
        query = query.where(col(Delivery.reason) == reason)
    newest = col(Delivery.id).desc()
    sortable = {"created_at": col(Delivery.created_at), "status": col(Delivery.status)}
    rows = session.execute(
        query.order_by(*order_by(page.sort, sortable, newest)).offset(page.offset).limit(page.limit)
    ).all()
    items = [
        DeliveryPublic(
            id=d.id or 0,
            dedupe_key=d.dedupe_key,
            channel_id=d.channel_id,
            channel=channel,
            incident_id=d.incident_id,
            user_id=d.user_id,
            username=username,
            reason=d.reason,
            title=str(d.payload.get("title", "")),
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            error=d.error,
            created_at=d.created_at,
            sent_at=d.sent_at,
        )
        for d, channel, username in rows
    ]
    return Page(items=items, total=count(session, query), limit=page.limit, offset=page.offset)
