"""The `yunheng` command line: demo, serve, migrate, register and sync clouds, manage users."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.table import Table
from sqlmodel import col

from adapters import service as clouds
from adapters.registry import REGISTRY
from console import cli_report_stored  # noqa: F401 - adds `report generate`, `report list`
from console.cli_alerts import alerts_app, incidents_app
from console.cli_audit import audit_app
from console.cli_backup import register as register_backup
from console.cli_channels import channel_app
from console.cli_common import actor as _actor
from console.cli_common import box as _box
from console.cli_common import err, out
from console.cli_common import fail as _fail
from console.cli_common import progress as _progress
from console.cli_common import session as _session
from console.cli_oncall import oncall_app
from console.cli_plan import plan_app, request_app
from console.cli_report import report_app
from console.cli_rules import rules_app
from console.cli_sla import sla_app
from inventory import accounts, migrate
from inventory.db import engine_from_settings, session_scope
from inventory.models import Cloud, CloudCreate, Department, Role, User, UserCreate
from inventory.settings import get_settings
from inventory.types import utcnow

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help="云衡 Yunheng: unified inventory, placement and operations for government clouds.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
cloud_app = typer.Typer(help="Register and list clouds.", no_args_is_help=True)
user_app = typer.Typer(help="Local users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(cloud_app, name="cloud")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(plan_app, name="plan")
app.add_typer(request_app, name="request")
app.add_typer(oncall_app, name="oncall")
app.add_typer(channel_app, name="channel")
app.add_typer(rules_app, name="rules")
app.add_typer(alerts_app, name="alerts")
app.add_typer(incidents_app, name="incidents")
app.add_typer(sla_app, name="sla")
app.add_typer(report_app, name="report")
app.add_typer(audit_app, name="audit")
register_backup(app)  # `backup`, `restore`


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="Target revision")] = "head") -> None:
    """Migrate the database (SQLite or PostgreSQL) up to REVISION."""
    settings = get_settings()
    migrate.upgrade(settings.effective_database_url, revision)
    out.print(f"database at {revision}: {sa.make_url(settings.effective_database_url)!r}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the code's head."""
    engine = engine_from_settings(get_settings())
    out.print(
        f"database: {migrate.current_revision(engine) or 'empty'}   code: {migrate.head_revision()}"
    )


def _parse_settings(pairs: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            _fail(f"expected KEY=VALUE, got {pair!r}", "--setting")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


@cloud_app.command("add")
def cloud_add(
    name: Annotated[str, typer.Argument(help="Unique cloud name")],
    kind: Annotated[str, typer.Option(help=f"Adapter kind: {', '.join(REGISTRY)}")],
    vendor: Annotated[str, typer.Option(help="Vendor, as managers will read it")],
    region: Annotated[str, typer.Option(help="Region code")],
    security_level: Annotated[int, typer.Option(min=1, max=5, help="MLPS (等保) level")] = 3,
    setting: Annotated[
        list[str] | None,
        typer.Option(help="Adapter setting KEY=VALUE (JSON values allowed); repeat"),
    ] = None,
    credentials_file: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="JSON file of credentials; stored encrypted"
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Run the cloud's check() first (default); --no-check saves a cloud that is "
            "down now, unchecked (audited)",
        ),
    ] = True,
) -> None:
    """Register a cloud once its check() can list it (a cloud that only cannot provision is
    saved with a warning). Credentials are read from a file, never from the command line."""
    credentials = None
    if credentials_file is not None:
        try:
            credentials = json.loads(credentials_file.read_text())
        except json.JSONDecodeError as exc:
            _fail(f"not valid JSON ({exc.msg})", "--credentials-file")
    try:
        data = CloudCreate(
            name=name,
            kind=kind,
            vendor=vendor,
            region=region,
            security_level=security_level,
            settings=_parse_settings(setting or []),
            credentials=credentials,
        )
    except ValueError as exc:
        _fail(str(exc).splitlines()[1] if "\n" in str(exc) else str(exc))
    with _session() as session:
        done = clouds.register_checked(
            session,
            _actor(),
            data,
            _box(),
            skip_check=not check,
            timeout=get_settings().adapter_timeout_seconds,
        )
        cloud = done.cloud
        for result in done.checks:
            out.print(
                f"check {result.capability.value}: {'ok' if result.ok else 'FAILED'}: "
                f"{result.detail}",
                soft_wrap=True,
                markup=False,
            )
        for warning in done.warnings:
            err.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
        out.print(
            f"registered cloud {cloud.id}: {cloud.name} ({cloud.kind}); "
            f"run `yunheng sync --cloud {cloud.id}`",
            markup=False,
        )


