"""A complete, consistent CP-SAT hint from a plan (the greedy's, or consolidation's).

CP-SAT takes a hint as its first incumbent only when it is complete and satisfies every
constraint; otherwise, with two workers, it merely steers branching and the first
incumbent is whatever the search finds (on the 100-host benchmark: feasibility jump's, at
2.2 s). Nothing then guarantees CP-SAT's plan is at least as good as the one it was given.
Two things made the hint unusable:

- the max-utilisation variable of the balance term was not hinted;
- the symmetry breaking opens identical empty hosts in index order, and a greedy plan
  rarely uses the first hosts of a group of identical ones.

So the plan is first renamed within each group of identical hosts (a plan with the same
objective: identical hosts are interchangeable), then the peak is computed as the model
does.
"""

from __future__ import annotations

from collections.abc import Iterable

from scheduler.evaluate import Placement
from scheduler.index import Index


def symmetric(placement: Placement, groups: Iterable[list[int]]) -> Placement:
    """`placement` with the used hosts of each group of interchangeable hosts moved to the
    group's first hosts, keeping their order. Hosts outside every group stay put."""
    rename: dict[int, int] = {}
    used = {h for hosts in placement.values() for h in hosts}
    for group in groups:
        taken = [h for h in group if h in used]
        rename.update(zip(taken, group[: len(taken)], strict=True))
    return {s: [rename.get(h, h) for h in hosts] for s, hosts in placement.items()}


def peak(index: Index, placement: Placement, scale: int) -> int:
    """The fullest host's utilisation in 1/`scale` units, rounded up: the least value the
    model's `scale * (outside + load) <= capacity * peak` rows allow for this plan."""
    load = [list(index.schedulable[h]) for h in range(len(index.host_ids))]
    for h, row in enumerate(load):
        for r in range(4):
            row[r] -= index.free[h][r]  # outside usage
    for s, hosts in placement.items():
        demand = index.services[s].demand
        for h in hosts:
            for r in range(4):
                load[h][r] += demand[r]
    best = 0
    for h, row in enumerate(load):
        for r, cap in enumerate(index.schedulable[h]):
            if cap > 0:
                best = max(best, -(-scale * row[r] // cap))
    return best
