"""Who may call what: the role x endpoint matrix, department isolation, secrets, auditing."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from httpx2 import Response
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col

from adapters import registry
from adapters.simulator import SimulatorAdapter
from alerts import oncall_admin, policies
from alerts.oncall_schemas import OverrideCreate, PolicyCreate, RotationCreate
from inventory.models import (
    ChannelKind,
    Cloud,
    InboxMessage,
    NotificationChannel,
    Plan,
    PlanStatus,
    RotationLayer,
    VendorContractCreate,
)
from inventory.models.requests import PlanKind
from sla import contracts
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


def test_matrix_covers_every_api_route(world: World) -> None:
    spec = world.app.openapi()
    routes = {
        (method.upper(), path.removeprefix(API))
        for path, operations in spec["paths"].items()
        if path.startswith(API + "/")
        for method in operations
    }
    ruled = [(rule.method, rule.path) for rule in MATRIX]
    assert len(ruled) == len(set(ruled)), "a route is listed twice"
    assert routes - set(ruled) == set(), "routes without a matrix entry"
    assert set(ruled) - routes == set(), "matrix entries for routes that no longer exist"
    for rule in MATRIX:
        assert set(rule.expect) >= {"admin", "department", "oncall", "manager"}, rule


@pytest.mark.parametrize(("rule", "role", "expected"), CASES)
def test_role_matrix(world: World, rule: Rule, role: str, expected: int) -> None:
    url = concrete(world, rule.path, role)
    body = rule.body(world) if callable(rule.body) else rule.body
    response = world.client.request(rule.method, url, headers=headers_for(world, role), json=body)
    if expected >= 400:
        body = assert_error(response, expected)
        if expected == 401:
            assert response.headers.get("www-authenticate") == "Bearer"
        if expected == 403:
            assert "may not" in body["error"]
    else:
        assert response.status_code == expected, response.text
        if expected != 204:
            assert response.headers["content-type"].startswith("application/json")
            response.json()


# --- Department isolation ------------------------------------------------------------------


def test_department_user_sees_only_its_own_workloads(world: World) -> None:
    e = world.estate
    mine = world.client.get(f"{API}/workloads?limit=500", headers=e.dept_b.headers).json()
    everything = world.client.get(f"{API}/workloads?limit=500", headers=e.admin.headers).json()
    assert mine["total"] > 0
    assert mine["total"] < everything["total"]
    assert {w["department"] for w in mine["items"]} == {"dept-b"}
    assert {w["department_id"] for w in mine["items"]} == {e.department_b.id}
    theirs = {w["id"] for w in everything["items"] if w["department"] == "dept-a"}
    assert theirs, "the estate must give department A workloads"
    assert theirs.isdisjoint(w["id"] for w in mine["items"])


def test_department_user_cannot_open_another_departments_things(world: World) -> None:
    e, client = world.estate, world.client
    b = e.dept_b.headers
    # Another department's workload answers like a missing one: 404, never 403.
    theirs = client.get(f"{API}/workloads/{world.workload_a}", headers=b)
    missing = client.get(f"{API}/workloads/999999", headers=b)
    assert_error(theirs, 404)
    assert_error(missing, 404)
    assert theirs.json()["error"] == f"workload {world.workload_a} not found"
    assert "dept-a" not in theirs.text
    # The same workload is there for its own department and for staff.
    assert client.get(f"{API}/workloads/{world.workload_a}", headers=e.dept_a.headers).is_success
    assert client.get(f"{API}/workloads/{world.workload_a}", headers=e.oncall.headers).is_success

    other = client.get(f"{API}/departments/{e.department_a.id}", headers=b)
    assert_error(other, 404)
    assert "dept-a" not in other.text
    own = client.get(f"{API}/departments/{e.department_b.id}", headers=b)
    assert own.status_code == 200 and own.json()["code"] == "dept-b"


def test_department_list_shows_only_its_own_department(world: World) -> None:
    e, client = world.estate, world.client
    listed = client.get(f"{API}/departments", headers=e.dept_b.headers).json()
    assert [d["code"] for d in listed["items"]] == ["dept-b"]
    assert listed["total"] == 1
    searched = client.get(f"{API}/departments?q=dept-a", headers=e.dept_b.headers).json()
    assert searched["items"] == [] and searched["total"] == 0
    staff = client.get(f"{API}/departments", headers=e.manager.headers).json()
    assert {"dept-a", "dept-b"} <= {d["code"] for d in staff["items"]}


@pytest.mark.parametrize("ref", ["code", "id"])
@pytest.mark.parametrize("path", ["/workloads", "/clouds", "/zones"])
def test_department_filter_for_another_department_is_forbidden(
    world: World, path: str, ref: str
) -> None:
    e = world.estate
    a = e.department_a.code if ref == "code" else str(e.department_a.id)
    b = e.department_b.code if ref == "code" else str(e.department_b.id)
    denied = world.client.get(f"{API}{path}?department={a}", headers=e.dept_b.headers)
    assert "own department" in assert_error(denied, 403)["error"]
    allowed = world.client.get(f"{API}{path}?department={b}", headers=e.dept_b.headers)
    assert allowed.status_code == 200 and allowed.json()["total"] > 0
    # Staff may filter by any department.
    staff = world.client.get(f"{API}{path}?department={a}", headers=e.manager.headers)
    assert staff.status_code == 200 and staff.json()["total"] > 0


def test_department_users_see_clouds_without_settings_or_errors(world: World) -> None:
    e, client = world.estate, world.client
    broken = world.broken_cloud.id
    staff = client.get(f"{API}/clouds?limit=500", headers=e.oncall.headers).json()["items"]
    staff_broken = next(c for c in staff if c["id"] == broken)
    assert staff_broken["last_error"], "the control: staff see why the sync failed"
    assert all(c["settings"] for c in staff)

    listed = client.get(f"{API}/clouds?limit=500", headers=e.dept_a.headers).json()["items"]
    assert {c["id"] for c in listed} == {c["id"] for c in staff}
    for item in listed:
        assert item["settings"] == {}
        assert item["last_error"] is None
    one = client.get(f"{API}/clouds/{broken}", headers=e.dept_a.headers).json()
    assert one["settings"] == {} and one["last_error"] is None
    assert one["status"] == "degraded"  # the state itself is not secret
    assert "unreachable" not in json.dumps(listed) + json.dumps(one)


# --- Secrets -------------------------------------------------------------------------------


class PasswordCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str


class PasswordSimulator(SimulatorAdapter):
    """The simulator, but with credentials like a real cloud's."""

    kind: ClassVar[str] = "password-sim"
    credentials_model: ClassVar[type[BaseModel]] = PasswordCredentials


