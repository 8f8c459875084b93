"""The dashboard: capacity, firing alerts, SLA status and pending approvals at a glance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.deps import SessionDep
from console.web.charts import vendor_bars, zone_heatmap
from console.web.dashboard_data import dashboard
from console.web.render import render, translator
from console.web.roles import page_roles
from inventory.access import Viewer
from inventory.models import Role
from inventory.types import utcnow
from sla.availability import SHANGHAI

router = APIRouter(include_in_schema=False)
StaffPage = Annotated[Viewer, Depends(page_roles(Role.admin, Role.oncall, Role.manager))]


@router.get("/dashboard")
def dashboard_page(request: Request, session: SessionDep, viewer: StaffPage) -> Response:
    now = utcnow()
    data = dashboard(session, now)
    t = translator(request)
    return render(
        request,
        "dashboard.html",
        viewer,
        data=data,
        month=now.astimezone(SHANGHAI).strftime("%Y-%m"),
        vendor_chart=vendor_bars(data.vendors, t),
        heat_chart=zone_heatmap(data.zones, t),
    )
