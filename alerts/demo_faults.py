"""`yunheng demo`'s fault injector: the alerting loop shown without any Prometheus.

Every few minutes it breaks one simulated cloud in turn - a host down, a zone degraded
(every host of one zone down), a cloud API unreachable - through the simulator's own
`faults` setting, exactly as an admin could, and syncs it, so the built-in estate rules see
the fault and page the demo on-call user. Half a period later it clears the fault and syncs
again, and the incident resolves by itself. Changes are audited as `demo-faults`.

It only ever touches clouds of kind `simulator`. It runs as a job of the alert loop, so
only the lease holder injects faults; a restart first clears what a killed run left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from adapters import service as clouds
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.db import session_scope
from inventory.models import Cloud, CloudStatus, CloudUpdate, Host, HostState, Zone

log = logging.getLogger(__name__)

ACTOR = Viewer.system("demo-faults")
NO_FAULTS: dict[str, Any] = {"unreachable": False, "hosts_down": []}


@dataclass(frozen=True)
class Fault:
    kind: str  # host_down | zone_degraded | cloud_unreachable
    cloud_id: int
    cloud: str
    faults: dict[str, Any]  # the simulator's `faults` setting
    what: str  # for the log


def _simulated(session: Session) -> list[Cloud]:
    return list(
        session.execute(
            sa.select(Cloud)
            .where(col(Cloud.kind) == "simulator", col(Cloud.status) != CloudStatus.disabled)
            .order_by(col(Cloud.id))
        ).scalars()
    )


def _up_hosts(session: Session, cloud_id: int) -> list[tuple[str, str]]:
    """(host name, zone external id) of a cloud's hosts that are up, by name."""
    rows = session.execute(
        sa.select(col(Host.name), col(Zone.external_id))
        .join(Zone, col(Zone.id) == col(Host.zone_id))
        .where(col(Host.cloud_id) == cloud_id, col(Host.state) == HostState.up)
        .order_by(col(Host.name))
    ).all()
    return [(str(name), str(zone)) for name, zone in rows]


def plan_fault(session: Session, round_no: int) -> Fault | None:
    """The fault of round `round_no`: host down, zone degraded, cloud unreachable in turn,
    each on the next simulated cloud that can show it."""
    candidates = _simulated(session)
    if not candidates:
        return None
    kind = ("host_down", "zone_degraded", "cloud_unreachable")[round_no % 3]
    cloud = candidates[round_no % len(candidates)]
    hosts = _up_hosts(session, cloud.id or 0)
    if kind == "cloud_unreachable" or not hosts:
        return Fault(
            "cloud_unreachable",
            cloud.id or 0,
            cloud.name,
            {"unreachable": True},
            f"cloud {cloud.name} API unreachable",
        )
    if kind == "host_down":
        name = hosts[(round_no // 3) % len(hosts)][0]
        return Fault(
            "host_down", cloud.id or 0, cloud.name, {"hosts_down": [name]}, f"host {name} down"
        )
    zone = hosts[0][1]
    down = [name for name, z in hosts if z == zone]
    return Fault(
        "zone_degraded",
        cloud.id or 0,
        cloud.name,
        {"hosts_down": down},
        f"zone {zone} degraded ({len(down)} hosts down)",
    )


def _set_faults(session: Session, box: SecretBox, cloud_id: int, faults: dict[str, Any]) -> None:
    clouds.update_cloud(session, ACTOR, cloud_id, CloudUpdate(settings={"faults": faults}), box)
    session.flush()
    clouds.sync(session, ACTOR, cloud_id, box, timeout=30.0)


class DemoFaults:
    """A job of the alert loop: call it with the loop's clock each period."""

    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        *,
        every: timedelta,
        lasts: timedelta | None = None,
        first_after: timedelta = timedelta(seconds=20),
        resync: timedelta = timedelta(minutes=10),
    ) -> None:
        self.engine = engine
        self.box = box
        self.every = every
        self.lasts = lasts or every / 2
        self.first_after = first_after
        self.resync = resync
        self.round = 0
        self.active: Fault | None = None
        self.clear_at: datetime | None = None
        self.next_at: datetime | None = None

    def __call__(self, now: datetime) -> None:
        self.step(now)

    def step(self, now: datetime) -> str | None:
        """Inject, clear or resync as due; returns what it did, for logs and tests."""
        with session_scope(self.engine) as session:
            if self.next_at is None:
                self._clear_leftovers(session)
                self.next_at = now + self.first_after
            done = None
            if self.active is not None and self.clear_at is not None and now >= self.clear_at:
                _set_faults(session, self.box, self.active.cloud_id, NO_FAULTS)
                done = f"cleared: {self.active.what} on {self.active.cloud}"
                self.active, self.clear_at = None, None
            elif self.active is None and now >= self.next_at:
                fault = plan_fault(session, self.round)
                self.round += 1
                self.next_at = now + self.every
                if fault is not None:
                    _set_faults(session, self.box, fault.cloud_id, fault.faults)
                    self.active, self.clear_at = fault, now + self.lasts
                    done = f"injected: {fault.what} on {fault.cloud}"
            self._resync_stale(session, now)
        if done:
            log.info("demo fault %s", done)
        return done

    def _clear_leftovers(self, session: Session) -> None:
        for cloud in _simulated(session):
            faults = (cloud.settings or {}).get("faults") or {}
            if faults.get("unreachable") or faults.get("hosts_down"):
                log.info("demo: clearing faults left on %s by an earlier run", cloud.name)
                _set_faults(session, self.box, cloud.id or 0, NO_FAULTS)

    def _resync_stale(self, session: Session, now: datetime) -> None:
        # Keep the demo's inventory fresh, so InventorySyncStale does not fire in a demo
        # left running (a production estate syncs on its own schedule).
        for cloud in _simulated(session):
            if self.active is not None and cloud.id == self.active.cloud_id:
                continue
            if cloud.last_sync_at is None or now - cloud.last_sync_at >= self.resync:
                clouds.sync(session, ACTOR, cloud.id or 0, self.box, timeout=30.0)
