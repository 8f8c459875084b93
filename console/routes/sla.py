"""SLA: vendor contracts (admins manage, managers read), incident metrics and settlement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse

from console.deps import AdminDep, Id, SessionDep, StaffDep, require
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
from sla.report import Report, monthly_report, report_csv
from sla.settlement import Settlement, monthly_settlement

router = APIRouter(prefix="/sla", tags=["sla"])
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
    summary="Service credits per vendor for a month, with workings (availability from incidents)",
)
def sla_settlement(session: SessionDep, viewer: ReaderDep, month: Month = None) -> Settlement:
    now = utcnow()
    return monthly_settlement(session, month or previous_month(now), now)


@router.get(
    "/report",
    response_model=Report,
    summary="The monthly assessment: KPI scores per vendor and department, with trend",
)
def sla_report(session: SessionDep, viewer: ReaderDep, month: Month = None) -> Report:
    now = utcnow()
    return monthly_report(session, month or previous_month(now), now)


@router.get(
    "/report.csv",
    response_class=PlainTextResponse,
    summary="The monthly assessment as CSV, one row per scope x KPI",
)
def sla_report_csv(
    session: SessionDep, viewer: ReaderDep, month: Month = None
) -> PlainTextResponse:
    now = utcnow()
    chosen = month or previous_month(now)
    body = report_csv(monthly_report(session, chosen, now))
    return PlainTextResponse(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="assessment-{chosen}.csv"'},
    )
