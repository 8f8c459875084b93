"""Reports (admin, manager): the monthly assessment on screen, "generate and store now", and
its downloads (CSV, printable HTML, PDF) for a browser session.

The page and the downloads call the services the API's /sla/report* and /sla/reports/*
routes call (sla.stored, sla.report, sla.render_html, sla.render_pdf), so the figures, the
validation of `month` (Invalid naming it) and the audit of a generation are the API's;
see console/web/reports_data.py for which copy (stored or live) is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from console.deps import SessionDep, SettingsDep
from console.web.i18n import Translator
from console.web.render import render, translator
from console.web.reports_charts import report_charts, scope_name
from console.web.reports_data import ReportView, report_view
from console.web.roles import page_roles
from console.web.session import check_csrf
from inventory.access import Viewer
from inventory.errors import Invalid
from inventory.models import Role
from inventory.types import utcnow
from sla.document import PERCENT_KPIS
from sla.incidents import previous_month
from sla.render_html import render_html
from sla.render_pdf import render_pdf
from sla.report import Kpi, report_csv
from sla.stored import generate_on_demand

router = APIRouter(include_in_schema=False)
ReportsPage = Annotated[Viewer, Depends(page_roles(Role.admin, Role.manager))]
MonthQuery = Annotated[str | None, Query(max_length=7)]
MonthPath = Annotated[str, Path(max_length=7)]
Live = Annotated[bool, Query()]
KPI_PREFIX = "reports.kpi."  # + a KPI's name (sla.kpi.DEFAULT_WEIGHTS)


def kpi_label(t: Translator) -> Callable[[str], str]:
    """A KPI's name for people; a KPI added later shows under its own name until labelled."""

    def label(name: str) -> str:
        key = KPI_PREFIX + name
        return t(key) if t.has(key) else name

    return label


def kpi_value(t: Translator) -> Callable[[str, float | None], str]:
    def show(name: str, value: float | None) -> str:
        if value is None:
            return t("reports.no_data")
        if name in PERCENT_KPIS:
            return f"{value * 100:.{4 if name == 'availability' else 2}f}%"
        return f"{value:.4g}"

    return show


def record_links(t: Translator) -> Callable[[Kpi], list[tuple[str, list[tuple[int, str | None]]]]]:
    """The records behind a KPI, linked to their console pages where there is one."""
    kinds = {
        "incident_ids": (t("reports.ids.incidents"), "/alerts/incidents/{}"),
        "request_ids": (t("reports.ids.requests"), "/requests/{}"),
        "plan_ids": (t("reports.ids.plans"), "/approvals/{}"),
        "alert_ids": (t("reports.ids.alerts"), None),
        "cloud_ids": (t("reports.ids.clouds"), None),
    }

    def links(kpi: Kpi) -> list[tuple[str, list[tuple[int, str | None]]]]:
        found = []
        for field, value in kpi.model_dump().items():
            if field.endswith("_ids") and isinstance(value, list) and value:
                label, url = kinds.get(field, (field, None))
                found.append((label, [(int(i), url.format(i) if url else None) for i in value]))
        return found

    return links


def _page(
    request: Request,
    viewer: Viewer,
    month: str,
    view: ReportView | None,
    *,
    live: bool = False,
    month_error: str | None = None,
    generate_error: str | None = None,
    generated: bool = False,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    extra: dict[str, Any] = {}
    if view is not None:
        extra["charts"] = report_charts(view.document, t)
    return render(
        request,
        "reports/index.html",
        viewer,
        month=month,
        view=view,
        live=live,
        month_error=month_error,
        generate_error=generate_error,
        generated=generated,
        kpi_label=kpi_label(t),
        kpi_value=kpi_value(t),
        record_links=record_links(t),
        scope_name=lambda kind, name: scope_name(kind, name, t),
        status_code=status_code,
        **extra,
    )


@router.get("/reports")
def reports_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: ReportsPage,
    month: MonthQuery = None,
    live: Live = False,
    generated: bool = False,
) -> Response:
    now = utcnow()
    chosen = month or previous_month(now)
    try:
        view = report_view(session, settings, chosen, now, live=live)
    except Invalid as exc:
        return _page(
            request,
            viewer,
            chosen,
            None,
            month_error=translator(request).error(exc),
            status_code=422,
        )
    return _page(request, viewer, chosen, view, live=live, generated=generated)


@router.post("/reports/{month}/generate")
def reports_generate(
    request: Request,
    month: MonthPath,
    session: SessionDep,
    settings: SettingsDep,
    viewer: ReportsPage,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Generate and store now: sla.stored.generate_on_demand, as POST /sla/reports/{month}."""
    check_csrf(request, csrf_token)
    now = utcnow()
    try:
        generate_on_demand(session, viewer, month, now)
    except Invalid as exc:
        session.rollback()
        said = translator(request).error(exc)
        try:
            view = report_view(session, settings, month, now)
        except Invalid:  # the month itself is malformed: nothing to show beside the button
            return _page(request, viewer, month, None, month_error=said, status_code=422)
        return _page(
            request,
            viewer,
            month,
            view,
            generate_error=said,
            status_code=422,
        )
    session.commit()
    return RedirectResponse(f"/reports?month={month}&generated=1", 303)


def _download_name(month: str, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="assessment-{month}.{ext}"'}


@router.get("/reports/{month}.csv")
def reports_csv(
    month: MonthPath,
    session: SessionDep,
    settings: SettingsDep,
    viewer: ReportsPage,
    live: Live = False,
) -> Response:
    view = report_view(session, settings, month, utcnow(), live=live)
    return PlainTextResponse(
        report_csv(view.report), media_type="text/csv", headers=_download_name(month, "csv")
    )


@router.get("/reports/{month}.html")
def reports_html(
    month: MonthPath,
    session: SessionDep,
    settings: SettingsDep,
    viewer: ReportsPage,
    live: Live = False,
) -> Response:
    view = report_view(session, settings, month, utcnow(), live=live)
    return HTMLResponse(render_html(view.document))


@router.get("/reports/{month}.pdf")
def reports_pdf(
    month: MonthPath,
    session: SessionDep,
    settings: SettingsDep,
    viewer: ReportsPage,
    live: Live = False,
) -> Response:
    view = report_view(session, settings, month, utcnow(), live=live)
    body = render_pdf(view.document)
    return Response(body, media_type="application/pdf", headers=_download_name(month, "pdf"))
