"""Real peers for the alerting loop's tests: Prometheus 2.42 and Alertmanager 0.25 from
Debian's packages (`make test` installs them as root), a metrics target the test controls
and a webhook receiver that records what it gets.

Everything listens on a free 127.0.0.1 port with a config written by the test, so tests
never collide with each other or with a system Prometheus on 9090. Both binaries are
ready in about 0.1 s here, so each test starts its own.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import yaml

PROMETHEUS = "prometheus"
ALERTMANAGER = "prometheus-alertmanager"  # Debian's name for the alertmanager binary
READY_TIMEOUT = 20.0


class PeerUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PeerUnavailable(f"{name} not found (Debian's prometheus / prometheus-alertmanager)")
    return found


def require_peers() -> None:
    """Skip (fail under CI=true) when Debian's binaries are not installed."""
    from tests.conftest import skip_or_fail

    for name in (PROMETHEUS, ALERTMANAGER):
        try:
            binary(name)
        except PeerUnavailable as exc:
            skip_or_fail(str(exc))


def wait_until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
    """Poll until `check()` holds; a test waits for an outcome, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def _answers(url: str) -> bool:
    try:
        with urlopen(url, timeout=1) as response:  # noqa: S310 - our own 127.0.0.1 peer
            return bool(response.status == 200)
    except (URLError, OSError):
        return False


# --- A metrics target the test controls ------------------------------------------------------


class MetricsTarget:
    """Serves /metrics in Prometheus's text format with whatever gauges the test sets."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = target.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[(name, tuple(sorted(labels.items())))] = value

    def exposition(self) -> str:
        with self._lock:
            items = sorted(self._values.items())
        lines = []
        for (name, labels), value in items:
            inner = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{inner}}} {value!r}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> MetricsTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- A webhook receiver ----------------------------------------------------------------------


@dataclass
class Received:
    at: float  # time.monotonic() when it arrived
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WebhookReceiver:
    """Records every POST (JSON body) with its arrival time; answers `status`."""

    status: int = 200
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_raw": raw.decode(errors="replace")}
                with receiver._cond:
                    receiver.received.append(
                        Received(time.monotonic(), self.path, dict(self.headers), body)
                    )
                    receiver._cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on(self, path: str) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.path == path]

    def wait_for(
        self, check: Callable[[list[Received]], bool], timeout: float, what: str
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check(list(self.received)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
                self._cond.wait(left)
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- Prometheus and Alertmanager -------------------------------------------------------------


@dataclass
class Peer:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _start(name: str, args: list[str], url: str, workdir: Path) -> Peer:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    peer = Peer(name, url, process, log)
    deadline = time.monotonic() + READY_TIMEOUT
    while not _answers(f"{url}/-/ready"):
        if process.poll() is not None or time.monotonic() > deadline:
            peer.stop()
            raise PeerUnavailable(f"{name} did not start: {peer.tail()}")
        time.sleep(0.02)
    return peer


@contextmanager
def prometheus(
    workdir: Path,
    *,
    targets: list[str],
    rule_files: list[Path] | None = None,
    alertmanager: str | None = None,
    interval: str = "1s",
    port: int | None = None,
) -> Iterator[Peer]:
    """Prometheus scraping `targets` and evaluating `rule_files` every `interval` (on
    `port`, to come back where a stopped one was)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [{"job_name": "target", "static_configs": [{"targets": targets}]}],
        "rule_files": [str(p) for p in rule_files or []],
    }
    if alertmanager:
        host = alertmanager.split("://", 1)[-1]
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    args = [
        binary(PROMETHEUS),
        f"--config.file={path}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]
    peer = _start("prometheus", args, f"http://127.0.0.1:{port}", workdir)
    try:
        yield peer
    finally:
        peer.stop()


@contextmanager
def alertmanager(
    workdir: Path,
    *,
    webhook_url: str,
    group_wait: str = "1s",
    group_interval: str = "1s",
    bearer_token: str | None = None,
    group_by: list[str] | None = None,
) -> Iterator[Peer]:
    """Alertmanager routing everything, grouped by `group_by` (alertname), to one webhook."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    hook: dict[str, Any] = {"url": webhook_url, "send_resolved": True}
    if bearer_token:
        hook["http_config"] = {"authorization": {"type": "Bearer", "credentials": bearer_token}}
    config = {
        "route": {
            "receiver": "hook",
            "group_by": group_by or ["alertname"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "hook", "webhook_configs": [hook]}],
    }
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    args = [
        binary(ALERTMANAGER),
        f"--config.file={path}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port (it would bind 9094 on all addresses)
    ]
    peer = _start("alertmanager", args, f"http://127.0.0.1:{port}", workdir)
    try:
        yield peer
    finally:
        peer.stop()


def write_rules(path: Path, groups: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


# --- Yunheng's side --------------------------------------------------------------------------


def webhook_route(
    session: Any,
    url: str,
    *,
    group_wait: int = 0,
    group_interval: int = 1,
    name: str = "test-webhook",
) -> int:
    """A generic JSON webhook channel and a catch-all route to it; returns the channel id."""
    from inventory.models import AlertRoute, ChannelKind, NotificationChannel

    channel = NotificationChannel(name=name, kind=ChannelKind.webhook, settings={"url": url})
    session.add(channel)
    session.flush()
    session.add(
        AlertRoute(
            name=f"{name}-route",
            position=0,
            group_by=["alertname"],
            group_wait_seconds=group_wait,
            group_interval_seconds=group_interval,
            repeat_interval_seconds=3600,
            channel_ids=[channel.id or 0],
        )
    )
    session.commit()
    return int(channel.id or 0)


def statuses(received: list[Received]) -> list[str]:
    """What each notification said: firing or resolved (Yunheng's and Alertmanager's)."""
    return [str(r.body.get("status")) for r in received]


INTERVAL = 1.0  # the tests' scrape, evaluation and loop interval
LOAD_RULE: dict[str, Any] = {
    "alert": "HighLoad",
    "expr": "yh_load > 0.8",
    "for": "2s",
    "labels": {"severity": "warning"},
    "annotations": {"summary": "load {{ $value }} on {{ $labels.node }}"},
}


def load_rules(folder: Path, rule: dict[str, Any] | None = None) -> Path:
    """A rule file with one group, `load`, of LOAD_RULE (or `rule`)."""
    return write_rules(folder / "rules.yml", [{"name": "load", "rules": [rule or LOAD_RULE]}])


def alert_named(engine: Any, name: str) -> Any:
    """The Alert row of that alertname, or None."""
    import sqlalchemy as sa
    from sqlmodel import Session, col

    from inventory.models import Alert

    with Session(engine) as session:
        return session.execute(sa.select(Alert).where(col(Alert.name) == name)).scalar()
