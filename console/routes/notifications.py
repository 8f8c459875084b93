"""Notification channels, the delivery record, and each user's in-console inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from alerts import dispatch
from alerts.notifiers import channels, deliveries, inbox
from alerts.notifiers.channels import ChannelCreate, ChannelPublic, ChannelUpdate
from alerts.notifiers.deliveries import DeliveryPublic
from console.deps import (
    AdminDep,
    BoxDep,
    Id,
    PageDep,
    SessionDep,
    SettingsDep,
    StaffDep,
    ViewerDep,
    require,
)
from console.one_hop import OneHopRoute
from inventory import audit
from inventory.access import Viewer
from inventory.errors import Invalid
from inventory.models import ChannelKind, DeliveryStatus, Role
from inventory.paging import Page, PageParams
from inventory.types import utcnow

router = APIRouter(route_class=OneHopRoute, tags=["notifications"])

Tester = Annotated[Viewer, Depends(require(Role.admin, Role.oncall))]


@router.get("/channels", response_model=Page[ChannelPublic], summary="Notification channels")
def channels_list(
    session: SessionDep,
    viewer: StaffDep,
    box: BoxDep,
    page: PageDep,
    kind: ChannelKind | None = None,
) -> Page[ChannelPublic]:
    found = channels.list_channels(session, page, kind=kind)
    return Page(
        items=[channels.public(c, box) for c in found.items],
        total=found.total,
        limit=found.limit,
        offset=found.offset,
    )


@router.post(
    "/channels",
    response_model=ChannelPublic,
    status_code=201,
    summary="Add a channel; its secrets are encrypted at rest and never returned",
)
def channels_create(
    body: ChannelCreate, session: SessionDep, viewer: AdminDep, box: BoxDep
) -> ChannelPublic:
    channel = channels.create(session, viewer, body, box, utcnow())
    session.commit()
    return channels.public(channel, box)


@router.get("/channels/{channel_id}", response_model=ChannelPublic)
def channels_get(
    channel_id: Id, session: SessionDep, viewer: StaffDep, box: BoxDep
) -> ChannelPublic:
    return channels.public(channels.get(session, channel_id), box)


@router.patch(
    "/channels/{channel_id}",
    response_model=ChannelPublic,
    summary="Change a channel (settings and secrets are JSON merge patches)",
)
def channels_update(
    channel_id: Id, body: ChannelUpdate, session: SessionDep, viewer: AdminDep, box: BoxDep
) -> ChannelPublic:
    channel = channels.update(session, viewer, channel_id, body, box, utcnow())
    session.commit()
    return channels.public(channel, box)


@router.delete(
    "/channels/{channel_id}",
    status_code=204,
    summary="Delete a channel that has never delivered anything (else disable it)",
)
def channels_delete(channel_id: Id, session: SessionDep, viewer: AdminDep) -> Response:
    channels.delete(session, viewer, channel_id)
    session.commit()
    return Response(status_code=204)


class TestResult(BaseModel):
    ok: bool
    delivery: DeliveryPublic


@router.post(
    "/channels/{channel_id}/test",
    response_model=TestResult,
    summary="Send a test notification now, once, and say whether it got through",
    description="An inbox channel's test goes to the caller's own inbox.",
)
def channels_test(
    channel_id: Id, session: SessionDep, viewer: Tester, box: BoxDep, settings: SettingsDep
) -> TestResult:
    delivery = dispatch.send_test(
        session,
        box,
        channel_id,
        utcnow(),
        user_id=viewer.user_id,
        timeout=settings.notify_timeout_seconds,
        settings=settings,
    )
    audit.record(
        session,
        actor=viewer.username,
        action="channel.test",
        target_type="notification_channel",
        target_id=channel_id,
        after={"delivery_id": delivery.id, "status": delivery.status.value},
        detail=delivery.error,
    )
    session.commit()
    found = deliveries.list_deliveries(session, PageParams(limit=1), delivery_id=delivery.id)
    return TestResult(ok=delivery.status == DeliveryStatus.sent, delivery=found.items[0])


def _statuses(value: str | None) -> list[DeliveryStatus] | None:
    if not value:
        return None
    try:
        return [DeliveryStatus(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        known = ", ".join(s.value for s in DeliveryStatus)
        raise Invalid.of("filter.delivery_status", field="status", choices=known) from None


@router.get(
    "/deliveries",
    response_model=Page[DeliveryPublic],
    summary="What was sent to whom, newest first; failed ones say why",
)
def deliveries_list(
    session: SessionDep,
    viewer: StaffDep,
    page: PageDep,
    incident: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    status: Annotated[
        str | None, Query(max_length=64, description="pending, sent, failed (comma list)")
    ] = None,
    channel: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    reason: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[DeliveryPublic]:
    return deliveries.list_deliveries(
        session,
        page,
        incident_id=incident,
        status=_statuses(status),
        channel_id=channel,
        reason=reason,
    )


class InboxMessagePublic(BaseModel):
    id: int
    incident_id: int | None
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


@router.get(
    "/inbox",
    response_model=Page[InboxMessagePublic],
    summary="The caller's own notifications, newest first",
)
def inbox_list(
    session: SessionDep,
    viewer: ViewerDep,
    page: PageDep,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read")] = None,
) -> Page[InboxMessagePublic]:
    found = inbox.list_own(session, viewer.user_id or 0, page, unread=unread)
    return Page(
        items=[InboxMessagePublic.model_validate(m, from_attributes=True) for m in found.items],
        total=found.total,
        limit=found.limit,
        offset=found.offset,
    )


@router.post("/inbox/{message_id}/read", response_model=InboxMessagePublic)
def inbox_read(message_id: Id, session: SessionDep, viewer: ViewerDep) -> InboxMessagePublic:
    message = inbox.mark_read(session, viewer.user_id or 0, message_id, utcnow())
    session.commit()
    return InboxMessagePublic.model_validate(message, from_attributes=True)
