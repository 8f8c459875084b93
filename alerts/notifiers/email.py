"""Email over SMTP: implicit TLS (`ssl`, port 465), `starttls` (587) or plain (`none`, 25,
for an intranet relay), with optional login. The Message-ID comes from the delivery key, so
a mail client shows a resent notification as the same mail."""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from alerts.message import Message
from alerts.notifiers.base import Strict, parse_stored
from alerts.notifiers.errors import NotifyError

DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
_ADDRESS = r"^[^@\s<>]+@[^@\s<>]+$"


class Settings(Strict):
    host: str = Field(min_length=1, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535, description="By security if unset")
    security: Literal["starttls", "ssl", "none"] = "starttls"
    from_addr: str = Field(pattern=_ADDRESS)
    to: list[str] = Field(min_length=1)
    username: str | None = None
    ca_file: str | None = Field(default=None, description="PEM bundle for a private CA")
    verify_tls: bool = True

    @model_validator(mode="after")
    def _addresses(self) -> Settings:
        for index, address in enumerate(self.to):
            if not re.match(_ADDRESS, address):
                raise ValueError(f"to[{index}] is not an email address")
        return self


class Secrets(Strict):
    password: SecretStr | None = None


def _tls(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify_tls:  # an intranet relay with a self-made certificate
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def compose(message: Message, settings: Settings) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = settings.from_addr
    mail["To"] = ", ".join(settings.to)
    mail["Date"] = formatdate(message.created_at.timestamp(), localtime=False)
    mail["Message-ID"] = f"<{hashlib.sha256(message.key.encode()).hexdigest()[:32]}@yunheng>"
    mail["X-Yunheng-Delivery"] = message.key
    mail.set_content(message.text.replace("**", ""))
    return mail


def send(
    channel_settings: dict[str, Any], secrets: dict[str, Any], message: Message, *, timeout: float
) -> None:
    settings = parse_stored(Settings, channel_settings, "settings")
    keys = parse_stored(Secrets, secrets, "secrets")
    port = settings.port or DEFAULT_PORTS[settings.security]
    where = f"SMTP server {settings.host}:{port}"
    mail = compose(message, settings)
    try:
        client: smtplib.SMTP
        if settings.security == "ssl":
            client = smtplib.SMTP_SSL(settings.host, port, timeout=timeout, context=_tls(settings))
        else:
            client = smtplib.SMTP(settings.host, port, timeout=timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=_tls(settings))
            if settings.username:
                password = keys.password.get_secret_value() if keys.password else ""
                client.login(settings.username, password)
            refused = client.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(f"{where} refused the login: {exc.smtp_code}", retry=False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise NotifyError(f"{where} refused every recipient: {sorted(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        detail = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        raise NotifyError(f"{where} answered {exc.smtp_code}: {detail}") from None
    except smtplib.SMTPException as exc:
        raise NotifyError(f"{where}: {exc}") from None
    except ssl.SSLError as exc:
        raise NotifyError(f"TLS with {where} failed: {exc.reason}", retry=False) from None
    except (TimeoutError, OSError) as exc:
        raise NotifyError(f"cannot reach {where}: {exc}") from None
    if refused:
        raise NotifyError(f"{where} refused some recipients: {sorted(refused)}", retry=False)
