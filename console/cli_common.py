"""What every `yunheng` command shares: consoles, the acting identity, a checked session."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import Session

from inventory import migrate
from inventory.access import Viewer
from inventory.crypto import SecretBox, SecretBoxError
from inventory.db import engine_from_settings, session_scope
from inventory.errors import DomainError
from inventory.settings import get_settings

out = Console()
err = Console(stderr=True)


def actor() -> Viewer:
    return Viewer.system(f"cli:{getpass.getuser()}")


def fail(message: str, field: str | None = None) -> NoReturn:
    # Escaped: a cloud's answer may contain [brackets] that Rich would take for markup.
    text = escape(f"{field + ': ' if field else ''}{message}")
    err.print(f"[red]error:[/red] {text}")
    raise typer.Exit(2)


@contextmanager
def session() -> Iterator[Session]:
    engine = engine_from_settings(get_settings())
    if not migrate.is_current(engine):
        fail("the database is not migrated to the current schema; run `yunheng db upgrade`")
    try:
        with session_scope(engine) as opened:
            yield opened
    except DomainError as exc:
        fail(exc.message, exc.field)
    except SecretBoxError as exc:
        fail(str(exc), "YUNHENG_SECRET_KEY")
    finally:
        engine.dispose()


def box() -> SecretBox:
    try:
        return SecretBox.from_settings(get_settings())
    except SecretBoxError as exc:
        fail(str(exc), "YUNHENG_SECRET_KEY")


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
