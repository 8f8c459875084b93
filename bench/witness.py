"""Witness placements: the proof that a generated benchmark instance is feasible.

A deliberately simple constructive placement, independent of the solvers in scheduler/:
services in order of how constrained they are (GPU, aarch64, residency, security, then the
rest, largest first; affinity followers last), each spread round-robin over its eligible
zones (never more than replicas - min_healthy in one zone), each replica on the next host
of the zone (circular next-fit) that is eligible, not yet used by the service and has room.
It honours every hard rule of the problem contract; tests re-check its plans with
`scheduler.validate.violations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.plan import Assignment
from scheduler.problem import Cloud, Host, Resources, Service, Zone


@dataclass
class Draft:
    """A service while it is being generated (mutable; becomes a Service at the end)."""

    id: str
    department: str
    replicas: int
    sla_target: float | None = None
    min_healthy: int = 0
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    gpus: int = 0
    size: int = -1  # index into the size catalogue, for resizing
    resizable: bool = True
    min_security_level: int = 1
    regions: frozenset[str] | None = None
    clouds: frozenset[str] | None = None
    arch: str | None = None
    traits: frozenset[str] = frozenset()
    affinity: str | None = None

    def vector(self) -> tuple[int, int, int, int]:
        return (self.vcpus, self.memory_mb, self.disk_gb, self.gpus)


def to_service(d: Draft) -> Service:
    return Service(
        id=d.id,
        department=d.department,
        replicas=d.replicas,
        demand=Resources(vcpus=d.vcpus, memory_mb=d.memory_mb, disk_gb=d.disk_gb, gpus=d.gpus),
        sla_target=d.sla_target,
        min_healthy=d.min_healthy,
        min_security_level=d.min_security_level,
        regions=d.regions,
        clouds=d.clouds,
        arch=d.arch,
        traits=d.traits,
        affinity=d.affinity,
    )


@dataclass(frozen=True)
class Pool:
    """The hosts a kind of service could use: how many per zone, and their free capacity."""

    zone_sizes: tuple[int, ...]  # hosts per zone, zones without any left out
    free: tuple[int, int, int, int]

    @property
    def hosts(self) -> int:
        return sum(self.zone_sizes)

    def spreadable(self, replicas: int, min_healthy: int) -> bool:
        """Room for `replicas` on distinct hosts, at most replicas - min_healthy per zone."""
        cap = replicas - min_healthy
        return sum(min(n, cap) for n in self.zone_sizes) >= replicas


class Estate:
    """Clouds, zones and hosts with their free capacity (schedulable - outside usage)."""

    def __init__(self, clouds: Sequence[Cloud], zones: Sequence[Zone], hosts: Sequence[Host]):
        self.clouds = {c.id: c for c in clouds}
        self.zones = {z.id: z for z in zones}
        self.hosts = list(hosts)
        self.free = [
            [s - u for s, u in zip(h.schedulable(), h.used.vector(), strict=True)] for h in hosts
        ]
        self._pools: dict[tuple[object, ...], Pool] = {}
        self.by_zone: dict[str, list[int]] = {z.id: [] for z in zones}
        for i, h in enumerate(hosts):
            self.by_zone[h.zone].append(i)

    def zone_ok(
        self,
        zone: str,
        min_security_level: int = 1,
        regions: frozenset[str] | None = None,
        clouds: frozenset[str] | None = None,
    ) -> bool:
        z = self.zones[zone]
        return (
            self.clouds[z.cloud].security_level >= min_security_level
            and (regions is None or z.region in regions)
            and (clouds is None or z.cloud in clouds)
        )

    @staticmethod
    def host_ok(host: Host, arch: str | None, traits: frozenset[str]) -> bool:
        return (arch is None or host.arch == arch) and traits <= host.traits

    def pool(
        self,
        arch: str | None,
        traits: frozenset[str],
        min_security_level: int = 1,
        regions: frozenset[str] | None = None,
        clouds: frozenset[str] | None = None,
    ) -> Pool:
        """The hosts a service with these constraints could use."""
        key = (arch, traits, min_security_level, regions, clouds)
        cached = self._pools.get(key)
        if cached is not None:
            return cached
        sizes: list[int] = []
        free = [0, 0, 0, 0]
        for zone, members in self.by_zone.items():
            if not self.zone_ok(zone, min_security_level, regions, clouds):
                continue
            found = [i for i in members if self.host_ok(self.hosts[i], arch, traits)]
            if found:
                sizes.append(len(found))
            for i in found:
                for r in range(4):
                    free[r] += self.free[i][r]
        pool = self._pools[key] = Pool(tuple(sizes), (free[0], free[1], free[2], free[3]))
        return pool

    def total_free(self) -> list[int]:
        return [sum(row[r] for row in self.free) for r in range(4)]


def _order(d: Draft) -> tuple[int, int, float]:
    if d.gpus:
        group = 0 if d.traits else 1  # a GPU model first, then any GPU
    elif d.arch is not None:
        group = 1
    elif d.clouds is not None:
        group = 2
    elif d.min_security_level >= 4:
        group = 3
    elif d.regions is not None:
        group = 4
    elif d.min_security_level >= 3:
        group = 5
    else:
        group = 6
    return (group, -d.replicas, -(d.vcpus + d.memory_mb / 4096))


def placing_order(drafts: Sequence[Draft]) -> list[Draft]:
    """Most constrained first; an affinity follower right after its partner."""
    followers: dict[str, list[Draft]] = {}
    for d in drafts:
        if d.affinity is not None:
            followers.setdefault(d.affinity, []).append(d)
    out: list[Draft] = []
    for d in sorted((d for d in drafts if d.affinity is None), key=_order):
        out.append(d)
        out += followers.pop(d.id, [])
    return out + [d for group in followers.values() for d in group]  # chains: last


def place_all(estate: Estate, drafts: Sequence[Draft]) -> list[Assignment] | None:
    """A valid plan for every draft, or None where this simple method runs out of room."""
    free = [row[:] for row in estate.free]
    cursor = dict.fromkeys(estate.by_zone, 0)
    zone_free = {z: sum(free[i][0] for i in members) for z, members in estate.by_zone.items()}
    zones_of: dict[str, set[str]] = {}
    out: list[Assignment] = []
    for d in placing_order(drafts):
        allowed = [
            z
            for z in estate.by_zone
            if estate.zone_ok(z, d.min_security_level, d.regions, d.clouds)
            and (d.affinity is None or z in zones_of.get(d.affinity, set()))
        ]
        # Zones with the most free vCPU first, so load spreads over the estate.
        allowed.sort(key=lambda z: -zone_free[z])
        cap = d.replicas - d.min_healthy
        demand = d.vector()
        per_zone = dict.fromkeys(allowed, 0)
        taken: set[int] = set()
        open_zones = list(allowed)
        while len(taken) < d.replicas and open_zones:
            for z in list(open_zones):
                if len(taken) == d.replicas:
                    break
                host = _next_fit(estate, z, d, demand, free, cursor, taken)
                if host is None or per_zone[z] + 1 >= cap:
                    open_zones.remove(z)
                if host is None:
                    continue
                taken.add(host)
                per_zone[z] += 1
                for r in range(4):
                    free[host][r] -= demand[r]
                zone_free[z] -= demand[0]
                h = estate.hosts[host]
                cloud = estate.zones[h.zone].cloud
                out.append(Assignment(service=d.id, host=h.id, zone=h.zone, cloud=cloud))
        if len(taken) < d.replicas:
            return None
        used_zones = {z for z, n in per_zone.items() if n}
        if d.sla_target is not None and len(used_zones) < 2:
            return None  # one zone never reaches the higher targets; keep the witness simple
        zones_of[d.id] = used_zones
    return out


def _next_fit(
    estate: Estate,
    zone: str,
    d: Draft,
    demand: tuple[int, int, int, int],
    free: list[list[int]],
    cursor: dict[str, int],
    taken: set[int],
) -> int | None:
    members = estate.by_zone[zone]
    n = len(members)
    start = cursor[zone]
    for step in range(n):
        k = (start + step) % n
        i = members[k]
        if i in taken or not estate.host_ok(estate.hosts[i], d.arch, d.traits):
            continue
        row = free[i]
        if all(row[r] >= demand[r] for r in range(4)):
            cursor[zone] = (k + 1) % n
            return i
    return None
