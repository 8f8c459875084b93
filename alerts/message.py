"""What a notification says, in zh-CN or English: every user-facing word of it lives here.

A Message is built once, when a delivery is queued, and stored as the delivery's payload, so
what was sent can be read back later and a retry sends exactly the same thing. The robots,
the email and the inbox render its `title` and `text` (a small Markdown subset that reads
well as plain text too); the JSON webhooks send its fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from inventory.models import Alert, AlertState, Incident

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")
# Times in messages are shown where the people reading them are.
SHOWN_TZ = ZoneInfo("Asia/Shanghai")
MAX_LISTED = 10  # alerts listed in a message body; the rest are counted

TEXTS: dict[Language, dict[str, str]] = {
    "zh-CN": {
        "firing": "【{severity}·告警】{summary}",
        "repeat": "【{severity}·仍在告警】{summary}",
        "escalation": "【{severity}·升级】{summary}",
        "resolved": "【已恢复】{summary}",
        "test": "【测试】云衡通知渠道测试",
        "summary": "{name}{count}(事件 #{incident})",
        "count": " 等 {total} 条",
        "head": "**事件 #{incident}** · 级别 {severity} · "
        "告警中 {firing} 条 · 已恢复 {resolved} 条",
        "group": "分组:{labels}",
        "alert": "- {state} **{name}** {labels} · 自 {since}",
        "more": "- ……另有 {n} 条",
        "state.firing": "[告警]",
        "state.pending": "[待定]",
        "state.resolved": "[已恢复]",
        "link": "详情:{url}",
        "test_body": "这是一条来自云衡(Yunheng)的测试通知,发送于 {at}。收到即说明渠道配置正确。",
        "footer": "云衡 Yunheng · {at}",
    },
    "en": {
        "firing": "[{severity} FIRING] {summary}",
        "repeat": "[{severity} STILL FIRING] {summary}",
        "escalation": "[{severity} ESCALATED] {summary}",
        "resolved": "[RESOLVED] {summary}",
        "test": "[TEST] Yunheng notification channel test",
        "summary": "{name}{count} (incident #{incident})",
        "count": " and {n} more",
        "head": "**Incident #{incident}** · severity {severity} · "
        "{firing} firing · {resolved} resolved",
        "group": "Group: {labels}",
        "alert": "- {state} **{name}** {labels} · since {since}",
        "more": "- … and {n} more",
        "state.firing": "[FIRING]",
        "state.pending": "[PENDING]",
        "state.resolved": "[RESOLVED]",
        "link": "Details: {url}",
        "test_body": "This is a test notification from Yunheng, sent at {at}. "
        "If you can read it, the channel works.",
        "footer": "Yunheng · {at}",
    },
}

# Which title template a delivery reason uses; anything else reads as "firing".
_TITLE_BY_REASON = {"repeat": "repeat", "escalation": "escalation", "resolved": "resolved"}


@dataclass(frozen=True, slots=True)
class AlertItem:
    name: str
    status: str  # firing | resolved (a pending alert is reported as firing, like Alertmanager)
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    fingerprint: str
    generator_url: str | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One notification, as every channel kind needs it."""

    key: str  # the delivery's dedupe key: receivers may use it to drop a repeat
    reason: str  # firing, repeat, escalation, resolved, test
    status: str  # firing | resolved
    severity: str  # P1..P4
    title: str
    text: str
    language: Language
    created_at: datetime
    incident_id: int | None = None
    incident_url: str | None = None
    group_key: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)
    alerts: list[AlertItem] = field(default_factory=list)

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe, for Delivery.payload."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        for item in data["alerts"]:
            item["starts_at"] = item["starts_at"].isoformat()
            item["ends_at"] = item["ends_at"].isoformat() if item["ends_at"] else None
        return data

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Message:
        alerts = [
            AlertItem(
                **{
                    **item,
                    "starts_at": datetime.fromisoformat(item["starts_at"]),
                    "ends_at": datetime.fromisoformat(item["ends_at"]) if item["ends_at"] else None,
                }
            )
            for item in data.get("alerts", [])
        ]
        return cls(
            **{
                **data,
                "created_at": datetime.fromisoformat(data["created_at"]),
                "alerts": alerts,
            }
        )

    def common_labels(self) -> dict[str, str]:
        """Labels every alert shares (Alertmanager's commonLabels)."""
        return _common(a.labels for a in self.alerts)

    def common_annotations(self) -> dict[str, str]:
        return _common(a.annotations for a in self.alerts)


