"""The OpenStack adapter against the real test bed: Keystone, Placement and Nova (fake driver).

Expected values come from the bed itself, read with keystoneauth directly (tests/openstack_bed.py),
never from the adapter under test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session

from adapters import service as clouds
from adapters.base import AdapterError, Capability, ProvisionResult
from adapters.openstack import OpenStackAdapter, server_tag
from adapters.openstack_discover import Provider, to_hosts
from adapters.registry import AdapterConfigError, build_adapter
from inventory.crypto import SecretBox
from inventory.models import CloudStatus, HostState
from inventory.snapshot import HostInfo
from tests import factories
from tests.conftest import skip_or_fail
from tests.openstack_bed import (
    HOSTS,
    PASSWORD,
    Bed,
    BedUnavailable,
    find_or_start_bed,
    live_hosts,
    provision_request,
    register_cloud,
    status_of,
)

KEYSTONE_DOWN = "cannot reach the API"
REFUSED = "authentication refused (HTTP 401)"


@pytest.fixture(scope="session")
def bed() -> Iterator[Bed]:
    try:
        found = find_or_start_bed()
    except BedUnavailable as exc:
        skip_or_fail(f"OpenStack test bed: {exc}")
        raise  # unreachable: skip_or_fail raises
    found.clean()
    yield found
    found.clean()


@pytest.mark.parametrize(
    ("settings", "credentials", "field"),
    [
        ({}, {}, "settings"),
        ({"auth_url": "keystone:5000"}, {"password": "x"}, "settings.auth_url"),
        ({"cloud": "a", "retries": 99}, {}, "settings.retries"),
        ({"cloud": "a", "zone_availability": {"nova": 1.5}}, {}, "settings.zone_availability"),
        ({"cloud": "a", "os_password": "x"}, {}, "settings.os_password"),
        ({"auth_url": "http://127.0.0.1:5000/v3", "username": "u"}, {}, "credentials"),
        ({"cloud": "a"}, {"password": "x", "application_credential_id": "i"}, "credentials"),
        ({"cloud": "a"}, {"token": "x"}, "credentials.token"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    settings: dict[str, Any], credentials: dict[str, Any], field: str
) -> None:
    with pytest.raises(AdapterConfigError) as err:
        build_adapter("openstack", settings, credentials)
    assert err.value.field == field


def _provider(uuid_: str, root: str, inventories: dict[str, int], used: dict[str, int]) -> Provider:
    inv = {
        rc: {"total": n, "reserved": 0, "allocation_ratio": 1.0} for rc, n in inventories.items()
    }
    return Provider(uuid_, uuid_, root, inv, used, ())


def test_mapping_counts_nested_gpus_and_maps_service_states() -> None:
    """Shapes the bed cannot produce (fake driver: no GPUs), on the SDK's field names."""
    providers = {
        "n1": _provider("n1", "n1", {"VCPU": 8, "MEMORY_MB": 1024}, {"VCPU": 2}),
        "g1": _provider("g1", "n1", {"VGPU": 4}, {"VGPU": 1}),
        "n2": _provider("n2", "n2", {"VCPU": 8}, {}),
        "n3": _provider("n3", "n3", {"VCPU": 8}, {}),
    }
    hypervisors = [
        SimpleNamespace(
            id=n, name=f"node-{n}", service_details={"host": f"h-{n}"}, state="up", status="enabled"
        )
        for n in ("n1", "n2", "n3")
    ]
    services = [
        SimpleNamespace(
            host="h-n1",
            availability_zone="az1",
            state="up",
            status="enabled",
            is_forced_down=False,
            disabled_reason=None,
        ),
        SimpleNamespace(
            host="h-n2",
            availability_zone="az1",
            state="up",
            status="disabled",
            is_forced_down=False,
            disabled_reason="repair",
        ),
        SimpleNamespace(
            host="h-n3",
            availability_zone="az2",
            state="up",
            status="enabled",
            is_forced_down=True,
            disabled_reason=None,
        ),
    ]
    hosts = {h.external_id: h for h in to_hosts(hypervisors, services, providers, [])}
    assert (hosts["node-n1"].gpus, hosts["node-n1"].gpus_used, hosts["node-n1"].vcpus_used) == (
        4,
        1,
        2,
    )
    assert hosts["node-n2"].state == HostState.maintenance
    assert hosts["node-n2"].extra["disabled_reason"] == "repair"
    assert hosts["node-n3"].state == HostState.down and hosts["node-n3"].zone == "az2"


