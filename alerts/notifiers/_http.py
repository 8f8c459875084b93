"""One JSON POST with a time limit, for every HTTP notifier; failures become NotifyError.

Robot URLs carry their token (DingTalk's access_token, WeCom's key, Feishu's hook id), so
errors name the endpoint by a redacted `shown` string, never by the URL itself.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

from alerts.notifiers.errors import NotifyError

_USER_AGENT = f"yunheng/{version('yunheng')}"
_SNIPPET = 300  # bytes of an error answer kept in the delivery's reason
# Answers worth trying again: the receiver is busy or asks us to slow down. Any other 4xx
# is our request or our credentials, which the next attempt would get wrong the same way.
RETRYABLE_4XX = frozenset({408, 425, 429})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected webhook is a misconfiguration: following it would re-POST a page (and
    perhaps its bearer token) to wherever the redirect points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect())


def shown(url: str) -> str:
    """scheme://host[:port] only: paths and queries may hold robot tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def post_json(
    url: str,
    body: dict[str, Any],
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    label: str | None = None,
) -> tuple[int, bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    return post_bytes(url, data, timeout=timeout, headers=headers, label=label)


def post_bytes(
    url: str,
    data: bytes,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    label: str | None = None,
) -> tuple[int, bytes]:
    where = label or shown(url)
    try:
        request = urllib.request.Request(  # noqa: S310 - the settings models allow http(s) only
            url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": _USER_AGENT,
                **(headers or {}),
            },
        )
        with _opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read(1 << 20)
    except ValueError:
        # urllib's own message would quote the URL, and with it a robot's token.
        raise NotifyError(f"{where}: the URL or a header is malformed", retry=False) from None
    except urllib.error.HTTPError as exc:
        snippet = exc.read(_SNIPPET).decode("utf-8", "replace").strip()
        retry = exc.code >= 500 or exc.code in RETRYABLE_4XX
        if 300 <= exc.code < 400:
            raise NotifyError(
                f"{where} answered HTTP {exc.code} (a redirect, not followed)", retry=False
            ) from None
        raise NotifyError(
            f"{where} answered HTTP {exc.code}" + (f": {snippet}" if snippet else ""), retry=retry
        ) from None
    except urllib.error.URLError as exc:
        raise NotifyError(f"cannot reach {where}: {exc.reason}") from None
    except TimeoutError:
        raise NotifyError(f"no answer from {where} within {timeout:g} s") from None
    except OSError as exc:  # a reset connection halfway through the answer
        raise NotifyError(f"connection to {where} failed: {exc}") from None


def json_answer(raw: bytes, where: str) -> dict[str, Any]:
    """The robots answer 200 with an error code inside; a non-JSON answer is a failure too."""
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        raise NotifyError(f"{where} answered with something that is not JSON") from None
    if not isinstance(answer, dict):
        raise NotifyError(f"{where} answered with JSON that is not an object")
    return answer
