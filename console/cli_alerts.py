"""`yunheng alerts` and `yunheng incidents`: list, acknowledge, resolve, silence, escalate.

The same services as the API, acting as `cli:<os user>` (audited under that name).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from alerts import actions, config, views
from alerts.schemas import SilenceCreate
from console import cli_common as common
from console.cli_common import out
from inventory.paging import PageParams
from inventory.types import utcnow

alerts_app = typer.Typer(
    help="Alerts: list, acknowledge, resolve by hand; silences.", no_args_is_help=True
)
incidents_app = typer.Typer(
    help="Incidents: list, show the timeline, acknowledge, resolve, escalate, add notes.",
    no_args_is_help=True,
)


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")


@alerts_app.command("list")
def alerts_list(
    state: Annotated[
        str, typer.Option(help="pending, firing, resolved, a comma list, or all")
    ] = "pending,firing",
    severity: Annotated[str | None, typer.Option(help="P1..P4, or a comma list")] = None,
    matcher: Annotated[
        list[str] | None, typer.Option(help='Label matcher, e.g. cloud="os-1"; repeat')
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead")] = False,
) -> None:
    """Alerts, newest first (by default the active ones)."""
    f = views.AlertFilter(state=state, severity=severity, matcher=tuple(matcher or ()))
    with common.session() as session:
        page = views.list_alerts(session, common.actor(), f, PageParams(limit=limit))
    if as_json:
        print(json.dumps([a.model_dump(mode="json") for a in page.items], ensure_ascii=False))
        return
    table = Table("id", "state", "sev", "alert", "labels", "since", "incident", "suppressed")
    for a in page.items:
        table.add_row(
            str(a.id), a.state.value, a.severity.value, escape(a.name),
            escape(_labels(a.labels))[:70], _when(a.active_since),
            str(a.incident_id or "-"), escape(a.suppressed_by or ""),
        )  # fmt: skip
    out.print(table)
    out.print(f"{page.total} alert(s)")


@alerts_app.command("ack")
def alerts_ack(alert_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Acknowledge an alert (and its incident, if that is still open)."""
    with common.session() as session:
        alert = actions.ack_alert(session, common.actor(), alert_id, utcnow())
        out.print(f"alert {alert.id} acknowledged")


@alerts_app.command("resolve")
def alerts_resolve(alert_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Mark an alert resolved by hand (if its rule still holds, it fires again)."""
    with common.session() as session:
        alert = actions.resolve_alert(session, common.actor(), alert_id, utcnow())
        out.print(f"alert {alert.id} resolved")


@alerts_app.command("silence")
def alerts_silence(
    matchers: Annotated[
        list[str], typer.Argument(help='Label matchers: alertname=HostDown cloud=~"os-.*"')
    ],
    comment: Annotated[str, typer.Option(help="Why (required)")],
    minutes: Annotated[int, typer.Option(min=1, help="How long, from now")] = 120,
) -> None:
    """Silence alerts matching ALL the matchers, from now for --minutes."""
    try:
        body = SilenceCreate(matchers=list(matchers), duration_minutes=minutes, comment=comment)
    except ValidationError as exc:
        first = exc.errors()[0]
        common.fail(first["msg"], ".".join(str(p) for p in first["loc"]))
    with common.session() as session:
        silence = config.create_silence(session, common.actor(), body, utcnow())
        out.print(f"silence {silence.id} until {_when(silence.ends_at)} UTC")


@alerts_app.command("silences")
def alerts_silences(
    state: Annotated[str, typer.Option(help="pending, active, expired (comma list)")] = (
        "pending,active"
    ),
) -> None:
    """Silences, newest first."""
    with common.session() as session:
        page = views.list_silences(session, PageParams(limit=500), utcnow(), state)
    table = Table("id", "state", "matchers", "starts", "ends", "by", "comment")
    for s in page.items:
        shown = " ".join(f'{m["name"]}{m["op"]}"{m["value"]}"' for m in s.matchers)
        table.add_row(
            str(s.id), s.state, escape(shown), _when(s.starts_at), _when(s.ends_at),
            escape(s.created_by), escape(s.comment)[:40],
        )  # fmt: skip
    out.print(table)


@alerts_app.command("expire")
def alerts_expire(silence_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Expire a silence now."""
    with common.session() as session:
        config.expire_silence(session, common.actor(), silence_id, utcnow())
        out.print(f"silence {silence_id} expired")


@incidents_app.command("list")
def incidents_list(
    status: Annotated[
        str, typer.Option(help="open, acknowledged, resolved, a comma list, or all")
    ] = "open,acknowledged",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """Incidents, newest first."""
    with common.session() as session:
        page = views.list_incidents(
            session, common.actor(), views.IncidentFilter(status=status), PageParams(limit=limit)
        )
    table = Table("id", "status", "sev", "title", "alerts", "firing", "opened", "acked by")
    for i in page.items:
        table.add_row(
            str(i.id), i.status.value, i.severity.value, escape(i.title)[:60],
            str(i.alert_count), str(i.firing_count), _when(i.created_at),
            escape(i.acknowledged_by or "-"),
        )  # fmt: skip
    out.print(table)
    out.print(f"{page.total} incident(s)")


@incidents_app.command("show")
def incidents_show(incident_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """One incident: its alerts and its timeline."""
    with common.session() as session:
        detail = views.get_incident(session, common.actor(), incident_id)
    out.print(
        f"[bold]#{detail.id}[/bold] {escape(detail.title)} · {detail.severity.value} · "
        f"{detail.status.value} · ack due {_when(detail.ack_due)} UTC"
    )
    for a in detail.alerts:
        out.print(f"  {a.state.value:9} {escape(a.name)} {escape(_labels(a.labels))}")
    table = Table("at (UTC)", "what", "who", "detail")
    for e in detail.timeline:
        table.add_row(_when(e.at), e.kind, escape(e.actor), escape(e.detail)[:90])
    out.print(table)


@incidents_app.command("ack")
def incidents_ack(incident_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Acknowledge: escalation and reminders stop."""
    with common.session() as session:
        actions.ack(session, common.actor(), incident_id, utcnow())
        out.print(f"incident {incident_id} acknowledged")


@incidents_app.command("resolve")
def incidents_resolve(
    incident_id: Annotated[int, typer.Argument(min=1)],
    comment: Annotated[str, typer.Option(help="Added to the timeline")] = "",
) -> None:
    """Resolve by hand; whoever was told it fired is told it is resolved."""
    with common.session() as session:
        actions.resolve(session, common.actor(), incident_id, utcnow(), comment)
        out.print(f"incident {incident_id} resolved")


@incidents_app.command("escalate")
def incidents_escalate(incident_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Page the next escalation step now."""
    with common.session() as session:
        actions.escalate(session, common.actor(), incident_id, utcnow())
        out.print(f"incident {incident_id} escalated")


@incidents_app.command("note")
def incidents_note(
    incident_id: Annotated[int, typer.Argument(min=1)],
    text: Annotated[str, typer.Argument(help="The note")],
) -> None:
    """Add a note to the incident's timeline."""
    with common.session() as session:
        actions.add_note(session, common.actor(), incident_id, text, utcnow())
        out.print(f"note added to incident {incident_id}")
