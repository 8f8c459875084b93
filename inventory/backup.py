"""Backups of the whole database, and restoring one: `yunheng backup` / `yunheng restore`.

A backup is one tar file: `manifest.json` (what it is: backend, Alembic revision, time,
Yunheng version, the payload's SHA-256) and the payload, either a SQLite database copied with
SQLite's online backup API (a consistent snapshot while the app writes) or a `pg_dump
--format=custom` archive (one MVCC snapshot). Decisions:

- Restore refuses before touching anything: not a Yunheng backup, a damaged payload, the
  other backend, a schema revision this code does not know (a newer Yunheng made it), or a
  database with data in it unless `replace` (`--yes`).
- Nothing half-done. SQLite: the payload is unpacked next to the target, checked and migrated
  there, then copied in with the backup API, which replaces the target in one transaction.
  PostgreSQL: `pg_restore --clean --if-exists --no-owner` writes the restore as SQL and psql
  runs it with `--single-transaction`, after dropping the target's own tables (a newer schema
  may have tables the dump lacks): all of it or none. An older backup is then migrated forward.
- The PostgreSQL client tools are looked for where Debian puts them, newest first, then on
  PATH; the password goes to them in PGPASSWORD, never on a command line.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from inventory import migrate
from inventory.db import make_engine
from inventory.errors import DomainError
from inventory.types import utcnow

FORMAT = "yunheng-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAYLOADS = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
URL_FIELD = "YUNHENG_DATABASE_URL"
# Bookkeeping rows a migrated but unused database already has.
NOT_DATA = frozenset({"alembic_version", "audit_chain_head"})
# Where Debian installs the PostgreSQL client programs, one folder per major version.
PG_ROOT = Path("/usr/lib/postgresql")


class BackupError(DomainError):
    pass


@dataclass(frozen=True)
class Manifest:
    backend: str
    alembic_revision: str
    created_at: str
    yunheng_version: str
    payload: str
    sha256: str
    size: int
    format: str = FORMAT
    format_version: int = FORMAT_VERSION


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    revision: str  # the database's revision now
    migrated: bool  # the backup was older and was migrated forward


def backend_of(url: str) -> str:
    name = sa.make_url(url).get_backend_name()
    if name not in PAYLOADS:
        raise BackupError(f"backup supports sqlite and postgresql, not {name}", field=URL_FIELD)
    return name


def backup(url: str, out: Path) -> Manifest:
    """Write a backup of the database at `url` to `out` (replaced only once complete)."""
    backend = backend_of(url)
    if out.is_dir():
        raise BackupError(f"{out} is a directory; give a file name", field="--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".yunheng-backup-") as work:
        payload = Path(work) / PAYLOADS[backend]
        if backend == "sqlite":
            _sqlite_copy(_sqlite_path(url, must_exist=True), payload)
            revision = _revision(f"sqlite:///{payload}")
        else:
            revision = _revision(url)
            _pg_dump(url, payload)
            if _revision(url) != revision:
                raise BackupError("the schema was migrated during the backup; run it again")
        if revision is None:
            raise BackupError("the database has no schema; nothing to back up", field=URL_FIELD)
        manifest = Manifest(
            backend=backend,
            alembic_revision=revision,
            created_at=utcnow().isoformat(timespec="seconds"),
            yunheng_version=_version(),
            payload=payload.name,
            sha256=_sha256(payload),
            size=payload.stat().st_size,
        )
        partial = Path(work) / "backup.tar"
        with tarfile.open(partial, "w") as tar:
            data = json.dumps(asdict(manifest), indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(payload, arcname=payload.name)
        os.replace(partial, out)
    return manifest


def read_manifest(file: Path, unpack_to: Path | None = None) -> Manifest:
    """The backup's manifest, checked; with `unpack_to`, its payload is unpacked and verified."""
    try:
        with tarfile.open(file, "r") as tar:
            raw = tar.extractfile(MANIFEST)
            if raw is None:
                raise KeyError(MANIFEST)
            manifest = Manifest(**json.loads(raw.read()))
            if manifest.format != FORMAT or manifest.payload not in PAYLOADS.values():
                raise ValueError(manifest.format)
            if unpack_to is not None:
                tar.extract(manifest.payload, unpack_to, filter="data")
    except FileNotFoundError as exc:
        raise BackupError(f"no such file: {file}", field="FILE") from exc
    except tarfile.ReadError as exc:
        raise BackupError(
            f"{file} is not a Yunheng backup (not a tar archive)", field="FILE"
        ) from exc
    except (tarfile.TarError, KeyError, ValueError, TypeError, OSError) as exc:
        raise BackupError(f"{file} is not a Yunheng backup ({exc!r})", field="FILE") from exc
    if manifest.format_version > FORMAT_VERSION:
        raise BackupError(
            f"{file} is backup format {manifest.format_version}; this Yunheng reads up to "
            f"{FORMAT_VERSION}; restore with a newer Yunheng",
            field="FILE",
        )
    if unpack_to is not None and _sha256(unpack_to / manifest.payload) != manifest.sha256:
        raise BackupError(
            f"{file} is damaged: its payload does not match its checksum", field="FILE"
        )
    return manifest


