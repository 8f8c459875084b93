"""Repair: place what the greedy could not, around what it did place, with a small CP-SAT.

The greedy's placed services are frozen (their load comes off the hosts' free capacity);
only the left-out services are variables. That model is small even on the largest
estates, where one model of everything is not.
"""

from __future__ import annotations

from dataclasses import replace

from scheduler import cpsat
from scheduler.evaluate import Placement
from scheduler.index import Index, ServiceView


def repair(
    index: Index, placement: Placement, unplaced: list[str], options: cpsat.Options
) -> tuple[Placement | None, str]:
    left_out = {index.service_by_id[s] for s in unplaced}
    missing = _with_affinity_groups(index, left_out)
    # Round 1: only what was left out (and its affinity groups) moves. Round 2: also the
    # flexible services sitting on the hosts the left-out ones could use, which the greedy
    # may have put where they were the only option of someone else.
    rounds = [missing, _with_movable(index, placement, missing)]
    status = "not tried"
    for attempt in rounds:
        sub, back = _subproblem(index, placement, attempt)
        hint = {new: placement[old] for new, old in back.items() if placement.get(old)}
        outcome = cpsat.solve(sub, hint or None, options)
        status = outcome.status
        if outcome.placement is not None:
            merged = {s: list(h) for s, h in placement.items()}
            for s, hosts in outcome.placement.items():
                merged[back[s]] = hosts
            return merged, (
                f"the greedy left out {len(unplaced)} services; CP-SAT placed them, moving "
                f"{len(attempt) - len(left_out)} others, around the rest"
            )
    return None, f"repair of {len(unplaced)} left-out services: CP-SAT {status}"


MOVABLE = 150  # services a repair may move besides the left-out ones


def _with_movable(index: Index, placement: Placement, missing: list[int]) -> list[int]:
    wanted: set[int] = set()
    for s in missing:
        wanted.update(index.services[s].eligible)
    weight: dict[int, int] = {}
    for s, hosts in placement.items():
        if s in missing or not hosts:
            continue
        on_wanted = sum(1 for h in hosts if h in wanted)
        if on_wanted:
            # Prefer services with many other options: they are cheap to move.
            weight[s] = on_wanted * len(index.services[s].eligible)
    movable = sorted(weight, key=lambda s: -weight[s])[:MOVABLE]
    return _with_affinity_groups(index, set(missing) | set(movable))


def _with_affinity_groups(index: Index, services: set[int]) -> list[int]:
    """Unfreeze whole affinity groups: a follower often fails because of where its partner
    went, so partner and followers are placed again together."""
    followers: dict[int, set[int]] = {}
    for view in index.services:
        if view.affinity is not None:
            followers.setdefault(view.affinity, set()).add(view.index)
    group = set(services)
    frontier = list(services)
    while frontier:
        s = frontier.pop()
        linked = set(followers.get(s, set()))
        partner = index.services[s].affinity
        if partner is not None:
            linked.add(partner)
        for other in linked - group:
            group.add(other)
            frontier.append(other)
    return sorted(group)


def _subproblem(
    index: Index, placement: Placement, missing: list[int]
) -> tuple[Index, dict[int, int]]:
    free = [row[:] for row in index.free]
    busy = list(index.busy)
    moving = set(missing)
    for s, hosts in placement.items():
        if s in moving:
            continue  # its load is a variable of the repair, not a given
        demand = index.services[s].demand
        for h in hosts:
            busy[h] = True
            for r, d in enumerate(demand):
                free[h][r] -= d
    new_of = {old: new for new, old in enumerate(missing)}
    views: list[ServiceView] = []
    for old in missing:
        view = index.services[old]
        eligible = view.eligible
        affinity = None
        if view.affinity is not None:
            if view.affinity in new_of:
                affinity = new_of[view.affinity]
            else:  # the partner is frozen: stay inside its zones
                zones = {index.host_zone[h] for h in placement.get(view.affinity, [])}
                eligible = [h for h in eligible if index.host_zone[h] in zones]
        views.append(replace(view, index=new_of[old], eligible=eligible, affinity=affinity))
    sub = replace(
        index,
        free=free,
        busy=busy,
        services=views,
        service_by_id={v.spec.id: v.index for v in views},
        _free_array=None,
        _roomy={},  # free capacity differs from the full problem's
    )
    return sub, {new: old for old, new in new_of.items()}
