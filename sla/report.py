"""The monthly assessment (运维考核): KPI scores per vendor and per department, with trend.

Scopes are vendors (through their clouds) and departments. Incidents fall in the month they
started (as in sla.incidents); availability is sla.settlement's per-vendor figure against the
contract target (departments have none: no data). Scoring rules are in sla.kpi.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Session

from alerts.severity import ack_targets, outcome
from inventory.models import Cloud, Department, Incident, Severity
from sla.incidents import incidents_started, month_bounds
from sla.kpi import (
    DEFAULT_WEIGHTS,
    KpiConfig,
    score_availability,
    score_compliance,
    score_time_ratio,
    weighted_total,
)
from sla.settlement import monthly_settlement


class Kpi(BaseModel):
    name: str
    value: float | None  # the raw figure (ratio); None: no data
    score: float | None  # 0-100; None: no data, left out of the total
    weight: float
    detail: str
    incident_ids: list[int]
    previous_score: float | None = None
    delta: float | None = None  # score minus the previous month's; None if either is missing


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


def _ratio_kpi(
    name: str, incidents: list[Incident], spans: dict[int, float], config: KpiConfig
) -> Kpi:
    """Mean of (time taken / target) over the incidents that have a time."""
    ratios = [spans[i.id or 0] for i in incidents if (i.id or 0) in spans]
    ids = sorted(i.id or 0 for i in incidents if (i.id or 0) in spans)
    weight = config.weights.get(name, 0.0)
    if not ratios:
        return Kpi(
            name=name, value=None, score=None, weight=weight, detail="no data", incident_ids=[]
        )
    mean = round(sum(ratios) / len(ratios), 4)
    detail = f"mean time/target {mean} over {len(ratios)} incidents"
    return Kpi(
        name=name,
        value=mean,
        score=score_time_ratio(mean, config),
        weight=weight,
        detail=detail,
        incident_ids=ids,
    )


def _incident_kpis(
    incidents: list[Incident],
    now: datetime,
    config: KpiConfig,
    acks: dict[int, float],
    fixes: dict[int, float],
) -> list[Kpi]:
    targets = ack_targets()
    met = breached = 0
    p1_ids = []
    for i in incidents:
        if Severity(i.severity) != Severity.P1:
            continue
        decided = outcome(i, now, targets).value
        if decided in ("met", "breached"):
            p1_ids.append(i.id or 0)
            met, breached = met + (decided == "met"), breached + (decided == "breached")
    weight = config.weights.get("p1_compliance", 0.0)
    if met + breached:
        ratio = round(met / (met + breached), 4)
        p1 = Kpi(
            name="p1_compliance",
            value=ratio,
            score=score_compliance(ratio),
            weight=weight,
            detail=f"{met} of {met + breached} P1 within target",
            incident_ids=sorted(p1_ids),
        )
    else:
        p1 = Kpi(
            name="p1_compliance",
            value=None,
            score=None,
            weight=weight,
            detail="no data",
            incident_ids=[],
        )
    return [
        _ratio_kpi("mtta", incidents, acks, config),
        _ratio_kpi("mttr", incidents, fixes, config),
        p1,
    ]


def _scores(session: Session, month: str, now: datetime, config: KpiConfig) -> list[Scope]:
    start, end = month_bounds(month)
    incidents = incidents_started(session, start, end) if start < now else []
    targets = ack_targets()
    repair = {s: timedelta(minutes=m) for s, m in config.repair_minutes.items()}
    acks = {
        i.id or 0: (i.acknowledged_at - i.created_at) / targets[Severity(i.severity)]
        for i in incidents
        if i.acknowledged_at is not None
    }
    fixes = {
        i.id or 0: (i.resolved_at - i.created_at) / repair[Severity(i.severity)]
        for i in incidents
        if i.resolved_at is not None
    }
    clouds = {c.id: c for c in session.execute(sa.select(Cloud)).scalars()}
    departments = {d.id: d.code for d in session.execute(sa.select(Department)).scalars()}
    by_vendor: dict[str, list[Incident]] = defaultdict(list)
    by_dept: dict[str, list[Incident]] = defaultdict(list)
    for i in incidents:
        if i.cloud_id in clouds:
            by_vendor[clouds[i.cloud_id].vendor].append(i)
        if i.department_id in departments:
            by_dept[departments[i.department_id]].append(i)
    settled = {v.vendor: v for v in monthly_settlement(session, month, now).vendors}
    weight = config.weights.get("availability", 0.0)
    scopes = []
    for vendor in sorted(set(settled) | {c.vendor for c in clouds.values()}):
        row = settled.get(vendor)
        if row is None or row.measured is None:
            avail = Kpi(
                name="availability",
                value=None,
                score=None,
                weight=weight,
                detail="no data" if row else "no contract in force",
                incident_ids=[],
            )
        else:
            avail = Kpi(
                name="availability",
                value=row.measured,
                weight=weight,
                score=score_availability(row.measured, row.sla_target, config),
                detail=f"{row.measured:.6f} against target {row.sla_target}",
                incident_ids=row.incident_ids,
            )
        kpis = [avail, *_incident_kpis(by_vendor[vendor], now, config, acks, fixes)]
        scopes.append(
            Scope(
                kind="vendor",
                name=vendor,
                kpis=kpis,
                score=weighted_total({k.name: k.score for k in kpis}, config),
            )
        )
    for code in sorted(departments.values()):
        kpis = [
            Kpi(name="availability", value=None, score=None, weight=weight, incident_ids=[],
                detail="no data: availability is measured per vendor, not per department"),
            *_incident_kpis(by_dept[code], now, config, acks, fixes),
        ]  # fmt: skip
        scopes.append(
            Scope(
                kind="department",
                name=code,
                kpis=kpis,
                score=weighted_total({k.name: k.score for k in kpis}, config),
            )
        )
    return scopes


def _before(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def _delta(now: float | None, then: float | None) -> float | None:
    return None if now is None or then is None else round(now - then, 2)


def monthly_report(
    session: Session, month: str, now: datetime, config: KpiConfig | None = None
) -> Report:
    """Scores for `month` with each KPI's and each scope's change since the month before."""
    config = config or KpiConfig()
    month_bounds(month)  # validates the month, naming the field
    previous = _before(month)
    current = _scores(session, month, now, config)
    earlier = {(s.kind, s.name): s for s in _scores(session, previous, now, config)}
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
]


def _cell(value: float | None) -> str:
    return "" if value is None else str(value)


def report_csv(report: Report) -> str:
    """One row per scope x KPI, then one "total" row per scope; empty cells are no data."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for scope in report.scopes:
        for k in scope.kpis:
            writer.writerow(
                [
                    report.month,
                    scope.kind,
                    scope.name,
                    k.name,
                    _cell(k.value),
                    _cell(k.score),
                    k.weight,
                    _cell(k.previous_score),
                    _cell(k.delta),
                    k.detail,
                    " ".join(str(i) for i in k.incident_ids),
                ]
            )
        writer.writerow(
            [
                report.month,
                scope.kind,
                scope.name,
                "total",
                "",
                _cell(scope.score),
                "",
                _cell(scope.previous_score),
                _cell(scope.delta),
                "",
                "",
            ]
        )
    return out.getvalue()
