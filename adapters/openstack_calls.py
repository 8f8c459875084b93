"""Calling an OpenStack cloud: the connection, bounded retries with backoff, and errors in words.

Every cloud call goes through `Caller`, so each failure names the cloud, the operation and
the cause, and only faults worth retrying (no connection, a gateway or service answering
5xx, a request time-out) are retried. A wrong password is never retried: it will not heal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from adapters.base import AdapterError

if TYPE_CHECKING:
    from openstack.connection import Connection

    from adapters.openstack_models import OpenStackCredentials, OpenStackSettings

T = TypeVar("T")
log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_CAUSE = 400  # characters of the cloud's answer kept in an error


class Caller:
    """Runs one cloud operation with bounded retries and exponential backoff."""

    def __init__(
        self,
        cloud: str,
        *,
        retries: int,
        backoff: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cloud = cloud
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep

    def __call__(self, operation: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except AdapterError:
                raise  # already named by an inner call
            except Exception as exc:
                if not retry or not is_transient(exc) or attempt >= self.retries:
                    tries = f" (after {attempt + 1} tries)" if attempt else ""
                    raise self.error(operation, f"{describe(exc)}{tries}") from exc
                delay = self.backoff * 2**attempt
                log.info(
                    "OpenStack cloud %s: %s failed (%s); retry %d/%d in %.1f s",
                    self.cloud,
                    operation,
                    type(exc).__name__,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                self._sleep(delay)
                attempt += 1

    def error(self, operation: str, cause: str) -> AdapterError:
        return AdapterError(f"OpenStack cloud {self.cloud}: {operation} failed: {cause}")


def status_of(exc: BaseException) -> int | None:
    if isinstance(exc, sdk_exc.HttpException):
        return exc.status_code
    if isinstance(exc, ksa_exc.HttpError):
        return int(exc.http_status)
    return None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ksa_exc.ConnectionError | ksa_exc.DiscoveryFailure):
        return True  # no answer at all: a restarting service or a dropped connection
    status = status_of(exc)
    return status is not None and status in TRANSIENT_STATUS


def describe(exc: BaseException) -> str:
    """The cause in words an admin can act on; never the credentials."""
    status = status_of(exc)
    if status == 401:
        return (
            "authentication refused (HTTP 401): check the username, password or "
            "application credential, and the project and domain names"
        )
    if status == 403:
        return f"not allowed (HTTP 403): {_short(exc)}"
    if isinstance(exc, ksa_exc.ConnectFailure | ksa_exc.DiscoveryFailure):
        return f"cannot reach the API: {_short(exc)}"
    if isinstance(exc, ksa_exc.ConnectionError):
        return f"connection failed: {_short(exc)}"
    if isinstance(exc, ksa_exc.MissingRequiredOptions | ksa_exc.AuthPluginException):
        return f"incomplete authentication settings: {_short(exc)}"
    prefix = f"HTTP {status}: " if status is not None else f"{type(exc).__name__}: "
    return prefix + _short(exc)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= MAX_CAUSE else text[: MAX_CAUSE - 1] + "…"


def cloud_label(settings: OpenStackSettings) -> str:
    """How errors name the cloud: the clouds.yaml entry or the auth URL, and the region."""
    where = repr(settings.cloud) if settings.cloud else (settings.auth_url or "?")
    return f"{where} (region {settings.region_name})" if settings.region_name else where


def open_connection(
    settings: OpenStackSettings, credentials: OpenStackCredentials | None
) -> Connection:
    """Build (not yet authenticate) a connection from clouds.yaml and/or explicit settings.

    Environment variables (OS_*) are never read: a cloud's configuration lives in its
    settings, not in whatever shell started the server.
    """
    from openstack.config.loader import OpenStackConfig
    from openstack.connection import Connection

    auth: dict[str, Any] = {}
    options: dict[str, Any] = {
        "api_timeout": settings.request_timeout_seconds,
        "interface": settings.interface,
        "verify": settings.verify_tls,
        # Retries are ours (Caller), so keystoneauth must not multiply them.
        "connect_retries": 0,
        "status_code_retries": 0,
    }
    if settings.ca_file:
        options["cacert"] = settings.ca_file
    if settings.region_name:
        options["region_name"] = settings.region_name
    for key in ("auth_url", "project_name", "project_domain_name", "user_domain_name"):
        value = getattr(settings, key)
        if value:
            auth[key] = value
    if settings.username:
        auth["username"] = settings.username
    if credentials is not None and credentials.application_credential_id:
        options["auth_type"] = "v3applicationcredential"
        secret = credentials.application_credential_secret
        auth["application_credential_id"] = credentials.application_credential_id
        auth["application_credential_secret"] = secret.get_secret_value() if secret else ""
        # An application credential carries its own project: scoping it again is an error.
        for key in ("project_name", "project_domain_name", "username", "user_domain_name"):
            auth.pop(key, None)
    elif credentials is not None and credentials.password is not None:
        auth["password"] = credentials.password.get_secret_value()
        if settings.cloud is None:
            options["auth_type"] = "password"
    elif settings.cloud is None:
        options["auth_type"] = "password"
    if auth:
        options["auth"] = auth
    files = [settings.clouds_yaml] if settings.clouds_yaml else None
    try:
        config = OpenStackConfig(
            config_files=files,
            load_yaml_config=settings.cloud is not None,
            load_envvars=False,
        )
        region = config.get_one(cloud=settings.cloud, **options)
    except Exception as exc:  # a missing entry or an unreadable clouds.yaml
        raise AdapterError(
            f"OpenStack cloud {cloud_label(settings)}: connect failed: {describe(exc)}"
        ) from exc
    return Connection(config=region)
