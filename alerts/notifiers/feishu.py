"""Feishu / Lark (飞书) group robot: an interactive card to its webhook.

With 签名校验 on, the body carries `timestamp` (seconds, as a string) and
`sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))`: unlike DingTalk the
string is the key and the message is empty. Feishu refuses a timestamp over an hour off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr

from alerts.message import Message
from alerts.notifiers._http import post_json, shown
from alerts.notifiers.base import HttpUrl, Strict, parse_stored
from alerts.notifiers.robots import check_answer, trim

DEFAULT_URL = "https://open.feishu.cn/open-apis/bot/v2/hook/"  # Lark: open.larksuite.com
MAX_BYTES = 20_000  # Feishu takes up to 20 KB of request body
TEMPLATE_BY_SEVERITY = {"P1": "red", "P2": "orange", "P3": "yellow", "P4": "blue"}


class Settings(Strict):
    base_url: HttpUrl = DEFAULT_URL


class Secrets(Strict):
    hook_token: SecretStr = Field(description="The last part of the robot's webhook URL")
    secret: SecretStr | None = Field(default=None, description="The 签名校验 secret")


def sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def payload(message: Message) -> dict[str, Any]:
    template = (
        "green" if message.status == "resolved" else TEMPLATE_BY_SEVERITY.get(message.severity)
    )
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {"tag": "plain_text", "content": message.title},
                "template": template or "blue",
            },
            "elements": [{"tag": "markdown", "content": trim(message.text, MAX_BYTES - 2_000)}],
        },
    }


def send(
    channel_settings: dict[str, Any], secrets: dict[str, Any], message: Message, *, timeout: float
) -> None:
    settings = parse_stored(Settings, channel_settings, "settings")
    keys = parse_stored(Secrets, secrets, "secrets")
    url = settings.base_url.rstrip("/") + "/" + quote(keys.hook_token.get_secret_value(), safe="")
    body = payload(message)
    if keys.secret is not None:
        stamp = int(time.time())
        body = {
            "timestamp": str(stamp),
            "sign": sign(keys.secret.get_secret_value(), stamp),
            **body,
        }
    where = f"Feishu robot at {shown(settings.base_url)}"
    _, raw = post_json(url, body, timeout=timeout, label=where)
    # Newer answers say {"code": 0, "msg": "success"}, older ones {"StatusCode": 0, ...}.
    check_answer(raw, where, ("code", "StatusCode"), ("msg", "StatusMessage"))
