"""The demo estate as the history sees it, and the daily P3/P4 noise of its 90 days.

Labels follow the alerting model: the built-in estate rules' own labels (CloudUnreachable,
ZoneDegraded, HostDown, InventorySyncStale with `cloud` the cloud's name) and, for what a
Prometheus would have sent through Alertmanager, `instance`, `department` and `service`.
Noise is P3/P4 only, so it never counts as downtime: each vendor's availability rests on
the scripted episodes alone, and the story cannot drift with the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from alerts.severity import AUTO, DEFAULT_ACK_MINUTES
from console.demo_history_incidents import Episode
from inventory.models import Cloud, Department, Host, HostState, Severity, Zone
from sla.kpi import DEFAULT_REPAIR_MINUTES

# (alertname, severity label, scope, weight); scope: host, cloud, service or department.
NOISE = [
    ("HostHighLoad", "warning", "host", 4),
    ("HostDiskFilling", "warning", "host", 2),
    ("HostMemoryPressure", "info", "host", 3),
    ("InventorySyncStale", "warning", "cloud", 1),
    ("PodCrashLooping", "warning", "service", 2),
    ("ServiceLatencyHigh", "warning", "service", 3),
    ("CertificateExpiring", "info", "department", 1),
]
SUMMARIES = {
    "HostHighLoad": "主机 {x} 负载高 High load",
    "HostDiskFilling": "主机 {x} 磁盘将满 Disk filling up",
    "HostMemoryPressure": "主机 {x} 内存紧张 Memory pressure",
    "InventorySyncStale": "云 {x} 的资源清单未同步 Inventory stale",
    "PodCrashLooping": "服务 {x} 的 Pod 反复重启 Pod crash looping",
    "ServiceLatencyHigh": "服务 {x} 延迟高 High latency",
    "CertificateExpiring": "服务 {x} 的证书将过期 Certificate expiring",
}
APPS = ["portal", "api", "db", "gis", "auth", "report"]
SEVERITY_OF = {"warning": Severity.P3, "info": Severity.P4}


@dataclass
class Estate:
    """The demo's simulated clouds by profile (openstack, kubernetes, public), their hosts
    as (host name, zone external id), and the department codes."""

    rows: list[Cloud]
    clouds: dict[str, Cloud]
    hosts: dict[str, list[tuple[str, str]]]
    departments: list[str]

    @classmethod
    def load(cls, session: Session) -> Estate:
        rows = list(
            session.execute(
                sa.select(Cloud).where(col(Cloud.kind) == "simulator").order_by(col(Cloud.id))
            ).scalars()
        )
        clouds: dict[str, Cloud] = {}
        for cloud in rows:
            clouds.setdefault(str((cloud.settings or {}).get("profile", "")), cloud)
        hosts: dict[str, list[tuple[str, str]]] = {}
        for kind, cloud in clouds.items():
            found = session.execute(
                sa.select(col(Host.name), col(Zone.external_id))
                .join(Zone, col(Zone.id) == col(Host.zone_id))
                .where(col(Host.cloud_id) == cloud.id, col(Host.state) != HostState.gone)
                .order_by(col(Host.name))
            ).all()
            hosts[kind] = [(str(h), str(z)) for h, z in found]
        codes = session.execute(sa.select(col(Department.code)).order_by(col(Department.code)))
        return cls(rows, clouds, hosts, [str(c) for c in codes.scalars()])

    def _host(self, kind: str, rng: random.Random) -> tuple[str, str]:
        hosts = self.hosts.get(kind) or [(f"sim-{kind}-host", "")]
        return hosts[rng.randrange(len(hosts))]

    def host_down(self, kind: str, rng: random.Random) -> tuple[dict[str, str], str]:
        host, zone = self._host(kind, rng)
        cloud = self.clouds[kind].name
        labels = {"alertname": "HostDown", "severity": "major", "cloud": cloud}
        return labels | {"zone": zone, "host": host}, f"主机 {host} 宕机 Host down"

    def zone_degraded(self, kind: str) -> tuple[dict[str, str], str]:
        cloud = self.clouds[kind]
        zone = (self.hosts.get(kind) or [("", f"{cloud.region}-az1")])[0][1]
        labels = {"alertname": "ZoneDegraded", "severity": "critical", "cloud": cloud.name}
        return labels | {"zone": zone, "region": cloud.region}, f"可用区 {zone} 降级 Zone degraded"

    def cloud_unreachable(self, kind: str) -> tuple[dict[str, str], str]:
        cloud = self.clouds[kind]
        labels = {"alertname": "CloudUnreachable", "severity": "critical", "cloud": cloud.name}
        labels |= {"cloud_kind": cloud.kind, "region": cloud.region}
        return labels, f"云 {cloud.name} 的 API 不可达 Cloud API unreachable"

    def host_alert(
        self, kind: str, name: str, severity: str, rng: random.Random
    ) -> tuple[dict[str, str], str]:
        host, zone = self._host(kind, rng)
        labels = {"alertname": name, "severity": severity, "cloud": self.clouds[kind].name}
        return labels | {"zone": zone, "instance": host}, SUMMARIES[name].format(x=host)

    def noise_labels(self, rng: random.Random) -> tuple[dict[str, str], str] | None:
        name, severity, scope, _ = rng.choices(NOISE, weights=[n[3] for n in NOISE])[0]
        kind = rng.choice(sorted(self.clouds)) if self.clouds else ""
        if scope == "host" and kind:
            return self.host_alert(kind, name, severity, rng)
        labels = {"alertname": name, "severity": severity}
        if scope == "cloud" and kind:
            cloud = self.clouds[kind].name
            return labels | {"cloud": cloud}, SUMMARIES[name].format(x=cloud)
        if not self.departments or scope not in ("service", "department"):
            return None
        if name == "PodCrashLooping":
            kind = "kubernetes" if "kubernetes" in self.clouds else kind
        dept = rng.choice(self.departments)
        service = f"{dept}-{rng.choice(APPS)}"
        labels |= {"department": dept, "service": service}
        if scope == "service" and kind:
            labels["cloud"] = self.clouds[kind].name
        return labels, SUMMARIES[name].format(x=service)


def _handling(severity: Severity, rng: random.Random) -> tuple[timedelta | None, timedelta, str]:
    """(ack after, resolved after, by): most acked within target, a few late; some clear by
    themselves before anyone acks."""
    target = DEFAULT_ACK_MINUTES[severity]
    repair = DEFAULT_REPAIR_MINUTES[severity]
    if rng.random() < (0.8 if severity == Severity.P3 else 0.55):
        late = rng.random() < 0.1
        ack = target * (rng.uniform(1.1, 2.0) if late else rng.uniform(0.05, 0.8))
        fix = ack + rng.uniform(10, 0.6 * repair)
        by = "oncall" if rng.random() < 0.5 else AUTO
        return timedelta(minutes=ack), timedelta(minutes=fix), by
    return None, timedelta(minutes=rng.uniform(3, 0.8 * target)), AUTO


def noise(estate: Estate, rng: random.Random, since: datetime, now: datetime) -> list[Episode]:
    """About one P3/P4 incident a day from `since` until four days before `now` (so all are
    resolved by now: the slowest P4 takes 51 hours); a group (alertname, cloud) never has
    two incidents at once."""
    found: list[Episode] = []
    busy: dict[tuple[str, str], datetime] = {}
    day = since + timedelta(hours=6)
    while day < now - timedelta(days=4):
        for _ in range(rng.choices([0, 1, 2], weights=[35, 45, 20])[0]):
            picked = estate.noise_labels(rng)
            start = day + timedelta(minutes=rng.randrange(24 * 60))
            if picked is None:
                continue
            labels, summary = picked
            group = (labels["alertname"], labels.get("cloud", ""))
            if start < busy.get(group, since):
                continue
            ack, fix, by = _handling(SEVERITY_OF[labels["severity"]], rng)
            busy[group] = start + fix + timedelta(minutes=5)
            found.append(Episode([labels], summary, start, ack, fix, by))
        day += timedelta(days=1)
    return found
