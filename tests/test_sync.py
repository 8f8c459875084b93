"""Reconcile: idempotent, never deleting, and a failing cloud keeps what is known."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from adapters import service as clouds
from adapters.simulator import SimulatorSettings, generate_estate
from inventory.crypto import SecretBox
from inventory.errors import Invalid
from inventory.models import (
    AuditEvent,
    Cloud,
    CloudStatus,
    CloudUpdate,
    Host,
    HostState,
    ItemState,
    Replica,
    Workload,
)
from inventory.snapshot import HostInfo, ReplicaInfo, Snapshot, WorkloadInfo, ZoneInfo
from inventory.sync import reconcile, sync_cloud
from tests import factories

SETTINGS: dict[str, Any] = {
    "profile": "openstack",
    "seed": 5,
    "region": "r1",
    "hosts_per_zone": 6,
    "workloads": 10,
}


def _counts(session: Session, cloud_id: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for table in (Host, Workload, Replica):
        query = sa.select(sa.func.count()).where(col(table.cloud_id) == cloud_id)
        out[table.__name__] = int(session.execute(query).scalar_one())
    return out


def _audit_count(session: Session) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one())


def _cloud(session: Session, box: SecretBox, settings: dict[str, Any] | None = None) -> Cloud:
    return factories.cloud(session, box, "sim", settings or SETTINGS)


def _sync(session: Session, cloud: Cloud, box: SecretBox) -> Any:
    outcome = clouds.sync(session, factories.SYSTEM, cloud.id or 0, box)
    session.commit()
    return outcome


def test_same_snapshot_twice_changes_nothing(session: Session, box: SecretBox) -> None:
    cloud = _cloud(session, box)
    first = _sync(session, cloud, box)
    assert first.ok and first.report.changed
    assert first.report.kinds["hosts"].added == 12
    rows_before = session.execute(sa.select(Host).order_by(col(Host.id))).scalars().all()
    snapshot_of_rows = [h.model_dump() for h in rows_before]
    audits = _audit_count(session)

    second = _sync(session, cloud, box)
    assert second.ok
    assert not second.report.changed
    assert second.report.kinds["hosts"].unchanged == 12
    assert _audit_count(session) == audits, "a no-change sync must write no audit event"
    session.expire_all()
    rows_after = session.execute(sa.select(Host).order_by(col(Host.id))).scalars().all()
    assert [h.model_dump() for h in rows_after] == snapshot_of_rows


def test_first_sync_matches_snapshot(session: Session, box: SecretBox) -> None:
    cloud = _cloud(session, box)
    _sync(session, cloud, box)
    snapshot = generate_estate(SimulatorSettings.model_validate(SETTINGS))
    assert _counts(session, cloud.id or 0) == {
        "Host": len(snapshot.hosts),
        "Workload": len(snapshot.workloads),
        "Replica": len(snapshot.replicas),
    }
    # Allocation in the inventory is what the cloud reported, host by host.
    reported = {h.external_id: h.vcpus_used for h in snapshot.hosts}
    stored = dict(session.execute(sa.select(col(Host.external_id), col(Host.vcpus_used))).all())
    assert stored == reported
    sync_events = session.exec(
        select(AuditEvent).where(col(AuditEvent.action) == "inventory.sync")
    ).all()
    assert len(sync_events) == 1
    assert sync_events[0].after is not None and sync_events[0].after["hosts"]["added"] == 12


def test_vanished_host_is_marked_gone_then_revived(session: Session, box: SecretBox) -> None:
    cloud = _cloud(session, box)
    _sync(session, cloud, box)
    victim = "sim-r1-os-az1-0002"
    host_id = session.execute(
        sa.select(col(Host.id)).where(col(Host.external_id) == victim)
    ).scalar_one()
    replicas_on_it = (
        session.execute(sa.select(col(Replica.id)).where(col(Replica.host_id) == host_id))
        .scalars()
        .all()
    )

    clouds.update_cloud(
        session, factories.SYSTEM, cloud.id or 0, _with_faults(hosts_missing=[victim]), box
    )
    outcome = _sync(session, cloud, box)
    assert outcome.report.kinds["hosts"].gone == 1
    session.expire_all()
    host = session.get(Host, host_id)
    assert host is not None, "a vanished host is kept, not deleted"
    assert host.state == HostState.gone and host.gone_at is not None
    for replica_id in replicas_on_it:
        replica = session.get(Replica, replica_id)
        assert replica is not None and replica.state == ItemState.gone
    # Gone rows drop out of the default listing but stay queryable by state.
    assert _sync(session, cloud, box).report.changed is False

    clouds.update_cloud(session, factories.SYSTEM, cloud.id or 0, _with_faults(), box)
    back = _sync(session, cloud, box)
    assert back.report.kinds["hosts"].revived == 1
    session.expire_all()
    host = session.get(Host, host_id)
    assert host is not None and host.state == HostState.up and host.gone_at is None
    assert host.id == host_id, "a returning host keeps its identity"


def test_host_down_fault_updates_state_only(session: Session, box: SecretBox) -> None:
    cloud = _cloud(session, box)
    _sync(session, cloud, box)
    clouds.update_cloud(
        session,
        factories.SYSTEM,
        cloud.id or 0,
        _with_faults(hosts_down=["sim-r1-os-az2-0001"]),
        box,
    )
    report = _sync(session, cloud, box).report
    assert report.kinds["hosts"].updated == 1
    assert report.kinds["hosts"].samples["updated"] == ["sim-r1-os-az2-0001"]
    assert not report.kinds["replicas"].changed
    state = session.execute(
        sa.select(col(Host.state)).where(col(Host.external_id) == "sim-r1-os-az2-0001")
    ).scalar_one()
    assert state == HostState.down


def test_unreachable_cloud_degrades_and_keeps_inventory(session: Session, box: SecretBox) -> None:
    cloud = _cloud(session, box)
    _sync(session, cloud, box)
    before = _counts(session, cloud.id or 0)
    clouds.update_cloud(
        session, factories.SYSTEM, cloud.id or 0, _with_faults(unreachable=True), box
    )

    outcome = _sync(session, cloud, box)
    assert not outcome.ok
    assert "unreachable" in (outcome.error or "")
    session.refresh(cloud)
    assert cloud.status == CloudStatus.degraded
    assert "unreachable" in (cloud.last_error or "")
    assert _counts(session, cloud.id or 0) == before
    live = session.execute(
        sa.select(sa.func.count()).select_from(Host).where(col(Host.state) != HostState.gone)
    ).scalar_one()
    assert live == before["Host"], "nothing is marked gone because the cloud failed"
    # A second failure does not add a second degraded audit event.
    _sync(session, cloud, box)
    degraded = session.exec(
        select(AuditEvent).where(col(AuditEvent.action) == "cloud.degraded")
    ).all()
    assert len(degraded) == 1

    clouds.update_cloud(session, factories.SYSTEM, cloud.id or 0, _with_faults(), box)
    assert _sync(session, cloud, box).ok
    session.refresh(cloud)
    assert CloudStatus(cloud.status) == CloudStatus.ok and cloud.last_error is None
    assert session.exec(
        select(AuditEvent).where(col(AuditEvent.action) == "cloud.recovered")
    ).first()


def test_discover_that_hangs_times_out_and_degrades(session: Session, box: SecretBox) -> None:
    cloud = _cloud(session, box)

    def hang() -> Snapshot:
        import time

        time.sleep(5)
        raise AssertionError("unreachable")

    from adapters.timeouts import call_with_timeout

    outcome = sync_cloud(
        session, cloud, lambda: call_with_timeout(hang, 0.2, "cloud 'sim' discover")
    )
    assert not outcome.ok and "did not answer within 0.2 s" in (outcome.error or "")
    assert cloud.status == CloudStatus.degraded


def test_inconsistent_snapshot_is_rejected_whole(session: Session, box: SecretBox) -> None:
    cloud = _cloud(session, box)
    bad = Snapshot(
        zones=[ZoneInfo("z1", "z1", "r1")],
        hosts=[
            HostInfo("h1", "h1", "z1", 8, 8192, 100),
            HostInfo("h2", "h2", "nowhere", 8, 8192, 100),
        ],
        workloads=[WorkloadInfo("w1", "w1")],
        replicas=[ReplicaInfo("r1", "r1", "w1", "h-missing")],
    )
    with pytest.raises(Invalid, match="unknown zone 'nowhere'"):
        reconcile(session, cloud, bad)
    assert _counts(session, cloud.id or 0) == {"Host": 0, "Workload": 0, "Replica": 0}
    outcome = sync_cloud(session, cloud, lambda: bad)
    assert not outcome.ok and "snapshot rejected" in (outcome.error or "")


def test_replica_moving_host_is_an_update(session: Session, box: SecretBox) -> None:
    cloud = _cloud(session, box)
    zones = [ZoneInfo("z1", "z1", "r1")]
    hosts = [HostInfo("h1", "h1", "z1", 8, 8192, 100), HostInfo("h2", "h2", "z1", 8, 8192, 100)]
    workloads = [WorkloadInfo("w1", "w1", department="nope")]
    reconcile(
        session, cloud, Snapshot(zones, hosts, workloads, [ReplicaInfo("r1", "r1", "w1", "h1")])
    )
    report = reconcile(
        session, cloud, Snapshot(zones, hosts, workloads, [ReplicaInfo("r1", "r1", "w1", "h2")])
    )
    assert report.kinds["replicas"].updated == 1 and report.kinds["replicas"].added == 0
    workload = session.exec(select(Workload)).one()
    assert workload.department_id is None
    assert workload.extra["unknown_department"] == "nope"


def _with_faults(**faults: Any) -> CloudUpdate:
    # Settings PATCH is a merge patch: faults replace key by key, and null clears them all.
    return CloudUpdate(settings={"faults": faults or None})


def test_mass_vanish_is_refused_unless_forced(session: Session, box: SecretBox) -> None:
    cloud = _cloud(session, box)
    _sync(session, cloud, box)
    before = _counts(session, cloud.id or 0)
    zones = [ZoneInfo("r1-os-az1", "z", "r1")]
    empty = Snapshot(zones=zones, hosts=[], workloads=[], replicas=[])

    refused = sync_cloud(session, cloud, lambda: empty)
    assert not refused.ok
    assert "would mark 12 of 12 live hosts gone" in (refused.error or "")
    assert CloudStatus(cloud.status) == CloudStatus.degraded
    live = sa.select(sa.func.count()).where(col(Host.state) != HostState.gone)
    assert session.execute(live).scalar_one() == before["Host"]

    forced = sync_cloud(session, cloud, lambda: empty, force=True)
    assert forced.ok and forced.report is not None
    assert forced.report.kinds["hosts"].gone == 12


def test_extra_values_that_json_reshapes_do_not_count_as_changes(
    session: Session, box: SecretBox
) -> None:
    cloud = _cloud(session, box)
    # An adapter may hand over tuples or non-string keys; JSON storage reshapes both.
    extra: dict[Any, Any] = {"tags": ("a", "b"), 7: "seven"}
    zones = [ZoneInfo("z1", "z1", "r1", extra=extra)]
    hosts = [HostInfo("h1", "h1", "z1", 8, 8192, 100, traits=("T1",), extra={"nested": (1, 2)})]
    snapshot = Snapshot(zones, hosts, [], [])
    assert reconcile(session, cloud, snapshot).changed
    session.commit()
    session.expire_all()
    assert not reconcile(session, cloud, snapshot).changed
