"""The monthly assessment (运维考核): KPI scores per vendor and per department, with trend.

Scopes are vendors (through their clouds) and departments. The KPIs and their rules are in
sla.kpi; where each figure comes from is in its source module:
- availability: vendors, sla.settlement's figure against the contract target; departments,
  the clouds their replicas ran on (sla.cloud_availability);
- mtta, mttr, p1_compliance: the incidents that started in the month (sla.incident_kpis);
- utilisation: a snapshot of now (sla.usage), so only the report's month has it, not the
  month before it is compared with;
- lead_time, provisioning_success: requests, plans and allocations (sla.delivery);
- alert_noise: alert episodes from the incident timeline (sla.alert_noise).
Each source runs a fixed number of queries, whatever the size of the estate; a month that has
not begun has no data at all.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session

from inventory.models import Cloud, Department, Incident
from sla.alert_noise import alert_noise
from sla.cloud_availability import cloud_downtime, department_availability, replicas_by_department
from sla.delivery import lead_time, provisioning_success
from sla.incident_kpis import incident_kpis, time_ratios
from sla.incidents import incidents_started, month_bounds
from sla.kpi import DEFAULT_WEIGHTS, Kpi, KpiConfig, score_availability, weighted_total
from sla.period import DEPARTMENT, VENDOR, Found, Period
from sla.settlement import Settle, VendorSettlement, monthly_settlement
from sla.usage import utilisation

__all__ = ["CSV_COLUMNS", "Kpi", "Report", "Scope", "monthly_report", "report_csv"]

# Why a KPI from a source has no data for a scope, by KPI and scope kind.
NO_DATA: dict[tuple[str, str], str] = {
    ("availability", DEPARTMENT): "no data: no replicas on a watched cloud this month",
    ("utilisation", VENDOR): "no data: no hosts with capacity",
    ("utilisation", DEPARTMENT): "no data: no vcpu or memory quota",
    ("lead_time", VENDOR): "no data: no request fulfilled this month",
    ("lead_time", DEPARTMENT): "no data: no request fulfilled this month",
    ("provisioning_success", VENDOR): "no data: no allocation provisioned or failed",
    ("provisioning_success", DEPARTMENT): "no data: no allocation provisioned or failed",
    ("alert_noise", VENDOR): "no data: no hosts this month",
    ("alert_noise", DEPARTMENT): "no data: no replicas this month",
}
NOT_KEPT = "no data: utilisation is a snapshot of now, not kept per month"
NOT_BEGUN = "no data: the month has not begun"
# The KPIs after the incident ones, each from its own source, in catalogue order.
SOURCED = ("utilisation", "lead_time", "provisioning_success", "alert_noise")


class Scope(BaseModel):
    kind: str  # "vendor" or "department"
    name: str
    kpis: list[Kpi]
    score: float | None
    previous_score: float | None = None
    delta: float | None = None


class Report(BaseModel):
    month: str
    previous_month: str
    timezone: str = "Asia/Shanghai"
    as_of: datetime
    weights: dict[str, float]
    scopes: list[Scope]


def _sources(
    session: Session, period: Period, config: KpiConfig, snapshot: bool
) -> dict[str, Found]:
    """The non-incident KPIs per scope, by KPI name (vendor availability aside)."""
    if not period.begun:
        return {}
    placed = replicas_by_department(session, period)
    downtime = cloud_downtime(session, period.start, period.end, period.now)
    found = {
        "availability": department_availability(period, config, downtime, placed),
        "lead_time": lead_time(session, period, config),
        "provisioning_success": provisioning_success(session, period, config),
        "alert_noise": alert_noise(session, period, config, placed),
    }
    if snapshot:
        found["utilisation"] = utilisation(session, period, config)
    return found


def _pick(sources: dict[str, Found], name: str, kind: str, scope: str, config: KpiConfig) -> Kpi:
    if name not in sources:  # not worked out at all for this month
        return config.no_data(name, NOT_KEPT if sources else NOT_BEGUN)
    found = sources[name].get((kind, scope))
    return found if found is not None else config.no_data(name, NO_DATA[(name, kind)])


def _vendor_availability(row: VendorSettlement | None, config: KpiConfig) -> Kpi:
    if row is None or row.measured is None:
        return config.no_data("availability", "no data" if row else "no contract in force")
    return Kpi(
        name="availability",
        value=row.measured,
        weight=config.weights.get("availability", 0.0),
        score=score_availability(row.measured, row.sla_target, config),
        detail=f"{row.measured:.6f} against target {row.sla_target}",
        incident_ids=row.incident_ids,
    )


def _scope(kind: str, name: str, kpis: list[Kpi], config: KpiConfig) -> Scope:
    return Scope(
        kind=kind,
        name=name,
        kpis=kpis,
        score=weighted_total({k.name: k.score for k in kpis}, config),
    )


def _scores(
    session: Session,
    month: str,
    now: datetime,
    config: KpiConfig,
    *,
    snapshot: bool,
    settle: Settle | None,
) -> list[Scope]:
    start, end = month_bounds(month)
    clouds = {c.id or 0: c for c in session.execute(sa.select(Cloud)).scalars()}
    departments = {d.id or 0: d.code for d in session.execute(sa.select(Department)).scalars()}
    period = Period(start, end, now, clouds, departments)
    incidents = incidents_started(session, start, end) if period.begun else []
    acks, fixes = time_ratios(incidents, config)
    by_vendor: dict[str, list[Incident]] = defaultdict(list)
    by_dept: dict[str, list[Incident]] = defaultdict(list)
    for i in incidents:
        if (vendor := period.vendor(i.cloud_id)) is not None:
            by_vendor[vendor].append(i)
        if i.department_id in departments:
            by_dept[departments[i.department_id]].append(i)
    sources = _sources(session, period, config, snapshot)
    settlement = settle(month) if settle else monthly_settlement(session, month, now)
    settled = {v.vendor: v for v in settlement.vendors}
    scopes = []
    for vendor in sorted(set(settled) | {c.vendor for c in clouds.values()}):
        kpis = [
            _vendor_availability(settled.get(vendor), config),
            *incident_kpis(by_vendor[vendor], now, config, acks, fixes),
            *(_pick(sources, n, VENDOR, vendor, config) for n in SOURCED),
        ]
        scopes.append(_scope(VENDOR, vendor, kpis, config))
    for code in sorted(departments.values()):
        kpis = [
            _pick(sources, "availability", DEPARTMENT, code, config),
            *incident_kpis(by_dept[code], now, config, acks, fixes),
            *(_pick(sources, n, DEPARTMENT, code, config) for n in SOURCED),
        ]
        scopes.append(_scope(DEPARTMENT, code, kpis, config))
    return scopes


def _before(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def _delta(now: float | None, then: float | None) -> float | None:
    return None if now is None or then is None else round(now - then, 2)


def monthly_report(
    session: Session,
    month: str,
    now: datetime,
    config: KpiConfig | None = None,
    settle: Settle | None = None,
) -> Report:
    """Scores for `month` with each KPI's and each scope's change since the month before.
    `settle` gives a month's settlement (vendor availability); default: incidents only
    (sla.measure.settler adds Prometheus as the settings configure it)."""
    config = config or KpiConfig()
    month_bounds(month)  # validates the month, naming the field
    previous = _before(month)
    current = _scores(session, month, now, config, snapshot=True, settle=settle)
    before = _scores(session, previous, now, config, snapshot=False, settle=settle)
    earlier = {(s.kind, s.name): s for s in before}
    for scope in current:
        old = earlier.get((scope.kind, scope.name))
        old_kpis = {k.name: k.score for k in old.kpis} if old else {}
        for kpi in scope.kpis:
            kpi.previous_score = old_kpis.get(kpi.name)
            kpi.delta = _delta(kpi.score, kpi.previous_score)
        scope.previous_score = old.score if old else None
        scope.delta = _delta(scope.score, scope.previous_score)
    weights = {k: config.weights.get(k, 0.0) for k in DEFAULT_WEIGHTS}
    return Report(month=month, previous_month=previous, as_of=now, weights=weights, scopes=current)


# Columns are only ever added at the end, so sheets built on older exports keep working.
CSV_COLUMNS = [
    "month",
    "scope_kind",
    "scope",
    "kpi",
    "value",
    "score",
    "weight",
    "previous_score",
    "delta",
    "detail",
    "incident_ids",
    "request_ids",
    "plan_ids",
    "alert_ids",
    "cloud_ids",
]


def _cell(value: float | None) -> str:
    return "" if value is None else str(value)


def _ids(k: Kpi) -> list[str]:
    lists = (k.incident_ids, k.request_ids, k.plan_ids, k.alert_ids, k.cloud_ids)
    return [" ".join(str(i) for i in ids) for ids in lists]


def report_csv(report: Report) -> str:
    """One row per scope x KPI, then one "total" row per scope; empty cells are no data."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for scope in report.scopes:
        for k in scope.kpis:
            figures = [_cell(k.value), _cell(k.score), k.weight, _cell(k.previous_score)]
            writer.writerow(
                [report.month, scope.kind, scope.name, k.name, *figures, _cell(k.delta),
                 k.detail, *_ids(k)]
            )  # fmt: skip
        total = [report.month, scope.kind, scope.name, "total", "", _cell(scope.score), "",
                 _cell(scope.previous_score), _cell(scope.delta)]  # fmt: skip
        writer.writerow(total + [""] * (len(CSV_COLUMNS) - len(total)))
    return out.getvalue()
