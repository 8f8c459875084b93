"""What a notification says, in both languages, and the pure parts of the notifiers:
payload shapes, trimming to a robot's limit, settings validation. No database, no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts import notifiers
from alerts.message import Language, Message, channel_test_message, incident_message
from alerts.notifiers import alertmanager
from alerts.notifiers.base import ConfigError
from alerts.notifiers.robots import trim
from inventory.models import (
    Alert,
    AlertSource,
    AlertState,
    ChannelKind,
    Incident,
    IncidentStatus,
    Severity,
)

NOW = datetime(2025, 3, 3, 16, 30, tzinfo=UTC)  # 00:30 the next day in Shanghai


def incident(alerts: int = 2, resolved: int = 0) -> tuple[Incident, list[Alert]]:
    row = Incident(
        id=7,
        group_key="alertname=HostDown,cloud=c1",
        group_labels={"alertname": "HostDown", "cloud": "c1"},
        title="HostDown on c1",
        severity=Severity.P2,
        status=IncidentStatus.open,
    )
    rows = []
    for n in range(alerts + resolved):
        gone = n >= alerts
        rows.append(
            Alert(
                fingerprint=f"{n:064x}",
                source=AlertSource.rule,
                name="HostDown",
                labels={"alertname": "HostDown", "cloud": "c1", "host": f"h{n}"},
                annotations={"summary": f"h{n} is down"},
                state=AlertState.resolved if gone else AlertState.firing,
                active_since=NOW - timedelta(minutes=10),
                fired_at=NOW - timedelta(minutes=9),
                resolved_at=NOW - timedelta(minutes=1) if gone else None,
            )
        )
    return row, rows


@pytest.mark.parametrize(
    ("reason", "language", "title"),
    [
        ("firing", "zh-CN", "【P2·告警】HostDown 等 2 条(事件 #7)"),
        ("repeat", "zh-CN", "【P2·仍在告警】HostDown 等 2 条(事件 #7)"),
        ("escalation", "zh-CN", "【P2·升级】HostDown 等 2 条(事件 #7)"),
        ("firing", "en", "[P2 FIRING] HostDown and 1 more (incident #7)"),
        ("escalation", "en", "[P2 ESCALATED] HostDown and 1 more (incident #7)"),
    ],
)
def test_titles(reason: str, language: Language, title: str) -> None:
    inc, alerts = incident()
    message = incident_message(inc, alerts, key="k", reason=reason, now=NOW, language=language)
    assert message.title == title
    assert message.status == "firing"


def test_body_lists_alerts_in_shanghai_time_with_a_link() -> None:
    inc, alerts = incident(alerts=1, resolved=1)
    message = incident_message(
        inc,
        alerts,
        key="k",
        reason="firing",
        now=NOW,
        language="zh-CN",
        console_url="https://yunheng.gov.example/",
    )
    assert message.title == "【P2·告警】HostDown(事件 #7)"  # one firing: no count
    lines = message.text.splitlines()
    assert lines[0] == "**事件 #7** · 级别 P2 · 告警中 1 条 · 已恢复 1 条"
    assert lines[1] == "分组:alertname=HostDown, cloud=c1"
    # Firing first; labels shown without those the group already says.
    assert lines[2] == "- [告警] **HostDown** host=h0 · 自 2025-03-04 00:21:00 +0800 — h0 is down"
    assert lines[3].startswith("- [已恢复] **HostDown** host=h1")
    assert "详情:https://yunheng.gov.example/api/v1/incidents/7" in lines
    assert message.incident_url == "https://yunheng.gov.example/api/v1/incidents/7"


def test_resolved_message_and_its_alertmanager_payload() -> None:
    inc, alerts = incident(alerts=0, resolved=3)
    message = incident_message(inc, alerts, key="k", reason="resolved", now=NOW, language="en")
    assert message.title == "[RESOLVED] HostDown and 2 more (incident #7)"
    body = alertmanager.payload(message, "r", "")
    assert body["status"] == "resolved"
    assert {a["status"] for a in body["alerts"]} == {"resolved"}
    assert body["alerts"][0]["endsAt"] == "2025-03-03T16:29:00Z"


def test_long_incidents_are_summarised() -> None:
    inc, alerts = incident(alerts=25)
    message = incident_message(inc, alerts, key="k", reason="firing", now=NOW, language="en")
    assert message.text.count("\n- [FIRING]") == 10
    assert "- … and 15 more" in message.text
    assert len(message.alerts) == 25  # the JSON payloads carry them all


def test_payload_round_trip() -> None:
    inc, alerts = incident(alerts=1, resolved=1)
    message = incident_message(inc, alerts, key="k", reason="firing", now=NOW, language="zh-CN")
    assert Message.from_payload(message.to_payload()) == message
    test = channel_test_message(key="t", now=NOW, language="en")
    assert Message.from_payload(test.to_payload()) == test
    assert "2025-03-04 00:30:00 +0800" in test.text


def test_trim_cuts_at_a_line_within_the_byte_limit() -> None:
    text = "\n".join(f"- 第 {n} 行告警" for n in range(1000))
    cut = trim(text, 4096)
    assert len(cut.encode()) <= 4096 and cut.endswith("\n…")
    assert cut[:-2].splitlines()[-1].endswith("行告警")  # no line cut in half
    assert trim("short", 4096) == "short"


def test_validation_names_the_field_and_never_echoes_a_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        notifiers.validate(ChannelKind.dingtalk, {}, {"acess_token": "t0p-s3cret"})
    assert caught.value.field == "secrets.access_token"
    with pytest.raises(ConfigError) as caught:
        notifiers.validate(ChannelKind.webhook, {"url": "http://h"}, {"bearer": "t0p-s3cret"})
    assert caught.value.field == "secrets.bearer" and "t0p-s3cret" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        notifiers.validate(
            ChannelKind.alertmanager, {"url": "http://h"}, {"bearer_token": "a", "password": "b"}
        )
    assert "not both" in str(caught.value)
    notifiers.validate(ChannelKind.feishu, {}, {"hook_token": "x"})
