"""The libcloud adapter against real peers: moto's EC2 server, and libcloud's DummyNodeDriver.

The contract tests run on both. What only a cloud that keeps tags can show (a retry finds the
node it made, ownership of Yunheng-made nodes, usage by size) and the failure paths through
`adapters.service.sync` run against moto.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from libcloud.compute.base import NodeImage
from sqlmodel import Session, col

from adapters import service
from adapters.base import AdapterError, Capability, ProvisionRequest
from adapters.libcloud import POOL_PREFIX, LibcloudAdapter
from adapters.registry import AdapterConfigError, build_adapter
from inventory.crypto import SecretBox
from inventory.models import (
    Cloud,
    CloudCreate,
    CloudStatus,
    Host,
    HostState,
    ItemState,
    Replica,
)
from tests.conftest import skip_or_fail
from tests.factories import SYSTEM
from tests.moto_peer import (
    CREDENTIALS,
    IMAGE,
    QUOTA,
    ZONES,
    MotoServer,
    MotoUnavailable,
    ec2_driver,
    ec2_settings,
    moto_answers_like_aws,
    moto_server,
)

DUMMY_ZONES = ["Paul's Room", "London Loft", "Island Datacenter"]
DUMMY_SETTINGS: dict[str, Any] = {
    "driver": "dummy",
    "image": "1",
    "quota": dict(QUOTA),
    "size_vcpus": {"1": 1, "2": 1, "3": 2, "4": 4},  # the dummy driver's sizes say no vCPUs
}


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    try:
        with moto_server(tmp_path_factory.mktemp("moto")) as server, moto_answers_like_aws():
            yield server
    except MotoUnavailable as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="session")
def locked_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto checking every request against its IAM users (INITIAL_NO_AUTH_ACTION_COUNT=0);
    our made-up keys belong to none, so EC2 answers 401 AuthFailure, as AWS does to bad keys."""
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    try:
        with (
            moto_server(tmp_path_factory.mktemp("moto-locked"), env=env) as server,
            moto_answers_like_aws(),
        ):
            yield server
    except MotoUnavailable as exc:
        skip_or_fail(str(exc))


@pytest.fixture
def own_moto(tmp_path: Path) -> Iterator[MotoServer]:
    """A moto server of this test's own, which the test may stop."""
    try:
        with moto_server(tmp_path) as server, moto_answers_like_aws():
            yield server
    except MotoUnavailable as exc:
        skip_or_fail(str(exc))


@dataclass
class Peer:
    name: str
    adapter: LibcloudAdapter  # one per test: the dummy driver keeps its nodes in memory
    zones: list[str]
    planned: str  # a pool to provision into
    smallest: str  # the smallest size fitting ask()

    def live_nodes(self) -> dict[str, Any]:
        nodes = self.adapter.cloud.driver.list_nodes()
        return {str(n.id): n for n in nodes if n.state != "terminated"}


def libcloud_adapter(settings: dict[str, Any], credentials: dict[str, Any]) -> LibcloudAdapter:
    adapter = build_adapter("libcloud", settings, credentials)  # validated like a registration
    assert isinstance(adapter, LibcloudAdapter)
    return adapter


@pytest.fixture(params=["moto", "dummy"])
def peer(request: pytest.FixtureRequest) -> Peer:
    if request.param == "dummy":
        adapter = libcloud_adapter(DUMMY_SETTINGS, {"key": "dummy"})
        return Peer("dummy", adapter, DUMMY_ZONES, POOL_PREFIX + "London Loft", "3")
    server: MotoServer = request.getfixturevalue("moto")
    server.reset()
    adapter = libcloud_adapter(ec2_settings(server), CREDENTIALS)
    return Peer("moto", adapter, ZONES, POOL_PREFIX + "us-east-1c", "t3.medium")


def make_outside_node(server: MotoServer, name: str, zone: str, tags: dict[str, str]) -> Any:
    """An m5.large made behind Yunheng's back, as another tool in the account would."""
    driver = ec2_driver(server)
    location = next(loc for loc in driver.list_locations() if loc.name == zone)
    size = next(s for s in driver.list_sizes() if s.id == "m5.large")
    image = NodeImage(id=IMAGE, name="ubuntu", driver=driver)
    return driver.create_node(
        name=name, size=size, image=image, location=location, ex_metadata=tags
    )


