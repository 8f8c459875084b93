"""SLA: vendor contracts (admins manage, managers read), incident metrics and settlement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from console.deps import AdminDep, Id, SessionDep, SettingsDep, StaffDep, require
from console.one_hop import OneHopRoute
from inventory.access import Viewer
from inventory.models import (
    Role,
    VendorContractCreate,
    VendorContractPublic,
    VendorContractUpdate,
)
from inventory.types import utcnow
from sla import contracts
from sla.incidents import IncidentMetrics, incident_metrics, previous_month
from sla.measure import settlement_from_settings
from sla.render_html import render_html
from sla.render_pdf import render_pdf
from sla.report import Report, report_csv
from sla.serve import served_document, served_report
from sla.settlement import Settlement
from sla.stored import ServedReport, source_headers

router = APIRouter(route_class=OneHopRoute, prefix="/sla", tags=["sla"])
ReaderDep = Annotated[Viewer, Depends(require(Role.admin, Role.manager))]
Month = Annotated[
    str | None,
    Query(
        max_length=7,
        description="YYYY-MM, a calendar month in Asia/Shanghai; default: the last full month",
    ),
]


@router.get("/contracts", response_model=list[VendorContractPublic])
def contracts_list(
    session: SessionDep,
    viewer: ReaderDep,
    vendor: Annotated[str | None, Query(max_length=64)] = None,
) -> list[VendorContractPublic]:
    return contracts.list_contracts(session, viewer, vendor)


@router.post("/contracts", response_model=VendorContractPublic, status_code=201)
def contracts_create(
    body: VendorContractCreate, session: SessionDep, viewer: AdminDep
) -> VendorContractPublic:
    result = contracts.create_contract(session, viewer, body)
    session.commit()
    return result


@router.get("/contracts/{contract_id}", response_model=VendorContractPublic)
def contracts_get(contract_id: Id, session: SessionDep, viewer: ReaderDep) -> VendorContractPublic:
    return contracts.get_contract(session, viewer, contract_id)


@router.patch("/contracts/{contract_id}", response_model=VendorContractPublic)
def contracts_update(
    contract_id: Id, body: VendorContractUpdate, session: SessionDep, viewer: AdminDep
) -> VendorContractPublic:
    result = contracts.update_contract(session, viewer, contract_id, body)
    session.commit()
    return result


@router.delete("/contracts/{contract_id}", status_code=204)
def contracts_delete(contract_id: Id, session: SessionDep, viewer: AdminDep) -> None:
    contracts.delete_contract(session, viewer, contract_id)
    session.commit()


@router.get(
    "/incidents",
    response_model=IncidentMetrics,
    summary="MTTA/MTTR by severity, cloud, vendor and department for a month",
)
def sla_incidents(session: SessionDep, viewer: StaffDep, month: Month = None) -> IncidentMetrics:
    now = utcnow()
    return incident_metrics(session, month or previous_month(now), now)


@router.get(
    "/settlement",
    response_model=Settlement,
    summary="Service credits per vendor for a month, with workings (Prometheus and incidents)",
)
def sla_settlement(
    session: SessionDep, settings: SettingsDep, viewer: ReaderDep, month: Month = None
) -> Settlement:
    now = utcnow()
    return settlement_from_settings(session, settings, month or previous_month(now), now)


Live = Annotated[
    bool,
    Query(description="compute from today's data even when the month's report is stored"),
]


def _served(
    session: SessionDep, settings: SettingsDep, month: str | None, live: bool
) -> tuple[str, ServedReport]:
    """The month's stored copy (what vendors were scored on) unless `live`, else computed."""
    now = utcnow()
    chosen = month or previous_month(now)
    return chosen, served_report(session, settings, chosen, now, live)


@router.get(
    "/report",
    response_model=Report,
    summary="The monthly assessment: KPI scores per vendor and department, with trend",
    description="The stored copy when the month's report was stored (X-Report-Source: stored), "
    "else computed now (live); `live=true` always computes.",
)
def sla_report(
    session: SessionDep,
    settings: SettingsDep,
    viewer: ReaderDep,
    month: Month = None,
    live: Live = False,
) -> JSONResponse:
    _, served = _served(session, settings, month, live)
    return JSONResponse(
        served.report.model_dump(mode="json"), headers=source_headers(served.stored)
    )


@router.get(
    "/report.csv",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {}}}},
    summary="The monthly assessment as CSV, one row per scope x KPI",
)
def sla_report_csv(
    session: SessionDep,
    settings: SettingsDep,
    viewer: ReaderDep,
    month: Month = None,
    live: Live = False,
) -> PlainTextResponse:
    chosen, served = _served(session, settings, month, live)
    return PlainTextResponse(
        report_csv(served.report),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="assessment-{chosen}.csv"',
            **source_headers(served.stored),
        },
    )


@router.get(
    "/report.html",
    response_class=HTMLResponse,
    summary="The monthly assessment as a printable HTML page with charts (no scripts, offline)",
)
def sla_report_html(
    session: SessionDep,
    settings: SettingsDep,
    viewer: ReaderDep,
    month: Month = None,
    live: Live = False,
) -> HTMLResponse:
    now = utcnow()
    served, document = served_document(session, settings, month or previous_month(now), now, live)
    return HTMLResponse(render_html(document), headers=source_headers(served.stored))


@router.get(
    "/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="The monthly assessment as a PDF download with charts",
)
def sla_report_pdf(
    session: SessionDep,
    settings: SettingsDep,
    viewer: ReaderDep,
    month: Month = None,
    live: Live = False,
) -> Response:
    now = utcnow()
    chosen = month or previous_month(now)
    served, document = served_document(session, settings, chosen, now, live)
    return Response(
        render_pdf(document),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="assessment-{chosen}.pdf"',
            **source_headers(served.stored),
        },
    )