def _adapter(settings: dict[str, Any], credentials: dict[str, Any] | None = None) -> Any:
    built = build_adapter("openstack", settings, credentials)
    assert isinstance(built, OpenStackAdapter)
    return built


@pytest.fixture
def adapter(bed: Bed) -> Iterator[OpenStackAdapter]:
    built = _adapter(bed.settings())
    yield built
    built.close()


def _hosts(adapter: OpenStackAdapter) -> dict[str, HostInfo]:
    return {h.external_id: h for h in adapter.discover().hosts}


def test_discover_reads_the_hosts_with_placements_capacity(
    bed: Bed, adapter: OpenStackAdapter
) -> None:
    snapshot = adapter.discover()
    placement = bed.providers()

    assert snapshot.problems() == []
    hosts = {h.external_id: h for h in snapshot.hosts}
    assert set(HOSTS) <= set(hosts)
    for name in HOSTS:
        host, inv, used = hosts[name], placement[name]["inventories"], placement[name]["usages"]
        assert host.state == HostState.up
        for resource, total, ratio, in_use in (
            ("VCPU", host.vcpus, host.cpu_ratio, host.vcpus_used),
            ("MEMORY_MB", host.memory_mb, host.ram_ratio, host.memory_mb_used),
            ("DISK_GB", host.disk_gb, host.disk_ratio, host.disk_gb_used),
        ):
            assert total == inv[resource]["total"] - inv[resource]["reserved"], resource
            assert ratio == inv[resource]["allocation_ratio"], resource
            assert in_use == used.get(resource, 0), resource
        assert "COMPUTE_NODE" in host.traits
        assert host.extra["compute_host"] == name
    # The bed's MediumFakeDriver reserves memory (512 MB) and overcommits CPU: both must show.
    assert hosts[HOSTS[0]].extra["reserved"]["MEMORY_MB"] == 512
    assert hosts[HOSTS[0]].cpu_ratio > 1
    # Zones and aggregates as Nova has them: an AZ aggregate puts its hosts in its zone.
    aggregates = bed.get("compute", "/os-aggregates")["aggregates"]
    zone_of = {
        h: a["availability_zone"] for a in aggregates if a["availability_zone"] for h in a["hosts"]
    }
    for name in HOSTS:
        assert hosts[name].zone == zone_of.get(name, "nova"), name
        member = sorted(a["name"] for a in aggregates if name in a["hosts"])
        assert hosts[name].extra["aggregates"] == member, name
    zones = {z.external_id: z for z in snapshot.zones}
    assert sorted(zones) == sorted({"nova", *zone_of.values()})  # never Nova's "internal"
    assert len(zones) == 2, "the bed has two availability zones"
    for zone in zones.values():
        assert zone.extra["aggregates"] == sorted(
            a["name"] for a in aggregates if a["availability_zone"] == zone.external_id
        )
    assert {f["name"] for f in snapshot.extra["flavors"]} >= {"m1.tiny", "m1.small", "m1.medium"}
    # Why Placement: at compute microversion 2.88 Nova no longer reports hypervisor capacity.
    hypervisors = bed.get("compute", "/os-hypervisors/detail", "2.88")["hypervisors"]
    assert hypervisors and all(hv.get("vcpus") is None for hv in hypervisors)


def test_explicit_auth_sees_what_clouds_yaml_sees(bed: Bed, adapter: OpenStackAdapter) -> None:
    explicit = _adapter(bed.explicit_settings(), {"password": PASSWORD})
    try:
        assert _hosts(explicit) == _hosts(adapter)
        checks = {c.capability: c for c in explicit.check()}
    finally:
        explicit.close()
    assert checks[Capability.list].ok and checks[Capability.provision].ok, checks


