"""The assessment document: everything the HTML and PDF renderers show, gathered once.

Decisions:
- The renderers take one `AssessmentDocument` and never touch the database, so the HTML page,
  the PDF and their tests all show the same figures (the JSON report's, unchanged).
- The MTTA/MTTR trend runs over the `TREND_MONTHS` months ending with the report's month, from
  `sla.incidents.incident_metrics` per month, by vendor: a month in which a vendor had no
  acknowledged (or resolved) incident is a gap (None), never 0.
- KPI names are rendered generically through `KPI_LABELS`; a KPI missing from the table is
  shown under its own name, so new KPIs appear without renderer changes.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from sla.incidents import NONE, incident_metrics
from sla.kpi import KpiConfig
from sla.report import Kpi, Report, monthly_report
from sla.settlement import Settle, Settlement, monthly_settlement

TREND_MONTHS = 6
# Ids link to the console's pages, where a manager's browser session opens them (the API
# would ask for a bearer token); the same ids are in the JSON and CSV for machines.
INCIDENT_URL = "/alerts/incidents/{}"

# KPI name -> (zh-CN, English). Includes KPIs other modules add, so they show up labelled.
KPI_LABELS: dict[str, tuple[str, str]] = {
    "availability": ("可用性", "Availability"),
    "mtta": ("平均响应时间", "MTTA"),
    "mttr": ("平均修复时间", "MTTR"),
    "p1_compliance": ("P1 响应达标率", "P1 compliance"),
    "utilisation": ("资源利用率", "Utilisation"),
    "lead_time": ("需求交付周期", "Request lead time"),
    "provisioning_success": ("开通成功率", "Provisioning success"),
    "alert_noise": ("告警噪声", "Alert noise"),
}
# KPIs whose raw value is a share (0..1), shown as a percentage; others as plain numbers.
PERCENT_KPIS = {"availability", "p1_compliance", "utilisation", "provisioning_success"}
# KPIs whose raw value is the mean of time taken / target.
TARGET_RATIO_KPIS = {"mtta", "mttr"}
# Kpi list fields holding ids of records behind a figure -> where the API serves each record.
ID_LINKS: dict[str, str] = {
    "incident_ids": INCIDENT_URL,
    "request_ids": "/requests/{}",
    "plan_ids": "/approvals/{}",
    "cloud_ids": "/inventory/clouds/{}",
}
SCOPE_LABELS = {"vendor": ("厂商", "Vendor"), "department": ("部门", "Department")}
STATUS_LABELS = {
    "met": ("达标", "met"),
    "credit": ("扣减", "credit"),
    "below_target_no_tier": ("未达标(无扣减档)", "below target, no tier"),
    "no_data": ("无数据", "no data"),
}


def kpi_label(name: str) -> tuple[str, str]:
    return KPI_LABELS.get(name, (name, name))


def format_value(name: str, value: float | None) -> str:
    """A KPI's raw figure for people: shares as percentages, others as numbers."""
    if value is None:
        return "无数据 no data"
    if name in PERCENT_KPIS:
        digits = 4 if name == "availability" else 2  # 99.9500 %: the budget is in the 3rd place
        return f"{value * 100:.{digits}f} %"
    if name in TARGET_RATIO_KPIS:
        return f"{value:.4g} × 目标 target"
    return f"{value:.4g}"


def format_score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def format_delta(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def linked_ids(kpi: Kpi) -> list[tuple[str, list[tuple[int, str | None]]]]:
    """Every `*_ids` list on a KPI (incident_ids, and request_ids should it appear) as
    (field, [(id, API path or None)]), read from the model dump so added fields show up."""
    found = []
    for field, value in kpi.model_dump().items():
        if field.endswith("_ids") and isinstance(value, list) and value:
            url = ID_LINKS.get(field)
            found.append((field, [(int(i), url.format(i) if url else None) for i in value]))
    return found


class VendorTrend(BaseModel):
    vendor: str
    mtta_minutes: list[float | None]  # one per month of AssessmentDocument.trend_months
    mttr_minutes: list[float | None]
    incidents: list[int]


class AssessmentDocument(BaseModel):
    report: Report
    settlement: Settlement
    trend_months: list[str]  # oldest first, ending with the report's month
    trend: list[VendorTrend]

    def vendor_kpi(self, name: str) -> dict[str, Kpi]:
        """Vendor -> its KPI `name`, for the vendors whose scope has that KPI."""
        return {
            s.name: k
            for s in self.report.scopes
            if s.kind == "vendor"
            for k in s.kpis
            if k.name == name
        }


def months_ending(month: str, count: int) -> list[str]:
    """`count` calendar months ending with `month`, oldest first."""
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 2)


def vendor_trend(session: Session, months: list[str], now: datetime) -> list[VendorTrend]:
    """MTTA/MTTR in minutes per vendor and month; vendors appear if they had any incident."""
    rows: dict[str, VendorTrend] = {}
    for index, month in enumerate(months):
        for row in incident_metrics(session, month, now).by_vendor:
            if row.group == NONE:
                continue  # incidents with no cloud are not any vendor's
            entry = rows.setdefault(
                row.group,
                VendorTrend(
                    vendor=row.group,
                    mtta_minutes=[None] * len(months),
                    mttr_minutes=[None] * len(months),
                    incidents=[0] * len(months),
                ),
            )
            entry.mtta_minutes[index] = _minutes(row.mtta_seconds)
            entry.mttr_minutes[index] = _minutes(row.mttr_seconds)
            entry.incidents[index] = row.incidents
    return [rows[v] for v in sorted(rows)]


def assessment_document(
    session: Session,
    month: str,
    now: datetime,
    *,
    settle: Settle | None = None,
    report: Report | None = None,
    config: KpiConfig | None = None,
) -> AssessmentDocument:
    """The report, the settlement and the trend for `month` (validated by monthly_report).
    `report`: a stored copy to render instead of computing it; `settle`: as monthly_report."""
    settlement = settle(month) if settle else monthly_settlement(session, month, now)
    report = report or monthly_report(session, month, now, config, settle)
    months = months_ending(month, TREND_MONTHS)
    return AssessmentDocument(
        report=report,
        settlement=settlement,
        trend_months=months,
        trend=vendor_trend(session, months, now),
    )
