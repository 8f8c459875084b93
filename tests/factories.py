"""Builders for test data: users with tokens, departments, a seeded simulated estate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from adapters import service as clouds
from inventory import accounts
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.models import Cloud, CloudCreate, Department, Quota, Resource, Role, User

PASSWORD = "correct-horse-battery"
SYSTEM = Viewer.system("test")


@lru_cache(maxsize=1)
def password_hash() -> str:
    # argon2 is deliberately slow; hash the shared test password once per run.
    return accounts.hash_password(PASSWORD)


@dataclass
class Actor:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def department(
    session: Session, code: str, quotas: dict[Resource, int] | None = None
) -> Department:
    row = Department(code=code, name=f"部门 {code}")
    session.add(row)
    session.flush()
    for resource, limit in (quotas or {Resource.vcpus: 100, Resource.instances: 10}).items():
        session.add(Quota(department_id=row.id or 0, resource=resource, limit=limit))
    session.commit()
    return row


def user(session: Session, username: str, role: Role, department_id: int | None = None) -> Actor:
    row = User(
        username=username, role=role, department_id=department_id, password_hash=password_hash()
    )
    session.add(row)
    session.flush()
    issued = accounts.issue_token(session, row, name="test", kind="login", ttl=timedelta(hours=1))
    session.commit()
    return Actor(row, issued.token)


def cloud(
    session: Session,
    box: SecretBox,
    name: str,
    settings: dict[str, Any] | None = None,
    **fields: Any,
) -> Cloud:
    data = CloudCreate(
        name=name,
        kind="simulator",
        vendor=fields.pop("vendor", "Simulated"),
        region=fields.pop("region", (settings or {}).get("region", "sim-region")),
        security_level=fields.pop("security_level", 3),
        settings=settings or {},
        **fields,
    )
    row = clouds.register_cloud(session, SYSTEM, data, box)
    session.commit()
    return row


@dataclass
class Estate:
    """Two departments, a user per role (two department users), two synced simulated clouds."""

    admin: Actor
    oncall: Actor
    manager: Actor
    dept_a: Actor
    dept_b: Actor
    department_a: Department
    department_b: Department
    clouds: list[Cloud]


def estate(session: Session, box: SecretBox) -> Estate:
    dept_a = department(session, "dept-a")
    dept_b = department(session, "dept-b")
    codes = ["dept-a", "dept-b"]
    made = [
        cloud(
            session,
            box,
            "cloud-os",
            {
                "profile": "openstack",
                "seed": 1,
                "region": "r1",
                "hosts_per_zone": 4,
                "workloads": 8,
                "departments": codes,
            },
        ),
        cloud(
            session,
            box,
            "cloud-k8s",
            {
                "profile": "kubernetes",
                "seed": 2,
                "region": "r2",
                "hosts_per_zone": 4,
                "workloads": 8,
                "departments": codes,
            },
        ),
    ]
    for row in made:
        outcome = clouds.sync(session, SYSTEM, row.id or 0, box)
        assert outcome.ok, outcome.error
    session.commit()
    return Estate(
        admin=user(session, "admin1", Role.admin),
        oncall=user(session, "oncall1", Role.oncall),
        manager=user(session, "manager1", Role.manager),
        dept_a=user(session, "depta", Role.department, dept_a.id),
        dept_b=user(session, "deptb", Role.department, dept_b.id),
        department_a=dept_a,
        department_b=dept_b,
        clouds=made,
    )