def _common(label_sets: Iterable[dict[str, str]]) -> dict[str, str]:
    sets = list(label_sets)
    if not sets:
        return {}
    first = sets[0]
    return {k: v for k, v in first.items() if all(s.get(k) == v for s in sets[1:])}


def shown_time(at: datetime) -> str:
    return at.astimezone(SHOWN_TZ).strftime("%Y-%m-%d %H:%M:%S %z")


def _labels_text(labels: dict[str, str], skip: Iterable[str] = ()) -> str:
    skipped = set(skip)
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skipped)


def alert_item(alert: Alert, now: datetime) -> AlertItem:
    resolved = alert.state == AlertState.resolved
    return AlertItem(
        name=alert.name,
        status="resolved" if resolved else "firing",
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        starts_at=alert.fired_at or alert.active_since,
        ends_at=(alert.resolved_at or now) if resolved else None,
        fingerprint=alert.fingerprint,
        generator_url=alert.generator_url,
        value=alert.value,
    )


def incident_message(
    incident: Incident,
    alerts: list[Alert],
    *,
    key: str,
    reason: str,
    now: datetime,
    language: Language,
    console_url: str = "",
) -> Message:
    """The message for one notification about an incident, in one language."""
    texts = TEXTS[language]
    items = sorted(
        (alert_item(a, now) for a in alerts),
        key=lambda i: (i.status != "firing", i.starts_at, i.name),
    )
    status = "resolved" if reason == "resolved" else "firing"
    firing = [i for i in items if i.status == "firing"]
    shown = firing if firing and status == "firing" else items
    names = sorted({i.name for i in shown}) or [incident.title]
    summary = texts["summary"].format(
        name=names[0],
        count=texts["count"].format(n=len(shown) - 1, total=len(shown)) if len(shown) > 1 else "",
        incident=incident.id,
    )
    title = texts[_TITLE_BY_REASON.get(reason, "firing")].format(
        severity=incident.severity, summary=summary
    )
    url = f"{console_url.rstrip('/')}/api/v1/incidents/{incident.id}" if console_url else None
    lines = [
        texts["head"].format(
            incident=incident.id,
            severity=incident.severity,
            firing=len(firing),
            resolved=len(items) - len(firing),
        )
    ]
    if incident.group_labels:
        lines.append(texts["group"].format(labels=_labels_text(incident.group_labels)))
    for item in items[:MAX_LISTED]:
        line = texts["alert"].format(
            state=texts[f"state.{item.status}"],
            name=item.name,
            labels=_labels_text(item.labels, skip=("alertname", *incident.group_labels)),
            since=shown_time(item.starts_at),
        )
        summary_text = item.annotations.get("summary") or item.annotations.get("description")
        lines.append(f"{line} — {summary_text}" if summary_text else line)
    if len(items) > MAX_LISTED:
        lines.append(texts["more"].format(n=len(items) - MAX_LISTED))
    if url:
        lines.append(texts["link"].format(url=url))
    lines.append(texts["footer"].format(at=shown_time(now)))
    return Message(
        key=key,
        reason=reason,
        status=status,
        severity=str(incident.severity),
        title=title,
        text="\n".join(lines),
        language=language,
        created_at=now,
        incident_id=incident.id,
        incident_url=url,
        group_key=incident.group_key,
        group_labels=dict(incident.group_labels),
        alerts=items,
    )


def channel_test_message(*, key: str, now: datetime, language: Language) -> Message:
    texts = TEXTS[language]
    return Message(
        key=key,
        reason="test",
        status="firing",
        severity="P4",
        title=texts["test"],
        text=texts["test_body"].format(at=shown_time(now)),
        language=language,
        created_at=now,
        group_labels={"alertname": "YunhengTestNotification"},
    )
