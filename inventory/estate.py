"""Read the estate: clouds, zones and hosts, filtered, sorted and paginated."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.access import Viewer
from inventory.errors import Forbidden, Invalid, NotFound
from inventory.models import (
    Cloud,
    CloudPublic,
    CloudStatus,
    Department,
    Host,
    HostPublic,
    HostState,
    ItemState,
    Replica,
    Role,
    Workload,
    Zone,
    ZonePublic,
)
from inventory.paging import (
    AnySelect,
    Page,
    PageParams,
    core_execute,
    count,
    order_by,
    ref_filter,
    row_dicts,
    table_columns,
)

STAFF = (Role.admin, Role.oncall, Role.manager)


@dataclass(frozen=True, slots=True)
class EstateFilter:
    cloud: str | None = None  # id or name
    zone: str | None = None  # id, external id or name
    region: str | None = None
    state: str | None = None  # default: everything but "gone"
    department: str | None = None  # id or code: hosts running that department's replicas
    kind: str | None = None
    arch: str | None = None
    q: str | None = None  # substring of the name


def cloud_public(cloud: Cloud, viewer: Viewer) -> CloudPublic:
    # Department users choose clouds by region and level; endpoints and errors are staff-only.
    staff = not viewer.is_department
    return CloudPublic(
        id=cloud.id or 0,
        name=cloud.name,
        kind=cloud.kind,
        vendor=cloud.vendor,
        region=cloud.region,
        security_level=cloud.security_level,
        prices=cloud.prices,
        settings=cloud.settings if staff else {},
        has_credentials=cloud.credentials_encrypted is not None,
        status=cloud.status,
        last_sync_at=cloud.last_sync_at,
        last_error=cloud.last_error if staff else None,
        created_at=cloud.created_at,
    )


def state_filter(
    column: Any, state: str | None, allowed: type[StrEnum]
) -> list[sa.ColumnElement[bool]]:
    if state is None:
        return [column != _inline("gone")]
    values = [s.strip() for s in state.split(",") if s.strip()]
    bad = [v for v in values if v not in {m.value for m in allowed}]
    if bad or not values:
        choices = ", ".join(m.value for m in allowed)
        raise Invalid.of(
            "filter.state", field="state", state=", ".join(bad) or state, choices=choices
        )
    return [column.in_(sa.bindparam("states", values, expanding=True, literal_execute=True))]


def _inline(value: str) -> sa.BindParameter[str]:
    """A state written into the statement rather than sent as a parameter. PostgreSQL plans
    a prepared statement once for any parameters (a generic plan) and guesses `state <> $1`
    keeps one row in a hundred: on 2,000 hosts it then sorted every host for a page of 50
    (3.1 ms instead of 0.1). With the value in the text it knows most rows are not `gone`
    and reads the page in index order. States are a handful of fixed words: a few variants
    of each statement, each prepared once."""
    return sa.literal(value, literal_execute=True)


def list_clouds(
    session: Session, viewer: Viewer, f: EstateFilter, page: PageParams
) -> Page[CloudPublic]:
    query = sa.select(Cloud)
    if f.region:
        query = query.where(col(Cloud.region) == f.region)
    if f.kind:
        query = query.where(col(Cloud.kind) == f.kind)
    if f.cloud:
        query = query.where(ref_filter(f.cloud, col(Cloud.id), col(Cloud.name)))
    if f.q:
        query = query.where(col(Cloud.name).contains(f.q))
    if f.state:
        query = query.where(*state_filter(col(Cloud.status), f.state, CloudStatus))
    department = department_id(session, viewer, f.department)
    if f.department and department is not None:
        runs = _department_replicas(department).where(col(Replica.cloud_id) == col(Cloud.id))
        query = query.where(runs.exists())
    sort = {
        "name": col(Cloud.name),
        "region": col(Cloud.region),
        "status": col(Cloud.status),
        "vendor": col(Cloud.vendor),
    }
    rows = session.execute(
        query.order_by(*order_by(page.sort, sort, col(Cloud.id)))
        .offset(page.offset)
        .limit(page.limit)
    ).scalars()
    return Page(
        items=[cloud_public(c, viewer) for c in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def get_cloud(session: Session, cloud_id: int) -> Cloud:
    cloud = session.get(Cloud, cloud_id)
    if cloud is None:
        raise NotFound.of("cloud.not_found", cloud=cloud_id)
    return cloud


def list_zones(
    session: Session, viewer: Viewer, f: EstateFilter, page: PageParams
) -> Page[ZonePublic]:
    hosts = (
        sa.select(sa.func.count(col(Host.id)))
        .where(col(Host.zone_id) == col(Zone.id), col(Host.state) != HostState.gone)
        .scalar_subquery()
    )
    query = sa.select(Zone, col(Cloud.name), hosts).join(Cloud, col(Cloud.id) == col(Zone.cloud_id))
    query = query.where(*state_filter(col(Zone.state), f.state, ItemState))
    if f.cloud:
        query = query.where(ref_filter(f.cloud, col(Cloud.id), col(Cloud.name)))
    if f.region:
        query = query.where(col(Zone.region) == f.region)
    if f.zone:
        query = query.where(zone_ref(f.zone))
    department = department_id(session, viewer, f.department)
    if f.department and department is not None:
        runs = (
            _department_replicas(department)
            .join(Host, col(Host.id) == col(Replica.host_id))
            .where(col(Host.zone_id) == col(Zone.id))
        )
        query = query.where(runs.exists())
    sort = {
        "name": col(Zone.name),
        "region": col(Zone.region),
        "availability": col(Zone.availability),
    }
    rows = session.execute(
        query.order_by(*order_by(page.sort, sort, col(Zone.id)))
        .offset(page.offset)
        .limit(page.limit)
    ).all()
    items = [
        ZonePublic(
            id=z.id or 0,
            cloud_id=z.cloud_id,
            cloud=cloud_name,
            external_id=z.external_id,
            name=z.name,
            region=z.region,
            availability=z.availability,
            state=z.state,
            host_count=host_count,
            extra=z.extra,
        )
        for z, cloud_name, host_count in rows
    ]
    return Page(items=items, total=count(session, query), limit=page.limit, offset=page.offset)


def zone_ref(value: str) -> sa.ColumnElement[bool]:
    return sa.or_(ref_filter(value, col(Zone.id), col(Zone.name)), col(Zone.external_id) == value)


def department_id(session: Session, viewer: Viewer, ref: str | None) -> int | None:
    """The department a list is narrowed to, from a filter given as id or code.

    Staff: the named department (unknown is a 404, not an empty list), or None for all.
    Department users: always their own; naming any other is a 403 whether or not it
    exists, so the answer leaks no other department's code.
    """
    if viewer.is_department:
        own = session.get(Department, viewer.department_id) if viewer.department_id else None
        if own is None:
            raise Forbidden.of("user.without_department")
        if ref is None or ref.strip() in (str(own.id), own.code):
            return own.id
        raise Forbidden.of("department.own_only")
    if ref is None:
        return None
    found = session.execute(
        sa.select(col(Department.id)).where(
            ref_filter(ref, col(Department.id), col(Department.code))
        )
    ).scalar()
    if found is None:
        raise NotFound.of("department.ref_not_found", department=ref)
    return int(found)


def _department_replicas(department: int) -> AnySelect:
    """Live replicas of one department's workloads; callers correlate them to their rows."""
    return (
        sa.select(col(Replica.id))
        .join(Workload, col(Workload.id) == col(Replica.workload_id))
        .where(col(Workload.department_id) == department, col(Replica.state) != ItemState.gone)
    )


