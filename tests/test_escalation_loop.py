"""Escalation inside the real loop (alerts.loop.run_cycle: incidents, escalation, dispatch)
with an injected clock: the on-call user is paged once after group_wait, a restart pages
nobody twice, an ack stops the next step."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from alerts import actions, state
from alerts.loop import build_evaluator, run_cycle
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.models import AlertSource, Delivery, InboxMessage, Incident, Role
from inventory.settings import Settings
from tests.test_escalation import T0, paged, policy
from tests.test_oncall_schedule import people, rotation, sh


def test_the_loop_pages_on_call_once_and_an_ack_stops_it(
    engine: Engine, session: Session, box: SecretBox, settings: Settings
) -> None:
    ann, bob = people(session, "ann", "bob")
    (boss,) = people(session, "boss", role=Role.admin)
    rid = rotation(
        session,
        [{"name": "primary", "member_ids": [ann.id, bob.id], "starts_at": sh(2024, 3, 4, 9)}],
    )
    policy(
        session,
        [
            {"wait_minutes": 0, "targets": [{"type": "rotation", "id": rid}]},
            {"wait_minutes": 10, "targets": [{"type": "user", "id": boss.id}]},
        ],
    )
    fault = state.Observation(
        labels={"alertname": "HostDown", "severity": "critical", "host": "sim-1"},
        annotations={"summary": "sim-1 is down"},
        value=1.0,
        source=AlertSource.rule,
    )
    state.observe(session, "test-rules", [fault], T0, complete=True)
    session.commit()
    evaluator = build_evaluator(settings)

    def cycle(seconds: float) -> None:
        report = run_cycle(engine, box, evaluator, T0 + timedelta(seconds=seconds), send_timeout=5)
        assert report.failed_steps == {}

    cycle(0)  # the incident opens; its first page waits for the route's group_wait
    inc = session.execute(sa.select(Incident)).scalar_one()
    assert paged(session, inc.id or 0) == []
    group_wait = (inc.first_notify_at or T0) - T0
    cycle(group_wait.total_seconds())
    cycle(group_wait.total_seconds())  # a restarted loop runs the same moment again
    session.expire_all()
    assert paged(session, inc.id or 0) == [("step:0:round:0", "ann")]
    inbox = session.execute(sa.select(InboxMessage).where(col(InboxMessage.user_id) == ann.id))
    assert len(inbox.scalars().all()) == 1

    actions.ack(
        session, Viewer("ann", Role.oncall, user_id=ann.id), inc.id or 0, T0 + timedelta(minutes=2)
    )
    session.commit()
    cycle(15 * 60)
    session.expire_all()
    assert paged(session, inc.id or 0) == [("step:0:round:0", "ann")]
    escalations = session.execute(
        sa.select(sa.func.count(col(Delivery.id))).where(col(Delivery.user_id) == boss.id)
    ).scalar_one()
    assert escalations == 0
