"""The role x endpoint matrix: every API route, what each role gets, and the rows the
cases need (shared by tests/test_api_roles.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from httpx2 import Response
from sqlmodel import Session, col

from alerts import oncall_admin, policies
from alerts.oncall_schemas import OverrideCreate, PolicyCreate, RotationCreate
from inventory.models import (
    ChannelKind,
    InboxMessage,
    NotificationChannel,
    Plan,
    PlanStatus,
    RotationLayer,
    VendorContractCreate,
)
from inventory.models.requests import PlanKind
from sla import contracts, stored
from tests import factories
from tests.alert_builders import matrix_rows
from tests.factories import World

API = "/api/v1"
ROLES = ("anonymous", "garbage", "admin", "department", "oncall", "manager")
GARBAGE = {"Authorization": "Bearer yh_not-a-real-token"}


# --- The matrix ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    method: str
    path: str  # as the OpenAPI spells it
    expect: dict[str, int]  # role -> status
    body: Any = None  # or a function of the World, for bodies naming its rows


def everyone(code: int) -> dict[str, int]:
    return {"admin": code, "department": code, "oncall": code, "manager": code}


def only(code: int, *roles: str) -> dict[str, int]:
    return {role: code if role in roles else 403 for role in everyone(0)}


def public(code: int) -> dict[str, int]:
    return {**everyone(code), "anonymous": code, "garbage": code}


STAFF = ("admin", "oncall", "manager")
ALERT_PATHS = (
    "/alerts/{",
    "/incidents/",
    "/silences/",
    "/maintenance-windows/",
    "/inhibit-rules/",
    "/alert-routes/",
)
# An Alertmanager webhook as an older Alertmanager posts it (no notification_reason).
AM_PAYLOAD = {
    "version": "4",
    "status": "firing",
    "receiver": "yunheng",
    "alerts": [{"status": "firing", "labels": {"alertname": "MatrixIntake"}}],
}
# 09:00 in Shanghai two days from now: where the matrix's rotations start.
SOON_AT = (datetime.now(UTC) + timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)
SOON = SOON_AT.isoformat()


def in_hours(hours: float) -> str:
    return (SOON_AT + timedelta(hours=hours)).isoformat()


def user_target(world: World) -> dict[str, Any]:
    return {"type": "user", "id": world.target.user.id}


MATRIX = [
    Rule(
        "POST",
        "/auth/login",
        public(200),
        {"username": "manager1", "password": factories.PASSWORD},
    ),
    Rule("POST", "/auth/logout", everyone(204)),
    Rule("GET", "/me", everyone(200)),
    Rule("GET", "/tokens", everyone(200)),
    Rule("POST", "/tokens", everyone(201), {"name": "matrix"}),
    Rule("DELETE", "/tokens/{token_id}", everyone(204)),
    Rule("GET", "/clouds", everyone(200)),
    Rule(
        "POST",
        "/clouds",
        only(201, "admin"),
        {
            "name": "matrix-cloud",
            "kind": "simulator",
            "vendor": "Matrix",
            "region": "rm",
            "security_level": 2,
            "settings": {"hosts_per_zone": 1, "workloads": 1},
        },
    ),
    Rule("GET", "/clouds/{cloud_id}", everyone(200)),
    Rule("PATCH", "/clouds/{cloud_id}", only(200, "admin"), {"vendor": "Matrix Vendor"}),
    Rule("POST", "/clouds/{cloud_id}/sync", only(200, "admin")),
    Rule("GET", "/clouds/{cloud_id}/check", only(200, "admin", "oncall")),
    Rule("GET", "/zones", everyone(200)),
    Rule("GET", "/hosts", only(200, *STAFF)),
    Rule("GET", "/hosts/{host_id}", only(200, *STAFF)),
    Rule("GET", "/workloads", everyone(200)),
    Rule("GET", "/workloads/{workload_id}", everyone(200)),  # department A's, asked by A
    Rule("GET", "/departments", everyone(200)),
    Rule("POST", "/departments", only(201, "admin"), {"code": "matrix-dept", "name": "Matrix"}),
    Rule("GET", "/departments/{department_id}", everyone(200)),  # A's, asked by A
    Rule("PATCH", "/departments/{department_id}", only(200, "admin"), {"contact": "matrix"}),
    Rule("PUT", "/departments/{department_id}/quotas", only(200, "admin"), {"gpus": 2}),
    Rule("GET", "/users", only(200, "admin")),
    Rule(
        "POST",
        "/users",
        only(201, "admin"),
        {"username": "matrix-user", "role": "oncall", "password": "matrix-password"},
    ),
    Rule("PATCH", "/users/{user_id}", only(200, "admin"), {"display_name": "Matrix"}),
    Rule("GET", "/audit", only(200, "admin", "manager")),
    # Admins pass the role gate and are asked whose department (422); department users submit.
    Rule(
        "POST",
        "/requests",
        {"admin": 422, "department": 201, "oncall": 403, "manager": 403},
        factories.SMALL_REQUEST,
    ),
    Rule("GET", "/requests", everyone(200)),
    Rule("GET", "/requests/{request_id}", everyone(200)),  # A's, asked by A
    Rule("POST", "/requests/{request_id}/replan", only(200, "admin", "department")),
    Rule("GET", "/plans/{plan_id}", everyone(200)),
    Rule("POST", "/plans/{plan_id}/approve", only(200, "admin"), {}),
    Rule("POST", "/plans/{plan_id}/reject", only(200, "admin"), {"comment": "matrix"}),
    # Retrying a plan that is not partial passes the gate and conflicts.
    Rule("POST", "/plans/{plan_id}/retry", only(409, "admin")),
    # Rebalance plans: admins propose and decide, managers read. A proposal answers 200
    # whether or not it finds moves worth proposing.
    Rule("POST", "/rebalance", only(200, "admin"), {"migration_budget": 2, "time_limit": 2}),
    Rule("GET", "/rebalance", only(200, "admin", "manager")),
    Rule("GET", "/rebalance/{plan_id}", only(200, "admin", "manager")),
    # On-call: everyone reads; admins manage rotations and policies; on-call staff add
    # overrides and swaps for themselves (oncall1 is not on the swapped rotation: 403).
    Rule("GET", "/oncall/now", everyone(200)),
    Rule("GET", "/rotations", everyone(200)),
    Rule("POST", "/rotations", only(201, "admin"), {"name": "matrix-rotation"}),
    Rule("GET", "/rotations/{rotation_id}", everyone(200)),
    Rule("PATCH", "/rotations/{rotation_id}", only(200, "admin"), {"timezone": "Asia/Urumqi"}),
    Rule("DELETE", "/rotations/{rotation_id}", only(204, "admin")),
    Rule(
        "POST",
        "/rotations/{rotation_id}/layers",
        only(201, "admin"),
        lambda w: {"name": "m", "member_ids": [w.target.user.id], "starts_at": SOON},
    ),
    Rule("PATCH", "/rotations/{rotation_id}/layers/{layer_id}", only(200, "admin"), {"name": "n"}),
    Rule("DELETE", "/rotations/{rotation_id}/layers/{layer_id}", only(204, "admin")),
    Rule("GET", "/rotations/{rotation_id}/schedule", everyone(200)),
    Rule(
        "POST",
        "/rotations/{rotation_id}/overrides",
        only(201, "admin", "oncall"),
        {"starts_at": SOON, "ends_at": in_hours(1)},
    ),
    # The override is target1's: oncall1 may not remove it.
    Rule("DELETE", "/rotations/{rotation_id}/overrides/{override_id}", only(204, "admin")),
    Rule(
        "POST",
        "/rotations/{rotation_id}/swaps",
        only(201, "admin"),
        {"shift_at": in_hours(3), "with_shift_at": in_hours(27)},
    ),
    Rule("GET", "/escalation-policies", everyone(200)),
    Rule(
        "POST",
        "/escalation-policies",
        only(201, "admin"),
        lambda w: {"name": "matrix-policy", "steps": [{"targets": [user_target(w)]}]},
    ),
    Rule("GET", "/escalation-policies/{policy_id}", everyone(200)),
    Rule("PATCH", "/escalation-policies/{policy_id}", only(200, "admin"), {"description": "m"}),
    Rule("DELETE", "/escalation-policies/{policy_id}", only(204, "admin")),
    Rule("GET", "/severities", everyone(200)),
    Rule("GET", "/severities/compliance", only(200, *STAFF)),
    # Alerts and incidents: everyone reads (department users what is labelled theirs; the
    # matrix's rows are department A's); on-call staff and admins act, each on a fresh row.
    Rule("GET", "/alerts", everyone(200)),
    Rule("POST", "/alerts/alertmanager", only(200, "admin", "oncall"), AM_PAYLOAD),
    Rule("GET", "/alerts/{alert_id}", everyone(200)),
    Rule("POST", "/alerts/{alert_id}/ack", only(200, "admin", "oncall")),
    Rule("POST", "/alerts/{alert_id}/resolve", only(200, "admin", "oncall")),
    Rule("GET", "/incidents", everyone(200)),
    Rule("GET", "/incidents/{incident_id}", everyone(200)),
    Rule("POST", "/incidents/{incident_id}/ack", only(200, "admin", "oncall")),
    Rule("POST", "/incidents/{incident_id}/resolve", only(200, "admin", "oncall"), {}),
    Rule("POST", "/incidents/{incident_id}/escalate", only(200, "admin", "oncall")),
    Rule("POST", "/incidents/{incident_id}/notes", only(201, "admin", "oncall"), {"text": "m"}),
    # Silences and maintenance windows are on-call work; inhibition and routes are admins'.
    Rule("GET", "/silences", only(200, *STAFF)),
    Rule(
        "POST",
        "/silences",
        only(201, "admin", "oncall"),
        {"matchers": ['alertname="MatrixSilence"'], "duration_minutes": 30, "comment": "m"},
    ),
    Rule("GET", "/silences/{silence_id}", only(200, *STAFF)),
    Rule("PATCH", "/silences/{silence_id}", only(200, "admin", "oncall"), {"comment": "n"}),
    Rule("DELETE", "/silences/{silence_id}", only(200, "admin", "oncall")),
    Rule("GET", "/maintenance-windows", only(200, *STAFF)),
    Rule(
        "POST",
        "/maintenance-windows",
        only(201, "admin", "oncall"),
        lambda w: {
            "name": f"matrix-{uuid.uuid4().hex[:8]}",
            "matchers": ["service=matrix"],
            "start_time": "02:00",
            "duration_minutes": 60,
        },
    ),
    Rule("GET", "/maintenance-windows/{window_id}", only(200, *STAFF)),
    Rule(
        "PATCH", "/maintenance-windows/{window_id}", only(200, "admin", "oncall"), {"comment": "n"}
    ),
    Rule("DELETE", "/maintenance-windows/{window_id}", only(204, "admin", "oncall")),
    Rule("GET", "/inhibit-rules", only(200, *STAFF)),
    Rule(
        "POST",
        "/inhibit-rules",
        only(201, "admin"),
        {"source_matchers": ["alertname=A"], "target_matchers": ["alertname=B"]},
    ),
    Rule("GET", "/inhibit-rules/{rule_id}", only(200, *STAFF)),
    Rule("PATCH", "/inhibit-rules/{rule_id}", only(200, "admin"), {"equal": ["cloud"]}),
    Rule("DELETE", "/inhibit-rules/{rule_id}", only(204, "admin")),
    Rule("GET", "/alert-routes", only(200, *STAFF)),
    Rule(
        "POST",
        "/alert-routes",
        only(201, "admin"),
        lambda w: {"name": f"matrix-{uuid.uuid4().hex[:8]}", "matchers": ["case=none"]},
    ),
    Rule("GET", "/alert-routes/{route_id}", only(200, *STAFF)),
    Rule("PATCH", "/alert-routes/{route_id}", only(200, "admin"), {"group_wait_seconds": 5}),
    Rule("DELETE", "/alert-routes/{route_id}", only(204, "admin")),
    # Notification channels: admins manage them, staff read them (secrets never leave), on-call
    # staff and admins send a test (the matrix's channel is an inbox: the tester's own).
    # Everyone has an inbox of their own; each case reads a message of its caller's.
    Rule("GET", "/channels", only(200, *STAFF)),
    Rule(
        "POST",
        "/channels",
        only(201, "admin"),
        lambda w: {"name": f"matrix-{uuid.uuid4().hex[:8]}", "kind": "inbox"},
    ),
    Rule("GET", "/channels/{channel_id}", only(200, *STAFF)),
    Rule("PATCH", "/channels/{channel_id}", only(200, "admin"), {"settings": {"language": "en"}}),
    Rule("DELETE", "/channels/{channel_id}", only(204, "admin")),
    Rule("POST", "/channels/{channel_id}/test", only(200, "admin", "oncall")),
    Rule("GET", "/deliveries", only(200, *STAFF)),
    Rule("GET", "/inbox", everyone(200)),
    Rule("POST", "/inbox/{message_id}/read", everyone(200)),
    # SLA: admins manage vendor contracts; managers read them and the settlement (money);
    # staff read incident metrics. Each contract case gets a fresh contract of its own.
    Rule("GET", "/sla/contracts", only(200, "admin", "manager")),
    Rule("POST", "/sla/contracts", only(201, "admin"), lambda w: sla_contract_body()),
    Rule("GET", "/sla/contracts/{contract_id}", only(200, "admin", "manager")),
    Rule("PATCH", "/sla/contracts/{contract_id}", only(200, "admin"), {"monthly_fee": "1.00"}),
    Rule("DELETE", "/sla/contracts/{contract_id}", only(204, "admin")),
    Rule("GET", "/sla/incidents", only(200, *STAFF)),
    Rule("GET", "/sla/settlement", only(200, "admin", "manager")),
    Rule("GET", "/sla/report", only(200, "admin", "manager")),
    Rule("GET", "/sla/report.csv", only(200, "admin", "manager")),
    # Stored reports: admins and managers list, read and generate (a past month: stored).
    Rule("GET", "/sla/reports", only(200, "admin", "manager")),
    Rule("GET", "/sla/reports/{month}", only(200, "admin", "manager")),
    Rule("POST", "/sla/reports/{month}", only(201, "admin", "manager")),
    Rule("GET", "/sla/report.html", only(200, "admin", "manager")),
    Rule("GET", "/sla/report.pdf", only(200, "admin", "manager")),
]

CASES = [
    pytest.param(
        rule,
        role,
        {"anonymous": 401, "garbage": 401, **rule.expect}[role],
        id=f"{rule.method} {rule.path} as {role}",
    )
    for rule in MATRIX
    for role in ROLES
]


def actor_for(world: World, role: str) -> factories.Actor:
    e = world.estate
    # The department role is department A's user; the matrix's resources belong to A.
    return {"department": e.dept_a, "oncall": e.oncall, "manager": e.manager}.get(role, e.admin)


def concrete(world: World, path: str, role: str) -> str:
    e = world.estate
    values = {
        "cloud_id": e.clouds[0].id,
        "host_id": world.host_id,
        "workload_id": world.workload_a,
        "department_id": e.department_a.id,
        "user_id": world.target.user.id,
        "request_id": world.requests["replan" if "replan" in path else "approve"],
        "plan_id": world.plans["reject" if path.endswith("/reject") else "approve"],
    }
    if "{token_id}" in path:  # the caller's own API token
        values["token_id"] = world.api_token(actor_for(world, role))
    if path.startswith("/rebalance/"):
        values["plan_id"] = rebalance_plan(
            world, "reject" if path.endswith("/reject") else "approve"
        )
    if path.startswith(("/rotations/", "/escalation-policies/")):
        values.update(oncall_rows(world))
    if path.startswith(ALERT_PATHS):
        values.update(matrix_rows(world.engine, e.department_a.code, world.target.user.id or 0))
    if path.startswith(("/channels/", "/inbox/")):
        values.update(notify_rows(world, actor_for(world, role)))
    if path.startswith("/sla/contracts/"):
        values["contract_id"] = sla_contract(world)
    if path.startswith("/sla/reports/"):
        path = path.replace("{month}", stored_report(world))
    return API + path.format(**values)


def sla_contract_body() -> dict[str, Any]:
    """A contract of a vendor of its own, so no two cases' contracts overlap."""
    return {
        "vendor": f"matrix-{uuid.uuid4().hex[:8]}",
        "sla_target": 0.9995,
        "monthly_fee": "1000.00",
        "credit_tiers": [{"below": 0.9995, "credit": 0.1}],
        "valid_from": "2026-01-01",
    }


