"""A live peer for every adapter, built one way for the contract suite, the registration
wiring tests and the end-to-end test.

Each peer is the real counterpart its adapter talks to, reused from the adapter's own tests:
the simulator (in process), the Kubernetes replay API server (tests/k8s_replay), moto's EC2
server (tests/moto_peer.py) behind libcloud's EC2 driver, libcloud's DummyNodeDriver, and the
OpenStack test bed (tests/openstack_bed.py). A `Peer` carries the settings and credentials a
cloud admin would register, a second set of the same peer refusing or unreachable, the secrets
that must never show in an error, a response or a log, and a way to remove a replica behind
the adapter's back so a failed test leaves nothing on a shared peer.

Test modules load it with `pytest_plugins = ("tests.adapter_peers",)` and import from it only
for type checking or inside a test: a module imported before pytest registers it as a plugin
could not have its asserts rewritten (PytestAssertRewriteWarning).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Adapter, ProvisionRequest
from adapters.registry import build_adapter
from inventory.models import HostState
from inventory.snapshot import HostInfo, Snapshot
from tests.conftest import skip_or_fail
from tests.k8s_replay.estates import small_cluster
from tests.k8s_replay.server import ReplayServer, kubeconfig_text, serve
from tests.moto_peer import (
    CREDENTIALS,
    QUOTA,
    MotoServer,
    MotoUnavailable,
    ec2_driver,
    ec2_settings,
    free_port,
    moto_answers_like_aws,
    moto_server,
)
from tests.openstack_bed import PASSWORD, Bed, BedUnavailable, find_or_start_bed

PEERS = ("simulator", "kubernetes", "libcloud-ec2", "libcloud-dummy", "openstack")

# Tokens the replay accepts, distinctive enough to grep for; the replay knows them by role.
K8S_ADMIN_TOKEN = "yh-peer-admin-7Qx9vT2k"
K8S_READER_TOKEN = "yh-peer-reader-4Hn8sW1p"
K8S_REVOKED_TOKEN = "yh-peer-revoked-9Zm3cR6j"
OPENSTACK_WRONG_PASSWORD = "yh-peer-wrong-Pa55-2Lq8"
K8S_FAST = {"retries": 1, "backoff_seconds": 0.01, "connect_timeout_seconds": 2}


@dataclass
class Peer:
    name: str  # one of PEERS
    kind: str  # the adapter kind a cloud admin registers
    region: str
    settings: dict[str, Any]
    credentials: dict[str, Any] | None
    # The same peer refusing the credentials or not answering; None if it cannot fail.
    broken_settings: dict[str, Any] | None
    broken_credentials: dict[str, Any] | None
    # Words the cloud is named by in its errors (its endpoint), for "names the cloud".
    called: str
    secrets: tuple[str, ...]  # never in an error, a response or a log
    remove: Callable[[str], None]  # delete a replica behind the adapter's back (cleanup)
    # One adapter for the whole test: the dummy driver keeps its nodes in the instance.
    _adapter: Adapter | None = field(default=None, repr=False)
    _built: list[Adapter] = field(default_factory=list, repr=False)  # closed at teardown

    @property
    def adapter(self) -> Adapter:
        if self._adapter is None:
            self._adapter = build_adapter(self.kind, self.settings, self.credentials)
            self._built.append(self._adapter)
        return self._adapter

    def broken(self) -> Adapter | None:
        if self.broken_settings is None:
            return None
        built = build_adapter(self.kind, self.broken_settings, self.broken_credentials)
        self._built.append(built)
        return built

    def api_body(self, name: str, *, broken: bool = False) -> dict[str, Any]:
        """POST /clouds body registering this peer (or its failing twin) as cloud `name`."""
        return {
            "name": name,
            "kind": self.kind,
            "vendor": f"{self.name} peer",
            "region": self.region,
            "security_level": 3,
            "settings": self.broken_settings if broken else self.settings,
            "credentials": self.broken_credentials if broken else self.credentials,
        }

    def cli_add(self, name: str, folder: Path, *, broken: bool = False) -> list[str]:
        """`yunheng cloud add` arguments for the same; credentials go in a file, as they must."""
        data = self.api_body(name, broken=broken)
        args = ["cloud", "add", name, "--kind", self.kind, "--vendor", data["vendor"]]
        args += ["--region", self.region]
        for key, value in (data["settings"] or {}).items():
            args += ["--setting", f"{key}={json.dumps(value)}"]
        if data["credentials"] is not None:
            path = folder / f"{name}-credentials.json"
            path.write_text(json.dumps(data["credentials"]))
            path.chmod(0o600)
            args += ["--credentials-file", str(path)]
        return args

    def close(self) -> None:
        for adapter in self._built:
            close = getattr(adapter, "close", None)  # the real adapters hold connection pools
            if callable(close):
                close()

    @staticmethod
    def ask(key: str, host: str, department: str | None = "health") -> ProvisionRequest:
        """1 vCPU / 1 GiB / 10 GB: m1.small on the bed, t3.micro on EC2, a pod on any node."""
        return ProvisionRequest(
            idempotency_key=key,
            name=f"contract-{key[-6:]}",
            department=department,
            host=host,
            vcpus=1,
            memory_mb=1024,
            disk_gb=10,
        )

    @staticmethod
    def roomy_host(snapshot: Snapshot, request: ProvisionRequest) -> HostInfo:
        """The first up host with room for the request, as the placement engine sees it."""
        wanted = (request.vcpus, request.memory_mb, request.disk_gb)
        for host in snapshot.hosts:
            room = (
                host.vcpus * host.cpu_ratio - host.vcpus_used,
                host.memory_mb * host.ram_ratio - host.memory_mb_used,
                host.disk_gb * host.disk_ratio - host.disk_gb_used,
            )
            fits = all(r >= w for r, w in zip(room, wanted, strict=True))
            if host.state == HostState.up and fits:
                return host
        raise AssertionError(f"no up host with room for {wanted} in {len(snapshot.hosts)} hosts")

    def planned(self, key: str) -> ProvisionRequest:
        """A request for `key` on a host the adapter discovers now, as a plan would name it."""
        host = self.roomy_host(self.adapter.discover(), self.ask(key, ""))
        return self.ask(key, host.external_id)


# --- the peers themselves -------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_ec2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    try:
        with moto_server(tmp_path_factory.mktemp("moto-peer")) as server, moto_answers_like_aws():
            yield server
    except MotoUnavailable as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="session")
def osbed() -> Bed:
    """The running test bed (started here as root if it is not). Unlike the OpenStack suite's
    fixture it never deletes every Yunheng server: each test removes only what it made."""
    try:
        return find_or_start_bed()
    except BedUnavailable as exc:
        skip_or_fail(f"OpenStack test bed: {exc}")
        raise  # unreachable: skip_or_fail raises


@pytest.fixture
def k8s_replay() -> Iterator[ReplayServer]:
    cluster = small_cluster()
    cluster.tokens.update({K8S_ADMIN_TOKEN: "admin", K8S_READER_TOKEN: "reader"})
    with serve(cluster) as server:
        yield server


def simulator_peer() -> Peer:
    settings: dict[str, Any] = {
        "profile": "openstack",
        "seed": 11,
        "region": "contract",
        "zones": 2,
        "hosts_per_zone": 3,
        "workloads": 4,
    }

    def remove(external_id: str) -> None:
        build_adapter("simulator", settings).deprovision(external_id)

    return Peer(
        name="simulator",
        kind="simulator",
        region="contract",
        settings=settings,
        credentials=None,
        broken_settings={**settings, "faults": {"unreachable": True}},
        broken_credentials=None,
        called="contract",
        secrets=(),
        remove=remove,
    )


def kubernetes_peer(replay: ReplayServer, token: str = K8S_ADMIN_TOKEN) -> Peer:
    settings: dict[str, Any] = {"context": "replay", "region": "prov-dc2", **K8S_FAST}

    def remove(external_id: str) -> None:
        namespace, _, name = external_id.partition("/")
        if (namespace, name) in replay.cluster.deployments:
            replay.cluster.delete_deployment(namespace, name)

    return Peer(
        name="kubernetes",
        kind="kubernetes",
        region="prov-dc2",
        settings=settings,
        credentials={"kubeconfig": kubeconfig_text(replay.url, token)},
        broken_settings=settings,
        broken_credentials={"kubeconfig": kubeconfig_text(replay.url, K8S_REVOKED_TOKEN)},
        called=replay.url,
        secrets=(K8S_ADMIN_TOKEN, K8S_READER_TOKEN, K8S_REVOKED_TOKEN),
        remove=remove,
    )


def ec2_peer(server: MotoServer, **overrides: Any) -> Peer:
    """moto's EC2 through libcloud; broken: the same settings aimed at a port nobody serves."""
    settings = ec2_settings(server, **overrides)
    dead = {**settings["driver_options"], "port": free_port()}

    def remove(external_id: str) -> None:
        driver = ec2_driver(server)
        for node in driver.list_nodes():
            if str(node.id) == external_id:
                driver.destroy_node(node)

    return Peer(
        name="libcloud-ec2",
        kind="libcloud",
        region=settings["region"],
        settings=settings,
        credentials=dict(CREDENTIALS),
        broken_settings={**settings, "driver_options": dead, "backoff_seconds": 0},
        broken_credentials=dict(CREDENTIALS),
        called=f"{server.host}:",
        secrets=(CREDENTIALS["secret"],),
        remove=remove,
    )


