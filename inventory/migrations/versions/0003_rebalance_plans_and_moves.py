"""rebalance plans and moves

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import inventory.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("replica_id", sa.Integer(), nullable=False),
        sa.Column("from_host_id", sa.Integer(), nullable=False),
        sa.Column("to_host_id", sa.Integer(), nullable=False),
        sa.Column("cloud_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "provisioned",
                "moved",
                "failed",
                name="movestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", inventory.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cloud_id"], ["cloud.id"]),
        sa.ForeignKeyConstraint(["from_host_id"], ["host.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"]),
        sa.ForeignKeyConstraint(["replica_id"], ["replica.id"]),
        sa.ForeignKeyConstraint(["to_host_id"], ["host.id"]),
        sa.ForeignKeyConstraint(["workload_id"], ["workload.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("plan_move", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_move_plan_id"), ["plan_id"], unique=False)

    with op.batch_alter_table("plan", schema=None) as batch_op:
        # Every existing plan answers a request: kind "place", no rebalance summary.
        batch_op.add_column(
            sa.Column(
                "kind",
                sa.Enum("place", "rebalance", name="plankind", native_enum=False, length=16),
                nullable=False,
                server_default="place",
            )
        )
        batch_op.add_column(
            sa.Column(
                "summary", inventory.types.JSONType, nullable=False, server_default=sa.text("'{}'")
            )
        )
        batch_op.alter_column("request_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index(batch_op.f("ix_plan_kind"), ["kind"], unique=False)


def downgrade() -> None:
    # Rebalance plans have no request, so they cannot survive request_id NOT NULL: they and
    # their moves are dropped (the audit log keeps what was proposed, decided and applied).
    op.drop_table("plan_move")
    op.execute("DELETE FROM plan WHERE kind = 'rebalance'")
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_kind"))
        batch_op.alter_column("request_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("summary")
        batch_op.drop_column("kind")
