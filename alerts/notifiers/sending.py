"""Sending queued deliveries: claimed, sent on worker threads, recorded as sent, due again
after a backoff, or failed with why.

Never twice, never lost: how a restart is handled
- A sent row is never sent again: every send is claimed first and recorded after by
  conditional UPDATEs (`WHERE status = 'pending' AND attempts = <seen>`), each committed;
  two senders (two replicas during a lease handover) never both win one claim.
- Sending is at-least-once, not at-most-once. The claim (attempts + 1, next try pushed past
  the batch's time limit) is committed *before* the network call, and `sent` right after it.
  A process killed before the call leaves a claimed row that is tried again once the claim
  lapses: nothing is lost. Only a process killed in the instant between the receiver's
  answer and the commit of `sent` sends that one notification again; every payload carries
  its delivery key (the X-Yunheng-Delivery header, the email's Message-ID) so a receiver can
  drop the repeat. We chose this over at-most-once because a page that silently never goes
  out is worse for on-call than a rare duplicate.
- The inbox is written in the same transaction that marks its delivery sent: exactly once.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col

from alerts import notifiers
from alerts.message import Message
from alerts.notifiers import channels as channel_service
from alerts.notifiers import inbox
from alerts.notifiers.errors import NotifyError
from alerts.timeline import add_event
from inventory.crypto import SecretBox, SecretBoxError
from inventory.models import ChannelKind, Delivery, DeliveryStatus, NotificationChannel
from inventory.settings import Settings, get_settings

log = logging.getLogger(__name__)

MAX_ERROR = 2000
BATCH_PER_WORKER = 5  # deliveries claimed per worker thread at a time


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 900.0
    workers: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.notify_max_attempts,
            backoff_seconds=settings.notify_backoff_seconds,
            backoff_max_seconds=settings.notify_backoff_max_seconds,
            workers=settings.notify_workers,
        )

    def delay(self, attempt: int) -> timedelta:
        """The wait after the `attempt`-th try failed: base, 2x base, 4x base, ... capped."""
        seconds = self.backoff_seconds * 2 ** max(0, attempt - 1)
        return timedelta(seconds=min(seconds, self.backoff_max_seconds))


@dataclass(frozen=True, slots=True)
class _Job:
    """What one send needs, as plain data: worker threads must not touch ORM rows."""

    delivery_id: int
    attempt: int  # the attempt this claim is for (1-based)
    kind: ChannelKind | None
    channel_name: str
    settings: dict[str, Any]
    secrets: dict[str, Any]
    message: Message | None
    broken: str | None = None  # why it cannot be sent at all (no retry)


def send_due(
    session: Session,
    box: SecretBox,
    now: datetime,
    *,
    timeout: float,
    retry: RetryPolicy | None = None,
    limit: int = 500,
) -> int:
    """Send pending deliveries whose time has come (up to `limit`); returns how many were sent.

    Works in batches of a few per worker thread: a batch's claims are committed before its
    sends, each outcome after. The threads only do network calls, never touch the session.
    """
    retry = retry or RetryPolicy.from_settings(get_settings())
    batch = retry.workers * BATCH_PER_WORKER
    # A claim outlasts its whole batch, so a live sender is never overtaken by another, and
    # lapses soon enough after a crash that the page still goes out in minutes.
    claim_until = now + timedelta(seconds=timeout * 3 * BATCH_PER_WORKER + 30)
    sent = tried = 0
    while tried < limit:
        due = session.execute(
            sa.select(col(Delivery.id), col(Delivery.attempts))
            .where(col(Delivery.status) == DeliveryStatus.pending)
            .where(col(Delivery.next_attempt_at) <= now)
            .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
            .limit(min(batch, limit - tried))
        ).all()
        if not due:
            break
        tried += len(due)
        claimed = [
            (int(i), int(a) + 1)
            for i, a in due
            if _claim(session, int(i), int(a), now, claim_until)
        ]
        session.commit()
        sent += _send_batch(session, box, claimed, now, timeout, retry)
    return sent


def _send_batch(
    session: Session,
    box: SecretBox,
    claimed: list[tuple[int, int]],
    now: datetime,
    timeout: float,
    retry: RetryPolicy,
) -> int:
    jobs = [_job(session, box, delivery_id, attempt) for delivery_id, attempt in claimed]
    sent = 0
    for job in [j for j in jobs if _is_inbox(j)]:
        sent += _record(session, job, _send(job, timeout), now, retry)
    network = [j for j in jobs if not _is_inbox(j)]
    if network:
        with ThreadPoolExecutor(max_workers=retry.workers, thread_name_prefix="notify") as pool:
            outcomes = list(pool.map(lambda j: _send(j, timeout), network))
        for job, failure in zip(network, outcomes, strict=True):
            sent += _record(session, job, failure, now, retry)
    return sent


def _claim(
    session: Session, delivery_id: int, seen_attempts: int, now: datetime, until: datetime
) -> bool:
    result = session.execute(
        sa.update(Delivery)
        .where(col(Delivery.id) == delivery_id)
        .where(col(Delivery.status) == DeliveryStatus.pending)
        .where(col(Delivery.attempts) == seen_attempts)
        .where(col(Delivery.next_attempt_at) <= now)
        .values(attempts=seen_attempts + 1, next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def _job(session: Session, box: SecretBox, delivery_id: int, attempt: int) -> _Job:
    delivery = session.get(Delivery, delivery_id, populate_existing=True)
    assert delivery is not None  # claimed a moment ago; deliveries are never deleted
    channel = session.get(NotificationChannel, delivery.channel_id)
    if channel is None:
        return _Job(
            delivery_id,
            attempt,
            None,
            f"#{delivery.channel_id}",
            {},
            {},
            None,
            "its channel was deleted",
        )
    own = channel_service.own_settings(channel.kind, channel.settings)
    job = _Job(delivery_id, attempt, channel.kind, channel.name, own, {}, None)
    try:
        message = Message.from_payload(delivery.payload)
    except (KeyError, TypeError, ValueError) as exc:
        return replace(job, broken=f"unreadable payload: {exc}")
    job = replace(job, message=message)
    if not channel.enabled:
        return replace(job, broken=f"channel {channel.name!r} is disabled")
    try:
        return replace(job, secrets=channel_service.secrets_of(channel, box))
    except SecretBoxError as exc:
        return replace(job, broken=f"channel secrets: {exc}")


def _is_inbox(job: _Job) -> bool:
    return job.kind == ChannelKind.inbox


def _send(job: _Job, timeout: float) -> NotifyError | None:
    """Runs on a worker thread: the network call only."""
    if job.broken is not None:
        return NotifyError(job.broken, retry=False)
    if _is_inbox(job):
        return None  # written by _record, in the transaction that marks it sent
    assert job.kind is not None and job.message is not None
    try:
        notifiers.send(job.kind, job.settings, job.secrets, job.message, timeout=timeout)
    except NotifyError as exc:
        return exc
    except Exception as exc:  # a notifier bug must cost one delivery, not the loop
        log.exception("notifier %s raised", job.kind.value)
        return NotifyError(f"{type(exc).__name__}: {exc}")
    return None


def _record(
    session: Session, job: _Job, failure: NotifyError | None, now: datetime, retry: RetryPolicy
) -> int:
    """Mark the claimed attempt sent, due again, or failed; commit. 1 if sent."""
    delivery = session.get(Delivery, job.delivery_id)
    assert delivery is not None
    where = [
        col(Delivery.id) == job.delivery_id,
        col(Delivery.status) == DeliveryStatus.pending,
        col(Delivery.attempts) == job.attempt,
    ]
    if failure is None and _is_inbox(job):
        if delivery.user_id is None or job.message is None:
            failure = NotifyError("an inbox delivery without a user", retry=False)
        else:
            inbox.deliver(session, delivery.user_id, job.message, now)
    if failure is None:
        values: dict[str, Any] = {
            "status": DeliveryStatus.sent,
            "sent_at": now,
            "next_attempt_at": None,
            "error": None,
        }
    else:
        why = f"attempt {job.attempt}/{retry.max_attempts}: {failure.why}"[:MAX_ERROR]
        last = not failure.retry or job.attempt >= retry.max_attempts
        values = {
            "status": DeliveryStatus.failed if last else DeliveryStatus.pending,
            "next_attempt_at": None if last else now + retry.delay(job.attempt),
            "error": why,
        }
    result = session.execute(
        sa.update(Delivery)
        .where(*where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        session.rollback()  # the claim was lost (it lapsed and another sender took it)
        log.warning("delivery %s: claim lost, outcome not recorded", job.delivery_id)
        return 0
    _log_outcome(session, delivery, job, values, now)
    session.commit()
    return 1 if failure is None else 0


def _log_outcome(
    session: Session, delivery: Delivery, job: _Job, values: dict[str, Any], now: datetime
) -> None:
    whom = job.channel_name + (f" (user {delivery.user_id})" if delivery.user_id else "")
    status = values["status"]
    if status == DeliveryStatus.sent:
        log.info("delivery %s (%s) sent to %s", delivery.id, delivery.reason, whom)
    elif status == DeliveryStatus.failed:
        log.warning("delivery %s to %s failed for good: %s", delivery.id, whom, values["error"])
    else:
        log.info(
            "delivery %s to %s: %s; retry at %s",
            delivery.id,
            whom,
            values["error"],
            values["next_attempt_at"].isoformat(),
        )
    if delivery.incident_id is None or status == DeliveryStatus.pending:
        return
    add_event(
        session,
        delivery.incident_id,
        "delivered" if status == DeliveryStatus.sent else "delivery_failed",
        at=now,
        detail=f"{delivery.reason} to {whom}"
        + ("" if status == DeliveryStatus.sent else f": {values['error']}"),
        data={
            "delivery_id": delivery.id,
            "channel_id": delivery.channel_id,
            "user_id": delivery.user_id,
            "reason": delivery.reason,
        },
    )


def send_one(
    session: Session,
    box: SecretBox,
    delivery_id: int,
    now: datetime,
    *,
    timeout: float,
    retry: RetryPolicy,
) -> bool:
    """Claim, send and record one pending delivery now; True if it was sent."""
    row = session.get(Delivery, delivery_id, populate_existing=True)
    if row is None or row.status != DeliveryStatus.pending:
        return False
    seen = row.attempts
    until = now + timedelta(seconds=timeout * 3 + 30)
    if not _claim(session, delivery_id, seen, now, until):
        session.rollback()
        return False
    session.commit()
    job = _job(session, box, delivery_id, seen + 1)
    failure = _send(job, timeout)
    return _record(session, job, failure, now, retry) == 1
