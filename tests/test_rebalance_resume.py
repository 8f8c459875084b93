"""Durable apply for rebalance plans (scheduler.rebalance_resume): a rebalance whose apply died
with its process is finished by the leader's job exactly once, each move carried on from
where it stopped (never a second replica made), and a live or retried apply is left alone.

Time is injected: the job runs with a clock set past (or just short of) the silence that
marks a plan orphaned. A crash is simulated by running the apply's own steps part of the
way, plus a cloud call whose commit was lost.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters import service as clouds
from adapters.base import Adapter, ProvisionRequest
from adapters.simulator import SimulatorAdapter
from inventory.accounts import viewer_of
from inventory.crypto import SecretBox
from inventory.models import AuditEvent, Cloud, Host, ItemState, Plan, PlanStatus, Replica
from inventory.models.requests import MoveStatus, PlanMove, RebalanceCreate
from inventory.types import utcnow
from scheduler import rebalance, rebalance_apply, rebalance_resume, resume
from tests import rebalance_estate
from tests.prom_peer import wait_until
from tests.rebalance_estate import Fragmented, moves

SILENT = timedelta(seconds=30)
WAITING = sa.text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


@pytest.fixture
def frag(session: Session, engine: Engine, box: SecretBox) -> Fragmented:
    return rebalance_estate.build(session, engine, box)


def approved_rebalance(session: Session, engine: Engine, frag: Fragmented) -> int:
    """An approved rebalance plan of at least three moves whose apply has not run."""
    viewer = viewer_of(frag.admin.user)
    proposal = rebalance.propose(session, viewer, RebalanceCreate(migration_budget=4), time_limit=5)
    assert proposal.plan is not None, proposal.reason
    plan_id = proposal.plan.id or 0
    session.commit()
    rebalance.decide(session, viewer, plan_id, approve=True, comment=None)
    session.commit()
    assert len(moves(engine, plan_id)) >= 3
    return plan_id


def start_applying(engine: Engine, plan_id: int) -> None:
    """apply_moves' first transaction, then the process dies."""
    with Session(engine) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        plan.status = PlanStatus.applying
        session.add(plan)
        session.commit()


def run_move(engine: Engine, box: SecretBox, move_id: int, *, remove_old: bool = True) -> None:
    """One move as apply_moves runs it; without removing the old replica it is half done."""
    rebalance_apply._provision(engine, box, move_id, timeout=10)
    assert rebalance_apply._confirmed(engine, box, move_id, timeout=10)
    if remove_old:
        rebalance_apply._remove_old(engine, box, move_id, {move_id}, timeout=10)


def adapter_of(engine: Engine, box: SecretBox, cloud_id: int) -> Adapter:
    with Session(engine) as session:
        cloud = session.get(Cloud, cloud_id)
        assert cloud is not None
        return clouds.adapter_for(cloud, box)


def provision_uncommitted(engine: Engine, box: SecretBox, move: PlanMove) -> None:
    """The cloud made the move's new replica, but the process died before it committed."""
    with Session(engine) as session:
        host = session.get(Host, move.to_host_id)
        assert host is not None
    adapter_of(engine, box, move.cloud_id).provision(
        ProvisionRequest(
            idempotency_key=move.idempotency_key,
            name=f"lost-{move.position}",
            department="dept-a",
            host=host.external_id,
            vcpus=rebalance_estate.SIZE["vcpus"],
            memory_mb=rebalance_estate.SIZE["memory_mb"],
            disk_gb=rebalance_estate.SIZE["disk_gb"],
        )
    )


def crash_mid_apply(engine: Engine, box: SecretBox, plan_id: int) -> list[PlanMove]:
    """What a process killed mid-apply leaves: move 0 done, move 1 half done (new replica
    running, old one not removed), move 2 made in the cloud with its commit lost, the rest
    pending."""
    start_applying(engine, plan_id)
    rows = moves(engine, plan_id)
    run_move(engine, box, rows[0].id or 0)
    run_move(engine, box, rows[1].id or 0, remove_old=False)
    provision_uncommitted(engine, box, rows[2])
    return moves(engine, plan_id)


def audit_actions(engine: Engine, plan_id: int) -> list[str]:
    with Session(engine) as session:
        query = sa.select(col(AuditEvent.action)).where(
            col(AuditEvent.target_type) == "plan", col(AuditEvent.target_id) == str(plan_id)
        )
        return list(session.execute(query.order_by(col(AuditEvent.id))).scalars())


