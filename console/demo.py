"""The seeded demo: four departments, three simulated vendor clouds, one user per role.

Idempotent: running it again adds nothing twice, re-syncs the clouds and gives the demo
users fresh random passwords (printed once, never stored in clear).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from adapters import service as clouds
from console.demo_history import seed_history
from inventory import accounts, departments
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.models import (
    AlertRoute,
    ChannelKind,
    Cloud,
    CloudCreate,
    Department,
    DepartmentCreate,
    EscalationPolicy,
    InhibitRule,
    NotificationChannel,
    Resource,
    Role,
    Rotation,
    RotationLayer,
    User,
    UserCreate,
    UserUpdate,
)
from inventory.types import utcnow

DEPARTMENTS: list[tuple[str, str, dict[Resource, int]]] = [
    (
        "gov-service",
        "省政务服务和数据管理局",
        {
            Resource.vcpus: 800,
            Resource.memory_mb: 1_600_000,
            Resource.disk_gb: 40_000,
            Resource.instances: 200,
        },
    ),
    (
        "public-security",
        "省公安厅",
        {
            Resource.vcpus: 600,
            Resource.memory_mb: 1_200_000,
            Resource.disk_gb: 30_000,
            Resource.instances: 150,
        },
    ),
    (
        "health",
        "省卫生健康委员会",
        {
            Resource.vcpus: 400,
            Resource.memory_mb: 800_000,
            Resource.disk_gb: 20_000,
            Resource.instances: 100,
        },
    ),
    (
        "education",
        "省教育厅",
        {
            Resource.vcpus: 300,
            Resource.memory_mb: 600_000,
            Resource.disk_gb: 15_000,
            Resource.instances: 80,
        },
    ),
]

# 3 clouds, 2 regions, 6 zones, 60 + 54 + 6 = 120 hosts.
CLOUDS: list[dict[str, Any]] = [
    {
        "name": "政务云一区 OpenStack (模拟)",
        "vendor": "模拟·浪潮云 Inspur (simulated)",
        "region": "prov-dc1",
        "security_level": 3,
        # Yuan per unit-hour, illustrative: private clouds dearer than the public zone.
        "prices": {"vcpus": 0.12, "memory_mb": 0.00002, "disk_gb": 0.0004, "gpus": 6.0},
        "settings": {
            "profile": "openstack",
            "seed": 11,
            "region": "prov-dc1",
            "zones": 2,
            "hosts_per_zone": 30,
            "workloads": 24,
        },
    },
    {
        "name": "政务云二区 Kubernetes (模拟)",
        "vendor": "模拟·华为云 Huawei (simulated)",
        "region": "prov-dc2",
        "security_level": 3,
        "prices": {"vcpus": 0.10, "memory_mb": 0.00002, "disk_gb": 0.0004},
        "settings": {
            "profile": "kubernetes",
            "seed": 22,
            "region": "prov-dc2",
            "zones": 2,
            "hosts_per_zone": 27,
            "workloads": 20,
        },
    },
    {
        "name": "公有云政务专区 (模拟)",
        "vendor": "模拟·阿里云 Alibaba Cloud (simulated)",
        "region": "prov-dc2",
        "security_level": 2,
        "prices": {"vcpus": 0.08, "memory_mb": 0.000015, "disk_gb": 0.0003},
        "settings": {
            "profile": "public",
            "seed": 33,
            "region": "prov-dc2",
            "zones": 2,
            "hosts_per_zone": 3,
            "workloads": 10,
        },
    },
]

USERS: list[tuple[str, str, Role, str | None]] = [
    ("admin", "云管理员 Cloud admin", Role.admin, None),
    ("dept", "政务服务局用户 Department user", Role.department, "gov-service"),
    ("oncall", "值班人员 On-call", Role.oncall, None),
    ("manager", "管理者 Manager", Role.manager, None),
]


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    role: Role
    department: str | None


Step = Callable[[str], None]


def seed(
    session: Session,
    box: SecretBox,
    *,
    actor: str,
    step: Step = lambda _: None,
    history_days: int = 0,
    simulator_state: Path | None = None,
) -> list[Login]:
    """The estate, users and alerting; with `history_days`, that much simulated history
    too (console.demo_history; `yunheng demo` asks for 90 days, tests of the live alert loop
    for none, as they count incidents from a clean slate). `simulator_state` is where the
    simulated clouds keep what they provision, so every process sees one cloud (a `yunheng
    sync` from a shell, the processes of `serve --workers N`)."""
    viewer = Viewer.system(actor)
    existing_departments = set(session.execute(sa.select(col(Department.code))).scalars())
    for code, name, quotas in DEPARTMENTS:
        step(f"department {code}")
        if code not in existing_departments:
            departments.create_department(
                session, viewer, DepartmentCreate(code=code, name=name, quotas=quotas)
            )
    existing_clouds = set(session.execute(sa.select(col(Cloud.name))).scalars())
    for spec in CLOUDS:
        step(f"cloud {spec['name']}")
        if spec["name"] not in existing_clouds:
            shared = {"state_dir": str(simulator_state)} if simulator_state else {}
            spec = {**spec, "settings": {**spec["settings"], **shared}}
            clouds.register_cloud(session, viewer, CloudCreate(kind="simulator", **spec), box)
    session.flush()
    for cloud in clouds.syncable_clouds(session):
        step(f"sync {cloud.name}")
        clouds.sync(session, viewer, cloud.id or 0, box)
    codes = dict(session.execute(sa.select(col(Department.code), col(Department.id))).all())
    logins: list[Login] = []
    for username, display, role, dept in USERS:
        step(f"user {username}")
        password = secrets.token_urlsafe(12)
        user = session.execute(sa.select(User).where(col(User.username) == username)).scalar()
        if user is None:
            data = UserCreate(
                username=username,
                display_name=display,
                role=role,
                department_id=codes.get(dept),
                password=password,
            )
            accounts.create_user(session, viewer, data)
        else:
            accounts.update_user(
                session, viewer, user.id or 0, UserUpdate(password=password, is_active=True)
            )
        logins.append(Login(username, password, role, dept))
    step("alerting: on-call rotation, inbox, escalation, route")
    seed_alerting(session)
    if history_days:
        step(f"history: {history_days} days")
        seed_history(session, utcnow(), days=history_days)
    return logins


DEMO_INBOX = "值班收件箱 On-call inbox"
DEMO_ROTATION = "演示值班 Demo on-call"
DEMO_ROUTE = "demo"
DEMO_INHIBIT = "demo: a degraded zone inhibits its hosts' HostDown alerts"


def _named(session: Session, model: Any, name: str) -> Any:
    return session.execute(sa.select(model).where(model.name == name)).scalar()


def seed_alerting(session: Session) -> None:
    """What the demo's alerting needs, made once: the `oncall` user on call around the clock
    with an in-console inbox; unacknowledged incidents page it again after a minute and the
    admin after two more; a degraded zone inhibits its hosts' alerts."""
    users = {
        u.username: u
        for u in session.execute(
            sa.select(User).where(col(User.username).in_(["oncall", "admin"]))
        ).scalars()
    }
    oncall, admin = users["oncall"], users["admin"]
    inbox = _named(session, NotificationChannel, DEMO_INBOX)
    if inbox is None:
        inbox = NotificationChannel(
            name=DEMO_INBOX, kind=ChannelKind.inbox, settings={"users": ["oncall"]}
        )
        session.add(inbox)
    rotation = _named(session, Rotation, DEMO_ROTATION)
    if rotation is None:
        rotation = Rotation(name=DEMO_ROTATION)
        session.add(rotation)
        session.flush()
        session.add(
            RotationLayer(
                rotation_id=rotation.id or 0,
                name="primary",
                member_ids=[oncall.id],
                shift_hours=24,
                handoff_time="09:00",
                starts_at=datetime(2026, 1, 1, 1, 0, tzinfo=UTC),  # 09:00 in Shanghai
            )
        )
    session.flush()
    policy = _named(session, EscalationPolicy, "default")
    if policy is None:
        policy = EscalationPolicy(
            name="default",
            description="demo: the on-call again after 1 minute, then the admin",
            steps=[
                {"wait_minutes": 1, "targets": [{"type": "rotation", "id": rotation.id}]},
                {"wait_minutes": 2, "targets": [{"type": "user", "id": admin.id}]},
            ],
        )
        session.add(policy)
        session.flush()
    if _named(session, AlertRoute, DEMO_ROUTE) is None:
        session.add(
            AlertRoute(
                name=DEMO_ROUTE,
                position=1000,
                group_by=["alertname", "cloud"],
                group_wait_seconds=10,
                group_interval_seconds=60,
                repeat_interval_seconds=3600,
                escalation_policy_id=policy.id,
                channel_ids=[inbox.id],
            )
        )
    inhibits = session.execute(
        sa.select(InhibitRule).where(col(InhibitRule.comment) == DEMO_INHIBIT)
    ).first()
    if inhibits is None:
        session.add(
            InhibitRule(
                source_matchers=[{"name": "alertname", "op": "=", "value": "ZoneDegraded"}],
                target_matchers=[{"name": "alertname", "op": "=", "value": "HostDown"}],
                equal=["cloud", "zone"],
                comment=DEMO_INHIBIT,
                created_by="demo",
            )
        )
    session.flush()
