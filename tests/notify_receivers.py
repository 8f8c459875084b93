"""Local stand-ins for the places notifications go, on 127.0.0.1 only.

- Receiver: an HTTP server that records every request and answers like the real endpoint
  would, checking what that endpoint checks. The DingTalk and Feishu checks recompute the
  signature from their published algorithms (independently of alerts.notifiers) and answer
  with their real error codes when it does not match or the timestamp is stale.
- Mailbox: an SMTP server (aiosmtpd) with STARTTLS on a certificate made here and a login.
- closed_port(): a port nothing listens on, for "the receiver is down".
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Captured:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# What the endpoint answers: (HTTP status, JSON body).
Answer = tuple[int, dict[str, Any]]
Check = Callable[[Captured], Answer]


def ok(_: Captured) -> Answer:
    return 200, {"ok": True}


@dataclass
class Receiver:
    url: str
    requests: list[Captured] = field(default_factory=list)
    check: Check = ok

    def answer_with(self, check: Check) -> None:
        self.check = check


@contextmanager
def receiver(check: Check = ok) -> Iterator[Receiver]:
    """An HTTP server on a free 127.0.0.1 port, recording requests, for the test's length."""
    state = Receiver(url="", check=check)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            parts = urlsplit(self.path)
            captured = Captured(
                method="POST",
                path=unquote(parts.path),
                # keep_blank_values: a DingTalk sign must arrive, empty or not
                query={k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            with lock:
                state.requests.append(captured)
            status, body = state.check(captured)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet test output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    """A port that was free a moment ago and that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- What the real robots check ------------------------------------------------------------


def dingtalk_check(token: str, secret: str | None) -> Check:
    """DingTalk's robot/send: access_token in the query; with 加签, timestamp (ms, within an
    hour) and sign = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), URL-encoded."""

    def check(request: Captured) -> Answer:
        if request.query.get("access_token") != token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        if secret is not None:
            stamp = request.query.get("timestamp", "")
            if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > 3_600_000:
                return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
            mac = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256)
            # parse_qs already undid the URL-encoding of the query value.
            if request.query.get("sign") != base64.b64encode(mac.digest()).decode():
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
        body = request.json
        if body.get("msgtype") != "markdown" or not body["markdown"].get("text"):
            return 200, {"errcode": 40035, "errmsg": "missing markdown text"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    return check


def feishu_check(token: str, secret: str | None) -> Check:
    """Feishu's bot/v2/hook/{token}: with 签名校验, the body's timestamp (s, within an hour)
    and sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=""))."""

    def check(request: Captured) -> Answer:
        if not request.path.endswith(f"/{token}"):
            return 200, {
                "code": 19001,
                "msg": "param invalid: incoming webhook access token invalid",
            }
        body = request.json
        if secret is not None:
            stamp = str(body.get("timestamp", ""))
            if not stamp.isdigit() or abs(time.time() - int(stamp)) > 3600:
                return 200, {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour",
                }
            key = f"{stamp}\n{secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if body.get("sign") != expected:
                return 200, {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour",
                }
        if body.get("msg_type") not in ("text", "post", "interactive"):
            return 200, {"code": 19002, "msg": "params error, msg_type need"}
        return 200, {"code": 0, "msg": "success", "data": {}}

    return check


def wecom_check(key: str) -> Check:
    def check(request: Captured) -> Answer:
        if request.query.get("key") != key:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        body = request.json
        content = body.get("markdown", {}).get("content", "")
        if body.get("msgtype") != "markdown" or not content:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if len(content.encode()) > 4096:
            return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    return check


# --- SMTP ----------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Mailbox:
    host: str
    port: int
    ca_file: Path
    mails: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


@contextmanager
def mailbox(folder: Path, *, username: str, password: str) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS and then a login."""
    cert, key = self_signed(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox(host="127.0.0.1", port=closed_port(), ca_file=cert)

    class Handler:
        async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: SMTP, session: Session, envelope: Envelope
        ) -> str:
            raw = envelope.original_content or b""
            mail = message_from_bytes(raw, policy=policy.default)
            assert isinstance(mail, EmailMessage)
            box.mails.append((envelope, mail))
            return "250 OK"

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            box.logins.append(data.login.decode())
            if data.login.decode() == username and data.password.decode() == password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    controller = Controller(
        Handler(),
        hostname=box.host,
        port=box.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# --- An incident to notify about -----------------------------------------------------------


def incident_with_alerts(
    session: Any,
    now: dt.datetime,
    *,
    alerts: int = 2,
    severity: str = "P1",
    name: str = "HostDown",
) -> Any:
    """An open incident grouped by cloud, with `alerts` firing alerts (committed)."""
    from inventory.models import Alert, AlertSource, AlertState, Incident, IncidentStatus, Severity

    incident = Incident(
        group_key=f"alertname={name},cloud=cloud-os",
        group_labels={"alertname": name, "cloud": "cloud-os"},
        title=f"{name} on cloud-os",
        severity=Severity(severity),
        status=IncidentStatus.open,
        created_at=now,
    )
    session.add(incident)
    session.flush()
    for index in range(alerts):
        labels = {"alertname": name, "cloud": "cloud-os", "host": f"sim-host-{index}"}
        session.add(
            Alert(
                # Unique per call: each incident here stands for a separate episode.
                fingerprint=hashlib.sha256(f"{labels}{uuid.uuid4()}".encode()).hexdigest(),
                source=AlertSource.builtin,
                name=name,
                labels=labels,
                annotations={"summary": f"host sim-host-{index} does not answer"},
                severity=Severity(severity),
                state=AlertState.firing,
                active_since=now - dt.timedelta(minutes=3),
                fired_at=now - dt.timedelta(minutes=2),
                last_seen_at=now,
                incident_id=incident.id,
            )
        )
    session.commit()
    return incident
