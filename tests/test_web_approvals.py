"""The approvals pages: the queue, a plan in full, approve/reject with a comment, provisioning
progress and retry, on both databases."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlmodel import Session, col

from inventory.accounts import viewer_of
from inventory.models import (
    Allocation,
    AllocationStatus,
    AuditEvent,
    Plan,
    PlanStatus,
    RequestCreate,
    RequestStatus,
    ResourceRequest,
    User,
)
from inventory.models.requests import PlanKind
from scheduler import workflow
from tests.factories import SMALL_REQUEST, World
from tests.test_web_console import browser, csrf_of, log_in


def new_plan(world: World, service: str, replicas: int = 2) -> int:
    """A fresh request of department A with its proposed plan; each test gets its own."""
    with Session(world.engine, expire_on_commit=False) as session:
        user = session.execute(sa.select(User).where(col(User.username) == "depta")).scalar_one()
        data = RequestCreate.model_validate(
            {**SMALL_REQUEST, "service_name": service, "replicas": replicas}
        )
        request = workflow.submit(session, viewer_of(user), data, time_limit=2)
        session.flush()
        plan = session.execute(
            sa.select(sa.func.max(col(Plan.id))).where(col(Plan.request_id) == request.id)
        ).scalar_one()
        session.commit()
        return int(plan)


def plan_row(world: World, plan_id: int) -> Plan:
    with Session(world.engine, expire_on_commit=False) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        return plan


def set_status(world: World, plan_id: int, status: PlanStatus) -> None:
    with Session(world.engine) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        plan.status = status
        session.add(plan)
        session.commit()


def admin(world: World):  # type: ignore[no-untyped-def]
    client = browser(world)
    log_in(client, "admin1")
    return client


def test_only_admins_open_approvals(world: World) -> None:
    plan_id = new_plan(world, "web-roles")
    client = admin(world)
    assert client.get("/approvals").status_code == 200
    assert client.get(f"/approvals/{plan_id}").status_code == 200
    for user in ("oncall1", "manager1", "depta"):
        other = browser(world)
        log_in(other, user)
        for path in ("/approvals", f"/approvals/{plan_id}"):
            response = other.get(path, headers={"accept": "text/html"})
            assert response.status_code == 403, (user, path)
    # a department user cannot decide its own plan through the page either
    other = browser(world)
    log_in(other, "depta")
    other.get("/approvals", headers={"accept": "text/html"})  # sets the CSRF seed
    token = world.box.mac("csrf", other.cookies.get("yh_csrf") or "")
    response = other.post(f"/approvals/{plan_id}/approve", data={"csrf_token": token})
    assert response.status_code == 403
    assert plan_row(world, plan_id).status == PlanStatus.proposed


def test_queue_lists_proposed_plans_with_their_request(world: World) -> None:
    plan_id = new_plan(world, "web-queue", replicas=3)
    page = admin(world).get("/approvals")
    assert page.status_code == 200
    row = re.search(rf'<a href="/approvals/{plan_id}">.*?</tr>', page.text, re.S)
    assert row, "the proposed plan is listed"
    assert "web-queue · dept-a" in row.group(0)
    assert '<td class="num">3</td>' in row.group(0)  # replicas
    assert "待审批" in row.group(0)
    # the kind filter keeps place plans and drops them for rebalance
    assert f"/approvals/{plan_id}" in admin(world).get("/approvals?kind=place").text
    assert f"/approvals/{plan_id}" not in admin(world).get("/approvals?kind=rebalance").text
    # a bad filter value is refused as a page, not a crash
    response = admin(world).get("/approvals?kind=nope", headers={"accept": "text/html"})
    assert response.status_code == 422


def test_detail_shows_assignments_cost_and_chart(world: World) -> None:
    plan_id = new_plan(world, "web-detail", replicas=2)
    plan = plan_row(world, plan_id)
    page = admin(world).get(f"/approvals/{plan_id}").text
    assert "web-detail" in page and "dept-a" in page
    assert f"{plan.cost_per_hour:.2f}" in page
    assert "data-chart=" in page and "echarts" in page
    # the chart's bars add up to the replicas, one bar per zone used
    chart = re.search(r'data-chart="([^"]+)"', page)
    assert chart
    data = re.search(r"&#34;data&#34;:\[([0-9,]+)\]", chart.group(1))
    assert data and sum(int(n) for n in data.group(1).split(",")) == 2
    assert f'action="/approvals/{plan_id}/approve"' in page
    assert f'action="/approvals/{plan_id}/reject"' in page
    assert "hx-trigger" not in page  # nothing to poll before a decision


def test_reject_needs_a_comment(world: World) -> None:
    plan_id = new_plan(world, "web-reject")
    client = admin(world)
    token = csrf_of(client.get(f"/approvals/{plan_id}").text)
    response = client.post(f"/approvals/{plan_id}/reject", data={"csrf_token": token})
    assert response.status_code == 422
    assert 'id="reject-comment-error"' in response.text
    assert "请填写驳回理由，申请部门会看到" in response.text
    assert 'aria-describedby="reject-comment-error"' in response.text
    assert plan_row(world, plan_id).status == PlanStatus.proposed
    response = client.post(
        f"/approvals/{plan_id}/reject",
        data={"csrf_token": token, "comment": "超出本季度预算"},
    )
    assert response.status_code == 303
    plan = plan_row(world, plan_id)
    assert plan.status == PlanStatus.rejected and plan.comment == "超出本季度预算"
    assert plan.decided_by == "admin1"
    page = client.get(f"/approvals/{plan_id}").text
    assert "超出本季度预算" in page and "已驳回" in page


def test_too_long_comment_is_kept_and_explained(world: World) -> None:
    plan_id = new_plan(world, "web-long")
    client = admin(world)
    token = csrf_of(client.get(f"/approvals/{plan_id}").text)
    long = "x" * 2001
    response = client.post(
        f"/approvals/{plan_id}/approve", data={"csrf_token": token, "comment": long}
    )
    assert response.status_code == 422
    assert 'id="approve-comment-error"' in response.text
    assert long in response.text
    assert plan_row(world, plan_id).status == PlanStatus.proposed


def test_approve_provisions_and_shows_progress(world: World) -> None:
    plan_id = new_plan(world, "web-approve", replicas=2)
    client = admin(world)
    token = csrf_of(client.get(f"/approvals/{plan_id}").text)
    response = client.post(
        f"/approvals/{plan_id}/approve", data={"csrf_token": token, "comment": "同意"}
    )
    assert response.status_code == 303
    # the background task ran the same apply as the API: the plan is applied
    plan = plan_row(world, plan_id)
    assert plan.status == PlanStatus.applied
    with Session(world.engine) as session:
        statuses = session.execute(
            sa.select(col(Allocation.status)).where(col(Allocation.plan_id) == plan_id)
        ).scalars()
        assert sorted(statuses) == [AllocationStatus.provisioned] * 2
        request = session.get(ResourceRequest, plan.request_id)
        assert request is not None and request.status == RequestStatus.fulfilled
        actions = session.execute(
            sa.select(col(AuditEvent.action)).where(
                col(AuditEvent.target_type) == "plan", col(AuditEvent.target_id) == plan_id
            )
        ).scalars()
        assert {"plan.approve", "plan.applied"} <= set(actions)
    page = client.get(f"/approvals/{plan_id}").text
    assert page.count("已开通") == 2
    assert "hx-trigger" not in page  # settled: no more polling


def test_progress_polls_while_provisioning(world: World) -> None:
    plan_id = new_plan(world, "web-poll")
    set_status(world, plan_id, PlanStatus.approved)
    client = admin(world)
    page = client.get(f"/approvals/{plan_id}").text
    assert 'hx-trigger="every 3s"' in page
    partial = client.get(f"/approvals/{plan_id}", headers={"hx-request": "true"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<section id="progress"')
    assert "<html" not in partial.text


def test_retry_a_partial_plan(world: World) -> None:
    plan_id = new_plan(world, "web-retry")
    set_status(world, plan_id, PlanStatus.partial)
    with Session(world.engine) as session:
        for allocation in session.execute(
            sa.select(Allocation).where(col(Allocation.plan_id) == plan_id)
        ).scalars():
            allocation.status, allocation.error = AllocationStatus.failed, "quota exceeded"
            session.add(allocation)
        session.commit()
    client = admin(world)
    page = client.get(f"/approvals/{plan_id}").text
    assert "quota exceeded" in page and "部分完成" in page
    assert f'action="/approvals/{plan_id}/retry"' in page
    response = client.post(f"/approvals/{plan_id}/retry", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 303
    assert plan_row(world, plan_id).status == PlanStatus.applied
    # retrying a plan that is not partial is a conflict, shown as a page
    response = client.post(
        f"/approvals/{plan_id}/retry",
        data={"csrf_token": csrf_of(page)},
        headers={"accept": "text/html"},
    )
    assert response.status_code == 409 and "<html" in response.text


def test_decisions_need_the_csrf_token(world: World) -> None:
    plan_id = new_plan(world, "web-csrf")
    client = admin(world)
    client.get(f"/approvals/{plan_id}")
    for action in ("approve", "reject", "retry"):
        response = client.post(
            f"/approvals/{plan_id}/{action}", data={"csrf_token": "forged", "comment": "x"}
        )
        assert response.status_code == 403, action
    assert plan_row(world, plan_id).status == PlanStatus.proposed


def test_rebalance_plans_are_listed_and_shown(world: World) -> None:
    with Session(world.engine, expire_on_commit=False) as session:
        plan = Plan(
            kind=PlanKind.rebalance,
            status=PlanStatus.proposed,
            solver="cp-sat",
            cost_per_hour=4.5,
            summary={"moves": 3, "migration_budget": 5, "hosts_before": 4, "hosts_after": 2},
        )
        session.add(plan)
        session.commit()
        plan_id = plan.id
    client = admin(world)
    listed = client.get("/approvals?kind=rebalance").text
    row = re.search(rf'<a href="/approvals/{plan_id}">.*?</tr>', listed, re.S)
    assert row and "资源重平衡" in row.group(0) and '<td class="num">3</td>' in row.group(0)
    page = client.get(f"/approvals/{plan_id}").text
    assert "3 / 5" in page and "4 → 2" in page
    set_status(world, plan_id or 0, PlanStatus.superseded)


def test_missing_plan_is_404(world: World) -> None:
    response = admin(world).get("/approvals/999999", headers={"accept": "text/html"})
    assert response.status_code == 404


def test_pages_carry_no_inline_script_or_external_url(world: World) -> None:
    plan_id = new_plan(world, "web-csp")
    client = admin(world)
    for path in ["/approvals", f"/approvals/{plan_id}"]:
        html = client.get(path).text
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag, f"{path}: inline script {tag}"
        for url in re.findall(r"""(?:src|href|action)=["']([^"']+)""", html):
            assert url.startswith(("/", "#")), f"{path}: external {url}"
