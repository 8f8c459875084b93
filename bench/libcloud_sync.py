"""libcloud adapter figures against moto's EC2 server: provision latency and sync time.

moto (from `.venv-moto`, see the Makefile) runs on 127.0.0.1; libcloud's EC2 driver talks
to it over HTTP, so the figures include libcloud's request signing and XML parsing and
moto's own handling, not AWS's. What is measured:

1. provision  - a fresh adapter per call, as the workflow builds one per allocation: list
                locations, look the key up in the nodes, list sizes, create the node;
   retry      - the same keys again: found by their tag, nothing created;
   deprovision- list nodes, destroy one.
2. sync       - N nodes made behind Yunheng's back (spread over 3 zones), then
                `adapters.service.sync` into a fresh SQLite file: discover alone, the first
                sync (all inserts) and a re-sync that changes nothing.

    .venv/bin/python -m bench.libcloud_sync [--nodes 0,100,500] [--provisions 20] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from libcloud.compute.base import NodeImage

from adapters import service
from adapters.base import ProvisionRequest
from adapters.libcloud import POOL_PREFIX
from adapters.registry import build_adapter
from bench.table import render
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.db import make_engine, session_scope
from inventory.migrate import upgrade
from inventory.models import CloudCreate
from tests.moto_peer import (
    CREDENTIALS,
    IMAGE,
    ZONES,
    MotoServer,
    MotoUnavailable,
    ec2_driver,
    ec2_settings,
    moto_answers_like_aws,
    moto_server,
)

SYSTEM = Viewer.system("bench")


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _stats(name: str, seconds: list[float]) -> list[str]:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return [name, str(len(ms)), f"{statistics.median(ms):.0f}", f"{p95:.0f}", f"{ms[-1]:.0f}"]


def provision_latency(server: MotoServer, count: int) -> list[list[str]]:
    server.reset()
    settings = ec2_settings(server)
    build_adapter("libcloud", settings, CREDENTIALS).discover()  # moto loads EC2 lazily
    asks = [
        ProvisionRequest(
            idempotency_key=f"yh-bench-{i}",
            name=f"bench-{i}",
            department=None,
            host=POOL_PREFIX + ZONES[i % 3],
            vcpus=2,
            memory_mb=3000,
            disk_gb=20,
        )
        for i in range(count)
    ]
    made: list[str] = []
    created, retried, removed = [], [], []
    for request in asks:
        adapter = build_adapter("libcloud", settings, CREDENTIALS)
        start = time.perf_counter()
        result = adapter.provision(request)
        created.append(time.perf_counter() - start)
        assert result.created
        made.append(result.external_id)
    for request in asks:
        adapter = build_adapter("libcloud", settings, CREDENTIALS)
        start = time.perf_counter()
        assert not adapter.provision(request).created
        retried.append(time.perf_counter() - start)
    for external_id in made:
        adapter = build_adapter("libcloud", settings, CREDENTIALS)
        start = time.perf_counter()
        assert adapter.deprovision(external_id)
        removed.append(time.perf_counter() - start)
    return [
        _stats("provision (create)", created),
        _stats("provision (retry, found)", retried),
        _stats("deprovision", removed),
    ]


def _outside_nodes(server: MotoServer, count: int) -> None:
    driver = ec2_driver(server)
    locations = {loc.name: loc for loc in driver.list_locations()}
    size = next(s for s in driver.list_sizes() if s.id == "t3.medium")
    image = NodeImage(id=IMAGE, name="ubuntu", driver=driver)
    for z, zone in enumerate(ZONES[:3]):
        share = count // 3 + (1 if z < count % 3 else 0)
        if share:
            driver.create_node(
                name=f"legacy-{zone}",
                size=size,
                image=image,
                location=locations[zone],
                ex_mincount=share,
                ex_maxcount=share,
            )


def sync_time(server: MotoServer, nodes: int, workdir: Path) -> list[str]:
    server.reset()
    _outside_nodes(server, nodes)
    settings = ec2_settings(server, timeout_seconds=120)
    discover = _timed(build_adapter("libcloud", settings, CREDENTIALS).discover)
    url = f"sqlite:///{workdir}/libcloud-{nodes}.db"
    upgrade(url)
    engine = make_engine(url)
    box = SecretBox(Fernet.generate_key())
    with session_scope(engine) as session:
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
        cloud_id = cloud.id or 0
    times: list[float] = []
    reports = []
    for _ in range(2):  # the first sync inserts, the second must change nothing
        with session_scope(engine) as session:
            start = time.perf_counter()
            outcome = service.sync(session, SYSTEM, cloud_id, box, timeout=300)
            session.commit()
            times.append(time.perf_counter() - start)
        assert outcome.ok and outcome.report is not None, outcome.error
        reports.append(outcome.report)
    assert reports[0].kinds["replicas"].added == nodes, reports[0].summary()
    assert not reports[1].changed, reports[1].summary()
    engine.dispose()
    return [
        str(nodes),
        f"{discover:.2f}",
        f"{times[0]:.2f}",
        f"{times[1]:.2f}",
        str(len(ZONES)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", default="0,100,500", help="node counts for the sync rows")
    parser.add_argument("--provisions", type=int, default=20, help="provisions to time")
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.nodes.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="yunheng-bench-") as tmp:
        try:
            with moto_server(Path(tmp)) as server, moto_answers_like_aws():
                latency = provision_latency(server, args.provisions)
                syncs = [sync_time(server, n, Path(tmp)) for n in counts]
        except MotoUnavailable as exc:
            print(f"cannot run: {exc}", file=sys.stderr)
            return 2
    print("libcloud EC2 driver against moto_server on 127.0.0.1 (one adapter per call)\n")
    print(
        render(
            ["operation", "n", "p50 ms", "p95 ms", "max ms"], latency, {1, 2, 3, 4}, args.markdown
        )
    )
    print("\nsync into SQLite (adapters.service.sync: discover + reconcile + commit)\n")
    headers = ["nodes", "discover s", "first sync s", "re-sync s", "pools"]
    print(render(headers, syncs, {0, 1, 2, 3, 4}, args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