@cloud_app.command("list")
def cloud_list() -> None:
    """List registered clouds with their status and last sync."""
    with _session() as session:
        table = Table(
            "id", "name", "kind", "vendor", "region", "level", "status", "last sync", "last error"
        )
        for c in session.execute(sa.select(Cloud).order_by(col(Cloud.id))).scalars():
            table.add_row(
                str(c.id),
                c.name,
                c.kind,
                c.vendor,
                c.region,
                str(c.security_level),
                c.status,
                str(c.last_sync_at or "-"),
                (c.last_error or "")[:60],
            )
        out.print(table)


@app.command("sync")
def sync_command(
    force: Annotated[
        bool, typer.Option(help="Apply even if most of a cloud's hosts or replicas vanished")
    ] = False,
    cloud: Annotated[
        str | None, typer.Option(help="Cloud id or name; default all enabled clouds")
    ] = None,
) -> None:
    """Discover every (or one) cloud and reconcile it into the inventory."""
    settings = get_settings()
    box = _box()
    failed = 0
    with _session() as session:
        targets = clouds.syncable_clouds(session)
        if cloud is not None:
            targets = [c for c in targets if str(c.id) == cloud or c.name == cloud]
            if not targets:
                _fail(f"no enabled cloud {cloud!r}", "--cloud")
        with _progress() as progress:
            task = progress.add_task("sync", total=len(targets))
            for target in targets:
                progress.update(task, description=f"sync {target.name}")
                outcome = clouds.sync(
                    session,
                    _actor(),
                    target.id or 0,
                    box,
                    timeout=settings.adapter_timeout_seconds,
                    max_vanish=settings.sync_max_vanish_ratio,
                    force=force,
                )
                session.commit()
                if outcome.ok and outcome.report:
                    changes = {
                        k: f"+{v.added} ~{v.updated + v.revived} -{v.gone}"
                        for k, v in outcome.report.kinds.items()
                    }
                    progress.console.print(f"[green]ok[/green] {target.name}: {changes}")
                else:
                    failed += 1
                    progress.console.print(f"[red]degraded[/red] {target.name}: {outcome.error}")
                progress.advance(task)
    if failed:
        raise typer.Exit(1)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[Role, typer.Option(help="admin, department, oncall or manager")],
    department: Annotated[
        str | None, typer.Option(help="Department code (department role only)")
    ] = None,
    display_name: Annotated[str, typer.Option()] = "",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="YUNHENG_NEW_PASSWORD",
            help="Prompted when not given",
        ),
    ] = "",
) -> None:
    """Create a local user (password hashed with argon2id)."""
    with _session() as session:
        department_id = None
        if department is not None:
            department_id = session.execute(
                sa.select(col(Department.id)).where(col(Department.code) == department)
            ).scalar()
            if department_id is None:
                _fail(f"no department with code {department!r}", "--department")
        try:
            data = UserCreate(
                username=username,
                role=role,
                department_id=department_id,
                display_name=display_name,
                password=password,
            )
        except ValueError as exc:
            _fail(
                str(exc).splitlines()[-2].strip() if "\n" in str(exc) else str(exc),
                "username/password",
            )
        user = accounts.create_user(session, _actor(), data)
        out.print(f"created user {user.username} ({user.role})")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="Username the token acts as")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
    days: Annotated[int, typer.Option(min=1, max=365, help="Days until it expires")] = 30,
) -> None:
    """Create an API token; it is printed once and only its hash is stored."""
    with _session() as session:
        found = session.execute(sa.select(User).where(col(User.username) == user.lower())).scalar()
        if found is None:
            _fail(f"no user {user!r}", "--user")
        issued = accounts.issue_token(
            session, found, name=name, kind="api", ttl=timedelta(days=days)
        )
        out.print(issued.token, soft_wrap=True)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default YUNHENG_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default YUNHENG_PORT)")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            envvar="YUNHENG_WORKERS",
            help="Server processes sharing the port; with more than one, the alert loop and "
            "scheduled jobs run in one more process of their own",
        ),
    ] = 1,
) -> None:
    """Serve the console and API, and run the alert loop (unless YUNHENG_ALERT_LOOP=false)."""
    _serve(host, port, demo=False, workers=workers)


