"""Escalation with an injected clock on SQLite and PostgreSQL: steps with waits and repeats,
an ack stops it, escalate_now jumps a step, each step pages once however often the loop
runs, and pages reach the on-call user's inbox through the real dispatcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from alerts import actions, dispatch, escalation, policies
from alerts.oncall_schemas import PolicyCreate
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.errors import Conflict
from inventory.models import (
    Alert,
    AlertRoute,
    AlertSource,
    AlertState,
    Delivery,
    InboxMessage,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Role,
    RotationLayer,
    Severity,
    User,
)
from tests import factories
from tests.test_oncall_schedule import ADMIN, people, rotation, sh

T0 = sh(2024, 3, 4, 10).astimezone(UTC)  # Monday 10:00 in Shanghai: ann's shift


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def policy(
    session: Session, steps: list[dict[str, Any]], *, repeat: int = 0, name: str = "default"
) -> int:
    made = policies.create_policy(
        session,
        ADMIN,
        PolicyCreate.model_validate({"name": name, "steps": steps, "repeat": repeat}),
    )
    session.commit()
    return made.id or 0


def incident(session: Session, at: datetime = T0, **fields: Any) -> Incident:
    row = Incident(
        group_key="alertname=HostDown",
        title="HostDown (cloud=cloud-os)",
        severity=fields.pop("severity", Severity.P1),
        status=IncidentStatus.open,
        created_at=at,
        **fields,
    )
    session.add(row)
    session.flush()
    escalation.start(session, row, at)
    session.commit()
    return row


def paged(session: Session, incident_id: int) -> list[tuple[str, str]]:
    """(dedupe key prefix up to the channel, username) of every escalation delivery."""
    rows = session.execute(
        sa.select(col(Delivery.dedupe_key), col(User.username))
        .join(User, col(User.id) == col(Delivery.user_id))
        .where(col(Delivery.incident_id) == incident_id, col(Delivery.reason) == "escalation")
        .order_by(col(Delivery.id))
    ).all()
    return [(key.split(":channel:")[0].split(":", 2)[2], name) for key, name in rows]


def kinds(session: Session, incident_id: int) -> list[str]:
    return list(
        session.execute(
            sa.select(col(IncidentEvent.kind))
            .where(col(IncidentEvent.incident_id) == incident_id)
            .order_by(col(IncidentEvent.id))
        ).scalars()
    )


@pytest.fixture
def team(session: Session) -> dict[str, Any]:
    """ann and bob take daily turns from Monday 09:00 Shanghai; boss is the admin."""
    ann, bob = people(session, "ann", "bob")
    (boss,) = people(session, "boss", role=Role.admin)
    rid = rotation(
        session,
        [{"name": "primary", "member_ids": [ann.id, bob.id], "starts_at": sh(2024, 3, 4, 9)}],
    )
    return {"ann": ann, "bob": bob, "boss": boss, "rotation": rid}


def two_steps(session: Session, team: dict[str, Any], repeat: int = 1) -> int:
    return policy(
        session,
        [
            {"wait_minutes": 0, "targets": [{"type": "rotation", "id": team["rotation"]}]},
            {"wait_minutes": 10, "targets": [{"type": "user", "id": team["boss"].id}]},
        ],
        repeat=repeat,
    )


def test_steps_wait_then_page_and_the_list_repeats(session: Session, team: dict[str, Any]) -> None:
    two_steps(session, team, repeat=1)
    inc = incident(session)  # no route: the policy named "default" applies
    assert inc.escalation_policy_id is not None and inc.next_escalation_at == T0
    runs = [(m, escalation.escalate_due(session, minutes(m))) for m in (0, 9, 10, 19, 20, 30, 120)]
    session.commit()
    assert runs == [(0, 1), (9, 0), (10, 1), (19, 0), (20, 1), (30, 1), (120, 0)]
    assert paged(session, inc.id or 0) == [
        ("step:0:round:0", "ann"),
        ("step:1:round:0", "boss"),
        ("step:0:round:1", "ann"),  # the repeat round starts 10 minutes after the last step
        ("step:1:round:1", "boss"),
    ]
    assert inc.next_escalation_at is None
    assert kinds(session, inc.id or 0) == ["escalation_started"] + ["escalated"] * 4 + [
        "escalation_ended"
    ]


def test_an_ack_stops_escalation(session: Session, team: dict[str, Any]) -> None:
    two_steps(session, team)
    inc = incident(session)
    assert escalation.escalate_due(session, minutes(0)) == 1
    session.commit()
    ann = Viewer(username="ann", role=Role.oncall, user_id=team["ann"].id)
    actions.ack(session, ann, inc.id or 0, minutes(3))
    session.commit()
    assert escalation.escalate_due(session, minutes(10)) == 0
    assert escalation.escalate_due(session, minutes(60)) == 0
    assert paged(session, inc.id or 0) == [("step:0:round:0", "ann")]


def test_escalate_now_jumps_to_the_next_step(session: Session, team: dict[str, Any]) -> None:
    two_steps(session, team, repeat=0)
    inc = incident(session)
    escalation.escalate_due(session, minutes(0))
    run = escalation.escalate_now(session, inc, minutes(2), actor="ann")
    session.commit()
    assert (run.step, [u.username for u in run.users]) == (1, ["boss"])
    assert paged(session, inc.id or 0) == [("step:0:round:0", "ann"), ("step:1:round:0", "boss")]
    # The jumped step is not paged again when its time would have come.
    assert escalation.escalate_due(session, minutes(10)) == 0
    with pytest.raises(Conflict, match="every step"):
        escalation.escalate_now(session, inc, minutes(11))
    event = (
        session.execute(
            sa.select(IncidentEvent)
            .where(col(IncidentEvent.incident_id) == inc.id, col(IncidentEvent.kind) == "escalated")
            .order_by(col(IncidentEvent.id).desc())
        )
        .scalars()
        .first()
    )
    assert event is not None and event.actor == "ann" and "boss" in event.detail


def test_escalate_now_works_on_an_acknowledged_incident(
    session: Session, team: dict[str, Any]
) -> None:
    """Acknowledged means someone is on it; they may still call for the next step."""
    two_steps(session, team, repeat=0)
    inc = incident(session)
    escalation.escalate_due(session, minutes(0))
    ann = Viewer(username="ann", role=Role.oncall, user_id=team["ann"].id)
    actions.ack(session, ann, inc.id or 0, minutes(1))
    actions.escalate(session, ann, inc.id or 0, minutes(2))
    session.commit()
    assert [name for _, name in paged(session, inc.id or 0)] == ["ann", "boss"]


def test_each_step_pages_once_when_run_twice_or_after_a_restart(
    engine: Engine, session: Session, team: dict[str, Any]
) -> None:
    two_steps(session, team)
    inc = incident(session)
    # A run that dies before its commit leaves nothing behind...
    with Session(engine, expire_on_commit=False) as crashed:
        assert escalation.escalate_due(crashed, minutes(0)) == 1
        crashed.rollback()
    # ... so the restarted loop runs the step, once, however often it is called.
    with Session(engine, expire_on_commit=False) as first:
        assert escalation.escalate_due(first, minutes(0)) == 1
        assert escalation.escalate_due(first, minutes(0)) == 0
        first.commit()
    with Session(engine, expire_on_commit=False) as restarted:
        assert escalation.escalate_due(restarted, minutes(0)) == 0
        assert escalation.escalate_due(restarted, minutes(5)) == 0
        assert escalation.escalate_due(restarted, minutes(10)) == 1
        restarted.commit()
    assert paged(session, inc.id or 0) == [("step:0:round:0", "ann"), ("step:1:round:0", "boss")]


def test_a_step_that_ran_is_not_queued_twice_even_if_its_state_was_lost(
    session: Session, team: dict[str, Any]
) -> None:
    """The dedupe key is the step and round: re-running a step (state rolled back by hand,
    as a restore might) finds the same deliveries instead of paging again."""
    two_steps(session, team)
    inc = incident(session)
    escalation.escalate_due(session, minutes(0))
    session.commit()
    before = session.execute(sa.select(sa.func.count(col(Delivery.id)))).scalar_one()
    inc.escalation_step, inc.next_escalation_at = 0, minutes(0)
    session.add(inc)
    session.commit()
    assert escalation.escalate_due(session, minutes(1)) == 1
    session.commit()
    assert session.execute(sa.select(sa.func.count(col(Delivery.id)))).scalar_one() == before


def test_a_rotation_step_pages_whoever_is_on_call_when_it_runs(
    session: Session, team: dict[str, Any]
) -> None:
    policy(
        session,
        [
            {"wait_minutes": 0, "targets": [{"type": "rotation", "id": team["rotation"]}]},
            {"wait_minutes": 30, "targets": [{"type": "rotation", "id": team["rotation"]}]},
        ],
    )
    late = sh(2024, 3, 5, 8, 45).astimezone(UTC)  # 15 minutes before ann hands off to bob
    inc = incident(session, late)
    escalation.escalate_due(session, late)
    escalation.escalate_due(session, late + timedelta(minutes=30))
    session.commit()
    assert [name for _, name in paged(session, inc.id or 0)] == ["ann", "bob"]


def test_a_step_reaching_nobody_pages_the_admins(session: Session, team: dict[str, Any]) -> None:
    gap = rotation(
        session,
        [
            {
                "name": "weekdays",
                "member_ids": [team["ann"].id],
                "starts_at": sh(2024, 3, 4, 9),
                "active_weekdays": [0, 1, 2, 3, 4],
            }
        ],
        name="weekdays-only",
    )
    policy(session, [{"wait_minutes": 0, "targets": [{"type": "rotation", "id": gap}]}])
    saturday = sh(2024, 3, 9, 3).astimezone(UTC)
    inc = incident(session, saturday)
    assert escalation.escalate_due(session, saturday) == 1
    session.commit()
    assert [name for _, name in paged(session, inc.id or 0)] == ["boss"]
    event = session.execute(
        sa.select(IncidentEvent).where(
            col(IncidentEvent.incident_id) == inc.id, col(IncidentEvent.kind) == "escalated"
        )
    ).scalar_one()
    assert "nobody is on call in rotation weekdays-only" in event.detail
    assert event.data["fallback"] is True


def test_the_route_policy_wins_and_no_policy_means_no_escalation(
    session: Session, team: dict[str, Any]
) -> None:
    two_steps(session, team)  # "default"
    urgent = policy(
        session,
        [{"wait_minutes": 0, "targets": [{"type": "user", "id": team["bob"].id}]}],
        name="urgent",
    )
    route = AlertRoute(name="db", escalation_policy_id=urgent)
    session.add(route)
    session.commit()
    routed = incident(session, route_id=route.id)
    assert routed.escalation_policy_id == urgent
    escalation.escalate_due(session, T0)
    session.commit()
    assert [name for _, name in paged(session, routed.id or 0)] == ["bob"]
    # start() is idempotent: a second call (a restart re-processing) changes nothing.
    assert escalation.start(session, routed, minutes(5)) is None
    assert routed.next_escalation_at is None and routed.escalation_step == 1


def test_without_any_policy_nothing_escalates(session: Session, team: dict[str, Any]) -> None:
    inc = incident(session)
    assert inc.escalation_policy_id is None and inc.next_escalation_at is None
    assert escalation.escalate_due(session, minutes(60)) == 0
    with pytest.raises(Conflict, match="no escalation policy"):
        escalation.escalate_now(session, inc, minutes(1))


def test_pages_arrive_in_the_on_call_users_inbox(
    session: Session, team: dict[str, Any], box: SecretBox
) -> None:
    two_steps(session, team)
    inc = incident(session)
    escalation.escalate_due(session, T0)
    session.commit()
    assert dispatch.send_due(session, box, T0, timeout=5) == 1
    messages = session.execute(sa.select(InboxMessage)).scalars().all()
    assert [(m.user_id, m.incident_id) for m in messages] == [(team["ann"].id, inc.id)]
    assert "HostDown" in messages[0].title


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_runners_on_postgresql_never_share_an_incident(
    engine: Engine, session: Session, team: dict[str, Any]
) -> None:
    two_steps(session, team)
    inc = incident(session)
    with Session(engine) as one, Session(engine) as two:
        two.execute(sa.text("SET lock_timeout = '5s'"))  # without SKIP LOCKED: an error, no hang
        assert escalation.escalate_due(one, T0) == 1  # holds the incident's row lock
        assert escalation.escalate_due(two, T0) == 0  # SKIP LOCKED: not paged twice
        one.commit()
        two.commit()
    assert paged(session, inc.id or 0) == [("step:0:round:0", "ann")]


def test_policies_check_their_targets_and_repeats(session: Session, team: dict[str, Any]) -> None:
    from inventory.errors import Invalid

    with pytest.raises(Invalid) as raised:
        policy(session, [{"targets": [{"type": "rotation", "id": 999999}]}], name="x")
    assert raised.value.field == "steps.0.targets.0.id"
    with pytest.raises(ValueError, match="repeating policy needs"):
        PolicyCreate.model_validate(
            {"name": "x", "steps": [{"targets": [{"type": "user", "id": 1}]}], "repeat": 2}
        )
    (dept_user,) = [factories.user(session, "clerk", Role.department).user]
    with pytest.raises(Invalid, match="cannot be paged"):
        policy(session, [{"targets": [{"type": "user", "id": dept_user.id}]}], name="y")


def test_a_rotation_that_cannot_be_worked_out_still_pages_someone(
    session: Session, team: dict[str, Any]
) -> None:
    broken = rotation(session, [], name="broken")
    session.add(
        RotationLayer(
            rotation_id=broken,
            name="ancient",
            member_ids=[team["ann"].id],
            starts_at=datetime(1, 1, 1, tzinfo=UTC),
        )
    )
    session.commit()
    policy(session, [{"wait_minutes": 0, "targets": [{"type": "rotation", "id": broken}]}])
    inc = incident(session)
    assert escalation.escalate_due(session, T0) == 1
    session.commit()
    assert [name for _, name in paged(session, inc.id or 0)] == ["boss"]


def test_a_silenced_incident_does_not_escalate_until_the_silence_ends(
    session: Session, team: dict[str, Any]
) -> None:
    two_steps(session, team, repeat=0)
    inc = incident(session)
    alert = Alert(
        fingerprint="f" * 64,
        source=AlertSource.builtin,
        name="HostDown",
        labels={"alertname": "HostDown"},
        state=AlertState.firing,
        active_since=T0,
        fired_at=T0,
        incident_id=inc.id,
        suppressed_by="silence 1",
    )
    session.add(alert)
    session.commit()
    assert escalation.escalate_due(session, minutes(0)) == 0
    assert escalation.escalate_due(session, minutes(30)) == 0
    assert paged(session, inc.id or 0) == []
    alert.suppressed_by = None  # the silence ended
    session.add(alert)
    session.commit()
    assert escalation.escalate_due(session, minutes(31)) == 1
    assert paged(session, inc.id or 0) == [("step:0:round:0", "ann")]
