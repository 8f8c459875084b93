"""One libcloud driver behind named, bounded, retried calls.

Every call is made through `LibcloudCloud.call(operation, fn)`: the driver's HTTP timeout
bounds each request, a transient failure (connection refused or reset, a time-out, HTTP 429
or 5xx) is retried a few times with exponential backoff, and whatever still fails becomes an
AdapterError naming the cloud, the operation and the cause, in words an admin can act on.
Credentials are never part of a message: causes are rebuilt from the exception's parts,
not from request URLs.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from libcloud.common.exceptions import BaseHTTPError, RateLimitReachedError
from libcloud.common.types import (
    InvalidCredsError,
    LibcloudError,
    MalformedResponseError,
    ProviderError,
)
from libcloud.compute.providers import get_driver

from adapters.base import AdapterError
from adapters.libcloud_settings import LibcloudCredentials, LibcloudSettings

T = TypeVar("T")
log = logging.getLogger(__name__)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


class LibcloudCallError(AdapterError):
    """A failed driver call; `transient` says whether trying again could help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class LibcloudCloud:
    """The driver of one configured cloud, built on first use."""

    def __init__(self, settings: LibcloudSettings, credentials: LibcloudCredentials | None):
        self.settings = settings
        self.credentials = credentials
        self._driver: Any = None
        options = settings.driver_options
        endpoint = f" at {options['host']}:{options.get('port', '')}" if "host" in options else ""
        region = f" {settings.region}" if settings.region else ""
        self.where = f"libcloud {settings.driver}{region}{endpoint}".rstrip(":")

    @property
    def driver(self) -> Any:
        if self._driver is None:
            self._driver = self._build()
        return self._driver

    def _build(self) -> Any:
        if self.credentials is None:
            raise AdapterError(f"{self.where}: connect failed: no credentials (key) are set")
        cls = get_driver(self.settings.driver)
        params = inspect.signature(cls.__init__).parameters
        open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs: dict[str, Any] = dict(self.settings.driver_options)
        if open_ended or "timeout" in params:
            kwargs["timeout"] = self.settings.timeout_seconds
        if self.settings.region is not None:
            if not (open_ended or "region" in params):
                raise AdapterError(f"{self.where}: connect failed: the driver takes no region")
            kwargs["region"] = self.settings.region
        args: list[Any] = [self.credentials.key]
        if self.credentials.secret is not None:
            args.append(self.credentials.secret.get_secret_value())
        try:
            return cls(*args, **kwargs)
        except Exception as exc:  # a bad region or option: say which, never the secret
            raise AdapterError(f"{self.where}: connect failed: {describe(exc)}") from None

    def accepts(self, method: str, argument: str) -> bool:
        """Does the driver's `method` take `argument` (ex_metadata, location…)?"""
        params = inspect.signature(getattr(self.driver, method)).parameters
        return argument in params

    def call(self, operation: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        """Run one driver call; retry transient failures; raise AdapterError otherwise."""
        attempts = 1 + (self.settings.retries if retry else 0)
        delay = self.settings.backoff_seconds
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except AdapterError:
                raise
            except Exception as exc:
                cause = describe(exc, self.settings.timeout_seconds)
                if attempt < attempts and transient(exc):
                    log.info("%s: %s failed (%s); retry %d", self.where, operation, cause, attempt)
                    time.sleep(delay)
                    delay *= 2
                    continue
                tries = f" after {attempt} tries" if attempt > 1 else ""
                raise LibcloudCallError(
                    f"{self.where}: {operation} failed{tries}: {cause}", transient=transient(exc)
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover


def transient(exc: BaseException) -> bool:
    """Worth another try: the network or an overloaded API, not a refusal."""
    if isinstance(exc, InvalidCredsError):
        return False
    if isinstance(exc, requests.ConnectionError | requests.Timeout | ConnectionError):
        return True
    if isinstance(exc, TimeoutError | RateLimitReachedError):
        return True
    code = getattr(exc, "http_code", None) or getattr(exc, "code", None)
    return isinstance(code, int) and (code == 429 or code >= 500)


def describe(exc: BaseException, timeout: float | None = None) -> str:
    """The cause in words, without URLs (which may carry signatures) or secrets."""
    if isinstance(exc, InvalidCredsError):
        return f"credentials rejected ({exc.value})"
    if isinstance(exc, requests.Timeout | TimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return f"no answer{within} (time-out)"
    if isinstance(exc, requests.ConnectionError | ConnectionError):
        found = _ERRNO.search(str(exc))
        return f"cannot connect: {found.group(1).strip() if found else type(exc).__name__}"
    if isinstance(exc, MalformedResponseError):
        return f"malformed answer: {exc.value}"
    if isinstance(exc, ProviderError):
        return f"HTTP {exc.http_code}: {exc.value}"
    if isinstance(exc, BaseHTTPError):
        return f"HTTP {exc.code}: {exc.message or 'no details in the answer'}"
    if isinstance(exc, LibcloudError):
        return str(exc.value)
    return f"{type(exc).__name__}: {exc}"[:500]
