"""The placement problem and its result, as plain validated data.

This is also the JSON problem file format (docs/problem-format.md): `Problem.model_validate_json`
reads one, with errors that name the field. The solver never touches a database: the
console builds a Problem from the inventory, and `yunheng plan solve` reads one from a file.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RESOURCES = ("vcpus", "memory_mb", "disk_gb", "gpus")
Vector = tuple[int, int, int, int]  # in RESOURCES order


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    vcpus: int = Field(default=0, ge=0)
    memory_mb: int = Field(default=0, ge=0)
    disk_gb: int = Field(default=0, ge=0)
    gpus: int = Field(default=0, ge=0)

    def vector(self) -> Vector:
        return (self.vcpus, self.memory_mb, self.disk_gb, self.gpus)


class Limits(_Strict):
    """Quota limits; a resource left out is unlimited (not zero)."""

    vcpus: int | None = Field(default=None, ge=0)
    memory_mb: int | None = Field(default=None, ge=0)
    disk_gb: int | None = Field(default=None, ge=0)
    gpus: int | None = Field(default=None, ge=0)

    def vector(self) -> tuple[int | None, int | None, int | None, int | None]:
        return (self.vcpus, self.memory_mb, self.disk_gb, self.gpus)


class Prices(_Strict):
    """Price per unit per hour (e.g. yuan per vCPU-hour); the cost term of the objective."""

    vcpus: float = Field(default=0.0, ge=0)
    memory_mb: float = Field(default=0.0, ge=0)
    disk_gb: float = Field(default=0.0, ge=0)
    gpus: float = Field(default=0.0, ge=0)

    def vector(self) -> tuple[float, float, float, float]:
        return (self.vcpus, self.memory_mb, self.disk_gb, self.gpus)


class Cloud(_Strict):
    id: str = Field(min_length=1)
    vendor: str = ""
    region: str = Field(min_length=1)
    security_level: int = Field(ge=1, le=5)
    prices: Prices = Field(default_factory=Prices)


class Zone(_Strict):
    id: str = Field(min_length=1)
    cloud: str = Field(min_length=1)
    region: str = Field(min_length=1)
    availability: float = Field(gt=0, lt=1, description="probability the zone is up")


class Host(_Strict):
    id: str = Field(min_length=1)
    zone: str = Field(min_length=1)
    capacity: Resources
    # Schedulable = (capacity - reserved) * ratio, as Placement computes it.
    allocation_ratio: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    reserved: Resources = Field(default_factory=Resources)
    # Usage by workloads outside this problem (not movable, not counted in its objective).
    used: Resources = Field(default_factory=Resources)
    arch: str = "x86_64"
    traits: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _sane(self) -> Host:
        if any(r <= 0 for r in self.allocation_ratio):
            raise ValueError("allocation_ratio values must be above 0")
        over = [
            name
            for name, c, r in zip(
                RESOURCES, self.capacity.vector(), self.reserved.vector(), strict=True
            )
            if r > c
        ]
        if over:
            raise ValueError(f"reserved exceeds capacity for {', '.join(over)}")
        return self

    def schedulable(self) -> Vector:
        cap, res = self.capacity.vector(), self.reserved.vector()
        # The epsilon keeps 100 x 0.29 (28.999999999999996 in floating point) at 29.
        return tuple(  # type: ignore[return-value]
            math.floor((c - r) * ratio + 1e-9)
            for c, r, ratio in zip(cap, res, self.allocation_ratio, strict=True)
        )


class Service(_Strict):
    id: str = Field(min_length=1)
    department: str = Field(min_length=1)
    replicas: int = Field(ge=1, le=10_000)
    demand: Resources
    sla_target: float | None = Field(default=None, gt=0, lt=1)
    min_healthy: int = Field(default=0, ge=0, description="replicas left after losing any one zone")
    min_security_level: int = Field(default=1, ge=1, le=5)
    regions: frozenset[str] | None = Field(default=None, description="data residency; None = any")
    clouds: frozenset[str] | None = None
    arch: str | None = None
    traits: frozenset[str] = frozenset()
    affinity: str | None = Field(default=None, description="place only in zones this service uses")
    # Hosts that existing replicas run on now; pinned unless the problem is a rebalance.
    current: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Service:
        if self.min_healthy >= self.replicas and self.min_healthy > 0:
            raise ValueError(
                f"min_healthy ({self.min_healthy}) must be below replicas ({self.replicas}): "
                "losing a zone must be survivable"
            )
        if len(self.current) > self.replicas:
            raise ValueError("current lists more hosts than replicas")
        if len(set(self.current)) != len(self.current):
            raise ValueError("current names a host twice (replicas need distinct hosts)")
        return self


class Department(_Strict):
    id: str = Field(min_length=1)
    quota: Limits | None = None  # None, or a resource left out: unlimited
    instances_quota: int | None = Field(default=None, ge=0)
    # What the department already uses outside this problem.
    used: Resources = Field(default_factory=Resources)
    used_instances: int = Field(default=0, ge=0)


class Weights(_Strict):
    """Objective weights; each term is normalised so 1.0 means 'about as important as cost'."""

    cost: float = Field(default=1.0, ge=0)
    hosts: float = Field(default=1.0, ge=0)
    migrations: float = Field(default=1.0, ge=0)
    balance: float = Field(default=0.1, ge=0)


class Problem(_Strict):
    version: Literal[1] = 1
    mode: Literal["place", "rebalance"] = "place"
    migration_budget: int = Field(default=0, ge=0, description="rebalance: replicas that may move")
    clouds: list[Cloud]
    zones: list[Zone]
    hosts: list[Host]
    services: list[Service]
    departments: list[Department] = Field(default_factory=list)
    weights: Weights = Field(default_factory=Weights)

    @model_validator(mode="after")
    def _references(self) -> Problem:
        clouds = {c.id for c in self.clouds}
        zones = {z.id for z in self.zones}
        hosts = {h.id for h in self.hosts}
        services = {s.id for s in self.services}
        departments = {d.id for d in self.departments}
        for kind, ids in (
            ("department", self.departments),
            ("cloud", self.clouds),
            ("zone", self.zones),
            ("host", self.hosts),
            ("service", self.services),
        ):
            seen: set[str] = set()
            for item in ids:
                if item.id in seen:
                    raise ValueError(f"{kind} id {item.id!r} appears twice")
                seen.add(item.id)
        for z in self.zones:
            if z.cloud not in clouds:
                raise ValueError(f"zones[{z.id}].cloud: unknown cloud {z.cloud!r}")
        for h in self.hosts:
            if h.zone not in zones:
                raise ValueError(f"hosts[{h.id}].zone: unknown zone {h.zone!r}")
        for s in self.services:
            if departments and s.department not in departments:
                raise ValueError(
                    f"services[{s.id}].department: unknown department {s.department!r}"
                )
            if s.affinity is not None and s.affinity not in services:
                raise ValueError(f"services[{s.id}].affinity: unknown service {s.affinity!r}")
            for host_id in s.current:
                if host_id not in hosts:
                    raise ValueError(f"services[{s.id}].current: unknown host {host_id!r}")
        return self
