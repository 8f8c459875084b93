"""moto's EC2 server as a real peer for the libcloud adapter (tests and bench/libcloud_sync.py).

`make test` installs moto into its own venv, `.venv-moto` (its python-dateutil pin conflicts
with the kubernetes client in `.venv`); here we only start `moto_server` on 127.0.0.1 and
wait for it. moto differs from AWS in two ways libcloud notices, and both are bridged here,
in the test peer, never in the production adapter:

- it tells the services apart by the credential scope of a SigV4 `Authorization` header; a
  SigV2 request (libcloud's default for us-east-1, signed in the query) is answered as S3's
  ListBuckets. So the driver gets `signature_version="4"`;
- its answers carry `xmlns="http://ec2.amazonaws.com/doc/2016-11-15"` without the trailing
  slash AWS sends and libcloud looks for (so every list came back empty). Its errors differ
  too: a namespace on `<Response>` (so libcloud found no error in them and said only
  "HTTP 400") and a `<Type>` beside Code and Message (on which libcloud's EC2 error parser
  raised ValueError). `moto_answers_like_aws()` rewrites both into AWS's shape before
  libcloud parses them.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MOTO_SERVER = Path(os.environ.get("YUNHENG_MOTO_SERVER", ROOT / ".venv-moto/bin/moto_server"))
REGION = "us-east-1"
ZONES = [f"{REGION}{z}" for z in "abcdef"]  # what moto reports for us-east-1
IMAGE = "ami-1e749f67"  # an Ubuntu image in moto's default set
# moto without IAM checks accepts any key; these are made up.
CREDENTIALS: dict[str, Any] = {"key": "AKIAYUNHENGTEST00001", "secret": "moto-test-secret-xyz"}
QUOTA: dict[str, int] = {"vcpus": 64, "memory_mb": 262144, "disk_gb": 4000, "instances": 20}


class MotoUnavailable(RuntimeError):
    pass


@dataclass
class MotoServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        """Forget every instance, tag and key: each test starts from moto's defaults."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.request("POST", "/moto-api/reset")
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise MotoUnavailable(f"moto reset answered HTTP {answer.status}")
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_server(
    workdir: Path, *, env: dict[str, str] | None = None, wait_seconds: float = 60.0
) -> Iterator[MotoServer]:
    """Start `moto_server -H 127.0.0.1 -p <free port>`; stop it on exit."""
    if not MOTO_SERVER.exists():
        raise MotoUnavailable(f"{MOTO_SERVER} is missing: run `make .venv-moto/.installed`")
    port = free_port()
    log = workdir / f"moto-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # our signals reach moto only, not the test run
        )
    server = MotoServer("127.0.0.1", port, process, log)
    try:
        _wait_until_ready(server, wait_seconds)
        yield server
    finally:
        server.stop()


def _wait_until_ready(server: MotoServer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise MotoUnavailable(f"moto_server exited with {server.process.returncode}: {tail}")
        try:
            server.reset()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
    raise MotoUnavailable(f"moto_server did not answer on {server.url} within {seconds:g} s")


def _like_aws(body: Any) -> Any:
    """A successful answer: AWS's namespace, with its trailing slash."""
    from libcloud.compute.drivers import ec2

    if not isinstance(body, str):
        return body
    bare = ec2.NAMESPACE.rstrip("/")
    return body.replace(f'xmlns="{bare}"', f'xmlns="{ec2.NAMESPACE}"')


def _error_like_aws(body: Any) -> Any:
    """An error: AWS sends `<Response><Errors><Error>` with no namespace and only a Code and
    a Message in each Error."""
    if not isinstance(body, str):
        return body
    body = re.sub(r'<Response xmlns="[^"]*">', "<Response>", body)
    return re.sub(r"<Type>[^<]*</Type>", "", body)


@contextmanager
def moto_answers_like_aws() -> Iterator[None]:
    """Rewrite moto's EC2 answers into AWS's shape before libcloud parses them."""
    from libcloud.compute.drivers.ec2 import EC2Response

    originals: dict[str, Callable[..., Any]] = {
        "parse_body": EC2Response.parse_body,
        "parse_error": EC2Response.parse_error,
    }
    fixes = {"parse_body": _like_aws, "parse_error": _error_like_aws}

    def wrap(original: Callable[..., Any], fix: Callable[[Any], Any]) -> Callable[..., Any]:
        def parse(self: Any) -> Any:
            self.body = fix(self.body)
            return original(self)

        return parse

    for name, original in originals.items():
        setattr(EC2Response, name, wrap(original, fixes[name]))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(EC2Response, name, original)


def ec2_settings(server: MotoServer, **overrides: Any) -> dict[str, Any]:
    """Settings of a libcloud EC2 cloud pointed at this moto server."""
    settings: dict[str, Any] = {
        "driver": "ec2",
        "region": REGION,
        "driver_options": {
            "host": server.host,
            "port": server.port,
            "secure": False,
            "signature_version": "4",  # moto routes by the SigV4 scope
        },
        "image": IMAGE,
        "quota": dict(QUOTA),
        "sizes": ["t3.*", "m5.*"],
        "timeout_seconds": 10,
        "retries": 1,
        "backoff_seconds": 0.05,
    }
    settings.update(overrides)
    return settings


def ec2_driver(server: MotoServer) -> Any:
    """A plain libcloud EC2 driver on the server, to make or inspect nodes behind the
    adapter's back, as another tool in the same account would."""
    from libcloud.compute.providers import get_driver

    return get_driver("ec2")(
        CREDENTIALS["key"],
        CREDENTIALS["secret"],
        region=REGION,
        host=server.host,
        port=server.port,
        secure=False,
        signature_version="4",
    )
