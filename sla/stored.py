"""Stored monthly assessment reports: made on a schedule and on demand, kept as generated.

Decisions, so the stored copy can be defended:
- **Due time.** A month's report is due at 08:00 Asia/Shanghai on the 1st of the next month
  (`due_at`): the month has ended eight hours before, so the night's late acknowledgements and
  resolutions are in. `due_month(now)` is the latest month that is due at `now`.
- **Scheduled copy.** `ensure_due` (the leader's cron job at the due time and its hourly
  catch-up) stores the due month's report unless a copy generated at or after its due time is
  already stored. So a holder down at 08:00, or leadership moving, delays the report only
  until the next leader's first run; a copy made on demand before the due time is replaced
  by the scheduled one; a copy made after it (a manager regenerating after a correction) is
  kept. Only the due month is caught up; an older missing month is generated on demand.
- **Only ended months are stored.** A current (or future) month would be partial yet read
  as the month's record, so `generate` refuses it (Invalid, naming `month`); the figures so
  far are live at `GET /sla/report`.
- **One row per month** (`month` is unique). A later generation replaces the row in place
  (trigger, author, time and body) and is audited with the old metadata as `before`. Two
  writers racing to insert: the loser's INSERT fails inside a savepoint (IntegrityError on
  PostgreSQL, or on SQLite once the winner commits); the scheduler then keeps the winner's
  row and writes no audit event, an on-demand run replaces it. Never two rows.
- **Where a report came from** is not added to `Report` (its schema belongs to
  sla.report): `report_for` returns a `ServedReport` wrapper and routes put its source into
  `X-Report-*` response headers (`source_headers`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from inventory import audit
from inventory.access import Viewer
from inventory.errors import Invalid
from inventory.models import Role, StoredReport, StoredReportPublic
from inventory.paging import Page, PageParams, count, order_by
from sla.availability import SHANGHAI
from sla.incidents import month_bounds, previous_month
from sla.kpi import KpiConfig
from sla.report import Report, monthly_report
from sla.settlement import Settle

log = logging.getLogger(__name__)

SCHEDULE = "schedule"
ON_DEMAND = "on_demand"
TRIGGERS = (SCHEDULE, ON_DEMAND)
DUE_HOUR = 8  # 08:00 Asia/Shanghai on the 1st
SCHEDULER_ACTOR = "scheduler"  # the audit actor of scheduled runs (generated_by stays None)


def due_at(month: str) -> datetime:
    """When `month`'s report is due: 08:00 Asia/Shanghai on the 1st of the next month, UTC."""
    _, end = month_bounds(month)
    return end.astimezone(SHANGHAI).replace(hour=DUE_HOUR).astimezone(UTC)


def due_month(now: datetime) -> str:
    """The latest month whose report is due at `now`: the previous Shanghai month from 08:00
    on the 1st, the month before it until then."""
    month = previous_month(now)
    if now < due_at(month):
        month = previous_month(month_bounds(month)[0])
    return month


def public(row: StoredReport) -> StoredReportPublic:
    return StoredReportPublic.model_validate(row, from_attributes=True)


def stored(session: Session, month: str) -> StoredReport | None:
    """The stored report of `month` (validated: Invalid naming `month`), or None."""
    month_bounds(month)
    query = sa.select(StoredReport).where(col(StoredReport.month) == month)
    # Fresh from the database even if this session holds the row: after an insert race the
    # winner's values, not ours, must be read.
    return session.execute(query.execution_options(populate_existing=True)).scalars().first()


