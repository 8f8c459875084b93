"""`yunheng demo`'s 90 days of simulated history, so the monthly assessment has a story.

What is seeded, once (an audit entry `demo.history` marks it; a second run adds nothing):
- the simulated clouds and their zones, hosts, workloads and replicas are backdated to the
  start of the window (a cloud is observed from its registration and hosts and replicas
  count from when first seen, so the assessment would otherwise see nothing before today);
- a contract per demo vendor: 99.95 % a month, credits 10 % below 99.95, 25 % below 99.9,
  50 % below 99 (a vendor that already has a contract keeps it);
- incidents with their alerts and timelines (console.demo_history_incidents);
- resource requests with plans and allocations (console.demo_history_requests).

The story, in Shanghai calendar months: the month before last is the OpenStack vendor's bad
month - a 31-minute control-plane outage (P1, acknowledged late) and a short host failure
put it under 99.95 % and it owes a 10 % credit - and last month it meets its target; the
other vendors meet theirs in both, with short host and zone failures. One host failure
crosses midnight between the two months (its minutes split between them), department
services' probe failures give the departments P1s (two acknowledged late the bad month),
and every day brings a little P3/P4 noise: mostly acknowledged within target, some cleared
by themselves before anyone acked, a few acked late. This month so far: the same noise, an
acknowledged disk alert still open and an unacknowledged memory alert still paging.

Availability samples: the demo has no Prometheus, so there is no SLI series to backfill;
availability in the demo comes from the incident source (sla.settlement), as the
assessment's fallback does anywhere without Prometheus.

Deterministic: the same `now`, `days` and `seed` give the same history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts.severity import AUTO
from console.demo_history_incidents import Episode, write_episodes
from console.demo_history_noise import Estate, noise
from console.demo_history_requests import seed_requests
from inventory import audit
from inventory.models import (
    AlertRoute,
    AuditEvent,
    Cloud,
    Host,
    Replica,
    VendorContract,
    Workload,
    Zone,
)
from sla.availability import SHANGHAI

HISTORY_ACTION = "demo.history"
HISTORY_DAYS = 90  # what `yunheng demo` seeds
DEFAULT_SEED = 2026
TIERS = [
    {"below": 0.9995, "credit": 0.10},
    {"below": 0.999, "credit": 0.25},
    {"below": 0.99, "credit": 0.50},
]
FEES = {"openstack": Decimal("120000.00"), "kubernetes": Decimal("90000.00")}
OTHER_FEE = Decimal("60000.00")


@dataclass(frozen=True)
class History:
    seeded: bool  # False: it was there already, nothing was added
    since: datetime | None = None
    incidents: int = 0
    alerts: int = 0
    requests: int = 0
    contracts: int = 0


def _month_starts(now: datetime) -> tuple[datetime, datetime, datetime]:
    """The first midnights (Shanghai) of the month before last, last month and this one."""
    this = now.astimezone(SHANGHAI).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last = (this - timedelta(days=1)).replace(day=1)
    before = (last - timedelta(days=1)).replace(day=1)
    return before, last, this


def _at(month: datetime, day: int, hour: int, minute: int) -> datetime:
    return month.replace(day=day, hour=hour, minute=minute).astimezone(UTC)


def _m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def _story(estate: Estate, rng: random.Random, now: datetime) -> list[Episode]:
    """The scripted episodes: every P1/P2 on a cloud, so each vendor's downtime is known."""
    bad, good, _ = _month_starts(now)
    found: list[Episode] = []

    def host_down(kind: str, start: datetime, ack: float, fix: float, by: str = AUTO) -> None:
        if kind in estate.clouds:
            labels, summary = estate.host_down(kind, rng)
            found.append(Episode([labels], summary, start, _m(ack), _m(fix), by))

    def probe(dept: str, service: str, start: datetime, ack: float, fix: float, by: str) -> None:
        labels = {"alertname": "ServiceProbeFailed", "severity": "critical"}
        labels |= {"department": dept, "service": service}
        summary = f"服务 {service} 探测失败 Service probe failed"
        found.append(Episode([labels], summary, start, _m(ack), _m(fix), by))

    if "openstack" in estate.clouds:  # the bad month: 31 + 4 minutes down, under 99.95 %
        labels, summary = estate.cloud_unreachable("openstack")
        note = (
            "admin",
            "复盘 Post-mortem: the control plane lost its storage network for 31 minutes "
            "(a switch failed over slowly). The vendor owes this month's credit.",
        )
        found.append(Episode([labels], summary, _at(bad, 9, 2, 17), _m(9), _m(31), notes=[note]))
    host_down("openstack", _at(bad, 21, 14, 5), 3, 4)
    host_down("kubernetes", _at(bad, 14, 10, 40), 4, 5)
    host_down("public", _at(bad, 5, 16, 20), 7, 10)
    if "kubernetes" in estate.clouds:  # across midnight: 12 minutes before it, 9 after
        labels, summary = estate.host_down("kubernetes", rng)
        note = ("oncall", "node rebooted by the vendor; pods rescheduled")
        start = good.astimezone(UTC) - _m(12)
        found.append(Episode([labels], summary, start, _m(6), _m(21), "oncall", notes=[note]))
    probe("public-security", "public-security-portal", _at(bad, 11, 8, 40), 3, 25, "oncall")
    probe("health", "health-api", _at(bad, 24, 19, 2), 8, 18, AUTO)
    probe("education", "education-exam", _at(bad, 27, 7, 55), 11, 30, "oncall")
    # Last month: every vendor within its target, every P1 acknowledged in time.
    host_down("openstack", _at(good, 12, 3, 30), 2, 6)
    host_down("kubernetes", _at(good, 19, 9, 12), 3, 4)
    if "public" in estate.clouds:
        labels, summary = estate.zone_degraded("public")
        found.append(Episode([labels], summary, _at(good, 23, 20, 5), _m(3), _m(16)))
    probe("gov-service", "gov-service-portal", _at(good, 7, 9, 15), 2, 12, "oncall")
    probe("education", "education-exam", _at(good, 16, 21, 30), 4, 9, AUTO)
    # Now: one acknowledged and one unacknowledged incident still open.
    for kind, name, severity, ago, ack in (
        ("openstack", "HostDiskFilling", "warning", 180, 20.0),
        ("public", "HostMemoryPressure", "info", 50, None),
    ):
        if kind in estate.clouds:
            labels, summary = estate.host_alert(kind, name, severity, rng)
            ack_after = None if ack is None else _m(ack)
            found.append(Episode([labels], summary, now - _m(ago), ack_after))
    return found


