"""Departments and quotas: reads scoped to the viewer, writes for admins, all audited."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory import audit
from inventory.access import Viewer
from inventory.errors import Conflict, NotFound
from inventory.models import (
    Department,
    DepartmentCreate,
    DepartmentPublic,
    DepartmentUpdate,
    ItemState,
    Quota,
    QuotaPublic,
    Replica,
    Resource,
    Role,
    Workload,
)
from inventory.paging import Page, PageParams, count, order_by


def usage(session: Session, department_ids: list[int]) -> dict[int, dict[Resource, int]]:
    """What each department's live replicas use now, per quota dimension."""
    rows = session.execute(
        sa.select(
            col(Workload.department_id),
            sa.func.count(col(Replica.id)),
            sa.func.sum(col(Workload.vcpus)),
            sa.func.sum(col(Workload.memory_mb)),
            sa.func.sum(col(Workload.disk_gb)),
            sa.func.sum(col(Workload.gpus)),
        )
        .join(Workload, col(Workload.id) == col(Replica.workload_id))
        .where(
            col(Workload.department_id).in_(department_ids),
            col(Replica.state) != ItemState.gone,
            col(Workload.state) != ItemState.gone,
        )
        .group_by(col(Workload.department_id))
    ).all()
    found: dict[int, dict[Resource, int]] = {d: dict.fromkeys(Resource, 0) for d in department_ids}
    for dept, instances, vcpus, memory, disk, gpus in rows:
        found[dept] = {
            Resource.instances: int(instances or 0),
            Resource.vcpus: int(vcpus or 0),
            Resource.memory_mb: int(memory or 0),
            Resource.disk_gb: int(disk or 0),
            Resource.gpus: int(gpus or 0),
        }
    return found


def limits(session: Session, department_id: int) -> dict[Resource, int]:
    """The department's quota limits; a resource without a row is unlimited."""
    rows = session.execute(
        sa.select(Quota).where(col(Quota.department_id) == department_id)
    ).scalars()
    return {Resource(q.resource): q.limit for q in rows}


def list_departments(
    session: Session, viewer: Viewer, page: PageParams, q: str | None = None
) -> Page[DepartmentPublic]:
    query = sa.select(Department)
    scope = viewer.department_scope(None)
    if scope is not None:
        query = query.where(col(Department.id) == scope)
    if q:
        query = query.where(
            sa.or_(col(Department.code).contains(q), col(Department.name).contains(q))
        )
    sort = {"code": col(Department.code), "name": col(Department.name)}
    rows = list(
        session.execute(
            query.order_by(*order_by(page.sort, sort, col(Department.id)))
            .offset(page.offset)
            .limit(page.limit)
        ).scalars()
    )
    return Page(
        items=_public(session, rows),
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


def get_department(session: Session, viewer: Viewer, department_id: int) -> DepartmentPublic:
    if viewer.is_department and viewer.department_id != department_id:
        raise NotFound.of("department.not_found", department=department_id)
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound.of("department.not_found", department=department_id)
    return _public(session, [department])[0]


def _public(session: Session, departments: list[Department]) -> list[DepartmentPublic]:
    ids = [d.id for d in departments if d.id is not None]
    used = usage(session, ids)
    quotas: dict[int, list[Quota]] = {i: [] for i in ids}
    for quota in session.execute(
        sa.select(Quota).where(col(Quota.department_id).in_(ids))
    ).scalars():
        quotas[quota.department_id].append(quota)
    workloads = dict(
        session.execute(
            sa.select(col(Workload.department_id), sa.func.count(col(Workload.id)))
            .where(col(Workload.department_id).in_(ids), col(Workload.state) != ItemState.gone)
            .group_by(col(Workload.department_id))
        ).all()
    )
    return [
        DepartmentPublic(
            id=d.id or 0,
            code=d.code,
            name=d.name,
            contact=d.contact,
            workload_count=int(workloads.get(d.id, 0)),
            quotas=[
                QuotaPublic(
                    resource=q.resource, limit=q.limit, used=used[d.id or 0][Resource(q.resource)]
                )
                for q in sorted(
                    quotas[d.id or 0], key=lambda q: list(Resource).index(Resource(q.resource))
                )
            ],
        )
        for d in departments
    ]


def create_department(session: Session, viewer: Viewer, data: DepartmentCreate) -> DepartmentPublic:
    viewer.require(Role.admin)
    if session.execute(
        sa.select(col(Department.id)).where(col(Department.code) == data.code)
    ).first():
        raise Conflict.of("department.taken", field="code", code=data.code)
    department = Department(code=data.code, name=data.name, contact=data.contact)
    session.add(department)
    session.flush()
    for resource, limit in data.quotas.items():
        session.add(Quota(department_id=department.id or 0, resource=resource, limit=limit))
    audit.record(
        session,
        actor=viewer.username,
        action="department.create",
        target_type="department",
        target_id=department.id,
        after={
            **audit.state_of(department),
            "quotas": {r.value: v for r, v in data.quotas.items()},
        },
    )
    session.flush()
    return _public(session, [department])[0]


def update_department(
    session: Session, viewer: Viewer, department_id: int, data: DepartmentUpdate
) -> DepartmentPublic:
    viewer.require(Role.admin)
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound.of("department.not_found", department=department_id)
    before = audit.state_of(department)
    department.sqlmodel_update(data.model_dump(exclude_unset=True))
    session.add(department)
    old, new = audit.diff(before, audit.state_of(department))
    if new:
        audit.record(
            session,
            actor=viewer.username,
            action="department.update",
            target_type="department",
            target_id=department_id,
            before=old,
            after=new,
        )
    session.flush()
    return _public(session, [department])[0]


def set_quotas(
    session: Session, viewer: Viewer, department_id: int, limits: dict[Resource, int | None]
) -> DepartmentPublic:
    """Set or (with None) remove limits; dimensions not named are left as they are."""
    viewer.require(Role.admin)
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound.of("department.not_found", department=department_id)
    current = {
        Resource(q.resource): q
        for q in session.execute(
            sa.select(Quota).where(col(Quota.department_id) == department_id)
        ).scalars()
    }
    before = {r.value: q.limit for r, q in current.items()}
    for resource, limit in limits.items():
        quota = current.get(resource)
        if limit is None:
            if quota is not None:
                session.delete(quota)
        elif quota is None:
            session.add(Quota(department_id=department_id, resource=resource, limit=limit))
        else:
            quota.limit = limit
            session.add(quota)
    after = {**before, **{r.value: v for r, v in limits.items()}}
    after = {k: v for k, v in after.items() if v is not None}
    old, new = audit.diff(before, after)
    removed = {k: None for k in before if k not in after}
    if new or removed:
        audit.record(
            session,
            actor=viewer.username,
            action="department.quotas",
            target_type="department",
            target_id=department_id,
            before={**old, **{k: before[k] for k in removed}},
            after={**new, **removed},
        )
    session.flush()
    return _public(session, [department])[0]
