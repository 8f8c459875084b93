"""The estate's own rules, evaluated from the inventory database rather than Prometheus.

They work with no Prometheus at all (the demo, a first install), and they keep working when
Prometheus is down, which is exactly when they matter:

- CloudUnreachable (critical): a cloud's last sync failed (status `degraded`); its last
  known inventory is kept, and its hosts' alerts are inhibited (alerts.noise).
- ZoneDegraded (critical): half or more of a zone's hosts are down.
- HostDown (major): a host the cloud reports down (not in maintenance, not gone).
- InventorySyncStale (warning): a cloud not synced for `alert_sync_stale_minutes`.

Each is one source (`builtin:<name>`): a complete round of it resolves what it no longer
sees. Label names follow the console's /metrics: `cloud` is the cloud's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts.state import Observation
from inventory.models import AlertSource, Cloud, CloudStatus, Host, HostState, Zone

ZONE_DEGRADED_SHARE = 0.5


@dataclass(frozen=True)
class EstateLimits:
    sync_stale: timedelta = timedelta(minutes=60)
    zone_degraded_share: float = ZONE_DEGRADED_SHARE


Finder = Callable[[Session, datetime, EstateLimits], list[Observation]]


@dataclass(frozen=True)
class BuiltinRule:
    name: str
    severity: str  # as a rule file would label it; alerts.state maps it to P1-P4
    summary: str  # what it means, for `yunheng rules list` and the README
    find: Finder

    @property
    def source_key(self) -> str:
        return f"builtin:{self.name}"


def _obs(
    name: str, severity: str, labels: dict[str, str], value: float, **notes: str
) -> Observation:
    return Observation(
        labels={"alertname": name, "severity": severity, **labels},
        annotations=notes,
        value=value,
        source=AlertSource.builtin,
    )


def _watched() -> sa.ColumnElement[bool]:
    return col(Cloud.status) != CloudStatus.disabled


def cloud_unreachable(session: Session, now: datetime, limits: EstateLimits) -> list[Observation]:
    rows = session.execute(
        sa.select(Cloud).where(col(Cloud.status) == CloudStatus.degraded).order_by(col(Cloud.id))
    ).scalars()
    return [
        _obs(
            "CloudUnreachable",
            "critical",
            {"cloud": c.name, "cloud_kind": c.kind, "region": c.region},
            1.0,
            summary=f"云 {c.name} 的 API 不可达 Cloud API unreachable",
            description=(c.last_error or "the last sync failed")[:1000],
        )
        for c in rows
    ]


@dataclass(frozen=True)
class _ZoneHealth:
    cloud: str
    zone: str  # external id: stable, as the cloud names it
    zone_name: str
    region: str
    share_down: float


def _degraded_zones(session: Session, limits: EstateLimits) -> list[_ZoneHealth]:
    down = sa.func.sum(sa.case((col(Host.state) == HostState.down, 1), else_=0))
    rows = session.execute(
        sa.select(
            col(Cloud.name),
            col(Zone.external_id),
            col(Zone.name),
            col(Zone.region),
            sa.func.count(),
            down,
        )
        .join(Zone, col(Zone.id) == col(Host.zone_id))
        .join(Cloud, col(Cloud.id) == col(Host.cloud_id))
        .where(col(Host.state) != HostState.gone, _watched())
        .group_by(
            col(Cloud.name), col(Zone.id), col(Zone.external_id), col(Zone.name), col(Zone.region)
        )
        .order_by(col(Zone.id))
    ).all()
    found = []
    for cloud, external_id, name, region, total, n_down in rows:
        share = int(n_down or 0) / int(total) if total else 0.0
        if share >= limits.zone_degraded_share:
            found.append(_ZoneHealth(cloud, external_id, name, region, share))
    return found


def zone_degraded(session: Session, now: datetime, limits: EstateLimits) -> list[Observation]:
    return [
        _obs(
            "ZoneDegraded",
            "critical",
            {"cloud": z.cloud, "zone": z.zone, "region": z.region},
            z.share_down,
            summary=f"可用区 {z.zone_name} 的主机 {z.share_down:.0%} 宕机 Zone degraded",
            description=f"{z.share_down:.0%} of the hosts of zone {z.zone_name} ({z.cloud}) "
            "are down",
        )
        for z in _degraded_zones(session, limits)
    ]


def host_down(session: Session, now: datetime, limits: EstateLimits) -> list[Observation]:
    rows = session.execute(
        sa.select(Host, col(Cloud.name), col(Zone.external_id))
        .join(Cloud, col(Cloud.id) == col(Host.cloud_id))
        .outerjoin(Zone, col(Zone.id) == col(Host.zone_id))
        .where(col(Host.state) == HostState.down, _watched())
        .order_by(col(Host.id))
    ).all()
    return [
        _obs(
            "HostDown",
            "major",
            {"cloud": cloud, "zone": zone or "", "host": host.name},
            1.0,
            summary=f"主机 {host.name} 宕机 Host down",
            description=f"{cloud} reports host {host.name} down",
        )
        for host, cloud, zone in rows
    ]


def sync_stale(session: Session, now: datetime, limits: EstateLimits) -> list[Observation]:
    cutoff = now - limits.sync_stale
    rows = session.execute(
        sa.select(Cloud).where(
            _watched(),
            sa.or_(
                col(Cloud.last_sync_at) < cutoff,
                sa.and_(col(Cloud.last_sync_at).is_(None), col(Cloud.created_at) < cutoff),
            ),
        )
    ).scalars()
    found = []
    for c in rows:
        since = c.last_sync_at or c.created_at
        age = (now - since).total_seconds()
        found.append(
            _obs(
                "InventorySyncStale",
                "warning",
                {"cloud": c.name},
                age,
                summary=f"云 {c.name} 的资源清单已 {age / 3600:.1f} 小时未同步 Inventory stale",
                description=f"last good sync of {c.name}: {since.isoformat()}",
            )
        )
    return found


BUILTIN_RULES: list[BuiltinRule] = [
    BuiltinRule("CloudUnreachable", "critical", "a cloud's last sync failed", cloud_unreachable),
    BuiltinRule("ZoneDegraded", "critical", "half or more of a zone's hosts down", zone_degraded),
    BuiltinRule("HostDown", "major", "a host reported down by its cloud", host_down),
    BuiltinRule("InventorySyncStale", "warning", "a cloud not synced for a while", sync_stale),
]


def evaluate_builtin(
    session: Session, now: datetime, limits: EstateLimits | None = None
) -> dict[str, list[Observation]]:
    """One complete round of every built-in rule, by source key."""
    limits = limits or EstateLimits()
    return {rule.source_key: rule.find(session, now, limits) for rule in BUILTIN_RULES}
