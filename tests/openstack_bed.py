"""The real OpenStack test bed (deploy/testbed/openstack): find it up, or bring it up as root.

`make test` starts the bed before pytest; a session fixture only checks that it answers, and
starts it itself when it does not and we are root. The checks here talk to the bed with
keystoneauth directly, not through the adapter, so the tests compare the adapter with the
cloud's own answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3
from sqlmodel import Session, col

from adapters import service as clouds
from adapters.base import ProvisionRequest
from inventory.crypto import SecretBox
from inventory.models import Cloud, CloudCreate, CloudStatus, Host, HostState
from tests import factories

ROOT = Path(__file__).resolve().parents[1]
BED_SCRIPTS = ROOT / "deploy" / "testbed" / "openstack"
BED_DIR = Path(os.environ.get("OSBED_DIR", "/tmp/osbed"))  # noqa: S108 (up.sh's default)
PASSWORD = "secret"  # the bed's own admin password, set by up.sh
KEYSTONE = "http://127.0.0.1:5000/v3"
BRING_UP_SECONDS = 1200  # a fresh machine installs the Debian packages first
HOSTS = ("fake-compute-1", "fake-compute-2", "fake-compute-3")
KEY_PREFIX = "yh-ostest-"  # idempotency keys of this suite's servers


class BedUnavailable(Exception):
    pass


@dataclass
class Bed:
    directory: Path
    session: ksa_session.Session = field(repr=False)

    @property
    def clouds_yaml(self) -> str:
        return str(self.directory / "clouds.yaml")

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Adapter settings through the bed's clouds.yaml entry, with quick retries."""
        return {
            "cloud": "osbed",
            "clouds_yaml": self.clouds_yaml,
            "image": "fake-image",
            "retries": 1,
            "retry_backoff_seconds": 0.2,
            "provision_timeout_seconds": 120,
            **overrides,
        }

    @staticmethod
    def explicit_settings(**overrides: Any) -> dict[str, Any]:
        """Adapter settings with explicit auth (no clouds.yaml); the password is a credential."""
        return {
            "auth_url": KEYSTONE,
            "username": "admin",
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "region_name": "RegionOne",
            "image": "fake-image",
            "retries": 1,
            "retry_backoff_seconds": 0.2,
            **overrides,
        }

    def get(self, service: str, path: str, microversion: str | None = None) -> Any:
        response = self.session.get(
            path,
            endpoint_filter={"service_type": service, "interface": "public"},
            microversion=microversion,
            microversion_service_type=service if microversion else None,
        )
        return response.json()

    def providers(self) -> dict[str, dict[str, Any]]:
        """Compute node name -> its Placement inventories and usages, as Placement says."""
        found: dict[str, dict[str, Any]] = {}
        for rp in self.get("placement", "/resource_providers")["resource_providers"]:
            uuid = rp["uuid"]
            found[rp["name"]] = {
                "inventories": self.get("placement", f"/resource_providers/{uuid}/inventories")[
                    "inventories"
                ],
                "usages": self.get("placement", f"/resource_providers/{uuid}/usages")["usages"],
            }
        return found

    def server(self, server_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.get("compute", f"/servers/{server_id}", "2.74")["server"]
        return body

    def servers_tagged(self, tag: str) -> list[dict[str, Any]]:
        body = self.get("compute", f"/servers/detail?tags={tag}", "2.74")
        servers: list[dict[str, Any]] = body["servers"]
        return servers

    def yunheng_servers(self, key_prefix: str = "") -> list[dict[str, Any]]:
        body = self.get("compute", "/servers/detail?all_tenants=1", "2.74")
        return [
            s
            for s in body["servers"]
            if s["metadata"].get("yunheng_idempotency_key", "\0").startswith(key_prefix)
        ]

    def image_id(self, name: str = "fake-image") -> str:
        images = self.get("image", f"/v2/images?name={name}")["images"]
        return str(images[0]["id"])

    def flavor_id(self, name: str) -> str:
        flavors = self.get("compute", "/flavors")["flavors"]
        return str(next(f["id"] for f in flavors if f["name"] == name))

    def boot_foreign_server(self, name: str) -> str:
        """A server as any tenant would boot it: no Yunheng metadata."""
        response = self.session.post(
            "/servers",
            endpoint_filter={"service_type": "compute", "interface": "public"},
            microversion="2.74",
            microversion_service_type="compute",
            json={
                "server": {
                    "name": name,
                    "imageRef": self.image_id(),
                    "flavorRef": self.flavor_id("m1.tiny"),
                    "networks": "none",
                }
            },
        )
        return str(response.json()["server"]["id"])

    def remove(self, server_ids: list[str]) -> None:
        for server_id in server_ids:
            self.delete_server(server_id)
        self.wait_gone(server_ids)

    def delete_server(self, server_id: str) -> None:
        self.session.delete(
            f"/servers/{server_id}",
            endpoint_filter={"service_type": "compute", "interface": "public"},
            raise_exc=False,
        )

    def wait_gone(self, server_ids: list[str], seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        for server_id in server_ids:
            while time.monotonic() < deadline:
                response = self.session.get(
                    f"/servers/{server_id}",
                    endpoint_filter={"service_type": "compute", "interface": "public"},
                    raise_exc=False,
                )
                if response.status_code == 404:
                    break
                time.sleep(0.5)

    def clean(self) -> None:
        """Delete what earlier (perhaps interrupted) runs of this suite provisioned; other
        suites' servers (their keys do not start with KEY_PREFIX) are theirs to remove."""
        self.remove([s["id"] for s in self.yunheng_servers(KEY_PREFIX)])

    def stop_keystone(self) -> None:
        run_script("up.sh", "keystone", timeout=180)  # it answers, and its pidfile is true
        pidfile = self.directory / "run" / "keystone.pid"
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 15)  # uwsgi runs with --die-on-term
        deadline = time.monotonic() + 30
        while (alive(pid) or answers(KEYSTONE)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if answers(KEYSTONE):
            raise BedUnavailable("keystone did not stop")

    def start_keystone(self) -> None:
        run_script("up.sh", "keystone", timeout=180)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):  # noqa: S310 (a fixed http URL)
            return True
    except OSError:
        return False


def run_script(name: str, *args: str, timeout: float) -> None:
    """Run a bed script in its own process group, so a time-out ends all of it (the daemons
    it starts detach into sessions of their own and live on)."""
    env = {**os.environ, "OSBED_DIR": str(BED_DIR)}
    log = BED_DIR.parent / f"osbed-{name}.log"
    BED_DIR.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        script = subprocess.Popen(
            ["/bin/bash", str(BED_SCRIPTS / name), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            code = script.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(script.pid, signal.SIGTERM)
            script.wait()
            raise BedUnavailable(
                f"{name} {' '.join(args)} took over {timeout:g} s; see {log}"
            ) from None
    if code != 0:
        raise BedUnavailable(f"{name} {' '.join(args)} failed (exit {code}); see {log}")


def admin_session() -> ksa_session.Session:
    auth = v3.Password(
        auth_url=KEYSTONE,
        username="admin",
        password=PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return ksa_session.Session(auth=auth, timeout=30)


def ready(bed: Bed) -> bool:
    """All three compute nodes have Placement inventory (they register a few s after start)."""
    try:
        providers = bed.providers()
    except Exception:  # not up yet: any failure means "not ready"
        return False
    return all(host in providers and providers[host]["inventories"] for host in HOSTS)


def find_or_start_bed() -> Bed:
    bed = Bed(BED_DIR, admin_session())
    if (BED_DIR / "clouds.yaml").exists() and answers(KEYSTONE) and ready(bed):
        return bed
    if os.geteuid() != 0:
        raise BedUnavailable(
            "the OpenStack test bed is not running and only root can start it "
            "(sudo make testbed-openstack)"
        )
    if not answers(KEYSTONE) and (BED_DIR / "clouds.yaml").exists():
        run_script("up.sh", "keystone", timeout=180)  # the rest may still be up
    if not ready(bed):
        run_script("up.sh", timeout=BRING_UP_SECONDS)
    deadline = time.monotonic() + 120
    while not ready(bed):
        if time.monotonic() > deadline:
            raise BedUnavailable(f"compute nodes never reached Placement; see {BED_DIR}/log")
        time.sleep(2)
    return bed


def provision_request(run: str, index: int, host: str, **size: int) -> ProvisionRequest:
    return ProvisionRequest(
        idempotency_key=f"{KEY_PREFIX}{run}-{index}",
        name=f"os-test-{run}-{index}",
        department="health",
        host=host,
        vcpus=size.get("vcpus", 1),
        memory_mb=size.get("memory_mb", 1024),
        disk_gb=size.get("disk_gb", 10),
    )


def register_cloud(session: Session, box: SecretBox, bed: Bed) -> Cloud:
    """The bed as a registered cloud (explicit auth, encrypted password), synced once."""
    data = CloudCreate(
        name=f"osbed-{uuid.uuid4().hex[:6]}",
        kind="openstack",
        vendor="OpenStack test bed",
        region="RegionOne",
        security_level=3,
        settings=bed.explicit_settings(),
        credentials={"password": PASSWORD},
    )
    cloud = clouds.register_cloud(session, factories.SYSTEM, data, box)
    session.commit()
    first = clouds.sync(session, factories.SYSTEM, cloud.id or 0, box)
    session.commit()
    assert first.ok, first.error
    return cloud


def status_of(session: Session, cloud: Cloud) -> CloudStatus:
    session.refresh(cloud)
    return cloud.status


def live_hosts(session: Session, cloud: Cloud) -> set[str]:
    rows = session.execute(
        sa.select(col(Host.external_id)).where(
            col(Host.cloud_id) == cloud.id, col(Host.state) != HostState.gone
        )
    )
    return set(rows.scalars())