SECRETS = ("s3cret", "n3w-s3cret", "t0p-s3cret")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_cloud_credentials_are_never_returned(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.REGISTRY, PasswordSimulator.kind, PasswordSimulator)
    e, client = world.estate, world.client
    admin = e.admin.headers
    created = client.post(
        f"{API}/clouds",
        headers=admin,
        json={
            "name": "secret-cloud",
            "kind": PasswordSimulator.kind,
            "vendor": "Secretive",
            "region": "rs",
            "security_level": 3,
            "settings": {"hosts_per_zone": 1, "workloads": 1},
            "credentials": {"password": "s3cret"},
        },
    )
    assert created.status_code == 201, created.text
    assert_no_secret(created.text)
    assert "credentials" not in created.json() and created.json()["has_credentials"] is True
    cloud_id = created.json()["id"]

    changed = client.patch(
        f"{API}/clouds/{cloud_id}", headers=admin, json={"credentials": {"password": "n3w-s3cret"}}
    )
    assert changed.status_code == 200, changed.text
    assert_no_secret(changed.text)
    # Rejected credentials name the field but do not echo the value.
    rejected = client.patch(
        f"{API}/clouds/{cloud_id}",
        headers=admin,
        json={"credentials": {"password": "x", "token": "t0p-s3cret"}},
    )
    assert "credentials.token" in assert_error(rejected, 422)["error"]
    assert_no_secret(rejected.text)

    checked = client.get(f"{API}/clouds/{cloud_id}/check", headers=admin)
    assert checked.status_code == 200, checked.text
    assert_no_secret(checked.text)
    synced = client.post(f"{API}/clouds/{cloud_id}/sync", headers=admin)
    assert synced.status_code == 200 and synced.json()["ok"], synced.text
    assert_no_secret(synced.text)
    for actor in (e.admin, e.manager, e.oncall, e.dept_a):
        assert_no_secret(client.get(f"{API}/clouds?limit=500", headers=actor.headers).text)
        assert_no_secret(client.get(f"{API}/clouds/{cloud_id}", headers=actor.headers).text)
    audit = client.get(f"{API}/audit?limit=500&target_type=cloud", headers=admin)
    assert_no_secret(audit.text)
    actions = {
        (item["action"], json.dumps(item["after"]))
        for item in audit.json()["items"]
        if item["target_id"] == str(cloud_id)
    }
    assert ("cloud.update", json.dumps({"credentials": "replaced"})) in actions
    assert any(action == "cloud.create" for action, _ in actions)

    # At rest the credentials are encrypted, so not even the database holds the password.
    with Session(world.engine) as own:
        stored = own.get(Cloud, cloud_id)
        assert stored is not None and stored.credentials_encrypted
        assert_no_secret(stored.credentials_encrypted)
        assert world.box.decrypt_json(stored.credentials_encrypted) == {"password": "n3w-s3cret"}