def dummy_peer() -> Peer:
    settings: dict[str, Any] = {
        "driver": "dummy",
        "image": "1",
        "quota": dict(QUOTA),
        "size_vcpus": {"1": 1, "2": 1, "3": 2, "4": 4},  # its sizes say no vCPUs
    }
    return Peer(
        name="libcloud-dummy",
        kind="libcloud",
        region="dummy",
        settings=settings,
        credentials={"key": "dummy"},
        broken_settings=None,  # it answers from memory: nothing can fail
        broken_credentials=None,
        called="dummy",
        secrets=(),
        remove=lambda external_id: None,  # its nodes die with the adapter
    )


def openstack_peer(bed: Bed) -> Peer:
    """Explicit auth with the password as a credential, as an admin would register it."""
    settings = bed.explicit_settings(provision_timeout_seconds=120)

    def remove(external_id: str) -> None:
        bed.delete_server(external_id)
        bed.wait_gone([external_id])

    return Peer(
        name="openstack",
        kind="openstack",
        region="RegionOne",
        settings=settings,
        credentials={"password": PASSWORD},
        broken_settings=settings,
        broken_credentials={"password": OPENSTACK_WRONG_PASSWORD},
        called="127.0.0.1:5000",
        secrets=(OPENSTACK_WRONG_PASSWORD,),  # the bed's own password is the word "secret"
        remove=remove,
    )


@pytest.fixture(params=PEERS)
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """Every adapter against its live peer, one at a time."""
    name = request.param
    if name == "simulator":
        built = simulator_peer()
    elif name == "kubernetes":
        built = kubernetes_peer(request.getfixturevalue("k8s_replay"))
    elif name == "libcloud-ec2":
        server: MotoServer = request.getfixturevalue("moto_ec2")
        server.reset()
        built = ec2_peer(server)
    elif name == "libcloud-dummy":
        built = dummy_peer()
    else:
        built = openstack_peer(request.getfixturevalue("osbed"))
    yield built
    built.close()
