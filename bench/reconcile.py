"""Reconcile benchmark: how long `inventory.sync.reconcile()` takes on a large simulated estate.

For each backend (a SQLite file in a temp dir, a throwaway durable PostgreSQL 15) an empty
database is migrated, a simulator cloud is registered, and these phases are measured:

1. first sync     - the whole snapshot is new: all inserts;
2. no-change      - the same snapshot again: must write nothing (asserted);
3. 1% faults      - ~1% of hosts reported down and ~1% missing (decommissioned);
4. recovery       - the clean snapshot again: the down hosts come up, the missing ones
                    (and their replicas) are revived. Phases 3 and 4 alternate per repeat.

Snapshot generation (the simulator) is timed apart from reconcile+commit. Each phase runs
in a fresh subprocess so its peak RSS (ru_maxrss) is its own; tracemalloc, which slows
allocation-heavy code a lot, is measured in a separate, untimed pass on a second cloud.

    .venv/bin/python -m bench.reconcile --help
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path

import sqlalchemy as sa

from adapters.simulator import DEFAULT_DEPARTMENTS, SimulatorSettings
from bench.reconcile_worker import (
    MAX_REPLICAS,
    MEAN_REPLICAS,
    PHASES,
    RESULT_MARK,
    ROOT,
    TARGET_HOSTS,
    TARGET_REPLICAS,
    TARGET_SECONDS,
    ZONES,
    BenchFailure,
    Row,
    Spec,
    worker,
)
from bench.table import render
from inventory.db import make_engine, session_scope
from inventory.migrate import upgrade
from inventory.models import Cloud, Department

BACKENDS = ("sqlite", "postgresql")


@contextmanager
def database(backend: str) -> Iterator[tuple[str, str]]:
    """Yield (url, server version) of an empty database for `backend`, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="yunheng-bench-") as tmp:
            yield (
                f"sqlite:///{tmp}/bench.db",
                f"SQLite {sqlite3.sqlite_version} (file, WAL, synchronous=NORMAL)",
            )
        return
    from tests.pg import throwaway_postgres  # only the parent needs a server

    with throwaway_postgres(durable=True) as url:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            version = str(conn.execute(sa.text("SHOW server_version")).scalar_one())
        engine.dispose()
        yield url, f"PostgreSQL {version} (durable: fsync on)"


def prepare(url: str, hosts_per_zone: int, workloads: int, seed: int) -> tuple[int, int]:
    """Migrate, add the simulator's departments and two clouds: (timed, traced)."""
    upgrade(url)
    engine = make_engine(url)
    settings = SimulatorSettings(
        profile="openstack",
        seed=seed,
        zones=ZONES,
        hosts_per_zone=hosts_per_zone,
        workloads=workloads,
        max_replicas=MAX_REPLICAS,
    ).model_dump(mode="json")
    with session_scope(engine) as session:
        for code in DEFAULT_DEPARTMENTS:
            session.add(Department(code=code, name=code))
        clouds = [
            Cloud(
                name=name,
                kind="simulator",
                vendor="Simulated",
                region="sim-region",
                security_level=3,
                settings=settings,
            )
            for name in ("bench-timed", "bench-traced")
        ]
        session.add_all(clouds)
        session.flush()
        ids = [c.id for c in clouds]
    engine.dispose()
    assert ids[0] is not None and ids[1] is not None
    return ids[0], ids[1]


def spawn(spec: Spec) -> list[Row]:
    cmd = [sys.executable, "-m", "bench.reconcile", "--worker", json.dumps(asdict(spec))]
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise BenchFailure(f"{spec.backend} {spec.phase} worker exited {done.returncode}")
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return [Row(**row) for row in json.loads(line[len(RESULT_MARK) :])]
    raise BenchFailure(f"{spec.backend} {spec.phase} worker printed no result")


def run_backend(
    backend: str, args: argparse.Namespace, hosts_per_zone: int, workloads: int
) -> tuple[list[Row], str]:
    with ExitStack() as stack:
        url, version = stack.enter_context(database(backend))
        timed_id, traced_id = prepare(url, hosts_per_zone, workloads, args.seed)
        rows: list[Row] = []
        for phase in ("first", "nochange", "faults"):
            spec = Spec(
                backend, url, timed_id, phase, hosts_per_zone, workloads, args.seed, args.repeat
            )
            print(f"  {backend}: {phase} ...", file=sys.stderr, flush=True)
            rows += spawn(spec)
        if args.tracemalloc:
            print(f"  {backend}: tracemalloc pass ...", file=sys.stderr, flush=True)
            spec = Spec(backend, url, traced_id, "trace", hosts_per_zone, workloads, args.seed, 1)
            traced = {row.phase: row.traced_mib for row in spawn(spec)}
            for row in rows:
                row.traced_mib = traced.get(row.phase)
        return rows, version


