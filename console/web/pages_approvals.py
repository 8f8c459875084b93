"""Approvals: the plans awaiting a cloud admin's decision, one plan in full, approve or reject
with a comment, and the provisioning that follows (polled while it runs, retried if partial).

The decisions go through scheduler.workflow.decide and scheduler.apply.retry, the services of
POST /plans/{id}/approve|reject|retry, so the rules (a rejection says why, a stale rebalance
is refused) and the audit are the API's. As there, provisioning runs after the response in a
background task calling scheduler.apply.apply_plan; the page shows its progress.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from console.deps import SessionDep, SettingsDep
from console.web.approvals_data import (
    IN_FLIGHT,
    PAGE_SIZE,
    list_plans,
    status_labels,
    zone_chart,
    zone_counts,
)
from console.web.render import render, translator
from console.web.roles import page_roles
from console.web.session import check_csrf
from inventory.access import Viewer
from inventory.errors import Invalid
from inventory.models import Decision, PlanStatus, Role
from inventory.models.requests import PlanKind
from inventory.paging import PageParams
from scheduler import apply, views, workflow

router = APIRouter(include_in_schema=False)
AdminPage = Annotated[Viewer, Depends(page_roles(Role.admin))]
PlanId = Annotated[int, Path(ge=1, le=2_147_483_647)]
CsrfField = Annotated[str, Form(max_length=128)]
# Generous on purpose: Decision's own limit (2,000) answers beside the field, not as a page.
CommentField = Annotated[str, Form(max_length=20_000)]


def _link(request: Request, **params: str | int) -> str:
    url = request.url.include_query_params(**params)
    return f"{url.path}?{url.query}"


@router.get("/approvals")
def approvals_page(
    request: Request,
    session: SessionDep,
    viewer: AdminPage,
    show: Annotated[Literal["pending", "decided"], Query()] = "pending",
    kind: Annotated[PlanKind | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    page = list_plans(
        session, PageParams(limit=PAGE_SIZE, offset=offset), decided=show == "decided", kind=kind
    )
    # Beside the queue, the latest decisions: what colleagues decided a moment ago.
    recent = (
        list_plans(session, PageParams(limit=10), decided=True, kind=kind).items
        if show == "pending"
        else []
    )
    return render(
        request,
        "approvals/list.html",
        viewer,
        page=page,
        recent=recent,
        show=show,
        kind=kind.value if kind else "",
        labels=status_labels(translator(request)),
        prev_link=_link(request, offset=max(0, offset - PAGE_SIZE)) if offset else None,
        next_link=(
            _link(request, offset=offset + PAGE_SIZE) if offset + PAGE_SIZE < page.total else None
        ),
    )


def _detail(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    plan_id: int,
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    plan = views.get_plan(session, viewer, plan_id)
    t = translator(request)
    context: dict[str, Any] = {
        "plan": plan,
        "labels": status_labels(t),
        "in_flight": plan.status in IN_FLIGHT,
        "can_retry": plan.status in (PlanStatus.partial, PlanStatus.applying),
    }
    if request.headers.get("hx-request"):
        # The progress poll: only the part that changes.
        return render(request, "approvals/progress.html", viewer, **context)
    zones = zone_counts(plan)
    ask = (
        views.get_request(session, viewer, plan.request_id) if plan.request_id is not None else None
    )
    return render(
        request,
        "approvals/detail.html",
        viewer,
        status_code=status_code,
        ask=ask,
        zones=zones,
        chart=zone_chart(zones, t),
        errors=errors or {},
        typed=typed or {},
        **context,
    )


@router.get("/approvals/{plan_id}")
def approval_page(
    request: Request, plan_id: PlanId, session: SessionDep, viewer: AdminPage
) -> Response:
    return _detail(request, session, viewer, plan_id)


def _provision_later(
    tasks: BackgroundTasks, request: Request, plan_id: int, viewer: Viewer, settings: SettingsDep
) -> None:
    # As POST /plans/{id}/approve does: the decision is committed, the clouds are slow.
    tasks.add_task(
        apply.apply_plan,
        request.app.state.engine,
        request.app.state.box,
        plan_id,
        actor=viewer.username,
        timeout=settings.adapter_timeout_seconds,
    )


def _decide(
    request: Request,
    session: SessionDep,
    viewer: Viewer,
    plan_id: int,
    *,
    approve: bool,
    comment: str,
) -> Response | None:
    """None when decided; the page again with the message beside the comment otherwise."""
    action = "approve" if approve else "reject"
    try:
        body = Decision.model_validate({"comment": comment.strip() or None})
        workflow.decide(session, viewer, plan_id, approve=approve, comment=body.comment)
    except Invalid as exc:
        message = translator(request).error(exc)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
    else:
        session.commit()
        return None
    session.rollback()
    return _detail(
        request,
        session,
        viewer,
        plan_id,
        errors={action: message},
        typed={action: comment},
        status_code=422,
    )


@router.post("/approvals/{plan_id}/approve")
def approve(
    request: Request,
    plan_id: PlanId,
    session: SessionDep,
    viewer: AdminPage,
    settings: SettingsDep,
    tasks: BackgroundTasks,
    comment: CommentField = "",
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, csrf_token)
    failed = _decide(request, session, viewer, plan_id, approve=True, comment=comment)
    if failed is not None:
        return failed
    _provision_later(tasks, request, plan_id, viewer, settings)
    return RedirectResponse(f"/approvals/{plan_id}", 303)


@router.post("/approvals/{plan_id}/reject")
def reject(
    request: Request,
    plan_id: PlanId,
    session: SessionDep,
    viewer: AdminPage,
    comment: CommentField = "",
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, csrf_token)
    failed = _decide(request, session, viewer, plan_id, approve=False, comment=comment)
    return failed or RedirectResponse(f"/approvals/{plan_id}", 303)


@router.post("/approvals/{plan_id}/retry")
def retry(
    request: Request,
    plan_id: PlanId,
    session: SessionDep,
    viewer: AdminPage,
    settings: SettingsDep,
    tasks: BackgroundTasks,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, csrf_token)
    apply.retry(session, viewer, plan_id)
    session.commit()
    _provision_later(tasks, request, plan_id, viewer, settings)
    return RedirectResponse(f"/approvals/{plan_id}", 303)