def _serve(host: str | None, port: int | None, *, demo: bool, workers: int = 1) -> None:
    import uvicorn

    from console.app import create_app, freeze_startup_objects
    from console.jobs import JobsProcess
    from console.workers import Workers

    settings = get_settings()
    host, port, level = host or settings.host, port or settings.port, settings.log_level.lower()
    if workers == 1:  # one process: it serves and runs the alert loop
        app = create_app(settings, alert_loop=True, demo=demo)
        freeze_startup_objects()
        uvicorn.run(app, host=host, port=port, log_level=level)
        return
    # Worker processes build their own app from an import string (an app object cannot
    # cross the process boundary); each reads the same settings from the environment and
    # listens on a socket of its own (console.workers). They only serve: the alert loop
    # gets a process of its own (console.jobs).
    # Build the app once here: bad settings stop `serve` with their message, instead of
    # every worker dying at start-up and being started again.
    create_app(settings).state.engine.dispose()
    config = uvicorn.Config(
        "console.app:serve_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=level,
    )
    jobs = JobsProcess() if settings.alert_loop else None
    if jobs is not None:
        jobs.start()
    try:
        Workers(config, workers).run()
    finally:
        if jobs is not None:
            jobs.stop()


@app.command("demo")
def demo(
    host: Annotated[str | None, typer.Option(help="Listen address")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port")] = None,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after seeding")
    ] = True,
) -> None:
    """Migrate, seed the simulated estate and demo users, print the logins, then serve."""
    from console.demo import seed
    from console.demo_history import HISTORY_DAYS, reports_hint

    settings = get_settings()
    migrate.upgrade(settings.effective_database_url)
    engine = engine_from_settings(settings)
    with _progress() as progress, session_scope(engine) as session:
        task = progress.add_task("seeding", total=None)

        def step(what: str) -> None:
            progress.update(task, description=f"seeding: {what}")
            progress.advance(task)

        logins = seed(
            session,
            _box(),
            actor=_actor().username,
            step=step,
            history_days=HISTORY_DAYS,
            simulator_state=settings.data_dir / "simulator",
        )
    engine.dispose()
    url = f"http://{host or settings.host}:{port or settings.port}"
    table = Table(
        "role",
        "username",
        "password",
        "department",
        title=f"云衡 Yunheng demo: open {url}/ in a browser  (API docs: {url}/docs)",
    )
    for login in logins:
        table.add_row(login.role.value, login.username, login.password, login.department or "-")
    out.print(table)
    out.print(
        f"Log in: curl -s -X POST {url}/api/v1/auth/login -H 'Content-Type: application/json' "
        """-d '{"username":"admin","password":"<password>"}'"""
    )
    out.print(
        "The estate is simulated (names start with 'sim-'). Passwords are new on every `make demo`."
    )
    out.print(reports_hint(utcnow()))
    if serve_after:
        out.print(
            f"Alerting: a simulated fault every {settings.demo_fault_minutes:g} minutes; the "
            "oncall user's inbox gets the page (GET /api/v1/inbox)."
        )
        _serve(host, port, demo=True)


if __name__ == "__main__":
    app()
