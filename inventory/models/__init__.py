"""SQLModel tables of the unified inventory, split by concept; import them from here."""

from inventory.models.audit import AuditEvent, AuditEventPublic
from inventory.models.auth import (
    ApiToken,
    ApiTokenCreate,
    ApiTokenIssued,
    ApiTokenPublic,
    User,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from inventory.models.enums import CloudStatus, HostState, ItemState, Resource, Role
from inventory.models.estate import (
    Cloud,
    CloudCreate,
    CloudPublic,
    CloudUpdate,
    Host,
    HostPublic,
    Zone,
    ZonePublic,
)
from inventory.models.org import (
    Department,
    DepartmentCreate,
    DepartmentPublic,
    DepartmentUpdate,
    Quota,
    QuotaPublic,
)
from inventory.models.workloads import Replica, ReplicaPublic, Workload, WorkloadPublic

__all__ = [
    "ApiToken",
    "ApiTokenCreate",
    "ApiTokenIssued",
    "ApiTokenPublic",
    "AuditEvent",
    "AuditEventPublic",
    "Cloud",
    "CloudCreate",
    "CloudPublic",
    "CloudStatus",
    "CloudUpdate",
    "Department",
    "DepartmentCreate",
    "DepartmentPublic",
    "DepartmentUpdate",
    "Host",
    "HostPublic",
    "HostState",
    "ItemState",
    "Quota",
    "QuotaPublic",
    "Replica",
    "ReplicaPublic",
    "Resource",
    "Role",
    "User",
    "UserCreate",
    "UserPublic",
    "UserUpdate",
    "Workload",
    "WorkloadPublic",
    "Zone",
    "ZonePublic",
]
