"""What the reports page shows for a month, gathered once for the page and its downloads.

Decisions:
- The report is the stored copy when one exists (sla.serve, sla.stored), as the month's
  record; `?live=1` computes it now instead. The page says which it shows, and when and by
  whom (or by the schedule) the stored copy was generated.
- The settlement is always computed now, with both sources (sla.measure: Prometheus where it
  has data, else incidents) and their disagreement, because that is what the credits rest
  on; a stored report keeps only the availability KPI it was scored with.
- The downloads (CSV, printable HTML, PDF) render the same choice as the page through the
  API's renderers (sla.report.report_csv, sla.render_html, sla.render_pdf): a manager who
  reads the stored copy on screen downloads the stored copy.
- Months are Asia/Shanghai calendar months; the default is the last full month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from inventory.models import StoredReportPublic
from inventory.settings import Settings
from sla.document import AssessmentDocument
from sla.incidents import month_bounds
from sla.report import Report
from sla.serve import served_document
from sla.settlement import Settlement


def shift_month(month: str, by: int) -> str:
    """`month` moved by `by` calendar months (negative: earlier)."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class ReportView:
    month: str
    report: Report
    stored: StoredReportPublic | None  # None: computed live
    settlement: Settlement
    document: AssessmentDocument  # report + settlement + MTTA/MTTR trend, for charts and files
    ended: bool  # only ended months can be stored

    @property
    def previous(self) -> str:
        return shift_month(self.month, -1)

    @property
    def following(self) -> str:
        return shift_month(self.month, 1)


def report_view(
    session: Session, settings: Settings, month: str, now: datetime, *, live: bool = False
) -> ReportView:
    """Everything for `month` (validated: Invalid naming `month`)."""
    _, end = month_bounds(month)
    served, document = served_document(session, settings, month, now, live)
    return ReportView(
        month, served.report, served.stored, document.settlement, document, now >= end
    )
