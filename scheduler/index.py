"""A compact, indexed view of a Problem that the greedy and CP-SAT solvers share.

Eligibility, free capacity and zone weights are computed once here; the solvers work on
integer indices, not on ids and pydantic objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from scheduler.problem import Problem, Service, Vector
from sla.availability import required_weight, weights_meet
from sla.availability import zone_weight as zone_weight  # re-exported for explain

# Zone weights -log(1 - a) as integers for CP-SAT. Weights and the requirement are both
# floored, so a zone exactly at the target meets it; the validator has the final word.
SLA_SCALE = 1_000_000_000


# zone_weight / required_weight come from sla.availability, so the plan's predicted
# availability and the SLA report's measured one share one formula.


def meets(weight: float, required: float) -> bool:
    """SLA reached, with the validator's relative tolerance for floating-point sums."""
    return weights_meet(weight, required)


@dataclass
class ServiceView:
    index: int
    spec: Service
    demand: Vector
    eligible: list[int]  # host indices the service may use at all
    pinned: list[int]  # hosts its existing replicas run on (fixed in "place" mode)
    zone_cap: int  # replicas allowed in any one zone (zone-loss rule)
    required: float  # SLA weight needed; 0 without a target
    affinity: int | None = None


@dataclass
class Index:
    problem: Problem
    host_ids: list[str]
    host_zone: list[int]
    host_cloud: list[int]
    free: list[list[int]]  # schedulable - outside usage, per host and resource
    schedulable: list[Vector]
    busy: list[bool]  # carries outside load, so it is in use whatever the plan
    zone_ids: list[str]
    zone_cloud: list[int]
    zone_weight: list[float]
    cloud_ids: list[str]
    cloud_prices: list[tuple[float, float, float, float]]
    specialness: list[int] = field(default_factory=list)  # scarce features a host offers
    services: list[ServiceView] = field(default_factory=list)
    _free_array: npt.NDArray[np.int64] | None = None
    # memo of roomy_array(), keyed by (id of the eligible list, demand)
    _roomy: dict[tuple[int, Vector], npt.NDArray[np.int64]] = field(default_factory=dict)
    _zone_array: npt.NDArray[np.int64] | None = None
    host_by_id: dict[str, int] = field(default_factory=dict)
    service_by_id: dict[str, int] = field(default_factory=dict)

    def cost(self, service: int, host: int) -> float:
        """Price per hour of one replica of `service` on `host`'s cloud."""
        prices = self.cloud_prices[self.host_cloud[host]]
        demand = self.services[service].demand
        return sum(p * d for p, d in zip(prices, demand, strict=True))

    def roomy(self, service: int) -> list[int]:
        """Eligible hosts with room for one replica now (outside load only), via numpy."""
        return self.roomy_array(service).tolist()  # type: ignore[no-any-return]

    def roomy_array(self, service: int) -> npt.NDArray[np.int64]:
        """roomy() as an array. Memoised per (eligible hosts, demand), not per service: the
        thousands of services of a large estate share a few dozen sizes and filters."""
        view = self.services[service]
        key = (id(view.eligible), view.demand)
        cached = self._roomy.get(key)
        if cached is not None:
            return cached
        if not view.eligible:
            found: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        else:
            if self._free_array is None:
                self._free_array = np.array(self.free, dtype=np.int64).reshape(-1, 4)
            hosts = np.array(view.eligible, dtype=np.int64)
            ok = np.all(self._free_array[hosts] >= np.array(view.demand, dtype=np.int64), axis=1)
            found = hosts[ok]
        self._roomy[key] = found
        return found

    def zone_array(self) -> npt.NDArray[np.int64]:
        if self._zone_array is None:
            self._zone_array = np.array(self.host_zone, dtype=np.int64)
        return self._zone_array

    def cheapest(self, service: int) -> float:
        """The lowest price per hour of one replica over the clouds it may use."""
        view = self.services[service]
        clouds = {self.host_cloud[h] for h in view.eligible}
        demand = view.demand
        return min(
            (sum(p * d for p, d in zip(self.cloud_prices[c], demand, strict=True)) for c in clouds),
            default=0.0,
        )


def build_index(problem: Problem) -> Index:
    clouds = {c.id: i for i, c in enumerate(problem.clouds)}
    zones = {z.id: i for i, z in enumerate(problem.zones)}
    zone_region = [z.region for z in problem.zones]
    zone_cloud = [clouds[z.cloud] for z in problem.zones]
    cloud_level = [c.security_level for c in problem.clouds]
    index = Index(
        problem=problem,
        host_ids=[h.id for h in problem.hosts],
        host_zone=[zones[h.zone] for h in problem.hosts],
        host_cloud=[zone_cloud[zones[h.zone]] for h in problem.hosts],
        free=[],
        schedulable=[h.schedulable() for h in problem.hosts],
        busy=[any(h.used.vector()) for h in problem.hosts],
        zone_ids=[z.id for z in problem.zones],
        zone_cloud=zone_cloud,
        zone_weight=[zone_weight(z.availability) for z in problem.zones],
        cloud_ids=[c.id for c in problem.clouds],
        cloud_prices=[c.prices.vector() for c in problem.clouds],
    )
    index.free = [
        [s - u for s, u in zip(sched, h.used.vector(), strict=True)]
        for sched, h in zip(index.schedulable, problem.hosts, strict=True)
    ]
    index.host_by_id = {h: i for i, h in enumerate(index.host_ids)}
    index.specialness = [
        (h.arch != "x86_64") + len(h.traits) + (h.capacity.gpus > 0) for h in problem.hosts
    ]
    index.service_by_id = {s.id: i for i, s in enumerate(problem.services)}
    # Services share a handful of eligibility signatures; compute each host list once.
    cache: dict[tuple[object, ...], list[int]] = {}
    for i, spec in enumerate(problem.services):
        signature = (spec.min_security_level, spec.regions, spec.clouds, spec.arch, spec.traits)
        eligible = cache.get(signature)
        if eligible is None:
            eligible = cache[signature] = [
                h
                for h, host in enumerate(problem.hosts)
                if cloud_level[index.host_cloud[h]] >= spec.min_security_level
                and (spec.regions is None or zone_region[index.host_zone[h]] in spec.regions)
                and (spec.clouds is None or index.cloud_ids[index.host_cloud[h]] in spec.clouds)
                and (spec.arch is None or host.arch == spec.arch)
                and spec.traits <= host.traits
            ]
        pinned = [index.host_by_id[h] for h in spec.current]
        index.services.append(
            ServiceView(
                index=i,
                spec=spec,
                demand=spec.demand.vector(),
                eligible=eligible,
                pinned=pinned,
                zone_cap=spec.replicas - spec.min_healthy,
                required=required_weight(spec.sla_target) if spec.sla_target else 0.0,
                affinity=index.service_by_id.get(spec.affinity) if spec.affinity else None,
            )
        )
    for view in index.services:  # affinity may point forward in the list
        if view.spec.affinity:
            view.affinity = index.service_by_id[view.spec.affinity]
    return index
