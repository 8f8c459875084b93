"""The tamper-evident audit log: records chained by hash, `yunheng audit verify` finding the
first edited, deleted or re-chained record, and a chain that stays one line when several
writers append at once (on SQLite and a real PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from typer.testing import CliRunner

from console.cli import app
from inventory import audit
from inventory.models import AuditEvent, Department, Role
from inventory.models.audit import GENESIS_HASH, chain_hash
from tests import factories

API = "/api/v1"
runner = CliRunner()


def write(session: Session, n: int, prefix: str = "test") -> None:
    for i in range(n):
        audit.record(session, actor="t", action=f"{prefix}.{i}", target_type="test", detail=str(i))
    session.commit()


def events(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        query = sa.select(AuditEvent).order_by(col(AuditEvent.seq))
        return list(session.execute(query).scalars())


def verify(engine: Engine, expect: dict[int, str] | None = None) -> audit.ChainReport:
    with Session(engine) as session:
        return audit.verify(session, expect=expect)


def tamper(engine: Engine, statement: str, **params: Any) -> None:
    """What an attacker with write access to the database does: lift the append-only
    trigger, then change rows."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change"))
        else:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_update"))
            conn.execute(sa.text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
        conn.execute(sa.text(statement), params)


def test_chain_holds_after_normal_api_use(
    client: TestClient, session: Session, engine: Engine
) -> None:
    admin = factories.user(session, "chief", Role.admin)
    headers = admin.headers
    made = client.post(f"{API}/departments", json={"code": "d1", "name": "一"}, headers=headers)
    assert made.status_code == 201, made.text
    dept = made.json()["id"]
    steps = [
        client.patch(f"{API}/departments/{dept}", json={"name": "二"}, headers=headers),
        client.put(f"{API}/departments/{dept}/quotas", json={"vcpus": 8}, headers=headers),
        client.post(
            f"{API}/users",
            json={"username": "u1", "role": "manager", "password": "long-enough-pw"},
            headers=headers,
        ),
    ]
    assert [r.status_code for r in steps] == [200, 200, 201], [r.text for r in steps]
    rows = events(engine)
    assert len(rows) >= 4
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    report = verify(engine)
    assert report.ok and report.count == len(rows)
    assert (report.head_seq, report.head_hash) == (rows[-1].seq, rows[-1].hash)
    # Hand-computed: the first record's hash from its fields.
    first = rows[0]
    assert first.hash == chain_hash(GENESIS_HASH, audit.body_of(first, 1))


def test_an_edited_record_is_found_by_its_id(session: Session, engine: Engine) -> None:
    write(session, 5)
    rows = events(engine)
    tamper(engine, "UPDATE audit_event SET detail = 'forged' WHERE id = :id", id=rows[2].id)
    report = verify(engine)
    assert not report.ok and report.broken_id == rows[2].id
    assert report.count == 2 and "edited" in (report.problem or "")


def test_a_deleted_record_is_found(session: Session, engine: Engine) -> None:
    write(session, 5)
    rows = events(engine)
    tamper(engine, "DELETE FROM audit_event WHERE id = :id", id=rows[1].id)
    report = verify(engine)
    assert not report.ok and report.broken_id == rows[2].id
    assert "seq 2 before it is missing" in (report.problem or "")


def test_a_cut_off_tail_is_found(session: Session, engine: Engine) -> None:
    write(session, 3)
    rows = events(engine)
    tamper(engine, "DELETE FROM audit_event WHERE id = :id", id=rows[-1].id)
    report = verify(engine)
    assert not report.ok and report.broken_id is None
    assert "ends at seq 2, its head says 3" in (report.problem or "")


def test_a_rebuilt_chain_is_caught_by_a_noted_head(session: Session, engine: Engine) -> None:
    """Without a key, someone who can write the database can re-hash everything after an
    edit; a head noted outside the database catches that."""
    write(session, 4)
    noted = verify(engine)
    tamper(engine, "UPDATE audit_event SET actor = 'someone-else' WHERE seq = 2")
    with engine.begin() as conn:  # re-chain from seq 2 on, and move the head
        rows = [r for r in events(engine) if (r.seq or 0) >= 2]
        prev = events(engine)[0].hash or ""
        for row in rows:
            digest = chain_hash(prev, audit.body_of(row, row.seq or 0))
            conn.execute(
                sa.text("UPDATE audit_event SET prev_hash = :p, hash = :h WHERE id = :id"),
                {"p": prev, "h": digest, "id": row.id},
            )
            prev = digest
        conn.execute(sa.text("UPDATE audit_chain_head SET hash = :h"), {"h": prev})
    assert verify(engine).ok  # the re-chained log is self-consistent ...
    caught = verify(engine, {noted.head_seq: noted.head_hash})
    assert not caught.ok and "re-chained" in (caught.problem or "")  # ... but not the noted one


def test_rolled_back_records_take_no_place(session: Session, engine: Engine) -> None:
    write(session, 1, "kept")
    audit.record(session, actor="t", action="dropped", target_type="test")
    session.rollback()
    audit.record(session, actor="t", action="outer", target_type="test")
    with session.begin_nested():
        audit.record(session, actor="t", action="released", target_type="test")
    try:
        with session.begin_nested():
            audit.record(session, actor="t", action="savepoint-undone", target_type="test")
            raise RuntimeError
    except RuntimeError:
        pass
    session.commit()
    assert [(r.seq, r.action) for r in events(engine)] == [
        (1, "kept.0"),
        (2, "outer"),
        (3, "released"),
    ]
    assert verify(engine).ok


def test_concurrent_writers_keep_one_chain(engine: Engine) -> None:
    """Threads append at once, some transactions also updating a row the others update (the
    case where lock order matters): one gap-free chain, every record in it, no deadlock."""
    with Session(engine) as session:
        session.add(Department(code="shared", name="shared"))
        session.commit()
    writers, rounds = 4, 25
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with Session(engine) as session:
                start.wait()
                for i in range(rounds):
                    if i % 5 == 0:  # now and then, a row the other writers update too
                        shared = session.execute(sa.select(Department)).scalar_one()
                        shared.name = f"w{n}-{i}"
                    for k in range(1 + i % 3):
                        audit.record(session, actor=f"w{n}", action=f"w.{i}.{k}", target_type="t")
                    session.commit()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    expected = writers * sum(1 + i % 3 for i in range(rounds))
    report = verify(engine)
    assert report.ok, report.problem
    assert report.count == report.head_seq == expected == len(events(engine))


def test_cli_verify_exit_codes(
    cli_env: str, session: Session, engine: Engine, tmp_path: Path
) -> None:
    write(session, 3)
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "audit log OK: 3 records; head 3:" in ok.output
    head = ok.output.split("head ")[1].split()[0]
    anchored = runner.invoke(app, ["audit", "verify", "--expect", head])
    assert anchored.exit_code == 0, anchored.output
    bad = runner.invoke(app, ["audit", "verify", "--expect", "3:nothex"])
    assert bad.exit_code == 2 and "error: --expect:" in bad.output

    target = events(engine)[1]
    tamper(engine, "UPDATE audit_event SET detail = 'forged' WHERE id = :id", id=target.id)
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"audit log BROKEN: record {target.id} (seq 2)" in broken.output
