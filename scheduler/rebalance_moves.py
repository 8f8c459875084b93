"""A rebalance plan's moves with readable names: service, replica, hosts, zones, cloud."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from inventory.models import Cloud, Host, Replica, Workload, Zone
from inventory.models.requests import MovePublic, PlanMove


def moves_public(session: Session, plan_id: int) -> list[MovePublic]:
    source, target = aliased(Host), aliased(Host)
    source_zone, target_zone = aliased(Zone), aliased(Zone)
    rows = session.execute(
        sa.select(
            PlanMove,
            col(Workload.name),
            col(Replica.name),
            col(source.name),
            col(source_zone.name),
            col(target.name),
            col(target_zone.name),
            col(Cloud.name),
        )
        .join(Workload, col(Workload.id) == col(PlanMove.workload_id))
        .join(Replica, col(Replica.id) == col(PlanMove.replica_id))
        .join(source, col(source.id) == col(PlanMove.from_host_id))
        .outerjoin(source_zone, col(source_zone.id) == col(source.zone_id))
        .join(target, col(target.id) == col(PlanMove.to_host_id))
        .outerjoin(target_zone, col(target_zone.id) == col(target.zone_id))
        .join(Cloud, col(Cloud.id) == col(PlanMove.cloud_id))
        .where(col(PlanMove.plan_id) == plan_id)
        .order_by(col(PlanMove.position))
    ).all()
    return [
        MovePublic(
            id=m.id or 0,
            position=m.position,
            service=service,
            workload_id=m.workload_id,
            replica=replica,
            replica_id=m.replica_id,
            from_host=from_host,
            from_zone=from_zone,
            to_host=to_host,
            to_zone=to_zone,
            cloud=cloud,
            status=m.status,
            external_id=m.external_id,
            error=m.error,
            attempts=m.attempts,
        )
        for m, service, replica, from_host, from_zone, to_host, to_zone, cloud in rows
    ]