def _backdate(session: Session, clouds: list[Cloud], since: datetime) -> None:
    """The simulated clouds and their inventory existed when the window opened: a cloud is
    observed from its registration, hosts and replicas count from when first seen."""
    ids = [c.id for c in clouds]
    for cloud in clouds:
        cloud.created_at = min(cloud.created_at, since)
    for table in (Zone, Host, Workload, Replica):
        session.execute(
            sa.update(table)
            .where(col(table.cloud_id).in_(ids), col(table.first_seen_at) > since)
            .values(first_seen_at=since)
        )


def _contracts(session: Session, clouds: list[Cloud], since: datetime) -> int:
    """A contract per demo vendor from the window's first month; existing ones are kept."""
    have = set(session.execute(sa.select(col(VendorContract.vendor))).scalars())
    first = since.astimezone(SHANGHAI).date().replace(day=1)
    made = 0
    for cloud in clouds:
        if cloud.vendor in have:
            continue
        have.add(cloud.vendor)
        profile = str((cloud.settings or {}).get("profile", ""))
        session.add(
            VendorContract(
                vendor=cloud.vendor,
                sla_target=0.9995,
                monthly_fee=FEES.get(profile, OTHER_FEE),
                credit_tiers=[dict(t) for t in TIERS],
                valid_from=date(first.year, first.month, 1),
            )
        )
        made += 1
    return made


def seed_history(
    session: Session, now: datetime, *, days: int = HISTORY_DAYS, seed: int = DEFAULT_SEED
) -> History:
    """Seed `days` of history ending at `now` into the demo estate (see the module doc).
    Runs after console.demo's estate, users and alerting are seeded; the caller commits."""
    if days < 1:
        raise ValueError("days must be at least 1")
    marked = session.execute(
        sa.select(col(AuditEvent.id)).where(col(AuditEvent.action) == HISTORY_ACTION).limit(1)
    ).first()
    if marked is not None:
        return History(seeded=False)
    since = now - timedelta(days=days)
    rng = random.Random(seed)  # noqa: S311 - a demo's story, not a secret
    estate = Estate.load(session)
    _backdate(session, estate.rows, since)
    contracts = _contracts(session, estate.rows, since)
    episodes = [e for e in _story(estate, rng, now) if since <= e.start]
    episodes += noise(estate, rng, since, now)
    route = session.execute(
        sa.select(AlertRoute).where(col(AlertRoute.name) == "demo")
    ).scalar_one_or_none()
    incidents, alerts = write_episodes(session, episodes, now, route)
    requests = seed_requests(session, rng, since, now)
    history = History(True, since, incidents, alerts, requests, contracts)
    audit.record(
        session,
        actor="demo",
        action=HISTORY_ACTION,
        target_type="demo",
        after={
            "days": days,
            "seed": seed,
            "since": since.isoformat(),
            "incidents": incidents,
            "alerts": alerts,
            "requests": requests,
            "contracts": contracts,
        },
        detail="simulated history for the demo's reports",
    )
    session.flush()
    return history


def reports_hint(now: datetime) -> str:
    """One line for the demo's output: which monthly reports tell the story."""
    bad, good, _ = _month_starts(now)
    return (
        f"History: {HISTORY_DAYS} days simulated; `yunheng report month {bad:%Y-%m}` (a "
        f"vendor owes a credit) and `yunheng report month {good:%Y-%m}` (it recovered)."
    )
