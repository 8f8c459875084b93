"""`yunheng backup` / `restore` on SQLite and a real PostgreSQL: back up, change things, restore,
and every table (the audit log included) is as it was; refusals leave the target untouched."""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from typer.testing import CliRunner

from console.cli import app
from inventory import audit, backup, migrate
from inventory.accounts import viewer_of
from inventory.crypto import SecretBox
from inventory.db import make_engine
from inventory.models import AuditEvent, RequestCreate, Role, User
from scheduler import workflow
from tests import factories

runner = CliRunner()


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a fixed order: what 'everything as it was' means."""
    engine = make_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted(
                    (tuple(row) for row in conn.execute(sa.select(table))),
                    key=lambda row: json.dumps(row, default=str, sort_keys=True),
                )
                for name, table in sorted(meta.tables.items())
            }
    finally:
        engine.dispose()


def populate(session: Session, box: SecretBox) -> None:
    built = factories.estate(session, box)
    factories.open_requests(session, built)
    session.add(User(username="spare", role=Role.manager, password_hash="x"))
    session.commit()


def change_everything(session: Session, box: SecretBox) -> None:
    """A new cloud, a new request, a deleted user: all undone by the restore."""
    factories.cloud(session, box, "cloud-after", {"seed": 9, "region": "r9"})
    dept = session.execute(sa.select(User).where(col(User.username) == "depta")).scalar_one()
    data = RequestCreate.model_validate({**factories.SMALL_REQUEST, "service_name": "after"})
    workflow.submit(session, viewer_of(dept), data, time_limit=2)
    session.execute(sa.delete(User).where(col(User.username) == "spare"))
    session.commit()


@pytest.fixture
def other_url(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database (no schema) on the same backend."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    server: str = request.getfixturevalue("pg_server")
    name = f"o_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_restore_puts_back_every_row_including_the_audit_log(
    database_url: str, session: Session, box: SecretBox, engine: Engine, tmp_path: Path
) -> None:
    populate(session, box)
    before = dump(database_url)
    assert len(before["audit_event"]) > 10 and len(before["user_account"]) == 6
    made = backup.backup(database_url, tmp_path / "b.tar")
    assert made.alembic_revision == migrate.head_revision()
    assert made.backend == database_url.split(":")[0].split("+")[0]

    change_everything(session, box)
    session.close()
    changed = dump(database_url)
    assert changed != before and len(changed["cloud"]) == len(before["cloud"]) + 1
    assert len(changed["user_account"]) == 5

    with pytest.raises(backup.BackupError, match="not empty") as refused:
        backup.restore(database_url, tmp_path / "b.tar")
    assert refused.value.field == "--yes"
    assert dump(database_url) == changed  # the refusal touched nothing

    engine.dispose()
    done = backup.restore(database_url, tmp_path / "b.tar", replace=True)
    assert not done.migrated and done.revision == migrate.head_revision()
    assert dump(database_url) == before
    with Session(make_engine(database_url)) as fresh:
        report = audit.verify(fresh)
    assert report.ok and report.count == len(before["audit_event"])


def test_restore_into_an_empty_database_then_the_chain_goes_on(
    database_url: str, other_url: str, session: Session, box: SecretBox, tmp_path: Path
) -> None:
    populate(session, box)
    backup.backup(database_url, tmp_path / "b.tar")
    backup.restore(other_url, tmp_path / "b.tar")  # empty: no --yes needed
    assert dump(other_url) == dump(database_url)
    engine = make_engine(other_url)
    with Session(engine) as restored:
        audit.record(restored, actor="t", action="after.restore", target_type="test")
        restored.commit()
        report = audit.verify(restored)
    engine.dispose()
    assert report.ok and report.count == len(dump(database_url)["audit_event"]) + 1


def test_an_older_backup_is_migrated_forward(
    database_url: str, other_url: str, tmp_path: Path
) -> None:
    """A backup at 0007 (before the hash chain) restored by this code: its audit rows are
    chained by the migration, and the target's newer tables do not get in the way."""
    migrate.upgrade(other_url, "0007")
    old = make_engine(other_url)
    with old.begin() as conn:
        for n in range(3):
            conn.execute(
                sa.text(
                    "INSERT INTO audit_event (at, actor, action, target_type, detail) "
                    "VALUES (:at, 'old', :action, 'test', :detail)"
                ),
                {"at": f"2026-10-0{n + 1} 08:00:00+00:00", "action": f"old.{n}", "detail": "é"},
            )
    old.dispose()
    made = backup.backup(other_url, tmp_path / "old.tar")
    assert made.alembic_revision == "0007"

    done = backup.restore(database_url, tmp_path / "old.tar")
    assert done.migrated and done.revision == migrate.head_revision()
    engine = make_engine(database_url)
    with Session(engine) as session:
        report = audit.verify(session)
        seqs = session.execute(
            sa.select(col(AuditEvent.seq), col(AuditEvent.action)).order_by(col(AuditEvent.id))
        ).all()
    engine.dispose()
    assert report.ok and report.count == 3
    assert seqs == [(1, "old.0"), (2, "old.1"), (3, "old.2")]


