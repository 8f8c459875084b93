"""The monthly assessment over stored data: 12 months x 50 departments x 6 clouds.

Rows are generated straight into a fresh, migrated SQLite database (6 vendors with one cloud
and one contract each, 50 departments, incidents of every severity with acks and fixes),
then each month's report (which also scores the month before, for the trend) is timed.

Section "Prometheus queries of a monthly report and their time": a real Prometheus 2.42 on
backfilled history (default 5 vendors x 20 `up` series x October 2026 at one sample a
minute, with random outages), and the settlement of sla.measure asked for October and for
September (the report's trend month) with the SLOs laid out two ways: one vendor-scope SLO
per vendor (a selector matching its 20 series) and one per series. Every query is timed.

    .venv/bin/python -m bench.report [--per-cell 2] [--section all|incidents|prometheus]
        [--vendors 5] [--series 20] [--repeat 10] [--markdown]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session

from bench.table import render
from inventory.db import make_engine
from inventory.migrate import upgrade
from inventory.models import (
    Cloud,
    Department,
    Incident,
    IncidentStatus,
    Severity,
    VendorContract,
)
from sla.incidents import month_bounds
from sla.measure import combined_settlement
from sla.report import monthly_report
from sla.sli import PrometheusSli, Sli
from sla.slo import Scope, Slo

MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]
NOW = datetime(2027, 1, 5, tzinfo=UTC)


def seed(session: Session, clouds: int, departments: int, per_cell: int) -> int:
    """Incidents per month, cloud and department; returns how many were stored."""
    rng = random.Random(6)
    cloud_rows = [
        Cloud(name=f"cloud-{c}", kind="simulator", vendor=f"Vendor{c}", region="r1",
              security_level=3, created_at=datetime(2025, 12, 1, tzinfo=UTC))
        for c in range(clouds)
    ]  # fmt: skip
    dept_rows = [Department(code=f"dept-{d:02d}", name=f"D{d}") for d in range(departments)]
    session.add_all([*cloud_rows, *dept_rows])
    session.flush()
    for c in range(clouds):
        session.add(VendorContract.model_validate({
            "vendor": f"Vendor{c}", "sla_target": 0.9995, "monthly_fee": Decimal("100000"),
            "currency": "CNY", "valid_from": "2025-01-01",
            "credit_tiers": [{"below": 0.9995, "credit": 0.1}, {"below": 0.999, "credit": 0.25}],
        }))  # fmt: skip
    rows: list[dict[str, object]] = []
    severities = list(Severity)
    for month in MONTHS:
        start, end = month_bounds(month)
        span = (end - start).total_seconds()
        for cloud in cloud_rows:
            for dept in dept_rows:
                for _ in range(per_cell):
                    begun = start + timedelta(seconds=rng.uniform(0, span - 86400))
                    acked = rng.random() < 0.9
                    severity = rng.choice(severities)
                    rows.append({
                        "group_key": f"g{len(rows)}", "group_labels": {}, "title": "bench",
                        "severity": severity, "status": IncidentStatus.resolved,
                        "escalation_step": 0, "escalation_round": 0, "notified_state": {},
                        "cloud_id": cloud.id, "department_id": dept.id, "created_at": begun,
                        "acknowledged_at": begun + timedelta(minutes=rng.uniform(1, 30))
                        if acked else None,
                        "acknowledged_by": "oncall" if acked else None,
                        "resolved_at": begun + timedelta(minutes=rng.uniform(5, 600)),
                        "resolved_by": "auto",
                    })  # fmt: skip
    session.bulk_insert_mappings(Incident, rows)
    session.commit()
    return len(rows)


def incidents_section(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                stored = seed(session, 6, 50, args.per_cell)
            rows, total = [], 0.0
            with Session(engine) as session:
                for month in MONTHS:
                    began = time.perf_counter()
                    report = monthly_report(session, month, NOW)
                    took = time.perf_counter() - began
                    total += took
                    rows.append([month, str(len(report.scopes)), f"{took * 1000:.0f}"])
        finally:
            engine.dispose()
    rows.append(["all 12", "", f"{total * 1000:.0f}"])
    print(f"{stored} incidents, 6 clouds/vendors, 50 departments, SQLite")
    print(render(["month", "scopes", "ms"], rows, {1, 2}, args.markdown))


# --- Prometheus queries of a monthly report and their time ----------------------------------

PROM_MONTH, PROM_PREVIOUS = "2026-10", "2026-09"


@dataclass
class Outages:
    """Per series (vendor, instance): the minutes (unix seconds) it reads 0."""

    down: dict[tuple[int, int], set[int]] = field(default_factory=dict)

    def expected(self, vendor: int, series: int, minutes: int) -> float:
        """The vendor's availability as sla.measure defines it: the mean over its series."""
        mean_down = sum(len(self.down[(vendor, i)]) for i in range(series)) / series
        return 1.0 - mean_down / minutes


