"""The inventory pages: clouds, zones, hosts and workloads, with cloud and host detail.

Staff only (admin, on-call, manager), like the API's host list. Every list is the API's own
list service (inventory.estate, inventory.workloads) fed from the query string, so filters,
sort keys and page limits are the same as `/api/v1/...`; a bad filter is shown beside the
filters with status 422 rather than as an error page, so the user can correct it in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from console.deps import Id, SessionDep
from console.web.inventory_data import LABELS, choices, cloud_summary, dimensions, host_replicas
from console.web.listing import PAGE_SIZES, Sorter, invalid_attrs, pager
from console.web.render import render
from console.web.roles import page_roles
from inventory.access import Viewer
from inventory.errors import Invalid
from inventory.estate import (
    EstateFilter,
    cloud_public,
    get_cloud,
    get_host,
    list_clouds,
    list_hosts,
    list_zones,
)
from inventory.models import CloudStatus, HostState, ItemState, Role
from inventory.paging import Page, PageParams
from inventory.workloads import list_workloads

router = APIRouter(include_in_schema=False)
StaffPage = Annotated[Viewer, Depends(page_roles(Role.admin, Role.oncall, Role.manager))]
Text = Annotated[str, Query(max_length=128)]
Limit = Annotated[int, Query(ge=1, le=10**6)]  # the service states the real bound (1-500)
Offset = Annotated[int, Query(ge=0, le=10**9)]


def _or_none(value: str) -> str | None:
    """An empty select or search box means "no filter", as in the API's absent parameter."""
    return value.strip() or None


def _list_page(
    request: Request,
    viewer: Viewer,
    template: str,
    run: Callable[[PageParams], Page[Any]],
    *,
    limit: int,
    offset: int,
    sort: str,
    **context: Any,
) -> Response:
    error: Invalid | None = None
    params = PageParams()
    try:
        params = PageParams(limit=limit, offset=offset, sort=_or_none(sort))
        page = run(params)
    except Invalid as exc:
        error = exc
        page = Page(items=[], total=0, limit=params.limit, offset=0)
    return render(
        request,
        template,
        viewer,
        status_code=422 if error else 200,
        page=page,
        pager=pager(request, page, params),
        sorter=Sorter(request, _or_none(sort)),
        sizes=PAGE_SIZES,
        limit=params.limit,
        sort=sort,
        error=error,
        invalid=invalid_attrs({error.field: "filter-error"} if error and error.field else {}),
        labels=LABELS,
        **context,
    )


@router.get("/inventory")
def inventory_home(viewer: StaffPage) -> Response:
    return RedirectResponse("/inventory/clouds", 303)


@router.get("/inventory/clouds")
def clouds_page(
    request: Request,
    session: SessionDep,
    viewer: StaffPage,
    state: Text = "",
    kind: Text = "",
    region: Text = "",
    q: Text = "",
    sort: Text = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    f = EstateFilter(
        state=_or_none(state), kind=_or_none(kind), region=_or_none(region), q=_or_none(q)
    )
    return _list_page(
        request,
        viewer,
        "inventory/clouds.html",
        lambda p: list_clouds(session, viewer, f, p),
        limit=limit,
        offset=offset,
        sort=sort,
        f=f,
        states=[s.value for s in CloudStatus],
    )


@router.get("/inventory/clouds/{cloud_id}")
def cloud_page(request: Request, cloud_id: Id, session: SessionDep, viewer: StaffPage) -> Response:
    cloud = get_cloud(session, cloud_id)
    zones = list_zones(session, viewer, EstateFilter(cloud=str(cloud_id)), PageParams(limit=500))
    return render(
        request,
        "inventory/cloud.html",
        viewer,
        cloud=cloud_public(cloud, viewer),
        zones=zones.items,
        summary=cloud_summary(session, cloud),
        labels=LABELS,
    )


@router.get("/inventory/zones")
def zones_page(
    request: Request,
    session: SessionDep,
    viewer: StaffPage,
    cloud: Text = "",
    region: Text = "",
    state: Text = "",
    sort: Text = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    f = EstateFilter(cloud=_or_none(cloud), region=_or_none(region), state=_or_none(state))
    return _list_page(
        request,
        viewer,
        "inventory/zones.html",
        lambda p: list_zones(session, viewer, f, p),
        limit=limit,
        offset=offset,
        sort=sort,
        f=f,
        choices=choices(session),
        states=[s.value for s in ItemState],
    )


@router.get("/inventory/hosts")
def hosts_page(
    request: Request,
    session: SessionDep,
    viewer: StaffPage,
    cloud: Text = "",
    zone: Text = "",
    state: Text = "",
    arch: Text = "",
    q: Text = "",
    sort: Text = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    f = EstateFilter(
        cloud=_or_none(cloud),
        zone=_or_none(zone),
        state=_or_none(state),
        arch=_or_none(arch),
        q=_or_none(q),
    )
    return _list_page(
        request,
        viewer,
        "inventory/hosts.html",
        lambda p: list_hosts(session, viewer, f, p),
        limit=limit,
        offset=offset,
        sort=sort,
        f=f,
        choices=choices(session),
        states=[s.value for s in HostState],
    )


@router.get("/inventory/hosts/{host_id}")
def host_page(request: Request, host_id: Id, session: SessionDep, viewer: StaffPage) -> Response:
    host = get_host(session, viewer, host_id)
    return render(
        request,
        "inventory/host.html",
        viewer,
        host=host,
        dimensions=dimensions(host),
        replicas=host_replicas(session, host_id),
        labels=LABELS,
    )


@router.get("/inventory/workloads")
def workloads_page(
    request: Request,
    session: SessionDep,
    viewer: StaffPage,
    department: Text = "",
    cloud: Text = "",
    state: Text = "",
    q: Text = "",
    sort: Text = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    f = EstateFilter(
        department=_or_none(department),
        cloud=_or_none(cloud),
        state=_or_none(state),
        q=_or_none(q),
    )
    return _list_page(
        request,
        viewer,
        "inventory/workloads.html",
        lambda p: list_workloads(session, viewer, f, p),
        limit=limit,
        offset=offset,
        sort=sort,
        f=f,
        choices=choices(session),
        states=[s.value for s in ItemState],
    )
