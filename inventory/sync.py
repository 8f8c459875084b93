"""Reconcile a cloud's snapshot into the inventory: idempotent, never deleting.

Each kind (zones, hosts, workloads, replicas) is diffed in bulk: one SELECT of the
cloud's existing rows, a comparison in Python, then batched INSERT/UPDATE. A no-change
re-sync therefore costs four SELECTs and writes nothing, not even an audit event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from inventory import audit
from inventory.errors import Invalid
from inventory.models import (
    Cloud,
    CloudStatus,
    Department,
    Host,
    HostState,
    ItemState,
    Replica,
    Workload,
    Zone,
)
from inventory.snapshot import Snapshot
from inventory.types import utcnow

log = logging.getLogger(__name__)

Table = type[Zone] | type[Host] | type[Workload] | type[Replica]
SAMPLE = 20  # external ids kept per change list in the audit entry
DEFAULT_MAX_VANISH = 0.5
MASS_VANISH_MIN_ROWS = 10  # below this every change is plausible
JSON_COLUMNS = ("extra", "traits")


@dataclass
class KindReport:
    added: int = 0
    updated: int = 0
    revived: int = 0
    gone: int = 0
    unchanged: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.revived or self.gone)

    def note(self, what: str, external_id: str) -> None:
        ids = self.samples.setdefault(what, [])
        if len(ids) < SAMPLE:
            ids.append(external_id)


@dataclass
class SyncReport:
    cloud_id: int
    kinds: dict[str, KindReport]

    @property
    def changed(self) -> bool:
        return any(k.changed for k in self.kinds.values())

    def summary(self) -> dict[str, Any]:
        return {
            name: {
                "added": k.added,
                "updated": k.updated,
                "revived": k.revived,
                "gone": k.gone,
                "unchanged": k.unchanged,
                "samples": k.samples,
            }
            for name, k in self.kinds.items()
        }


@dataclass
class SyncOutcome:
    ok: bool
    report: SyncReport | None = None
    error: str | None = None


def reconcile(
    session: Session,
    cloud: Cloud,
    snapshot: Snapshot,
    *,
    actor: str = "system",
    now: datetime | None = None,
    max_vanish: float = DEFAULT_MAX_VANISH,
    force: bool = False,
) -> SyncReport:
    """Make the inventory of `cloud` match `snapshot`.

    Rows missing from the snapshot are marked gone (with gone_at), never deleted, so
    history and references survive; a row that comes back is revived in place.
    Raises Invalid, writing nothing, when the snapshot is inconsistent, or when it would
    mark more than `max_vanish` of the cloud's live hosts or replicas gone at once (a
    cloud API answering an empty list is likelier than a vanished data centre) unless
    `force` is set.
    """
    assert cloud.id is not None
    problems = snapshot.problems()
    if problems:
        shown = "; ".join(problems[:5])
        raise Invalid.of("sync.rejected", count=len(problems), problems=shown)
    # Serialise syncs of one cloud (PostgreSQL; SQLite already has a single writer).
    session.execute(sa.select(col(Cloud.id)).where(col(Cloud.id) == cloud.id).with_for_update())
    if not force:
        _refuse_mass_vanish(session, cloud.id, snapshot, max_vanish)
    now = now or utcnow()
    departments = {
        code: pk
        for code, pk in session.exec(select(Department.code, Department.id))
        if pk is not None
    }
    kinds: dict[str, KindReport] = {}

    with session.begin_nested():  # all four kinds or none
        kinds["zones"], zone_ids = _apply(
            session,
            Zone,
            cloud.id,
            {
                z.external_id: {
                    "name": z.name,
                    "region": z.region,
                    "availability": z.availability,
                    "state": z.state,
                    "extra": z.extra,
                }
                for z in snapshot.zones
            },
            ItemState.gone,
            now,
        )
        kinds["hosts"], host_ids = _apply(
            session,
            Host,
            cloud.id,
            {h.external_id: _host_values(h, zone_ids) for h in snapshot.hosts},
            HostState.gone,
            now,
        )
        kinds["workloads"], workload_ids = _apply(
            session,
            Workload,
            cloud.id,
            {w.external_id: _workload_values(w, departments) for w in snapshot.workloads},
            ItemState.gone,
            now,
        )
        managed = _managed_owners(session, cloud.id, snapshot)
        kinds["replicas"], _ = _apply(
            session,
            Replica,
            cloud.id,
            {
                r.external_id: {
                    "name": r.name,
                    "workload_id": (
                        workload_ids[r.workload]
                        if r.workload is not None
                        else managed[r.external_id]
                    ),
                    "host_id": None if r.host is None else host_ids[r.host],
                    "state": r.state,
                    "extra": r.extra,
                }
                for r in snapshot.replicas
                if r.workload is not None or r.external_id in managed
            },
            ItemState.gone,
            now,
        )
    report = SyncReport(cloud_id=cloud.id, kinds=kinds)
    if report.changed:
        audit.record(
            session,
            actor=actor,
            action="inventory.sync",
            target_type="cloud",
            target_id=cloud.id,
            after=report.summary(),
        )
    return report


def _managed_owners(session: Session, cloud_id: int, snapshot: Snapshot) -> dict[str, int]:
    """external_id -> workload_id of the replicas Yunheng provisioned on this cloud.

    Such replicas belong to the Yunheng service they were made for, which spans clouds; the
    cloud reports them without a workload, and they keep their owner. One the inventory does
    not know yet (its provisioning is still being recorded) waits for the next sync.
    """
    ids = [r.external_id for r in snapshot.replicas if r.workload is None]
    if not ids:
        return {}
    rows = session.execute(
        sa.select(col(Replica.external_id), col(Replica.workload_id)).where(
            col(Replica.cloud_id) == cloud_id, col(Replica.external_id).in_(ids)
        )
    ).all()
    return {ext: workload for ext, workload in rows}


def _refuse_mass_vanish(
    session: Session, cloud_id: int, snapshot: Snapshot, max_vanish: float
) -> None:
    for table, gone, reported, kind in (
        (Host, HostState.gone, {h.external_id for h in snapshot.hosts}, "hosts"),
        (Replica, ItemState.gone, {r.external_id for r in snapshot.replicas}, "replicas"),
    ):
        t: Any = table
        live = set(
            session.execute(
                sa.select(t.external_id).where(t.cloud_id == cloud_id, t.state != gone)
            ).scalars()
        )
        vanished = len(live - reported)
        if len(live) >= MASS_VANISH_MIN_ROWS and vanished > max_vanish * len(live):
            share = f"{max_vanish:.0%}"
            if kind == "hosts":
                raise Invalid.of("sync.hosts_vanish", gone=vanished, live=len(live), share=share)
            raise Invalid.of("sync.replicas_vanish", gone=vanished, live=len(live), share=share)


def _host_values(h: Any, zone_ids: dict[str, int]) -> dict[str, Any]:
    return {
        "name": h.name,
        "zone_id": None if h.zone is None else zone_ids[h.zone],
        "state": h.state,
        "arch": h.arch,
        "vcpus": h.vcpus,
        "memory_mb": h.memory_mb,
        "disk_gb": h.disk_gb,
        "gpus": h.gpus,
        "cpu_ratio": h.cpu_ratio,
        "ram_ratio": h.ram_ratio,
        "disk_ratio": h.disk_ratio,
        "vcpus_used": h.vcpus_used,
        "memory_mb_used": h.memory_mb_used,
        "disk_gb_used": h.disk_gb_used,
        "gpus_used": h.gpus_used,
        "traits": list(h.traits),
        "extra": h.extra,
    }


def _workload_values(w: Any, departments: dict[str, int]) -> dict[str, Any]:
    extra = w.extra
    if w.department is not None and w.department not in departments:
        # Keep what the cloud said, so an admin can create the department and re-sync.
        extra = {**extra, "unknown_department": w.department}
    return {
        "name": w.name,
        "kind": w.kind,
        "department_id": departments.get(w.department) if w.department else None,
        "replicas_desired": w.replicas_desired,
        "vcpus": w.vcpus,
        "memory_mb": w.memory_mb,
        "disk_gb": w.disk_gb,
        "gpus": w.gpus,
        "sla_target": w.sla_target,
        "security_level": w.security_level,
        "state": w.state,
        "extra": extra,
    }


def _apply(
    session: Session,
    table: Table,
    cloud_id: int,
    desired: dict[str, dict[str, Any]],
    gone_state: str,
    now: datetime,
) -> tuple[KindReport, dict[str, int]]:
    """Diff one kind of row for one cloud; return the report and external_id -> id."""
    report = KindReport()
    columns = list(next(iter(desired.values())).keys()) if desired else ["state"]
    t: Any = table  # column attributes of the union type, for the SQL expressions
    rows = session.execute(
        sa.select(t.id, t.external_id, *[getattr(t, c) for c in columns]).where(
            t.cloud_id == cloud_id
        )
    ).all()
    state_at = columns.index("state")
    existing = {row[1]: (row[0], tuple(row[2:])) for row in rows}
    ids = {ext: pk for ext, (pk, _) in existing.items()}

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for values in desired.values():
        for key in JSON_COLUMNS:
            if key in values:
                # Compare what the database will give back (tuples become lists, keys
                # strings), or such a row would look changed on every sync.
                values[key] = json.loads(json.dumps(values[key]))
    for ext, values in desired.items():
        found = existing.get(ext)
        if found is None:
            inserts.append(
                {**values, "cloud_id": cloud_id, "external_id": ext, "first_seen_at": now}
            )
            report.added += 1
            report.note("added", ext)
            continue
        pk, old = found
        if old == tuple(values[c] for c in columns):
            report.unchanged += 1
            continue
        updates.append({"id": pk, **values, "gone_at": None})
        if old[state_at] == gone_state:
            report.revived += 1
            report.note("revived", ext)
        else:
            report.updated += 1
            report.note("updated", ext)

    vanished: list[dict[str, Any]] = []
    for ext, (pk, old) in existing.items():
        if ext not in desired and old[state_at] != gone_state:
            vanished.append({"id": pk, "state": gone_state, "gone_at": now})
            report.gone += 1
            report.note("gone", ext)

    _bulk_update(session, table, updates)
    _bulk_update(session, table, vanished)
    if inserts:
        # Plain executemany, then one SELECT for the new ids: INSERT ... RETURNING in
        # batches builds statements too large for psycopg's cache and was 3x slower.
        for chunk in _chunks(inserts, 2000):
            session.execute(sa.insert(t), chunk)
        new = sa.select(t.external_id, t.id).where(t.cloud_id == cloud_id)
        ids.update({ext: pk for ext, pk in session.execute(new).all() if ext not in ids})
    return report, ids


def _bulk_update(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows, 2000):
        # ORM "bulk UPDATE by primary key": one executemany per chunk.
        session.execute(sa.update(table), chunk)


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def sync_cloud(
    session: Session,
    cloud: Cloud,
    discover: Callable[[], Snapshot],
    *,
    actor: str = "system",
    max_vanish: float = DEFAULT_MAX_VANISH,
    force: bool = False,
) -> SyncOutcome:
    """Discover then reconcile; a failure degrades the cloud and keeps its last inventory.

    `discover` is injected (an adapter's bound method) so inventory never imports adapters.
    """
    before = cloud.status
    try:
        snapshot = discover()
        report = reconcile(
            session, cloud, snapshot, actor=actor, max_vanish=max_vanish, force=force
        )
    except Exception as exc:  # any adapter fault must degrade, never crash the caller
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning("sync of cloud %s failed: %s", cloud.name, error)
        cloud.status = CloudStatus.degraded
        cloud.last_error = error
        cloud.updated_at = utcnow()
        session.add(cloud)
        if before != CloudStatus.degraded:
            audit.record(
                session,
                actor=actor,
                action="cloud.degraded",
                target_type="cloud",
                target_id=cloud.id,
                before={"status": str(before)},
                after={"status": "degraded", "last_error": error},
            )
        return SyncOutcome(ok=False, error=error)
    cloud.status = CloudStatus.ok
    cloud.last_error = None
    cloud.last_sync_at = utcnow()
    session.add(cloud)
    if before == CloudStatus.degraded:
        audit.record(
            session,
            actor=actor,
            action="cloud.recovered",
            target_type="cloud",
            target_id=cloud.id,
            before={"status": "degraded"},
            after={"status": "ok"},
        )
    return SyncOutcome(ok=True, report=report)
