"""The simulated estate: a seeded, deterministic cloud for demos, tests and benchmarks.

Like Nova's fake virt driver, it stands in for a real cloud and says so: every zone,
host and workload it reports carries `extra["simulated"] = True` and its names start
with `sim-`. The same settings always give the same snapshot, so a re-sync is a no-op.
Faults are injected through settings (`faults`), which admins can change at run time.

What provision() made lives in this process's memory, unless `state_dir` names a directory:
then every process using the same simulated cloud (the serving processes of `serve
--workers N`, the jobs process, a `yunheng sync` from the shell, a replica that took over
after another was killed) sees the same made replicas, as it would a real cloud's.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import (
    Adapter,
    AdapterError,
    Capability,
    CheckResult,
    ProvisionRequest,
    ProvisionResult,
)
from inventory.models.enums import HostState
from inventory.snapshot import HostInfo, ReplicaInfo, Snapshot, WorkloadInfo, ZoneInfo

Profile = Literal["openstack", "kubernetes", "public"]
DEFAULT_DEPARTMENTS = ["gov-service", "public-security", "health", "education"]


class SimulatorFaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unreachable: bool = Field(default=False, description="discover() and check() fail")
    hosts_down: list[str] = Field(default_factory=list, description="host names reported down")
    hosts_missing: list[str] = Field(
        default_factory=list, description="host names left out of the snapshot (decommissioned)"
    )
    # A slow cloud, so a test can stop a process while a plan is being applied.
    provision_delay_seconds: float = Field(
        default=0.0, ge=0, le=60, description="provision() sleeps this long before it answers"
    )


class SimulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: Profile = "openstack"
    seed: int = 1
    region: str = Field(default="sim-region", min_length=1, max_length=64)
    zones: int = Field(default=2, ge=1, le=50)
    hosts_per_zone: int = Field(default=30, ge=0, le=10_000)
    workloads: int = Field(default=20, ge=0, le=100_000)
    max_replicas: int = Field(default=4, ge=1, le=64)
    departments: list[str] = Field(default_factory=lambda: list(DEFAULT_DEPARTMENTS))
    faults: SimulatorFaults = Field(default_factory=SimulatorFaults)
    state_dir: str | None = Field(
        default=None,
        max_length=4096,
        description="directory keeping what provision() made, shared by every process; "
        "unset: this process's memory",
    )


T = TypeVar("T")
Made = dict[str, ProvisionRequest]  # external id -> the request that made it


@dataclass(frozen=True)
class _Shape:
    vcpus: int
    memory_mb: int
    disk_gb: int
    gpus: int
    cpu_ratio: float
    ram_ratio: float


# Per profile: what one host looks like. Public-cloud "hosts" are elastic capacity pools,
# one per zone slot, because a public cloud shows no hypervisors.
_SHAPES: dict[str, _Shape] = {
    "openstack": _Shape(64, 256 * 1024, 2000, 0, 4.0, 1.0),
    "kubernetes": _Shape(32, 128 * 1024, 500, 0, 1.0, 1.0),
    "public": _Shape(1024, 4096 * 1024, 100_000, 0, 1.0, 1.0),
}
_SIZES = [(2, 4096, 50), (4, 8192, 100), (8, 16384, 200), (16, 32768, 200)]
_SLA_TIERS = [0.995, 0.999, 0.9995]
_APPS = ["portal", "api", "db", "cache", "queue", "search", "report", "gis", "auth", "etl"]


class SimulatorAdapter(Adapter):
    kind: ClassVar[str] = "simulator"
    label: ClassVar[str] = "模拟云 Simulated cloud (not real)"
    settings_model: ClassVar[type[BaseModel]] = SimulatorSettings

    # What provision() made, per simulated cloud identity, for the life of the process.
    _made: ClassVar[dict[str, dict[str, ProvisionRequest]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @property
    def config(self) -> SimulatorSettings:
        assert isinstance(self.settings, SimulatorSettings)
        return self.settings

    @property
    def _identity(self) -> str:
        c = self.config
        return f"{c.profile}:{c.seed}:{c.region}"

    def discover(self) -> Snapshot:
        self._fail_if_unreachable("discover")
        snapshot = generate_estate(self.config)
        made = list(self._change(dict).values())
        return _with_provisioned(snapshot, made) if made else snapshot

    def provision(self, request: ProvisionRequest) -> ProvisionResult:
        self._fail_if_unreachable(f"provision {request.name}")
        if self.config.faults.provision_delay_seconds:
            time.sleep(self.config.faults.provision_delay_seconds)
        external_id = f"sim-made-{request.idempotency_key}"

        def make(made: Made) -> bool:
            created = external_id not in made
            made[external_id] = request
            return created

        created = self._change(make)
        return ProvisionResult(external_id=external_id, host=request.host, created=created)

    def deprovision(self, external_id: str) -> bool:
        self._fail_if_unreachable(f"deprovision {external_id}")
        return self._change(lambda made: made.pop(external_id, None) is not None)

    def _change(self, change: Callable[[Made], T]) -> T:
        """`change` applied to what this simulated cloud made, atomically for every thread
        (and, with `state_dir`, every process)."""
        with self._lock:
            if self.config.state_dir is None:
                return change(self._made.setdefault(self._identity, {}))
            with self._state_file() as path:
                rows = json.loads(path.read_text()) if path.exists() else {}
                made = {ext: ProvisionRequest(**row) for ext, row in rows.items()}
                out = change(made)
                after = {ext: asdict(r) for ext, r in made.items()}
                if after != rows:  # a discover changes nothing: no write
                    written = path.with_suffix(".tmp")
                    written.write_text(json.dumps(after))
                    os.replace(written, path)  # whole or not at all, whatever kills us
                return out

    @contextmanager
    def _state_file(self) -> Iterator[Path]:
        """This cloud's state file, under an exclusive lock on its lock file."""
        folder = Path(self.config.state_dir or ".")
        folder.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in self._identity)
        with open(folder / f"simulator-{name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield folder / f"simulator-{name}.json"

    def check(self) -> list[CheckResult]:
        if self.config.faults.unreachable:
            reason = "simulated fault: cloud API unreachable"
            return [CheckResult(cap, False, reason) for cap in Capability]
        return [CheckResult(cap, True, "simulated: always available") for cap in Capability]

    def _fail_if_unreachable(self, operation: str) -> None:
        if self.config.faults.unreachable:
            raise AdapterError(
                f"simulator {self.config.region}: {operation} failed: "
                "simulated fault: API unreachable"
            )


def generate_estate(config: SimulatorSettings) -> Snapshot:
    """The deterministic estate for these settings (faults applied)."""
    rng = random.Random(f"{config.seed}:{config.profile}:{config.region}")  # noqa: S311
    tag = {"kubernetes": "k8s", "openstack": "os", "public": "pub"}[config.profile]
    shape = _SHAPES[config.profile]
    simulated = {"simulated": True}

    zones = [
        ZoneInfo(
            external_id=f"{config.region}-{tag}-az{z + 1}",
            name=f"sim-{tag} {config.region} 可用区{z + 1}",
            region=config.region,
            availability=rng.choice([0.999, 0.9995, 0.9999]),
            extra=dict(simulated),
        )
        for z in range(config.zones)
    ]
    down = set(config.faults.hosts_down)
    missing = set(config.faults.hosts_missing)
    hosts: list[HostInfo] = []
    free: list[list[int]] = []  # remaining vcpus, memory_mb, disk_gb per host, for placement
    for zone in zones:
        for i in range(config.hosts_per_zone):
            name = f"sim-{zone.external_id}-{i + 1:04d}"
            arm = config.profile == "kubernetes" and i % 3 == 2  # 信创 Kunpeng nodes
            gpus = 4 if config.profile == "openstack" and i % 10 == 9 else 0
            traits = ["CUSTOM_SSD"] + (["CUSTOM_XINCHUANG"] if arm else [])
            if gpus:
                traits.append("CUSTOM_GPU_T4")
            extra: dict[str, Any] = dict(simulated)
            if config.profile == "public":
                extra["pool"] = "elastic capacity pool bounded by account quota"
            hosts.append(
                HostInfo(
                    external_id=name,
                    name=name,
                    zone=zone.external_id,
                    vcpus=shape.vcpus,
                    memory_mb=shape.memory_mb,
                    disk_gb=shape.disk_gb,
                    gpus=gpus,
                    arch="aarch64" if arm else "x86_64",
                    state=HostState.down if name in down else HostState.up,
                    cpu_ratio=shape.cpu_ratio,
                    ram_ratio=shape.ram_ratio,
                    traits=tuple(traits),
                    extra=extra,
                )
            )
            free.append(
                [
                    int(shape.vcpus * shape.cpu_ratio),
                    int(shape.memory_mb * shape.ram_ratio),
                    shape.disk_gb,
                ]
            )

    workloads: list[WorkloadInfo] = []
    replicas: list[ReplicaInfo] = []
    used = [[0, 0, 0] for _ in hosts]
    for w in range(config.workloads):
        department = rng.choice(config.departments) if config.departments else None
        vcpus, memory_mb, disk_gb = rng.choice(_SIZES)
        count = rng.randint(1, config.max_replicas)
        name = f"sim-{department or 'shared'}-{rng.choice(_APPS)}-{w + 1:05d}"
        chosen = _place(rng, free, (vcpus, memory_mb, disk_gb), count)
        workloads.append(
            WorkloadInfo(
                external_id=name,
                name=name,
                department=department,
                kind="deployment" if config.profile == "kubernetes" else "vm",
                replicas_desired=count,
                vcpus=vcpus,
                memory_mb=memory_mb,
                disk_gb=disk_gb,
                sla_target=rng.choice(_SLA_TIERS),
                extra=dict(simulated),
            )
        )
        for r, host_index in enumerate(chosen):
            for d, amount in enumerate((vcpus, memory_mb, disk_gb)):
                used[host_index][d] += amount
            replicas.append(
                ReplicaInfo(
                    external_id=f"{name}-{r}",
                    name=f"{name}-{r}",
                    workload=name,
                    host=hosts[host_index].external_id,
                    extra=dict(simulated),
                )
            )
    hosts = [_with_usage(h, u) for h, u in zip(hosts, used, strict=True) if h.name not in missing]
    present = {h.external_id for h in hosts}
    replicas = [r for r in replicas if r.host in present]
    return Snapshot(
        zones=zones, hosts=hosts, workloads=workloads, replicas=replicas, extra=simulated
    )


def _place(
    rng: random.Random, free: list[list[int]], demand: tuple[int, int, int], count: int
) -> list[int]:
    """Distinct hosts with room, tried in a seeded random order; fewer if the estate is full."""
    chosen: list[int] = []
    if not free:
        return chosen
    for _ in range(count * 8):
        if len(chosen) == count:
            break
        i = rng.randrange(len(free))
        if i in chosen or any(f < d for f, d in zip(free[i], demand, strict=True)):
            continue
        for d, amount in enumerate(demand):
            free[i][d] -= amount
        chosen.append(i)
    return chosen


def _with_usage(host: HostInfo, used: list[int]) -> HostInfo:
    return replace(host, vcpus_used=used[0], memory_mb_used=used[1], disk_gb_used=used[2])


def _with_provisioned(snapshot: Snapshot, made: list[ProvisionRequest]) -> Snapshot:
    """Add what provision() made, as replicas of no discovered workload (Yunheng owns them),
    and count their demand in their hosts' usage, as a real cloud would report it."""
    extra_use: dict[str, list[int]] = {}
    replicas = list(snapshot.replicas)
    known = {h.external_id for h in snapshot.hosts}
    for req in made:
        ext = f"sim-made-{req.idempotency_key}"
        host = req.host if req.host in known else None
        if host is not None:
            use = extra_use.setdefault(host, [0, 0, 0, 0])
            for i, amount in enumerate((req.vcpus, req.memory_mb, req.disk_gb, req.gpus)):
                use[i] += amount
        replicas.append(
            ReplicaInfo(
                external_id=ext,
                name=req.name,
                workload=None,
                host=host,
                extra={"simulated": True, "idempotency_key": req.idempotency_key},
            )
        )
    hosts = [
        replace(
            h,
            vcpus_used=h.vcpus_used + extra_use[h.external_id][0],
            memory_mb_used=h.memory_mb_used + extra_use[h.external_id][1],
            disk_gb_used=h.disk_gb_used + extra_use[h.external_id][2],
            gpus_used=h.gpus_used + extra_use[h.external_id][3],
        )
        if h.external_id in extra_use
        else h
        for h in snapshot.hosts
    ]
    return Snapshot(snapshot.zones, hosts, snapshot.workloads, replicas, extra=snapshot.extra)