def ask(host: str, key: str | None = None, vcpus: int = 2) -> ProvisionRequest:
    """2 vCPU / 3000 MB / 20 GB: t3.medium on EC2 (t3.small has 2 GiB), size 3 on dummy."""
    return ProvisionRequest(
        idempotency_key=key or f"yh-test-{uuid.uuid4().hex[:8]}",
        name="portal-0",
        department="gov-service",
        host=host,
        vcpus=vcpus,
        memory_mb=3000,
        disk_gb=20,
    )


# --- the contract, on both peers --------------------------------------------------------


def test_discover_models_each_location_as_a_quota_bounded_pool(peer: Peer) -> None:
    snapshot = peer.adapter.discover()

    assert snapshot.problems() == []
    assert [z.external_id for z in snapshot.zones] == peer.zones
    assert [h.external_id for h in snapshot.hosts] == [POOL_PREFIX + z for z in peer.zones]
    for host in snapshot.hosts:
        assert (host.vcpus, host.memory_mb, host.disk_gb) == (64, 262144, 4000)
        assert host.extra["instances"] == 20
        assert host.extra["pool"].startswith("elastic capacity pool")
    assert snapshot.extra["sizes"], "sizes are discovered"


def test_provision_uses_the_smallest_fitting_size_in_the_planned_pool(peer: Peer) -> None:
    before = set(peer.live_nodes())

    made = peer.adapter.provision(ask(peer.planned))

    assert made.created is True
    assert made.host == peer.planned
    assert made.extra["size"] == peer.smallest
    assert set(peer.live_nodes()) - before == {made.external_id}
    if peer.name == "moto":  # the dummy driver's create_node takes no location
        node = peer.live_nodes()[made.external_id]
        assert node.extra["availability"] == peer.planned.removeprefix(POOL_PREFIX)
        assert node.extra["instance_type"] == peer.smallest


def test_no_fitting_size_is_a_clear_error_and_creates_nothing(peer: Peer) -> None:
    before = set(peer.live_nodes())

    with pytest.raises(AdapterError, match=r"provision failed: no size fits 4096 vCPU"):
        peer.adapter.provision(ask(peer.planned, vcpus=4096))

    assert set(peer.live_nodes()) == before


def test_a_host_that_is_no_pool_of_the_cloud_is_a_clear_error(peer: Peer) -> None:
    with pytest.raises(AdapterError, match=r"host 'pool:atlantis' is not a pool"):
        peer.adapter.provision(ask(POOL_PREFIX + "atlantis"))


def test_deprovision_removes_the_node_and_then_reports_it_gone(peer: Peer) -> None:
    made = peer.adapter.provision(ask(peer.planned))

    assert peer.adapter.deprovision(made.external_id) is True
    assert made.external_id not in peer.live_nodes()
    assert peer.adapter.deprovision(made.external_id) is False


def test_check_reports_each_capability(peer: Peer) -> None:
    results = {r.capability: r for r in peer.adapter.check()}
    assert results[Capability.list].ok, results[Capability.list].detail
    assert results[Capability.provision].ok, results[Capability.provision].detail

    settings = {**peer.adapter.config.model_dump(mode="json"), "image": None}
    without_image = LibcloudAdapter(type(peer.adapter.config).model_validate(settings))
    without_image.cloud = peer.adapter.cloud
    results = {r.capability: r for r in without_image.check()}
    assert results[Capability.list].ok
    assert not results[Capability.provision].ok
    assert "settings.image" in results[Capability.provision].detail


# --- what a cloud that keeps tags shows (moto) ---------------------------------------------


def test_check_names_an_image_the_cloud_does_not_have(moto: MotoServer) -> None:
    adapter = libcloud_adapter(ec2_settings(moto, image="ami-00000000"), CREDENTIALS)

    listed, provision = adapter.check()

    assert listed.ok
    assert not provision.ok
    assert "get image ami-00000000 failed: HTTP 400: InvalidAMIID.NotFound" in provision.detail


