"""Durable apply (scheduler.resume): a plan whose apply died with its process is finished by
the leader's job exactly once, and a live apply is never taken from the process running it.

Time is injected: the job is run with a clock set past (or just short of) the silence that
marks a plan orphaned, so nothing here waits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters import service as clouds
from adapters.base import ProvisionRequest
from adapters.simulator import SimulatorAdapter
from alerts.loop import AlertLoop
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.models import (
    Allocation,
    AllocationStatus,
    AuditEvent,
    Cloud,
    Host,
    Plan,
    PlanStatus,
    Replica,
    RequestCreate,
    RequestStatus,
    Resource,
    ResourceRequest,
    Role,
)
from inventory.settings import Settings
from inventory.types import utcnow
from scheduler import apply, resume, workflow
from tests import factories

SILENT = timedelta(seconds=30)
REPLICAS = 4


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def admin(session: Session) -> Viewer:
    user_id = session.execute(sa.text("SELECT id FROM user_account WHERE username = 'admin-r'"))
    return Viewer(username="admin-r", role=Role.admin, user_id=user_id.scalar())


def approved_plan(session: Session, box: SecretBox, name: str = "tax-portal") -> Plan:
    """A synced simulated cloud and an approved 4-replica plan whose apply has not run."""
    if session.execute(sa.select(col(Plan.id))).first() is None:
        factories.department(session, "dept-r", {Resource.vcpus: 1000, Resource.instances: 100})
        cloud = factories.cloud(
            session,
            box,
            "sim",
            {
                "profile": "openstack",
                "seed": 7,
                "region": "r1",
                "hosts_per_zone": 4,
                "workloads": 0,
            },
        )
        assert clouds.sync(session, factories.SYSTEM, cloud.id or 0, box).ok
        session.commit()
        factories.user(session, "admin-r", Role.admin)
    dept_id = session.execute(sa.text("SELECT id FROM department WHERE code = 'dept-r'")).scalar()
    ask = RequestCreate(
        service_name=name, replicas=REPLICAS, vcpus=2, memory_mb=2048, department_id=dept_id
    )
    request = workflow.submit(session, admin(session), ask, time_limit=5)
    session.commit()
    plan_id = session.execute(
        sa.select(col(Plan.id)).where(col(Plan.request_id) == request.id)
    ).scalar_one()
    plan = workflow.decide(session, factories.SYSTEM, plan_id, approve=True, comment=None)
    session.commit()
    return plan


def allocations(engine: Engine, plan_id: int) -> list[Allocation]:
    with Session(engine) as session:
        query = sa.select(Allocation).where(col(Allocation.plan_id) == plan_id)
        return list(session.execute(query.order_by(col(Allocation.replica_index))).scalars())


def crash_mid_apply(engine: Engine, box: SecretBox, plan_id: int) -> list[Allocation]:
    """What a process killed mid-apply leaves: the plan `applying`, allocation 0 provisioned
    and committed, allocation 1 made in the cloud but its commit lost, the rest pending."""
    with Session(engine) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        plan.status = PlanStatus.applying
        session.add(plan)
        request = session.get(ResourceRequest, plan.request_id)
        assert request is not None
        apply._managed_workload(session, request)  # apply_plan's first transaction
        session.commit()
    rows = allocations(engine, plan_id)
    apply._provision_one(engine, box, rows[0].id or 0, timeout=10)
    with Session(engine) as session:
        cloud = session.get(Cloud, rows[1].cloud_id)
        host = session.get(Host, rows[1].host_id)
        assert cloud is not None and host is not None
    clouds.adapter_for(cloud, box).provision(
        ProvisionRequest(
            idempotency_key=rows[1].idempotency_key,
            name="tax-portal-1",
            department="dept-r",
            host=host.external_id,
            vcpus=2,
            memory_mb=2048,
            disk_gb=0,
        )
    )
    return allocations(engine, plan_id)


def audit_actions(engine: Engine, plan_id: int) -> list[str]:
    with Session(engine) as session:
        query = sa.select(col(AuditEvent.action)).where(
            col(AuditEvent.target_type) == "plan", col(AuditEvent.target_id) == str(plan_id)
        )
        return list(session.execute(query.order_by(col(AuditEvent.id))).scalars())


def test_plan_left_mid_apply_is_completed_once(
    engine: Engine, session: Session, box: SecretBox, calls: Counter[str]
) -> None:
    plan = approved_plan(session, box)
    before = crash_mid_apply(engine, box, plan.id or 0)
    assert [a.status for a in before] == [AllocationStatus.provisioned] + [
        AllocationStatus.pending
    ] * (REPLICAS - 1)
    calls.clear()

    late = utcnow() + SILENT + timedelta(seconds=1)
    done = resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(late))

    assert done == [resume.Resumed(plan.id or 0, PlanStatus.applied)]
    after = allocations(engine, plan.id or 0)
    assert {a.status for a in after} == {AllocationStatus.provisioned}
    # The committed allocation is not provisioned again; the one in flight is found by its
    # key (the cloud made it once); the rest are made once each.
    keys = [a.idempotency_key for a in after]
    assert calls == Counter(keys[1:])
    assert [a.attempts for a in after] == [1] * REPLICAS
    assert sorted(SimulatorAdapter._made["openstack:7:r1"]) == sorted(f"sim-made-{k}" for k in keys)
    with Session(engine) as check:
        request = check.get(ResourceRequest, plan.request_id)
        assert request is not None and request.status == RequestStatus.fulfilled
        replicas = check.execute(
            sa.select(col(Replica.external_id)).where(
                col(Replica.workload_id) == request.workload_id
            )
        ).scalars()
        assert sorted(replicas) == sorted(f"sim-made-{k}" for k in keys)
    assert audit_actions(engine, plan.id or 0)[-2:] == ["plan.resume", "plan.applied"]

    # The job runs again, later still: nothing left to do, nothing provisioned.
    calls.clear()
    again = resume.resume_orphaned(
        engine, box, silent_for=SILENT, timeout=10, clock=at(late + 10 * SILENT)
    )
    assert again == [] and not calls
    assert audit_actions(engine, plan.id or 0).count("plan.resume") == 1


def test_fresh_or_progressing_apply_is_not_stolen(
    engine: Engine, session: Session, box: SecretBox, calls: Counter[str]
) -> None:
    plan = approved_plan(session, box)
    rows = crash_mid_apply(engine, box, plan.id or 0)
    last_stamp = max(a.updated_at for a in rows)
    calls.clear()
    # Just short of the silence after the last progress: the apply may be alive.
    early = last_stamp + SILENT - timedelta(seconds=1)
    assert resume.orphaned(session, early, SILENT) == []
    assert resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(early)) == []
    assert not calls and "plan.resume" not in audit_actions(engine, plan.id or 0)
    # Progress by the live apply moves the horizon: a later allocation commits.
    moved = last_stamp + timedelta(seconds=20)
    with Session(engine) as change:
        row = change.get(Allocation, rows[2].id)
        assert row is not None
        row.updated_at = moved
        change.add(row)
        change.commit()
    assert resume.orphaned(session, last_stamp + SILENT + timedelta(seconds=1), SILENT) == []
    assert resume.orphaned(session, moved + SILENT + timedelta(seconds=1), SILENT) == [plan.id]


def test_plan_approved_but_never_started_is_applied(
    engine: Engine, session: Session, box: SecretBox, calls: Counter[str]
) -> None:
    """The process died between the approval's commit and its background apply."""
    plan = approved_plan(session, box)
    assert plan.decided_at is not None
    assert resume.orphaned(session, plan.decided_at + SILENT - timedelta(seconds=1), SILENT) == []
    late = plan.decided_at + SILENT + timedelta(seconds=1)
    done = resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(late))
    assert done == [resume.Resumed(plan.id or 0, PlanStatus.applied)]
    assert sorted(calls.values()) == [1] * REPLICAS