def verdicts(rows: Sequence[Row]) -> list[str]:
    lines = [
        f"Target: no-change re-sync (reconcile+commit, median) under {TARGET_SECONDS:g} s "
        f"at {TARGET_HOSTS:,} hosts / {TARGET_REPLICAS:,} replicas."
    ]
    for row in rows:
        if row.phase != "nochange":
            continue
        at_scale = (
            abs(row.hosts - TARGET_HOSTS) <= TARGET_HOSTS * 0.1
            and abs(row.replicas - TARGET_REPLICAS) <= TARGET_REPLICAS * 0.1
        )
        if not at_scale:
            verdict = "not judged (run at a different scale)"
        else:
            verdict = "PASS" if row.sync_s < TARGET_SECONDS else "FAIL"
        lines.append(
            f"  {row.backend:<10} {row.sync_s:6.2f} s  "
            f"(+ {row.gen_s:.2f} s snapshot generation)  {verdict}"
        )
    return lines


HEADERS = [
    "backend",
    "hosts",
    "replicas",
    "phase",
    "runs",
    "gen s",
    "reconcile+commit s",
    "min-max s",
    "rows written",
    "DML stmts",
    "peak RSS MiB",
    "tracemalloc MiB",
]
RIGHT = {1, 2, 4, 5, 6, 7, 8, 9, 10, 11}


def cells(row: Row) -> list[str]:
    return [
        row.backend,
        f"{row.hosts:,}",
        f"{row.replicas:,}",
        PHASES[row.phase],
        str(row.runs),
        f"{row.gen_s:.2f}",
        f"{row.sync_s:.2f}",
        f"{row.sync_min_s:.2f}-{row.sync_max_s:.2f}" if row.runs > 1 else "",
        f"{row.rows_written:,}",
        str(row.dml_statements),
        f"{row.rss_peak_mib:.0f}",
        "" if row.traced_mib is None else f"{row.traced_mib:.1f}",
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reconcile",
        description=(
            "Benchmark inventory.sync.reconcile() on a simulated OpenStack estate: first sync, "
            "no-change re-sync (asserted to write nothing), a 1%-down/1%-missing re-sync and "
            "the recovery. Each phase runs in a fresh subprocess for its own peak RSS. "
            f"Target: no-change re-sync under {TARGET_SECONDS:g} s at "
            f"{TARGET_HOSTS:,} hosts / {TARGET_REPLICAS:,} replicas."
        ),
        epilog="example: .venv/bin/python -m bench.reconcile --backends sqlite --repeat 3",
    )
    parser.add_argument(
        "--hosts", type=int, default=TARGET_HOSTS, help="hosts, over 2 zones (default: %(default)s)"
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=TARGET_REPLICAS,
        help=f"approximate replicas; workloads = replicas / {MEAN_REPLICAS:g} "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated: sqlite (temp file), postgresql (throwaway, durable) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="runs of each re-sync phase; seconds are the median (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default: %(default)s)")
    parser.add_argument(
        "--no-tracemalloc",
        dest="tracemalloc",
        action="store_false",
        help="skip the separate tracemalloc pass (reconcile-only Python allocation peak)",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print the table as Markdown (for RESULTS.md)"
    )
    parser.add_argument("--json", type=Path, help="also write the raw rows to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is None:
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        unknown = sorted(set(backends) - set(BACKENDS))
        if unknown or not backends:
            parser.error(f"--backends: unknown {unknown}; choose from {', '.join(BACKENDS)}")
        args.backends = backends
        if args.hosts < ZONES or args.replicas < 1 or args.repeat < 1:
            parser.error("--hosts must be >= 2, --replicas and --repeat >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        measured = worker(Spec(**json.loads(args.worker)))
        print(RESULT_MARK + json.dumps([asdict(r) for r in measured]), flush=True)
        return 0

    hosts_per_zone = max(1, round(args.hosts / ZONES))
    workloads = max(1, round(args.replicas / MEAN_REPLICAS))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {load}; "
        f"simulator: openstack, {ZONES} zones x {hosts_per_zone} hosts, "
        f"{workloads:,} workloads, max {MAX_REPLICAS} replicas, seed {args.seed}, "
        f"repeat {args.repeat}",
        flush=True,
    )
    rows: list[Row] = []
    versions: list[str] = []
    failed = False
    for backend in args.backends:
        try:
            backend_rows, version = run_backend(backend, args, hosts_per_zone, workloads)
        except BenchFailure as exc:
            print(f"FAILED {backend}: {exc}", file=sys.stderr)
            failed = True
            continue
        except RuntimeError as exc:  # PostgresUnavailable and the like
            print(f"SKIPPED {backend}: {exc}", file=sys.stderr)
            failed = True
            continue
        rows += backend_rows
        versions.append(f"{backend}: {version}")

    print()
    print("; ".join(versions))
    print(render(HEADERS, [cells(r) for r in rows], RIGHT, args.markdown))
    print()
    print(
        "gen s: simulator snapshot generation; reconcile+commit s: median over runs; rows written: "
        "rows inserted/updated (+1 audit event when changed); peak RSS: ru_maxrss of the phase's "
        "own subprocess (baseline after imports: "
        + ", ".join(f"{r.backend} {r.rss_base_mib:.0f} MiB" for r in rows if r.phase == "first")
        + "); tracemalloc: Python allocation peak inside reconcile() alone, separate pass."
    )
    print()
    lines = verdicts(rows)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    judged_fail = any(line.endswith("FAIL") for line in lines)
    return 1 if failed or judged_fail else 0


if __name__ == "__main__":
    sys.exit(main())