def test_password_hashes_are_never_returned(world: World) -> None:
    e, client = world.estate, world.client
    listed = client.get(f"{API}/users?limit=500", headers=e.admin.headers)
    audit = client.get(f"{API}/audit?limit=500", headers=e.admin.headers)
    for text in (listed.text, audit.text):
        assert "$argon2" not in text
        assert "password_hash" not in text
        assert "token_hash" not in text


# --- Every mutation is audited ------------------------------------------------------------


def latest_event(world: World) -> dict[str, Any]:
    response = world.client.get(f"{API}/audit?limit=1", headers=world.estate.admin.headers)
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["items"][0]
    return event


def assert_audited(world: World, action: str, actor: str, target_id: object) -> dict[str, Any]:
    event = latest_event(world)
    assert (event["action"], event["actor"], event["target_id"]) == (
        action,
        actor,
        str(target_id),
    ), event
    return event


def test_every_write_is_audited(world: World) -> None:
    e, client = world.estate, world.client
    admin = e.admin.headers

    login = client.post(
        f"{API}/auth/login", json={"username": "manager1", "password": factories.PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert_audited(world, "auth.login", "manager1", e.manager.user.id)
    manager = {"Authorization": f"Bearer {login.json()['access_token']}"}

    token = client.post(f"{API}/tokens", headers=manager, json={"name": "audited"}).json()
    event = assert_audited(world, "token.create", "manager1", token["id"])
    assert event["after"]["prefix"] == token["prefix"]
    assert token["token"] not in json.dumps(event)
    assert client.delete(f"{API}/tokens/{token['id']}", headers=manager).status_code == 204
    assert_audited(world, "token.revoke", "manager1", token["id"])
    assert client.post(f"{API}/auth/logout", headers=manager).status_code == 204
    assert_audited(world, "auth.logout", "manager1", e.manager.user.id)

    cloud = client.post(
        f"{API}/clouds",
        headers=admin,
        json={
            "name": "audited-cloud",
            "kind": "simulator",
            "vendor": "Audit",
            "region": "ra",
            "security_level": 4,
            "settings": {"hosts_per_zone": 1, "workloads": 1, "seed": 9, "region": "ra"},
        },
    ).json()
    event = assert_audited(world, "cloud.create", "admin1", cloud["id"])
    assert event["after"]["name"] == "audited-cloud"
    client.patch(f"{API}/clouds/{cloud['id']}", headers=admin, json={"security_level": 5})
    event = assert_audited(world, "cloud.update", "admin1", cloud["id"])
    assert (event["before"], event["after"]) == ({"security_level": 4}, {"security_level": 5})
    assert client.post(f"{API}/clouds/{cloud['id']}/sync", headers=admin).json()["ok"]
    assert_audited(world, "inventory.sync", "admin1", cloud["id"])

    department = client.post(
        f"{API}/departments", headers=admin, json={"code": "audited", "name": "Audited"}
    ).json()
    assert_audited(world, "department.create", "admin1", department["id"])
    client.patch(f"{API}/departments/{department['id']}", headers=admin, json={"name": "Renamed"})
    event = assert_audited(world, "department.update", "admin1", department["id"])
    assert event["after"] == {"name": "Renamed"}
    client.put(f"{API}/departments/{department['id']}/quotas", headers=admin, json={"vcpus": 8})
    event = assert_audited(world, "department.quotas", "admin1", department["id"])
    assert event["after"] == {"vcpus": 8}

    made = client.post(
        f"{API}/users",
        headers=admin,
        json={"username": "audited-user", "role": "manager", "password": "audited-password"},
    ).json()
    event = assert_audited(world, "user.create", "admin1", made["id"])
    assert "audited-password" not in json.dumps(event)
    client.patch(f"{API}/users/{made['id']}", headers=admin, json={"password": "another-password"})
    event = assert_audited(world, "user.update", "admin1", made["id"])
    assert event["after"] == {"password": "changed"}
    assert "another-password" not in json.dumps(event)