def assert_every_move_done_once(engine: Engine, plan_id: int) -> None:
    """Each move's new replica runs on its target (one per move, in the cloud and the
    inventory) and its old replica is gone."""
    done = moves(engine, plan_id)
    assert {m.status for m in done} == {MoveStatus.moved}
    assert all(m.error is None for m in done)
    made = {ext for per_cloud in SimulatorAdapter._made.values() for ext in per_cloud}
    by_moves = {ext for ext in made if ext.startswith("sim-made-yh-rb-")}
    assert by_moves == {f"sim-made-{m.idempotency_key}" for m in done}
    with Session(engine) as session:
        for m in done:
            old = session.get(Replica, m.replica_id)
            assert old is not None and old.state == ItemState.gone
            assert old.external_id not in made
            new = session.execute(
                sa.select(Replica).where(col(Replica.external_id) == m.external_id)
            ).scalar_one()
            assert (new.host_id, new.state) == (m.to_host_id, ItemState.active)


def test_rebalance_left_mid_apply_is_completed_once(
    engine: Engine, session: Session, box: SecretBox, frag: Fragmented, calls: Counter[str]
) -> None:
    plan_id = approved_rebalance(session, engine, frag)
    before = crash_mid_apply(engine, box, plan_id)
    assert [m.status for m in before[:3]] == [
        MoveStatus.moved,
        MoveStatus.provisioned,
        MoveStatus.pending,
    ]
    calls.clear()

    late = utcnow() + SILENT + timedelta(seconds=1)
    done = resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(late))

    assert done == [resume.Resumed(plan_id, PlanStatus.applied)]
    assert_every_move_done_once(engine, plan_id)
    # The done and the half-done move are not provisioned again; the one in flight is found
    # by its key (the cloud made it once); the rest are made once each.
    keys = [m.idempotency_key for m in before]
    assert calls == Counter(keys[2:])
    assert [m.attempts for m in moves(engine, plan_id)] == [1] * len(before)
    assert audit_actions(engine, plan_id)[-2:] == ["plan.resume", "plan.applied"]

    # The job runs again, later still: nothing left to do, nothing provisioned.
    calls.clear()
    again = resume.resume_orphaned(
        engine, box, silent_for=SILENT, timeout=10, clock=at(late + 10 * SILENT)
    )
    assert again == [] and not calls
    assert audit_actions(engine, plan_id).count("plan.resume") == 1
    # And the next rebalance may start: nothing is in flight any more.
    viewer = viewer_of(frag.admin.user)
    rebalance.propose(session, viewer, RebalanceCreate(migration_budget=2), time_limit=2)


def test_fresh_or_progressing_apply_is_not_taken(
    engine: Engine, session: Session, box: SecretBox, frag: Fragmented, calls: Counter[str]
) -> None:
    plan_id = approved_rebalance(session, engine, frag)
    rows = crash_mid_apply(engine, box, plan_id)
    last_stamp = max(m.updated_at for m in rows)
    calls.clear()
    # Just short of the silence after the last progress: the apply may be alive.
    early = last_stamp + SILENT - timedelta(seconds=1)
    assert rebalance_resume.orphaned(session, early, SILENT) == []
    assert resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(early)) == []
    assert not calls and "plan.resume" not in audit_actions(engine, plan_id)
    assert moves(engine, plan_id)[3].status == MoveStatus.pending
    # Progress by the live apply moves the horizon: a later move commits.
    progressed = last_stamp + timedelta(seconds=20)
    with Session(engine) as change:
        row = change.get(PlanMove, rows[3].id)
        assert row is not None
        row.updated_at = progressed
        change.add(row)
        change.commit()
    assert (
        rebalance_resume.orphaned(session, last_stamp + SILENT + timedelta(seconds=1), SILENT) == []
    )
    after = progressed + SILENT + timedelta(seconds=1)
    assert rebalance_resume.orphaned(session, after, SILENT) == [plan_id]


def test_a_retried_rebalance_is_left_to_the_retry(
    engine: Engine, session: Session, box: SecretBox, frag: Fragmented, calls: Counter[str]
) -> None:
    """An admin retries a plan that looks orphaned: the retry's own apply keeps it, unless
    that apply dies too."""
    plan_id = approved_rebalance(session, engine, frag)
    start_applying(engine, plan_id)
    # The apply died long ago: approval and moves are older than the silence.
    long_ago = utcnow() - 10 * SILENT
    with Session(engine) as change:
        change.execute(sa.update(PlanMove).values(updated_at=long_ago))
        change.execute(sa.update(Plan).where(col(Plan.id) == plan_id).values(decided_at=long_ago))
        change.commit()
    retried = utcnow()
    assert rebalance_resume.orphaned(session, retried, SILENT) == [plan_id]
    plan = session.get(Plan, plan_id)
    assert plan is not None
    session.refresh(plan)
    rebalance.retry(session, viewer_of(frag.admin.user), plan)
    session.commit()
    # Within the silence after the retry its apply may be running: not taken.
    soon = retried + SILENT - timedelta(seconds=1)
    assert rebalance_resume.orphaned(session, soon, SILENT) == []
    assert not rebalance_resume.claim(engine, plan_id, soon, SILENT, actor="system")
    late = utcnow() + SILENT + timedelta(seconds=1)
    done = resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(late))
    assert done == [resume.Resumed(plan_id, PlanStatus.applied)]
    assert sorted(calls.values()) == [1] * len(moves(engine, plan_id))


