"""Kubernetes adapter benchmark: syncing a replayed 2,000-node / 20,000-pod cluster, and
provision latency.

The replay API server (tests/k8s_replay) runs in a process of its own, as a real API server
would, so its JSON encoding does not compete with the adapter for one interpreter lock. The
adapter lists in pages of 500 (limit/continue) through the real `kubernetes` client. Phases:

1. discover, cold - the first call in the process (the client builds its validators lazily);
2. discover, warm - the same again, then its two halves apart: listing (HTTP and JSON
   decoding) and building the snapshot from the lists;
3. sync, first    - discover + reconcile into an empty SQLite inventory + commit;
4. sync, no change - the same snapshot again (reconcile writes nothing).

Then `--provisions` replicas are provisioned onto distinct planned nodes, provisioned again
with the same keys (the idempotent retry), and deprovisioned; each call is timed.

    .venv/bin/python -m bench.kubernetes_sync [--nodes 2000] [--pods 20000] [--markdown]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from adapters import service as clouds
from adapters.base import ProvisionRequest
from adapters.kubernetes import KubernetesAdapter
from adapters.registry import build_adapter
from bench.table import render
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.db import make_engine, session_scope
from inventory.migrate import upgrade
from inventory.models import CloudCreate, Department
from inventory.settings import Settings

SYSTEM = Viewer.system("bench")


def _serve(nodes: int, pods: int, conn: Connection) -> None:
    """Child process: build the cluster, serve it, report the URL, wait to be told to stop."""
    from tests.k8s_replay.estates import large_cluster
    from tests.k8s_replay.server import serve

    started = time.perf_counter()
    cluster = large_cluster(nodes, pods)
    with serve(cluster) as server:
        conn.send((server.url, time.perf_counter() - started))
        conn.recv()


@contextmanager
def replay_process(nodes: int, pods: int) -> Iterator[str]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(nodes, pods, child), daemon=True
    )
    process.start()
    try:
        url, built = parent.recv()
        print(f"  replay server: {url}, cluster built in {built:.1f} s", file=sys.stderr)
        yield str(url)
    finally:
        parent.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def sync_rows(url: str, token: str, folder: Path) -> list[list[str]]:
    from tests.k8s_replay.server import kubeconfig_text

    kubeconfig = kubeconfig_text(url, token)
    adapter = build_adapter("kubernetes", {}, {"kubeconfig": kubeconfig})
    assert isinstance(adapter, KubernetesAdapter)
    rows: list[list[str]] = []
    for phase in ("discover, cold", "discover, warm"):
        seconds, snapshot = timed(adapter.discover)
        rows.append(_row(phase, seconds, snapshot))
    seconds, listed = timed(adapter.fetch)
    rows.append(_row("  of which: list (HTTP + JSON)", seconds, None))
    seconds, snapshot = timed(partial(adapter.snapshot, listed))
    rows.append(_row("  of which: build snapshot", seconds, snapshot))

    database = f"sqlite:///{folder}/bench.db"
    upgrade(database)
    engine = make_engine(database)
    settings = Settings(
        database_url=database, data_dir=folder, secret_key=Fernet.generate_key().decode()
    )
    box = SecretBox.from_settings(settings)
    with session_scope(engine) as session:
        for i in range(8):
            session.add(Department(code=f"dept-{i}", name=f"Department {i}"))
        cloud = clouds.register_cloud(
            session,
            SYSTEM,
            CloudCreate(
                name="k8s-bench",
                kind="kubernetes",
                vendor="Replay",
                region="prov-dc3",
                security_level=3,
                settings={},
                credentials={"kubeconfig": kubeconfig},
            ),
            box,
        )
        cloud_id = cloud.id or 0
    for phase in ("sync, first (all new)", "sync, no change"):
        with session_scope(engine) as session:
            seconds, outcome = timed(
                partial(clouds.sync, session, SYSTEM, cloud_id, box, timeout=600)
            )
        if not outcome.ok:
            raise SystemExit(f"{phase} failed: {outcome.error}")
        changed = "yes" if outcome.report and outcome.report.changed else "no"
        rows.append([phase, f"{seconds:.2f}", "", "", "", changed])
    engine.dispose()
    return rows


def _row(phase: str, seconds: float, snapshot: Any) -> list[str]:
    if snapshot is None:
        return [phase, f"{seconds:.2f}", "", "", "", ""]
    return [
        phase,
        f"{seconds:.2f}",
        f"{len(snapshot.hosts):,}",
        f"{len(snapshot.workloads):,}",
        f"{len(snapshot.replicas):,}",
        "",
    ]


def provision_rows(url: str, token: str, count: int) -> list[list[str]]:
    from tests.k8s_replay.server import kubeconfig_text

    adapter = build_adapter("kubernetes", {}, {"kubeconfig": kubeconfig_text(url, token)})
    assert isinstance(adapter, KubernetesAdapter)
    adapter.discover()  # warm the client, as a running Yunheng would be
    asks = [
        ProvisionRequest(
            idempotency_key=f"yh-bench-{i}",
            name=f"bench-svc-{i}",
            department="dept-0",
            host=f"node-{i:05d}",
            vcpus=2,
            memory_mb=4096,
            disk_gb=0,
        )
        for i in range(count)
    ]
    latencies: dict[str, list[float]] = {"provision (create)": [], "provision (retry)": []}
    latencies["deprovision"] = []
    for ask in asks:
        seconds, made = timed(partial(adapter.provision, ask))
        assert made.created
        latencies["provision (create)"].append(seconds)
    for ask in asks:
        seconds, again = timed(partial(adapter.provision, ask))
        assert not again.created
        latencies["provision (retry)"].append(seconds)
    for ask in asks:
        seconds, gone = timed(partial(adapter.deprovision, f"dept-0/{ask.idempotency_key}"))
        assert gone
        latencies["deprovision"].append(seconds)
    calls = {"provision (create)": "4", "provision (retry)": "2", "deprovision": "2"}
    rows = []
    for name, values in latencies.items():
        ms = sorted(v * 1000 for v in values)
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        rows.append(
            [
                name,
                str(len(ms)),
                f"{statistics.median(ms):.1f}",
                f"{p95:.1f}",
                f"{ms[-1]:.1f}",
                calls[name],
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--pods", type=int, default=20_000)
    parser.add_argument("--provisions", type=int, default=20)
    parser.add_argument("--markdown", action="store_true", help="tables for bench/RESULTS.md")
    args = parser.parse_args(argv)
    token = "admin-token"  # noqa: S105 - the replay server's test token
    with replay_process(args.nodes, args.pods) as url, tempfile.TemporaryDirectory() as tmp:
        print("  syncing ...", file=sys.stderr, flush=True)
        sync = sync_rows(url, token, Path(tmp))
        print("  provisioning ...", file=sys.stderr, flush=True)
        provision = provision_rows(url, token, args.provisions)
    title = f"Kubernetes replay: {args.nodes:,} nodes, {args.pods:,} pods (pages of 500)"
    print(f"\n{title}\n")
    headers = ["phase", "seconds", "hosts", "workloads", "replicas", "changed"]
    print(render(headers, sync, right={1, 2, 3, 4}, markdown=args.markdown))
    print(f"\nProvision latency ({args.provisions} replicas onto distinct planned nodes)\n")
    headers = ["operation", "calls", "median ms", "p95 ms", "max ms", "API requests"]
    print(render(headers, provision, right={1, 2, 3, 4, 5}, markdown=args.markdown))


if __name__ == "__main__":
    main()
