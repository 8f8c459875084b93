"""What the chat robots share: trimming Markdown to their size limits and reading their
answers, which are HTTP 200 with an error code inside."""

from __future__ import annotations

from alerts.notifiers._http import json_answer
from alerts.notifiers.errors import NotifyError


def trim(text: str, max_bytes: int) -> str:
    """Cut at a line end within `max_bytes` of UTF-8, saying that it was cut."""
    if len(text.encode()) <= max_bytes:
        return text
    marker = "\n…"
    budget = max_bytes - len(marker.encode())
    cut = text.encode()[:budget].decode("utf-8", "ignore")
    if "\n" in cut:
        cut = cut[: cut.rfind("\n")]
    return cut + marker


def check_answer(
    raw: bytes, where: str, code_keys: tuple[str, ...], msg_keys: tuple[str, ...]
) -> None:
    answer = json_answer(raw, where)
    code = next((answer[k] for k in code_keys if k in answer), None)
    if code in (0, "0"):
        return
    message = next((answer[k] for k in msg_keys if k in answer), "")
    if code is None:
        raise NotifyError(f"{where} answered without a result code: {str(answer)[:200]}")
    raise NotifyError(f"{where} refused the message: code {code}: {message}")
