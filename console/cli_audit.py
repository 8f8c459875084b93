"""`yunheng audit verify`: walk the audit log's hash chain (inventory/audit.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from console.cli_common import err, fail, out, session
from inventory import audit

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    expect: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SEQ:HASH",
            help="A head printed by an earlier verify, kept outside the database; it must "
            "still be in the chain (repeat for several)",
        ),
    ] = None,
) -> None:
    """Check every audit record against the hash chain. Exit 0 and print the count and the
    head (note it somewhere safe), or exit 1 naming the first broken record."""
    anchors: dict[int, str] = {}
    for text in expect or []:
        try:
            seq, digest = audit.parse_anchor(text)
        except ValueError as exc:
            fail(str(exc), "--expect")
        anchors[seq] = digest
    with session() as opened:
        report = audit.verify(opened, expect=anchors)
    if not report.ok:
        err.print(f"audit log BROKEN: {report.problem}", markup=False, soft_wrap=True)
        err.print(f"({report.count} records before it hold)", markup=False)
        raise typer.Exit(1)
    out.print(
        f"audit log OK: {report.count} records; head {report.head_seq}:{report.head_hash}",
        markup=False,
        soft_wrap=True,
    )
