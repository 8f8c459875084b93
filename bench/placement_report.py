"""Tables and target verdicts for bench.placement."""

from __future__ import annotations

from collections.abc import Sequence

from bench.placement_worker import Row, percentile
from bench.table import render

Verdict = tuple[str, str, str]  # target, what this run measured, PASS / FAIL / not judged
PASS, FAIL, NOT_JUDGED = "PASS", "FAIL", "not judged"
GIB_MIB = 4096
SINGLE_P95 = 1.0
LONG = 60.0


def _n(x: int | None) -> str:
    return "" if x is None else f"{x:,}"


def _s(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


HEADERS = [
    "instance",
    "hosts",
    "replicas",
    "solver",
    "status",
    "hosts used",
    "cost /h",
    "violations",
    "bound",
    "gap",
    "obj. gap",
    "first s",
    "final s",
    "peak RSS MiB",
    "optimum",
    "excess",
]
RIGHT = {1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}


def cells(row: Row) -> list[str]:
    excess = row.excess
    return [
        row.instance,
        _n(row.hosts),
        _n(row.replicas),
        row.label,
        row.status if row.placed is None else f"{row.status} ({row.placed:,} placed)",
        _n(row.hosts_used),
        "" if row.cost_per_hour is None else f"{row.cost_per_hour:,.1f}",
        _n(row.violations) if row.has_plan else "-",
        _n(row.bound_hosts),
        "" if row.gap is None or not row.has_plan else f"{100 * row.gap:.1f}%",
        "" if row.objective_gap is None or not row.has_plan else f"{100 * row.objective_gap:.1f}%",
        _s(row.first_s),
        _s(row.total_s),
        f"{row.rss_peak_mib:.0f}",
        _n(row.optimum),
        "" if excess is None else f"{excess:+d}",
    ]


def render_rows(rows: Sequence[Row], markdown: bool) -> str:
    return render(HEADERS, [cells(r) for r in rows], RIGHT, markdown)


def render_notes(rows: Sequence[Row], per_row: int = 2, width: int = 200) -> str:
    """The solvers' own notes and conflicts, a few per run (a bulleted list)."""
    lines = []
    for r in rows:
        for note in r.notes[:per_row]:
            text = note if len(note) <= width else note[: width - 3] + "..."
            lines.append(f"- {r.instance}, {r.label}: {text}")
    return "\n".join(lines)


def render_single(rows: Sequence[Row], markdown: bool) -> str:
    headers = ["request", "estate hosts", "repeats", "status", "violations", "p50 s", "p95 s"]
    headers += ["max s", "peak RSS MiB"]
    body = []
    for r in rows:
        t = r.times_s or [r.total_s]
        body.append(
            [
                f"{r.replicas} replicas (limit {r.time_limit:g} s)",
                _n(r.hosts),
                str(len(t)),
                r.status,
                _n(r.violations) if r.has_plan else "-",
                _s(percentile(t, 50)),
                _s(percentile(t, 95)),
                _s(max(t)),
                f"{r.rss_peak_mib:.0f}",
            ]
        )
    return render(headers, body, {1, 2, 4, 5, 6, 7, 8}, markdown)


def render_verdicts(verdicts: Sequence[Verdict], markdown: bool) -> str:
    body = [[t, m, f"**{v}**" if markdown and v in (PASS, FAIL) else v] for t, m, v in verdicts]
    return render(["target", "this run", "result"], body, set(), markdown)


def _solves(rows: Sequence[Row], instance: str) -> list[Row]:
    return [r for r in rows if r.instance == instance and r.solver == "cp-sat"]


def _greedy_best(rows: Sequence[Row], instance: str) -> Row | None:
    greedy = [
        r
        for r in rows
        if r.instance == instance and r.solver != "cp-sat" and r.has_plan and r.weighted is not None
    ]
    return min(greedy, key=lambda r: r.weighted or 0.0, default=None)


def _optimal_100(rows: Sequence[Row]) -> Verdict:
    target = "100 hosts / 500 replicas: proven optimal within 60 s"
    solves = [r for r in _solves(rows, "synthetic-100") if r.time_limit and r.time_limit <= LONG]
    if not solves:
        return target, "not run", NOT_JUDGED
    good = [r for r in solves if r.status == "optimal" and r.total_s <= LONG]
    if good:
        r = min(good, key=lambda r: r.total_s)
        return target, f"optimal in {r.total_s:.1f} s ({r.label})", PASS
    seen = ", ".join(f"{r.label}: {r.status}, gap {100 * (r.gap or 0):.1f}%" for r in solves)
    long_run = any(r.time_limit and r.time_limit >= LONG for r in solves)
    return target, seen, FAIL if long_run else NOT_JUDGED + " (needs --long)"


def _feasible_1000(rows: Sequence[Row], limit: float) -> Verdict:
    target = "1,000 hosts / 5,000 replicas: feasible within 10 s"
    solves = [r for r in _solves(rows, "synthetic-1000") if r.time_limit == limit]
    if not solves:
        return target, "not run", NOT_JUDGED
    r = solves[0]
    ok = r.has_plan and r.violations == 0 and r.first_s is not None and r.first_s <= 10.0
    return target, f"{r.status}, first plan at {_s(r.first_s) or '-'} s", PASS if ok else FAIL


def _beats_greedy_1000(rows: Sequence[Row]) -> Verdict:
    target = "1,000 / 5,000 at 60 s: fewer hosts or lower cost than the better greedy"
    greedy = _greedy_best(rows, "synthetic-1000")
    solves = [r for r in _solves(rows, "synthetic-1000") if r.has_plan]
    solves = [r for r in solves if r.time_limit and r.time_limit <= LONG]
    ran = _solves(rows, "synthetic-1000")
    if not ran:
        return target, "not run", NOT_JUDGED
    long_run = any(r.time_limit and r.time_limit >= LONG for r in ran)
    if not solves:
        return target, "solve() found no plan", FAIL if long_run else NOT_JUDGED + " (needs --long)"
    if greedy is None:
        return _beats_partial_greedy(rows, solves, target, long_run)
    for r in sorted(solves, key=lambda r: r.time_limit or 0.0):
        hosts, cost = r.hosts_used or 0, r.cost_per_hour or 0.0
        if hosts < (greedy.hosts_used or 0) or cost < (greedy.cost_per_hour or 0.0) - 1e-6:
            got = f"{hosts} hosts, {cost:,.1f}/h vs {greedy.label} {greedy.hosts_used} hosts, "
            return target, got + f"{greedy.cost_per_hour:,.1f}/h ({r.label})", PASS
    best = solves[-1]
    got = f"{best.hosts_used} hosts, {best.cost_per_hour:,.1f}/h vs {greedy.label} "
    got += f"{greedy.hosts_used} hosts, {greedy.cost_per_hour:,.1f}/h ({best.label})"
    return target, got, FAIL if long_run else NOT_JUDGED + " (needs --long)"


def _beats_partial_greedy(
    rows: Sequence[Row], solves: list[Row], target: str, long_run: bool
) -> Verdict:
    """Neither greedy placed everything: solve()'s complete plan against the partial plan
    that placed most (its cost lacks what it left out, so the comparison favours greedy)."""
    partial = [r for r in rows if r.instance == "synthetic-1000" and r.placed is not None]
    if not partial:
        return target, "no greedy figures", NOT_JUDGED
    greedy = max(partial, key=lambda r: (r.placed or 0, -(r.hosts_used or 0)))
    best = min(solves, key=lambda r: (r.hosts_used or 0, r.cost_per_hour or 0.0))
    hosts, cost = best.hosts_used or 0, best.cost_per_hour or 0.0
    got = (
        f"{greedy.label} placed {greedy.placed:,} of {greedy.replicas:,} replicas on "
        f"{greedy.hosts_used:,} hosts ({greedy.cost_per_hour:,.1f}/h); {best.label} placed all "
        f"on {hosts:,} hosts ({cost:,.1f}/h)"
    )
    better = hosts < (greedy.hosts_used or 0) or cost < (greedy.cost_per_hour or 0.0) - 1e-6
    return target, got, PASS if better else FAIL if long_run else NOT_JUDGED


def _known(rows: Sequence[Row], limit: float) -> Verdict:
    target = "known optimum: optimal on most, total excess under 1 %, 10 s each"
    solves = [r for r in rows if r.solver == "cp-sat" and r.optimum and r.time_limit == limit]
    if not solves:
        return target, "not run", NOT_JUDGED
    at = sum(1 for r in solves if r.has_plan and r.excess == 0)
    optimum = sum(r.optimum or 0 for r in solves)
    excess = sum((r.excess or 0) if r.has_plan else (r.optimum or 0) for r in solves)
    got = f"{at} of {len(solves)} optimal; excess {excess} hosts = {100 * excess / optimum:.2f}%"
    ok = at > len(solves) / 2 and excess / optimum < 0.01 and limit <= 10.0
    return target, got + f" (limit {limit:g} s)", PASS if ok else FAIL


def _big(rows: Sequence[Row]) -> Verdict:
    target = "3,000 hosts / 20,000 replicas: feasible within 60 s, under 4 GiB"
    solves = [r for r in _solves(rows, "synthetic-3000") if r.time_limit and r.time_limit <= LONG]
    if not solves:
        return target, "not run", NOT_JUDGED
    for r in solves:
        found = r.has_plan and r.violations == 0 and r.first_s is not None and r.first_s <= LONG
        if found:
            got = f"first plan at {r.first_s:.1f} s, peak RSS {r.rss_peak_mib:,.0f} MiB ({r.label})"
            return target, got, PASS if r.rss_peak_mib < GIB_MIB else FAIL
    got = "; ".join(f"{r.label}: {r.status}, {r.rss_peak_mib:,.0f} MiB" for r in solves)
    long_run = any(r.time_limit and r.time_limit >= LONG for r in solves)
    return target, got, FAIL if long_run else NOT_JUDGED + " (needs --long)"


def _never_worse(rows: Sequence[Row]) -> Verdict:
    target = "solve() never worse than the better greedy (weighted objective)"
    worse: list[str] = []
    judged = 0
    for instance in dict.fromkeys(r.instance for r in rows):
        greedy = _greedy_best(rows, instance)
        if greedy is None:
            continue
        for r in _solves(rows, instance):
            judged += 1
            if not r.has_plan or r.weighted is None:
                worse.append(f"{instance} {r.label}: no plan")
            elif r.weighted > (greedy.weighted or 0.0) * (1 + 1e-9) + 1e-6:
                worse.append(f"{instance} {r.label}: {r.weighted:,.1f} > {greedy.weighted:,.1f}")
    if not judged:
        return target, "no instance with a greedy plan", NOT_JUDGED
    got = "; ".join(worse) or f"{judged} solves compared (instances where a greedy has a plan)"
    return target, got, FAIL if worse else PASS


def _valid(rows: Sequence[Row]) -> Verdict:
    target = "every plan passes scheduler.validate (0 violations)"
    planned = [r for r in rows if r.has_plan]
    bad = [r for r in planned if r.violations != 0]
    if bad:
        first = bad[0]
        return (
            target,
            f"{len(bad)} invalid; {first.instance} {first.label}: {first.first_violation}",
            FAIL,
        )
    return target, f"{len(planned)} plans checked", PASS if planned else NOT_JUDGED


def _single(single: Sequence[Row]) -> Verdict:
    target = "single 20-replica request into 2,000 hosts: p95 under 1 s"
    if not single:
        return target, "not run", NOT_JUDGED
    r = single[0]
    t = r.times_s or [r.total_s]
    p95 = percentile(t, 95)
    got = f"p95 {p95:.2f} s over {len(t)} (median {percentile(t, 50):.2f} s), {r.status}"
    ok = r.has_plan and r.violations == 0 and p95 < SINGLE_P95
    return target, got, PASS if ok else FAIL


def verdicts(rows: Sequence[Row], single: Sequence[Row], limit: float) -> list[Verdict]:
    return [
        _optimal_100(rows),
        _feasible_1000(rows, limit),
        _beats_greedy_1000(rows),
        _known(rows, limit),
        _big(rows),
        _never_worse(rows),
        _valid([*rows, *single]),
        _single(single),
    ]