def _host_query(session: Session, viewer: Viewer, f: EstateFilter) -> AnySelect:
    viewer.require(*STAFF)
    region = sa.func.coalesce(col(Zone.region), col(Cloud.region))
    query = (
        sa.select(
            *table_columns(Host),
            col(Cloud.name).label("cloud"),
            col(Zone.name).label("zone"),
            region.label("region"),
        )
        .join(Cloud, col(Cloud.id) == col(Host.cloud_id))
        .outerjoin(Zone, col(Zone.id) == col(Host.zone_id))
        .where(*state_filter(col(Host.state), f.state, HostState))
    )
    if f.cloud:
        query = query.where(ref_filter(f.cloud, col(Cloud.id), col(Cloud.name)))
    if f.zone:
        query = query.where(zone_ref(f.zone))
    if f.region:
        query = query.where(region == f.region)
    if f.arch:
        query = query.where(col(Host.arch) == f.arch)
    if f.q:
        query = query.where(col(Host.name).contains(f.q))
    department = department_id(session, viewer, f.department)
    if department is not None:
        runs = _department_replicas(department).where(col(Replica.host_id) == col(Host.id))
        query = query.where(runs.exists())
    return query


def list_hosts(
    session: Session, viewer: Viewer, f: EstateFilter, page: PageParams
) -> Page[HostPublic]:
    query = _host_query(session, viewer, f)
    sort = {
        "name": col(Host.name),
        "state": col(Host.state),
        "vcpus": col(Host.vcpus),
        "vcpus_used": col(Host.vcpus_used),
        "memory_mb_used": col(Host.memory_mb_used),
    }
    rows = row_dicts(
        core_execute(
            session,
            query.add_columns(_REPLICA_COUNT)
            .order_by(*order_by(page.sort, sort, col(Host.id)))
            .offset(page.offset)
            .limit(page.limit),
        )
    )
    items = [HostPublic.model_validate(row) for row in rows]
    return Page(items=items, total=count(session, query), limit=page.limit, offset=page.offset)


def get_host(session: Session, viewer: Viewer, host_id: int) -> HostPublic:
    row = core_execute(
        session,
        _host_query(session, viewer, EstateFilter(state="up,down,maintenance,gone"))
        .add_columns(_REPLICA_COUNT)
        .where(col(Host.id) == host_id),
    ).first()
    if row is None:
        raise NotFound.of("host.not_found", host=host_id)
    return HostPublic.model_validate(dict(row._mapping))


# A host's live replicas, as a correlated subquery in the page's own statement (one round
# trip fewer than counting them afterwards). Beside ORDER BY ... LIMIT, PostgreSQL evaluates
# such an expensive output column after the limit: only for the rows of the page.
_REPLICA_COUNT = (
    sa.select(sa.func.count(col(Replica.id)))
    .where(col(Replica.host_id) == col(Host.id), col(Replica.state) != ItemState.gone)
    .correlate(Host)
    .scalar_subquery()
    .label("replica_count")
)
