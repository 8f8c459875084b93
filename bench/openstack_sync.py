"""OpenStack adapter figures against the real test bed (deploy/testbed/openstack).

Measures, on a fresh SQLite inventory:
- discover: the adapter alone (Keystone token, Nova lists, Placement per resource provider);
- sync: discover + reconcile + commit through adapters.service.sync, first (all inserts)
  and then with nothing changed;
- provision: one server per call on a planned host, to ACTIVE; the same call again (the
  idempotency key finds the server); deprovision to gone.

    sudo make testbed-openstack                     # or NCOMPUTE=6 deploy/testbed/openstack/up.sh
    .venv/bin/python -m bench.openstack_sync [--repeats 5] [--servers 4] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from sqlmodel import Session

from adapters import service as clouds
from adapters.base import ProvisionRequest
from adapters.openstack import OpenStackAdapter
from adapters.registry import build_adapter
from bench.table import render
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.migrate import upgrade
from inventory.models import CloudCreate, HostState

T = TypeVar("T")
SYSTEM = Viewer.system("bench")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def row(what: str, seconds: Sequence[float]) -> list[str]:
    return [
        what,
        str(len(seconds)),
        f"{statistics.median(seconds):.2f}",
        f"{min(seconds):.2f}",
        f"{max(seconds):.2f}",
    ]


def measure(args: argparse.Namespace) -> tuple[int, list[list[str]]]:
    settings: dict[str, Any] = {
        "cloud": args.cloud,
        "clouds_yaml": args.clouds_yaml,
        "image": args.image,
        "provision_timeout_seconds": 300,
    }
    adapter = build_adapter("openstack", settings)
    assert isinstance(adapter, OpenStackAdapter)
    rows: list[list[str]] = []

    discovers = [timed(adapter.discover) for _ in range(args.repeats)]
    hosts = [h for h in discovers[-1][1].hosts if h.state == HostState.up]
    rows.append(row("discover (adapter only)", [s for s, _ in discovers]))

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        box = SecretBox(Fernet.generate_key())
        with Session(engine, expire_on_commit=False) as session:
            cloud = clouds.register_cloud(
                session,
                SYSTEM,
                CloudCreate(
                    name="osbed",
                    kind="openstack",
                    vendor="OpenStack test bed",
                    region="RegionOne",
                    security_level=3,
                    settings=settings,
                ),
                box,
            )
            session.commit()

            def sync() -> None:
                outcome = clouds.sync(session, SYSTEM, cloud.id or 0, box)
                session.commit()
                if not outcome.ok:
                    raise SystemExit(f"sync failed: {outcome.error}")

            first, _ = timed(sync)
            rows.append(row("sync, first (inserts)", [first]))
            again = [timed(sync)[0] for _ in range(args.repeats)]
            rows.append(row("sync, no change", again))
        engine.dispose()

    run = uuid.uuid4().hex[:8]
    asks = [
        ProvisionRequest(
            idempotency_key=f"yh-bench-{run}-{i}",
            name=f"bench-{run}-{i}",
            department=None,
            host=hosts[i % len(hosts)].external_id,
            vcpus=1,
            memory_mb=512,
            disk_gb=1,
        )
        for i in range(args.servers)
    ]
    made = []
    try:
        created = [timed(partial(adapter.provision, ask)) for ask in asks]
        made = [result for _, result in created]
        misplaced = [m for m, a in zip(made, asks, strict=True) if m.host != a.host]
        if misplaced:
            raise SystemExit(f"servers not on their planned hosts: {misplaced}")
        rows.append(row("provision to ACTIVE, per server", [s for s, _ in created]))
        found = [timed(partial(adapter.provision, ask))[0] for ask in asks]
        rows.append(row("provision again (found by key)", found))
    finally:
        gone = [timed(partial(adapter.deprovision, m.external_id))[0] for m in made]
    if gone:
        rows.append(row("deprovision to gone, per server", gone))
    adapter.close()
    return len(hosts), rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clouds-yaml", default="/tmp/osbed/clouds.yaml")  # noqa: S108
    parser.add_argument("--cloud", default="osbed")
    parser.add_argument("--image", default="fake-image")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    hosts, rows = measure(args)
    print(f"OpenStack test bed: {hosts} compute hosts up (cloud {args.cloud!r})")
    headers = ["operation", "n", "median s", "min s", "max s"]
    print(render(headers, rows, right={1, 2, 3, 4}, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
