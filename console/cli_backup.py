"""`yunheng backup` and `yunheng restore` (the logic is in inventory/backup.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from console.cli_common import actor, fail, out, session
from inventory import audit
from inventory import backup as backups
from inventory.settings import get_settings


def backup_command(
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="The backup file to write (a tar archive)")
    ],
) -> None:
    """Back up the whole database while the app runs: SQLite with its online backup API,
    PostgreSQL with pg_dump. The file says what it is (backend, schema revision, time,
    Yunheng version) so a restore can refuse a mismatch."""
    try:
        made = backups.backup(get_settings().effective_database_url, out_file)
    except backups.BackupError as exc:
        fail(exc.message, exc.field)
    out.print(
        f"backed up the {made.backend} database (schema {made.alembic_revision}) to {out_file}: "
        f"{made.size} bytes, sha256 {made.sha256}",
        markup=False,
        soft_wrap=True,
    )


def restore_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A file made by `yunheng backup`")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace a database that is not empty")
    ] = False,
) -> None:
    """Replace the configured database with a backup, all of it or nothing, then migrate it
    forward if the backup is older. Stop the console first. Audited as database.restore."""
    try:
        done = backups.restore(get_settings().effective_database_url, file, replace=yes)
    except backups.BackupError as exc:
        fail(exc.message, exc.field)
    made = done.manifest
    detail = (
        f"restored {file.name}: {made.backend} backup of {made.created_at}, schema "
        f"{made.alembic_revision}, Yunheng {made.yunheng_version}, sha256 {made.sha256}"
        + (f"; migrated to {done.revision}" if done.migrated else "")
    )
    with session() as opened:
        audit.record(
            opened,
            actor=actor().username,
            action="database.restore",
            target_type="database",
            detail=detail,
        )
    out.print(detail, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
