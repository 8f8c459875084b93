"""A generic JSON webhook: Yunheng's own payload, optionally with a bearer token and an
HMAC-SHA256 signature header the receiver can verify.

Signature: `X-Yunheng-Signature: sha256=<hex HMAC-SHA256(key=hmac_secret,
msg=f"{X-Yunheng-Timestamp}." + body)>`; the timestamp (Unix seconds) is signed too, so a
receiver can refuse replays of an old body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from pydantic import Field, SecretStr

from alerts.message import Message
from alerts.notifiers._http import post_bytes
from alerts.notifiers.base import HttpUrl, Strict, parse_stored

PAYLOAD_VERSION = "1"


class Settings(Strict):
    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict, description="Extra, non-secret headers")


class Secrets(Strict):
    bearer_token: SecretStr | None = None
    hmac_secret: SecretStr | None = None


def payload(message: Message) -> dict[str, Any]:
    data = message.to_payload()
    return {
        "version": PAYLOAD_VERSION,
        **{k: data[k] for k in ("key", "reason", "status", "severity", "title", "text")},
        "language": message.language,
        "createdAt": data["created_at"],
        "incident": {"id": message.incident_id, "url": message.incident_url},
        "groupKey": message.group_key,
        "groupLabels": message.group_labels,
        "alerts": data["alerts"],
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def send(
    channel_settings: dict[str, Any], secrets: dict[str, Any], message: Message, *, timeout: float
) -> None:
    settings = parse_stored(Settings, channel_settings, "settings")
    keys = parse_stored(Secrets, secrets, "secrets")
    body = json.dumps(payload(message), ensure_ascii=False).encode()
    headers = {**settings.headers, "X-Yunheng-Delivery": message.key}
    if keys.bearer_token is not None:
        headers["Authorization"] = f"Bearer {keys.bearer_token.get_secret_value()}"
    if keys.hmac_secret is not None:
        stamp = str(int(time.time()))
        headers["X-Yunheng-Timestamp"] = stamp
        headers["X-Yunheng-Signature"] = signature(keys.hmac_secret.get_secret_value(), stamp, body)
    post_bytes(settings.url, body, timeout=timeout, headers=headers)
