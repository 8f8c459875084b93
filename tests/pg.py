"""A throwaway PostgreSQL cluster (initdb + pg_ctl in a temp dir), for tests and benchmarks.

initdb refuses to run as root, so as root the cluster is owned by the `postgres` system
user (which Debian's postgresql package creates) and commands run through runuser.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SEARCH = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]


class PostgresUnavailable(RuntimeError):
    pass


def find_bin(name: str) -> str:
    for folder in SEARCH:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise PostgresUnavailable(f"{name} not found (install Debian's postgresql package)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_postgres(durable: bool = False) -> Iterator[str]:
    """Yield a superuser URL to a fresh cluster on 127.0.0.1; stop and delete it afterwards.

    `durable=False` turns fsync off: fine for tests, not for benchmarks that claim real numbers.
    """
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="yunheng-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    try:
        subprocess.run(
            [
                *prefix,
                initdb,
                "-D",
                str(data),
                "-U",
                "yunheng",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(base / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        raise PostgresUnavailable(
            f"could not start PostgreSQL: {detail.decode(errors='replace')[-500:]}"
        ) from exc
    try:
        yield f"postgresql+psycopg://yunheng@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)
