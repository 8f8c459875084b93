"""Stored monthly assessment reports: list, read as generated, generate now (sla.stored).

The body of `GET /sla/reports/{month}` is the `Report` exactly as it was stored, with its
origin in headers (`X-Report-Source: stored`, `X-Report-Trigger`, `X-Report-Generated-At`),
so a client reads a stored report and a live one (`GET /sla/report`) with the same schema.
`POST` stores only ended months (422 for the current or a future one: it would be partial);
it replaces any stored copy, answers 201 with the new copy's metadata and is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from console.deps import PageDep, SessionDep, SettingsDep, require
from console.one_hop import OneHopRoute
from inventory.access import Viewer
from inventory.errors import NotFound
from inventory.models import Role, StoredReportPublic
from inventory.paging import Page
from inventory.types import utcnow
from sla import stored
from sla.kpi import kpi_config
from sla.measure import settler
from sla.report import Report

router = APIRouter(route_class=OneHopRoute, prefix="/sla/reports", tags=["sla"])
ReaderDep = Annotated[Viewer, Depends(require(Role.admin, Role.manager))]
# Checked by sla.incidents.month_bounds, which answers 422 naming `month`.
Month = Annotated[str, Path(max_length=7, description="YYYY-MM, a calendar month in Asia/Shanghai")]


@router.get(
    "",
    response_model=Page[StoredReportPublic],
    summary="Stored monthly reports (month, trigger, author, time), newest month first",
)
def reports_list(session: SessionDep, viewer: ReaderDep, page: PageDep) -> Page[StoredReportPublic]:
    return stored.list_stored(session, viewer, page)


@router.get(
    "/{month}",
    response_model=None,
    responses={200: {"model": Report, "description": "The report as stored"}},
    summary="A stored monthly report as generated; its origin is in X-Report-* headers",
)
def reports_get(month: Month, session: SessionDep, viewer: ReaderDep) -> JSONResponse:
    row = stored.stored(session, month)
    if row is None:
        raise NotFound.of(
            "report.not_stored",
            month=month,
            field="month",
        )
    # As stored, not re-validated: a report is kept as it was when the vendor was scored.
    return JSONResponse(row.body, headers=stored.source_headers(stored.public(row)))


@router.post(
    "/{month}",
    response_model=StoredReportPublic,
    status_code=201,
    summary="Generate a month's report now and store it (replaces a stored copy)",
)
def reports_generate(
    month: Month, session: SessionDep, settings: SettingsDep, viewer: ReaderDep
) -> StoredReportPublic:
    now = utcnow()
    settle, config = settler(session, settings, now), kpi_config(settings)
    row = stored.generate_on_demand(session, viewer, month, now, settle, config)
    session.commit()
    return stored.public(row)
