"""The count model behind explanations: replicas per (service, zone), one assumption
literal per constraint group.

The host-level CP-SAT model (scheduler/cpsat.py) says only "infeasible". To say *why*,
this model counts replicas per zone instead of placing them on hosts, and guards every
constraint group with its own literal, so CP-SAT can name a subset of groups that cannot
hold together (scheduler/cores.py). It knows, per service and zone, how many hosts have
room for one replica (and how many match its architecture and traits), how many replicas
would fit if several could share a host, and the free volume per resource. It does not
know how replicas of different services pack onto one host: it is a relaxation. So every
conflict it finds is real; a conflict only host-level packing exposes finds none here.

A bound that depends on several groups (room on distinct hosts of the right architecture)
is enforced only when all of them are, so dropping any one group lifts it: that is what
makes each group's literal mean exactly that group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from scheduler.index import SLA_SCALE, Index, ServiceView

Ints = npt.NDArray[np.int64]
# Above this many (service, zone) pairs the count model is no longer small; explain nothing.
MAX_PAIRS = 100_000
# Pairwise packing cuts for up to this many services with replicas to place (n^2 / 2 pairs).
PAIR_SERVICES = 40


@dataclass(frozen=True, order=True)
class Group:
    """One constraint group: kind, and the service, zone or department it is about."""

    kind: str  # sla, min_healthy, distinct, security, residency, arch, affinity, capacity, quota
    service: int = -1
    zone: int = -1
    department: str = ""
    resource: int = -1  # quota: index into RESOURCES, or 4 for instances


@dataclass
class ServiceFacts:
    """What one service could use, per zone (arrays of length zones)."""

    view: ServiceView
    to_place: int  # replicas still to place (beyond those pinned in place mode)
    pinned: Ints  # pinned replicas per zone
    zone_security: npt.NDArray[np.bool_]  # the zone's cloud meets min_security_level
    zone_residency: npt.NDArray[np.bool_]  # regions and clouds allow the zone
    room: Ints  # hosts with room for one replica, any arch
    room_fit: Ints  # ... that also match arch and traits
    hosts: Ints  # hosts at all (capacity aside), any arch
    hosts_fit: Ints
    slots: Ints  # replicas that would fit if several could share a host
    slots_fit: Ints
    matching: int = 0  # hosts matching arch and traits anywhere


@dataclass
class Facts:
    index: Index
    zones: int
    services: dict[int, ServiceFacts]  # every service with replicas to place or pinned
    free: Ints  # zones x 4: free volume on hosts with room for some replica
    hosts_with_room: Ints  # per zone: hosts with room for at least one replica of anything
    host_zone: Ints
    host_free: Ints  # hosts x 4, after pinned replicas
    fits: dict[int, npt.NDArray[np.bool_]] = field(default_factory=dict)  # room for one, per host


def _mask_fit(
    index: Index, view: ServiceView, cache: dict[object, npt.NDArray[np.bool_]]
) -> npt.NDArray[np.bool_]:
    spec = view.spec
    key = (spec.arch, spec.traits)
    mask = cache.get(key)
    if mask is None:
        mask = cache[key] = np.array(
            [
                (spec.arch is None or h.arch == spec.arch) and spec.traits <= h.traits
                for h in index.problem.hosts
            ],
            dtype=bool,
        )
    return mask


def gather(index: Index) -> Facts | None:
    """Per (service, zone) counts, or None when the problem is not one this model explains
    (a rebalance: existing replicas may move, so their hosts are not fixed load)."""
    if index.problem.mode != "place" or not index.host_ids:
        return None
    zones = len(index.zone_ids)
    host_zone = np.array(index.host_zone, dtype=np.int64)
    free = np.array(index.free, dtype=np.int64).reshape(-1, 4)
    for view in index.services:  # pinned replicas are fixed load on their hosts
        for h in view.pinned:
            free[h] -= np.array(view.demand, dtype=np.int64)
    problem = index.problem
    cloud_level = [c.security_level for c in problem.clouds]
    zone_region = [z.region for z in problem.zones]
    fit_cache: dict[object, npt.NDArray[np.bool_]] = {}
    useful = np.zeros(len(index.host_ids), dtype=bool)
    facts: dict[int, ServiceFacts] = {}
    fits_by_service: dict[int, npt.NDArray[np.bool_]] = {}

    def per_zone(mask: npt.NDArray[np.bool_], weights: Ints | None = None) -> Ints:
        counts = np.bincount(
            host_zone[mask], weights=None if weights is None else weights[mask], minlength=zones
        )
        return counts.astype(np.int64)

    for view in index.services:
        spec = view.spec
        to_place = spec.replicas - len(view.pinned)
        if to_place <= 0 and not view.pinned:
            continue
        demand = np.array(view.demand, dtype=np.int64)
        own = np.zeros(len(index.host_ids), dtype=bool)
        own[view.pinned] = True
        # As Index.roomy counts room: every resource, so the count matches CP-SAT's candidates.
        fits = np.all(free >= demand, axis=1) & ~own
        if to_place > 0:
            useful |= fits
            fits_by_service[view.index] = fits
        need = demand > 0
        if need.any():
            slots = np.min(np.maximum(free[:, need], 0) // demand[need], axis=1)
        else:
            slots = np.full(len(index.host_ids), max(0, to_place), dtype=np.int64)
        slots = np.minimum(slots, max(0, to_place)).astype(np.int64)
        match = _mask_fit(index, view, fit_cache)
        pinned = np.zeros(zones, dtype=np.int64)
        for h in view.pinned:
            pinned[index.host_zone[h]] += 1
        facts[view.index] = ServiceFacts(
            view=view,
            to_place=max(0, to_place),
            pinned=pinned,
            zone_security=np.array(
                [cloud_level[index.zone_cloud[z]] >= spec.min_security_level for z in range(zones)]
            ),
            zone_residency=np.array(
                [
                    (spec.regions is None or zone_region[z] in spec.regions)
                    and (spec.clouds is None or index.cloud_ids[index.zone_cloud[z]] in spec.clouds)
                    for z in range(zones)
                ]
            ),
            room=per_zone(fits),
            room_fit=per_zone(fits & match),
            hosts=per_zone(~own),
            hosts_fit=per_zone(~own & match),
            slots=per_zone(np.ones_like(fits), slots),
            slots_fit=per_zone(match, slots),
            matching=int(match.sum()),
        )
    volume = np.zeros((zones, 4), dtype=np.int64)
    np.add.at(volume, host_zone[useful], np.maximum(free[useful], 0))
    return Facts(
        index=index,
        zones=zones,
        services=facts,
        free=volume,
        hosts_with_room=per_zone(useful),
        host_zone=host_zone,
        host_free=free,
        fits=fits_by_service,
    )


@dataclass
class CountModel:
    model: cp_model.CpModel
    literals: dict[Group, cp_model.IntVar] = field(default_factory=dict)
    count: dict[int, dict[int, cp_model.IntVar]] = field(default_factory=dict)  # s -> z -> n
    used: dict[int, dict[int, cp_model.IntVar]] = field(default_factory=dict)  # s -> z -> bool

    def literal(self, group: Group) -> cp_model.IntVar:
        lit = self.literals.get(group)
        if lit is None:
            lit = self.literals[group] = self.model.new_bool_var(str(group))
        return lit


def build(facts: Facts) -> CountModel | None:
    if len(facts.services) * facts.zones > MAX_PAIRS:
        return None
    m = CountModel(cp_model.CpModel())
    model = m.model
    for s, f in facts.services.items():
        count, used = m.count.setdefault(s, {}), m.used.setdefault(s, {})
        for z in range(facts.zones):
            if f.pinned[z]:
                used[z] = model.new_bool_var(f"used[{s},{z}]")
                model.add(used[z] == 1)  # its existing replicas are there
            if f.to_place == 0 or (f.hosts[z] == 0 and not f.pinned[z]):
                continue
            n = count[z] = model.new_int_var(0, f.to_place, f"n[{s},{z}]")
            if not f.pinned[z]:
                used[z] = model.new_bool_var(f"used[{s},{z}]")
                model.add(n >= 1).only_enforce_if(used[z])
                model.add(n == 0).only_enforce_if(~used[z])
        if f.to_place:
            model.add(sum(count.values()) == f.to_place)  # the request itself: never relaxed
            _placement(m, s, f)
        _spread(m, facts, s, f)
    for s, f in facts.services.items():
        _affinity(m, s, f)
    _capacity(m, facts)
    _pairs(m, facts)
    _quotas(m, facts.index)
    return m


def _placement(m: CountModel, s: int, f: ServiceFacts) -> None:
    """Where replicas may go: filters, distinct hosts with room, and what each combination
    of those groups allows per zone."""
    model, spec = m.model, f.view.spec
    distinct = Group("distinct", s)
    arch = Group("arch", s) if spec.arch or spec.traits else None
    for z, n in m.count[s].items():
        if not f.zone_security[z]:
            model.add(n == 0).only_enforce_if(m.literal(Group("security", s)))
        if not f.zone_residency[z]:
            model.add(n == 0).only_enforce_if(m.literal(Group("residency", s)))
        capacity = Group("capacity", zone=z)
        bounds: list[tuple[list[Group], int]] = [
            ([capacity, distinct], int(f.room[z])),
            ([distinct], int(f.hosts[z])),
            ([capacity], int(f.slots[z])),
        ]
        if arch is not None:
            bounds += [
                ([capacity, distinct, arch], int(f.room_fit[z])),
                ([distinct, arch], int(f.hosts_fit[z])),
                ([capacity, arch], int(f.slots_fit[z])),
            ]
        for groups, bound in bounds:
            if bound < f.to_place:
                model.add(n <= bound).only_enforce_if([m.literal(g) for g in groups])


def _spread(m: CountModel, facts: Facts, s: int, f: ServiceFacts) -> None:
    """Zone loss (at most replicas - min_healthy per zone) and the SLA over zones used."""
    model, view = m.model, f.view
    if view.spec.min_healthy:
        cap = view.zone_cap
        for z in range(facts.zones):
            n = m.count[s].get(z)
            if n is not None and f.pinned[z] + f.to_place > cap:
                model.add(n + int(f.pinned[z]) <= cap).only_enforce_if(
                    m.literal(Group("min_healthy", s))
                )
            elif n is None and f.pinned[z] > cap:
                model.add_bool_or([~m.literal(Group("min_healthy", s))])
    if view.required > 0:
        used = m.used[s]
        weights = facts.index.zone_weight
        # Floored like cpsat.py, with one unit of slack per zone: never stricter than CP-SAT.
        need = math.floor(view.required * SLA_SCALE) - len(used)
        reach = sum(math.floor(weights[z] * SLA_SCALE) * u for z, u in used.items())
        model.add(reach >= need).only_enforce_if(m.literal(Group("sla", s)))


def _affinity(m: CountModel, s: int, f: ServiceFacts) -> None:
    partner = f.view.affinity
    if partner is None:
        return
    lit = m.literal(Group("affinity", s))
    theirs = m.used.get(partner, {})
    for z, used in m.used[s].items():
        other = theirs.get(z)
        if other is None:
            m.model.add(used == 0).only_enforce_if(lit)
        else:
            m.model.add_implication(used, other).only_enforce_if(lit)


def _capacity(m: CountModel, facts: Facts) -> None:
    by_zone: dict[int, list[tuple[int, cp_model.IntVar]]] = {}
    for s, count in m.count.items():
        for z, n in count.items():
            by_zone.setdefault(z, []).append((s, n))
    for z, terms in by_zone.items():
        for r in range(4):
            demand = [(facts.services[s].view.demand[r], s, n) for s, n in terms]
            most = sum(d * facts.services[s].to_place for d, s, _ in demand)
            if most > facts.free[z][r]:
                m.model.add(
                    sum(d * n for d, _, n in demand if d) <= int(facts.free[z][r])
                ).only_enforce_if(m.literal(Group("capacity", zone=z)))


def _pairs(m: CountModel, facts: Facts) -> None:
    """Two services on one host: a host with room for either but not for both together
    takes one replica of the pair, not two. Per zone and pair, when that is tighter than
    each one's own room: this is the packing that free volume alone misses."""
    active = [s for s in facts.fits if facts.services[s].to_place]
    if len(active) > PAIR_SERVICES:
        return
    demand = {s: np.array(facts.services[s].view.demand, dtype=np.int64) for s in active}
    for i, s in enumerate(active):
        for t in active[i + 1 :]:
            either = facts.fits[s] | facts.fits[t]
            both = np.all(facts.host_free >= demand[s] + demand[t], axis=1) & facts.fits[s]
            both &= facts.fits[t]
            lone = np.bincount(facts.host_zone[either], minlength=facts.zones)
            pair = np.bincount(facts.host_zone[both], minlength=facts.zones)
            fs, ft = facts.services[s], facts.services[t]
            for z in range(facts.zones):
                bound = int(lone[z] + pair[z])
                ns, nt = m.count[s].get(z), m.count[t].get(z)
                if ns is None or nt is None:
                    continue
                if bound < min(fs.to_place + ft.to_place, int(fs.room[z] + ft.room[z])):
                    lits = [Group("capacity", zone=z), Group("distinct", s), Group("distinct", t)]
                    m.model.add(ns + nt <= bound).only_enforce_if([m.literal(g) for g in lits])


def _quotas(m: CountModel, index: Index) -> None:
    """Quotas count whole services, so they hold or fail whatever the plan: a failing one
    is a literal that must be false, and so always in the core."""
    for dept in index.problem.departments:
        mine = [v for v in index.services if v.spec.department == dept.id]
        if dept.quota is not None:
            for r, limit in enumerate(dept.quota.vector()):
                need = sum(v.demand[r] * v.spec.replicas for v in mine)
                if limit is not None and dept.used.vector()[r] + need > limit:
                    lit = m.literal(Group("quota", department=dept.id, resource=r))
                    m.model.add_bool_or([~lit])
        replicas = sum(v.spec.replicas for v in mine)
        if dept.instances_quota is not None and (
            dept.used_instances + replicas > dept.instances_quota
        ):
            lit = m.literal(Group("quota", department=dept.id, resource=4))
            m.model.add_bool_or([~lit])