def test_a_retry_with_the_same_key_finds_the_node_instead_of_making_another(
    moto: MotoServer,
) -> None:
    moto.reset()
    settings = ec2_settings(moto)
    request = ask(POOL_PREFIX + "us-east-1b", key="yh-r7-p3-0")

    first = libcloud_adapter(settings, CREDENTIALS).provision(request)
    again = libcloud_adapter(settings, CREDENTIALS).provision(request)  # a fresh process

    assert (first.created, again.created) == (True, False)
    assert again.external_id == first.external_id
    assert again.host == POOL_PREFIX + "us-east-1b"
    tagged = [
        n
        for n in ec2_driver(moto).list_nodes()
        if n.extra.get("tags", {}).get("yunheng-idempotency-key") == "yh-r7-p3-0"
    ]
    assert [str(n.id) for n in tagged] == [first.external_id]
    assert tagged[0].extra["availability"] == "us-east-1b"
    assert tagged[0].extra["instance_type"] == "t3.medium"
    assert tagged[0].extra["tags"]["yunheng-department"] == "gov-service"


def test_discover_tells_yunheng_nodes_from_others_and_sums_usage_per_pool(
    moto: MotoServer,
) -> None:
    moto.reset()
    other = make_outside_node(moto, "legacy-gis", "us-east-1b", {"yunheng-department": "health"})
    adapter = libcloud_adapter(ec2_settings(moto), CREDENTIALS)
    ours = adapter.provision(ask(POOL_PREFIX + "us-east-1b", key="yh-r8-p4-1"))

    snapshot = adapter.discover()

    assert snapshot.problems() == []
    replicas = {r.external_id: r for r in snapshot.replicas}
    assert replicas[ours.external_id].workload is None  # stays with its Yunheng service
    assert replicas[ours.external_id].extra["idempotency_key"] == "yh-r8-p4-1"
    assert replicas[str(other.id)].workload == str(other.id)
    assert {r.host for r in replicas.values()} == {POOL_PREFIX + "us-east-1b"}
    (workload,) = snapshot.workloads
    assert (workload.name, workload.department, workload.kind) == ("legacy-gis", "health", "vm")
    assert (workload.vcpus, workload.memory_mb) == (2, 8192)
    pools = {h.external_id: h for h in snapshot.hosts}
    pool_b = pools[POOL_PREFIX + "us-east-1b"]
    # m5.large (2 vCPU, 8 GiB) + t3.medium (2 vCPU, 4 GiB); both boot from EBS, no local disk
    assert (pool_b.vcpus_used, pool_b.memory_mb_used, pool_b.disk_gb_used) == (4, 12288, 0)
    assert pool_b.extra["instances_used"] == 2
    assert pools[POOL_PREFIX + "us-east-1a"].vcpus_used == 0

    assert adapter.deprovision(ours.external_id) is True
    after = adapter.discover()
    assert ours.external_id not in {r.external_id for r in after.replicas}  # terminated
    assert {h.external_id: h.vcpus_used for h in after.hosts}[POOL_PREFIX + "us-east-1b"] == 2


def test_settings_are_checked_at_registration_naming_the_field() -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({**DUMMY_SETTINGS, "driver": "nope"}, "settings.driver", "unknown libcloud"),
        ({**DUMMY_SETTINGS, "driver_options": {"host": "x"}}, "settings.driver_options", "host"),
        (
            {**DUMMY_SETTINGS, "driver": "ec2", "driver_options": {"secret": "s"}},
            "settings.driver_options",
            "own field",
        ),
        ({k: v for k, v in DUMMY_SETTINGS.items() if k != "quota"}, "settings.quota", "required"),
        ({**DUMMY_SETTINGS, "quota": {**QUOTA, "vcpus": -1}}, "settings.quota.vcpus", "0"),
    ]
    for settings, field, words in cases:
        with pytest.raises(AdapterConfigError) as caught:
            build_adapter("libcloud", settings, {"key": "dummy"})
        assert caught.value.field == field, settings
        assert words in str(caught.value)
    with pytest.raises(AdapterConfigError) as caught:
        build_adapter("libcloud", DUMMY_SETTINGS, {"key": "k", "password": "p"})
    assert caught.value.field == "credentials.password"


# --- failure paths: clear errors, a degraded cloud that keeps its inventory -----------------


