"""The placement benchmark's instance generators: deterministic, valid, feasible, exact."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.instances import (
    known_optimum,
    request_into_estate,
    synthetic,
    synthetic_with_witness,
)
from bench.known import KNOWN_CAPACITY
from bench.openb import alibaba_openb, alibaba_openb_with_witness
from scheduler.problem import Problem
from scheduler.validate import violations

OPENB = Path("/work/shared/data/alibaba-openb")


def _load(problem: Problem) -> tuple[float, float]:
    free = [0, 0]
    for h in problem.hosts:
        for r in range(2):
            free[r] += h.schedulable()[r] - h.used.vector()[r]
    asked = [sum(s.replicas * s.demand.vector()[r] for s in problem.services) for r in range(2)]
    return asked[0] / free[0], asked[1] / free[1]


def test_synthetic_is_deterministic() -> None:
    a = synthetic(30, 100, seed=3)
    assert a.model_dump_json() == synthetic(30, 100, seed=3).model_dump_json()
    assert a.model_dump_json() != synthetic(30, 100, seed=4).model_dump_json()
    # and it survives the JSON problem format round trip
    assert Problem.model_validate_json(a.model_dump_json()) == a


@pytest.mark.parametrize(("hosts", "replicas", "seed"), [(8, 10, 0), (20, 60, 1), (50, 200, 2)])
def test_synthetic_small_sizes_are_feasible(hosts: int, replicas: int, seed: int) -> None:
    problem, witness = synthetic_with_witness(hosts, replicas, seed)
    assert len(problem.hosts) == hosts
    assert sum(s.replicas for s in problem.services) == replicas
    assert violations(problem, witness) == []


def test_synthetic_has_the_full_constraint_mix() -> None:
    problem, witness = synthetic_with_witness(100, 500, seed=1)
    assert violations(problem, witness) == []  # feasible: the witness is a valid plan
    assert len(problem.hosts) == 100 and sum(s.replicas for s in problem.services) == 500

    clouds = {c.id: c for c in problem.clouds}
    assert len(clouds) >= 3 and len({c.vendor for c in clouds.values()}) == len(clouds)
    assert {c.security_level for c in clouds.values()} == {2, 3, 4}
    assert len({c.prices for c in clouds.values()}) == len(clouds)
    for cloud in clouds:
        assert 2 <= sum(1 for z in problem.zones if z.cloud == cloud) <= 3
    assert all(0.999 <= z.availability <= 0.9999 for z in problem.zones)

    arm = [h for h in problem.hosts if h.arch == "aarch64"]
    assert arm and all("CUSTOM_XINCHUANG" in h.traits for h in arm)
    assert any(h.capacity.gpus for h in problem.hosts)
    assert any(any(h.used.vector()) for h in problem.hosts)
    assert len({h.capacity for h in problem.hosts}) >= 3

    services = problem.services
    assert {s.replicas for s in services} <= set(range(1, 9)) and max(
        s.replicas for s in services
    ) >= 6
    assert {s.sla_target for s in services} == {None, 0.999, 0.9995, 0.9999}
    assert any(s.min_healthy for s in services)
    assert any(s.min_security_level >= 3 for s in services)
    assert any(s.regions for s in services) and any(s.clouds for s in services)
    assert any(s.arch == "aarch64" for s in services)
    assert any(s.demand.gpus for s in services)
    assert any(s.affinity for s in services)
    assert any(d.quota is not None for d in problem.departments)
    assert 0.6 <= max(_load(problem)) <= 0.75


def test_request_into_estate() -> None:
    problem = request_into_estate(40, 6, seed=1)
    (service,) = problem.services
    assert service.replicas == 6 and service.min_healthy == 3
    assert len(problem.hosts) == 40 and any(any(h.used.vector()) for h in problem.hosts)
    assert problem == request_into_estate(40, 6, seed=1)


@pytest.mark.parametrize(("replicas", "resources"), [(60, 2), (61, 3), (97, 2), (500, 3)])
def test_known_optimum_packs_exactly(replicas: int, resources: int) -> None:
    problem, optimum = known_optimum(replicas, resources, seed=5)
    assert (problem, optimum) == known_optimum(replicas, resources, seed=5)
    assert len(problem.services) == replicas
    assert replicas / 4 <= optimum <= replicas / 2
    assert len(problem.hosts) >= optimum + 3
    assert len({h.capacity for h in problem.hosts}) == 1
    capacity = problem.hosts[0].capacity.vector()
    assert capacity == (*KNOWN_CAPACITY[:resources], *(0,) * (4 - resources))
    for r in range(4):
        total = sum(s.demand.vector()[r] for s in problem.services)
        assert total == optimum * capacity[r]  # every cut host exactly full
    for s in problem.services:
        assert s.replicas == 1 and s.sla_target is None and not s.traits
        pieces = s.demand.vector()[:resources]
        assert all(0 < d <= c for d, c in zip(pieces, capacity[:resources], strict=True))
    assert len(problem.zones) == 1
    assert problem.weights.hosts == 1.0 and problem.weights.cost == problem.weights.balance == 0


def test_known_optimum_is_shuffled() -> None:
    a, _ = known_optimum(120, 2, seed=1)
    b, _ = known_optimum(120, 2, seed=2)
    assert [s.demand for s in a.services] != [s.demand for s in b.services]


needs_trace = pytest.mark.skipif(not OPENB.is_dir(), reason=f"no trace at {OPENB}")


@needs_trace
def test_alibaba_openb_reads_the_real_trace() -> None:
    problem, witness = alibaba_openb_with_witness(OPENB, seed=1, max_pods=400)
    assert len(problem.hosts) == 1523 and len(problem.services) == 400
    assert {c.id for c in problem.clouds} == {"openb-cpu", "openb-nvidia", "openb-g"}
    assert violations(problem, witness) == []
    with (OPENB / "openb_node_list_all_node.csv").open() as f:
        first = next(csv.DictReader(f))
    host = problem.hosts[0]
    assert host.id == first["sn"]
    assert host.capacity.vcpus == int(first["cpu_milli"]) // 1000
    assert host.capacity.memory_mb == int(first["memory_mib"])
    gpu_hosts = [h for h in problem.hosts if h.capacity.gpus]
    assert gpu_hosts and all(any(t.startswith("CUSTOM_GPU_") for t in h.traits) for h in gpu_hosts)
    assert alibaba_openb(OPENB, seed=1, max_pods=400) == problem


@needs_trace
def test_alibaba_openb_full_default_list_is_feasible_and_filled() -> None:
    problem, witness = alibaba_openb_with_witness(OPENB, seed=1)
    assert violations(problem, witness) == []
    gpus = sum(h.capacity.gpus for h in problem.hosts)
    asked = sum(s.demand.gpus for s in problem.services)
    assert 0.8 * gpus <= asked <= 0.9 * gpus  # whole GPUs, filled up to `fill`
    assert len(problem.services) > 6000
    pod = next(s for s in problem.services if s.id == "openb-pod-0001")  # 6000m, 460 milli-GPU
    assert (pod.demand.vcpus, pod.demand.memory_mb, pod.demand.gpus) == (6, 12288, 1)


@needs_trace
def test_alibaba_openb_gpu_spec_becomes_a_trait() -> None:
    problem, witness = alibaba_openb_with_witness(
        OPENB, seed=2, pods_file="openb_pod_list_gpuspec33.csv", max_pods=1500
    )
    assert violations(problem, witness) == []
    constrained = [s for s in problem.services if s.traits]
    assert constrained and any(s.demand.gpus for s in constrained)
    spec = "CUSTOM_GPUSPEC_V100M16_V100M32"  # gpu_spec "V100M16|V100M32": either model
    assert any(s.traits == {spec} for s in constrained)
    for h in problem.hosts:
        models = {t for t in h.traits if t.startswith("CUSTOM_GPU_")}
        assert (spec in h.traits) == bool(models & {"CUSTOM_GPU_V100M16", "CUSTOM_GPU_V100M32"})
