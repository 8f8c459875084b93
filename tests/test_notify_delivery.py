"""Deliveries: queued once, retried with backoff, failed with why, never sent twice (across
a restart, a crash mid-send, or two senders at once), and who an incident reaches.
With an injected clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from alerts import dispatch
from alerts.notifiers import channels
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.models import (
    AlertRoute,
    ChannelKind,
    Delivery,
    DeliveryStatus,
    InboxMessage,
    Incident,
    IncidentEvent,
    NotificationChannel,
    Role,
)
from tests import factories
from tests.notify_receivers import closed_port, incident_with_alerts, receiver

NOW = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
SYSTEM = Viewer.system("test")
RETRY = dispatch.RetryPolicy(max_attempts=4, backoff_seconds=10, backoff_max_seconds=25)
PAIR = dispatch.RetryPolicy(workers=2)


def webhook(session: Session, box: SecretBox, url: str, name: str = "hook") -> NotificationChannel:
    data = channels.ChannelCreate(name=name, kind=ChannelKind.webhook, settings={"url": url})
    made = channels.create(session, SYSTEM, data, box, NOW)
    session.commit()
    return made


def queue(
    session: Session, chan: NotificationChannel, dedupe: str = "incident:x:firing"
) -> Delivery:
    incident = incident_with_alerts(session, NOW)
    [delivery] = dispatch.notify_incident(
        session, incident, reason="firing", now=NOW, dedupe=dedupe, channels=[chan]
    )
    session.commit()
    return delivery


def reload(engine: Engine, delivery_id: int | None) -> Delivery:
    with Session(engine) as fresh:
        row = fresh.get(Delivery, delivery_id)
        assert row is not None
        return row


def test_queueing_is_idempotent(session: Session, box: SecretBox) -> None:
    with receiver() as hook:
        chan = webhook(session, box, hook.url)
        incident = incident_with_alerts(session, NOW)
        first = dispatch.notify_incident(
            session, incident, reason="firing", now=NOW, dedupe="d1", channels=[chan]
        )
        session.commit()
        again = dispatch.notify_incident(
            session, incident, reason="firing", now=NOW, dedupe="d1", channels=[chan, chan]
        )
        session.commit()
        assert [d.id for d in again] == [d.id for d in first]
        assert dispatch.send_due(session, box, NOW, timeout=5, retry=RETRY) == 1
        assert dispatch.send_due(session, box, NOW + timedelta(hours=1), timeout=5) == 0
    assert len(hook.requests) == 1
    total = session.execute(sa.select(sa.func.count()).select_from(Delivery)).scalar_one()
    assert total == 1


def test_receiver_down_retries_with_backoff_then_fails_with_the_reason(
    session: Session, box: SecretBox
) -> None:
    chan = webhook(session, box, f"http://127.0.0.1:{closed_port()}/hook")
    delivery = queue(session, chan)
    at = NOW
    waits = []
    for attempt in range(1, RETRY.max_attempts + 1):
        # Not yet due a moment before its time: backoff holds.
        assert (
            dispatch.send_due(session, box, at - timedelta(seconds=1), timeout=2, retry=RETRY) == 0
        )
        assert dispatch.send_due(session, box, at, timeout=2, retry=RETRY) == 0
        session.refresh(delivery)
        assert delivery.attempts == attempt
        assert "Connection refused" in (delivery.error or ""), delivery.error
        assert delivery.error and delivery.error.startswith(f"attempt {attempt}/4: cannot reach")
        if attempt < RETRY.max_attempts:
            assert delivery.status == DeliveryStatus.pending and delivery.next_attempt_at
            waits.append((delivery.next_attempt_at - at).total_seconds())
            at = delivery.next_attempt_at
    assert waits == [10, 20, 25]  # doubling, capped
    assert delivery.status == DeliveryStatus.failed and delivery.next_attempt_at is None
    assert delivery.sent_at is None
    # Failed for good: nothing more is tried, however late.
    assert dispatch.send_due(session, box, at + timedelta(days=1), timeout=2, retry=RETRY) == 0
    session.refresh(delivery)
    assert delivery.attempts == RETRY.max_attempts
    events = session.execute(
        sa.select(IncidentEvent).where(col(IncidentEvent.incident_id) == delivery.incident_id)
    ).scalars()
    assert [e.kind for e in events] == ["delivery_failed"]


def test_receiver_back_up_gets_it_on_the_next_try(session: Session, box: SecretBox) -> None:
    answers = iter([(503, {"error": "busy"}), (200, {})])
    with receiver(lambda _: next(answers)) as hook:
        chan = webhook(session, box, hook.url)
        delivery = queue(session, chan)
        assert dispatch.send_due(session, box, NOW, timeout=5, retry=RETRY) == 0
        session.refresh(delivery)
        assert delivery.status == DeliveryStatus.pending and "HTTP 503" in (delivery.error or "")
        later = NOW + timedelta(seconds=10)
        assert dispatch.send_due(session, box, later, timeout=5, retry=RETRY) == 1
    after = session.get(Delivery, delivery.id, populate_existing=True)
    assert after is not None
    assert after.status == DeliveryStatus.sent and after.error is None
    assert after.sent_at == later and after.attempts == 2
    assert len(hook.requests) == 2


def test_a_rejected_request_fails_at_once(session: Session, box: SecretBox) -> None:
    with receiver(lambda _: (400, {"error": "no such team"})) as hook:
        delivery = queue(session, webhook(session, box, hook.url))
        dispatch.send_due(session, box, NOW, timeout=5, retry=RETRY)
    session.refresh(delivery)
    assert delivery.status == DeliveryStatus.failed and delivery.attempts == 1
    assert "HTTP 400: " in (delivery.error or "") and "no such team" in (delivery.error or "")


def test_a_restart_never_resends(database_url: str, engine: Engine, box: SecretBox) -> None:
    with receiver() as hook:
        with Session(engine, expire_on_commit=False) as session:
            delivery = queue(session, webhook(session, box, hook.url))
            assert dispatch.send_due(session, box, NOW, timeout=5, retry=RETRY) == 1
        # A new process: its own engine and session on the same database, running the loop
        # again at later times and re-making the same decision.
        restarted = make_engine(database_url)
        try:
            with Session(restarted) as session:
                for minutes in (0, 1, 60, 24 * 60):
                    at = NOW + timedelta(minutes=minutes)
                    assert dispatch.send_due(session, box, at, timeout=5, retry=RETRY) == 0
                incident = session.get(Incident, delivery.incident_id)
                chan = session.get(NotificationChannel, delivery.channel_id)
                assert incident is not None and chan is not None
                again = dispatch.notify_incident(
                    session,
                    incident,
                    reason="firing",
                    now=NOW,
                    dedupe="incident:x:firing",
                    channels=[chan],
                )
                session.commit()
                assert [d.id for d in again] == [delivery.id]
                assert dispatch.send_due(session, box, NOW, timeout=5, retry=RETRY) == 0
        finally:
            restarted.dispose()
    assert len(hook.requests) == 1
    assert reload(engine, delivery.id).status == DeliveryStatus.sent


def test_a_crash_after_the_claim_sends_once_when_the_claim_lapses(
    engine: Engine, box: SecretBox
) -> None:
    """Killed between committing the claim and sending: nothing is lost, nothing doubled."""
    with receiver() as hook, Session(engine, expire_on_commit=False) as session:
        delivery = queue(session, webhook(session, box, hook.url))
        # What send_due commits before any network call, then the process "dies".
        until = NOW + timedelta(minutes=2)
        session.execute(
            sa.update(Delivery)
            .where(col(Delivery.id) == delivery.id)
            .values(attempts=1, next_attempt_at=until)
        )
        session.commit()
        assert dispatch.send_due(session, box, NOW + timedelta(minutes=1), timeout=5) == 0
        assert hook.requests == []  # the claim still holds
        assert dispatch.send_due(session, box, until, timeout=5, retry=RETRY) == 1
        assert dispatch.send_due(session, box, until + timedelta(hours=1), timeout=5) == 0
    assert len(hook.requests) == 1
    row = reload(engine, delivery.id)
    assert row.status == DeliveryStatus.sent and row.attempts == 2


def test_two_senders_at_once_send_each_delivery_once(
    database_url: str, engine: Engine, box: SecretBox
) -> None:
    with receiver() as hook:
        with Session(engine, expire_on_commit=False) as session:
            chan = webhook(session, box, hook.url)
            incident = incident_with_alerts(session, NOW)
            for n in range(30):
                dispatch.notify_incident(
                    session, incident, reason="firing", now=NOW, dedupe=f"n{n}", channels=[chan]
                )
            session.commit()
        counts: list[int] = []
        start = threading.Barrier(2)

        def sender() -> None:
            own = make_engine(database_url)
            try:
                with Session(own) as session:
                    start.wait()
                    # Batches of 10 (2 workers x 5): each sender goes round several times.
                    counts.append(dispatch.send_due(session, box, NOW, timeout=5, retry=PAIR))
            finally:
                own.dispose()

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(counts) == 30
    keys = [r.headers["x-yunheng-delivery"] for r in hook.requests]
    assert len(keys) == len(set(keys)) == 30


def test_disabled_or_deleted_channel_fails_the_queued_delivery(
    session: Session, box: SecretBox
) -> None:
    with receiver() as hook:
        chan = webhook(session, box, hook.url)
        delivery = queue(session, chan)
        chan.enabled = False
        session.add(chan)
        session.commit()
        dispatch.send_due(session, box, NOW, timeout=5, retry=RETRY)
    session.refresh(delivery)
    assert delivery.status == DeliveryStatus.failed
    assert delivery.error == "attempt 1/4: channel 'hook' is disabled"
    assert hook.requests == []


def test_inbox_reaches_users_by_role_and_name_once_each(session: Session, box: SecretBox) -> None:
    oncall = factories.user(session, "oncall-a", Role.oncall).user
    factories.user(session, "oncall-b", Role.oncall)
    manager = factories.user(session, "boss", Role.manager).user
    factories.user(session, "admin-x", Role.admin)
    data = channels.ChannelCreate(
        name="ops-inbox",
        kind=ChannelKind.inbox,
        settings={"roles": ["oncall"], "users": ["BOSS", "oncall-a"]},
    )
    chan = channels.create(session, SYSTEM, data, box, NOW)
    session.commit()
    incident = incident_with_alerts(session, NOW)
    made = dispatch.notify_incident(
        session, incident, reason="firing", now=NOW, dedupe="i1", channels=[chan]
    )
    session.commit()
    assert len(made) == 3
    assert dispatch.send_due(session, box, NOW, timeout=5, retry=RETRY) == 3
    assert dispatch.send_due(session, box, NOW + timedelta(hours=1), timeout=5) == 0
    messages = list(session.execute(sa.select(InboxMessage)).scalars())
    assert sorted(m.user_id for m in messages) == sorted(
        [oncall.id or 0, manager.id or 0, made[1].user_id or 0]
    )
    assert all(m.incident_id == incident.id and "HostDown" in m.title for m in messages)
    # Escalation names users: their inbox, through the built-in inbox channel.
    dispatch.notify_incident(
        session, incident, reason="escalation", now=NOW, dedupe="step0", users=[manager]
    )
    session.commit()
    assert dispatch.send_due(session, box, NOW, timeout=5, retry=RETRY) == 1
    titles = session.execute(
        sa.select(col(InboxMessage.title)).where(col(InboxMessage.user_id) == manager.id)
    ).scalars()
    assert sorted(titles) == sorted(
        [
            f"【P1·告警】HostDown 等 2 条(事件 #{incident.id})",
            f"【P1·升级】HostDown 等 2 条(事件 #{incident.id})",
        ]
    )


def test_an_incident_without_route_channels_reaches_the_default_channels(
    session: Session, box: SecretBox
) -> None:
    oncall = factories.user(session, "oncall-a", Role.oncall).user
    with receiver() as hook:
        routed = webhook(session, box, hook.url, name="routed")
        incident = incident_with_alerts(session, NOW)
        # No route: the built-in inbox (made on first use) reaches the on-call users.
        made = dispatch.notify_incident(session, incident, reason="firing", now=NOW, dedupe="a")
        assert [(d.user_id, d.reason) for d in made] == [(oncall.id, "firing")]
        builtin = session.get(NotificationChannel, made[0].channel_id)
        assert builtin is not None and builtin.kind == ChannelKind.inbox
        # A route naming channels: those.
        route = AlertRoute(name="ops", channel_ids=[routed.id or 0])
        session.add(route)
        session.flush()
        incident.route_id = route.id
        made = dispatch.notify_incident(session, incident, reason="firing", now=NOW, dedupe="b")
        assert [d.channel_id for d in made] == [routed.id]
        session.commit()
        assert dispatch.send_due(session, box, NOW, timeout=5, retry=RETRY) == 2
    assert len(hook.requests) == 1
