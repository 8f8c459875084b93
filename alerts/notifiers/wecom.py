"""WeCom (企业微信) group robot: a Markdown message to its webhook; the robot's key, in the
URL, is its only credential (WeCom robots have no signing)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import SecretStr

from alerts.message import Message
from alerts.notifiers._http import post_json, shown
from alerts.notifiers.base import HttpUrl, Strict, parse_stored
from alerts.notifiers.robots import check_answer, trim

DEFAULT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
MAX_BYTES = 4096  # WeCom's limit for markdown.content


class Settings(Strict):
    base_url: HttpUrl = DEFAULT_URL


class Secrets(Strict):
    key: SecretStr


def payload(message: Message) -> dict[str, Any]:
    text = f"### {message.title}\n" + message.text
    return {"msgtype": "markdown", "markdown": {"content": trim(text, MAX_BYTES)}}


def send(
    channel_settings: dict[str, Any], secrets: dict[str, Any], message: Message, *, timeout: float
) -> None:
    settings = parse_stored(Settings, channel_settings, "settings")
    keys = parse_stored(Secrets, secrets, "secrets")
    url = f"{settings.base_url}?{urlencode({'key': keys.key.get_secret_value()})}"
    where = f"WeCom robot at {shown(settings.base_url)}"
    _, raw = post_json(url, payload(message), timeout=timeout, label=where)
    check_answer(raw, where, ("errcode",), ("errmsg",))