def test_only_one_claimer_wins(engine: Engine, session: Session, box: SecretBox) -> None:
    """Two claimers (a leader and a former leader whose job still ran) at the same moment
    and a moment later: only the first gets the plan."""
    plan = approved_plan(session, box)
    crash_mid_apply(engine, box, plan.id or 0)
    late = utcnow() + SILENT + timedelta(seconds=1)
    assert resume.claim(engine, plan.id or 0, late, SILENT)
    assert not resume.claim(engine, plan.id or 0, late, SILENT)
    assert not resume.claim(engine, plan.id or 0, late + SILENT - timedelta(seconds=1), SILENT)
    with Session(engine) as check:
        claimed = check.get(Plan, plan.id)
        assert claimed is not None and claimed.status == PlanStatus.approved
    assert audit_actions(engine, plan.id or 0).count("plan.resume") == 1


def test_finished_and_undecided_plans_are_left_alone(
    engine: Engine, session: Session, box: SecretBox, calls: Counter[str]
) -> None:
    applied = approved_plan(session, box, "done-svc")
    assert (
        apply.apply_plan(engine, box, applied.id or 0, actor="t", timeout=10) == PlanStatus.applied
    )
    dept_id = session.execute(sa.text("SELECT id FROM department WHERE code = 'dept-r'")).scalar()
    ask = RequestCreate(
        service_name="open-svc", replicas=2, vcpus=2, memory_mb=2048, department_id=dept_id
    )
    workflow.submit(session, admin(session), ask, time_limit=5)  # proposed, never decided
    session.commit()
    calls.clear()
    far = utcnow() + 100 * SILENT
    assert resume.resume_orphaned(engine, box, silent_for=SILENT, timeout=10, clock=at(far)) == []
    assert not calls
    statuses = set(session.execute(sa.select(col(Plan.status))).scalars())
    assert statuses == {PlanStatus.applied, PlanStatus.proposed}


def test_the_alert_loop_runs_it_with_its_clock(
    engine: Engine, session: Session, box: SecretBox, settings: Settings
) -> None:
    plan = approved_plan(session, box)
    crash_mid_apply(engine, box, plan.id or 0)
    silent = resume.stale_after(settings)
    assert silent == timedelta(seconds=2 * settings.adapter_timeout_seconds + 5)
    loop = AlertLoop(engine, box, settings, clock=at(utcnow() + silent + timedelta(seconds=1)))
    assert loop.resume_plans(utcnow()) == [resume.Resumed(plan.id or 0, PlanStatus.applied)]
