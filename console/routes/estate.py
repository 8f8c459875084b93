"""Clouds, zones and hosts: the unified inventory, plus cloud registration and sync."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlmodel import Field

from adapters import service as clouds
from adapters.base import CheckResult
from console.deps import AdminDep, BoxDep, Id, PageDep, SessionDep, SettingsDep, StaffDep, ViewerDep
from console.one_hop import OneHopRoute, on_loop
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

router = APIRouter(route_class=OneHopRoute, tags=["inventory"])

Ref = Annotated[str | None, Query(max_length=128)]


async def estate_filter(
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
@on_loop
def clouds_list(
    session: SessionDep, viewer: ViewerDep, f: FilterDep, page: PageDep
) -> Page[CloudPublic]:
    return list_clouds(session, viewer, f, page)


@router.get("/clouds/{cloud_id}", response_model=CloudPublic)
@on_loop
def clouds_get(cloud_id: Id, session: SessionDep, viewer: ViewerDep) -> CloudPublic:
    return cloud_public(get_cloud(session, cloud_id), viewer)


class CheckOut(BaseModel):
    capability: str
    ok: bool
    detail: str


def _check_out(result: CheckResult) -> CheckOut:
    return CheckOut(capability=result.capability.value, ok=result.ok, detail=result.detail)


class CloudRegistered(CloudPublic):
    checks: list[CheckOut] = Field(description="What check() said before saving; [] if skipped")
    warnings: list[str] = Field(description="e.g. provisioning does not work yet, and why")


@router.post(
    "/clouds",
    response_model=CloudRegistered,
    status_code=201,
    summary="Register a cloud once its check() can list it",
    description=(
        "Validates settings and credentials, then runs the adapter's check() before saving. "
        "If listing fails the cloud is not saved (422 naming the cloud and the cause); if only "
        "provisioning fails it is saved and `warnings` says why."
    ),
)
def clouds_create(
    body: CloudCreate,
    session: SessionDep,
    viewer: AdminDep,
    box: BoxDep,
    settings: SettingsDep,
    skip_check: Annotated[
        bool,
        Query(description="Save without running check(), for a cloud that is down now (audited)"),
    ] = False,
) -> CloudRegistered:
    done = clouds.register_checked(
        session,
        viewer,
        body,
        box,
        skip_check=skip_check,
        timeout=settings.adapter_timeout_seconds,
    )
    session.commit()
    return CloudRegistered(
        **cloud_public(done.cloud, viewer).model_dump(),
        checks=[_check_out(r) for r in done.checks],
        warnings=done.warnings,
    )


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


@router.get(
    "/clouds/{cloud_id}/check", response_model=list[CheckOut], summary="Per-capability connectivity"
)
def clouds_check(
    cloud_id: Id, session: SessionDep, viewer: StaffDep, box: BoxDep
) -> list[CheckOut]:
    return [_check_out(r) for r in clouds.check(session, viewer, cloud_id, box)]


@router.get("/zones", response_model=Page[ZonePublic], summary="Zones (failure domains)")
@on_loop
def zones_list(
    session: SessionDep, viewer: ViewerDep, f: FilterDep, page: PageDep
) -> Page[ZonePublic]:
    return list_zones(session, viewer, f, page)


@router.get(
    "/hosts", response_model=Page[HostPublic], summary="Hosts with capacity, allocation and state"
)
@on_loop
def hosts_list(
    session: SessionDep, viewer: StaffDep, f: FilterDep, page: PageDep
) -> Page[HostPublic]:
    return list_hosts(session, viewer, f, page)


@router.get("/hosts/{host_id}", response_model=HostPublic)
@on_loop
def hosts_get(host_id: Id, session: SessionDep, viewer: StaffDep) -> HostPublic:
    return get_host(session, viewer, host_id)
