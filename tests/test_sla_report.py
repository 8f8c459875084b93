"""The monthly assessment: hand-computed KPI scores, no-data KPIs, trend, CSV, roles, CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from console.cli import app
from inventory.db import make_engine
from inventory.errors import Invalid
from inventory.models import (
    Cloud,
    Department,
    Incident,
    IncidentStatus,
    Role,
    Severity,
    VendorContract,
)
from inventory.types import utcnow
from sla.incidents import month_bounds
from sla.kpi import KpiConfig, score_availability, score_time_ratio
from sla.report import CSV_COLUMNS, Report, Scope, monthly_report, report_csv
from tests import factories

API = "/api/v1/sla"
NOW = datetime(2026, 11, 10, tzinfo=UTC)
MIN = timedelta(minutes=1)
runner = CliRunner()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def contract(session: Session, vendor: str) -> None:
    session.add(
        VendorContract.model_validate(
            {"vendor": vendor, "sla_target": 0.9995, "monthly_fee": Decimal("1000.00"),
             "currency": "CNY", "credit_tiers": [{"below": 0.9995, "credit": 0.1}],
             "valid_from": "2026-01-01"}
        )
    )  # fmt: skip


def incident(
    session: Session, severity: Severity, start: str, cloud: Cloud, dept: Department,
    ack: float, fix: float,
) -> int:  # fmt: skip
    begun = utc(start)
    row = Incident(group_key=start, title=start, severity=severity,
                   status=IncidentStatus.resolved, cloud_id=cloud.id, department_id=dept.id,
                   created_at=begun, acknowledged_at=begun + ack * MIN,
                   acknowledged_by="oncall1", resolved_at=begun + fix * MIN,
                   resolved_by="oncall1")  # fmt: skip
    session.add(row)
    session.flush()
    return row.id or 0


def build(session: Session) -> dict[str, int]:
    """Alpha (contract 99.95 %) and Beta (no contract, no incidents); dept-x has incidents,
    dept-y none. October has 44,640 minutes, September 43,200 (both watched whole)."""
    alpha = Cloud(name="alpha-1", kind="simulator", vendor="Alpha", region="r1",
                  security_level=3, created_at=utc("2026-08-01T00:00"))  # fmt: skip
    beta = Cloud(name="beta-1", kind="simulator", vendor="Beta", region="r1",
                 security_level=3, created_at=utc("2026-08-01T00:00"))  # fmt: skip
    x, y = Department(code="dept-x", name="X"), Department(code="dept-y", name="Y")
    session.add_all([alpha, beta, x, y])
    session.flush()
    contract(session, "Alpha")
    ids = {
        # P1: acked in 3 of 5 min (ratio 0.6, met), down 44.64 of 240 min (ratio 0.186):
        # exactly twice October's 22.32-minute budget, so availability 0.999.
        "A": incident(session, Severity.P1, "2026-10-05T02:00", alpha, x, 3, 44.64),
        # P3 (no downtime): acked in 120 of 60 min (ratio 2), fixed in 2880 of 1440 (ratio 2).
        "B": incident(session, Severity.P3, "2026-10-10T02:00", alpha, x, 120, 2880),
        # September's P1: acked in 10 of 5 min (ratio 2, breached), down 43.2 min (0.999).
        "S": incident(session, Severity.P1, "2026-09-20T00:00", alpha, x, 10, 43.2),
    }
    session.commit()
    return ids


def scope(report: Report, kind: str, name: str) -> Scope:
    return next(s for s in report.scopes if (s.kind, s.name) == (kind, name))


def scores(s: Scope) -> dict[str, float | None]:
    return {k.name: k.score for k in s.kpis}


def test_scoring_rules_are_monotone_and_documented() -> None:
    config = KpiConfig()
    assert score_availability(0.9995, 0.9995, config) == 100.0
    assert score_availability(0.999, 0.9995, config) == 50.0  # twice the budget
    assert score_availability(0.9985, 0.9995, config) == 0.0  # three times
    assert [score_time_ratio(r, config) for r in (0.5, 1.0, 2.5, 4.0, 9.0)] == [
        100.0, 100.0, 50.0, 0.0, 0.0,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="weights"):
        KpiConfig(weights={"speed": 1.0})


def test_hand_computed_scores_no_data_and_trend(session: Session) -> None:
    ids = build(session)
    got = monthly_report(session, "2026-10", NOW)
    assert (got.month, got.previous_month) == ("2026-10", "2026-09")
    alpha = scope(got, "vendor", "Alpha")
    # MTTA: mean(0.6, 2) = 1.3 -> 90; MTTR: mean(0.186, 2) = 1.093 -> 96.9; P1: 1 of 1.
    # No hosts, requests, plans or alerts: the other KPIs have no data.
    assert scores(alpha) == {"availability": 50.0, "mtta": 90.0, "mttr": 96.9,
                             "p1_compliance": 100.0, "utilisation": None, "lead_time": None,
                             "provisioning_success": None, "alert_noise": None}  # fmt: skip
    # (0.25 * 50 + 0.1 * 90 + 0.1 * 96.9 + 0.15 * 100) / 0.6 = 76.98
    assert alpha.score == 76.98
    kpis = {k.name: k for k in alpha.kpis}
    assert kpis["availability"].value == 0.999
    assert kpis["availability"].incident_ids == [ids["A"]]
    assert kpis["mtta"].incident_ids == sorted([ids["A"], ids["B"]])
    assert kpis["p1_compliance"].incident_ids == [ids["A"]]
    # September: availability 50, MTTA 2 -> 66.67, MTTR 100, P1 0 of 1 -> 48.61.
    assert alpha.previous_score == 48.61
    assert alpha.delta == 28.37
    assert (kpis["availability"].delta, kpis["mtta"].delta, kpis["p1_compliance"].delta) == (
        0.0, 23.33, 100.0,
    )  # fmt: skip
    # dept-x has no replicas, so no availability KPI data: the mean runs over the other three.
    dept_x = scope(got, "department", "dept-x")
    assert scores(dept_x)["availability"] is None
    assert dept_x.score == 96.26  # (0.1 * 90 + 0.1 * 96.9 + 0.15 * 100) / 0.35
    assert (dept_x.previous_score, dept_x.delta) == (47.62, 48.64)
    # No contract, no incidents: every KPI is no data, and so is the total; never 0 or 100.
    for empty in (scope(got, "vendor", "Beta"), scope(got, "department", "dept-y")):
        assert set(scores(empty).values()) == {None}
        assert (empty.score, empty.delta) == (None, None)
    # Weights are configurable: without availability, Alpha scores as dept-x does.
    flat = monthly_report(session, "2026-10", NOW, KpiConfig(weights={"availability": 0.0}))
    assert scope(flat, "vendor", "Alpha").score == 96.26
    with pytest.raises(Invalid):
        monthly_report(session, "2026-13", NOW)


def test_a_month_without_data_is_no_data(session: Session) -> None:
    build(session)
    future = monthly_report(session, "2026-12", NOW)
    assert all(s.score is None for s in future.scopes)
    assert month_bounds("2026-12")[0] > NOW


def test_csv_has_a_row_per_scope_and_kpi(session: Session) -> None:
    ids = build(session)
    text = report_csv(monthly_report(session, "2026-10", NOW))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == CSV_COLUMNS
    # (2 vendors + 2 departments) x (8 KPIs + total)
    assert len(rows) == 1 + 4 * 9
    by_key = {(r[2], r[3]): dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]}
    assert by_key[("Alpha", "total")]["score"] == "76.98"
    assert by_key[("Alpha", "mtta")]["incident_ids"] == f"{ids['A']} {ids['B']}"
    assert by_key[("Beta", "availability")]["score"] == ""  # no data: empty, not 0


@pytest.fixture
def actors(session: Session) -> dict[str, factories.Actor]:
    dept = factories.department(session, "dept-a")
    return {
        "admin": factories.user(session, "admin1", Role.admin),
        "manager": factories.user(session, "manager1", Role.manager),
        "oncall": factories.user(session, "oncall1", Role.oncall),
        "department": factories.user(session, "depta", Role.department, dept.id),
    }


def test_report_over_the_api_and_roles(
    client: TestClient, session: Session, actors: dict[str, factories.Actor]
) -> None:
    build(session)
    manager = actors["manager"].headers
    got = client.get(f"{API}/report?month=2026-10", headers=manager)
    assert got.status_code == 200, got.text
    alpha = next(s for s in got.json()["scopes"] if s["name"] == "Alpha")
    assert alpha["score"] == 76.98
    as_csv = client.get(f"{API}/report.csv?month=2026-10", headers=actors["admin"].headers)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0] == ",".join(CSV_COLUMNS)
    for role in ("oncall", "department"):
        h = actors[role].headers
        assert client.get(f"{API}/report?month=2026-10", headers=h).status_code == 403
        assert client.get(f"{API}/report.csv?month=2026-10", headers=h).status_code == 403
    bad = client.get(f"{API}/report?month=2026-13", headers=manager)
    assert bad.status_code == 422
    assert "month" in bad.text


def _seed(url: str, build_it: Any) -> Any:
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            return build_it(session)
    finally:
        engine.dispose()


def test_cli_report_month(cli_env: str, tmp_path: Path) -> None:
    _seed(cli_env, build)
    shown = runner.invoke(app, ["report", "month", "2026-10"])
    assert shown.exit_code == 0, shown.output
    alpha = next(s for s in json.loads(shown.output)["scopes"] if s["name"] == "Alpha")
    assert alpha["score"] == 76.98
    target = tmp_path / "october.csv"
    written = runner.invoke(app, ["report", "month", "2026-10", "--format", "csv",
                                  "--out", str(target)])  # fmt: skip
    assert written.exit_code == 0, written.output
    assert target.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    bad = runner.invoke(app, ["report", "month", "2026-13"])
    assert bad.exit_code == 2
    assert "month" in bad.output


def test_cli_sla_status_this_month(cli_env: str) -> None:
    now = utcnow()
    start, end = month_bounds(f"{(now + timedelta(hours=8)):%Y-%m}")

    def seed(session: Session) -> None:
        cloud = Cloud(name="alpha-1", kind="simulator", vendor="Alpha", region="r1",
                      security_level=3, created_at=start - timedelta(days=40))  # fmt: skip
        session.add(cloud)
        session.flush()
        contract(session, "Alpha")
        contract(session, "Beta")  # no clouds: no data
        session.add(Incident(group_key="d", title="d", severity=Severity.P1,
                             status=IncidentStatus.resolved, cloud_id=cloud.id,
                             created_at=start, resolved_at=start + 10 * MIN,
                             resolved_by="auto"))  # fmt: skip
        session.commit()

    _seed(cli_env, seed)
    month = f"{(now + timedelta(hours=8)):%Y-%m}"
    shown = runner.invoke(app, ["sla", "status", "--month", month], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert "Beta: no data (target 99.95 %)" in shown.output
    allowed = 0.0005 * (end - start).total_seconds() / 60
    if now - start > 15 * MIN:  # the ten minutes of downtime are all in the past
        assert f"budget left {allowed - 10:.2f} of {allowed:.2f} min" in shown.output
    assert "Alpha:" in shown.output
