"""In what order a rebalance's moves can run, make-before-break.

A move makes the new replica first and removes the old one only once the new one is
active, so while it runs the service holds both, and the target host must have room for
one more replica on top of everything on it now. The solver's plan is only checked in its
final state; this finds an order in which every intermediate state fits too: waves of moves
whose targets have room now, each wave freeing its sources for the next. A move that no
order allows (two full hosts swapping replicas) is reported as blocked, with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.problem import RESOURCES, Problem

Load = list[int]


@dataclass(frozen=True)
class Step:
    """One move as the ordering sees it."""

    key: int  # the caller's handle (a position or a move id)
    service: str
    demand: tuple[int, int, int, int]
    source: str  # problem host ids
    target: str
    made: bool = False  # the new replica already exists (a retry): needs no room


def waves(
    problem: Problem, load: dict[str, Load], steps: list[Step]
) -> tuple[list[list[Step]], list[tuple[Step, str]]]:
    """Waves of steps that can run together, in order, and the steps no order allows.

    `load` is everything on each host now (outside load and managed replicas) except the
    new replicas of steps already `made`, which are counted here."""
    room = {
        h.id: [c - u for c, u in zip(h.schedulable(), load.get(h.id, [0] * 4), strict=True)]
        for h in problem.hosts
    }
    on_host: dict[str, set[str]] = {h.id: set() for h in problem.hosts}
    for s in problem.services:
        for h in s.current:
            on_host[h].add(s.id)
    for step in steps:
        if step.made and step.target in room:  # its new replica runs already, next to the old
            room[step.target] = _minus(room[step.target], step.demand)
            on_host[step.target].add(step.service)
    left = list(steps)
    out: list[list[Step]] = []
    while left:
        wave: list[Step] = []
        rest: list[Step] = []
        for step in left:
            if step.made:
                wave.append(step)
            elif step.target in room and _fits(room, on_host, step):
                room[step.target] = _minus(room[step.target], step.demand)
                on_host[step.target].add(step.service)
                wave.append(step)
            else:
                rest.append(step)
        if not wave:
            break
        for step in wave:  # the old replicas go once the wave's new ones run
            if step.source in room:
                room[step.source] = _minus(room[step.source], [-d for d in step.demand])
            on_host.get(step.source, set()).discard(step.service)
        out.append(wave)
        left = rest
    return out, [(step, _why(room, on_host, step)) for step in left]


def _minus(left: Load, right: tuple[int, ...] | list[int]) -> Load:
    return [a - b for a, b in zip(left, right, strict=True)]


def _fits(room: dict[str, Load], on_host: dict[str, set[str]], step: Step) -> bool:
    if step.service in on_host[step.target]:
        return False
    return all(d <= r for d, r in zip(step.demand, room[step.target], strict=True))


def _why(room: dict[str, Load], on_host: dict[str, set[str]], step: Step) -> str:
    if step.target not in room:
        return f"target host {step.target} is no longer up in a placeable cloud"
    if step.service in on_host.get(step.target, set()):
        return f"{step.service} already runs on target host {step.target}"
    short = [
        f"{name} needs {d}, {max(0, r)} free"
        for name, d, r in zip(RESOURCES, step.demand, room[step.target], strict=True)
        if d > r
    ]
    return f"target host {step.target} has no room for {step.service}: " + ", ".join(short)