def test_a_stopped_cloud_is_named_degraded_and_keeps_its_inventory(
    session: Session, box: SecretBox, own_moto: MotoServer
) -> None:
    server = own_moto
    settings = ec2_settings(server)
    cloud = service.register_cloud(
        session,
        SYSTEM,
        CloudCreate(
            name="moto-ec2",
            kind="libcloud",
            vendor="AWS (moto)",
            region="us-east-1",
            security_level=3,
            settings=settings,
            credentials=CREDENTIALS,
        ),
        box,
    )
    session.commit()
    cloud_id = cloud.id or 0
    legacy = make_outside_node(server, "legacy-oa", "us-east-1a", {})
    assert service.sync(session, SYSTEM, cloud_id, box).ok
    session.commit()
    server.stop()

    adapter = libcloud_adapter(settings, CREDENTIALS)
    with pytest.raises(AdapterError) as caught:
        adapter.discover()
    message = str(caught.value)
    assert message.startswith(f"libcloud ec2 us-east-1 at 127.0.0.1:{server.port}: ")
    assert "list locations failed after 2 tries: cannot connect: Connection refused" in message
    assert CREDENTIALS["secret"] not in message
    assert not any(r.ok for r in adapter.check())

    outcome = service.sync(session, SYSTEM, cloud_id, box)
    session.commit()

    assert not outcome.ok
    assert outcome.error is not None and "list locations failed" in outcome.error
    row = session.get(Cloud, cloud_id)
    assert row is not None and row.status == CloudStatus.degraded
    assert row.last_error is not None and "Connection refused" in row.last_error
    states = session.execute(
        sa.select(col(Host.external_id), col(Host.state)).where(col(Host.cloud_id) == cloud_id)
    ).all()
    assert sorted(states) == [(POOL_PREFIX + z, HostState.up) for z in ZONES]
    replicas = session.execute(
        sa.select(col(Replica.external_id), col(Replica.state)).where(
            col(Replica.cloud_id) == cloud_id
        )
    ).all()
    assert replicas == [(str(legacy.id), ItemState.active)]


def test_a_cloud_that_never_answers_times_out_with_bounded_retries() -> None:
    # A socket that listens but never accepts: the kernel completes the handshake, the
    # request goes out and no answer ever comes back, like a hung API gateway.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        host, port = hung.getsockname()
        settings = {
            **DUMMY_SETTINGS,
            "driver": "ec2",
            "region": "us-east-1",
            "size_vcpus": {},
            "driver_options": {"host": host, "port": port, "secure": False},
            "timeout_seconds": 0.5,
            "retries": 1,
            "backoff_seconds": 0,
        }
        adapter = libcloud_adapter(settings, CREDENTIALS)
        with pytest.raises(AdapterError) as caught:
            adapter.discover()

    assert str(caught.value) == (
        f"libcloud ec2 us-east-1 at {host}:{port}: list locations failed after 2 tries: "
        "no answer within 0.5 s (time-out)"
    )


def test_rejected_credentials_are_a_clear_error_without_retries(
    session: Session, box: SecretBox, locked_moto: MotoServer
) -> None:
    adapter = libcloud_adapter(ec2_settings(locked_moto, retries=3), CREDENTIALS)
    with pytest.raises(AdapterError) as caught:
        adapter.discover()
    checks = adapter.check()
    cloud = service.register_cloud(
        session,
        SYSTEM,
        CloudCreate(
            name="moto-ec2-locked",
            kind="libcloud",
            vendor="AWS (moto)",
            region="us-east-1",
            security_level=3,
            settings=ec2_settings(locked_moto),
            credentials=CREDENTIALS,
        ),
        box,
    )
    outcome = service.sync(session, SYSTEM, cloud.id or 0, box)
    session.commit()

    message = str(caught.value)
    assert "list locations failed: credentials rejected (AuthFailure:" in message
    assert "tries" not in message  # a refusal is not retried
    assert CREDENTIALS["secret"] not in message
    assert [(r.capability, r.ok) for r in checks] == [
        (Capability.list, False),
        (Capability.provision, False),
    ]
    assert "credentials rejected" in checks[0].detail
    assert not outcome.ok
    assert cloud.status == CloudStatus.degraded
