"""A simulated cloud with `state_dir` is one cloud for every process: what one process made,
another lists and removes, and processes provisioning at once lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from adapters.base import ProvisionRequest
from adapters.registry import build_adapter

MAKE = """
import json, sys
from adapters.base import ProvisionRequest
from adapters.registry import build_adapter
settings, keys = json.loads(sys.argv[1]), sys.argv[2:]
adapter = build_adapter("simulator", settings)
host = adapter.discover().hosts[0].external_id
for key in keys:
    made = adapter.provision(ProvisionRequest(key, key, None, host, 1, 512, 1))
    print(made.external_id, made.created)
"""


def settings(folder: Path) -> dict[str, object]:
    return {"seed": 5, "region": "r", "hosts_per_zone": 2, "workloads": 0, "state_dir": str(folder)}


def make_elsewhere(folder: Path, *keys: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", MAKE, json.dumps(settings(folder)), *keys],
        stdout=subprocess.PIPE,
        text=True,
    )


def made_ids(folder: Path) -> set[str]:
    replicas = build_adapter("simulator", settings(folder)).discover().replicas
    return {r.external_id for r in replicas if r.external_id.startswith("sim-made-")}


def test_what_another_process_made_is_listed_found_again_and_removed(tmp_path: Path) -> None:
    out, _ = make_elsewhere(tmp_path, "k1").communicate(timeout=60)
    assert out.split() == ["sim-made-k1", "True"]
    assert made_ids(tmp_path) == {"sim-made-k1"}
    # Another process asking again with the same key finds it: the key is the contract.
    again, _ = make_elsewhere(tmp_path, "k1").communicate(timeout=60)
    assert again.split() == ["sim-made-k1", "False"]
    adapter = build_adapter("simulator", settings(tmp_path))
    assert adapter.deprovision("sim-made-k1") is True
    assert made_ids(tmp_path) == set()
    # In memory only (no state_dir), a process sees only what it made itself.
    memory = {k: v for k, v in settings(tmp_path).items() if k != "state_dir"}
    host = build_adapter("simulator", memory).discover().hosts[0].external_id
    build_adapter("simulator", memory).provision(ProvisionRequest("m1", "m1", None, host, 1, 1, 1))
    assert made_ids(tmp_path) == set()


def test_processes_provisioning_at_once_lose_nothing(tmp_path: Path) -> None:
    runs = [make_elsewhere(tmp_path, *(f"p{n}-{i}" for i in range(150))) for n in range(3)]
    for run in runs:
        run.communicate(timeout=120)
        assert run.returncode == 0
    assert made_ids(tmp_path) == {f"sim-made-p{n}-{i}" for n in range(3) for i in range(150)}
