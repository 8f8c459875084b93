"""`yunheng rules`: check Prometheus alerting-rule files and list what the loop evaluates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from alerts.builtin import BUILTIN_RULES
from alerts.rules import RuleFileError, load_rule_file, load_rule_files, rule_paths
from console.cli_common import err, out
from inventory.settings import get_settings

rules_app = typer.Typer(
    help="Alerting rules: Prometheus rule files and the built-in estate rules.",
    no_args_is_help=True,
)


def _duration(seconds: float) -> str:
    return f"{seconds:g}s" if seconds else "-"


@rules_app.command("check")
def rules_check(
    files: Annotated[list[Path], typer.Argument(help="Prometheus rule files (YAML)")],
) -> None:
    """Validate rule files as the alert loop loads them; exit 2 naming the first mistake."""
    failed = False
    for path in files:
        try:
            groups = load_rule_file(path)
        except RuleFileError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            failed = True
            continue
        alerts = sum(len(g.rules) for g in groups)
        out.print(f"{escape(str(path))}: {len(groups)} group(s), {alerts} alerting rule(s): OK")
    if failed:
        raise typer.Exit(2)


@rules_app.command("list")
def rules_list() -> None:
    """The rules the alert loop evaluates: built-in ones and YUNHENG_RULE_FILES."""
    settings = get_settings()
    table = Table("source", "alert", "for", "severity", "expression / meaning")
    for builtin in BUILTIN_RULES:
        table.add_row("built-in", builtin.name, "-", builtin.severity, builtin.summary)
    try:
        groups = load_rule_files(rule_paths(settings.rule_files))
    except RuleFileError as exc:
        err.print(f"[red]error:[/red] YUNHENG_RULE_FILES: {escape(str(exc))}")
        raise typer.Exit(2) from None
    for group in groups:
        for rule in group.rules:
            table.add_row(
                escape(group.source_key),
                escape(rule.name),
                _duration(rule.for_seconds),
                escape(rule.labels.get("severity", "-")),
                escape(rule.expr),
            )
    out.print(table)
    where = settings.prometheus_url or "not set: rule files are not evaluated"
    out.print(f"Prometheus: {escape(where)}; every {settings.alert_interval_seconds:g} s")
