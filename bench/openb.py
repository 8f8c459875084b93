"""The Alibaba "openb" GPU cluster trace (2023) as a placement Problem.

Data: /work/shared/data/alibaba-openb (see its README.md): `openb_node_list_all_node.csv`
(1,523 nodes: `sn,cpu_milli,memory_mib,gpu,model`) and a pod list (`name,cpu_milli,
memory_mib,num_gpu,gpu_milli[,gpu_spec,qos,...]`).

Conversion (all of it deliberate, and conservative where the model cannot say more):

- Node -> host. vCPUs = floor(cpu_milli / 1000); memory_mb = memory_mib (Yunheng's
  memory_mb, like OpenStack's, counts MiB); gpus = the GPU count; no disk, nothing reserved,
  allocation ratio 1, arch x86_64, no outside usage. A GPU node has the trait
  CUSTOM_GPU_<MODEL> (e.g. CUSTOM_GPU_V100M32), plus one CUSTOM_GPUSPEC_<A>_<B>... trait for
  every multi-model gpu_spec in the pod file that includes its model (a trait set cannot
  say "any of", so each such alternative becomes a trait of its own).
- Clouds, by GPU model family (3): `openb-cpu` (CPU-only nodes), `openb-nvidia` (the
  named NVIDIA models T4, P100, V100M16, V100M32, A10) and `openb-g` (the undisclosed G1-G3).
  Zones: `<cloud>-az<k>` with k = crc32(sn) mod 2 for openb-cpu and mod 3 for the others;
  availabilities 0.9995, 0.9999, 0.999 by k. All clouds: region "openb", security level 3,
  the same vCPU/memory prices, GPU-hours 8 (NVIDIA) or 10 (G family).
- Pod -> a 1-replica service (id = pod name, department = its qos in lower case, or
  "openb"), no SLA, no residency. vCPUs = ceil(cpu_milli / 1000); memory_mb = memory_mib;
  gpus = num_gpu. GPU sharing is not modelled: a pod asking for a fraction of one GPU
  (num_gpu 1, gpu_milli < 1000) takes a whole GPU. That over-states GPU demand (the default
  list asks 7,433 whole GPUs of the 6,212 that exist, 6,087 in fractions) but never places a
  pod where it would not fit. gpu_spec, where set, becomes the required trait: the model's
  own trait for one model, the gpu_spec trait for several.
- Which pods: the trace's pods never run all at once (at most ~50 overlap), and as whole
  GPUs they do not fit together; like the FGD paper's "inflation", the benchmark draws pods
  in a seeded random order and admits each one while (a) the admitted pods stay within
  `fill` (default 90 %) of the estate's total vCPUs, memory and GPUs, and (b) a witness
  placement (circular next-fit over the eligible nodes) still finds it a node. The result
  is feasible by construction; `max_pods` caps the admitted pods (for quick tests).
"""

from __future__ import annotations

import csv
import math
import random
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from scheduler.plan import Assignment
from scheduler.problem import Cloud, Department, Host, Prices, Problem, Resources, Service, Zone

NODES_FILE = "openb_node_list_all_node.csv"
DEFAULT_PODS = "openb_pod_list_default.csv"
NVIDIA = frozenset({"T4", "P100", "V100M16", "V100M32", "A10"})
AVAILABILITY = (0.9995, 0.9999, 0.999)
GIB = 1024


def _trait(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="") as f:
        yield from csv.DictReader(f)


def _cloud_of(model: str) -> str:
    if not model:
        return "openb-cpu"
    return "openb-nvidia" if model in NVIDIA else "openb-g"


def _estate(path: Path, specs: set[frozenset[str]]) -> tuple[list[Cloud], list[Zone], list[Host]]:
    clouds = [
        Cloud(
            id=cid,
            vendor="Alibaba (openb trace)",
            region="openb",
            security_level=3,
            prices=Prices(vcpus=0.1, memory_mb=round(0.012 / GIB, 8), gpus=gpu),
        )
        for cid, gpu in (("openb-cpu", 0.0), ("openb-nvidia", 8.0), ("openb-g", 10.0))
    ]
    zone_count = {"openb-cpu": 2, "openb-nvidia": 3, "openb-g": 3}
    zones = [
        Zone(id=f"{c}-az{k + 1}", cloud=c, region="openb", availability=AVAILABILITY[k])
        for c, n in zone_count.items()
        for k in range(n)
    ]
    hosts: list[Host] = []
    for row in _rows(path / NODES_FILE):
        model = row["model"].strip()
        cloud = _cloud_of(model)
        k = zlib.crc32(row["sn"].encode()) % zone_count[cloud]
        traits: set[str] = set()
        if model:
            traits.add(f"CUSTOM_GPU_{_trait(model)}")
            traits.update(_spec_trait(s) for s in specs if len(s) > 1 and model in s)
        hosts.append(
            Host(
                id=row["sn"],
                zone=f"{cloud}-az{k + 1}",
                capacity=Resources(
                    vcpus=int(row["cpu_milli"]) // 1000,
                    memory_mb=int(row["memory_mib"]),
                    gpus=int(row["gpu"]),
                ),
                traits=frozenset(traits),
            )
        )
    return clouds, zones, hosts


