"""Any cloud apache-libcloud can drive (EC2, Aliyun ECS, OpenStack, …) as one Yunheng cloud.

**Elastic capacity pools.** A public cloud shows no hypervisors: what bounds an account is its
quota, not a host. So each location (availability zone) the driver lists becomes one zone and
one "host" in the inventory, an elastic capacity pool:

- its capacity is the account quota for that location (`settings.quota`, or
  `settings.location_quotas[location]`): vCPUs, memory, disk, GPUs, and an instance count in
  `extra`. A quota set per region should be split across its locations by the admin;
- its usage is the sum of the sizes of the nodes running there, as the cloud reports them
  (a node whose size the driver does not report counts as an instance only).

The placement engine then treats a pool like any host: it fits while the quota has room.
Sizes are discovered too (`snapshot.extra["sizes"]`, and the largest in each pool's extra).

**Nodes.** A node Yunheng made carries the plan's idempotency key: in its tags or metadata
(`yunheng-idempotency-key`) when the driver's `create_node` takes `ex_metadata` (EC2,
OpenStack, GCE), otherwise at the end of its name. It is reported with `workload=None` and
stays with the Yunheng service it was made for; a retry finds it instead of making a second
one. Any other node is reported as a one-replica workload of kind `vm`.

**Provisioning** creates a node of the smallest size that fits the request (vCPUs, memory,
GPUs, and local disk when the size has any), among `settings.sizes` on `settings.arch`, in
the location of the planned pool, from `settings.image`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from libcloud.compute.base import NodeImage
from pydantic import BaseModel

from adapters import libcloud_convert as conv
from adapters.base import (
    Adapter,
    AdapterError,
    Capability,
    CheckResult,
    ProvisionRequest,
    ProvisionResult,
)
from adapters.libcloud_calls import LibcloudCallError, LibcloudCloud
from adapters.libcloud_settings import LibcloudCredentials, LibcloudSettings
from inventory.snapshot import HostInfo, ReplicaInfo, Snapshot, WorkloadInfo, ZoneInfo

POOL_PREFIX = "pool:"
_POOL_NOTE = "elastic capacity pool bounded by account quota"


class LibcloudAdapter(Adapter):
    kind: ClassVar[str] = "libcloud"
    label: ClassVar[str] = "Public or private cloud (apache-libcloud)"
    settings_model: ClassVar[type[BaseModel]] = LibcloudSettings
    credentials_model: ClassVar[type[BaseModel]] = LibcloudCredentials

    def __init__(self, settings: BaseModel, credentials: BaseModel | None = None) -> None:
        super().__init__(settings, credentials)
        assert isinstance(settings, LibcloudSettings)
        assert credentials is None or isinstance(credentials, LibcloudCredentials)
        self.config = settings
        self.cloud = LibcloudCloud(settings, credentials)

    # --- discover -------------------------------------------------------------------------

    def discover(self) -> Snapshot:
        locations = self._locations()
        sizes = self.cloud.call("list sizes", self.cloud.driver.list_sizes)
        nodes = self.cloud.call("list nodes", self.cloud.driver.list_nodes)
        specs = {str(s.id): conv.size_spec(s, self.config) for s in sizes}
        usable = [s for s in specs.values() if conv.usable(s, self.config)]
        region = self._region()
        zones = [
            ZoneInfo(
                external_id=key,
                name=str(loc.name or key),
                region=region,
                availability=self.config.zone_availability,
                extra={"location_id": str(loc.id), "country": str(loc.country or "")},
            )
            for key, loc in locations.items()
        ]
        matcher = self._matcher(locations)
        used: dict[str, list[int]] = {key: [0, 0, 0, 0, 0] for key in locations}
        workloads: list[WorkloadInfo] = []
        replicas: list[ReplicaInfo] = []
        for node in nodes:
            if conv.is_terminated(node):
                continue
            where = self._node_location(node, matcher)
            spec = specs.get(conv.node_size_id(node) or "")
            if where is not None:
                conv.add_usage(used[where], spec)
            replicas.append(self._replica(node, where, spec))
            if conv.node_key(node) is None:
                workloads.append(self._workload(node, spec))
        hosts = [self._pool(key, loc, used[key], usable) for key, loc in locations.items()]
        return Snapshot(
            zones=zones,
            hosts=hosts,
            workloads=workloads,
            replicas=replicas,
            extra={"driver": self.config.driver, "sizes": [conv.size_dict(s) for s in usable]},
        )

    def _pool(
        self, key: str, location: Any, used: list[int], sizes: list[conv.SizeSpec]
    ) -> HostInfo:
        quota = self.config.quota_for(key)
        largest = max(sizes, key=lambda s: (s.vcpus or 0, s.memory_mb), default=None)
        return HostInfo(
            external_id=POOL_PREFIX + key,
            name=f"{location.name or key} pool",
            zone=key,
            vcpus=quota.vcpus,
            memory_mb=quota.memory_mb,
            disk_gb=quota.disk_gb,
            gpus=quota.gpus,
            arch=self.config.arch,
            vcpus_used=used[0],
            memory_mb_used=used[1],
            disk_gb_used=used[2],
            gpus_used=used[3],
            extra={
                "pool": _POOL_NOTE,
                "instances": quota.instances,
                "instances_used": used[4],
                "largest_size": conv.size_dict(largest) if largest else None,
            },
        )

    def _replica(self, node: Any, where: str | None, spec: conv.SizeSpec | None) -> ReplicaInfo:
        key = conv.node_key(node)
        extra: dict[str, Any] = {"size": spec.id if spec else conv.node_size_id(node)}
        if key is not None:
            extra["idempotency_key"] = key
        return ReplicaInfo(
            external_id=str(node.id),
            name=str(node.name or node.id),
            workload=None if key is not None else str(node.id),
            host=None if where is None else POOL_PREFIX + where,
            state=conv.node_state(node),
            extra=extra,
        )

    def _workload(self, node: Any, spec: conv.SizeSpec | None) -> WorkloadInfo:
        return WorkloadInfo(
            external_id=str(node.id),
            name=str(node.name or node.id),
            department=conv.node_tags(node).get(conv.DEPARTMENT_TAG),
            kind="vm",
            replicas_desired=1,
            vcpus=(spec.vcpus or 0) if spec else 0,
            memory_mb=spec.memory_mb if spec else 0,
            disk_gb=spec.disk_gb if spec else 0,
            gpus=spec.gpus if spec else 0,
            extra={"size": spec.id if spec else conv.node_size_id(node)},
        )

    # --- provision ------------------------------------------------------------------------

    def provision(self, request: ProvisionRequest) -> ProvisionResult:
        locations = self._locations()
        found = self._find(request.idempotency_key, "look up earlier try")
        if found is not None:
            where = self._node_location(found, self._matcher(locations))
            host = POOL_PREFIX + where if where else request.host
            return ProvisionResult(external_id=str(found.id), host=host, created=False)
        key = request.host.removeprefix(POOL_PREFIX)
        if not request.host.startswith(POOL_PREFIX) or key not in locations:
            known = ", ".join(POOL_PREFIX + k for k in locations) or "none"
            raise AdapterError(
                f"{self.cloud.where}: provision failed: host {request.host!r} is not a pool "
                f"of this cloud (pools: {known})"
            )
        image = self.config.image
        if image is None:
            raise AdapterError(
                f"{self.cloud.where}: provision failed: settings.image is not set "
                "(an image id is needed to create nodes)"
            )
        size = self._size_for(request, locations[key])
        return self._create(request, locations[key], key, size, image)

    def _size_for(self, request: ProvisionRequest, location: Any) -> Any:
        driver = self.cloud.driver
        if self.cloud.accepts("list_sizes", "location"):
            sizes = self.cloud.call("list sizes", lambda: driver.list_sizes(location=location))
        else:
            sizes = self.cloud.call("list sizes", driver.list_sizes)
        by_id = {str(s.id): s for s in sizes}
        specs = [conv.size_spec(s, self.config) for s in sizes]
        usable = [s for s in specs if conv.usable(s, self.config)]
        best = conv.smallest_fitting(usable, request)
        if best is None:
            largest = max(usable, key=lambda s: (s.vcpus or 0, s.memory_mb), default=None)
            raise AdapterError(
                f"{self.cloud.where}: provision failed: no size fits {request.vcpus} vCPU, "
                f"{request.memory_mb} MB, {request.disk_gb} GB, {request.gpus} GPU "
                f"among {len(usable)} usable sizes"
                + (f" (largest: {largest.summary()})" if largest else "")
            )
        return by_id[best.id]

    def _create(
        self, request: ProvisionRequest, location: Any, key: str, size: Any, image: str
    ) -> ProvisionResult:
        cloud = self.cloud
        tagged = cloud.accepts("create_node", "ex_metadata")
        name = (
            request.name if tagged else f"{request.name}{conv.NAME_MARK}{request.idempotency_key}"
        )
        kwargs: dict[str, Any] = {
            "name": name,
            "size": size,
            "image": NodeImage(id=image, name=image, driver=cloud.driver),
        }
        if cloud.accepts("create_node", "location"):
            kwargs["location"] = location
        if tagged:
            tags = {conv.KEY_TAG: request.idempotency_key}
            if request.department:
                tags[conv.DEPARTMENT_TAG] = request.department
            kwargs["ex_metadata"] = tags
        for option, value in self.config.create_options.items():
            if not cloud.accepts("create_node", option):
                raise AdapterError(
                    f"{cloud.where}: provision failed: settings.create_options.{option}: "
                    "the driver's create_node takes no such argument"
                )
            kwargs[option] = value
        result = {"size": str(size.id), "location": key, "key_in": "tags" if tagged else "name"}
        attempts = 1 + self.config.retries
        for attempt in range(1, attempts + 1):
            try:
                # Not retried blindly: a create that timed out may still have happened, so
                # before trying again look for a node carrying the key.
                node = cloud.call(
                    "create node", lambda: cloud.driver.create_node(**kwargs), retry=False
                )
            except LibcloudCallError as exc:
                if attempt == attempts or not exc.transient:
                    raise
                time.sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
                found = self._find(request.idempotency_key, "look up after failed create")
                if found is not None:
                    return ProvisionResult(str(found.id), request.host, True, result)
                continue
            return ProvisionResult(str(node.id), request.host, True, result)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- deprovision and check ------------------------------------------------------------

    def deprovision(self, external_id: str) -> bool:
        nodes = self.cloud.call("list nodes", self.cloud.driver.list_nodes)
        node = next(
            (n for n in nodes if str(n.id) == external_id and not conv.is_terminated(n)), None
        )
        if node is None:
            return False
        done = self.cloud.call(
            f"destroy node {external_id}", lambda: self.cloud.driver.destroy_node(node)
        )
        if not done:
            raise AdapterError(f"{self.cloud.where}: destroy node {external_id} failed: refused")
        return True

    def check(self) -> list[CheckResult]:
        try:
            locations = self._locations()
            nodes = self.cloud.call("list nodes", self.cloud.driver.list_nodes)
        except AdapterError as exc:
            return [CheckResult(cap, False, str(exc)) for cap in Capability]
        listed = CheckResult(
            Capability.list, True, f"{len(locations)} locations, {len(nodes)} nodes visible"
        )
        return [listed, self._check_provision(locations)]

    def _check_provision(self, locations: dict[str, Any]) -> CheckResult:
        cap = Capability.provision
        image = self.config.image
        if image is None:
            return CheckResult(cap, False, "settings.image is not set: no image to create from")
        if not locations:
            return CheckResult(cap, False, "the cloud lists no location to create in")
        driver = self.cloud.driver

        def image_if_supported() -> Any:
            try:
                return driver.get_image(image)
            except NotImplementedError:  # the driver cannot look one image up; create will
                return None

        try:
            self.cloud.call(f"get image {image}", image_if_supported)
            sizes = self.cloud.call("list sizes", driver.list_sizes)
        except AdapterError as exc:
            return CheckResult(cap, False, str(exc))
        specs = [conv.size_spec(s, self.config) for s in sizes]
        usable = [s for s in specs if conv.usable(s, self.config) and s.vcpus is not None]
        if not usable:
            return CheckResult(
                cap, False, f"none of {len(specs)} sizes is usable (settings.sizes, arch, vCPUs)"
            )
        unknown = [
            o for o in self.config.create_options if not self.cloud.accepts("create_node", o)
        ]
        if unknown:
            return CheckResult(cap, False, f"settings.create_options.{unknown[0]}: not accepted")
        carried = "tags" if self.cloud.accepts("create_node", "ex_metadata") else "node name"
        return CheckResult(
            cap, True, f"{len(usable)} usable sizes; the idempotency key goes in the {carried}"
        )

    # --- helpers --------------------------------------------------------------------------

    def _locations(self) -> dict[str, Any]:
        """Location key -> libcloud location, restricted to settings.locations if any."""
        found = self.cloud.call("list locations", self.cloud.driver.list_locations)
        wanted = set(self.config.locations)
        keyed: dict[str, Any] = {}
        for loc in found:
            key = conv.location_key(loc, self.config.location_key)
            if not wanted or wanted & {key, str(loc.id), str(loc.name)}:
                keyed[key] = loc
        return keyed

    def _matcher(self, locations: dict[str, Any]) -> dict[str, str]:
        """What a node may call its location (id or name) -> location key."""
        names: dict[str, str] = {}
        for key, loc in locations.items():
            names.update({str(loc.id): key, str(loc.name): key, key: key})
        return names

    def _node_location(self, node: Any, matcher: dict[str, str]) -> str | None:
        said = conv.node_location(node)
        if said is not None:
            return matcher.get(said)
        keys = set(matcher.values())
        return next(iter(keys)) if len(keys) == 1 else None  # one location: it is there

    def _find(self, key: str, operation: str) -> Any:
        nodes = self.cloud.call(operation, self.cloud.driver.list_nodes)
        return next(
            (n for n in nodes if not conv.is_terminated(n) and conv.node_key(n) == key), None
        )

    def _region(self) -> str:
        driver = self.cloud.driver
        return str(self.config.region or getattr(driver, "region_name", None) or self.config.driver)