def test_provision_onto_planned_hosts_idempotently_then_deprovision(
    bed: Bed, adapter: OpenStackAdapter
) -> None:
    run = uuid.uuid4().hex[:8]
    plan = [HOSTS[0], HOSTS[1], HOSTS[2], HOSTS[0]]
    asks = [provision_request(run, i, host) for i, host in enumerate(plan)]
    before = _hosts(adapter)
    made: list[ProvisionResult] = []
    try:
        made = [adapter.provision(ask) for ask in asks]
        assert [m.created for m in made] == [True] * 4
        assert [m.host for m in made] == plan
        for ask, result in zip(asks, made, strict=True):
            server = bed.server(result.external_id)
            assert server["status"] == "ACTIVE"
            assert server["OS-EXT-SRV-ATTR:hypervisor_hostname"] == ask.host
            assert server["metadata"]["yunheng_idempotency_key"] == ask.idempotency_key
            assert server["flavor"]["original_name"] == "m1.small"  # m1.tiny has 512 MB

        again = [adapter.provision(ask) for ask in asks]
        assert [m.created for m in again] == [False] * 4
        assert [m.external_id for m in again] == [m.external_id for m in made]
        for ask in asks:
            assert len(bed.servers_tagged(server_tag(ask.idempotency_key))) == 1

        snapshot = adapter.discover()
        mine = {r.external_id: r for r in snapshot.replicas if r.workload is None}
        for ask, result in zip(asks, made, strict=True):
            replica = mine[result.external_id]
            assert replica.host == ask.host
            assert replica.extra["idempotency_key"] == ask.idempotency_key
        after = {h.external_id: h for h in snapshot.hosts}
        assert after[HOSTS[0]].vcpus_used == before[HOSTS[0]].vcpus_used + 2
        assert after[HOSTS[1]].memory_mb_used == before[HOSTS[1]].memory_mb_used + 2048

        assert [adapter.deprovision(m.external_id) for m in made] == [True] * 4
        assert [adapter.deprovision(m.external_id) for m in made] == [False] * 4
        left = {r.external_id for r in adapter.discover().replicas}
        assert not left & {m.external_id for m in made}
    finally:
        bed.remove([m.external_id for m in made])


def test_no_fitting_flavor_is_a_clear_error(bed: Bed, adapter: OpenStackAdapter) -> None:
    ask = provision_request(uuid.uuid4().hex[:8], 0, HOSTS[0], vcpus=64)
    with pytest.raises(AdapterError, match=r"'osbed'.*no flavor fits 64 vCPU / 1024 MB"):
        adapter.provision(ask)
    assert bed.servers_tagged(server_tag(ask.idempotency_key)) == []


