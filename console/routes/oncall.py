"""On-call: rotations with layers, overrides and swaps, who is on call now, escalation
policies, severities' response targets and compliance.

Everyone signed in reads (a department user may need to know whom to call). Admins manage
rotations, layers and policies; on-call staff add overrides and swaps for themselves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from sqlmodel import col

from alerts import oncall, oncall_admin, policies, severity
from alerts.oncall_schemas import (
    ComplianceRow,
    LayerCreate,
    LayerUpdate,
    OnCallNow,
    OverrideCreate,
    OverridePublic,
    PolicyCreate,
    PolicyPublic,
    PolicyUpdate,
    RotationCreate,
    RotationPublic,
    RotationUpdate,
    SeverityTarget,
    Stretch,
    SwapCreate,
)
from console.deps import (
    AdminDep,
    Id,
    PageDep,
    SessionDep,
    SettingsDep,
    StaffDep,
    ViewerDep,
    require,
)
from console.one_hop import OneHopRoute
from inventory.access import Viewer
from inventory.models import Role, Rotation
from inventory.paging import Page, count, order_by
from inventory.types import utcnow

router = APIRouter(route_class=OneHopRoute, tags=["on-call"])

OnCallStaff = Annotated[Viewer, Depends(require(Role.admin, Role.oncall))]
At = Annotated[AwareDatetime | None, Query(description="Ask about another instant (default: now)")]


@router.get(
    "/oncall/now",
    response_model=list[OnCallNow],
    summary="Who is on call now, per rotation: since and until when, and which layer or override",
)
def oncall_now(
    session: SessionDep,
    viewer: ViewerDep,
    rotation: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    at: At = None,
) -> list[OnCallNow]:
    if rotation is not None:
        oncall.get_rotation_row(session, rotation)
    found = oncall.who_is_on_call(session, at or utcnow(), rotation)
    return [OnCallNow.model_validate(item) for item in found]


@router.get("/rotations", response_model=Page[RotationPublic])
def rotations_list(session: SessionDep, viewer: ViewerDep, page: PageDep) -> Page[RotationPublic]:
    query = sa.select(Rotation)
    rows = session.execute(
        query.order_by(*order_by(page.sort, {"name": col(Rotation.name)}, col(Rotation.id)))
        .offset(page.offset)
        .limit(page.limit)
    ).scalars()
    now = utcnow()
    return Page(
        items=[oncall.rotation_public(session, r, now) for r in rows],
        total=count(session, query),
        limit=page.limit,
        offset=page.offset,
    )


@router.post("/rotations", response_model=RotationPublic, status_code=201)
def rotations_create(body: RotationCreate, session: SessionDep, viewer: AdminDep) -> RotationPublic:
    rotation = oncall_admin.create_rotation(session, viewer, body)
    session.commit()
    return oncall.rotation_public(session, rotation, utcnow())


@router.get("/rotations/{rotation_id}", response_model=RotationPublic)
def rotations_get(rotation_id: Id, session: SessionDep, viewer: ViewerDep) -> RotationPublic:
    rotation = oncall.get_rotation_row(session, rotation_id)
    return oncall.rotation_public(session, rotation, utcnow())


@router.patch("/rotations/{rotation_id}", response_model=RotationPublic)
def rotations_update(
    rotation_id: Id, body: RotationUpdate, session: SessionDep, viewer: AdminDep
) -> RotationPublic:
    rotation = oncall_admin.update_rotation(session, viewer, rotation_id, body)
    session.commit()
    return oncall.rotation_public(session, rotation, utcnow())


@router.delete("/rotations/{rotation_id}", status_code=204)
def rotations_delete(rotation_id: Id, session: SessionDep, viewer: AdminDep) -> None:
    oncall_admin.delete_rotation(session, viewer, rotation_id)
    session.commit()


@router.post("/rotations/{rotation_id}/layers", response_model=RotationPublic, status_code=201)
def layers_create(
    rotation_id: Id, body: LayerCreate, session: SessionDep, viewer: AdminDep
) -> RotationPublic:
    oncall_admin.add_layer(session, viewer, rotation_id, body)
    session.commit()
    return oncall.rotation_public(session, oncall.get_rotation_row(session, rotation_id), utcnow())


@router.patch("/rotations/{rotation_id}/layers/{layer_id}", response_model=RotationPublic)
def layers_update(
    rotation_id: Id, layer_id: Id, body: LayerUpdate, session: SessionDep, viewer: AdminDep
) -> RotationPublic:
    oncall_admin.update_layer(session, viewer, rotation_id, layer_id, body)
    session.commit()
    return oncall.rotation_public(session, oncall.get_rotation_row(session, rotation_id), utcnow())


@router.delete("/rotations/{rotation_id}/layers/{layer_id}", status_code=204)
def layers_delete(rotation_id: Id, layer_id: Id, session: SessionDep, viewer: AdminDep) -> None:
    oncall_admin.delete_layer(session, viewer, rotation_id, layer_id)
    session.commit()


@router.get(
    "/rotations/{rotation_id}/schedule",
    response_model=list[Stretch],
    summary="Who is on call when, overrides applied (at most 35 days; default the next 7)",
)
def rotations_schedule(
    rotation_id: Id,
    session: SessionDep,
    viewer: ViewerDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> list[Stretch]:
    start = since or utcnow()
    return oncall.stretches(session, rotation_id, start, until or start + timedelta(days=7))


@router.post(
    "/rotations/{rotation_id}/overrides",
    response_model=OverridePublic,
    status_code=201,
    summary="Put someone on call instead (on-call staff: themselves only)",
)
def overrides_create(
    rotation_id: Id, body: OverrideCreate, session: SessionDep, viewer: OnCallStaff
) -> OverridePublic:
    row = oncall_admin.create_override(session, viewer, rotation_id, body, utcnow())
    session.commit()
    return oncall.override_public(row, oncall.users_by_id(session, [row.user_id]))


@router.delete(
    "/rotations/{rotation_id}/overrides/{override_id}",
    status_code=204,
    summary="Remove a future override, or end a running one now",
)
def overrides_delete(
    rotation_id: Id, override_id: Id, session: SessionDep, viewer: OnCallStaff
) -> None:
    oncall_admin.end_override(session, viewer, rotation_id, override_id, utcnow())
    session.commit()


@router.post(
    "/rotations/{rotation_id}/swaps",
    response_model=list[OverridePublic],
    status_code=201,
    summary="Swap two on-call stretches (on-call staff: one of them must be theirs)",
)
def swaps_create(
    rotation_id: Id, body: SwapCreate, session: SessionDep, viewer: OnCallStaff
) -> list[OverridePublic]:
    made = oncall_admin.swap(session, viewer, rotation_id, body, utcnow())
    session.commit()
    users = oncall.users_by_id(session, [r.user_id for r in made])
    return [oncall.override_public(r, users) for r in made]


@router.get("/escalation-policies", response_model=Page[PolicyPublic])
def policies_list(session: SessionDep, viewer: ViewerDep, page: PageDep) -> Page[PolicyPublic]:
    return policies.list_policies(session, page)


@router.post("/escalation-policies", response_model=PolicyPublic, status_code=201)
def policies_create(body: PolicyCreate, session: SessionDep, viewer: AdminDep) -> PolicyPublic:
    policy = policies.create_policy(session, viewer, body)
    session.commit()
    return policies.public(policy)


@router.get("/escalation-policies/{policy_id}", response_model=PolicyPublic)
def policies_get(policy_id: Id, session: SessionDep, viewer: ViewerDep) -> PolicyPublic:
    return policies.public(policies.get_policy(session, policy_id))


@router.patch("/escalation-policies/{policy_id}", response_model=PolicyPublic)
def policies_update(
    policy_id: Id, body: PolicyUpdate, session: SessionDep, viewer: AdminDep
) -> PolicyPublic:
    policy = policies.update_policy(session, viewer, policy_id, body)
    session.commit()
    return policies.public(policy)


@router.delete("/escalation-policies/{policy_id}", status_code=204)
def policies_delete(policy_id: Id, session: SessionDep, viewer: AdminDep) -> None:
    policies.delete_policy(session, viewer, policy_id)
    session.commit()


@router.get(
    "/severities",
    response_model=list[SeverityTarget],
    summary="Response targets: acknowledge within so many minutes, per severity",
)
def severities(viewer: ViewerDep, settings: SettingsDep) -> list[SeverityTarget]:
    return severity.targets_public(settings)


@router.get(
    "/severities/compliance",
    response_model=list[ComplianceRow],
    summary="Per severity, incidents opened in the period that met their response target",
)
def severities_compliance(
    session: SessionDep,
    viewer: StaffDep,
    settings: SettingsDep,
    since: AwareDatetime | None = Query(default=None, description="Default: 30 days ago"),
    until: AwareDatetime | None = Query(default=None, description="Default: now"),
) -> list[ComplianceRow]:
    now = utcnow()
    end = until or now
    return severity.compliance(
        session, now, since or end - timedelta(days=30), end, settings=settings
    )
