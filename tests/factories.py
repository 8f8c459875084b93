"""Builders for test data: users with tokens, departments, a seeded simulated estate."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters import service as clouds
from console.app import create_app
from inventory import accounts
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.models import (
    Cloud,
    CloudCreate,
    CloudStatus,
    Department,
    Host,
    Plan,
    Quota,
    Resource,
    Role,
    User,
    Workload,
)
from inventory.settings import Settings

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


# --- One app and estate shared by a whole test module ------------------------------------
#
# A fresh PostgreSQL database costs ~0.4 s per test. The role matrix and the bad-input tables
# make hundreds of requests, so each of those modules shares one migrated database per
# backend. Cases there only read, are rejected, or write rows that no other case looks at.

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def api_token(session: Session, owner: User, name: str = "api", days: int = 30) -> int:
    """An API token for `owner`; returns its id."""
    issued = accounts.issue_token(session, owner, name=name, kind="api", ttl=timedelta(days=days))
    session.commit()
    return issued.id


@dataclass
class World:
    app: FastAPI
    client: TestClient
    engine: Engine
    box: SecretBox
    estate: Estate
    host_id: int
    workload_a: int  # a workload of department A
    target: Actor  # an on-call user that cases may change
    disabled_cloud: Cloud  # status disabled, never synced
    broken_cloud: Cloud  # its last sync failed: status degraded with a last_error
    # Department A's requests, each with a proposed plan, one per kind of case.
    requests: dict[str, int] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)

    def headers(self, actor: Actor) -> dict[str, str]:
        """A fresh login token: a case may log out or be revoked without touching others."""
        with Session(self.engine, expire_on_commit=False) as session:
            issued = accounts.issue_token(
                session, actor.user, name="case", kind="login", ttl=timedelta(hours=1)
            )
            session.commit()
        return {"Authorization": f"Bearer {issued.token}"}

    def api_token(self, actor: Actor) -> int:
        with Session(self.engine, expire_on_commit=False) as session:
            return api_token(session, actor.user)


@contextmanager
def fresh_database(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[str]:
    """A migrated database of its own: a copy of the SQLite template, or a PostgreSQL
    database cloned from the migrated template (CREATE DATABASE ... TEMPLATE, ~50 ms)."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = folder / f"{uuid.uuid4().hex[:12]}.db"
        shutil.copy(template, target)
        yield f"sqlite:///{target}"
        return
    server: str = request.getfixturevalue("pg_server")
    request.getfixturevalue("pg_template")
    name = f"w_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE yh_template'))
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def world(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[World]:
    """For a module-scoped fixture parametrized over BACKENDS: the estate plus the app."""
    with fresh_database(request, backend, folder) as url:
        settings = Settings(
            database_url=url,
            data_dir=folder / "data",
            secret_key=Fernet.generate_key().decode(),
            login_max_failures=3,
        )
        engine = make_engine(url)
        box = SecretBox.from_settings(settings)
        try:
            with Session(engine, expire_on_commit=False) as session:
                built = estate(session, box)
                small = {"hosts_per_zone": 1, "workloads": 1, "departments": ["dept-a"]}
                disabled = cloud(session, box, "cloud-off", {**small, "seed": 3, "region": "r3"})
                disabled.status = CloudStatus.disabled
                session.add(disabled)
                broken = cloud(
                    session,
                    box,
                    "cloud-down",
                    {**small, "seed": 4, "region": "r4", "faults": {"unreachable": True}},
                )
                assert not clouds.sync(session, SYSTEM, broken.id or 0, box).ok
                session.commit()
                host_id = session.execute(sa.select(sa.func.min(col(Host.id)))).scalar_one()
                workload_a = session.execute(
                    sa.select(sa.func.min(col(Workload.id))).where(
                        col(Workload.department_id) == built.department_a.id
                    )
                ).scalar_one()
                target = user(session, "target1", Role.oncall)
                requests, plans = open_requests(session, built)
            app = create_app(settings, engine)
            with TestClient(app, raise_server_exceptions=False) as client:
                yield World(
                    app=app,
                    client=client,
                    engine=engine,
                    box=box,
                    estate=built,
                    host_id=int(host_id),
                    workload_a=int(workload_a),
                    target=target,
                    disabled_cloud=disabled,
                    broken_cloud=broken,
                    requests=requests,
                    plans=plans,
                )
        finally:
            engine.dispose()


SMALL_REQUEST = {"service_name": "matrix-svc", "replicas": 1, "vcpus": 1, "memory_mb": 512}


def open_requests(session: Session, built: Estate) -> tuple[dict[str, int], dict[str, int]]:
    """Department A gets room in its quota and three requests with proposed plans."""
    from inventory import departments as dept_service
    from inventory.accounts import viewer_of
    from inventory.models import RequestCreate, Resource
    from scheduler import workflow

    dept_service.set_quotas(
        session,
        SYSTEM,
        built.department_a.id or 0,
        {Resource.vcpus: 10_000, Resource.instances: 1_000},
    )
    viewer = viewer_of(built.dept_a.user)
    requests: dict[str, int] = {}
    plans: dict[str, int] = {}
    for case in ("approve", "reject", "replan"):
        data = RequestCreate.model_validate({**SMALL_REQUEST, "service_name": f"matrix-{case}"})
        request = workflow.submit(session, viewer, data, time_limit=2)
        session.flush()
        plan = session.execute(
            sa.select(sa.func.max(col(Plan.id))).where(col(Plan.request_id) == request.id)
        ).scalar_one()
        requests[case], plans[case] = request.id or 0, int(plan)
    session.commit()
    return requests, plans
