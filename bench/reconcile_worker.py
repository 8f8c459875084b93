"""The measuring side of bench.reconcile: runs in a fresh subprocess per phase.

Kept apart from the parent (bench/reconcile.py) so each phase's peak RSS is its own.
"""

from __future__ import annotations

import resource
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.simulator import SimulatorFaults, SimulatorSettings, generate_estate
from inventory.db import make_engine, session_scope
from inventory.models import Cloud
from inventory.snapshot import Snapshot
from inventory.sync import SyncReport, reconcile

ROOT = Path(__file__).resolve().parents[1]
RESULT_MARK = "BENCH-RESULT "
ZONES = 2
MAX_REPLICAS = 4
MEAN_REPLICAS = (1 + MAX_REPLICAS) / 2  # the simulator draws randint(1, max_replicas)
TARGET_HOSTS, TARGET_REPLICAS, TARGET_SECONDS = 2_000, 20_000, 5.0
PHASES = {
    "first": "first sync (all inserts)",
    "nochange": "no-change re-sync",
    "faults": "1% down + 1% missing",
    "recover": "recovery (hosts back)",
}
KINDS = ("zones", "hosts", "workloads", "replicas")


class BenchFailure(RuntimeError):
    """A phase did not do what it must (e.g. a no-change re-sync wrote something)."""


@dataclass
class Spec:
    """What one worker subprocess measures; passed to it as JSON."""

    backend: str
    url: str
    cloud_id: int
    phase: str  # "first", "nochange", "faults" (faults+recover) or "trace" (all, traced)
    hosts_per_zone: int
    workloads: int
    seed: int
    repeat: int


@dataclass
class Row:
    backend: str
    phase: str
    hosts: int
    replicas: int
    runs: int
    gen_s: float
    sync_s: float
    sync_min_s: float
    sync_max_s: float
    rows_written: int
    dml_statements: int
    rss_base_mib: float
    rss_peak_mib: float
    traced_mib: float | None = None


@dataclass
class Run:
    gen_s: float
    sync_s: float
    hosts: int
    replicas: int
    rows_written: int
    dml_statements: int
    report: SyncReport
    traced_mib: float | None = None


