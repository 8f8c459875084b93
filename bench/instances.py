"""Placement benchmark instances, each a `scheduler.problem.Problem`, deterministic from a seed.

`synthetic(hosts, replicas, seed)` - the full constraint mix on a made-up multi-cloud estate:

- 4 clouds (`CLOUDS`): Huawei and Sugon government clouds in cn-beijing (security 4 and 3),
  Inspur in cn-jinan (3) and a cheap Alibaba public cloud in cn-hangzhou (2, vCPUs
  overcommitted 2:1), each with its prices and 2-3 zones of availability 0.999-0.9999.
  Hosts are spread over the clouds (30/20/20/30 %) and their zones, in a few shapes
  (`SHAPES`): 64 and 96 vCPU x86, 128-vCPU aarch64 Kunpeng with CUSTOM_XINCHUANG (Huawei,
  Sugon), and A100 (Huawei) and T4 (Alibaba) GPU hosts; every host reserves 2 vCPU and
  8 GiB, and about a quarter already carry outside usage (10-40 %).
- Services with 1-8 replicas from a size catalogue (`SIZES`, 2-16 vCPU with 2-8 GiB per
  vCPU): GPU services fill about half of the GPU pool and aarch64 services about 40 % of
  the Kunpeng pool; of the rest about 20 % need security level 3 (some 4), 10 % the
  cn-beijing region and 6 % named clouds. Replicated services get an SLA target
  (0.999/0.9995/0.9999) and mostly min_healthy = replicas // 2; a few pairs have zone
  affinity; six departments, five with quotas 10-50 % above their demand (disk unlimited).
- Sizes are stepped along the catalogue until the busier of vCPU and memory is at about
  68 % of the estate's free capacity, and feasibility is proven by a witness placement
  (`bench.witness`) that honours every constraint; if the witness fails, the load target is
  lowered by 4 points and the sizes drawn again.

`known_optimum(replicas, resources, seed)` - instances with an optimum known by construction
(identical hosts cut exactly full into 2-4 pieces); see bench/known.py.

`request_into_estate(hosts, request, seed)` - a synthetic estate whose services are already
placed (folded into the hosts' outside usage) and one new service of `request` replicas:
the "single request" of the benchmark.

`alibaba_openb(...)` - the real Alibaba GPU trace; see bench/openb.py.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from bench.known import known_optimum
from bench.openb import alibaba_openb
from bench.witness import Draft, Estate, Pool, place_all, to_service
from scheduler.plan import Assignment
from scheduler.problem import (
    Cloud,
    Department,
    Host,
    Limits,
    Prices,
    Problem,
    Resources,
    Service,
    Zone,
)

__all__ = [
    "alibaba_openb",
    "known_optimum",
    "request_into_estate",
    "synthetic",
    "synthetic_with_witness",
]

GIB = 1024  # memory_mb per GiB
LOAD_TARGET = 0.68  # the busier of vCPU and memory, as a share of free capacity
LOAD_TOLERANCE = 0.02


@dataclass(frozen=True)
class Shape:
    vcpus: int
    memory_mb: int
    disk_gb: int
    gpus: int = 0
    arch: str = "x86_64"
    traits: frozenset[str] = frozenset({"CUSTOM_SSD"})


SHAPES = {
    "x86-64": Shape(64, 256 * GIB, 1920),
    "x86-96": Shape(96, 384 * GIB, 3840),
    "arm-128": Shape(
        128, 512 * GIB, 3840, arch="aarch64", traits=frozenset({"CUSTOM_SSD", "CUSTOM_XINCHUANG"})
    ),
    "gpu-a100": Shape(64, 512 * GIB, 3840, 8, traits=frozenset({"CUSTOM_SSD", "CUSTOM_GPU_A100"})),
    "gpu-t4": Shape(48, 256 * GIB, 1920, 4, traits=frozenset({"CUSTOM_SSD", "CUSTOM_GPU_T4"})),
}


@dataclass(frozen=True)
class CloudSpec:
    id: str
    vendor: str
    region: str
    security_level: int
    prices: Prices  # per vCPU-hour, MiB-hour, GB-hour, GPU-hour
    share: float  # of the hosts
    shapes: tuple[tuple[str, float], ...]  # shape name, weight
    cpu_ratio: float = 1.0


def _prices(vcpu: float, gib: float, gpu: float) -> Prices:
    return Prices(vcpus=vcpu, memory_mb=round(gib / GIB, 8), disk_gb=0.0004, gpus=gpu)


CLOUDS = (
    CloudSpec(
        "hw-gov", "Huawei", "cn-beijing", 4, _prices(0.16, 0.02, 14.0), 0.3,
        (("x86-64", 0.55), ("arm-128", 0.3), ("gpu-a100", 0.15)),
    ),
    CloudSpec(
        "sugon-gov", "Sugon", "cn-beijing", 3, _prices(0.13, 0.016, 0.0), 0.2,
        (("x86-96", 0.8), ("arm-128", 0.2)),
    ),
    CloudSpec(
        "inspur-gov", "Inspur", "cn-jinan", 3, _prices(0.12, 0.015, 0.0), 0.2,
        (("x86-64", 0.7), ("x86-96", 0.3)),
    ),
    CloudSpec(
        "ali-pub", "Alibaba", "cn-hangzhou", 2, _prices(0.08, 0.01, 6.0), 0.3,
        (("x86-64", 0.5), ("x86-96", 0.35), ("gpu-t4", 0.15)), cpu_ratio=2.0,
    ),
)  # fmt: skip
SIZES = (  # vCPU, memory GiB: the catalogue, in stepping order
    (2, 4), (2, 8), (4, 8), (4, 16), (8, 16), (8, 32), (16, 32), (16, 64), (16, 128),
)  # fmt: skip
REPLICAS = (1, 2, 3, 4, 5, 6, 7, 8)
REPLICA_WEIGHTS = (20, 24, 18, 12, 8, 6, 6, 6)
SLA_TARGETS = (0.999, 0.9995, 0.9999)
DEPARTMENTS = ("finance", "health", "education", "transport", "public-security", "data-bureau")


def _estate(hosts: int, rng: random.Random) -> tuple[list[Cloud], list[Zone], list[Host]]:
    clouds: list[Cloud] = []
    zones: list[Zone] = []
    out: list[Host] = []
    counts = [math.floor(hosts * c.share) for c in CLOUDS]
    for i in range(hosts - sum(counts)):
        counts[i % len(counts)] += 1
    for spec, count in zip(CLOUDS, counts, strict=True):
        clouds.append(
            Cloud(
                id=spec.id,
                vendor=spec.vendor,
                region=spec.region,
                security_level=spec.security_level,
                prices=spec.prices,
            )
        )
        mine = [
            Zone(
                id=f"{spec.id}-az{k + 1}",
                cloud=spec.id,
                region=spec.region,
                availability=round(rng.uniform(0.999, 0.9999), 5),
            )
            for k in range(rng.choice((2, 3)))
        ]
        zones += mine
        names = [name for name, _ in spec.shapes]
        weights = [w for _, w in spec.shapes]
        for n in range(count):
            zone = mine[n % len(mine)]
            name = names[0] if n < len(names) else rng.choices(names, weights)[0]
            shape = SHAPES[name]
            ratio = spec.cpu_ratio if shape.arch == "x86_64" and not shape.gpus else 1.0
            host = Host(
                id=f"{zone.id}-{name}-{n + 1:04d}",
                zone=zone.id,
                capacity=Resources(
                    vcpus=shape.vcpus,
                    memory_mb=shape.memory_mb,
                    disk_gb=shape.disk_gb,
                    gpus=shape.gpus,
                ),
                allocation_ratio=(ratio, 1.0, 1.0, 1.0),
                reserved=Resources(vcpus=2, memory_mb=8 * GIB),
                arch=shape.arch,
                traits=shape.traits,
            )
            if rng.random() < 0.25:
                f = rng.uniform(0.1, 0.4)
                v, m, d, g = host.schedulable()
                used = Resources(
                    vcpus=int(v * f),
                    memory_mb=int(m * f),
                    disk_gb=int(d * f / 2),
                    gpus=rng.randint(0, g // 4),
                )
                host = host.model_copy(update={"used": used})
            out.append(host)
    return clouds, zones, out


def _draft(rng: random.Random, n: int, replicas: int, pool: Pool, **kw: object) -> Draft:
    replicas = max(1, min(replicas, pool.hosts))
    sla: float | None = None
    min_healthy = 0
    if replicas >= 2 and len(pool.zone_sizes) >= 2:
        sla = rng.choice(SLA_TARGETS)
        min_healthy = replicas // 2 if rng.random() < 0.8 else 0
        while min_healthy and not pool.spreadable(replicas, min_healthy):
            min_healthy -= 1
    draft = Draft(
        id=f"svc-{n:05d}",
        department=rng.choice(DEPARTMENTS),
        replicas=replicas,
        sla_target=sla,
        min_healthy=min_healthy,
        disk_gb=rng.choice((40, 80, 100, 200)),
    )
    return replace(draft, **kw)  # type: ignore[arg-type]


def _services(estate: Estate, replicas: int, rng: random.Random) -> list[Draft]:
    """Pool services first (GPU, aarch64), then the rest to the requested replica count."""
    drafts: list[Draft] = []
    left = replicas

    def count() -> int:
        return min(left, rng.choices(REPLICAS, REPLICA_WEIGHTS)[0])

    for trait in ("CUSTOM_GPU_A100", "CUSTOM_GPU_T4"):
        pool = estate.pool(arch=None, traits=frozenset({trait}))
        asked = 0
        while left and pool.hosts and asked < 0.5 * pool.free[3]:
            gpus = rng.choice((1, 1, 2))
            model = frozenset({trait}) if rng.random() < 0.6 else frozenset()
            d = _draft(
                rng, len(drafts), min(count(), 4), pool, gpus=gpus, vcpus=4 * gpus,
                memory_mb=32 * GIB * gpus, traits=model, resizable=False,
            )  # fmt: skip
            drafts.append(d)
            asked += d.replicas * gpus
            left -= d.replicas
    arm = frozenset({"CUSTOM_XINCHUANG"})
    pool = estate.pool(arch="aarch64", traits=arm)
    asked = 0
    while left and pool.hosts and asked < 0.4 * pool.free[0]:
        vcpus, gib = rng.choice(SIZES[:8])
        d = _draft(
            rng, len(drafts), count(), pool, vcpus=vcpus, memory_mb=gib * GIB,
            arch="aarch64", traits=arm, resizable=False,
        )  # fmt: skip
        drafts.append(d)
        asked += d.replicas * vcpus
        left -= d.replicas
    kinds: dict[str, dict[str, object]] = {
        "secure": {"min_security_level": 3},
        "top-secret": {"min_security_level": 4},
        "beijing": {"regions": frozenset({"cn-beijing"})},
        "gov-clouds": {"clouds": frozenset({"inspur-gov", "sugon-gov"})},
        "public": {"clouds": frozenset({"ali-pub"})},
        "plain": {},
    }
    weights = (0.17, 0.03, 0.1, 0.03, 0.03, 0.64)
    while left:
        kind = rng.choices(list(kinds), weights)[0]
        extra: dict[str, object] = dict(kinds[kind])
        pool = estate.pool(arch=None, traits=frozenset(), **extra)  # type: ignore[arg-type]
        size = rng.randrange(len(SIZES))
        vcpus, gib = SIZES[size]
        d = _draft(
            rng, len(drafts), count(), pool, size=size, vcpus=vcpus,
            memory_mb=gib * GIB, **extra,
        )  # fmt: skip
        drafts.append(d)
        left -= d.replicas
    return drafts


def _resize(drafts: list[Draft], estate: Estate, target: float, rng: random.Random) -> None:
    """Step resizable services along SIZES until the busier resource is near `target`."""
    free = estate.total_free()
    demand = [sum(d.replicas * d.vector()[r] for d in drafts) for r in (0, 1)]
    movable = [d for d in drafts if d.resizable]
    if not movable:
        return

    def load() -> float:
        return max(demand[0] / max(1, free[0]), demand[1] / max(1, free[1]))

    for _ in range(50 * len(movable) + 1000):
        current = load()
        if abs(current - target) <= LOAD_TOLERANCE:
            return
        step = -1 if current > target else 1
        d = rng.choice(movable)
        if not 0 <= d.size + step < len(SIZES):
            continue
        old = (d.vcpus, d.memory_mb)
        d.size += step
        d.vcpus, gib = SIZES[d.size]
        d.memory_mb = gib * GIB
        demand[0] += d.replicas * (d.vcpus - old[0])
        demand[1] += d.replicas * (d.memory_mb - old[1])


def _affinity(drafts: list[Draft], rng: random.Random) -> None:
    """A few pairs: the follower copies its partner's residency and security, then must
    stay in the zones the partner uses."""
    leaders = [d for d in drafts if d.resizable and d.min_healthy >= 1 and d.traits == frozenset()]
    rng.shuffle(leaders)
    pairs = min(25, max(1, len(leaders) // 20))
    for leader, follower in zip(leaders[:pairs], leaders[pairs : 2 * pairs], strict=False):
        follower.affinity = leader.id
        follower.regions, follower.clouds = leader.regions, leader.clouds
        follower.min_security_level = leader.min_security_level


def _departments(drafts: list[Draft], rng: random.Random) -> list[Department]:
    out: list[Department] = []
    for i, name in enumerate(DEPARTMENTS):
        mine = [d for d in drafts if d.department == name]
        asked = [sum(d.replicas * d.vector()[r] for d in mine) for r in range(4)]
        instances = sum(d.replicas for d in mine)
        used = [int(a * rng.uniform(0.0, 0.3)) for a in asked]
        used_instances = int(instances * rng.uniform(0.0, 0.3))
        if i == len(DEPARTMENTS) - 1:
            out.append(Department(id=name, used=Resources(**_vec(used))))
            continue
        slack = rng.uniform(1.1, 1.5)
        quota = [u + math.ceil(a * slack) for u, a in zip(used, asked, strict=True)]
        out.append(
            Department(
                id=name,
                quota=Limits(**{**_vec(quota), "disk_gb": None}),  # disk: unlimited
                instances_quota=used_instances + math.ceil(instances * slack),
                used=Resources(**_vec(used)),
                used_instances=used_instances,
            )
        )
    return out


def _vec(v: list[int]) -> dict[str, int]:
    return dict(zip(("vcpus", "memory_mb", "disk_gb", "gpus"), v, strict=True))


def synthetic_with_witness(
    hosts: int, replicas: int, seed: int
) -> tuple[Problem, list[Assignment]]:
    """The synthetic instance and a valid plan for it (the proof it is feasible)."""
    if hosts < 8 or replicas < 1:
        raise ValueError("synthetic needs at least 8 hosts and 1 replica")
    clouds, zones, host_list = _estate(hosts, random.Random(f"estate:{seed}:{hosts}"))
    estate = Estate(clouds, zones, host_list)
    rng = random.Random(f"services:{seed}:{hosts}:{replicas}")
    base = _services(estate, replicas, rng)
    target = LOAD_TARGET
    for attempt in range(8):
        drafts = [replace(d) for d in base]
        attempt_rng = random.Random(f"resize:{seed}:{attempt}")
        _resize(drafts, estate, target, attempt_rng)
        _affinity(drafts, attempt_rng)
        witness = place_all(estate, drafts)
        if witness is not None:
            problem = Problem(
                clouds=clouds,
                zones=zones,
                hosts=host_list,
                services=[to_service(d) for d in drafts],
                departments=_departments(drafts, attempt_rng),
            )
            return problem, witness
        target -= 0.04
    raise RuntimeError(f"no feasible synthetic instance for {hosts} hosts, {replicas} replicas")


def synthetic(hosts: int, replicas: int, seed: int) -> Problem:
    return synthetic_with_witness(hosts, replicas, seed)[0]


def request_into_estate(hosts: int, request: int, seed: int) -> Problem:
    """An estate at about 68 % load, already placed, and one new `request`-replica service
    (4 vCPU / 8 GiB, SLA 0.9995, min_healthy half, security level 3, department finance)."""
    problem, witness = synthetic_with_witness(hosts, hosts * 6, seed)
    demand = {s.id: s.demand.vector() for s in problem.services}
    extra: dict[str, list[int]] = {}
    for a in witness:
        acc = extra.setdefault(a.host, [0, 0, 0, 0])
        for r, d in enumerate(demand[a.service]):
            acc[r] += d
    placed_hosts = []
    for h in problem.hosts:
        add = extra.get(h.id)
        if add:
            used = [u + a for u, a in zip(h.used.vector(), add, strict=True)]
            h = h.model_copy(update={"used": Resources(**_vec(used))})
        placed_hosts.append(h)
    departments = [
        d.model_copy(update={"quota": None, "instances_quota": None}) for d in problem.departments
    ]
    service = Service(
        id="new-request",
        department="finance",
        replicas=request,
        demand=Resources(vcpus=4, memory_mb=8 * GIB, disk_gb=80),
        sla_target=0.9995,
        min_healthy=request // 2,
        min_security_level=3,
    )
    return problem.model_copy(
        update={"hosts": placed_hosts, "services": [service], "departments": departments}
    )
