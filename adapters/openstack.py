"""OpenStack through openstacksdk: Keystone, Nova and Placement.

discover() reads availability zones, host aggregates, compute nodes with their Placement
capacity, flavors and servers (see openstack_discover). provision() boots one server of the
smallest fitting flavor on the planned compute node (compute microversion >= 2.74 allows
naming the node), with no network, and waits for ACTIVE; the plan's idempotency key rides in
the server's metadata and, hashed, in a server tag Nova can filter on, so a retry finds the
server an earlier try made instead of booting a second one.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any, ClassVar

from keystoneauth1.identity.base import BaseIdentityPlugin
from openstack import exceptions as sdk_exc
from pydantic import BaseModel

from adapters.base import (
    Adapter,
    AdapterError,
    Capability,
    CheckResult,
    ProvisionRequest,
    ProvisionResult,
)
from adapters.openstack_calls import (
    Caller,
    cloud_label,
    describe,
    is_transient,
    open_connection,
)
from adapters.openstack_discover import DEPARTMENT_META, KEY_META, read_snapshot
from adapters.openstack_models import OpenStackCredentials, OpenStackSettings
from inventory.snapshot import Snapshot

if TYPE_CHECKING:
    from openstack.connection import Connection

HOST_TARGET_MICROVERSION = (2, 74)  # host= / hypervisor_hostname= on server create
POLL_SECONDS = 1.0


class OpenStackAdapter(Adapter):
    kind: ClassVar[str] = "openstack"
    label: ClassVar[str] = "OpenStack (openstacksdk)"
    settings_model: ClassVar[type[BaseModel]] = OpenStackSettings
    credentials_model: ClassVar[type[BaseModel]] = OpenStackCredentials

    def __init__(self, settings: BaseModel, credentials: BaseModel | None = None) -> None:
        super().__init__(settings, credentials)
        creds = credentials if isinstance(credentials, OpenStackCredentials) else None
        if self.config.cloud is None and (
            creds is None or (creds.password is None and creds.application_credential_id is None)
        ):
            from adapters.registry import AdapterConfigError  # registry imports this module

            raise AdapterConfigError(
                "credentials: a password or an application credential is needed when "
                "settings.auth_url is used without a clouds.yaml entry",
                "credentials",
            )
        self._connection: Connection | None = None
        self._call = Caller(
            cloud_label(self.config),
            retries=self.config.retries,
            backoff=self.config.retry_backoff_seconds,
        )

    @property
    def config(self) -> OpenStackSettings:
        assert isinstance(self.settings, OpenStackSettings)
        return self.settings

    @property
    def conn(self) -> Connection:
        if self._connection is None:
            creds = self.credentials
            assert creds is None or isinstance(creds, OpenStackCredentials)
            self._connection = open_connection(self.config, creds)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # --- discover ---------------------------------------------------------------------------

    def discover(self) -> Snapshot:
        conn = self.conn
        self._call("authenticate", lambda: conn.session.get_token())
        return read_snapshot(conn, self._call, self.config)

    # --- provision --------------------------------------------------------------------------

    def provision(self, request: ProvisionRequest) -> ProvisionResult:
        conn, call = self.conn, self._call
        tag = server_tag(request.idempotency_key)
        existing = self._find_made(tag, request.idempotency_key)
        if existing is not None and existing.status == "ERROR":
            # An earlier try failed there; delete it so this try can boot afresh.
            self._delete_and_wait(existing)
            existing = None
        if existing is not None:
            server = self._wait_active(existing, request.host)
            return _result(server, request.host, created=False)

        flavors = call("list flavors", lambda: list(conn.compute.flavors(details=True)))
        flavor = smallest_fitting_flavor(flavors, request)
        if flavor is None:
            raise self._call.error(
                "provision",
                f"no flavor fits {_demand(request)}; flavors: "
                + ", ".join(sorted(f"{f.name} ({_size(f)})" for f in flavors)),
            )
        self._require_host_targeting()
        image = self._image()
        metadata = {KEY_META: request.idempotency_key}
        if request.department:
            metadata[DEPARTMENT_META] = request.department
        attrs: dict[str, Any] = {
            "name": request.name,
            "flavor_id": flavor.id,
            "image_id": image.id,
            "networks": _networks(self.config.networks),
            "hypervisor_hostname": request.host,
            "metadata": metadata,
            "tags": [tag],
        }
        server = self._create(attrs, tag, request.idempotency_key)
        server = self._wait_active(server, request.host)
        return _result(server, request.host, created=True, flavor=flavor.name)

    def _create(self, attrs: dict[str, Any], tag: str, key: str) -> Any:
        """Create, retrying only after checking that the failed try made nothing: a create
        whose answer was lost may still have booted the server."""
        attempt = 0
        while True:
            try:
                return self.conn.compute.create_server(**attrs)
            except Exception as exc:
                if not is_transient(exc) or attempt >= self.config.retries:
                    raise self._call.error("create server", describe(exc)) from exc
                made = self._find_made(tag, key)
                if made is not None:
                    return made
                time.sleep(self.config.retry_backoff_seconds * 2**attempt)
                attempt += 1

    def _find_made(self, tag: str, key: str) -> Any | None:
        conn = self.conn
        found = self._call(
            f"look up the server of idempotency key {key}",
            lambda: list(conn.compute.servers(details=True, tags=tag)),
        )
        mine = [s for s in found if (s.metadata or {}).get(KEY_META) == key]
        mine = [s for s in mine if s.status not in ("DELETED", "SOFT_DELETED")]
        return mine[0] if mine else None

    def _wait_active(self, server: Any, planned: str) -> Any:
        """Poll until ACTIVE; ERROR is reported with Nova's fault, a time-out with the status."""
        conn = self.conn
        deadline = time.monotonic() + self.config.provision_timeout_seconds
        while True:
            current = self._call(
                f"read server {server.id}", lambda: conn.compute.get_server(server.id)
            )
            if current.status == "ACTIVE":
                return current
            if current.status == "ERROR":
                fault = (current.fault or {}).get("message") or "no fault recorded"
                raise self._call.error(
                    "provision",
                    f"server {current.name} ({current.id}) planned on {planned} went to ERROR: "
                    f"{fault} (a retry deletes it and boots again)",
                )
            if time.monotonic() >= deadline:
                raise self._call.error(
                    "provision",
                    f"server {current.name} ({current.id}) planned on {planned} not ACTIVE "
                    f"within {self.config.provision_timeout_seconds:g} s (status "
                    f"{current.status}); a retry finds it again",
                )
            time.sleep(POLL_SECONDS)

    def _require_host_targeting(self) -> None:
        found = self._max_microversion()
        if found < HOST_TARGET_MICROVERSION:
            raise self._call.error(
                "provision",
                f"compute API microversion {found[0]}.{found[1]} cannot place a server on "
                f"a chosen host (needs {HOST_TARGET_MICROVERSION[0]}."
                f"{HOST_TARGET_MICROVERSION[1]})",
            )

    def _max_microversion(self) -> tuple[int, int]:
        conn = self.conn
        data = self._call("read compute API versions", lambda: conn.compute.get_endpoint_data())
        found = data.max_microversion if data is not None else None
        return (int(found[0]), int(found[1])) if found else (2, 1)

    def _image(self) -> Any:
        name = self.config.image
        if not name:
            raise self._call.error("provision", "settings.image is not set (image name or id)")
        conn = self.conn
        image = self._call(
            f"find image {name!r}", lambda: conn.image.find_image(name, ignore_missing=True)
        )
        if image is None:
            raise self._call.error("provision", f"image {name!r} (settings.image) not found")
        return image

    # --- deprovision ------------------------------------------------------------------------

    def deprovision(self, external_id: str) -> bool:
        conn = self.conn
        try:
            server = self._call(
                f"read server {external_id}", lambda: conn.compute.get_server(external_id)
            )
        except AdapterError as exc:
            if isinstance(exc.__cause__, sdk_exc.NotFoundException):
                return False
            raise
        if server.status in ("DELETED", "SOFT_DELETED"):
            return False
        if KEY_META not in (server.metadata or {}):
            # Never delete what Yunheng did not make: that server belongs to someone.
            raise self._call.error(
                "deprovision",
                f"server {server.name} ({external_id}) was not provisioned by Yunheng",
            )
        self._delete_and_wait(server)
        return True

    def _delete_and_wait(self, server: Any) -> None:
        conn = self.conn
        self._call(
            f"delete server {server.id}",
            lambda: conn.compute.delete_server(server.id, ignore_missing=True),
        )
        wait = max(1, int(self.config.provision_timeout_seconds))
        self._call(
            f"wait for server {server.id} to be deleted",
            lambda: conn.compute.wait_for_delete(server, interval=POLL_SECONDS, wait=wait),
            retry=False,
        )

    # --- check ------------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        try:
            listed = self._check_list()
        except AdapterError as exc:
            return [CheckResult(cap, False, str(exc)) for cap in Capability]
        return [listed, self._check_provision()]

    def _check_list(self) -> CheckResult:
        conn = self.conn
        self._call("authenticate", lambda: conn.session.get_token())
        services = self._call(
            "list compute services",
            lambda: list(conn.compute.services(binary="nova-compute")),
        )
        providers = self._call(
            "list resource providers",
            lambda: conn.placement.get("/resource_providers").json()["resource_providers"],
        )
        up = sum(1 for s in services if s.state == "up")
        return CheckResult(
            Capability.list,
            True,
            f"{len(services)} compute services ({up} up), {len(providers)} resource providers",
        )

    def _check_provision(self) -> CheckResult:
        try:
            self._require_host_targeting()
            image = self._image()
            conn = self.conn
            flavors = self._call("list flavors", lambda: list(conn.compute.flavors()))
            roles = self._call("read token roles", lambda: _roles(conn))
        except AdapterError as exc:
            return CheckResult(Capability.provision, False, str(exc))
        if not flavors:
            return CheckResult(Capability.provision, False, "no flavors visible to this user")
        if "admin" not in roles:
            return CheckResult(
                Capability.provision,
                False,
                "placing a server on a chosen host is admin-only under Nova's default policy "
                f"(compute:servers:create:requested_destination); this user has roles "
                f"{sorted(roles)}",
            )
        return CheckResult(
            Capability.provision,
            True,
            f"host targeting available, image {image.name!r}, {len(flavors)} flavors",
        )


