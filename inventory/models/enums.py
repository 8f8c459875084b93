"""Closed vocabularies, stored as short strings (no database enum types to migrate)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"  # 云管理员: registers clouds, approves plans, manages users
    department = "department"  # 部门用户: requests resources, sees only its own department
    oncall = "oncall"  # 值班人员: handles alerts
    manager = "manager"  # 管理者: reads assessments


class CloudStatus(StrEnum):
    new = "new"  # registered, never synced
    ok = "ok"
    degraded = "degraded"  # last sync failed; the last known inventory is kept
    disabled = "disabled"  # an admin turned syncing off


class ItemState(StrEnum):
    """Lifecycle of zones, workloads and replicas as the cloud reports them."""

    active = "active"
    degraded = "degraded"
    gone = "gone"  # vanished from the cloud's last snapshot; kept for history


class HostState(StrEnum):
    up = "up"
    down = "down"
    maintenance = "maintenance"
    gone = "gone"


class Resource(StrEnum):
    """Quota dimensions; the first four are also host capacity dimensions."""

    vcpus = "vcpus"
    memory_mb = "memory_mb"
    disk_gb = "disk_gb"
    gpus = "gpus"
    instances = "instances"