def write_history(path: Path, vendors: int, series: int) -> tuple[int, Outages]:
    """October 2026 (Shanghai) at one sample a minute, 0-3 outages of 1-60 minutes per
    series, streamed as OpenMetrics (hundreds of MB: never held as one string)."""
    rng, outages, samples = random.Random(6), Outages(), 0
    start, end = month_bounds(PROM_MONTH)
    first, last = int(start.timestamp()), int(end.timestamp())
    with path.open("w") as out:
        out.write("# TYPE up gauge\n")
        for v in range(vendors):
            for i in range(series):
                down: set[int] = set()
                for _ in range(rng.randint(0, 3)):
                    begin = first + 60 * rng.randrange(0, (last - first) // 60 - 60)
                    down.update(begin + 60 * m for m in range(rng.randint(1, 60)))
                outages.down[(v, i)] = down
                labels = f'up{{instance="i{i:03d}",vendor="V{v}"}}'
                out.writelines(
                    f"{labels} {0 if t in down else 1} {t}\n" for t in range(first, last, 60)
                )
                samples += (last - first) // 60
        out.write("# EOF\n")
    return samples, outages


class TimedSource:
    """sla.measure's AvailabilitySource around PrometheusSli, timing every query."""

    def __init__(self, sli: PrometheusSli) -> None:
        self.sli, self.seconds = sli, list[tuple[datetime, float]]()

    def availability(self, selector: str, start: datetime, end: datetime) -> Sli:
        began = time.perf_counter()
        try:
            return self.sli.availability(selector, start, end)
        finally:
            self.seconds.append((start, time.perf_counter() - began))


def _layouts(vendors: int, series: int) -> dict[str, list[Slo]]:
    def slo(name: str, subject: str, sli: str) -> Slo:
        return Slo(name=name, scope=Scope.vendor, subject=subject, target=0.9995, sli=sli)

    # Subjects as bench's seed names the vendors (Vendor0...); series are labelled V0...
    per_vendor = [slo(f"v{v}", f"Vendor{v}", f'up{{vendor="V{v}"}}') for v in range(vendors)]
    per_series = [
        slo(f"v{v}-{i}", f"Vendor{v}", f'up{{vendor="V{v}",instance="i{i:03d}"}}')
        for v in range(vendors)
        for i in range(series)
    ]
    return {"1 SLO per vendor": per_vendor, "1 SLO per series": per_series}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def prometheus_section(vendors: int, series: int, repeat: int, markdown: bool) -> None:
    from tests.prom_backfill import prometheus_on
    from tests.prom_peer import binary

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        began = time.perf_counter()
        samples, outages = write_history(work / "history.om", vendors, series)
        written = time.perf_counter() - began
        subprocess.run(
            [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", "-q",
             "--max-block-duration=400h", str(work / "history.om"), str(work / "tsdb")],
            check=True, capture_output=True, timeout=3600,
        )  # fmt: skip
        backfilled = time.perf_counter() - began - written
        (work / "history.om").unlink()
        url = f"sqlite:///{work / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            seed(session, vendors, 1, 0)  # Vendor{c} clouds and contracts, no incidents
        rows = []
        try:
            with prometheus_on(work, work / "tsdb") as peer, Session(engine) as session:
                for layout, slos in _layouts(vendors, series).items():
                    rows.append(_time_layout(session, peer.url, layout, slos, repeat, outages))
        finally:
            engine.dispose()
    print(
        f"{vendors} vendors x {series} series x 31 days at 1-minute resolution: "
        f"{samples:,} samples; OpenMetrics written in {written:.1f} s, promtool "
        f"create-blocks-from in {backfilled:.1f} s; Prometheus 2.42, {repeat} reports per layout"
    )
    headers = ["SLOs", "queries / report", "query ms / report", "report ms",
               "Oct query p50 ms", "p95 ms", "max ms"]  # fmt: skip
    print(render(headers, rows, {1, 2, 3, 4, 5, 6}, markdown))


def _time_layout(
    session: Session, url: str, layout: str, slos: list[Slo], repeat: int, outages: Outages
) -> list[str]:
    """`repeat` reports (October and its trend month); checks October against the outages.
    Medians over the reports; per-query percentiles over October's queries (September's,
    with no data, take a few ms each)."""
    source = TimedSource(PrometheusSli(url))
    vendors = len({s.subject for s in slos})
    series = len(outages.down) // vendors
    totals = []
    try:
        for _ in range(repeat):
            began = time.perf_counter()
            settled = combined_settlement(session, PROM_MONTH, NOW, source=source, slos=slos)
            combined_settlement(session, PROM_PREVIOUS, NOW, source=source, slos=slos)
            totals.append(time.perf_counter() - began)
    finally:
        source.sli.close()
    for row in settled.vendors:  # the figures must be right before their time means anything
        want = outages.expected(int(row.vendor.removeprefix("Vendor")), series, 31 * 24 * 60)
        if row.measured is None or abs(row.measured - want) > 1e-9:
            raise SystemExit(f"{layout}: {row.vendor} measured {row.measured}, expected {want}")
    per_report = len(source.seconds) // repeat
    in_queries = [
        math.fsum(s for _, s in source.seconds[r * per_report : (r + 1) * per_report]) * 1000
        for r in range(repeat)
    ]
    october = month_bounds(PROM_MONTH)[0]
    ms = [s * 1000 for start, s in source.seconds if start == october]
    p50, p95 = _percentile(ms, 0.5), _percentile(ms, 0.95)
    return [layout, f"{per_report} ({per_report // 2} + {per_report // 2})",
            f"{statistics.median(in_queries):.0f}", f"{statistics.median(totals) * 1000:.0f}",
            f"{p50:.1f}", f"{p95:.1f}", f"{max(ms):.1f}"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-cell", type=int, default=2, help="incidents per month/cloud/dept")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--section", choices=["all", "incidents", "prometheus"], default="all")
    parser.add_argument("--vendors", type=int, default=5, help="Prometheus section: vendors")
    parser.add_argument("--series", type=int, default=20, help="Prometheus: series per vendor")
    parser.add_argument("--repeat", type=int, default=10, help="Prometheus: reports timed")
    args = parser.parse_args()
    if args.section in ("all", "incidents"):
        incidents_section(args)
    if args.section in ("all", "prometheus"):
        prometheus_section(args.vendors, args.series, args.repeat, args.markdown)


if __name__ == "__main__":
    main()
