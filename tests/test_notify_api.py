"""Channels, test notifications, the delivery record and the inbox through the API and
the CLI; channel secrets never leave (responses, audit log, log records)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from alerts import dispatch
from console.cli import app as cli
from inventory.crypto import SecretBox
from inventory.models import NotificationChannel, Role
from tests import factories
from tests.notify_receivers import closed_port, dingtalk_check, incident_with_alerts, receiver

API = "/api/v1"
SECRETS = ("ding-access-t0ken", "SECs1gn1ng-secret", "n3w-SECs1gn1ng")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture
def people(session: Session) -> dict[str, factories.Actor]:
    return {
        "admin": factories.user(session, "admin1", Role.admin),
        "oncall": factories.user(session, "oncall1", Role.oncall),
        "oncall2": factories.user(session, "oncall2", Role.oncall),
        "manager": factories.user(session, "manager1", Role.manager),
    }


def test_channel_secrets_are_write_only_and_never_logged(
    client: TestClient,
    engine: Engine,
    box: SecretBox,
    people: dict[str, factories.Actor],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = people["admin"].headers
    texts: list[str] = []
    with receiver(dingtalk_check(SECRETS[0], SECRETS[2])) as robot:
        created = client.post(
            f"{API}/channels",
            headers=admin,
            json={
                "name": "ops-dingtalk",
                "kind": "dingtalk",
                "settings": {"base_url": robot.url, "language": "en"},
                "secrets": {"access_token": SECRETS[0], "secret": SECRETS[1]},
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert "secrets" not in body and body["secret_keys"] == ["access_token", "secret"]
        chan = body["id"]
        # Wrong signing secret: the test says why, and shows no secret.
        failed = client.post(f"{API}/channels/{chan}/test", headers=people["oncall"].headers)
        assert failed.status_code == 200 and failed.json()["ok"] is False
        assert "sign not match" in failed.json()["delivery"]["error"]
        # Rotate only the signing secret (a merge patch): now it works.
        patched = client.patch(
            f"{API}/channels/{chan}", headers=admin, json={"secrets": {"secret": SECRETS[2]}}
        )
        assert patched.status_code == 200 and patched.json()["secret_keys"] == [
            "access_token",
            "secret",
        ]
        tested = client.post(f"{API}/channels/{chan}/test", headers=admin)
        assert tested.status_code == 200 and tested.json()["ok"] is True, tested.text
        assert tested.json()["delivery"]["status"] == "sent"
        assert len(robot.requests) == 2
        # A bad secret is named, not echoed.
        rejected = client.patch(
            f"{API}/channels/{chan}", headers=admin, json={"secrets": {"tokn": SECRETS[1]}}
        )
        assert rejected.status_code == 422 and "secrets.tokn" in rejected.json()["error"]
        texts += [created.text, failed.text, patched.text, tested.text, rejected.text]
    for actor in ("admin", "oncall", "manager"):
        headers = people[actor].headers
        texts.append(client.get(f"{API}/channels", headers=headers).text)
        texts.append(client.get(f"{API}/channels/{chan}", headers=headers).text)
        texts.append(client.get(f"{API}/deliveries", headers=headers).text)
    audit = client.get(f"{API}/audit?limit=500", headers=admin)
    assert {"channel.create", "channel.update", "channel.test"} <= {
        item["action"] for item in audit.json()["items"]
    }
    texts.append(audit.text)
    for text in texts:
        assert_no_secret(text)
    logged = [r for r in caplog.records if r.name.startswith("alerts.")]
    assert len(logged) >= 2, "the control: delivery outcomes are logged"
    for record in caplog.records:
        assert_no_secret(record.getMessage())
    # At rest: encrypted; the key opens it.
    with Session(engine) as own:
        stored = own.get(NotificationChannel, chan)
        assert stored is not None and stored.secrets_encrypted
        assert_no_secret(stored.secrets_encrypted)
        assert box.decrypt_json(stored.secrets_encrypted)["secret"] == SECRETS[2]


def test_bad_channel_input_names_the_field(
    client: TestClient, people: dict[str, factories.Actor]
) -> None:
    admin = people["admin"].headers
    cases = [
        ({"name": "x", "kind": "pager"}, "kind"),
        ({"name": "x", "kind": "webhook", "settings": {}}, "settings.url"),
        ({"name": "x", "kind": "webhook", "settings": {"url": "ftp://h/x"}}, "settings.url"),
        ({"name": "x", "kind": "dingtalk", "secrets": {}}, "secrets.access_token"),
        (
            {"name": "x", "kind": "email", "settings": {"host": "h", "from_addr": "a@b", "to": []}},
            "settings.to",
        ),
        ({"name": "x", "kind": "inbox", "settings": {"language": "fr"}}, "settings.language"),
        ({"name": "x", "kind": "inbox", "settings": {"roles": ["boss"]}}, "settings.roles"),
    ]
    for body, field in cases:
        response = client.post(f"{API}/channels", headers=admin, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["error"], (field, response.text)
    ok = client.post(f"{API}/channels", headers=admin, json={"name": "x", "kind": "inbox"})
    assert ok.status_code == 201
    again = client.post(f"{API}/channels", headers=admin, json={"name": "x", "kind": "inbox"})
    assert again.status_code == 409 and "taken" in again.json()["error"]


def test_test_notification_to_a_receiver_that_is_down(
    client: TestClient, people: dict[str, factories.Actor]
) -> None:
    admin = people["admin"].headers
    port = closed_port()
    made = client.post(
        f"{API}/channels",
        headers=admin,
        json={"name": "down", "kind": "webhook", "settings": {"url": f"http://127.0.0.1:{port}"}},
    ).json()
    tested = client.post(f"{API}/channels/{made['id']}/test", headers=admin).json()
    assert tested["ok"] is False and tested["delivery"]["status"] == "failed"
    assert "cannot reach" in tested["delivery"]["error"]
    assert tested["delivery"]["attempts"] == 1  # a test is tried once, at once
    # It stays on the record; a channel with deliveries is disabled, not deleted.
    failed = client.get(f"{API}/deliveries?status=failed&reason=test", headers=admin).json()
    assert [d["id"] for d in failed["items"]] == [tested["delivery"]["id"]]
    deleted = client.delete(f"{API}/channels/{made['id']}", headers=admin)
    assert deleted.status_code == 409 and "disable it instead" in deleted.json()["error"]
    disabled = client.patch(f"{API}/channels/{made['id']}", headers=admin, json={"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    fresh = client.post(f"{API}/channels", headers=admin, json={"name": "y", "kind": "inbox"})
    assert client.delete(f"{API}/channels/{fresh.json()['id']}", headers=admin).status_code == 204
    bad = client.get(f"{API}/deliveries?status=lost", headers=admin)
    assert bad.status_code == 422 and bad.json()["field"] == "status"


def test_inbox_shows_each_user_only_their_own_messages(
    client: TestClient,
    session: Session,
    box: SecretBox,
    people: dict[str, factories.Actor],
) -> None:
    now = datetime.now(UTC)
    incident = incident_with_alerts(session, now)
    one, two = people["oncall"], people["oncall2"]
    dispatch.notify_incident(
        session, incident, reason="escalation", now=now, dedupe="s0", users=[one.user]
    )
    session.commit()
    assert dispatch.send_due(session, box, now, timeout=5) == 1

    mine = client.get(f"{API}/inbox", headers=one.headers).json()
    assert mine["total"] == 1
    [message] = mine["items"]
    assert message["incident_id"] == incident.id and message["read_at"] is None
    assert "【P1·升级】HostDown" in message["title"] and "sim-host-0" in message["body"]
    assert client.get(f"{API}/inbox", headers=two.headers).json()["total"] == 0
    # Someone else's message answers like a missing one.
    theirs = client.post(f"{API}/inbox/{message['id']}/read", headers=two.headers)
    assert theirs.status_code == 404
    read = client.post(f"{API}/inbox/{message['id']}/read", headers=one.headers)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    assert client.get(f"{API}/inbox?unread=true", headers=one.headers).json()["total"] == 0
    assert client.get(f"{API}/inbox?unread=false", headers=one.headers).json()["total"] == 1
    # Testing an inbox channel writes to the tester's own inbox only.
    inbox_channel = client.get(f"{API}/channels?kind=inbox", headers=people["admin"].headers)
    [builtin] = inbox_channel.json()["items"]
    tested = client.post(f"{API}/channels/{builtin['id']}/test", headers=two.headers).json()
    assert tested["ok"] is True
    assert client.get(f"{API}/inbox", headers=two.headers).json()["total"] == 1
    assert client.get(f"{API}/inbox", headers=one.headers).json()["total"] == 1
    # The delivery record, by incident.
    record = client.get(
        f"{API}/deliveries?incident={incident.id}", headers=people["manager"].headers
    ).json()
    assert [(d["username"], d["status"], d["reason"]) for d in record["items"]] == [
        ("oncall1", "sent", "escalation")
    ]
    assert record["items"][0]["sent_at"] is not None
    assert record["items"][0]["title"] == message["title"]


def test_cli_channel_add_list_test(
    cli_env: str, tmp_path: Path, session: Session, engine: Engine
) -> None:
    runner = CliRunner()
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"access_token": SECRETS[0], "secret": SECRETS[1]}))
    with receiver(dingtalk_check(SECRETS[0], SECRETS[1])) as robot:
        added = runner.invoke(
            cli,
            [
                "channel",
                "add",
                "cli-ding",
                "--kind",
                "dingtalk",
                "--setting",
                f"base_url={robot.url}",
                "--setting",
                'at_mobiles=["13800000000"]',
                "--secrets-file",
                str(secrets),
            ],
        )
        assert added.exit_code == 0, added.output
        listed = runner.invoke(cli, ["channel", "list"], env={"COLUMNS": "250"})
        assert listed.exit_code == 0 and "cli-ding" in listed.output
        assert "access_token, secret" in listed.output
        tested = runner.invoke(cli, ["channel", "test", "cli-ding"])
        assert tested.exit_code == 0, tested.output
    assert len(robot.requests) == 1
    for output in (added.output, listed.output, tested.output):
        assert_no_secret(output)
    down = runner.invoke(cli, ["channel", "test", "cli-ding"])  # the receiver is gone
    assert down.exit_code == 1 and "cannot reach" in down.output
    bad = runner.invoke(cli, ["channel", "add", "x", "--kind", "webhook"])
    assert bad.exit_code == 2 and "settings.url" in bad.output
    unknown = runner.invoke(cli, ["channel", "add", "x", "--kind", "pager"])
    assert unknown.exit_code == 2 and "--kind" in unknown.output


def test_retry_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from inventory.settings import Settings

    monkeypatch.setenv("YUNHENG_NOTIFY_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("YUNHENG_NOTIFY_BACKOFF_SECONDS", "5")
    policy = dispatch.RetryPolicy.from_settings(Settings())
    assert policy.max_attempts == 3
    assert [policy.delay(n) for n in (1, 2, 3)] == [
        timedelta(seconds=5),
        timedelta(seconds=10),
        timedelta(seconds=20),
    ]