def rewrite(source: Path, target: Path, **manifest: Any) -> Path:
    """A copy of a backup with its manifest changed, or its payload damaged."""
    damage = manifest.pop("damage", False)
    with tarfile.open(source) as tar, tarfile.open(target, "w") as out:
        raw = tar.extractfile(backup.MANIFEST)
        assert raw is not None
        data = {**json.loads(raw.read()), **manifest}
        for member in tar.getmembers():
            body = tar.extractfile(member)
            assert body is not None
            content = body.read()
            if member.name == backup.MANIFEST:
                content = json.dumps(data).encode()
            elif damage:  # every bit of the last 100 bytes flipped: changed, whatever they were
                content = content[:-100] + bytes(b ^ 0xFF for b in content[-100:])
            member.size = len(content)
            out.addfile(member, io.BytesIO(content))
    return target


def test_mismatches_are_refused_naming_the_reason(
    database_url: str, session: Session, box: SecretBox, tmp_path: Path
) -> None:
    factories.department(session, "dept-x")
    good = tmp_path / "good.tar"
    backup.backup(database_url, good)
    here = backup.backend_of(database_url)
    other = "postgresql" if here == "sqlite" else "sqlite"
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a backup at all")
    cases = {
        f"is a {other} backup; the configured database is {here}": rewrite(
            good, tmp_path / "backend.tar", backend=other
        ),
        "schema revision 0099 by Yunheng 9.0": rewrite(
            good, tmp_path / "rev.tar", alembic_revision="0099", yunheng_version="9.0"
        ),
        "damaged": rewrite(good, tmp_path / "damaged.tar", damage=True),
        "not a tar archive": garbage,
        "backup format 2": rewrite(good, tmp_path / "format.tar", format_version=2),
        "no such file": tmp_path / "missing.tar",
    }
    before = dump(database_url)
    for message, file in cases.items():
        with pytest.raises(backup.BackupError, match=message) as refused:
            backup.restore(database_url, file, replace=True)
        assert refused.value.field == "FILE", message
    assert dump(database_url) == before


def test_cli_round_trip_refusals_and_the_restore_event(
    cli_env: str, session: Session, box: SecretBox, tmp_path: Path
) -> None:
    populate(session, box)
    before = dump(cli_env)
    file = tmp_path / "cli.tar"
    made = runner.invoke(app, ["backup", "--out", str(file)])
    assert made.exit_code == 0, made.output
    assert f"schema {migrate.head_revision()}" in made.output and file.exists()

    change_everything(session, box)
    session.close()
    refused = runner.invoke(app, ["restore", str(file)])
    assert refused.exit_code == 2
    assert "error: --yes: the database is not empty" in refused.output

    done = runner.invoke(app, ["restore", str(file), "--yes"])
    assert done.exit_code == 0, done.output
    after = dump(cli_env)
    # Everything as it was, plus one audit record saying who restored what.
    assert {k: v for k, v in after.items() if not k.startswith("audit_")} == {
        k: v for k, v in before.items() if not k.startswith("audit_")
    }
    assert len(after["audit_event"]) == len(before["audit_event"]) + 1
    engine = make_engine(cli_env)
    with Session(engine) as fresh:
        last = fresh.execute(
            sa.select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)
        ).scalar_one()
    engine.dispose()
    assert last.action == "database.restore" and last.actor.startswith("cli:")
    assert last.detail is not None and "restored cli.tar" in last.detail
    verified = runner.invoke(app, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert f"audit log OK: {len(after['audit_event'])} records" in verified.output

    missing = runner.invoke(app, ["restore", str(tmp_path / "nope.tar"), "--yes"])
    assert missing.exit_code == 2 and "error: FILE: no such file" in missing.output
    directory = runner.invoke(app, ["backup", "--out", str(tmp_path)])
    assert directory.exit_code == 2 and "error: --out:" in directory.output


@pytest.mark.postgres
def test_cli_says_when_pg_dump_is_missing(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: str = request.getfixturevalue("pg_server")
    monkeypatch.setenv("YUNHENG_DATABASE_URL", server)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(backup, "PG_ROOT", tmp_path)
    from inventory.settings import get_settings

    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["backup", "--out", str(tmp_path / "x.tar")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "error: pg_dump: pg_dump not found" in result.output
    assert not (tmp_path / "x.tar").exists()