@dataclass
class DmlCounter:
    """Counts INSERT/UPDATE/DELETE statements the engine sends (executemany counts once)."""

    statements: int = 0
    seen: list[str] = field(default_factory=list)

    def __call__(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if verb in {"INSERT", "UPDATE", "DELETE"}:
            self.statements += 1
            if len(self.seen) < 5:
                self.seen.append(statement[:120])


def mib(kib: int) -> float:
    return kib / 1024  # Linux reports ru_maxrss in KiB


def peak_rss_mib() -> float:
    return mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def settings_for(spec: Spec, faults: SimulatorFaults | None = None) -> SimulatorSettings:
    return SimulatorSettings(
        profile="openstack",
        seed=spec.seed,
        zones=ZONES,
        hosts_per_zone=spec.hosts_per_zone,
        workloads=spec.workloads,
        max_replicas=MAX_REPLICAS,
        faults=faults or SimulatorFaults(),
    )


def pick_faults(snapshot: Snapshot) -> SimulatorFaults:
    """~1% of hosts down and a disjoint ~1% missing, spread evenly over the zones."""
    names = sorted(h.name for h in snapshot.hosts)
    count = max(1, round(len(names) / 100))
    step = max(1, len(names) // count)
    down = names[0::step][:count]
    missing = [n for n in names[step // 2 :: step] if n not in down][:count]
    return SimulatorFaults(hosts_down=down, hosts_missing=missing)


# --------------------------------------------------------------------------- worker side


def sync_once(
    engine: Engine, counter: DmlCounter, cloud_id: int, settings: SimulatorSettings, trace: bool
) -> Run:
    started = time.perf_counter()
    snapshot = generate_estate(settings)
    generated = time.perf_counter()
    counter.statements, counter.seen = 0, []
    traced: float | None = None
    with session_scope(engine) as session:
        cloud = session.get(Cloud, cloud_id)
        assert cloud is not None
        if trace:
            tracemalloc.start()
        report = reconcile(session, cloud, snapshot, actor="bench")
        if trace:
            traced = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    finished = time.perf_counter()
    written = sum(k.added + k.updated + k.revived + k.gone for k in report.kinds.values())
    return Run(
        gen_s=generated - started,
        sync_s=finished - generated,
        hosts=len(snapshot.hosts),
        replicas=len(snapshot.replicas),
        rows_written=written + (1 if report.changed else 0),  # + the audit event
        dml_statements=counter.statements,
        report=report,
        traced_mib=traced,
    )


def expect(condition: bool, phase: str, what: str, report: SyncReport) -> None:
    if not condition:
        counts = {
            n: {k: v for k, v in s.items() if k != "samples"} for n, s in report.summary().items()
        }
        raise BenchFailure(f"{PHASES[phase]}: {what}; report: {counts}")


@dataclass(frozen=True)
class Expected:
    """What the phases must report, taken from the clean snapshot (which is then dropped)."""

    sizes: dict[str, int]
    hosts_down: int
    hosts_missing: int
    replicas_lost: int  # replicas on the missing hosts

    @classmethod
    def of(cls, clean: Snapshot, faults: SimulatorFaults) -> Expected:
        missing = set(faults.hosts_missing)
        counts = (len(clean.zones), len(clean.hosts), len(clean.workloads), len(clean.replicas))
        return cls(
            sizes=dict(zip(KINDS, counts, strict=True)),
            hosts_down=len(faults.hosts_down),
            hosts_missing=len(missing),
            replicas_lost=sum(1 for r in clean.replicas if r.host in missing),
        )


def check(phase: str, run: Run, want: Expected, counter: DmlCounter) -> None:
    k, report = run.report.kinds, run.report
    if phase == "first":
        inserted = all(k[n].added == want.sizes[n] for n in KINDS)
        expect(inserted, phase, "not everything inserted", report)
        return
    if phase == "nochange":
        expect(not report.changed, phase, "report says something changed", report)
        expect(counter.statements == 0, phase, f"DML sent: {counter.seen}", report)
        return
    untouched = not any(k[n].changed for n in ("zones", "workloads"))
    expect(untouched, phase, "zones or workloads changed", report)
    expect(k["hosts"].updated == want.hosts_down, phase, "down/up hosts", report)
    if phase == "faults":
        expect(k["hosts"].gone == want.hosts_missing, phase, "missing hosts", report)
        gone = k["replicas"].gone == want.replicas_lost and not k["replicas"].updated
        expect(gone, phase, "replicas gone", report)
    else:
        expect(k["hosts"].revived == want.hosts_missing, phase, "hosts revived", report)
        expect(k["replicas"].revived == want.replicas_lost, phase, "replicas revived", report)


def summarise(spec: Spec, phase: str, runs: list[Run], rss_base: float) -> Row:
    times = [r.sync_s for r in runs]
    return Row(
        backend=spec.backend,
        phase=phase,
        hosts=runs[0].hosts,
        replicas=runs[0].replicas,
        runs=len(runs),
        gen_s=statistics.median(r.gen_s for r in runs),
        sync_s=statistics.median(times),
        sync_min_s=min(times),
        sync_max_s=max(times),
        rows_written=runs[0].rows_written,
        dml_statements=runs[0].dml_statements,
        rss_base_mib=rss_base,
        rss_peak_mib=peak_rss_mib(),
        traced_mib=runs[0].traced_mib,
    )


def worker(spec: Spec) -> list[Row]:
    rss_base = peak_rss_mib()  # after imports, before any snapshot
    engine = make_engine(spec.url)
    counter = DmlCounter()
    sa.event.listen(engine, "before_cursor_execute", counter)
    clean = generate_estate(settings_for(spec))
    faults = pick_faults(clean)
    want = Expected.of(clean, faults)
    del clean  # hold one snapshot at a time, as a real sync does, so peak RSS is fair
    faulted_settings = settings_for(spec, faults)
    trace = spec.phase == "trace"
    plan: dict[str, list[tuple[str, SimulatorSettings]]] = {
        "first": [("first", settings_for(spec))],
        "nochange": [("nochange", settings_for(spec))] * spec.repeat,
        "faults": [("faults", faulted_settings), ("recover", settings_for(spec))] * spec.repeat,
        "trace": [
            ("first", settings_for(spec)),
            ("nochange", settings_for(spec)),
            ("faults", faulted_settings),
            ("recover", settings_for(spec)),
        ],
    }
    runs: dict[str, list[Run]] = {}
    for phase, settings in plan[spec.phase]:
        run = sync_once(engine, counter, spec.cloud_id, settings, trace)
        check(phase, run, want, counter)
        runs.setdefault(phase, []).append(run)
    engine.dispose()
    return [summarise(spec, phase, phase_runs, rss_base) for phase, phase_runs in runs.items()]