def restore(url: str, file: Path, *, replace: bool = False) -> Restored:
    """Replace the database at `url` with the backup in `file`, then migrate it to head."""
    backend = backend_of(url)
    manifest = read_manifest(file)
    if manifest.backend != backend:
        raise BackupError(
            f"{file} is a {manifest.backend} backup; the configured database is {backend}",
            field="FILE",
        )
    try:
        ScriptDirectory.from_config(migrate.alembic_config(url)).get_revision(
            manifest.alembic_revision
        )
    except CommandError as exc:
        raise BackupError(
            f"{file} was made at schema revision {manifest.alembic_revision} by Yunheng "
            f"{manifest.yunheng_version}, which this Yunheng ({_version()}) does not know; "
            "restore it with that version or newer",
            field="FILE",
        ) from exc
    rows = data_rows(url)
    if rows and not replace:
        tables = ", ".join(f"{name}: {count}" for name, count in sorted(rows.items()))
        raise BackupError(
            f"the database is not empty (rows in {tables}); pass --yes to replace it",
            field="--yes",
        )
    migrated = manifest.alembic_revision != migrate.head_revision()
    if backend == "sqlite":
        target = _sqlite_path(url, must_exist=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".yunheng-restore-") as work:
            unpacked = Path(work)
            read_manifest(file, unpack_to=unpacked)
            staged = unpacked / manifest.payload
            if migrated:
                migrate.upgrade(f"sqlite:///{staged}")
            _sqlite_copy(staged, target)
    else:
        with tempfile.TemporaryDirectory(prefix="yunheng-restore-") as work:
            read_manifest(file, unpack_to=Path(work))
            _pg_restore(url, Path(work) / manifest.payload, Path(work))
        if migrated:
            migrate.upgrade(url)
    revision = _revision(url)
    if revision != migrate.head_revision():
        raise BackupError(f"restored, but the database is at {revision}; run `yunheng db upgrade`")
    return Restored(manifest, revision or "", migrated)


def data_rows(url: str) -> dict[str, int]:
    """Tables holding rows (bookkeeping left out): what a restore would throw away."""
    if backend_of(url) == "sqlite" and not _sqlite_path(url, must_exist=False).exists():
        return {}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found: dict[str, int] = {}
            for name in sa.inspect(conn).get_table_names():
                if name in NOT_DATA:
                    continue
                table = sa.table(name)
                count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                if count:
                    found[name] = int(count)
            return found
    except sa.exc.OperationalError as exc:
        raise BackupError(f"cannot open the database: {exc.orig}", field=URL_FIELD) from exc
    finally:
        engine.dispose()


# --- SQLite --------------------------------------------------------------------------------


def _sqlite_path(url: str, *, must_exist: bool) -> Path:
    database = sa.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("a SQLite database must be a file for backup/restore", field=URL_FIELD)
    path = Path(database)
    if must_exist and not path.exists():
        raise BackupError(f"no SQLite database at {path}", field=URL_FIELD)
    return path


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while others write; the target is
    replaced in one transaction, so readers see all of the old or all of the new."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        problem = src.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"SQLite reports the database damaged: {problem}")
        src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup failed: {exc}", field=URL_FIELD) from exc
    finally:
        dst.close()
        src.close()


# --- PostgreSQL ----------------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """A PostgreSQL client program: Debian's newest /usr/lib/postgresql/<v>/bin, then PATH."""
    folders = sorted(
        PG_ROOT.glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in folders:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client (Debian: postgresql-client) "
            "or put it on PATH",
            field=name,
        )
    return found


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and an environment carrying it."""
    parsed = sa.make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None)
    return uri.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str, field: str) -> None:
    # A list of arguments, no shell; the program is a PostgreSQL tool found by pg_tool().
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise BackupError(f"{what} failed: {tail}", field=field)


def _pg_dump(url: str, payload: Path) -> None:
    uri, env = _libpq(url)
    command = [pg_tool("pg_dump"), "--format=custom", f"--file={payload}", f"--dbname={uri}"]
    _run(command, env, "pg_dump", URL_FIELD)


def _pg_restore(url: str, payload: Path, work: Path) -> None:
    uri, env = _libpq(url)
    script = work / "restore.sql"
    command = [pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "-f", str(script)]
    _run([*command, str(payload)], env, "pg_restore", "FILE")
    prelude = work / "prelude.sql"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()
    drops = [f'DROP TABLE IF EXISTS "{name}" CASCADE;' for name in tables]
    drops.append("DROP FUNCTION IF EXISTS audit_event_append_only() CASCADE;")
    prelude.write_text("\n".join(drops) + "\n")
    psql = [pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
    _run([*psql, f"--dbname={uri}", "-f", str(prelude), "-f", str(script)], env, "psql", "FILE")


# --- both ----------------------------------------------------------------------------------


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return migrate.current_revision(engine)
    except sa.exc.OperationalError as exc:
        raise BackupError(f"cannot open the database: {exc.orig}", field=URL_FIELD) from exc
    finally:
        engine.dispose()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version() -> str:
    try:
        return importlib.metadata.version("yunheng")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
