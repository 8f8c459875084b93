"""What the notifier modules share: strict settings models and URL checks."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from alerts.notifiers.errors import NotifyError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Unknown keys are an error: a misspelt `sign_secret` must not silently disable signing."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class ConfigError(ValueError):
    """Settings or secrets do not fit a notifier; `field` names the culprit, never the value."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse(model: type[M], data: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        name = f"{where}.{loc}" if loc else where
        # The message and the place only: the input may be a secret.
        raise ConfigError(f"{name}: {first['msg']}", name) from None


def parse_stored(model: type[M], data: dict[str, Any], where: str) -> M:
    """Parse what was stored; broken settings cannot get better by retrying."""
    try:
        return parse(model, data, where)
    except ConfigError as exc:
        raise NotifyError(f"channel {exc}", retry=False) from None