def list_stored(session: Session, viewer: Viewer, page: PageParams) -> Page[StoredReportPublic]:
    """Stored reports' metadata (not their bodies), newest month first by default."""
    viewer.require(Role.admin, Role.manager)
    query = sa.select(StoredReport)
    sort = {
        "month": col(StoredReport.month),
        "generated_at": col(StoredReport.generated_at),
        "trigger": col(StoredReport.trigger),
    }
    rows = session.execute(
        query.order_by(*order_by(page.sort, sort, col(StoredReport.month).desc()))
        .offset(page.offset)
        .limit(page.limit)
    ).scalars()
    return Page(
        items=[public(r) for r in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def _check_ended(month: str, now: datetime) -> None:
    _, end = month_bounds(month)
    if now < end:
        ends = end.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        raise Invalid.of(
            "report.month_open",
            month=month,
            ends=ends,
            field="month",
        )


def _record(session: Session, row: StoredReport, before: StoredReportPublic | None) -> None:
    after = public(row).model_dump(mode="json")
    audit.record(
        session,
        actor=row.generated_by or SCHEDULER_ACTOR,
        action="assessment_report.generate",
        target_type="assessment_report",
        target_id=row.month,
        before=None if before is None else before.model_dump(mode="json"),
        after=after,
        detail=f"{row.trigger}: {'replaced' if before else 'stored'} the {row.month} report",
    )


def generate(
    session: Session,
    month: str,
    now: datetime,
    trigger: str,
    by: str | None,
    *,
    replace: bool = True,
    settle: Settle | None = None,
    config: KpiConfig | None = None,
) -> StoredReport:
    """Compute `month`'s report as of `now` and store it (flushed, not committed).

    `by` is the user (None: the scheduler). With `replace=False` an existing row, or the row
    of a writer that won the insert race, is kept and returned unchanged.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger: {trigger!r} is not one of {TRIGGERS}")
    _check_ended(month, now)
    row = stored(session, month)
    if row is not None and not replace:
        return row
    body = monthly_report(session, month, now, config, settle).model_dump(mode="json")
    if row is None:
        fresh = StoredReport(
            month=month, trigger=trigger, generated_by=by, generated_at=now, body=body
        )
        try:
            with session.begin_nested():
                session.add(fresh)
        except IntegrityError:
            row = stored(session, month)  # another writer stored it since we looked
            if row is None:
                raise
            log.info("report %s: stored meanwhile by another writer (%s)", month, row.trigger)
            if not replace:
                return row
        else:
            _record(session, fresh, None)
            return fresh
    before = public(row)
    row.trigger, row.generated_by, row.generated_at, row.body = trigger, by, now, body
    session.add(row)
    session.flush()
    _record(session, row, before)
    return row


def generate_on_demand(
    session: Session,
    viewer: Viewer,
    month: str,
    now: datetime,
    settle: Settle | None = None,
    config: KpiConfig | None = None,
) -> StoredReport:
    """A user's "generate now": admins and managers; replaces any stored copy."""
    viewer.require(Role.admin, Role.manager)
    return generate(session, month, now, ON_DEMAND, viewer.username, settle=settle, config=config)


def ensure_due(
    session: Session, now: datetime, settle: Settle | None = None, config: KpiConfig | None = None
) -> StoredReport | None:
    """Store the due month's report unless a copy made at or after its due time is stored;
    the stored row, or None when there was nothing to do. Safe to run any number of times."""
    month = due_month(now)
    row = stored(session, month)
    if row is not None and row.generated_at >= due_at(month):
        return None
    # A stale copy (made on demand before the due time) is replaced; a missing one is
    # inserted, and if another leader inserted it meanwhile, theirs stands.
    return generate(
        session, month, now, SCHEDULE, None, replace=row is not None, settle=settle, config=config
    )


@dataclass(frozen=True)
class ServedReport:
    report: Report
    stored: StoredReportPublic | None  # None: computed live


def report_for(
    session: Session,
    month: str,
    now: datetime,
    live: bool,
    settle: Settle | None = None,
    config: KpiConfig | None = None,
) -> ServedReport:
    """The stored copy of `month` when there is one and `live` is false, else computed now."""
    row = None if live else stored(session, month)
    if row is not None:
        return ServedReport(Report.model_validate(row.body), public(row))
    return ServedReport(monthly_report(session, month, now, config, settle), None)


def source_headers(meta: StoredReportPublic | None) -> dict[str, str]:
    """Response headers saying where a report came from (ASCII only: the author's name,
    which may not be, is in the list of stored reports instead)."""
    if meta is None:
        return {"X-Report-Source": "live"}
    return {
        "X-Report-Source": "stored",
        "X-Report-Trigger": meta.trigger,
        "X-Report-Generated-At": meta.generated_at.astimezone(UTC).isoformat(),
    }
