"""The month's assessment as the API, the console and the CLI serve it: the stored copy
unless `live`, scored with the configured KPI weights, vendor availability from Prometheus
and incidents as the settings say (sla.measure), and the document the renderers take."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from inventory.settings import Settings
from sla.document import AssessmentDocument, assessment_document
from sla.kpi import kpi_config
from sla.measure import settler
from sla.stored import ServedReport, report_for


def served_report(
    session: Session, settings: Settings, month: str, now: datetime, live: bool
) -> ServedReport:
    settle = settler(session, settings, now)
    return report_for(session, month, now, live, settle, kpi_config(settings))


def served_document(
    session: Session, settings: Settings, month: str, now: datetime, live: bool
) -> tuple[ServedReport, AssessmentDocument]:
    """The report (stored or live) with its settlement and trend, for HTML and PDF."""
    settle, config = settler(session, settings, now), kpi_config(settings)
    served = report_for(session, month, now, live, settle, config)
    document = assessment_document(
        session, month, now, settle=settle, report=served.report, config=config
    )
    return served, document
