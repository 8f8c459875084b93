"""Constraint groups of a core, in words a cloud admin can act on, with their numbers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scheduler.core_model import Facts, Group, ServiceFacts
from scheduler.explain import size
from scheduler.index import meets
from scheduler.problem import RESOURCES

# The fewest replicas of a service a zone must hold under the core's other groups.
Least = Callable[[int, int], int | None]
_MAX_ZONES = 8  # zones named in one line; the rest are counted


@dataclass
class Context:
    facts: Facts
    groups: list[Group]
    least: Least

    def services(self) -> set[int]:
        return {g.service for g in self.groups if g.service >= 0}


def render(context: Context, group: Group) -> str:
    return _RENDER[group.kind](context, group)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _name(facts: Facts, s: int) -> str:
    return facts.services[s].view.spec.id


def _allowed(f: ServiceFacts) -> list[int]:
    """Zones a service's security level and residency allow."""
    return [z for z in range(len(f.room)) if f.zone_security[z] and f.zone_residency[z]]


def _zone_list(facts: Facts, zones: list[int], counts: list[int] | None = None) -> str:
    ids = facts.index.zone_ids
    parts = [
        ids[z] if counts is None else f"{ids[z]} ({_plural(counts[i], 'host')})"
        for i, z in enumerate(zones[:_MAX_ZONES])
    ]
    if len(zones) > _MAX_ZONES:
        parts.append(f"and {len(zones) - _MAX_ZONES} more")
    return ", ".join(parts) or "none"


def _rooms(facts: Facts, f: ServiceFacts, zones: list[int]) -> str:
    """Zones among `zones` with a host with room for one replica, and how many hosts."""
    roomy = [z for z in zones if f.room_fit[z]]
    return _zone_list(facts, roomy, [int(f.room_fit[z]) for z in roomy])


def _limits(f: ServiceFacts) -> str:
    spec, parts = f.view.spec, []
    if spec.min_security_level > 1:
        parts.append(f"security level >= {spec.min_security_level}")
    if spec.regions is not None:
        parts.append(f"region {', '.join(sorted(spec.regions))}")
    if spec.clouds is not None:
        parts.append(f"cloud {', '.join(sorted(spec.clouds))}")
    if spec.arch:
        parts.append(f"arch {spec.arch}")
    if spec.traits:
        parts.append(f"traits {', '.join(sorted(spec.traits))}")
    return " and ".join(parts)


def _where(f: ServiceFacts) -> str:
    limits = _limits(f)
    return f"zones it may use ({limits})" if limits else "zones"


def _security(c: Context, g: Group) -> str:
    f, facts = c.facts.services[g.service], c.facts
    index = facts.index
    ok = [z for z in range(facts.zones) if f.zone_security[z]]
    detail = ", ".join(
        f"{index.zone_ids[z]} (cloud {index.cloud_ids[index.zone_cloud[z]]} at level "
        f"{index.problem.clouds[index.zone_cloud[z]].security_level}, "
        f"{_plural(int(f.room_fit[z]), 'host')} with room for {size(f.view.demand)})"
        for z in ok[:_MAX_ZONES]
    )
    return (
        f"service {_name(facts, g.service)} needs security level >= "
        f"{f.view.spec.min_security_level}: {_qualify(len(ok))}{': ' + detail if detail else ''}"
    )


def _qualify(zones: int) -> str:
    return (
        "no zone qualifies"
        if zones == 0
        else ("only 1 zone qualifies" if zones == 1 else f"{zones} zones qualify")
    )


def _residency(c: Context, g: Group) -> str:
    f, facts = c.facts.services[g.service], c.facts
    spec = f.view.spec
    rules = []
    if spec.regions is not None:
        rules.append(f"region {', '.join(sorted(spec.regions))}")
    if spec.clouds is not None:
        rules.append(f"cloud {', '.join(sorted(spec.clouds))}")
    ok = [z for z in range(facts.zones) if f.zone_residency[z]]
    return (
        f"service {_name(facts, g.service)} must stay in {' and '.join(rules)}: "
        f"{_qualify(len(ok))} ({_zone_list(facts, ok)}); with room for "
        f"{size(f.view.demand)}: {_rooms(facts, f, ok)}"
    )


def _arch(c: Context, g: Group) -> str:
    f, facts = c.facts.services[g.service], c.facts
    allowed = _allowed(f)
    room = sum(int(f.room_fit[z]) for z in allowed)
    return (
        f"service {_name(facts, g.service)} needs {_limits(f)}: "
        f"{_plural(f.matching, 'host')} match, {room} of them with room for "
        f"{size(f.view.demand)} in the zones it may use ({_rooms(facts, f, allowed)})"
    )