def sla_contract(world: World) -> int:
    with Session(world.engine, expire_on_commit=False) as session:
        made = contracts.create_contract(
            session, factories.SYSTEM, VendorContractCreate.model_validate(sla_contract_body())
        )
        session.commit()
    return made.id


def stored_report(world: World) -> str:
    """A past month with a stored report, for reading it (and replacing it)."""
    month = "2026-01"
    with Session(world.engine, expire_on_commit=False) as session:
        if stored.stored(session, month) is None:
            stored.generate(session, month, datetime.now(UTC), stored.ON_DEMAND, "matrix")
            session.commit()
    return month


def notify_rows(world: World, caller: factories.Actor) -> dict[str, int]:
    """A fresh inbox channel (cases delete it) and an inbox message of the caller's."""
    with Session(world.engine, expire_on_commit=False) as session:
        channel = NotificationChannel(name=f"matrix-{uuid.uuid4().hex[:8]}", kind=ChannelKind.inbox)
        message = InboxMessage(user_id=caller.user.id or 0, title="matrix")
        session.add_all([channel, message])
        session.commit()
    return {"channel_id": channel.id or 0, "message_id": message.id or 0}


def oncall_rows(world: World) -> dict[str, int]:
    """A fresh rotation (target1 and admin1 in daily turns from SOON, with an override of
    target1's ten days on) and a policy paging target1, for each case: cases delete them."""
    e, name = world.estate, f"matrix-{uuid.uuid4().hex[:8]}"
    layer = {"name": "m", "member_ids": [world.target.user.id, e.admin.user.id], "starts_at": SOON}
    with Session(world.engine, expire_on_commit=False) as session:
        body = RotationCreate.model_validate({"name": name, "layers": [layer]})
        rotation = oncall_admin.create_rotation(session, factories.SYSTEM, body)
        override = OverrideCreate(
            user_id=world.target.user.id,
            starts_at=datetime.fromisoformat(in_hours(240)),
            ends_at=datetime.fromisoformat(in_hours(241)),
        )
        rid = rotation.id or 0
        made = oncall_admin.create_override(session, factories.SYSTEM, rid, override, SOON_AT)
        steps = [{"targets": [user_target(world)]}]
        policy = PolicyCreate.model_validate({"name": name, "steps": steps})
        made_policy = policies.create_policy(session, factories.SYSTEM, policy)
        session.commit()
        layer_id = session.execute(
            sa.select(sa.func.min(col(RotationLayer.id))).where(
                col(RotationLayer.rotation_id) == rid
            )
        ).scalar_one()
    return {
        "rotation_id": rid,
        "layer_id": int(layer_id),
        "override_id": made.id or 0,
        "policy_id": made_policy.id or 0,
    }


def rebalance_plan(world: World, case: str) -> int:
    """A proposed rebalance plan without moves, one per deciding case, made on first use."""
    key = f"rebalance-{case}"
    if key not in world.plans:
        with Session(world.engine, expire_on_commit=False) as session:
            plan = Plan(kind=PlanKind.rebalance, status=PlanStatus.proposed, solver="matrix")
            session.add(plan)
            session.commit()
            world.plans[key] = plan.id or 0
    return world.plans[key]


def headers_for(world: World, role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    if role == "garbage":
        return GARBAGE
    return world.headers(actor_for(world, role))


def assert_error(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str) and body["error"].strip(), body
    return body
