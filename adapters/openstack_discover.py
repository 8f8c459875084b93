"""Reading an OpenStack cloud into a neutral Snapshot.

Capacity comes from Placement, not from os-hypervisors: at compute microversion >= 2.88
the hypervisor resource fields are None, and Placement is what Nova's scheduler itself
trusts. Per compute node: the resource provider's inventories (total, reserved,
allocation_ratio), its usages and its traits; GPUs may sit on nested child providers.
Nova supplies the rest: which compute service (and so which availability zone and state)
each node belongs to, host aggregates, flavors and servers.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.openstack_calls import Caller
from inventory.models.enums import HostState, ItemState
from inventory.snapshot import HostInfo, ReplicaInfo, Snapshot, WorkloadInfo, ZoneInfo

if TYPE_CHECKING:
    from openstack.connection import Connection

    from adapters.openstack_models import OpenStackSettings

PLACEMENT_VERSION = "1.14"  # parent/root provider uuids on resource providers
KEY_META = "yunheng_idempotency_key"  # server metadata: which plan allocation made it
DEPARTMENT_META = "yunheng_department"
GPU_CLASSES = ("VGPU", "PGPU")
INTERNAL_ZONE = "internal"  # Nova's zone of conductor/scheduler services, never of hosts

# Nova server status -> inventory state; DELETED and SOFT_DELETED servers are left out.
STATE_MAP: dict[str, ItemState] = {
    "ACTIVE": ItemState.active,
    "BUILD": ItemState.active,
    "REBUILD": ItemState.active,
    "REBOOT": ItemState.active,
    "HARD_REBOOT": ItemState.active,
    "PASSWORD": ItemState.active,
    "RESIZE": ItemState.active,
    "VERIFY_RESIZE": ItemState.active,
    "REVERT_RESIZE": ItemState.active,
    "MIGRATING": ItemState.active,
    "RESCUE": ItemState.degraded,
    "ERROR": ItemState.degraded,
    "SHUTOFF": ItemState.degraded,
    "SUSPENDED": ItemState.degraded,
    "PAUSED": ItemState.degraded,
    "SHELVED": ItemState.degraded,
    "SHELVED_OFFLOADED": ItemState.degraded,
    "UNKNOWN": ItemState.degraded,
}
LEFT_OUT = frozenset({"DELETED", "SOFT_DELETED"})


@dataclass(frozen=True, slots=True)
class Provider:
    """One Placement resource provider as read: what it has, what is used, what it offers."""

    uuid: str
    name: str
    root: str
    inventories: dict[str, dict[str, Any]]
    usages: dict[str, int]
    traits: tuple[str, ...]


def read_snapshot(conn: Connection, call: Caller, settings: OpenStackSettings) -> Snapshot:
    compute = conn.compute
    services = call("list compute services", lambda: list(compute.services(binary="nova-compute")))
    hypervisors = call("list hypervisors", lambda: list(compute.hypervisors(details=True)))
    zones = call("list availability zones", lambda: list(compute.availability_zones()))
    aggregates = call("list host aggregates", lambda: list(compute.aggregates()))
    flavors = call("list flavors", lambda: list(compute.flavors(details=True, is_public=None)))
    servers = call("list servers", lambda: list(compute.servers(details=True, all_projects=True)))
    providers = read_providers(conn, call, settings.parallel_requests)

    region = settings.region_name or conn.config.get_region_name("compute") or "default"
    zone_infos = _to_zones(zones, services, aggregates, settings, region)
    hosts = to_hosts(hypervisors, services, providers, aggregates)
    workloads, replicas = _to_servers(servers, {h.external_id for h in hosts}, settings)
    return Snapshot(
        zones=zone_infos,
        hosts=hosts,
        workloads=workloads,
        replicas=replicas,
        extra={"flavors": _flavor_summary(flavors)},
    )


def read_providers(conn: Connection, call: Caller, parallel: int) -> dict[str, Provider]:
    """Every resource provider with inventories, usages and traits, read `parallel` at once."""

    def get(operation: str, path: str) -> dict[str, Any]:
        def fetch() -> dict[str, Any]:
            response = conn.placement.get(path, microversion=PLACEMENT_VERSION)
            body: dict[str, Any] = response.json()
            return body

        return call(operation, fetch)

    listed = get("list resource providers", "/resource_providers")["resource_providers"]

    def one(rp: dict[str, Any]) -> Provider:
        uuid = rp["uuid"]
        what = f"resource provider {rp['name']}"
        inventories = get(f"read inventories of {what}", f"/resource_providers/{uuid}/inventories")
        usages = get(f"read usages of {what}", f"/resource_providers/{uuid}/usages")
        traits = get(f"read traits of {what}", f"/resource_providers/{uuid}/traits")
        return Provider(
            uuid=uuid,
            name=rp["name"],
            root=rp.get("root_provider_uuid") or uuid,
            inventories=inventories["inventories"],
            usages={k: int(v) for k, v in usages["usages"].items()},
            traits=tuple(sorted(traits["traits"])),
        )

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="placement") as pool:
        return {p.uuid: p for p in pool.map(one, listed)}


def _to_zones(
    zones: Iterable[Any],
    services: Iterable[Any],
    aggregates: Iterable[Any],
    settings: OpenStackSettings,
    region: str,
) -> list[ZoneInfo]:
    available: dict[str, bool] = {}
    for zone in zones:
        available[zone.name] = bool((zone.state or {}).get("available", True))
    for service in services:  # a zone whose hosts are all down may be missing from the list
        if service.availability_zone and service.availability_zone not in available:
            available[service.availability_zone] = False
    available.pop(INTERNAL_ZONE, None)
    by_zone: dict[str, list[str]] = {}
    for aggregate in aggregates:
        if aggregate.availability_zone:
            by_zone.setdefault(aggregate.availability_zone, []).append(aggregate.name)
    return [
        ZoneInfo(
            external_id=name,
            name=name,
            region=region,
            availability=settings.zone_availability.get(name, settings.default_zone_availability),
            state=ItemState.active if ok else ItemState.degraded,
            extra={"aggregates": sorted(by_zone.get(name, []))},
        )
        for name, ok in sorted(available.items())
    ]


def to_hosts(
    hypervisors: Iterable[Any],
    services: Iterable[Any],
    providers: dict[str, Provider],
    aggregates: Iterable[Any],
) -> list[HostInfo]:
    by_host = {s.host: s for s in services}
    by_name = {p.name: p for p in providers.values()}
    children: dict[str, list[Provider]] = {}
    for p in providers.values():
        if p.root != p.uuid:
            children.setdefault(p.root, []).append(p)
    member_of: dict[str, list[str]] = {}
    for aggregate in aggregates:
        for host in aggregate.hosts or []:
            member_of.setdefault(host, []).append(aggregate.name)
    hosts: list[HostInfo] = []
    for hv in hypervisors:
        host = (hv.service_details or {}).get("host") or hv.name
        service = by_host.get(host)
        provider = providers.get(hv.id) or by_name.get(hv.name)
        hosts.append(
            _to_host(
                hv,
                host,
                service,
                provider,
                children.get(provider.uuid, []) if provider else [],
                sorted(member_of.get(host, [])),
            )
        )
    return sorted(hosts, key=lambda h: h.external_id)


def _to_host(
    hv: Any,
    host: str,
    service: Any | None,
    provider: Provider | None,
    children: list[Provider],
    aggregates: list[str],
) -> HostInfo:
    extra: dict[str, Any] = {"compute_host": host, "aggregates": aggregates}
    if service is not None and service.disabled_reason:
        extra["disabled_reason"] = service.disabled_reason
    zone = service.availability_zone if service is not None else None
    state = _host_state(hv, service)
    if provider is None:
        # Nova knows the node but Placement does not (yet): no capacity to offer.
        extra["placement"] = "no resource provider"
        return HostInfo(hv.name, hv.name, zone, 0, 0, 0, state=HostState.down, extra=extra)
    extra["resource_provider"] = provider.uuid
    inv = provider.inventories
    extra["reserved"] = {rc: int(v.get("reserved", 0)) for rc, v in sorted(inv.items())}
    gpus, gpus_used = 0, 0
    for child in [provider, *children]:
        for rc in GPU_CLASSES:
            if rc in child.inventories:
                gpus += _usable(child.inventories[rc])
                gpus_used += child.usages.get(rc, 0)
    traits = tuple(sorted({t for p in [provider, *children] for t in p.traits}))
    return HostInfo(
        external_id=hv.name,
        name=hv.name,
        zone=zone,
        vcpus=_usable(inv.get("VCPU")),
        memory_mb=_usable(inv.get("MEMORY_MB")),
        disk_gb=_usable(inv.get("DISK_GB")),
        gpus=gpus,
        arch=_arch(traits),
        state=state,
        cpu_ratio=_ratio(inv.get("VCPU")),
        ram_ratio=_ratio(inv.get("MEMORY_MB")),
        disk_ratio=_ratio(inv.get("DISK_GB")),
        vcpus_used=provider.usages.get("VCPU", 0),
        memory_mb_used=provider.usages.get("MEMORY_MB", 0),
        disk_gb_used=provider.usages.get("DISK_GB", 0),
        gpus_used=gpus_used,
        traits=traits,
        extra=extra,
    )


def _usable(inventory: dict[str, Any] | None) -> int:
    """Total less what the operator reserved for the host itself; the ratio applies on top,
    as Placement computes capacity: (total - reserved) * allocation_ratio."""
    if not inventory:
        return 0
    return max(0, int(inventory.get("total", 0)) - int(inventory.get("reserved", 0)))


def _ratio(inventory: dict[str, Any] | None) -> float:
    return float(inventory.get("allocation_ratio", 1.0)) if inventory else 1.0


def _host_state(hv: Any, service: Any | None) -> HostState:
    if service is None or hv.state == "down" or service.state == "down":
        return HostState.down
    if service.is_forced_down:
        return HostState.down
    if hv.status == "disabled" or service.status == "disabled":
        return HostState.maintenance
    return HostState.up


def _arch(traits: tuple[str, ...], default: str = "x86_64") -> str:
    """From os-traits: HW_ARCH_* names it; libvirt on Kunpeng reports HW_CPU_AARCH64_* only."""
    for trait in traits:
        if trait.startswith("HW_ARCH_"):
            return trait.removeprefix("HW_ARCH_").lower()
    if any(t.startswith("HW_CPU_AARCH64") for t in traits):
        return "aarch64"
    return default


def _to_servers(
    servers: Iterable[Any], hosts: set[str], settings: OpenStackSettings
) -> tuple[list[WorkloadInfo], list[ReplicaInfo]]:
    workloads: list[WorkloadInfo] = []
    replicas: list[ReplicaInfo] = []
    for server in servers:
        if server.status in LEFT_OUT:
            continue
        state = STATE_MAP.get(server.status or "UNKNOWN", ItemState.degraded)
        node = server.hypervisor_hostname
        host = node if node in hosts else None
        metadata = server.metadata or {}
        flavor = server.flavor
        extra: dict[str, Any] = {
            "status": server.status,
            "flavor": getattr(flavor, "original_name", None) or getattr(flavor, "name", None),
            "zone": server.availability_zone,
            "project_id": server.project_id,
        }
        key = metadata.get(KEY_META)
        if key:
            # Yunheng made it: a replica of the Yunheng service it was provisioned for.
            extra["idempotency_key"] = key
            replicas.append(ReplicaInfo(server.id, server.name, None, host, state, extra))
            continue
        workloads.append(
            WorkloadInfo(
                external_id=server.id,
                name=server.name,
                department=metadata.get(DEPARTMENT_META)
                or settings.project_departments.get(server.project_id or ""),
                kind="vm",
                replicas_desired=1,
                vcpus=int(getattr(flavor, "vcpus", 0) or 0),
                memory_mb=int(getattr(flavor, "ram", 0) or 0),
                disk_gb=int(getattr(flavor, "disk", 0) or 0),
                state=state,
                extra=extra,
            )
        )
        replicas.append(ReplicaInfo(server.id, server.name, server.id, host, state, extra))
    workloads.sort(key=lambda w: w.external_id)
    replicas.sort(key=lambda r: r.external_id)
    return workloads, replicas


def _flavor_summary(flavors: Iterable[Any]) -> list[dict[str, Any]]:
    """What provision() can choose from, smallest first (sizes in vCPU, MB and GB)."""
    summary = [
        {
            "name": f.name,
            "vcpus": int(f.vcpus or 0),
            "memory_mb": int(f.ram or 0),
            "disk_gb": int(f.disk or 0),
        }
        for f in flavors
    ]
    return sorted(summary, key=lambda f: (f["vcpus"], f["memory_mb"], f["disk_gb"], f["name"]))