def _distinct(c: Context, g: Group) -> str:
    f, facts = c.facts.services[g.service], c.facts
    allowed = _allowed(f)
    room = sum(int(f.room_fit[z]) for z in allowed)
    existing = int(f.pinned.sum())
    beside = f" beside the {existing} it runs now" if existing else ""
    return (
        f"service {_name(facts, g.service)} needs {f.to_place} different hosts for "
        f"{_plural(f.to_place, 'new replica')}{beside} (replicas never share a host); "
        f"{_where(f)} have {_plural(room, 'host')} with room for {size(f.view.demand)}: "
        f"{_rooms(facts, f, allowed)}"
    )


def _fewest_zones(facts: Facts, zones: list[int], required: float) -> tuple[int, float]:
    """How many of `zones`, best first, reach `required`; and what they reach."""
    weight = facts.index.zone_weight
    reach, needed = 0.0, 0
    for z in sorted(zones, key=lambda z: -weight[z]):
        if meets(reach, required):
            break
        reach, needed = reach + weight[z], needed + 1
    return needed, reach


def _sla(c: Context, g: Group) -> str:
    f, facts = c.facts.services[g.service], c.facts
    spec, index = f.view.spec, facts.index
    allowed = _allowed(f)
    roomy = [z for z in allowed if f.room_fit[z] or f.pinned[z]]
    needed, reach = _fewest_zones(facts, roomy, f.view.required)
    availability = sorted({index.problem.zones[z].availability for z in roomy}, reverse=True)
    each = (
        f"{availability[0]} each"
        if len(availability) == 1
        else ", ".join(map(str, availability[:4])) + (" ..." if len(availability) > 4 else "")
    )
    if meets(reach, f.view.required):
        need = f"replicas in at least {_plural(needed, 'zone')}"
    else:
        need = f"more zones than have room (together they give {1 - math.exp(-reach):.6f})"
    line = (
        f"service {spec.id}: availability target {spec.sla_target} needs {need} "
        f"(zone availability {each or 'none'}); {_where(f)} with a host with room for "
        f"{size(f.view.demand)}: {_rooms(facts, f, allowed)}"
    )
    if spec.replicas < needed:
        line += f"; it has only {_plural(spec.replicas, 'replica')}"
    return line


def _min_healthy(c: Context, g: Group) -> str:
    f, facts = c.facts.services[g.service], c.facts
    spec, cap = f.view.spec, f.view.zone_cap
    return (
        f"service {spec.id}: losing any one zone must leave {spec.min_healthy} of "
        f"{spec.replicas} replicas, so at most {cap} per zone, in at least "
        f"{math.ceil(spec.replicas / max(1, cap))} zones; {_where(f)} with room for "
        f"{size(f.view.demand)}: {_rooms(facts, f, _allowed(f))}"
    )


def _affinity(c: Context, g: Group) -> str:
    f, facts = c.facts.services[g.service], c.facts
    partner = f.view.affinity
    assert partner is not None
    theirs = facts.services.get(partner)
    name, other = _name(facts, g.service), facts.index.services[partner].spec.id
    if theirs is None:
        return f"service {name} must run only in zones service {other} uses; it uses none"
    pinned = [z for z in range(facts.zones) if theirs.pinned[z]]
    possible = sorted(
        set(pinned) | {z for z in _allowed(theirs) if theirs.room_fit[z] and theirs.to_place}
    )
    mine = [z for z in possible if f.zone_security[z] and f.zone_residency[z]]
    line = (
        f"service {name} must run only in zones service {other} uses; {other} "
        f"({_plural(theirs.view.spec.replicas, 'replica')}) can use "
        f"{_zone_list(facts, possible)}; of those, {name} has room for {size(f.view.demand)} "
        f"in: {_rooms(facts, f, mine)}"
    )
    stranded = [z for z in range(facts.zones) if f.pinned[z] and z not in possible]
    if stranded:
        line += f"; its existing replicas run in {_zone_list(facts, stranded)}, outside those"
    return line


