"""Two or more `yunheng serve` replicas on one throwaway PostgreSQL, for the HA tests."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from alerts.leader import LeaseState, current
from alerts.loop import LEASE_NAME
from inventory.db import make_engine
from tests.browser import start_serve
from tests.factories import fresh_database
from tests.prom_peer import INTERVAL, wait_until

ADAPTER_TIMEOUT = 3.0  # so an orphaned plan is resumed after 2 x 3 + 5 s (scheduler.resume)


@dataclass
class Cluster:
    url: str
    engine: Engine
    env: dict[str, str]
    folder: Path
    nodes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def start(self, name: str) -> str:
        self.nodes[name], self.urls[name] = start_serve(self.env, self.folder / f"{name}.log")
        return self.urls[name]

    def by_holder(self, lease: LeaseState) -> str:
        pid = int(lease.holder.split(":")[1])  # alerts.leader.new_holder_id: host:pid:random
        return next(name for name, proc in self.nodes.items() if proc.pid == pid)

    def lease(self) -> LeaseState:
        state = current(self.engine, LEASE_NAME)
        assert state is not None
        return state

    def leads_for(self, intervals: float) -> None:
        """Wait until the present holder has led `intervals` more (renewals move expiry)."""
        seen = self.lease()
        wait_until(
            lambda: (
                (now := self.lease()).holder == seen.holder
                and now.expires_at >= seen.expires_at + timedelta(seconds=intervals * INTERVAL)
            ),
            30,
            f"{intervals} intervals of {seen.holder}",
        )


def running_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A fresh database and the environment replicas share; replicas start on demand and
    are killed at the end."""
    with fresh_database(request, "postgresql", tmp_path) as url:
        engine = make_engine(url)
        env = {
            "YUNHENG_DATABASE_URL": url,
            "YUNHENG_DATA_DIR": str(tmp_path / "data"),
            "YUNHENG_SECRET_KEY": Fernet.generate_key().decode(),
            "YUNHENG_ALERT_INTERVAL_SECONDS": str(INTERVAL),
            "YUNHENG_ADAPTER_TIMEOUT_SECONDS": str(ADAPTER_TIMEOUT),
            "YUNHENG_LOG_LEVEL": "INFO",  # the logs tell a failure's story
        }
        built = Cluster(url, engine, env, tmp_path)
        try:
            yield built
        finally:
            for proc in built.nodes.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            engine.dispose()


def call(url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    """GET (or POST `body` as JSON) our own URL: the status and the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urlopen(Request(url, data, headers), timeout=5) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read() or b"null")
    except HTTPError as error:
        return error.code, error.read().decode(errors="replace")