def test_half_done_move_whose_old_replica_went_is_finished_without_a_provision(
    engine: Engine, session: Session, box: SecretBox, frag: Fragmented, calls: Counter[str]
) -> None:
    """Died while removing the old replica: the cloud removed it, the commit was lost."""
    plan_id = approved_rebalance(session, engine, frag)
    start_applying(engine, plan_id)
    first = moves(engine, plan_id)[0]
    run_move(engine, box, first.id or 0, remove_old=False)
    with Session(engine) as read:
        old = read.get(Replica, first.replica_id)
        assert old is not None and old.state == ItemState.active
    assert adapter_of(engine, box, old.cloud_id).deprovision(old.external_id)
    calls.clear()

    late = utcnow() + SILENT + timedelta(seconds=1)
    done = resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(late))

    assert done == [resume.Resumed(plan_id, PlanStatus.applied)]
    assert first.idempotency_key not in calls
    assert calls == Counter(m.idempotency_key for m in moves(engine, plan_id)[1:])
    assert_every_move_done_once(engine, plan_id)


def test_died_after_the_last_move_is_recorded_applied(
    engine: Engine, session: Session, box: SecretBox, frag: Fragmented, calls: Counter[str]
) -> None:
    plan_id = approved_rebalance(session, engine, frag)
    start_applying(engine, plan_id)
    for m in moves(engine, plan_id):
        run_move(engine, box, m.id or 0)
    calls.clear()
    late = utcnow() + SILENT + timedelta(seconds=1)
    done = resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(late))
    assert done == [resume.Resumed(plan_id, PlanStatus.applied)]
    assert not calls
    assert audit_actions(engine, plan_id)[-2:] == ["plan.resume", "plan.applied"]


# PostgreSQL only: SQLite runs one writer at a time, so there the row lock has no rival.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_only_one_of_two_concurrent_claimers_applies(
    engine: Engine, session: Session, box: SecretBox, frag: Fragmented, calls: Counter[str]
) -> None:
    """A leader and a former leader whose job still ran reach the plan at the same moment."""
    plan_id = approved_rebalance(session, engine, frag)
    rows = crash_mid_apply(engine, box, plan_id)
    calls.clear()
    late = utcnow() + SILENT + timedelta(seconds=1)
    results: list[list[resume.Resumed]] = []

    def job() -> None:
        results.append(
            resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(late))
        )

    def queued() -> int:
        # A fresh transaction each time: pg_stat_activity is a snapshot per transaction.
        with engine.connect() as watcher:
            return int(watcher.execute(WAITING).scalar_one())

    with engine.connect() as blocker:
        # Hold the plan row so both claimers are inside `claim`, queued on its lock, at once.
        blocker.execute(sa.select(col(Plan.id)).where(col(Plan.id) == plan_id).with_for_update())
        jobs = [threading.Thread(target=job) for _ in range(2)]
        for thread in jobs:
            thread.start()
        wait_until(lambda: queued() == 2, 60, "both claimers queued on the plan's row lock")
        blocker.rollback()
        for thread in jobs:
            thread.join()

    assert sorted(results, key=len) == [[], [resume.Resumed(plan_id, PlanStatus.applied)]]
    assert calls == Counter(m.idempotency_key for m in rows[2:])
    actions = audit_actions(engine, plan_id)
    assert actions.count("plan.resume") == 1 and actions.count("plan.applied") == 1
    assert_every_move_done_once(engine, plan_id)


def test_a_live_apply_stamps_each_cloud_call(
    engine: Engine, session: Session, box: SecretBox, frag: Fragmented
) -> None:
    """Provision, the confirming listing and the removal each stamp the move as they start,
    so a live apply never looks silent for longer than two adapter timeouts."""
    plan_id = approved_rebalance(session, engine, frag)
    start_applying(engine, plan_id)
    move_id = moves(engine, plan_id)[0].id or 0
    stamps = []
    for step in (rebalance_apply._provision, rebalance_apply._confirmed):
        started = utcnow()
        step(engine, box, move_id, timeout=10)
        stamps.append((started, moves(engine, plan_id)[0].updated_at))
    started = utcnow()
    rebalance_apply._remove_old(engine, box, move_id, {move_id}, timeout=10)
    stamps.append((started, moves(engine, plan_id)[0].updated_at))
    assert all(stamp >= started for started, stamp in stamps)
    assert moves(engine, plan_id)[0].status == MoveStatus.moved
