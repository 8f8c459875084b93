"""A fragmented estate for the rebalance tests.

Two simulated OpenStack-like clouds with no workloads of their own, 2 zones x 4 hosts
each. On each cloud four Yunheng services (2 replicas, one per zone, data residency in the
cloud's region) were approved and provisioned through the real request workflow, but one
replica per host, as an estate ends up after years of requests coming and going: 16 hosts
in use where 4 would do. (The drift is made by pointing each plan's allocations at the
chosen hosts before approval; everything after that is the production path.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters import service as clouds
from inventory.access import Viewer
from inventory.accounts import viewer_of
from inventory.crypto import SecretBox
from inventory.models import (
    Allocation,
    Cloud,
    Host,
    Plan,
    PlanStatus,
    RequestCreate,
    Resource,
    Role,
    Zone,
)
from inventory.models.requests import PlanMove
from scheduler import apply, workflow
from tests import factories

SERVICES_PER_CLOUD = 4
SIZE = {"vcpus": 8, "memory_mb": 16384, "disk_gb": 50}


@dataclass
class Fragmented:
    admin: factories.Actor
    oncall: factories.Actor
    manager: factories.Actor
    dept: factories.Actor
    clouds: list[Cloud]


def build(
    session: Session, engine: Engine, box: SecretBox, state_dir: Path | None = None
) -> Fragmented:
    """`state_dir`: the simulated clouds keep what they make there, for other processes."""
    dept = factories.department(
        session, "dept-a", {Resource.vcpus: 10_000, Resource.instances: 1_000}
    )
    admin = factories.user(session, "admin1", Role.admin)
    made = [
        factories.cloud(
            session,
            box,
            name,
            {
                "profile": "openstack",
                "seed": seed,
                "region": region,
                "zones": 2,
                "hosts_per_zone": 4,
                "workloads": 0,
                "departments": ["dept-a"],
                **({"state_dir": str(state_dir)} if state_dir else {}),
            },
        )
        for name, seed, region in (("frag-a", 21, "ra"), ("frag-b", 22, "rb"))
    ]
    sync_all(session, box, made)
    viewer = viewer_of(admin.user)
    for cloud in made:
        by_zone = hosts_by_zone(session, cloud)
        for i in range(SERVICES_PER_CLOUD):
            hosts = [zone[i] for zone in by_zone]
            pinned(session, engine, box, viewer, dept.id or 0, cloud, f"svc{i}", hosts)
    sync_all(session, box, made)
    return Fragmented(
        admin=admin,
        oncall=factories.user(session, "oncall1", Role.oncall),
        manager=factories.user(session, "manager1", Role.manager),
        dept=factories.user(session, "depta", Role.department, dept.id),
        clouds=made,
    )


def sync_all(session: Session, box: SecretBox, rows: list[Cloud], force: bool = False) -> None:
    for row in rows:
        session.refresh(row)
        outcome = clouds.sync(session, factories.SYSTEM, row.id or 0, box, force=force)
        assert outcome.ok, outcome.error
    session.commit()


def hosts_by_zone(session: Session, cloud: Cloud) -> list[list[Host]]:
    zones = session.execute(
        sa.select(Zone).where(col(Zone.cloud_id) == cloud.id).order_by(col(Zone.external_id))
    ).scalars()
    return [
        list(
            session.execute(
                sa.select(Host).where(col(Host.zone_id) == z.id).order_by(col(Host.external_id))
            ).scalars()
        )
        for z in zones
    ]


def pinned(
    session: Session,
    engine: Engine,
    box: SecretBox,
    viewer: Viewer,
    department_id: int,
    cloud: Cloud,
    name: str,
    hosts: list[Host],
    region: str | None = "",
    **size: int,
) -> int:
    """A service provisioned through the workflow onto exactly `hosts`; its workload id."""
    data = RequestCreate.model_validate(
        {
            "service_name": f"{cloud.name}-{name}",
            "replicas": len(hosts),
            **(size or SIZE),
            "sla_target": 0.999 if len(hosts) > 1 else None,
            "min_healthy": 1 if len(hosts) > 1 else 0,
            "region": cloud.region if region == "" else region,  # "" means the cloud's
            "department_id": department_id,
        }
    )
    request = workflow.submit(session, viewer, data, time_limit=2)
    plan = session.execute(
        sa.select(Plan).where(col(Plan.request_id) == request.id).order_by(col(Plan.id).desc())
    ).scalar_one()
    allocations = session.execute(
        sa.select(Allocation).where(col(Allocation.plan_id) == plan.id)
    ).scalars()
    for allocation, host in zip(allocations, hosts, strict=True):
        allocation.host_id, allocation.cloud_id = host.id or 0, host.cloud_id
        session.add(allocation)
    session.commit()
    workflow.decide(session, viewer, plan.id or 0, approve=True, comment=None)
    session.commit()
    status = apply.apply_plan(engine, box, plan.id or 0, actor="test", timeout=10)
    assert status == PlanStatus.applied
    session.refresh(request)
    return request.workload_id or 0


def moves(engine: Engine, plan_id: int) -> list[PlanMove]:
    """A plan's moves as stored now, in apply order."""
    with Session(engine) as session:
        query = sa.select(PlanMove).where(col(PlanMove.plan_id) == plan_id)
        return list(session.execute(query.order_by(col(PlanMove.position))).scalars())
