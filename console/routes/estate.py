"""Clouds, zones and hosts: the unified inventory, plus cloud registration and sync."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from adapters import service as clouds
from console.deps import AdminDep, BoxDep, Id, PageDep, SessionDep, SettingsDep, StaffDep, ViewerDep
from inventory.estate import (
    EstateFilter,
    cloud_public,
    get_cloud,
    get_host,
    list_clouds,
    list_hosts,
    list_zones,
)
from inventory.models import CloudCreate, CloudPublic, CloudUpdate, HostPublic, ZonePublic
from inventory.paging import Page

router = APIRouter(tags=["inventory"])

Ref = Annotated[str | None, Query(max_length=128)]


def estate_filter(
    cloud: Annotated[str | None, Query(max_length=128, description="Cloud id or name")] = None,
    zone: Annotated[
        str | None, Query(max_length=255, description="Zone id, name or external id")
    ] = None,
    region: Ref = None,
    state: Annotated[
        str | None,
        Query(max_length=128, description="One state or a comma list; default hides gone"),
    ] = None,
    department: Annotated[
        str | None, Query(max_length=64, description="Department id or code")
    ] = None,
    kind: Ref = None,
    arch: Ref = None,
    q: Annotated[str | None, Query(max_length=128, description="Name contains")] = None,
) -> EstateFilter:
    return EstateFilter(
        cloud=cloud,
        zone=zone,
        region=region,
        state=state,
        department=department,
        kind=kind,
        arch=arch,
        q=q,
    )


FilterDep = Annotated[EstateFilter, Depends(estate_filter)]


@router.get("/clouds", response_model=Page[CloudPublic], summary="Registered clouds")
def clouds_list(
    session: SessionDep, viewer: ViewerDep, f: FilterDep, page: PageDep
) -> Page[CloudPublic]:
    return list_clouds(session, viewer, f, page)


@router.get("/clouds/{cloud_id}", response_model=CloudPublic)
def clouds_get(cloud_id: Id, session: SessionDep, viewer: ViewerDep) -> CloudPublic:
    return cloud_public(get_cloud(session, cloud_id), viewer)


@router.post("/clouds", response_model=CloudPublic, status_code=201, summary="Register a cloud")
def clouds_create(
    body: CloudCreate, session: SessionDep, viewer: AdminDep, box: BoxDep
) -> CloudPublic:
    cloud = clouds.register_cloud(session, viewer, body, box)
    session.commit()
    return cloud_public(cloud, viewer)


@router.patch(
    "/clouds/{cloud_id}",
    response_model=CloudPublic,
    summary="Change a cloud's settings or credentials",
)
def clouds_update(
    cloud_id: Id, body: CloudUpdate, session: SessionDep, viewer: AdminDep, box: BoxDep
) -> CloudPublic:
    cloud = clouds.update_cloud(session, viewer, cloud_id, body, box)
    session.commit()
    return cloud_public(cloud, viewer)


class SyncResult(BaseModel):
    ok: bool
    error: str | None
    changes: dict[str, Any] | None
    cloud: CloudPublic


@router.post(
    "/clouds/{cloud_id}/sync", response_model=SyncResult, summary="Discover and reconcile now"
)
def clouds_sync(
    cloud_id: Id,
    session: SessionDep,
    viewer: AdminDep,
    box: BoxDep,
    settings: SettingsDep,
    force: Annotated[
        bool, Query(description="Apply even if most of the cloud's hosts or replicas vanished")
    ] = False,
) -> SyncResult:
    outcome = clouds.sync(
        session,
        viewer,
        cloud_id,
        box,
        timeout=settings.adapter_timeout_seconds,
        max_vanish=settings.sync_max_vanish_ratio,
        force=force,
    )
    session.commit()
    cloud = get_cloud(session, cloud_id)
    changes = outcome.report.summary() if outcome.report else None
    return SyncResult(
        ok=outcome.ok, error=outcome.error, changes=changes, cloud=cloud_public(cloud, viewer)
    )


class CheckOut(BaseModel):
    capability: str
    ok: bool
    detail: str


@router.get(
    "/clouds/{cloud_id}/check", response_model=list[CheckOut], summary="Per-capability connectivity"
)
def clouds_check(
    cloud_id: Id, session: SessionDep, viewer: StaffDep, box: BoxDep
) -> list[CheckOut]:
    return [
        CheckOut(capability=r.capability.value, ok=r.ok, detail=r.detail)
        for r in clouds.check(session, viewer, cloud_id, box)
    ]


@router.get("/zones", response_model=Page[ZonePublic], summary="Zones (failure domains)")
def zones_list(
    session: SessionDep, viewer: ViewerDep, f: FilterDep, page: PageDep
) -> Page[ZonePublic]:
    return list_zones(session, viewer, f, page)


@router.get(
    "/hosts", response_model=Page[HostPublic], summary="Hosts with capacity, allocation and state"
)
def hosts_list(
    session: SessionDep, viewer: StaffDep, f: FilterDep, page: PageDep
) -> Page[HostPublic]:
    return list_hosts(session, viewer, f, page)


@router.get("/hosts/{host_id}", response_model=HostPublic)
def hosts_get(host_id: Id, session: SessionDep, viewer: StaffDep) -> HostPublic:
    return get_host(session, viewer, host_id)