def _capacity(c: Context, g: Group) -> str:
    facts, z = c.facts, g.zone
    index = facts.index
    users = [s for s in sorted(c.services()) if z in _allowed(facts.services[s])]
    relevant = [any(facts.services[s].view.demand[r] for s in users) for r in range(4)]
    free = tuple(int(v) if keep else 0 for v, keep in zip(facts.free[z], relevant, strict=True))
    parts, total = [], [0, 0, 0, 0]
    for s in users:
        f = facts.services[s]
        least = c.least(s, z)
        name = f.view.spec.id
        if least:
            total = [t + least * d for t, d in zip(total, f.view.demand, strict=True)]
            parts.append(
                f"{name} at least {_plural(least, 'replica')} ({size(f.view.demand)} each, "
                f"room for one on {_plural(int(f.room_fit[z]), 'host')})"
            )
        else:
            parts.append(f"{name} could use {_plural(int(f.room_fit[z]), 'host')}")
    line = (
        f"zone {index.zone_ids[z]} (cloud {index.cloud_ids[index.zone_cloud[z]]}) has "
        f"{size(free) or 'nothing'} free on {_plural(int(facts.hosts_with_room[z]), 'host')} "
        "with room"
    )
    if parts:
        line += "; needed there: " + ", ".join(parts)
    if any(t > facts.free[z][r] for r, t in enumerate(total)):
        line += f": {size(tuple(total))} in all, more than is free"
    return line + _packing(c, z, users)


def _packing(c: Context, z: int, users: list[int]) -> str:
    """Pairs that cannot share a host: the zone takes fewer of their replicas than it has
    hosts with room for each (the count model's pair cut, said in words)."""
    facts = c.facts
    distinct = {g.service for g in c.groups if g.kind == "distinct"}
    needs = {s: c.least(s, z) or 0 for s in users if s in distinct and s in facts.fits}
    in_zone = facts.host_zone == z
    found = []
    for s, t in itertools.combinations(sorted(s for s, n in needs.items() if n), 2):
        ds, dt = (np.array(facts.services[x].view.demand) for x in (s, t))
        fs, ft = facts.fits[s] & in_zone, facts.fits[t] & in_zone
        both = int((fs & ft & np.all(facts.host_free >= ds + dt, axis=1)).sum())
        either = int((fs | ft).sum())
        if either + both < needs[s] + needs[t]:
            a, b = _name(facts, s), _name(facts, t)
            found.append(
                f"; one replica of {a} and one of {b} fit together on {_plural(both, 'host')}, "
                f"so the {_plural(either, 'host')} with room take at most {either + both} of "
                f"their {needs[s] + needs[t]}"
            )
    return "".join(found[:3])


def together(c: Context) -> str | None:
    """Several full zones: what the services that can go nowhere else need from all of them."""
    facts = c.facts
    zones = sorted(g.zone for g in c.groups if g.kind == "capacity")
    if len(zones) < 2:
        return None
    held = []
    for s in sorted(c.services()):
        f = facts.services[s]
        roomy = {z for z in _allowed(f) if f.room_fit[z]}
        if f.to_place and roomy <= set(zones):
            held.append(s)
    if not held:
        return None
    need = [sum(facts.services[s].view.demand[r] * facts.services[s].to_place for s in held)
            for r in range(4)]  # fmt: skip
    free = [int(facts.free[zones, r].sum()) if need[r] else 0 for r in range(4)]
    names = " and ".join(_name(facts, s) for s in held)
    replicas = sum(facts.services[s].to_place for s in held)
    line = (
        f"zones {_zone_list(facts, zones)} together have {size(tuple(free)) or 'nothing'} free "
        f"on {_plural(int(facts.hosts_with_room[zones].sum()), 'host')} with room; {names} "
        f"may use no other zone and need {_plural(replicas, 'replica')}: {size(tuple(need))}"
    )
    if any(n > f for n, f in zip(need, free, strict=True)):
        line += ", more than is free"
    return line


def _quota(c: Context, g: Group) -> str:
    index = c.facts.index
    dept = next(d for d in index.problem.departments if d.id == g.department)
    mine = [v for v in index.services if v.spec.department == dept.id]
    if g.resource == 4:
        limit, used = dept.instances_quota or 0, dept.used_instances
        need = sum(v.spec.replicas for v in mine)
        what = "instances"
        items = ", ".join(f"{v.spec.id} {v.spec.replicas}" for v in mine[:6])
    else:
        assert dept.quota is not None
        limit, used = dept.quota.vector()[g.resource] or 0, dept.used.vector()[g.resource]
        need = sum(v.demand[g.resource] * v.spec.replicas for v in mine)
        what = RESOURCES[g.resource]
        items = ", ".join(
            f"{v.spec.id} {v.spec.replicas} x {v.demand[g.resource]}"
            for v in mine[:6]
            if v.demand[g.resource]
        )
    return (
        f"department {dept.id} quota {what}: {max(0, limit - used)} left (limit {limit}, "
        f"in use {used}), the request needs {need} ({items})"
    )


_RENDER: dict[str, Callable[[Context, Group], str]] = {
    "security": _security,
    "residency": _residency,
    "arch": _arch,
    "distinct": _distinct,
    "sla": _sla,
    "min_healthy": _min_healthy,
    "affinity": _affinity,
    "capacity": _capacity,
    "quota": _quota,
}
