"""Consolidation by minimum bin slack: re-pack each zone host by host, each host filled as
full as possible before the next is opened.

Greedy first-fit decreasing commits every replica to the first host it fits, so hosts are
left with slack no later replica can use; on cut-to-fit (triplet-like) instances it is 5-8 %
over the optimum. Filling one host at a time from the whole pool, exact fills first
(scheduler.fill), finds those fits.

A zone is re-packed as a whole: each service keeps its replica count per zone, so SLA
spread, the zone-loss rule, affinity and quotas hold by construction, and only capacity,
distinct hosts and host eligibility need care here. Pinned replicas stay where they are. A
zone's new packing is kept only if it uses fewer hosts; the caller keeps the whole plan only
if the validator accepts it and its objective is better.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np

from scheduler.evaluate import Placement
from scheduler.fill import best_fill
from scheduler.index import Index

PERTURB = 0.1  # chance a randomised pass opens a host with the runner-up
MAX_ATTEMPTS = 50  # passes over the zones still above their bound


@dataclass
class Stats:
    zones: int = 0
    improved: int = 0
    hosts_closed: int = 0
    timed_out: bool = False


def consolidate(
    index: Index, placement: Placement, *, deadline: float, seed: int = 0
) -> tuple[Placement, Stats]:
    """A plan with each zone re-packed where that closes hosts; `placement` is not changed.

    One deterministic pass over every zone, then, while time is left, randomised passes
    (another opening replica, another of several exact fills) over the zones still above
    their volume bound: a wrong exact fill early on strands pieces that only fitted there.
    """
    pinned = {(v.index, h) for v in index.services for h in v.pinned}
    by_zone: dict[int, dict[int, int]] = {}  # zone -> service -> movable replicas there
    on_host: dict[int, list[int]] = {}
    for s, hosts in placement.items():
        for h in hosts:
            on_host.setdefault(h, []).append(s)
            if (s, h) not in pinned:
                counts = by_zone.setdefault(index.host_zone[h], {})
                counts[s] = counts.get(s, 0) + 1
    zone_hosts: dict[int, list[int]] = {}
    for h, z in enumerate(index.host_zone):
        zone_hosts.setdefault(z, []).append(h)
    holding = {h for _, h in pinned}

    def in_use(z: int, packed: dict[int, list[int]]) -> int:
        return sum(1 for h in zone_hosts[z] if packed.get(h) or index.busy[h] or h in holding)

    stats = Stats()
    original = {
        z: sum(1 for h in zone_hosts[z] if on_host.get(h) or index.busy[h]) for z in by_zone
    }
    best: dict[int, tuple[int, dict[int, list[int]]]] = {}
    floor = {z: _zone_bound(index, zone_hosts[z], by_zone[z], pinned) for z in by_zone}
    rng = random.Random(seed)  # noqa: S311 (search diversification, not security)
    # Biggest zones first: they hold the most slack to recover.
    zones = sorted(by_zone, key=lambda z: -sum(by_zone[z].values()))
    attempt = 0
    while zones:
        for z in zones:
            if time.perf_counter() >= deadline:
                stats.timed_out = True
                break
            # Each zone gets time in proportion to its replicas, so one large zone cannot
            # use up what the others need.
            now = time.perf_counter()
            share = sum(by_zone[z].values()) / max(1, sum(sum(by_zone[y].values()) for y in zones))
            zone_deadline = min(deadline, now + (deadline - now) * max(share, 0.05))
            packed = _pack_zone(
                index,
                zone_hosts[z],
                by_zone[z],
                pinned,
                (zone_deadline, original[z]),
                seed,
                rng if attempt else None,
            )
            if packed is not None and in_use(z, packed) < best.get(z, (original[z], {}))[0]:
                best[z] = (in_use(z, packed), packed)
        else:
            attempt += 1
            zones = [z for z in zones if best.get(z, (original[z], {}))[0] > floor[z]]
            if attempt >= MAX_ATTEMPTS:
                break
            continue
        break
    stats.zones = len(by_zone)
    result = {s: list(hosts) for s, hosts in placement.items()}
    for z, (count, packed) in best.items():
        stats.improved += 1
        stats.hosts_closed += original[z] - count
        zone = set(zone_hosts[z])
        for s in by_zone[z]:
            result[s] = [h for h in result[s] if h not in zone or (s, h) in pinned]
        for h, services in packed.items():
            for s in services:
                result[s].append(h)
    return result, stats


def _zone_bound(
    index: Index, hosts: list[int], counts: dict[int, int], pinned: set[tuple[int, int]]
) -> int:
    """Fewest hosts the zone can use: those in use anyway, plus the fewest others whose
    room covers, resource by resource, what the in-use hosts cannot hold."""
    holding = {h for _, h in pinned}
    fixed = [h for h in hosts if index.busy[h] or h in holding]
    others = [h for h in hosts if not (index.busy[h] or h in holding)]
    extra = 0
    for r in range(4):
        need = sum(index.services[s].demand[r] * n for s, n in counts.items())
        need -= sum(max(0, index.free[h][r]) for h in fixed)
        for n, cap in enumerate(sorted((index.free[h][r] for h in others), reverse=True), 1):
            if need <= 0:
                break
            need -= cap
            extra = max(extra, n)
    return len(fixed) + extra


def _pack_zone(
    index: Index,
    hosts: list[int],
    counts: dict[int, int],
    pinned: set[tuple[int, int]],
    budget: tuple[float, int],
    seed: int,
    rng: random.Random | None,
) -> dict[int, list[int]] | None:
    """Host -> services placed there, or None if the zone could not be packed in time.
    `budget` is the deadline and about how many hosts will be filled (the ones in use now),
    which sets each host's share of the time."""
    deadline, expected = budget
    services = sorted(counts)
    left = np.array([counts[s] for s in services], dtype=np.int64)
    demand = np.array([index.services[s].demand for s in services], dtype=np.int64)
    position = {s: i for i, s in enumerate(services)}
    local = {h: k for k, h in enumerate(hosts)}
    matrix = np.zeros((len(hosts), len(services)), dtype=bool)
    for i, s in enumerate(services):
        rows_ = [local[h] for h in index.services[s].eligible if h in local]
        matrix[rows_, i] = True
    allowed = {h: matrix[local[h]] for h in hosts}
    # Services that few of the zone's hosts accept are worth more, so hosts are not filled
    # with replicas that could have gone anywhere while scarce ones are left over.
    scarcity = 1.0 - matrix.mean(axis=0)
    holders: dict[int, set[int]] = {}  # host -> services with a pinned replica on it
    room: dict[int, np.ndarray] = {}
    for h in hosts:
        room[h] = np.array(index.free[h], dtype=np.int64)
    for s, h in pinned:
        if h in room:
            room[h] -= np.array(index.services[s].demand, dtype=np.int64)
            holders.setdefault(h, set()).add(s)
    in_use = [h for h in hosts if index.busy[h] or h in holders]
    spare = [h for h in hosts if h not in set(in_use)]
    # Hosts in use anyway are filled first; then the largest hosts, so fewer are opened.
    spare.sort(key=lambda h: (-sum(index.schedulable[h]), h))
    packed: dict[int, list[int]] = {}
    for h in in_use + spare:
        if not left.any():
            break
        if time.perf_counter() >= deadline:
            return None
        cap = np.array(index.schedulable[h], dtype=np.float64)
        usable = (left > 0) & allowed[h] & (demand <= room[h]).all(axis=1)
        for s in holders.get(h, ()):
            if s in position:
                usable[position[s]] = False  # replicas of one service need distinct hosts
        rows = np.flatnonzero(usable)
        if not len(rows):
            continue
        share = (demand[rows] / np.where(cap > 0, cap, 1.0)).sum(axis=1)
        value = share * (1.0 + scarcity[rows])
        # Minimum bin slack: the most valuable replica opens the host, the rest fill it.
        first = int(rows[np.argmax(value)])
        if rng is not None and len(rows) > 1 and rng.random() < PERTURB:
            first = int(rows[np.argsort(-value, kind="stable")[1]])
        others = rows[rows != first]
        rest = room[h] - demand[first]
        chosen = [first]
        if len(others):
            hosts_left = max(1, expected - len(packed))
            seconds = max(0.0, deadline - time.perf_counter()) / hosts_left
            picked = best_fill(demand[others], value[rows != first], rest, seconds, seed, rng)
            chosen += [int(others[i]) for i in picked]
        for i in chosen:
            left[i] -= 1
            room[h] -= demand[i]
            packed.setdefault(h, []).append(services[i])
    return None if left.any() else packed
