"""Noise control and routing: silences, maintenance windows, inhibition rules, routes.

Staff read them. On-call staff and admins manage silences and maintenance windows (that is
on-call work); inhibition rules and routes decide who gets paged at all, so only admins
change them. Department users have no access. Every change is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from alerts import config, views
from alerts.schemas import (
    InhibitCreate,
    InhibitPublic,
    InhibitUpdate,
    RouteCreate,
    RoutePublic,
    RouteUpdate,
    SilenceCreate,
    SilencePublic,
    SilenceUpdate,
    WindowCreate,
    WindowPublic,
    WindowUpdate,
)
from console.deps import AdminDep, Id, PageDep, SessionDep, StaffDep, require
from console.one_hop import OneHopRoute
from inventory.access import Viewer
from inventory.models import AlertRoute, InhibitRule, MaintenanceWindow, Role, Silence
from inventory.paging import Page
from inventory.types import utcnow

router = APIRouter(route_class=OneHopRoute, tags=["alert configuration"])

OnCall = Annotated[Viewer, Depends(require(Role.oncall, Role.admin))]


# --- Silences ---------------------------------------------------------------------------------


@router.get("/silences", response_model=Page[SilencePublic], summary="Silences, newest first")
def silences_list(
    session: SessionDep,
    viewer: StaffDep,
    page: PageDep,
    state: Annotated[
        str | None, Query(max_length=64, description="pending, active, expired (comma list)")
    ] = None,
) -> Page[SilencePublic]:
    return views.list_silences(session, page, utcnow(), state)


@router.post("/silences", response_model=SilencePublic, status_code=201)
def silences_create(body: SilenceCreate, session: SessionDep, viewer: OnCall) -> SilencePublic:
    now = utcnow()
    silence = config.create_silence(session, viewer, body, now)
    session.commit()
    return views.silence_public(silence, now)


@router.get("/silences/{silence_id}", response_model=SilencePublic)
def silences_get(silence_id: Id, session: SessionDep, viewer: StaffDep) -> SilencePublic:
    return views.silence_public(views.get_row(session, Silence, silence_id, "silence"), utcnow())


@router.patch("/silences/{silence_id}", response_model=SilencePublic)
def silences_update(
    silence_id: Id, body: SilenceUpdate, session: SessionDep, viewer: OnCall
) -> SilencePublic:
    now = utcnow()
    silence = config.update_silence(session, viewer, silence_id, body, now)
    session.commit()
    return views.silence_public(silence, now)


@router.delete(
    "/silences/{silence_id}",
    response_model=SilencePublic,
    summary="Expire a silence now (it stays on record)",
)
def silences_expire(silence_id: Id, session: SessionDep, viewer: OnCall) -> SilencePublic:
    now = utcnow()
    silence = config.expire_silence(session, viewer, silence_id, now)
    session.commit()
    return views.silence_public(silence, now)


# --- Maintenance windows ----------------------------------------------------------------------


@router.get("/maintenance-windows", response_model=Page[WindowPublic])
def windows_list(session: SessionDep, viewer: StaffDep, page: PageDep) -> Page[WindowPublic]:
    return views.list_windows(session, page, utcnow())


@router.post("/maintenance-windows", response_model=WindowPublic, status_code=201)
def windows_create(body: WindowCreate, session: SessionDep, viewer: OnCall) -> WindowPublic:
    now = utcnow()
    window = config.create_window(session, viewer, body, now)
    session.commit()
    return views.window_public(window, now)


@router.get("/maintenance-windows/{window_id}", response_model=WindowPublic)
def windows_get(window_id: Id, session: SessionDep, viewer: StaffDep) -> WindowPublic:
    row = views.get_row(session, MaintenanceWindow, window_id, "maintenance window")
    return views.window_public(row, utcnow())


@router.patch("/maintenance-windows/{window_id}", response_model=WindowPublic)
def windows_update(
    window_id: Id, body: WindowUpdate, session: SessionDep, viewer: OnCall
) -> WindowPublic:
    window = config.update_window(session, viewer, window_id, body)
    session.commit()
    return views.window_public(window, utcnow())


@router.delete("/maintenance-windows/{window_id}", status_code=204)
def windows_delete(window_id: Id, session: SessionDep, viewer: OnCall) -> Response:
    config.delete_window(session, viewer, window_id)
    session.commit()
    return Response(status_code=204)


# --- Inhibition rules -------------------------------------------------------------------------


@router.get("/inhibit-rules", response_model=Page[InhibitPublic])
def inhibit_list(session: SessionDep, viewer: StaffDep, page: PageDep) -> Page[InhibitPublic]:
    return views.list_inhibit_rules(session, page)


@router.post("/inhibit-rules", response_model=InhibitPublic, status_code=201)
def inhibit_create(body: InhibitCreate, session: SessionDep, viewer: AdminDep) -> InhibitPublic:
    rule = config.create_inhibit_rule(session, viewer, body, utcnow())
    session.commit()
    return views.inhibit_public(rule)


@router.get("/inhibit-rules/{rule_id}", response_model=InhibitPublic)
def inhibit_get(rule_id: Id, session: SessionDep, viewer: StaffDep) -> InhibitPublic:
    return views.inhibit_public(views.get_row(session, InhibitRule, rule_id, "inhibit rule"))


@router.patch("/inhibit-rules/{rule_id}", response_model=InhibitPublic)
def inhibit_update(
    rule_id: Id, body: InhibitUpdate, session: SessionDep, viewer: AdminDep
) -> InhibitPublic:
    rule = config.update_inhibit_rule(session, viewer, rule_id, body)
    session.commit()
    return views.inhibit_public(rule)


@router.delete("/inhibit-rules/{rule_id}", status_code=204)
def inhibit_delete(rule_id: Id, session: SessionDep, viewer: AdminDep) -> Response:
    config.delete_inhibit_rule(session, viewer, rule_id)
    session.commit()
    return Response(status_code=204)


# --- Routes -----------------------------------------------------------------------------------


@router.get("/alert-routes", response_model=Page[RoutePublic], summary="Routes, in the order tried")
def routes_list(session: SessionDep, viewer: StaffDep, page: PageDep) -> Page[RoutePublic]:
    return views.list_routes(session, page)


@router.post("/alert-routes", response_model=RoutePublic, status_code=201)
def routes_create(body: RouteCreate, session: SessionDep, viewer: AdminDep) -> RoutePublic:
    route = config.create_route(session, viewer, body)
    session.commit()
    return views.route_public(route)


@router.get("/alert-routes/{route_id}", response_model=RoutePublic)
def routes_get(route_id: Id, session: SessionDep, viewer: StaffDep) -> RoutePublic:
    return views.route_public(views.get_row(session, AlertRoute, route_id, "route"))


@router.patch("/alert-routes/{route_id}", response_model=RoutePublic)
def routes_update(
    route_id: Id, body: RouteUpdate, session: SessionDep, viewer: AdminDep
) -> RoutePublic:
    route = config.update_route(session, viewer, route_id, body)
    session.commit()
    return views.route_public(route)


@router.delete("/alert-routes/{route_id}", status_code=204)
def routes_delete(route_id: Id, session: SessionDep, viewer: AdminDep) -> Response:
    config.delete_route(session, viewer, route_id)
    session.commit()
    return Response(status_code=204)
