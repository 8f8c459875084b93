"""Each kind of channel, end to end: queued for an incident, sent by send_due to a local
receiver that checks what the real endpoint checks (signatures, shape), recorded as sent.
On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from alerts import dispatch
from alerts.notifiers import channels
from inventory.access import Viewer
from inventory.crypto import SecretBox
from inventory.models import ChannelKind, Delivery, DeliveryStatus, NotificationChannel
from tests.notify_receivers import (
    Captured,
    dingtalk_check,
    feishu_check,
    incident_with_alerts,
    mailbox,
    receiver,
    wecom_check,
)

NOW = datetime.now(UTC).replace(microsecond=0)  # robots refuse timestamps an hour off
SYSTEM = Viewer.system("test")
ONCE = dispatch.RetryPolicy(max_attempts=1, workers=2)


def channel(
    session: Session,
    box: SecretBox,
    kind: ChannelKind,
    settings: dict[str, Any],
    secrets: dict[str, Any] | None = None,
    name: str | None = None,
) -> NotificationChannel:
    data = channels.ChannelCreate(
        name=name or kind.value, kind=kind, settings=settings, secrets=secrets or {}
    )
    made = channels.create(session, SYSTEM, data, box, NOW)
    session.commit()
    return made


def notify_and_send(
    session: Session, box: SecretBox, chan: NotificationChannel, reason: str = "firing"
) -> Delivery:
    incident = incident_with_alerts(session, NOW)
    [delivery] = dispatch.notify_incident(
        session,
        incident,
        reason=reason,
        now=NOW,
        dedupe=f"incident:{incident.id}:{reason}",
        channels=[chan],
    )
    session.commit()
    dispatch.send_due(session, box, NOW, timeout=5, retry=ONCE)
    session.refresh(delivery)
    return delivery


def test_webhook_carries_bearer_token_signature_and_payload(
    session: Session, box: SecretBox
) -> None:
    def check(request: Captured) -> tuple[int, dict[str, Any]]:
        if request.headers.get("authorization") != "Bearer hook-token-1":
            return 401, {"error": "bad token"}
        stamp = request.headers["x-yunheng-timestamp"]
        mac = hmac.new(b"hook-hmac-1", stamp.encode() + b"." + request.body, hashlib.sha256)
        if request.headers["x-yunheng-signature"] != "sha256=" + mac.hexdigest():
            return 403, {"error": "bad signature"}
        return 204, {}

    with receiver(check) as hook:
        chan = channel(
            session,
            box,
            ChannelKind.webhook,
            {"url": hook.url + "/hooks/yunheng", "headers": {"X-Team": "ops"}},
            {"bearer_token": "hook-token-1", "hmac_secret": "hook-hmac-1"},
        )
        delivery = notify_and_send(session, box, chan)
    assert delivery.status == DeliveryStatus.sent, delivery.error
    [request] = hook.requests
    assert request.path == "/hooks/yunheng" and request.headers["x-team"] == "ops"
    assert request.headers["x-yunheng-delivery"] == delivery.dedupe_key
    body = request.json
    assert body["version"] == "1" and body["status"] == "firing" and body["severity"] == "P1"
    assert body["incident"]["id"] == delivery.incident_id
    assert body["groupLabels"] == {"alertname": "HostDown", "cloud": "cloud-os"}
    assert sorted(a["labels"]["host"] for a in body["alerts"]) == ["sim-host-0", "sim-host-1"]


def test_webhook_signature_mismatch_is_a_failure_with_the_answer(
    session: Session, box: SecretBox
) -> None:
    with receiver(lambda r: (403, {"error": "bad signature"})) as hook:
        chan = channel(session, box, ChannelKind.webhook, {"url": hook.url}, {"hmac_secret": "x"})
        delivery = notify_and_send(session, box, chan)
    assert delivery.status == DeliveryStatus.failed
    assert "HTTP 403" in (delivery.error or "") and "bad signature" in (delivery.error or "")


def test_alertmanager_v4_payload(session: Session, box: SecretBox) -> None:
    with receiver() as hook:
        chan = channel(
            session,
            box,
            ChannelKind.alertmanager,
            {"url": hook.url + "/am", "receiver": "ops-team", "username": "am"},
            {"password": "am-pass-1"},
        )
        delivery = notify_and_send(session, box, chan)
        resolved = notify_and_send(session, box, chan, reason="resolved")
    assert delivery.status == resolved.status == DeliveryStatus.sent
    first, second = hook.requests
    assert first.headers["authorization"] == "Basic YW06YW0tcGFzcy0x"  # am:am-pass-1
    body = first.json
    # Every field Alertmanager's webhook_config sends, and nothing it does not.
    assert set(body) == {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    assert body["version"] == "4" and body["receiver"] == "ops-team"
    assert body["status"] == "firing" and body["truncatedAlerts"] == 0
    assert body["groupKey"] == '{}:{alertname="HostDown", cloud="cloud-os"}'
    assert body["commonLabels"] == {"alertname": "HostDown", "cloud": "cloud-os"}
    for alert in body["alerts"]:
        assert set(alert) == {
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        }
        assert alert["endsAt"] == "0001-01-01T00:00:00Z" and alert["startsAt"].endswith("Z")
        assert len(alert["fingerprint"]) == 16
    assert second.json["status"] == "resolved"


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_dingtalk_robot(session: Session, box: SecretBox, signed: bool) -> None:
    secret = "SECd1ngta1k" if signed else None
    with receiver(dingtalk_check("ding-token-1", secret)) as robot:
        chan = channel(
            session,
            box,
            ChannelKind.dingtalk,
            {"base_url": robot.url + "/robot/send", "at_mobiles": ["13800000000"]},
            {"access_token": "ding-token-1", **({"secret": secret} if secret else {})},
        )
        delivery = notify_and_send(session, box, chan)
    assert delivery.status == DeliveryStatus.sent, delivery.error
    [request] = robot.requests
    assert ("sign" in request.query) is signed
    body = request.json
    assert body["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert "@13800000000" in body["markdown"]["text"]  # DingTalk only rings an @ in the text
    assert body["markdown"]["title"].startswith("【P1·告警】HostDown 等 2 条")


def test_dingtalk_wrong_secret_is_refused_and_says_why(session: Session, box: SecretBox) -> None:
    with receiver(dingtalk_check("ding-token-1", "SECright")) as robot:
        chan = channel(
            session,
            box,
            ChannelKind.dingtalk,
            {"base_url": robot.url},
            {"access_token": "ding-token-1", "secret": "SECwrong"},
        )
        delivery = notify_and_send(session, box, chan)
    assert delivery.status == DeliveryStatus.failed
    assert "310000" in (delivery.error or "") and "sign not match" in (delivery.error or "")
    assert "ding-token-1" not in (delivery.error or "")  # the URL's token is never shown


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_feishu_robot(session: Session, box: SecretBox, signed: bool) -> None:
    secret = "fei-shu-secret" if signed else None
    with receiver(feishu_check("hook-abc", secret)) as robot:
        chan = channel(
            session,
            box,
            ChannelKind.feishu,
            {"base_url": robot.url + "/open-apis/bot/v2/hook/", "language": "en"},
            {"hook_token": "hook-abc", **({"secret": secret} if secret else {})},
        )
        delivery = notify_and_send(session, box, chan)
    assert delivery.status == DeliveryStatus.sent, delivery.error
    [request] = robot.requests
    assert request.path == "/open-apis/bot/v2/hook/hook-abc"
    card = request.json["card"]
    assert card["header"]["title"]["content"] == (
        f"[P1 FIRING] HostDown and 1 more (incident #{delivery.incident_id})"
    )
    assert card["header"]["template"] == "red"
    assert "sim-host-0" in card["elements"][0]["content"]


def test_feishu_wrong_secret_is_refused(session: Session, box: SecretBox) -> None:
    with receiver(feishu_check("hook-abc", "right")) as robot:
        chan = channel(
            session,
            box,
            ChannelKind.feishu,
            {"base_url": robot.url},
            {"hook_token": "hook-abc", "secret": "wrong"},
        )
        delivery = notify_and_send(session, box, chan)
    assert delivery.status == DeliveryStatus.failed and "19021" in (delivery.error or "")


def test_wecom_robot_markdown_within_its_limit(session: Session, box: SecretBox) -> None:
    with receiver(wecom_check("wecom-key-1")) as robot:
        chan = channel(
            session,
            box,
            ChannelKind.wecom,
            {"base_url": robot.url + "/cgi-bin/webhook/send"},
            {"key": "wecom-key-1"},
        )
        incident = incident_with_alerts(session, NOW, alerts=40, name="ZoneDegraded" * 8)
        [delivery] = dispatch.notify_incident(
            session, incident, reason="escalation", now=NOW, dedupe="big", channels=[chan]
        )
        session.commit()
        assert dispatch.send_due(session, box, NOW, timeout=5, retry=ONCE) == 1
    content = robot.requests[0].json["markdown"]["content"]
    assert content.startswith("### 【P1·升级】")
    assert "另有 30 条" in content and len(content.encode()) <= 4096
    assert delivery.reason == "escalation"


def test_email_over_starttls_with_login(session: Session, box: SecretBox, tmp_path: Path) -> None:
    with mailbox(tmp_path, username="alerts@gov.example", password="smtp-pass-1") as smtp:
        settings = {
            "host": smtp.host,
            "port": smtp.port,
            "security": "starttls",
            "from_addr": "yunheng@gov.example",
            "to": ["oncall@gov.example", "lead@gov.example"],
            "username": "alerts@gov.example",
            "ca_file": str(smtp.ca_file),
        }
        chan = channel(session, box, ChannelKind.email, settings, {"password": "smtp-pass-1"})
        delivery = notify_and_send(session, box, chan)
        assert delivery.status == DeliveryStatus.sent, delivery.error
        [(envelope, mail)] = smtp.mails
        assert sorted(envelope.rcpt_tos) == ["lead@gov.example", "oncall@gov.example"]
        assert str(mail["Subject"]).startswith("【P1·告警】HostDown")
        assert mail["X-Yunheng-Delivery"] == delivery.dedupe_key
        assert "sim-host-1" in mail.get_content()

        wrong = channel(
            session, box, ChannelKind.email, settings, {"password": "nope"}, name="mail-wrong"
        )
        refused = notify_and_send(session, box, wrong)
    assert refused.status == DeliveryStatus.failed and "refused the login" in (refused.error or "")
    assert set(smtp.logins) == {"alerts@gov.example"}  # smtplib tries each mechanism


def test_email_refuses_an_untrusted_certificate(
    session: Session, box: SecretBox, tmp_path: Path
) -> None:
    with mailbox(tmp_path, username="u", password="p") as smtp:
        settings = {
            "host": smtp.host,
            "port": smtp.port,
            "from_addr": "yunheng@gov.example",
            "to": ["oncall@gov.example"],
        }
        chan = channel(session, box, ChannelKind.email, settings)
        delivery = notify_and_send(session, box, chan)
    assert delivery.status == DeliveryStatus.failed and "TLS" in (delivery.error or "")
    assert smtp.mails == []


def test_payload_is_what_was_sent(session: Session, box: SecretBox) -> None:
    """The delivery keeps the message it sent, so the record reads as what people saw."""
    with receiver() as hook:
        chan = channel(session, box, ChannelKind.webhook, {"url": hook.url})
        delivery = notify_and_send(session, box, chan)
    sent = hook.requests[0].json
    assert delivery.payload["title"] == sent["title"] and delivery.payload["text"] == sent["text"]
    assert json.loads(json.dumps(delivery.payload)) == delivery.payload
