"""A real console for browser tests: a seeded SQLite database, `yunheng serve` in a
subprocess on 127.0.0.1, and Debian's Chromium driven by Playwright.

Chromium is started the way this machine's network needs: headless, no sandbox (root in a
container), and with background networking off so it never calls home. Every request the page
makes is recorded; the tests assert that none left 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit
from urllib.request import urlopen

from cryptography.fernet import Fernet
from sqlmodel import Session

from console.demo import Login, seed
from inventory import migrate
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# Screenshots of every page the journeys visit: a test artefact, kept after the run.
SCREENSHOTS = Path(os.environ.get("YUNHENG_SCREENSHOTS", "test-artifacts/screenshots"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Console:
    url: str
    logins: dict[str, Login]
    settings: Settings
    log: Path
    requests_seen: list[str] = field(default_factory=list)

    def login_of(self, role: str) -> Login:
        return next(x for x in self.logins.values() if x.role.value == role)

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests_seen if urlsplit(u).hostname not in ("127.0.0.1", None)]


@contextmanager
def running_console(folder: Path, history_days: int = 90) -> Iterator[Console]:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite:///{data / 'yunheng.db'}",
        secret_key=Fernet.generate_key().decode(),
        alert_interval_seconds=1.0,
    )
    migrate.upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    with Session(engine) as session:
        logins = seed(
            session, SecretBox.from_settings(settings), actor="test", history_days=history_days
        )
        session.commit()
    engine.dispose()
    with serving(settings, folder / "serve.log") as url:
        yield Console(url, {x.username: x for x in logins}, settings, folder / "serve.log")


@contextmanager
def serving(settings: Settings, log: Path) -> Iterator[str]:
    """`yunheng serve` on a free 127.0.0.1 port against `settings`' database: its URL."""
    port = free_port()
    env = {
        **os.environ,
        "YUNHENG_DATA_DIR": str(settings.data_dir),
        "YUNHENG_DATABASE_URL": settings.effective_database_url,
        "YUNHENG_SECRET_KEY": settings.secret_key,
        "YUNHENG_ALERT_INTERVAL_SECONDS": str(settings.alert_interval_seconds),
    }
    yunheng = str(Path(sys.executable).with_name("yunheng"))
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [yunheng, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"yunheng serve exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urlopen(f"{url}/healthz", timeout=1) as response:  # noqa: S310 (our own URL)
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"yunheng serve not ready in 60 s: {log.read_text(errors='replace')[-2000:]}"
    )


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None


def start_serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`yunheng serve` on a free 127.0.0.1 port with `env` (YUNHENG_* settings) over this
    process's environment, once it answers /healthz: the process and its URL. For tests
    that kill or restart replicas themselves; the caller stops the process."""
    port = free_port()
    yunheng = str(Path(sys.executable).with_name("yunheng"))
    with log.open("ab") as sink:  # appended: a restarted replica keeps its predecessor's log
        proc = subprocess.Popen(
            [yunheng, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, url
