"""Writing and verifying the audit log. Every mutation, by a user, the CLI or the system, goes
through `record`.

The log is a hash chain (fields and hash in inventory/models/audit.py). Decisions:

- **A record gets its place in the chain when its transaction commits**, not when it is
  recorded: `record` keeps the event aside on the session, and just before the (outermost)
  commit `_seal` locks the chain head row (`SELECT ... FOR UPDATE` on PostgreSQL; an UPDATE of
  it on SQLite, which takes SQLite's single write lock), numbers the events after the head,
  hashes them, inserts them and moves the head. The head lock is held until that commit ends,
  so two replicas appending at once are serialised: the chain is one line in commit order,
  never a fork. Every other change of the transaction is flushed *before* the head is locked,
  so the head is always the last lock a transaction takes and waits for nothing after it:
  no deadlock with row locks, and the lock is held for milliseconds, not for a whole request.
  A rolled-back transaction (or savepoint) drops the events recorded in it.
- Code that reads the audit log inside the transaction that wrote it (tests, mostly) still
  sees its own records: a query on audit_event seals what is pending first.
- **SHA-256, not an HMAC.** Writers everywhere (API, CLI, loops, migrations) would all need the
  key, and a migration has none. Against someone who can write the database and re-chain it,
  `audit verify` prints the head (seq and hash): keep it outside the database (a ticket, the
  operations log) and check it later with `--expect SEQ:HASH`; the database triggers also
  refuse UPDATE and DELETE on audit_event.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, SessionTransaction
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session, SQLModel, col

from inventory.models import AuditEvent
from inventory.models.audit import GENESIS_HASH, AuditChainHead, canonical, chain_hash

log = logging.getLogger(__name__)

# Never copied into before/after, whatever the table.
SECRET_FIELDS = frozenset({"credentials_encrypted", "password_hash", "token_hash"})

_PENDING = "yunheng_audit_pending"  # session.info key: [(event, savepoint or None), ...]


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Record an event; it is stored, chained, when the session commits."""
    event = AuditEvent(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        # As the JSON column will store them (tuples as lists, keys as strings), so the hash
        # taken now is the hash `verify` recomputes from the stored row.
        before=None if before is None else json.loads(json.dumps(before)),
        after=None if after is None else json.loads(json.dumps(after)),
        detail=detail,
    )
    if not session.in_transaction():
        session.begin()  # so that a rollback before any other statement drops this event too
    session.info.setdefault(_PENDING, []).append((event, session.get_nested_transaction()))
    return event


def state_of(row: SQLModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """A JSON-safe copy of a row for before/after, with secrets left out."""
    return row.model_dump(mode="json", exclude=set(SECRET_FIELDS | (exclude or set())))


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that changed, so an audit entry reads as what was done."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def body_of(event: AuditEvent, seq: int) -> str:
    return canonical(
        seq=seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        before=event.before,
        after=event.after,
        detail=event.detail,
    )


# --- appending: session events -------------------------------------------------------------


def _seal(session: OrmSession) -> None:
    if not session.info.get(_PENDING):
        return
    session.flush()  # everything else first: the head must be the last lock taken
    pending: list[tuple[AuditEvent, SessionTransaction | None]] = session.info.pop(_PENDING, [])
    conn = session.connection()
    head = AuditChainHead.__table__  # type: ignore[attr-defined]
    if conn.dialect.name == "postgresql":
        locked = sa.select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()
        seq, prev = conn.execute(locked).one()
    else:
        conn.execute(head.update().where(head.c.id == 1).values(seq=head.c.seq))
        seq, prev = conn.execute(sa.select(head.c.seq, head.c.hash).where(head.c.id == 1)).one()
    for event, _ in pending:
        seq += 1
        event.seq, event.prev_hash = seq, prev
        event.hash = prev = chain_hash(prev, body_of(event, seq))
        session.add(event)
    session.flush()
    conn.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=prev))


