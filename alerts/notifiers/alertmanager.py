"""The payload Alertmanager's webhook_config sends (version "4"), so anything written for
Alertmanager receivers (chat bridges, ticket systems) takes Yunheng's notifications as they
are. Auth like Alertmanager's http_config: a bearer token or basic auth.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import SecretStr, model_validator

from alerts.message import AlertItem, Message
from alerts.notifiers._http import post_json
from alerts.notifiers.base import HttpUrl, Strict, parse_stored

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt for an alert still firing


class Settings(Strict):
    url: HttpUrl
    receiver: str = "yunheng"
    external_url: str = ""
    username: str | None = None  # basic auth, with secrets.password


class Secrets(Strict):
    bearer_token: SecretStr | None = None
    password: SecretStr | None = None

    @model_validator(mode="after")
    def _one_scheme(self) -> Secrets:
        if self.bearer_token is not None and self.password is not None:
            raise ValueError("give bearer_token or password (basic auth), not both")
        return self


def _rfc3339(item: AlertItem, ends: bool) -> str:
    at = item.ends_at if ends else item.starts_at
    if at is None:
        return ZERO_TIME
    return at.isoformat().replace("+00:00", "Z")


def payload(message: Message, receiver: str, external_url: str) -> dict[str, Any]:
    # Alertmanager's form, {route}:{labels}; receivers key their threads by it.
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(message.group_labels.items()))
    group_key = f"{{}}:{{{labels}}}"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": message.status,
        "receiver": receiver,
        "groupLabels": message.group_labels,
        "commonLabels": message.common_labels(),
        "commonAnnotations": message.common_annotations(),
        "externalURL": external_url or message.incident_url or "",
        "alerts": [
            {
                "status": item.status,
                "labels": item.labels,
                "annotations": item.annotations,
                "startsAt": _rfc3339(item, ends=False),
                "endsAt": _rfc3339(item, ends=True),
                "generatorURL": item.generator_url or "",
                # Alertmanager's fingerprints are 16 hex digits; ours are a sha256 of the
                # same sorted labels, so the prefix is as stable as theirs.
                "fingerprint": item.fingerprint[:16],
            }
            for item in message.alerts
        ],
    }


def send(
    channel_settings: dict[str, Any], secrets: dict[str, Any], message: Message, *, timeout: float
) -> None:
    settings = parse_stored(Settings, channel_settings, "settings")
    keys = parse_stored(Secrets, secrets, "secrets")
    headers = {"X-Yunheng-Delivery": message.key}
    if keys.bearer_token is not None:
        headers["Authorization"] = f"Bearer {keys.bearer_token.get_secret_value()}"
    elif settings.username is not None:
        pair = f"{settings.username}:{keys.password.get_secret_value() if keys.password else ''}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    body = payload(message, settings.receiver, settings.external_url)
    post_json(settings.url, body, timeout=timeout, headers=headers)
