"""DingTalk (钉钉) group robot: a Markdown message to its webhook.

With 加签 (signing) on, each request carries `timestamp` (milliseconds) and
`sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))` in the
query string; DingTalk refuses a timestamp more than an hour off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote_plus, urlencode

from pydantic import Field, SecretStr

from alerts.message import Message
from alerts.notifiers._http import post_json, shown
from alerts.notifiers.base import HttpUrl, Strict, parse_stored
from alerts.notifiers.robots import check_answer, trim

DEFAULT_URL = "https://oapi.dingtalk.com/robot/send"
MAX_BYTES = 18_000  # DingTalk's limit is 20,000 bytes of body


class Settings(Strict):
    # An intranet relay or a test receiver may stand in for DingTalk's own host.
    base_url: HttpUrl = DEFAULT_URL
    at_mobiles: list[str] = Field(default_factory=list, description="Mobiles to @ in the group")
    at_all: bool = False


class Secrets(Strict):
    access_token: SecretStr
    secret: SecretStr | None = Field(default=None, description="The SEC… signing secret")


def sign(secret: str, timestamp_ms: int) -> str:
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def payload(message: Message, settings: Settings) -> dict[str, Any]:
    text = f"### {message.title}\n\n" + message.text.replace("\n", "\n\n")
    if settings.at_mobiles:  # DingTalk only rings the people whose @mobile is in the text
        text += "\n\n" + " ".join(f"@{m}" for m in settings.at_mobiles)
    return {
        "msgtype": "markdown",
        "markdown": {"title": message.title, "text": trim(text, MAX_BYTES)},
        "at": {"atMobiles": settings.at_mobiles, "isAtAll": settings.at_all},
    }


def send(
    channel_settings: dict[str, Any], secrets: dict[str, Any], message: Message, *, timeout: float
) -> None:
    settings = parse_stored(Settings, channel_settings, "settings")
    keys = parse_stored(Secrets, secrets, "secrets")
    query = {"access_token": keys.access_token.get_secret_value()}
    url = f"{settings.base_url}?{urlencode(query)}"
    if keys.secret is not None:
        stamp = int(time.time() * 1000)
        url += f"&timestamp={stamp}&sign={sign(keys.secret.get_secret_value(), stamp)}"
    where = f"DingTalk robot at {shown(settings.base_url)}"
    _, raw = post_json(url, payload(message, settings), timeout=timeout, label=where)
    check_answer(raw, where, ("errcode",), ("errmsg",))