@sa.event.listens_for(OrmSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    # A savepoint's release also lands here; the chain is appended at the outermost commit.
    if session.get_nested_transaction() is None:
        _seal(session)


@sa.event.listens_for(OrmSession, "do_orm_execute")
def _before_audit_read(state: ORMExecuteState) -> None:
    session = state.session
    if not state.is_select or not session.info.get(_PENDING):
        return
    if session.get_nested_transaction() is not None:
        return
    statement = state.statement
    if not isinstance(statement, sa.sql.ClauseElement):
        return
    if any(getattr(t, "name", None) == "audit_event" for t in find_tables(statement)):
        _seal(session)


@sa.event.listens_for(OrmSession, "after_soft_rollback")
def _after_rollback(session: OrmSession, previous: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if previous.parent is None:
        session.info.pop(_PENDING, None)
        return
    session.info[_PENDING] = [
        (event, tx) for event, tx in pending if tx is None or not _inside(tx, previous)
    ]


def _inside(tx: SessionTransaction, ancestor: SessionTransaction) -> bool:
    found: SessionTransaction | None = tx
    while found is not None:
        if found is ancestor:
            return True
        found = found.parent
    return False


@sa.event.listens_for(OrmSession, "after_transaction_end")
def _after_end(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None and session.info.get(_PENDING):
        # Closed without commit or rollback: the events go with the work they described.
        dropped = [event.action for event, _ in session.info.pop(_PENDING)]
        log.debug("audit events of an uncommitted transaction dropped: %s", dropped)


# --- verifying -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    count: int
    head_seq: int
    head_hash: str
    broken_id: int | None = None  # the first record that does not hold (None: a missing tail)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(session: Session, *, expect: dict[int, str] | None = None) -> ChainReport:
    """Walk the chain in `seq` order and report the first record that breaks it: not chained,
    a gap (a deleted record), a wrong link, or content that no longer matches its hash.
    `expect` maps positions to hashes noted earlier outside the database."""
    head = session.execute(
        sa.select(AuditChainHead).where(col(AuditChainHead.id) == 1)
    ).scalar_one()
    head_seq, head_hash = head.seq, head.hash
    expect = dict(expect or {})
    count, prev, last_seq = 0, GENESIS_HASH, 0

    def broken(event_id: int | None, problem: str) -> ChainReport:
        return ChainReport(count, head_seq, head_hash, event_id, problem)

    unchained = session.execute(
        sa.select(col(AuditEvent.id))
        .where(col(AuditEvent.seq).is_(None))
        .order_by(col(AuditEvent.id))
    ).scalar()
    if unchained is not None:
        return broken(unchained, f"record {unchained}: not in the chain (no seq/hash)")
    # Only up to the head read above: records committed during the walk are not judged.
    query = (
        sa.select(AuditEvent)
        .where(col(AuditEvent.seq) <= head_seq)
        .order_by(col(AuditEvent.seq))
        .execution_options(yield_per=1000)
    )
    for event in session.execute(query).scalars():
        seq = event.seq or 0
        where = f"record {event.id} (seq {seq})"
        if seq != last_seq + 1:
            gap = f"{last_seq + 1}" if seq == last_seq + 2 else f"{last_seq + 1}-{seq - 1}"
            return broken(event.id, f"{where}: seq {gap} before it is missing (deleted)")
        if event.prev_hash != prev:
            return broken(event.id, f"{where}: prev_hash is not the hash of seq {last_seq}")
        recomputed = chain_hash(prev, body_of(event, seq))
        if event.hash != recomputed:
            return broken(event.id, f"{where}: its fields do not match its hash (edited)")
        if seq in expect and expect.pop(seq) != event.hash:
            return broken(event.id, f"{where}: hash differs from the one noted (re-chained)")
        prev, last_seq, count = recomputed, seq, count + 1
    if last_seq != head_seq or prev != head_hash:
        return broken(None, f"the chain ends at seq {last_seq}, its head says {head_seq} (cut)")
    if expect:
        return broken(None, f"seq {min(expect)} was noted but the chain ends at {head_seq}")
    return ChainReport(count, head_seq, head_hash)


def parse_anchor(text: str) -> tuple[int, str]:
    """`SEQ:HASH` as `audit verify` prints the head; ValueError says what is wrong."""
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise ValueError(f"expected SEQ:HASH (a number, a colon, 64 hex digits), got {text!r}")
    return int(seq), digest.lower()
