"""The demo's simulated request history: each department's requests over the window, with
their plans and allocations, as the request -> plan -> approve -> provision workflow leaves
them (scheduler.workflow, scheduler.apply).

Decisions:
- Most requests are fulfilled: proposed at once, approved by `admin` within about a working
  day, provisioned in minutes; `fulfilled_at` ends the lead time. A few are partial (one
  allocation failed with the simulator's API-unreachable error and was not retried yet),
  one in seven is rejected with a reason, and the newest waits for a decision.
- No workload or replica rows: the simulator keeps what it provisions in memory only, so
  replicas of a run that never happened could not be found by the next sync (it would mark
  them gone, or refuse to). Requests, plans and allocations - what the lead-time and
  provisioning KPIs read - are complete; `workload_id` stays empty.
- Department users request for themselves; departments without one are served by `admin`
  on their behalf, as the API allows.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.models import (
    Allocation,
    AllocationStatus,
    Cloud,
    Department,
    Host,
    HostState,
    Plan,
    PlanStatus,
    RequestStatus,
    ResourceRequest,
    Role,
    User,
)
from sla.availability import SHANGHAI

APPS = ["portal", "api", "db", "gis", "auth", "report", "queue", "search"]
SLA_CHOICES = (0.995, 0.999, 0.9995)
REJECTION = "这一季度的扩容计划已满 The quarter's capacity plan is full: resubmit with 2 replicas"
FAILURE = (
    "AdapterError: simulator {region}: provision {name} failed: simulated fault: API unreachable"
)


def _working_time(rng: random.Random, since: datetime, until: datetime) -> datetime:
    """A moment in office hours (09:00-18:00 Shanghai, Monday to Friday) in [since, until)."""
    for _ in range(100):
        moment = since + (until - since) * rng.random()
        local = moment.astimezone(SHANGHAI)
        if local.weekday() < 5 and 9 <= local.hour < 18:
            return moment
    return since + (until - since) * rng.random()


def _hosts(session: Session) -> dict[int, list[tuple[int, int | None]]]:
    """Per simulated cloud id: its hosts that are up, as (host id, zone id), zones spread."""
    rows = session.execute(
        sa.select(col(Host.cloud_id), col(Host.id), col(Host.zone_id))
        .join(Cloud, col(Cloud.id) == col(Host.cloud_id))
        .where(col(Cloud.kind) == "simulator", col(Host.state) == HostState.up)
        .order_by(col(Host.cloud_id), col(Host.name))
    ).all()
    found: dict[int, list[tuple[int, int | None]]] = {}
    for cloud_id, host_id, zone_id in rows:
        found.setdefault(int(cloud_id), []).append((int(host_id), zone_id))
    return found


def _outcome(index: int, dept_no: int) -> RequestStatus:
    """A fixed pattern, not a draw: every department has fulfilled requests, some partial."""
    slot = (index + 2 * dept_no) % 7
    return {3: RequestStatus.partial, 5: RequestStatus.rejected}.get(slot, RequestStatus.fulfilled)


def seed_requests(session: Session, rng: random.Random, since: datetime, now: datetime) -> int:
    """Write the requests with their plans and allocations; returns how many requests."""
    users = list(session.execute(sa.select(User).order_by(col(User.id))).scalars())
    admin = next((u for u in users if u.role == Role.admin), None)
    clouds = list(
        session.execute(
            sa.select(Cloud).where(col(Cloud.kind) == "simulator").order_by(col(Cloud.id))
        ).scalars()
    )
    hosts = _hosts(session)
    clouds = [c for c in clouds if hosts.get(c.id or 0)]
    departments = list(
        session.execute(sa.select(Department).order_by(col(Department.code))).scalars()
    )
    if admin is None or not clouds or now - since < timedelta(days=3):
        return 0
    made: list[tuple[ResourceRequest, RequestStatus, Cloud]] = []
    for dept_no, dept in enumerate(departments):
        requester = next(
            (u for u in users if u.role == Role.department and u.department_id == dept.id), admin
        )
        count = rng.randint(5, 8)
        starts = sorted(_working_time(rng, since, now - timedelta(days=2)) for _ in range(count))
        for index, created in enumerate(starts):
            level = rng.choice((2, 3))
            eligible = [c for c in clouds if c.security_level >= level] or clouds
            vcpus = rng.choice((2, 4, 8))
            request = ResourceRequest(
                service_name=f"{dept.code}-{rng.choice(APPS)}-{index + 1}",
                replicas=rng.randint(2, 4),
                vcpus=vcpus,
                memory_mb=vcpus * rng.choice((2048, 4096)),
                disk_gb=rng.choice((50, 100, 200)),
                sla_target=rng.choice(SLA_CHOICES),
                security_level=level,
                department_id=dept.id or 0,
                requested_by=requester.id or 0,
                status=_outcome(index, dept_no),
                created_at=created,
                updated_at=created,
            )
            made.append((request, request.status, rng.choice(eligible)))
    newest = max(made, key=lambda m: m[0].created_at)
    made[made.index(newest)] = (newest[0], RequestStatus.planned, newest[2])
    session.add_all([r for r, _, _ in made])
    session.flush()
    plans = [_plan(r, status, cloud, rng) for r, status, cloud in made]
    session.add_all(plans)
    session.flush()
    for (request, status, cloud), plan in zip(made, plans, strict=True):
        _allocate(session, request, status, cloud, plan, hosts[cloud.id or 0], rng)
    session.flush()
    return len(made)


def _plan(
    request: ResourceRequest, status: RequestStatus, cloud: Cloud, rng: random.Random
) -> Plan:
    prices = cloud.prices or {}
    per_replica = (
        request.vcpus * prices.get("vcpus", 0.0)
        + request.memory_mb * prices.get("memory_mb", 0.0)
        + request.disk_gb * prices.get("disk_gb", 0.0)
    )
    decided = request.created_at + timedelta(hours=rng.uniform(0.5, 30))
    request.status = status
    request.updated_at = decided if status != RequestStatus.planned else request.created_at
    plan = Plan(
        request_id=request.id,
        status={
            RequestStatus.fulfilled: PlanStatus.applied,
            RequestStatus.partial: PlanStatus.partial,
            RequestStatus.rejected: PlanStatus.rejected,
        }.get(status, PlanStatus.proposed),
        solver="cp-sat",
        result={"status": "feasible", "solver": "cp-sat", "simulated_history": True},
        cost_per_hour=round(request.replicas * per_replica, 4),
        predicted_availability=round(
            rng.uniform(max(request.sla_target or 0.999, 0.999), 0.99999), 6
        ),
        created_at=request.created_at + timedelta(seconds=2),
    )
    if status == RequestStatus.planned:
        return plan
    plan.decided_by, plan.decided_at = "admin", decided
    if status == RequestStatus.rejected:
        plan.comment = REJECTION
        request.reason = f"rejected by admin: {REJECTION}"
    return plan


def _allocate(
    session: Session,
    request: ResourceRequest,
    status: RequestStatus,
    cloud: Cloud,
    plan: Plan,
    hosts: list[tuple[int, int | None]],
    rng: random.Random,
) -> None:
    """The plan's allocations, one replica per host, its zones taken in turn."""
    zones: dict[int | None, list[int]] = {}
    for host_id, zone_id in hosts:
        zones.setdefault(zone_id, []).append(host_id)
    lanes = [rng.sample(ids, len(ids)) for _, ids in sorted(zones.items(), key=lambda z: str(z[0]))]
    applied = status in (RequestStatus.fulfilled, RequestStatus.partial)
    done = (plan.decided_at or request.created_at) + timedelta(minutes=rng.uniform(3, 25))
    failed_index = rng.randrange(request.replicas) if status == RequestStatus.partial else -1
    errors = []
    for i in range(request.replicas):
        lane = lanes[i % len(lanes)]
        key = f"yh-hist-r{request.id}-p{plan.id}-{i}"
        allocation = Allocation(
            plan_id=plan.id or 0,
            replica_index=i,
            host_id=lane[(i // len(lanes)) % len(lane)],
            cloud_id=cloud.id or 0,
            idempotency_key=key,
            status=AllocationStatus.provisioned if applied else AllocationStatus.pending,
            external_id=f"sim-made-{key}" if applied else None,
            attempts=1 if applied else 0,
            updated_at=done if applied else plan.created_at,
        )
        if i == failed_index:
            allocation.status, allocation.external_id, allocation.attempts = (
                AllocationStatus.failed,
                None,
                3,
            )
            allocation.error = FAILURE.format(
                region=cloud.region, name=f"{request.service_name}-{i}"
            )
            errors.append(f"#{i}: {allocation.error}")
        session.add(allocation)
    if status == RequestStatus.fulfilled:
        request.fulfilled_at = request.updated_at = done
    elif status == RequestStatus.partial:
        request.updated_at = done
        request.reason = f"{len(errors)} replica(s) not provisioned: " + "; ".join(errors)
