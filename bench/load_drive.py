"""The load itself: which requests, and how they arrive (closed or open loop).

Closed loop (`clients` connections, each sending its next request when the last answers)
finds the throughput at saturation; there a request's latency is only the number of clients
over the throughput (Little's law), so it says nothing about a latency target. Open loop
(`rate` requests a second on a fixed schedule, sent over up to `clients` connections)
answers "does it sustain R requests/s with p99 under T": each latency is measured from the
moment the request was due, so a server that falls behind is charged for the queue it
builds (no coordinated omission, as in wrk2).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.wire import Connection

LISTS = ["/hosts", "/workloads", "/requests", "/alerts"]
API = "/api/v1"


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # the endpoint as reported
    method: str
    path: str
    body: Any = None


class Mix:
    """The first page (50 rows) of each list in turn and, spread evenly over the run, one
    decision (approve or reject, alternately) on each prepared plan: `plans` decisions in
    `seconds`, so the approvals and the provisioning they start run beside the lists all
    along instead of as one burst at the start."""

    def __init__(self, plan_ids: list[int], seconds: float) -> None:
        self._lists = itertools.cycle(LISTS)
        self._plans = iter(plan_ids)
        self._decisions = itertools.cycle(["approve", "reject"])
        self._every = seconds / max(1, len(plan_ids))
        self._next_decision = time.perf_counter() + self._every / 2

    def __iter__(self) -> Iterator[Call]:
        return self

    def __next__(self) -> Call:
        now = time.perf_counter()
        if now >= self._next_decision:
            plan = next(self._plans, None)
            if plan is not None:
                self._next_decision += self._every
                return self._decide(plan)
        what = next(self._lists)
        return Call(f"GET {what}", "GET", f"{API}{what}?limit=50")

    def _decide(self, plan: int) -> Call:
        decision = next(self._decisions)
        comment = "load test: plan is fine" if decision == "approve" else "load test: not needed"
        return Call(
            f"POST /plans/{{id}}/{decision}",
            "POST",
            f"{API}/plans/{plan}/{decision}",
            {"comment": comment},
        )


@dataclass
class Recorded:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    wall: float = 0.0

    def add(self, call: Call, seconds: float, status: int) -> None:
        self.latencies[call.name].append(seconds)
        if status >= 300:
            self.errors[call.name] += 1


WARM_UP_SECONDS = 3.0


async def warm_up(base: str, headers: dict[str, str], clients: int) -> None:
    """Imports, caches, the connection pool and the token check, before timing starts: in
    every server process, so a few seconds of lists over as many connections as the load
    will use (the kernel hands new connections to whichever process accepts first; one
    connection warmed one process, and the others' first second of cold requests, at
    0.5-1.7 s each, was the p99 of a 30 s run). Production processes run for days."""
    http = Connection(base, headers)
    for path in LISTS:
        status, body = await http.request("GET", f"{API}{path}?limit=50")
        if status != 200:
            raise RuntimeError(f"warm-up GET {path}: {status} {body[:200]!r}")
    await http.close()
    await closed_loop(base, headers, Mix([], WARM_UP_SECONDS), clients, WARM_UP_SECONDS)


async def closed_loop(
    base: str, headers: dict[str, str], mix: Mix, clients: int, seconds: float
) -> Recorded:
    recorded = Recorded()
    began = time.perf_counter()
    stop = began + seconds

    async def client() -> None:
        http = Connection(base, headers)
        while time.perf_counter() < stop:
            call = next(mix)
            started = time.perf_counter()
            status, _ = await http.request(call.method, call.path, call.body)
            recorded.add(call, time.perf_counter() - started, status)
        await http.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    recorded.wall = time.perf_counter() - began
    return recorded


async def open_loop(
    base: str, headers: dict[str, str], mix: Mix, rate: float, clients: int, seconds: float
) -> Recorded:
    recorded = Recorded()
    due_calls: asyncio.Queue[tuple[float, Call] | None] = asyncio.Queue()
    began = time.perf_counter()

    async def schedule() -> None:
        for i in itertools.count():
            due = began + i / rate
            if due >= began + seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            due_calls.put_nowait((due, next(mix)))
        for _ in range(clients):
            due_calls.put_nowait(None)

    async def client() -> None:
        http = Connection(base, headers)
        while (item := await due_calls.get()) is not None:
            due, call = item
            status, _ = await http.request(call.method, call.path, call.body)
            recorded.add(call, time.perf_counter() - due, status)
        await http.close()

    await asyncio.gather(schedule(), *(client() for _ in range(clients)))
    recorded.wall = time.perf_counter() - began
    return recorded
