"""The monthly assessment over stored data: 12 months x 50 departments x 6 clouds.

Rows are generated straight into a fresh, migrated SQLite database (6 vendors with one cloud
and one contract each, 50 departments, incidents of every severity with acks and fixes),
then each month's report (which also scores the month before, for the trend) is timed.

    .venv/bin/python -m bench.report [--per-cell 2] [--markdown]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
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
from sla.report import monthly_report

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-cell", type=int, default=2, help="incidents per month/cloud/dept")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
