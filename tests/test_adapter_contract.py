"""The Adapter contract, checked the same way on every adapter against its live peer.

Parametrised over tests/adapter_peers.py: the simulator, Kubernetes (replay API server),
libcloud on moto's EC2 server, libcloud's DummyNodeDriver and OpenStack (the test bed).
What an adapter cannot show is listed in CANNOT with the reason, and skipped by name; what it
should show but does not yet is in KNOWN_GAPS, run as a strict xfail so that fixing it turns
the suite red until the entry is removed. Nothing passes silently.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING

import pytest

from adapters.base import AdapterError, Capability
from inventory.models import HostState
from inventory.snapshot import Snapshot

if TYPE_CHECKING:
    from tests.adapter_peers import Peer

pytest_plugins = ("tests.adapter_peers",)


class Clause(StrEnum):
    """The parts of the contract a peer may be excused from."""

    idempotent = "a second provision with the same key finds the first"
    owned_in_discover = "what provision made is rediscovered as an owned replica on its host"
    can_fail = "the peer can be made to refuse the credentials or stop answering"
    failure_named = "a failing call raises AdapterError naming the cloud, the call and the cause"


# Legitimate limits: the peer cannot do it, whatever the adapter does. Skipped by name.
CANNOT: dict[tuple[str, Clause], str] = {
    ("libcloud-dummy", Clause.idempotent): (
        "DummyNodeDriver.create_node takes only name, size and image, and names every node "
        "dummy-N: neither a tag nor the name can carry the idempotency key"
    ),
    ("libcloud-dummy", Clause.owned_in_discover): (
        "the dummy's nodes carry no key (see above) and no location, so they come back as "
        "outside workloads in no pool"
    ),
    ("libcloud-dummy", Clause.can_fail): (
        "the dummy driver answers from memory: there is no endpoint that can refuse or go away"
    ),
}
# Defects: the adapter should do it and does not. Run anyway: a failure is an xfail, a pass
# fails the test until the entry is removed (a strict xfail).
KNOWN_GAPS: dict[tuple[str, Clause], str] = {}

# "<operation> failed": the call that failed, as the adapters word it.
OPERATION = re.compile(
    r"\b(discover|list|provision|deprovision|create|delete|destroy|read|get|find|look up|"
    r"authenticate|connect)\b[^:]*? failed"
)


@contextmanager
def clause(peer: Peer, part: Clause) -> Iterator[None]:
    """The checks of one clause: skipped if the peer cannot, expected to fail if a known gap."""
    reason = CANNOT.get((peer.name, part))
    if reason is not None:
        pytest.skip(f"{peer.name} cannot: {part.value}: {reason}")
    gap = KNOWN_GAPS.get((peer.name, part))
    if gap is None:
        yield
        return
    try:
        yield
    except AssertionError:
        pytest.xfail(f"known gap in {peer.name}: {gap}")
    pytest.fail(f"{peer.name} now meets '{part.value}': remove it from KNOWN_GAPS")


def key() -> str:
    return f"yh-contract-{uuid.uuid4().hex[:10]}"


def ids(snapshot: Snapshot) -> dict[str, set[str]]:
    return {
        "zones": {z.external_id for z in snapshot.zones},
        "hosts": {h.external_id for h in snapshot.hosts},
        "workloads": {w.external_id for w in snapshot.workloads},
        "replicas": {r.external_id for r in snapshot.replicas},
    }


# --- discover -------------------------------------------------------------------------------


def test_discover_returns_a_consistent_snapshot(peer: Peer) -> None:
    snapshot = peer.adapter.discover()
    known = ids(snapshot)

    assert snapshot.problems() == []
    assert snapshot.zones and snapshot.hosts, "every peer has zones and hosts to place onto"
    for zone in snapshot.zones:
        assert zone.region, zone
        assert 0.0 <= zone.availability <= 1.0, zone
    for host in snapshot.hosts:
        assert host.zone is None or host.zone in known["zones"], host.external_id
        assert host.state != HostState.gone, "a cloud reports what exists; gone is ours to say"
        assert min(host.cpu_ratio, host.ram_ratio, host.disk_ratio) > 0, host.external_id
        sizes = (host.vcpus, host.memory_mb, host.disk_gb, host.gpus)
        used = (host.vcpus_used, host.memory_mb_used, host.disk_gb_used, host.gpus_used)
        assert min(sizes + used) >= 0, host.external_id
        for amount, size, ratio in (
            (host.vcpus_used, host.vcpus, host.cpu_ratio),
            (host.memory_mb_used, host.memory_mb, host.ram_ratio),
            (host.disk_gb_used, host.disk_gb, host.disk_ratio),
            (host.gpus_used, host.gpus, 1.0),
        ):
            assert amount <= size * ratio, (host.external_id, amount, size, ratio)
    for workload in snapshot.workloads:
        assert workload.replicas_desired >= 0 and workload.vcpus >= 0, workload.external_id
        assert workload.memory_mb >= 0 and workload.disk_gb >= 0, workload.external_id
    for replica in snapshot.replicas:
        assert replica.host is None or replica.host in known["hosts"], replica.external_id
        assert replica.workload is None or replica.workload in known["workloads"]

    assert ids(peer.adapter.discover()) == known, "an idle cloud answers the same twice"


# --- provision / deprovision ------------------------------------------------------------------


def test_provision_onto_a_discovered_host_is_idempotent_on_the_key(peer: Peer) -> None:
    adapter = peer.adapter
    request = peer.planned(key())
    made: list[str] = []
    try:
        first = adapter.provision(request)
        made.append(first.external_id)
        assert first.created is True
        assert first.external_id
        assert first.host == request.host

        with clause(peer, Clause.idempotent):
            again = adapter.provision(request)
            made.append(again.external_id)
            assert again.created is False
            assert again.external_id == first.external_id
            assert again.host == request.host

        with clause(peer, Clause.owned_in_discover):
            after = adapter.discover()
            found = [r for r in after.replicas if r.external_id == first.external_id]
            assert len(found) == 1, "no duplicate"
            (replica,) = found
            assert replica.workload is None, "it stays with the Yunheng service it was made for"
            assert replica.host == request.host
            assert replica.extra.get("idempotency_key") == request.idempotency_key
            assert after.problems() == []
    finally:
        for external_id in set(made):
            peer.remove(external_id)


def test_deprovision_returns_true_then_false(peer: Peer) -> None:
    adapter = peer.adapter
    request = peer.planned(key())
    made = adapter.provision(request)
    try:
        assert adapter.deprovision(made.external_id) is True
        assert adapter.deprovision(made.external_id) is False
        assert made.external_id not in ids(adapter.discover())["replicas"]
    finally:
        peer.remove(made.external_id)


# --- check and failures -----------------------------------------------------------------------


def test_check_answers_once_per_capability_with_a_reason(peer: Peer) -> None:
    results = peer.adapter.check()

    assert sorted(r.capability for r in results) == sorted(Capability)
    for result in results:
        assert result.ok, f"{result.capability}: {result.detail}"
        assert isinstance(result.detail, str) and result.detail.strip()


def test_check_of_a_failing_peer_says_why_for_every_capability(peer: Peer) -> None:
    with clause(peer, Clause.can_fail):
        broken = peer.broken()
        assert broken is not None
    results = broken.check()

    assert sorted(r.capability for r in results) == sorted(Capability)
    for result in results:
        assert not result.ok, f"{result.capability} ok on a failing peer"
        assert result.detail.strip()
        for secret in peer.secrets:
            assert secret not in result.detail


def test_a_failing_peer_raises_adapter_error_naming_the_call(peer: Peer) -> None:
    with clause(peer, Clause.can_fail):
        broken = peer.broken()
        assert broken is not None
    host = peer.planned(key()).host
    calls: dict[str, Callable[[], object]] = {
        "discover": broken.discover,
        "provision": lambda: broken.provision(peer.ask(key(), host)),
        "deprovision": lambda: broken.deprovision("health/yh-contract-none"),
    }
    for operation, call in calls.items():
        with pytest.raises(AdapterError) as caught:
            call()
        message = str(caught.value)
        for secret in peer.secrets:
            assert secret not in message, f"{operation}: leaks a credential"
        with clause(peer, Clause.failure_named):
            assert OPERATION.search(message), f"{operation}: names no call: {message}"
            assert peer.called in message, f"{operation}: names no cloud: {message}"
            assert re.search(r" failed[^:]*: \S", message), f"{operation}: no cause: {message}"


def test_every_table_entry_names_a_peer() -> None:
    """A misspelt peer in CANNOT or KNOWN_GAPS would excuse nothing and hide nothing."""
    from tests.adapter_peers import PEERS  # registered as a plugin by now

    for peer_name, part in [*CANNOT, *KNOWN_GAPS]:
        assert peer_name in PEERS and isinstance(part, Clause)
    assert not set(CANNOT) & set(KNOWN_GAPS)
