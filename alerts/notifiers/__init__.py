"""Notifiers, one module per kind of channel, listed here by hand (no discovery by name).

Each HTTP or SMTP notifier has `Settings` and `Secrets` models (strict: an unknown key is an
error) and `send(channel_settings, secrets, message, *, timeout) -> None`, which raises
NotifyError(why) when the notification did not get through. The inbox has no `send`: its
endpoint is the database, written by alerts.dispatch in the same transaction that marks the
delivery sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from alerts.message import Message
from alerts.notifiers import alertmanager, dingtalk, email, feishu, inbox, webhook, wecom
from alerts.notifiers.base import ConfigError, parse
from alerts.notifiers.errors import NotifyError
from inventory.models import ChannelKind

Send = Callable[..., None]  # (channel_settings, secrets, message, *, timeout) -> None


@dataclass(frozen=True, slots=True)
class Notifier:
    kind: ChannelKind
    settings_model: type[BaseModel]
    secrets_model: type[BaseModel]
    send: Send | None  # None: delivered inside the database (the inbox)


NOTIFIERS: dict[ChannelKind, Notifier] = {
    ChannelKind.webhook: Notifier(
        ChannelKind.webhook, webhook.Settings, webhook.Secrets, webhook.send
    ),
    ChannelKind.alertmanager: Notifier(
        ChannelKind.alertmanager, alertmanager.Settings, alertmanager.Secrets, alertmanager.send
    ),
    ChannelKind.dingtalk: Notifier(
        ChannelKind.dingtalk, dingtalk.Settings, dingtalk.Secrets, dingtalk.send
    ),
    ChannelKind.wecom: Notifier(ChannelKind.wecom, wecom.Settings, wecom.Secrets, wecom.send),
    ChannelKind.feishu: Notifier(ChannelKind.feishu, feishu.Settings, feishu.Secrets, feishu.send),
    ChannelKind.email: Notifier(ChannelKind.email, email.Settings, email.Secrets, email.send),
    ChannelKind.inbox: Notifier(ChannelKind.inbox, inbox.Settings, inbox.Secrets, None),
}


def validate(kind: ChannelKind, settings: dict[str, Any], secrets: dict[str, Any]) -> None:
    """Raise ConfigError naming the field (never echoing the value) if they do not fit."""
    notifier = NOTIFIERS[kind]
    parse(notifier.settings_model, settings, "settings")
    parse(notifier.secrets_model, secrets, "secrets")


def send(
    kind: ChannelKind,
    settings: dict[str, Any],
    secrets: dict[str, Any],
    message: Message,
    *,
    timeout: float,
) -> None:
    notifier = NOTIFIERS[kind]
    if notifier.send is None:
        raise NotifyError(f"a {kind.value} channel is not sent over the network", retry=False)
    notifier.send(settings, secrets, message, timeout=timeout)


__all__ = ["NOTIFIERS", "ConfigError", "Notifier", "NotifyError", "send", "validate"]
