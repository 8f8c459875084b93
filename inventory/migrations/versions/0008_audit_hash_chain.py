"""audit log hash chain: audit_event.seq/prev_hash/hash and the audit_chain_head row

Existing records are chained in id order (the order they were written in), with the same
canonical form and hash the application uses, so `yunheng audit verify` passes right after.
The append-only triggers are lifted for that one backfill and put back as they were.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import inventory.types
from inventory.models.audit import GENESIS_HASH, canonical, chain_hash

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = {
    verb: f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
    for verb in ("UPDATE", "DELETE")
}

# The columns as the application reads them (UTC datetimes, parsed JSON), so the backfill
# hashes exactly what `audit verify` will recompute.
_events = sa.table(
    "audit_event",
    sa.column("id", sa.Integer),
    sa.column("at", inventory.types.UTCDateTime()),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("target_type", sa.String),
    sa.column("target_id", sa.String),
    sa.column("before", inventory.types.JSONType),
    sa.column("after", inventory.types.JSONType),
    sa.column("detail", sa.Text),
    sa.column("seq", sa.BigInteger),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def _lift_append_only(postgres: bool) -> None:
    if postgres:
        op.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")


def _restore_append_only(postgres: bool) -> None:
    if postgres:
        op.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_change")
    else:
        for statement in _SQLITE_TRIGGERS.values():
            op.execute(statement)


def upgrade() -> None:
    # Plain ALTER TABLE (no batch): a SQLite table rebuild would drop the triggers.
    op.add_column("audit_event", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column("audit_event", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_event", sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_index("ix_audit_event_seq", "audit_event", ["seq"], unique=True)
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    prev, seq = GENESIS_HASH, 0
    rows = bind.execute(sa.select(_events).order_by(_events.c.id)).mappings().all()
    if rows:
        _lift_append_only(postgres)
        for row in rows:
            seq += 1
            digest = chain_hash(
                prev,
                canonical(
                    seq=seq,
                    at=row["at"],
                    actor=row["actor"],
                    action=row["action"],
                    target_type=row["target_type"],
                    target_id=row["target_id"],
                    before=row["before"],
                    after=row["after"],
                    detail=row["detail"],
                ),
            )
            bind.execute(
                _events.update()
                .where(_events.c.id == row["id"])
                .values(seq=seq, prev_hash=prev, hash=digest)
            )
            prev = digest
        _restore_append_only(postgres)
    op.bulk_insert(head, [{"id": 1, "seq": seq, "hash": prev}])


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    op.drop_index("ix_audit_event_seq", table_name="audit_event")
    for column in ("hash", "prev_hash", "seq"):
        op.drop_column("audit_event", column)
