"""Whether a move may remove its old replica now without breaking its service's rules.

The plan is validated in its final state, and pairing each new replica with an old one in
the same zone (scheduler.evaluate) keeps the zone counts between the start and the end. But
apply meets states the plan did not: a move of the same service failed or is not active yet,
so removing this old replica could leave, say, every replica in one zone. Make-before-break
then means keeping the old replica until the service's rules hold without it: the check is
on what runs now and is known to be up, with the zones' current availability estimates.
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.models import Host, ItemState, Replica, ResourceRequest, Zone
from inventory.models.requests import MoveStatus, PlanMove
from scheduler.validate import meets_sla, predicted_availability

# As rebalance_problem clamps them: an estimate of exactly 0 or 1 has no -log(1 - a).
_LOW, _HIGH = 1e-9, 1 - 1e-9


def removal_breaks(session: Session, move: PlanMove, confirmed: set[int]) -> str | None:
    """Why removing `move`'s old replica now would break its service's rules, or None.

    Counted: the service's active replicas except the old one, and except new replicas of
    this plan whose move is not `moved` and not in `confirmed` (listed active this run): a
    replica the cloud has not shown running does not keep a service up."""
    request = session.execute(
        sa.select(ResourceRequest).where(col(ResourceRequest.workload_id) == move.workload_id)
    ).scalar_one_or_none()
    if request is None:  # nothing records the service's rules (rebalance never moves such)
        return None
    unsure = [
        (m.cloud_id, m.external_id)
        for m in session.execute(
            sa.select(PlanMove).where(
                col(PlanMove.plan_id) == move.plan_id,
                col(PlanMove.workload_id) == move.workload_id,
                col(PlanMove.status) == MoveStatus.provisioned,
            )
        ).scalars()
        if m.id not in confirmed and m.external_id
    ]
    zones: Counter[int] = Counter()
    availability: dict[int, float] = {}
    names: dict[int, str] = {}
    for replica, zone in session.execute(
        sa.select(Replica, Zone)
        .join(Host, col(Host.id) == col(Replica.host_id))
        .join(Zone, col(Zone.id) == col(Host.zone_id))
        .where(
            col(Replica.workload_id) == move.workload_id,
            col(Replica.state) == ItemState.active,
            col(Replica.id) != move.replica_id,
        )
    ).all():
        if (replica.cloud_id, replica.external_id) in unsure:
            continue
        zones[zone.id or 0] += 1
        availability[zone.id or 0] = min(max(zone.availability, _LOW), _HIGH)
        names[zone.id or 0] = zone.name
    n = sum(zones.values())
    if n < max(request.min_healthy, 1):
        return f"{n} replica(s) would be left running, below min_healthy {request.min_healthy}"
    zone, most = zones.most_common(1)[0]
    if n - most < request.min_healthy:
        return (
            f"losing zone {names[zone]} would leave {n - most} of {n} replicas, "
            f"below min_healthy {request.min_healthy}"
        )
    if not meets_sla(request.sla_target, availability.values()):
        return (
            f"zones {', '.join(sorted(names.values()))} would predict "
            f"{predicted_availability(availability.values()):.6f}, below the SLA target "
            f"{request.sla_target}"
        )
    return None
