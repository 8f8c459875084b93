"""Reading libcloud's objects the same way whatever the driver.

Drivers disagree on where things live: EC2 keeps a size's vCPUs in `extra["vcpu"]`,
OpenStack on the size itself; EC2 names a node's zone `extra["availability"]`, OpenStack
`extra["availability_zone"]`, Aliyun `extra["zone_id"]`. These helpers look in each known
place, so the adapter reads one shape.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from libcloud.compute.types import NodeState

from adapters.base import ProvisionRequest
from adapters.libcloud_settings import LibcloudSettings
from inventory.models.enums import ItemState

# The tag (EC2) or metadata key (OpenStack, GCE) that carries the plan's idempotency key.
KEY_TAG = "yunheng-idempotency-key"
DEPARTMENT_TAG = "yunheng-department"
# For drivers that take no metadata at create time, the key rides in the node's name.
NAME_MARK = "--yh-key-"

STATE_MAP: dict[str, ItemState] = {
    NodeState.RUNNING: ItemState.active,
    NodeState.PENDING: ItemState.active,
    NodeState.STARTING: ItemState.active,
    NodeState.REBOOTING: ItemState.active,
    NodeState.UPDATING: ItemState.active,
    NodeState.MIGRATING: ItemState.active,
    NodeState.RECONFIGURING: ItemState.active,
}  # anything else that is not terminated (stopped, error, unknown…) is degraded

_ZONE_KEYS = ("availability", "availability_zone", "zone_id", "zone", "location")
_SIZE_KEYS = ("instance_type", "instancetype", "flavorId", "flavor_id", "size", "machineType")


@dataclass(frozen=True, slots=True)
class SizeSpec:
    id: str
    name: str
    vcpus: int | None  # None: the driver does not say and settings.size_vcpus does not either
    memory_mb: int
    disk_gb: int  # 0: no local disk; the root disk is block storage (EC2 "EBS only")
    gpus: int
    price: float | None
    arch: str

    def summary(self) -> str:
        cpus = "?" if self.vcpus is None else str(self.vcpus)
        return f"{self.id} ({cpus} vCPU, {self.memory_mb} MB, {self.disk_gb} GB)"


def size_spec(size: Any, settings: LibcloudSettings) -> SizeSpec:
    extra = size.extra or {}
    size_id = str(size.id)
    vcpus = settings.size_vcpus.get(size_id)
    if vcpus is None:
        vcpus = _int(getattr(size, "vcpus", None)) or _first_int(
            extra, "vcpus", "vcpu", "cpu", "cpu_core_count"
        )
    processor = str(extra.get("physicalProcessor", "")).lower()
    arch_hint = str(extra.get("processorArchitecture", extra.get("architecture", ""))).lower()
    arm = "graviton" in processor or "arm" in arch_hint or "aarch64" in arch_hint
    price = size.price if isinstance(size.price, int | float) else None
    return SizeSpec(
        id=size_id,
        name=str(size.name or size_id),
        vcpus=vcpus,
        memory_mb=_int(size.ram) or 0,
        disk_gb=_int(size.disk) or 0,
        gpus=_first_int(extra, "gpus", "gpu") or 0,
        price=price,
        arch="aarch64" if arm else "x86_64",
    )


def usable(spec: SizeSpec, settings: LibcloudSettings) -> bool:
    """Sizes an admin allowed (settings.sizes) on the cloud's architecture."""
    if spec.arch != settings.arch:
        return False
    return not settings.sizes or any(fnmatch.fnmatchcase(spec.id, p) for p in settings.sizes)


def fits(spec: SizeSpec, request: ProvisionRequest) -> bool:
    if spec.vcpus is None or spec.vcpus < request.vcpus or spec.memory_mb < request.memory_mb:
        return False
    if spec.gpus < request.gpus:
        return False
    # A size without local disk boots from block storage whose size the image sets.
    return spec.disk_gb == 0 or spec.disk_gb >= request.disk_gb


def smallest_fitting(specs: list[SizeSpec], request: ProvisionRequest) -> SizeSpec | None:
    fitting = [s for s in specs if fits(s, request)]
    if not fitting:
        return None
    return min(
        fitting,
        key=lambda s: (
            s.vcpus or 0,
            s.memory_mb,
            s.gpus,
            s.disk_gb,
            s.price if s.price is not None else float("inf"),
            s.id,
        ),
    )


def location_key(location: Any, mode: str) -> str:
    """A zone's stable name. EC2 and the dummy driver number their locations by position in
    the answer, so `auto` takes the name there; elsewhere the id (Aliyun's cn-hangzhou-b)."""
    ident, name = str(location.id), str(location.name or "")
    if mode == "name" and name:
        return name
    if mode == "auto" and name and (isinstance(location.id, int) or ident.isdigit()):
        return name
    return ident


def node_location(node: Any) -> str | None:
    """What the node says about where it runs: an id or a name, to match against locations."""
    extra = node.extra or {}
    for key in _ZONE_KEYS:
        value = extra.get(key)
        if isinstance(value, str) and value:
            return value
        named = getattr(value, "name", None)  # GCE: a zone object
        if named:
            return str(named)
    return None


def node_size_id(node: Any) -> str | None:
    if getattr(node, "size", None) is not None and getattr(node.size, "id", None) is not None:
        return str(node.size.id)
    extra = node.extra or {}
    for key in _SIZE_KEYS:
        value = extra.get(key)
        if isinstance(value, str | int) and value != "":
            return str(value)
    return None


def node_tags(node: Any) -> dict[str, str]:
    extra = node.extra or {}
    tags: dict[str, str] = {}
    for key in ("metadata", "tags", "labels"):
        value = extra.get(key)
        if isinstance(value, dict):
            tags.update({str(k): str(v) for k, v in value.items()})
    return tags


def node_key(node: Any) -> str | None:
    """The idempotency key of a node Yunheng made, from its tags or its name."""
    key = node_tags(node).get(KEY_TAG)
    if key:
        return key
    name = str(node.name or "")
    if NAME_MARK in name:
        return name.rsplit(NAME_MARK, 1)[1] or None
    return None


def is_terminated(node: Any) -> bool:
    return bool(node.state == NodeState.TERMINATED)


def node_state(node: Any) -> ItemState:
    return STATE_MAP.get(node.state, ItemState.degraded)


def add_usage(used: list[int], spec: SizeSpec | None) -> None:
    """One more node in a pool: [vcpus, memory_mb, disk_gb, gpus, instances]."""
    used[4] += 1
    if spec is not None:
        used[0] += spec.vcpus or 0
        used[1] += spec.memory_mb
        used[2] += spec.disk_gb
        used[3] += spec.gpus


def size_dict(spec: SizeSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "vcpus": spec.vcpus,
        "memory_mb": spec.memory_mb,
        "disk_gb": spec.disk_gb,
        "gpus": spec.gpus,
        "price": spec.price,
    }


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _first_int(extra: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        found = _int(extra.get(key))
        if found is not None:
            return found
    return None