def test_a_full_host_reports_novas_fault_and_a_retry_boots_afresh(
    bed: Bed, adapter: OpenStackAdapter
) -> None:
    """m1.medium (4096 MB) servers on one host until Placement has no room for the next."""
    run = uuid.uuid4().hex[:8]
    host = _hosts(adapter)[HOSTS[2]]
    room = int(host.memory_mb * host.ram_ratio) - host.memory_mb_used
    fillers = [
        provision_request(run, i, host.external_id, vcpus=2, memory_mb=4096, disk_gb=40)
        for i in range(room // 4096)
    ]
    too_many = provision_request(run, 99, host.external_id, vcpus=2, memory_mb=4096, disk_gb=40)
    made: list[ProvisionResult] = []
    try:
        made = [adapter.provision(ask) for ask in fillers]
        with pytest.raises(AdapterError, match=r"went to ERROR: No valid host"):
            adapter.provision(too_many)
        failed = bed.servers_tagged(server_tag(too_many.idempotency_key))
        assert [s["status"] for s in failed] == ["ERROR"]

        assert adapter.deprovision(made.pop().external_id)
        retried = adapter.provision(too_many)
        made.append(retried)
        assert retried.created and retried.host == host.external_id
        now = bed.servers_tagged(server_tag(too_many.idempotency_key))
        assert [(s["id"], s["status"]) for s in now] == [(retried.external_id, "ACTIVE")]
    finally:
        bed.remove([m.external_id for m in made])


def test_a_boot_slower_than_the_timeout_is_named_and_the_retry_finds_it(
    bed: Bed, adapter: OpenStackAdapter
) -> None:
    """A fake boot takes over a second; a 10 ms wait gives up while the server still builds."""
    ask = provision_request(uuid.uuid4().hex[:8], 0, HOSTS[1])
    tag = server_tag(ask.idempotency_key)
    impatient = _adapter(bed.settings(provision_timeout_seconds=0.01))
    try:
        with pytest.raises(AdapterError, match=r"not ACTIVE within 0.01 s \(status BUILD\)"):
            impatient.provision(ask)
        again = adapter.provision(ask)
        assert not again.created and again.host == HOSTS[1]
        assert [(s["id"], s["status"]) for s in bed.servers_tagged(tag)] == [
            (again.external_id, "ACTIVE")
        ]
    finally:
        impatient.close()
        bed.remove([s["id"] for s in bed.servers_tagged(tag)])


def test_deprovision_refuses_a_server_yunheng_did_not_make(
    bed: Bed, adapter: OpenStackAdapter
) -> None:
    server_id = bed.boot_foreign_server("not-yunheng")
    try:
        with pytest.raises(AdapterError, match="was not provisioned by Yunheng"):
            adapter.deprovision(server_id)
        assert bed.server(server_id)["status"] != "DELETED"
    finally:
        bed.remove([server_id])


def test_wrong_password_is_named_and_degrades_the_cloud(
    bed: Bed, session: Session, box: SecretBox
) -> None:
    wrong = _adapter(bed.explicit_settings(), {"password": "not-the-password"})
    with pytest.raises(AdapterError, match=r"127\.0\.0\.1:5000/v3.*authenticate failed") as err:
        wrong.discover()
    assert REFUSED in str(err.value)
    assert [(c.ok, REFUSED in c.detail) for c in wrong.check()] == [(False, True)] * 2

    cloud = register_cloud(session, box, bed)
    known = live_hosts(session, cloud)
    assert set(HOSTS) <= known
    cloud.credentials_encrypted = box.encrypt_json({"password": "not-the-password"})
    session.add(cloud)
    session.commit()

    outcome = clouds.sync(session, factories.SYSTEM, cloud.id or 0, box)
    session.commit()
    assert not outcome.ok and REFUSED in (outcome.error or "")
    assert status_of(session, cloud) == CloudStatus.degraded
    assert REFUSED in (cloud.last_error or "")
    assert live_hosts(session, cloud) == known


def test_keystone_stopped_degrades_the_cloud_and_keeps_its_inventory(
    bed: Bed, session: Session, box: SecretBox
) -> None:
    if os.geteuid() != 0:
        skip_or_fail("stopping and restarting the bed's Keystone needs root")
    cloud = register_cloud(session, box, bed)
    known = live_hosts(session, cloud)
    assert set(HOSTS) <= known
    bed.stop_keystone()
    try:
        outcome = clouds.sync(session, factories.SYSTEM, cloud.id or 0, box)
        session.commit()
        checks = clouds.check(session, factories.SYSTEM, cloud.id or 0, box)
    finally:
        bed.start_keystone()
    assert not outcome.ok and KEYSTONE_DOWN in (outcome.error or "")
    assert "127.0.0.1:5000" in (outcome.error or "")
    assert "(after 2 tries)" in (outcome.error or ""), "retries=1: one retry after backoff"
    assert status_of(session, cloud) == CloudStatus.degraded
    assert live_hosts(session, cloud) == known
    assert [(c.ok, KEYSTONE_DOWN in c.detail) for c in checks] == [(False, True)] * 2

    recovered = clouds.sync(session, factories.SYSTEM, cloud.id or 0, box)
    session.commit()
    assert recovered.ok and status_of(session, cloud) == CloudStatus.ok
