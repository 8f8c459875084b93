"""A small estate for the assessment's KPIs, every figure hand-computable (tests/test_sla_kpis.py).

October 2026 in Asia/Shanghai is [2026-09-30T16:00Z, 2026-10-31T16:00Z), 44,640 minutes.
Vendors: Alpha (alpha-1, alpha-2; a contract at 0.9995), Beta (beta-1), Gamma (a cloud with
no hosts). Departments: dept-x (vcpu and memory quotas), dept-y (an instances quota only),
dept-z (nothing at all). The comments beside each row say what it is there to exercise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from inventory.models import (
    Alert,
    AlertSource,
    AlertState,
    Allocation,
    AllocationStatus,
    Cloud,
    Department,
    Host,
    HostState,
    Incident,
    IncidentEvent,
    IncidentStatus,
    ItemState,
    Plan,
    PlanStatus,
    Quota,
    Replica,
    RequestStatus,
    Resource,
    ResourceRequest,
    Role,
    Severity,
    User,
    VendorContract,
    Workload,
)
from tests import factories

AUGUST = datetime(2026, 8, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Ids:
    clouds: dict[str, int] = field(default_factory=dict)
    hosts: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    incidents: dict[str, int] = field(default_factory=dict)


def _flush_id(session: Session, row: object) -> int:
    session.add(row)
    session.flush()
    return int(getattr(row, "id"))  # noqa: B009 - any table row


def _clouds(session: Session, ids: Ids) -> None:
    for name, vendor in (
        ("alpha-1", "Alpha"),
        ("alpha-2", "Alpha"),
        ("beta-1", "Beta"),
        ("gamma-1", "Gamma"),
    ):
        ids.clouds[name] = _flush_id(
            session,
            Cloud(
                name=name,
                kind="simulator",
                vendor=vendor,
                region="r1",
                security_level=3,
                created_at=AUGUST,
            ),
        )
    session.add(
        VendorContract.model_validate(
            {
                "vendor": "Alpha",
                "sla_target": 0.9995,
                "monthly_fee": Decimal("1000.00"),
                "currency": "CNY",
                "credit_tiers": [{"below": 0.9995, "credit": 0.1}],
                "valid_from": "2026-01-01",
            }
        )
    )


def _hosts(session: Session, ids: Ids) -> None:
    """Alpha now: vcpu 72 used of 80 schedulable (0.9), memory 1,000 of 5,000 (0.2).
    Beta now: vcpu 6 of 16 (0.375), memory 100 of 1,000. In October Alpha had h1, h2, h4
    (h3 went in September, h5 came in November) and Beta b1."""
    rows = [  # name, cloud, vcpus, cpu_ratio, used, memory, used, first seen, gone at
        ("h1", "alpha-1", 10, 2.0, 20, 1000, 300, AUGUST, None),
        ("h2", "alpha-1", 10, 2.0, 14, 1000, 500, AUGUST, None),
        ("h3", "alpha-1", 100, 1.0, 0, 9000, 0, AUGUST, utc("2026-09-15T00:00")),
        ("h4", "alpha-2", 20, 1.0, 20, 2000, 200, AUGUST, None),
        ("h5", "alpha-2", 20, 1.0, 18, 1000, 0, utc("2026-11-03T00:00"), None),
        ("b1", "beta-1", 16, 1.0, 6, 1000, 100, AUGUST, None),
    ]
    for name, cloud, vcpus, ratio, used, memory, mem_used, seen, gone in rows:
        ids.hosts[name] = _flush_id(
            session,
            Host(
                name=name,
                cloud_id=ids.clouds[cloud],
                external_id=name,
                vcpus=vcpus,
                cpu_ratio=ratio,
                vcpus_used=used,
                memory_mb=memory,
                memory_mb_used=mem_used,
                disk_gb=100,
                state=HostState.gone if gone else HostState.up,
                first_seen_at=seen,
                gone_at=gone,
            ),
        )


def _workloads(session: Session, ids: Ids, depts: dict[str, int]) -> None:
    """dept-x in October: 3 replicas on alpha-1, 2 on beta-1 (one gone on 20 October);
    a fourth W1 replica on alpha-2 came in November. Live usage: W1 4 x (2 vcpu, 512 MB),
    W2 1 x (1, 1024) = 9 vcpus, 3,072 MB. dept-y: 2 replicas on alpha-2, no SLA target."""
    workloads = {  # name: department, vcpus, memory, sla_target
        "w1": ("dept-x", 2, 512, 0.999),
        "w2": ("dept-x", 1, 1024, 0.9995),
        "w4": ("dept-y", 1, 256, None),
    }
    made = {
        name: _flush_id(
            session,
            Workload(
                name=name,
                department_id=depts[d],
                vcpus=v,
                memory_mb=m,
                sla_target=t,
                first_seen_at=AUGUST,
            ),
        )
        for name, (d, v, m, t) in workloads.items()
    }
    replicas = [  # workload, cloud, first seen, gone at
        ("w1", "alpha-1", AUGUST, None),
        ("w1", "alpha-1", AUGUST, None),
        ("w1", "alpha-1", AUGUST, None),
        ("w1", "alpha-2", utc("2026-11-05T00:00"), None),
        ("w2", "beta-1", AUGUST, None),
        ("w2", "beta-1", AUGUST, utc("2026-10-20T00:00")),
        ("w4", "alpha-2", AUGUST, None),
        ("w4", "alpha-2", AUGUST, None),
    ]
    for n, (workload, cloud, seen, gone) in enumerate(replicas):
        session.add(
            Replica(
                workload_id=made[workload],
                cloud_id=ids.clouds[cloud],
                external_id=f"r{n}",
                name=f"r{n}",
                first_seen_at=seen,
                gone_at=gone,
                state=ItemState.gone if gone else ItemState.active,
            )
        )


def _incidents(session: Session, ids: Ids) -> None:
    """alpha-1: a P1 down 44.64 min (acked in 3); beta-1: a P2 down 89.28 min (acked in 30)."""
    for key, cloud, severity, start, ack, fix in (
        ("alpha", "alpha-1", Severity.P1, "2026-10-05T02:00", 3, 44.64),
        ("beta", "beta-1", Severity.P2, "2026-10-12T02:00", 30, 89.28),
    ):
        begun = utc(start)
        ids.incidents[key] = _flush_id(
            session,
            Incident(
                group_key=key,
                title=key,
                severity=severity,
                status=IncidentStatus.resolved,
                cloud_id=ids.clouds[cloud],
                created_at=begun,
                acknowledged_at=begun + ack * MIN,
                acknowledged_by="oncall1",
                resolved_at=begun + fix * MIN,
                resolved_by="auto",
            ),
        )


def _requests(session: Session, ids: Ids, depts: dict[str, int]) -> None:
    """Requests, plans and allocations (statuses: p = provisioned, f = failed, w = pending)."""
    user = _flush_id(
        session,
        User(
            username="req1",
            role=Role.department,
            department_id=depts["dept-x"],
            password_hash=factories.password_hash(),
        ),
    )
    rows = [  # key, department, created, fulfilled, plan decided, allocations (cloud, status)
        # 12 h; 2 on alpha-1 and 1 on beta-1
        (
            "R1",
            "dept-x",
            "2026-10-01T00:00",
            "2026-10-01T12:00",
            "2026-10-01T01:00",
            [("alpha-1", "p"), ("alpha-1", "p"), ("beta-1", "p")],
        ),
        # 72 h, all on alpha-2
        (
            "R2",
            "dept-x",
            "2026-10-10T00:00",
            "2026-10-13T00:00",
            "2026-10-10T02:00",
            [("alpha-2", "p"), ("alpha-2", "p")],
        ),
        # fulfilled 17:00Z on 31 Oct = 01:00 on 1 Nov in Shanghai: November's; decided October
        (
            "R3",
            "dept-y",
            "2026-10-31T10:00",
            "2026-10-31T17:00",
            "2026-10-31T15:30",
            [("beta-1", "p")],
        ),
        # never fulfilled; 1 made and 2 failed on alpha-1, one still pending on beta-1
        (
            "R4",
            "dept-y",
            "2026-10-20T00:00",
            None,
            "2026-10-20T01:00",
            [("alpha-1", "p"), ("alpha-1", "f"), ("alpha-1", "f"), ("beta-1", "w")],
        ),
        # decided 16:30Z on 30 Sep = 00:30 on 1 Oct in Shanghai: October's
        ("R5", "dept-x", "2026-09-30T16:00", None, "2026-09-30T16:30", [("beta-1", "f")]),
        # September's: fulfilled after 24 h, its only allocation failed (then made elsewhere)
        (
            "R6",
            "dept-x",
            "2026-09-29T15:30",
            "2026-09-30T15:30",
            "2026-09-30T15:00",
            [("alpha-1", "f")],
        ),
    ]
    status = {
        "p": AllocationStatus.provisioned,
        "f": AllocationStatus.failed,
        "w": AllocationStatus.pending,
    }
    for key, dept, created, fulfilled, decided, allocations in rows:
        ids.requests[key] = _flush_id(
            session,
            ResourceRequest(
                service_name=f"svc-{key.lower()}",
                replicas=len(allocations),
                vcpus=1,
                memory_mb=256,
                department_id=depts[dept],
                requested_by=user,
                status=RequestStatus.fulfilled if fulfilled else RequestStatus.partial,
                created_at=utc(created),
                fulfilled_at=utc(fulfilled) if fulfilled else None,
            ),
        )
        plan = ids.plans[key] = _flush_id(
            session,
            Plan(
                request_id=ids.requests[key],
                status=PlanStatus.applied,
                solver="greedy",
                decided_by="admin1",
                decided_at=utc(decided),
            ),
        )
        for n, (cloud, state) in enumerate(allocations):
            host = "b1" if cloud == "beta-1" else "h1" if cloud == "alpha-1" else "h4"
            session.add(
                Allocation(
                    plan_id=plan,
                    replica_index=n,
                    host_id=ids.hosts[host],
                    cloud_id=ids.clouds[cloud],
                    idempotency_key=f"{key}-{n}",
                    status=status[state],
                )
            )


def _alerts(session: Session, ids: Ids, depts: dict[str, int]) -> None:
    """October's episodes: A1 x3 (one at 00:30 on 1 Oct Shanghai), A2 x1, A3 x1, A4 x1; an
    A2 episode on 1 Nov Shanghai, a `notified` and an `alert_resolved` event do not count."""
    alerts = {  # key: cloud, department
        "A1": ("alpha-1", "dept-x"),
        "A2": ("alpha-2", None),
        "A3": ("beta-1", "dept-y"),
        "A4": (None, "dept-x"),
    }
    for key, (cloud, dept) in alerts.items():
        ids.alerts[key] = _flush_id(
            session,
            Alert(
                fingerprint=key,
                source=AlertSource.builtin,
                name=key,
                state=AlertState.resolved,
                active_since=AUGUST,
                cloud_id=ids.clouds[cloud] if cloud else None,
                department_id=depts[dept] if dept else None,
            ),
        )
    events = [  # kind, at, alert, incident
        ("alert_added", "2026-10-05T02:00", "A1", "alpha"),
        ("alert_refired", "2026-10-06T00:00", "A1", "alpha"),
        ("alert_added", "2026-09-30T16:30", "A1", "alpha"),
        ("alert_added", "2026-10-07T00:00", "A2", "alpha"),
        ("alert_added", "2026-10-12T02:00", "A3", "beta"),
        ("alert_added", "2026-10-13T00:00", "A4", "beta"),
        ("alert_added", "2026-10-31T16:00", "A2", "alpha"),
        ("notified", "2026-10-06T00:00", "A1", "alpha"),
        ("alert_resolved", "2026-10-06T01:00", "A1", "alpha"),
    ]
    for kind, at, alert, incident in events:
        session.add(
            IncidentEvent(
                incident_id=ids.incidents[incident],
                at=utc(at),
                kind=kind,
                actor="system",
                data={"alert_id": ids.alerts[alert]},
            )
        )


def build(session: Session) -> Ids:
    ids = Ids()
    depts = {
        code: _flush_id(session, Department(code=code, name=code))
        for code in ("dept-x", "dept-y", "dept-z")
    }
    session.add_all(
        [
            Quota(department_id=depts["dept-x"], resource=Resource.vcpus, limit=10),
            Quota(department_id=depts["dept-x"], resource=Resource.memory_mb, limit=4096),
            Quota(department_id=depts["dept-y"], resource=Resource.instances, limit=5),
        ]
    )
    _clouds(session, ids)
    _hosts(session, ids)
    _workloads(session, ids, depts)
    _incidents(session, ids)
    _requests(session, ids, depts)
    _alerts(session, ids, depts)
    session.commit()
    return ids