def _spec(raw: str | None) -> frozenset[str]:
    return frozenset(m.strip() for m in (raw or "").split("|") if m.strip())


def _spec_trait(spec: frozenset[str]) -> str:
    if len(spec) == 1:
        return f"CUSTOM_GPU_{_trait(next(iter(spec)))}"
    return "CUSTOM_GPUSPEC_" + "_".join(_trait(m) for m in sorted(spec))


def _service(row: dict[str, str]) -> Service:
    spec = _spec(row.get("gpu_spec"))
    return Service(
        id=row["name"],
        department=(row.get("qos") or "openb").strip().lower() or "openb",
        replicas=1,
        demand=Resources(
            vcpus=math.ceil(int(row["cpu_milli"]) / 1000),
            memory_mb=int(row["memory_mib"]),
            gpus=int(row["num_gpu"]),
        ),
        traits=frozenset({_spec_trait(spec)}) if spec else frozenset(),
    )


def alibaba_openb_with_witness(
    path: Path,
    seed: int,
    pods_file: str = DEFAULT_PODS,
    *,
    fill: float = 0.9,
    max_pods: int | None = None,
) -> tuple[Problem, list[Assignment]]:
    """The trace as a Problem, and the witness plan that admitted its pods."""
    rows = list(_rows(path / pods_file))
    specs = {_spec(r.get("gpu_spec")) for r in rows}
    clouds, zones, hosts = _estate(path, specs)
    zone_cloud = {z.id: z.cloud for z in zones}
    free = [list(h.schedulable()) for h in hosts]
    cap = [fill * sum(row[r] for row in free) for r in range(4)]
    asked = [0, 0, 0, 0]
    pools: dict[tuple[bool, frozenset[str]], list[int]] = {}
    cursor: dict[tuple[bool, frozenset[str]], int] = {}
    order = list(range(len(rows)))
    random.Random(f"openb:{seed}:{pods_file}").shuffle(order)
    admitted: dict[int, tuple[Service, int]] = {}
    for i in order:
        if max_pods is not None and len(admitted) >= max_pods:
            break
        service = _service(rows[i])
        demand = service.demand.vector()
        if any(asked[r] + demand[r] > cap[r] for r in range(4)):
            continue
        key = (demand[3] > 0, service.traits)
        pool = pools.get(key)
        if pool is None:
            pool = pools[key] = [
                h
                for h, host in enumerate(hosts)
                if service.traits <= host.traits and (not key[0] or host.capacity.gpus > 0)
            ]
            cursor[key] = 0
        host = _next_fit(pool, cursor, key, free, demand)
        if host is None:
            continue
        for r in range(4):
            free[host][r] -= demand[r]
            asked[r] += demand[r]
        admitted[i] = (service, host)
    problem = Problem(
        clouds=clouds,
        zones=zones,
        hosts=hosts,
        services=[admitted[i][0] for i in sorted(admitted)],
        departments=[
            Department(id=d) for d in sorted({s.department for s, _ in admitted.values()})
        ],
    )
    witness = [
        Assignment(
            service=s.id,
            host=hosts[h].id,
            zone=hosts[h].zone,
            cloud=zone_cloud[hosts[h].zone],
        )
        for s, h in (admitted[i] for i in sorted(admitted))
    ]
    return problem, witness


def _next_fit(
    pool: list[int],
    cursor: dict[tuple[bool, frozenset[str]], int],
    key: tuple[bool, frozenset[str]],
    free: list[list[int]],
    demand: tuple[int, int, int, int],
) -> int | None:
    n = len(pool)
    start = cursor[key]
    for step in range(n):
        k = (start + step) % n
        row = free[pool[k]]
        if all(row[r] >= demand[r] for r in range(4)):
            cursor[key] = (k + 1) % n
            return pool[k]
    return None


def alibaba_openb(
    path: Path,
    seed: int,
    pods_file: str = DEFAULT_PODS,
    *,
    fill: float = 0.9,
    max_pods: int | None = None,
) -> Problem:
    """The openb trace as a Problem (see the module docstring for every conversion)."""
    return alibaba_openb_with_witness(path, seed, pods_file, fill=fill, max_pods=max_pods)[0]
