"""Falkenauer-style placement instances with an optimum known by construction.

`known_optimum(replicas, resources, seed)`: identical hosts (256 vCPU, 512 GiB, 4,000 GB;
only the first `resources` of these are non-zero), each cut exactly full into 2-4 pieces in
every resource, each piece within 50-150 % of an even share. A piece is a 1-replica service
with no SLA, no residency and no other constraint; everything is in one zone of one cloud.
The pieces are shuffled, and spare hosts are added (10 % of the optimum, at least 3) so a
solver has room to be wasteful. No prices, and weights hosts=1 with cost, migrations and
balance 0: the objective is the number of hosts in use, and since every cut host is exactly
full, no plan can use fewer than the number of hosts cut (the volume bound is tight) - the
optimum is that number.
"""

from __future__ import annotations

import math
import random

from scheduler.problem import Cloud, Department, Host, Problem, Resources, Service, Weights, Zone

GIB = 1024
RESOURCE_NAMES = ("vcpus", "memory_mb", "disk_gb", "gpus")


def _vec(v: list[int]) -> dict[str, int]:
    return dict(zip(RESOURCE_NAMES, v, strict=True))


def _cuts(rng: random.Random, total: int, pieces: int) -> list[int]:
    """`total` split into `pieces` positive parts, each within 50-150 % of the mean."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(pieces)]
    scale = sum(weights)
    parts = [max(1, math.floor(total * w / scale)) for w in weights]
    parts[-1] = total - sum(parts[:-1])
    return parts


KNOWN_CAPACITY = (256, 512 * GIB, 4000)  # vcpus, memory_mb, disk_gb of every host


def known_optimum(replicas: int, resources: int, seed: int) -> tuple[Problem, int]:
    """Identical hosts cut exactly full into 2-4 pieces; returns (problem, optimum hosts)."""
    if not 4 <= replicas <= 10_000 or resources not in (2, 3):
        raise ValueError("known_optimum needs 4..10,000 replicas and 2 or 3 resources")
    rng = random.Random(f"optimum:{seed}:{replicas}:{resources}")
    counts: list[int] = []
    left = replicas
    while left:
        k = left if left <= 4 else rng.randint(2, 4)
        if 0 < left - k < 2:
            k -= 2 - (left - k)
        counts.append(k)
        left -= k
    pieces: list[tuple[int, ...]] = []
    for k in counts:
        cols = [_cuts(rng, KNOWN_CAPACITY[r], k) for r in range(resources)]
        pieces += list(zip(*cols, strict=True))
    rng.shuffle(pieces)
    optimum = len(counts)
    spare = max(3, math.ceil(optimum * 0.1))
    capacity = Resources(**_vec([*KNOWN_CAPACITY[:resources], *[0] * (4 - resources)]))
    zone = Zone(id="lab-az1", cloud="lab", region="lab", availability=0.9999)
    problem = Problem(
        clouds=[Cloud(id="lab", vendor="bench", region="lab", security_level=3)],
        zones=[zone],
        hosts=[
            Host(id=f"bin-{i + 1:04d}", zone=zone.id, capacity=capacity)
            for i in range(optimum + spare)
        ],
        services=[
            Service(
                id=f"piece-{i + 1:04d}",
                department="lab",
                replicas=1,
                demand=Resources(**_vec([*p, *[0] * (4 - resources)])),
            )
            for i, p in enumerate(pieces)
        ],
        departments=[Department(id="lab")],
        weights=Weights(cost=0.0, hosts=1.0, migrations=0.0, balance=0.0),
    )
    return problem, optimum
