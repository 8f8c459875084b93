"""Registering a cloud runs its check() first, through the API and the CLI, on real peers.

A cloud whose list check fails is refused (4xx / exit 2) naming the cloud and the cause, and
nothing is saved; one that only cannot provision is saved with a warning; `skip_check` /
`--no-check` saves a cloud that is down now, and the audit log says so. No credential shows
in any answer, CLI output or log line on the way.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col
from typer.testing import CliRunner

from adapters import service
from console.cli import app
from inventory.crypto import SecretBox
from inventory.errors import Invalid
from inventory.models import AuditEvent, Cloud, CloudCreate, Role
from tests import factories

if TYPE_CHECKING:
    from tests.adapter_peers import Peer
    from tests.k8s_replay.server import ReplayServer
    from tests.moto_peer import MotoServer
    from tests.openstack_bed import Bed

pytest_plugins = ("tests.adapter_peers",)

API = "/api/v1"
runner = CliRunner()


def cloud_names(session: Session) -> set[str]:
    session.expire_all()
    return set(session.execute(sa.select(col(Cloud.name))).scalars())


def create_events(session: Session, name: str) -> list[AuditEvent]:
    events = session.execute(
        sa.select(AuditEvent).where(col(AuditEvent.action) == "cloud.create")
    ).scalars()
    return [e for e in events if (e.after or {}).get("name") == name]


@pytest.fixture
def k8s(k8s_replay: ReplayServer) -> Peer:
    from tests.adapter_peers import kubernetes_peer

    return kubernetes_peer(k8s_replay)


# --- API ------------------------------------------------------------------------------------


def test_api_registers_refuses_warns_and_skips_without_leaking_credentials(
    client: TestClient,
    session: Session,
    k8s: Peer,
    k8s_replay: ReplayServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.adapter_peers import K8S_READER_TOKEN, kubernetes_peer

    caplog.set_level(logging.DEBUG)
    admin = factories.user(session, "admin1", Role.admin).headers
    answers = []

    ok = client.post(f"{API}/clouds", headers=admin, json=k8s.api_body("k8s-ok"))
    answers.append(ok)
    assert ok.status_code == 201, ok.text
    assert [(c["capability"], c["ok"]) for c in ok.json()["checks"]] == [
        ("list", True),
        ("provision", True),
    ]
    assert ok.json()["warnings"] == []

    refused = client.post(
        f"{API}/clouds", headers=admin, json=k8s.api_body("k8s-down", broken=True)
    )
    answers.append(refused)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error.startswith("cloud 'k8s-down' was not registered: its list check failed: ")
    assert f"kubernetes cluster {k8s_replay.url}: list nodes failed: HTTP 401" in error
    assert "skip_check=true" in error
    assert "k8s-down" not in cloud_names(session) and not create_events(session, "k8s-down")

    reader = kubernetes_peer(k8s_replay, token=K8S_READER_TOKEN)
    warned = client.post(f"{API}/clouds", headers=admin, json=reader.api_body("k8s-reader"))
    answers.append(warned)
    assert warned.status_code == 201, warned.text
    (warning,) = warned.json()["warnings"]
    assert warning.startswith("cloud 'k8s-reader': its provision check failed: ")
    assert "not allowed to create deployments" in warning
    assert [c["ok"] for c in warned.json()["checks"]] == [True, False]

    skipped = client.post(
        f"{API}/clouds?skip_check=true", headers=admin, json=k8s.api_body("k8s-later", broken=True)
    )
    answers.append(skipped)
    assert skipped.status_code == 201, skipped.text
    assert skipped.json()["checks"] == [] and "without a check" in skipped.json()["warnings"][0]

    assert cloud_names(session) == {"k8s-ok", "k8s-reader", "k8s-later"}
    details = {
        name: [(e.actor, e.detail) for e in create_events(session, name)]
        for name in ("k8s-ok", "k8s-reader", "k8s-later")
    }
    assert details["k8s-ok"] == [("admin1", "check at registration: list: ok; provision: ok")]
    assert details["k8s-reader"][0][1] is not None
    assert "provision: failed (" in details["k8s-reader"][0][1]
    assert details["k8s-later"] == [("admin1", "check skipped at registration")]

    answers.append(client.get(f"{API}/clouds?limit=500", headers=admin))
    answers.append(client.get(f"{API}/audit?limit=500", headers=admin))
    seen = "\n".join(a.text for a in answers) + caplog.text
    assert "k8s-down" in caplog.text, "the refusal is logged, with its cause"
    for secret in k8s.secrets:
        assert secret not in seen


def test_a_cloud_that_never_answers_is_refused_after_the_time_limit(
    session: Session, box: SecretBox
) -> None:
    # Listens but never accepts: the request goes out and no answer ever comes back.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        host, port = hung.getsockname()
        data = CloudCreate(
            name="hung-ec2",
            kind="libcloud",
            vendor="AWS",
            region="us-east-1",
            security_level=3,
            settings={
                "driver": "ec2",
                "region": "us-east-1",
                "quota": {"vcpus": 8, "memory_mb": 8192, "disk_gb": 100, "instances": 4},
                "driver_options": {"host": host, "port": port, "secure": False},
                "timeout_seconds": 30,
                "retries": 0,
            },
            credentials={"key": "AKIAHUNG", "secret": "hung-secret-0x9"},
        )
        with pytest.raises(Invalid) as caught:
            service.register_checked(session, factories.SYSTEM, data, box, timeout=0.5)
    assert "cloud 'hung-ec2' was not registered" in caught.value.message
    assert "check did not answer within 0.5 s" in caught.value.message
    assert "hung-secret-0x9" not in caught.value.message
    assert "hung-ec2" not in cloud_names(session)


# --- CLI ------------------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


def test_cli_checks_each_real_kind_before_saving(
    cli_env: str,
    session: Session,
    tmp_path: Path,
    k8s: Peer,
    k8s_replay: ReplayServer,
    moto_ec2: MotoServer,
    osbed: Bed,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.adapter_peers import K8S_READER_TOKEN, ec2_peer, kubernetes_peer, openstack_peer

    caplog.set_level(logging.DEBUG)
    ec2, openstack = ec2_peer(moto_ec2), openstack_peer(osbed)
    outputs = []

    code, out = cli(*openstack.cli_add("os-wrong", tmp_path, broken=True))
    outputs.append(out)
    assert code == 2, out
    assert "cloud 'os-wrong' was not registered: its list check failed:" in out
    assert "authenticate failed: authentication refused (HTTP 401)" in out
    assert "--no-check" in out

    code, out = cli(*ec2.cli_add("ec2-gone", tmp_path, broken=True))
    outputs.append(out)
    assert code == 2 and "list locations failed after 2 tries: cannot connect" in out, out

    code, out = cli(*openstack.cli_add("os-bed", tmp_path))
    outputs.append(out)
    assert code == 0 and "check list: ok" in out and "check provision: ok" in out, out

    reader = kubernetes_peer(k8s_replay, token=K8S_READER_TOKEN)
    code, out = cli(*reader.cli_add("k8s-reader", tmp_path))
    outputs.append(out)
    assert code == 0, out
    assert "warning: cloud 'k8s-reader': its provision check failed" in out
    assert "registered cloud" in out

    code, out = cli(*ec2.cli_add("ec2-later", tmp_path, broken=True), "--no-check")
    outputs.append(out)
    assert code == 0 and "without a check" in out, out

    assert cloud_names(session) == {"os-bed", "k8s-reader", "ec2-later"}
    (event,) = create_events(session, "ec2-later")
    assert event.actor.startswith("cli:") and event.detail == "check skipped at registration"
    seen = "\n".join(outputs) + caplog.text
    for secret in (*openstack.secrets, *ec2.secrets, *k8s.secrets):
        assert secret not in seen


def test_cli_help_tells_of_the_check_and_the_opt_out() -> None:
    code, out = cli("cloud", "add", "--help")
    assert code == 0
    assert "--no-check" in out and "check()" in out
