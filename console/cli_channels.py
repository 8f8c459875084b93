"""`yunheng channel add|list|test`: notification channels from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from alerts import dispatch
from alerts.notifiers import channels
from console import cli_common as common
from inventory.models import ChannelKind, DeliveryStatus
from inventory.paging import PageParams
from inventory.settings import get_settings
from inventory.types import utcnow

channel_app = typer.Typer(help="Notification channels.", no_args_is_help=True)

KINDS = ", ".join(k.value for k in ChannelKind)


def _settings(pairs: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            common.fail(f"expected KEY=VALUE, got {pair!r}", "--setting")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


def _secrets(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        common.fail(f"not valid JSON ({exc.msg})", "--secrets-file")
    if not isinstance(data, dict):
        common.fail("must hold a JSON object", "--secrets-file")
    return data


@channel_app.command("add")
def channel_add(
    name: Annotated[str, typer.Argument(help="Unique channel name")],
    kind: Annotated[str, typer.Option(help=f"One of: {KINDS}")],
    setting: Annotated[
        list[str] | None,
        typer.Option(help="Channel setting KEY=VALUE (JSON values allowed); repeat"),
    ] = None,
    secrets_file: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="JSON file of secrets (tokens, signing secrets, passwords); stored encrypted",
        ),
    ] = None,
    disabled: Annotated[bool, typer.Option(help="Add it switched off")] = False,
) -> None:
    """Add a channel; its secrets come from a file, never the command line (shell history)."""
    try:
        data = channels.ChannelCreate(
            name=name,
            kind=ChannelKind(kind),
            settings=_settings(setting or []),
            secrets=_secrets(secrets_file),
            enabled=not disabled,
        )
    except ValueError:
        common.fail(f"unknown kind {kind!r}; one of: {KINDS}", "--kind")
    with common.session() as session:
        channel = channels.create(session, common.actor(), data, common.box(), utcnow())
        session.flush()
        common.out.print(
            f"added channel {channel.id}: {channel.name} ({channel.kind.value}); "
            f"try it with `yunheng channel test {channel.id}`",
            markup=False,
        )


@channel_app.command("list")
def channel_list() -> None:
    """List channels: kind, settings, which secrets are set (never their values)."""
    box = common.box()
    with common.session() as session:
        table = Table("id", "name", "kind", "enabled", "settings", "secrets")
        page = channels.list_channels(session, PageParams(limit=500))
        for channel in page.items:
            shown = channels.public(channel, box)
            table.add_row(
                str(shown.id),
                shown.name,
                shown.kind.value,
                "yes" if shown.enabled else "no",
                json.dumps(shown.settings, ensure_ascii=False),
                ", ".join(shown.secret_keys) or "-",
            )
        common.out.print(table)


@channel_app.command("test")
def channel_test(
    channel: Annotated[str, typer.Argument(help="Channel id or name")],
) -> None:
    """Send a test notification through a channel now; exit 1 if it did not get through."""
    settings = get_settings()
    box = common.box()
    with common.session() as session:
        found = channels.by_ref(session, channel)
        delivery = dispatch.send_test(
            session,
            box,
            found.id or 0,
            utcnow(),
            timeout=settings.notify_timeout_seconds,
            settings=settings,
        )
        ok = delivery.status == DeliveryStatus.sent
    if not ok:
        common.err.print(f"test of channel {found.name!r} failed: {delivery.error}", markup=False)
        raise typer.Exit(1)
    common.out.print(f"test notification sent through {found.name!r}", markup=False)
