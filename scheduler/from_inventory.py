"""Build a placement Problem from the inventory, for one department's request.

Ids in the problem are readable and unique: `cloud name`, `cloud/zone external id`,
`cloud/host external id`; `Targets` maps them back to rows for provisioning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.departments import limits, usage
from inventory.models import (
    Cloud,
    CloudStatus,
    Department,
    Host,
    HostState,
    ItemState,
    Resource,
    ResourceRequest,
    Zone,
)
from scheduler.problem import Problem, Weights

# A degraded cloud cannot be trusted to provision; a disabled one is off.
PLACEABLE = (CloudStatus.ok, CloudStatus.new)


@dataclass
class Targets:
    hosts: dict[str, Host] = field(default_factory=dict)
    clouds: dict[str, Cloud] = field(default_factory=dict)
    zones: dict[str, Zone] = field(default_factory=dict)


def problem_for(
    session: Session, request: ResourceRequest, weights: Weights | None = None
) -> tuple[Problem, Targets]:
    department = session.get(Department, request.department_id)
    assert department is not None
    targets = Targets()
    clouds = session.execute(
        sa.select(Cloud).where(col(Cloud.status).in_(PLACEABLE)).order_by(col(Cloud.id))
    ).scalars()
    cloud_specs = []
    for cloud in clouds:
        targets.clouds[cloud.name] = cloud
        cloud_specs.append(
            {
                "id": cloud.name,
                "vendor": cloud.vendor,
                "region": cloud.region,
                "security_level": cloud.security_level,
                "prices": cloud.prices,
            }
        )
    by_id = {c.id: c for c in targets.clouds.values()}
    zone_specs = []
    zone_key: dict[int, str] = {}
    for zone in session.execute(
        sa.select(Zone).where(
            col(Zone.cloud_id).in_(list(by_id)), col(Zone.state) != ItemState.gone
        )
    ).scalars():
        key = f"{by_id[zone.cloud_id].name}/{zone.external_id}"
        zone_key[zone.id or 0] = key
        targets.zones[key] = zone
        zone_specs.append(
            {
                "id": key,
                "cloud": by_id[zone.cloud_id].name,
                "region": zone.region,
                "availability": min(max(zone.availability, 1e-9), 1 - 1e-9),
            }
        )
    host_specs = []
    for host in session.execute(
        sa.select(Host).where(
            col(Host.zone_id).in_(list(zone_key)), col(Host.state) == HostState.up
        )
    ).scalars():
        key = f"{by_id[host.cloud_id].name}/{host.external_id}"
        targets.hosts[key] = host
        host_specs.append(
            {
                "id": key,
                "zone": zone_key[host.zone_id or 0],
                "capacity": {
                    "vcpus": host.vcpus,
                    "memory_mb": host.memory_mb,
                    "disk_gb": host.disk_gb,
                    "gpus": host.gpus,
                },
                "allocation_ratio": [host.cpu_ratio, host.ram_ratio, host.disk_ratio, 1.0],
                # What the cloud reports as allocated already: every existing workload.
                "used": {
                    "vcpus": min(host.vcpus_used, int(host.vcpus * host.cpu_ratio)),
                    "memory_mb": min(host.memory_mb_used, int(host.memory_mb * host.ram_ratio)),
                    "disk_gb": min(host.disk_gb_used, int(host.disk_gb * host.disk_ratio)),
                    "gpus": min(host.gpus_used, host.gpus),
                },
                "arch": host.arch,
                "traits": host.traits,
            }
        )
    quota = limits(session, department.id or 0)
    used = usage(session, [department.id or 0])[department.id or 0]
    service = {
        "id": request.service_name,
        "department": department.code,
        "replicas": request.replicas,
        "demand": {
            "vcpus": request.vcpus,
            "memory_mb": request.memory_mb,
            "disk_gb": request.disk_gb,
            "gpus": request.gpus,
        },
        "sla_target": request.sla_target,
        "min_healthy": request.min_healthy,
        "min_security_level": request.security_level,
        "regions": [request.region] if request.region else None,
        "arch": request.arch,
        "traits": request.traits,
    }
    problem = Problem.model_validate(
        {
            "clouds": cloud_specs,
            "zones": zone_specs,
            "hosts": host_specs,
            "services": [service],
            "departments": [
                {
                    "id": department.code,
                    "quota": {r.value: v for r, v in quota.items() if r != Resource.instances},
                    "instances_quota": quota.get(Resource.instances),
                    "used": {r.value: used[r] for r in Resource if r != Resource.instances},
                    "used_instances": used[Resource.instances],
                }
            ],
            "weights": (weights or Weights()).model_dump(),
        }
    )
    return problem, targets