def server_tag(key: str) -> str:
    """A Nova tag (at most 60 characters, no ',' or '/') that stands for one idempotency key."""
    return "yunheng-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def smallest_fitting_flavor(flavors: list[Any], request: ProvisionRequest) -> Any | None:
    """The flavor that covers the demand with the least to spare, GPUs first, then vCPUs,
    memory and disk; a GPU flavor is never spent on a request without GPUs."""
    fitting = [
        f
        for f in flavors
        if not getattr(f, "is_disabled", False)
        and int(f.vcpus or 0) >= request.vcpus
        and int(f.ram or 0) >= request.memory_mb
        and int(f.disk or 0) >= request.disk_gb
        and (_gpus(f) >= request.gpus if request.gpus else _gpus(f) == 0)
    ]
    if not fitting:
        return None
    return min(fitting, key=lambda f: (_gpus(f), f.vcpus, f.ram, f.disk, f.name))


def _gpus(flavor: Any) -> int:
    specs = getattr(flavor, "extra_specs", None) or {}
    return sum(int(specs.get(f"resources:{rc}", 0) or 0) for rc in ("VGPU", "PGPU"))


def _size(flavor: Any) -> str:
    gpus = _gpus(flavor)
    text = f"{flavor.vcpus} vCPU / {flavor.ram} MB / {flavor.disk} GB"
    return f"{text} / {gpus} GPU" if gpus else text


def _demand(request: ProvisionRequest) -> str:
    text = f"{request.vcpus} vCPU / {request.memory_mb} MB / {request.disk_gb} GB"
    return f"{text} / {request.gpus} GPU" if request.gpus else text


def _networks(setting: str | list[str]) -> str | list[dict[str, str]]:
    return setting if isinstance(setting, str) else [{"uuid": n} for n in setting]


def _roles(conn: Connection) -> list[str]:
    auth = conn.session.auth
    if not isinstance(auth, BaseIdentityPlugin):
        return []
    return list(auth.get_access(conn.session).role_names or [])


def _result(
    server: Any, planned: str, *, created: bool, flavor: str | None = None
) -> ProvisionResult:
    extra: dict[str, Any] = {"status": server.status}
    if flavor is not None:
        extra["flavor"] = flavor
    return ProvisionResult(
        external_id=server.id,
        host=server.hypervisor_hostname or planned,
        created=created,
        extra=extra,
    )
