"""Read workloads with their replicas, scoped to the viewer's department."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.access import Viewer
from inventory.errors import NotFound
from inventory.estate import EstateFilter, department_id, state_filter, zone_ref
from inventory.models import (
    Cloud,
    Department,
    Host,
    ItemState,
    Replica,
    Workload,
    WorkloadPublic,
    Zone,
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


def _workload_query(session: Session, viewer: Viewer, f: EstateFilter) -> AnySelect:
    department = department_id(session, viewer, f.department)
    query = (
        sa.select(
            *table_columns(Workload),
            col(Cloud.name).label("cloud"),
            col(Department.code).label("department"),
        )
        .outerjoin(Cloud, col(Cloud.id) == col(Workload.cloud_id))
        .outerjoin(Department, col(Department.id) == col(Workload.department_id))
        .where(*state_filter(col(Workload.state), f.state, ItemState))
    )
    if department is not None:
        query = query.where(col(Workload.department_id) == department)
    if f.cloud:
        query = query.where(ref_filter(f.cloud, col(Cloud.id), col(Cloud.name)))
    if f.kind:
        query = query.where(col(Workload.kind) == f.kind)
    if f.q:
        query = query.where(col(Workload.name).contains(f.q))
    if f.zone or f.region:
        # A workload is "in" a zone or region when one of its live replicas is.
        placed = (
            sa.select(col(Replica.id))
            .join(Host, col(Host.id) == col(Replica.host_id))
            .join(Zone, col(Zone.id) == col(Host.zone_id))
            .where(
                col(Replica.workload_id) == col(Workload.id), col(Replica.state) != ItemState.gone
            )
        )
        if f.zone:
            placed = placed.where(zone_ref(f.zone))
        if f.region:
            placed = placed.where(col(Zone.region) == f.region)
        query = query.where(placed.exists())
    return query


def list_workloads(
    session: Session, viewer: Viewer, f: EstateFilter, page: PageParams
) -> Page[WorkloadPublic]:
    query = _workload_query(session, viewer, f)
    sort = {"name": col(Workload.name), "state": col(Workload.state), "vcpus": col(Workload.vcpus)}
    rows = row_dicts(
        core_execute(
            session,
            query.order_by(*order_by(page.sort, sort, col(Workload.id)))
            .offset(page.offset)
            .limit(page.limit),
        )
    )
    replicas = _replicas_of(session, [row["id"] for row in rows])
    items = [_public(row, replicas[row["id"]]) for row in rows]
    return Page(items=items, total=count(session, query), limit=page.limit, offset=page.offset)


def get_workload(session: Session, viewer: Viewer, workload_id: int) -> WorkloadPublic:
    f = EstateFilter(state="active,degraded,gone")
    row = core_execute(
        session, _workload_query(session, viewer, f).where(col(Workload.id) == workload_id)
    ).first()
    if row is None:
        # Same answer for "missing" and "another department's": ids must not leak.
        raise NotFound.of("workload.not_found", workload=workload_id)
    return _public(dict(row._mapping), _replicas_of(session, [workload_id])[workload_id])


def _public(row: dict[str, Any], replicas: list[dict[str, Any]]) -> WorkloadPublic:
    """From a core row of _workload_query: the workload's columns, cloud and department,
    with its replicas (ReplicaPublic's fields) validated in the same call."""
    return WorkloadPublic.model_validate({**row, "replicas": replicas})


def _replicas_of(
    session: Session, workload_ids: list[int | None]
) -> dict[int | None, list[dict[str, Any]]]:
    found: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    if not workload_ids:
        return found
    rows = row_dicts(
        core_execute(
            session,
            sa.select(
                col(Replica.id),
                col(Replica.workload_id),
                col(Replica.name),
                col(Replica.external_id),
                col(Replica.state),
                col(Replica.host_id),
                col(Host.name).label("host"),
                col(Zone.name).label("zone"),
            )
            .outerjoin(Host, col(Host.id) == col(Replica.host_id))
            .outerjoin(Zone, col(Zone.id) == col(Host.zone_id))
            .where(col(Replica.workload_id).in_(workload_ids), col(Replica.state) != ItemState.gone)
            .order_by(col(Replica.id)),
        )
    )
    for r in rows:
        found[r["workload_id"]].append(r)  # workload_id: ignored by ReplicaPublic
    return found
