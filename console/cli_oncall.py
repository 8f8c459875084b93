"""`yunheng oncall`: who is on call, a rotation's schedule, overrides and swaps.

Times are ISO 8601 (`2024-03-04T09:00+08:00`); a time without an offset is read in the
rotation's time zone (Asia/Shanghai for `now`). Changes are audited as `cli:<os user>`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from rich.table import Table
from sqlmodel import Session, col

from alerts import oncall, oncall_admin
from alerts.oncall_schemas import OnCallNow, OverrideCreate, SwapCreate
from console import cli_common as common
from console.cli_common import out
from inventory.models import Rotation, User
from inventory.types import utcnow

oncall_app = typer.Typer(
    help="On-call: who is on call now, schedules, overrides and swaps.", no_args_is_help=True
)

RotationArg = Annotated[str, typer.Argument(help="Rotation id or name")]
DEFAULT_TZ = "Asia/Shanghai"


def parse_time(value: str, tz: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        common.fail(f"expected an ISO 8601 time like 2024-03-04T09:00+08:00, got {value!r}", option)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(tz))


def find_rotation(session: Session, ref: str) -> Rotation:
    query = sa.select(Rotation).where(col(Rotation.name) == ref)
    if ref.isdigit():
        query = sa.select(Rotation).where(
            sa.or_(col(Rotation.id) == int(ref), col(Rotation.name) == ref)
        )
    found: Rotation | None = session.execute(query).scalars().first()
    if found is None:
        common.fail(f"no rotation {ref!r}", "ROTATION")
    return found


def _local(value: datetime | None, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if value else "-"


def _why(item: OnCallNow) -> str:
    if item.override is not None:
        return f"override #{item.override.id}" + (
            f" ({item.override.comment})" if item.override.comment else ""
        )
    return ", ".join(layer.name for layer in item.layers) or "nobody scheduled"


@oncall_app.command("now")
def now_cmd(
    rotation: Annotated[str | None, typer.Option(help="Only this rotation (id or name)")] = None,
    at: Annotated[str | None, typer.Option(help="Another instant (ISO 8601)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead")] = False,
) -> None:
    """Who is on call, per rotation: why, since and until when (local time)."""
    instant = parse_time(at, DEFAULT_TZ, "--at") if at else utcnow()
    with common.session() as session:
        rotation_id = find_rotation(session, rotation).id if rotation else None
        items = [
            OnCallNow.model_validate(i)
            for i in oncall.who_is_on_call(session, instant, rotation_id)
        ]
    if as_json:
        print(json.dumps([i.model_dump(mode="json") for i in items], indent=2, ensure_ascii=False))
        return
    table = Table("rotation", "on call", "why", "since", "until", "zone")
    for item in items:
        who = ", ".join(u.display_name or u.username for u in item.users) or "NOBODY"
        table.add_row(
            item.rotation,
            who,
            _why(item),
            _local(item.since, item.timezone),
            _local(item.until, item.timezone),
            item.timezone,
        )
    out.print(table)


@oncall_app.command("schedule")
def schedule_cmd(
    rotation: RotationArg,
    days: Annotated[int, typer.Option(min=1, max=35, help="How many days ahead")] = 7,
    since: Annotated[str | None, typer.Option(help="Start (ISO 8601; default now)")] = None,
) -> None:
    """Who is on call when, overrides applied, in the rotation's time zone."""
    with common.session() as session:
        found = find_rotation(session, rotation)
        start = parse_time(since, found.timezone, "--since") if since else utcnow()
        parts = oncall.stretches(session, found.id or 0, start, start + timedelta(days=days))
    table = Table("from", "to", "on call", "why")
    for part in parts:
        who = ", ".join(u.username for u in part.users) or "NOBODY"
        why = f"override #{part.override_id}" if part.override_id else part.source
        table.add_row(
            _local(part.starts_at, found.timezone), _local(part.ends_at, found.timezone), who, why
        )
    out.print(f"{found.name} ({found.timezone})")
    out.print(table)


def _user_id(session: Session, username: str) -> int:
    user = session.execute(
        sa.select(User).where(col(User.username) == username.lower())
    ).scalar_one_or_none()
    if user is None:
        common.fail(f"no user {username!r}", "--user")
    return user.id or 0


@oncall_app.command("override")
def override_cmd(
    rotation: RotationArg,
    user: Annotated[str, typer.Option(help="Who takes over (username)")],
    start: Annotated[str, typer.Option(help="From (ISO 8601)")],
    end: Annotated[str, typer.Option(help="Until (ISO 8601)")],
    comment: Annotated[str, typer.Option(help="Why, for the others")] = "",
) -> None:
    """Put USER on call in ROTATION from START to END, whatever the layers say."""
    with common.session() as session:
        found = find_rotation(session, rotation)
        try:
            body = OverrideCreate(
                user_id=_user_id(session, user),
                starts_at=parse_time(start, found.timezone, "--start"),
                ends_at=parse_time(end, found.timezone, "--end"),
                comment=comment,
            )
        except ValidationError as exc:
            common.fail(exc.errors()[0]["msg"].removeprefix("Value error, "), "--end")
        row = oncall_admin.create_override(session, common.actor(), found.id or 0, body, utcnow())
        out.print(
            f"override {row.id}: {user} on call in {found.name} from "
            f"{_local(row.starts_at, found.timezone)} to {_local(row.ends_at, found.timezone)} "
            f"({found.timezone})",
            markup=False,
        )


@oncall_app.command("swap")
def swap_cmd(
    rotation: RotationArg,
    shift_at: Annotated[str, typer.Option("--at", help="A time in the first stretch")],
    with_shift_at: Annotated[str, typer.Option("--with", help="A time in the other stretch")],
    comment: Annotated[str, typer.Option(help="Why, for the others")] = "",
) -> None:
    """Swap the on-call stretches containing --at and --with (two overrides)."""
    with common.session() as session:
        found = find_rotation(session, rotation)
        body = SwapCreate(
            shift_at=parse_time(shift_at, found.timezone, "--at"),
            with_shift_at=parse_time(with_shift_at, found.timezone, "--with"),
            comment=comment,
        )
        made = oncall_admin.swap(session, common.actor(), found.id or 0, body, utcnow())
        users = oncall.users_by_id(session, [r.user_id for r in made])
        for row in made:
            out.print(
                f"override {row.id}: {users[row.user_id].username} from "
                f"{_local(row.starts_at, found.timezone)} to {_local(row.ends_at, found.timezone)}",
                markup=False,
            )
